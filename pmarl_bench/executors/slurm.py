"""A suite's cells as SLURM jobs through submitit: one job per cell, submitted as a job array.

Each job trains its cell straight into the results folder (a cluster's shared filesystem), as
a local run would, so its staging folder, snapshots and ``status`` are a local run's. This
process (on the login node) holds the suite's lock, shows each job's progress from its
``status.json`` and waits for every job. A job warned of its time limit or of preemption
(SLURM's USR2, ``signal_delay_s`` ahead) saves a snapshot at the end of its chunk and is
requeued; the requeued job resumes from that snapshot. A cell that fails keeps its failed
folder and the others still finish. Ctrl-C here cancels the jobs; their snapshots stay, so
running the command again resumes them.
"""

from __future__ import annotations

import math
import shutil
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from pmarl_bench import interrupts
from pmarl_bench.errors import CellLostError, ConfigError, import_extra
from pmarl_bench.executor import CellJob, MemoryLimit, TrainCell
from pmarl_bench.progress import COMPILE, ProgressDisplay
from pmarl_bench.results import staging, store

#: how often the driver looks at the jobs and their status files (seconds)
POLL_SECONDS = 5.0
#: a requeued job (time limit, preemption) may come back this often
MAX_REQUEUES = 10


@dataclass
class SlurmExecutor:
    """``folder``: submitit's job files and logs (``<folder>/<job id>_*``), on the shared
    filesystem. ``time_s``: each job's time limit; ``options``: more sbatch settings by
    submitit's names without the ``slurm_`` prefix (``account``, ``qos``, ``constraint``,
    ``mem_gb``, ...). ``cluster``: ``slurm``; ``local`` runs the jobs as processes on this
    machine through submitit (a rehearsal, and the tests)."""

    folder: Path
    partition: str | None = None
    time_s: float = 4 * 3600
    gpus_per_cell: int = 0
    cpus_per_cell: int = 2
    options: dict[str, Any] = field(default_factory=dict)
    cluster: str = "slurm"
    signal_delay_s: int = 120
    poll_s: float = POLL_SECONDS

    def __post_init__(self) -> None:
        if self.cluster == "slurm" and shutil.which("sbatch") is None:
            raise ConfigError(
                "sbatch is not on PATH: run this on a SLURM login node (or try the launcher "
                "here with --submitit-cluster local)",
                "--executor slurm",
            )
        self.executor(import_extra("submitit", "slurm", "--executor slurm"))  # settings checked

    def run(
        self,
        jobs: Sequence[CellJob],
        train_cell: TrainCell,
        *,
        console: Console,
        memory_limit: MemoryLimit,
    ) -> None:
        submitit = import_extra("submitit", "slurm", "--executor slurm")
        executor = self.executor(submitit)
        try:
            with executor.batch():  # one job array
                submitted = [executor.submit(CellCall(train_cell, j, memory_limit)) for j in jobs]
        except Exception as err:  # sbatch refused it (a partition, account or limit)
            raise ConfigError(
                f"the job array was not submitted: {_last_line(str(err))}", "--executor slurm"
            ) from None
        ids = ", ".join(job.job_id for job in submitted)
        console.print(
            f"submitted {len(submitted)} job(s) ({ids}); their logs: {self.folder}",
            highlight=False,
        )
        waiting = dict(zip(submitted, jobs, strict=True))
        try:
            errors = self._wait(waiting, console)
        except KeyboardInterrupt:
            for job in waiting:
                job.cancel(check=False)
            console.print(
                f"cancelled {len(waiting)} job(s); their snapshots are kept: run again to "
                "resume them",
                highlight=False,
            )
            raise
        if errors:
            raise errors[0]

    def executor(self, submitit):
        """submitit's executor with this launcher's settings (a bad ``--slurm-option`` is a
        one-line error)."""
        executor = submitit.AutoExecutor(
            folder=self.folder, cluster=self.cluster, slurm_max_num_timeout=MAX_REQUEUES
        )
        settings = {
            "name": "pmarl-bench",
            "timeout_min": max(1, math.ceil(self.time_s / 60)),
            "cpus_per_task": self.cpus_per_cell,
            "tasks_per_node": 1,
            "nodes": 1,
            "slurm_signal_delay_s": self.signal_delay_s,
        }
        if self.gpus_per_cell:
            settings["gpus_per_node"] = self.gpus_per_cell
        if self.partition is not None:
            settings["slurm_partition"] = self.partition
        settings.update({f"slurm_{key}": value for key, value in self.options.items()})
        try:
            executor.update_parameters(**settings)
        except (NameError, TypeError, ValueError) as err:
            first = str(err).splitlines()[0].split(". Valid arguments")[0]
            raise ConfigError(f"submitit refused a setting: {first}", "--slurm-option") from None
        return executor

    def _wait(self, waiting: dict, console: Console) -> list[Exception]:
        """Show progress until every job has ended; the errors of those that failed."""
        errors: list[Exception] = []
        names = {job.cell.name: job for job in waiting.values()}
        with ProgressDisplay(console, list(names)) as bars:
            reports = {name: bars.reporter(name, "queued") for name in names}
            while waiting:
                for submitted, job in list(waiting.items()):
                    _show(job, submitted, reports[job.cell.name])
                    if not submitted.done():
                        continue
                    del waiting[submitted]
                    error = _outcome(submitted, job)
                    if error is not None:
                        console.print(f"[red]failed[/] {job.cell.name}: {error}",
                                      highlight=False)  # fmt: skip
                        errors.append(error)
                if waiting:
                    time.sleep(self.poll_s)
        return errors


def _show(job: CellJob, submitted, report) -> None:
    """The job's progress, from its cell's status file (none before it starts)."""
    if store.is_complete(job.path):
        return
    status = staging.read_status(store.running_dir(job.path)) or {}
    total = status.get("env_steps_per_seed")
    if isinstance(total, int) and status.get("state") == staging.RUNNING:
        phase = status.get("phase", COMPILE)
        steps = int(status.get("env_steps") or 0)
        report(steps, f"job {submitted.job_id} · {phase}", total, phase)


def _outcome(submitted, job: CellJob) -> Exception | None:
    """None if the job left a finished cell, else the error to report."""
    try:
        submitted.result()
    except Exception as err:  # submitit's FailedJobError / UncompletedJobError
        if store.is_complete(job.path):
            return None
        failed = staging.read_status(store.failed_dir(job.path)) or {}
        reason = failed.get("reason") or _last_line(str(err))
        return CellLostError(f"{job.cell.name}: job {submitted.job_id} ended: {reason}")
    if not store.is_complete(job.path):
        return CellLostError(f"{job.cell.name}: job {submitted.job_id} left no results")
    return None


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no reason given"


class CellCall:
    """What a job runs: train one cell into its results folder. submitit requeues it after a
    time-limit or preemption warning (``checkpoint``); it then resumes from the snapshot."""

    def __init__(self, train_cell: TrainCell, job: CellJob, memory_limit: MemoryLimit):
        self.train_cell, self.job, self.memory_limit = train_cell, job, memory_limit

    def __call__(self) -> str:
        import submitit

        warning = submitit.JobEnvironment._usr_sig()  # SLURM's "time is nearly up" signal
        requeue = signal.getsignal(warning)  # submitit's: checkpoint, requeue and exit
        interrupts.install(extra=(warning,))  # a signal now snapshots at the chunk's end
        try:
            self.train_cell(self.job.cell, self.job.path, memory_limit=self.memory_limit)
        except interrupts.Interrupted as err:
            if err.signum != warning or not callable(requeue):
                raise
            requeue(warning, None)  # exits this process; the requeued job resumes
        return str(self.job.path)

    def checkpoint(self) -> Any:
        import submitit

        return submitit.helpers.DelayedSubmission(self)
