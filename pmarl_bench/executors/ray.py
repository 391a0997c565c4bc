"""A suite's cells over a Ray cluster: one Ray task per cell.

Each task trains its cell on a worker (in a scratch folder there), packs the finished cell
folder and returns it; the driver unpacks it into the results folder atomically, so the
results layout and the cell cache are those of a local run and the workers need no shared
filesystem. Progress comes back through a Ray queue, and so does each snapshot of the
cell's staging folder, which the driver keeps in the results folder: a task started again (a
retry, or a later run) resumes from it. A worker that dies (its node lost, the process
killed) has its cell retried by Ray; a cell that fails by itself (bad config, diverged) is not
retried, its last snapshot is kept as a failed folder, and the other cells still finish.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from pmarl_bench.errors import CellLostError, ConfigError, import_extra
from pmarl_bench.executor import CellJob, MemoryLimit, TrainCell
from pmarl_bench.progress import TRAIN, ProgressDisplay
from pmarl_bench.results import staging, store

#: Ray retries a cell whose worker died this many times
MAX_RETRIES = 3
#: the task's name: ``ray::train_cell`` is its worker's process title while it runs
TASK_NAME = "train_cell"


@dataclass
class RayExecutor:
    """``address``: a running cluster (``auto``, ``ray://host:10001``, ``host:6379``); None
    starts a local one on this machine. ``gpus_per_cell``: None gives each cell one GPU when
    the cluster has any, else none."""

    address: str | None = None
    cpus_per_cell: float = 1.0
    gpus_per_cell: float | None = None

    def run(
        self,
        jobs: Sequence[CellJob],
        train_cell: TrainCell,
        *,
        console: Console,
        memory_limit: MemoryLimit,
    ) -> None:
        ray = _import_ray()
        _connect(ray, self.address, console)
        try:
            gpus = self.gpus_per_cell
            if gpus is None:
                gpus = 1.0 if ray.cluster_resources().get("GPU", 0) > 0 else 0.0
            queue = _progress_queue(ray)
            task = ray.remote(_train_cell).options(
                name=TASK_NAME,
                num_cpus=self.cpus_per_cell,
                num_gpus=gpus,
                max_retries=MAX_RETRIES,
                retry_exceptions=False,
            )
            names = [job.cell.name for job in jobs]
            with ProgressDisplay(console, names) as bars:
                reports = {name: bars.reporter(name, "queued") for name in names}
                stages = ray.remote(num_cpus=0)(_Stages).remote(
                    {job.cell.name: _stage_of(job) for job in jobs}
                )
                running = {
                    task.remote(train_cell, job.cell, queue, memory_limit, stages): job
                    for job in jobs
                }
                errors = self._collect(ray, running, queue, stages, reports, console)
        finally:
            ray.shutdown()
        if errors:
            raise errors[0]

    def _collect(self, ray, running: dict, queue, stages, reports: dict, console: Console) -> list:
        """Install each cell as its task finishes, showing progress meanwhile; returns the
        errors of failed cells (after every other cell has finished)."""
        errors = []
        paths = {job.cell.name: job.path for job in running.values()}
        while running:
            done, _ = ray.wait(list(running), num_returns=1, timeout=0.5)
            for name, kind, payload in _drain(queue):
                if kind == _SNAPSHOT:  # keep the worker's latest snapshot here too
                    archive = ray.get(stages.get.remote(name))
                    if archive is not None:
                        store.unpack_stage(paths[name], archive)
                else:
                    reports[name](*payload)
            for ref in done:
                job = running.pop(ref)
                cell = job.cell
                try:
                    store.unpack_cell(job.path, ray.get(ref))
                    shutil.rmtree(store.running_dir(job.path), ignore_errors=True)
                except ray.exceptions.RayTaskError as err:  # the cell itself failed
                    cause = err.cause if isinstance(err.cause, Exception) else err
                    console.print(f"[red]failed[/] {cell.name}: {cause}", highlight=False)
                    _keep_failed(job, cause)
                    errors.append(cause)
                except ray.exceptions.RayError as err:  # its workers kept dying
                    first = str(err).splitlines()[0]
                    console.print(f"[red]lost[/] {cell.name}: {first}", highlight=False)
                    errors.append(
                        CellLostError(f"{cell.name}: lost after {MAX_RETRIES} retries ({first})")
                    )
        return errors


def _import_ray():
    # The workers run this same interpreter (its environment has pmarl-bench); without this,
    # Ray under `uv run` would package the working directory and `uv run` it on every worker.
    os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
    return import_extra("ray", "cluster", "--executor ray")


def _connect(ray, address: str | None, console: Console) -> None:
    quiet = {"log_to_driver": False, "logging_level": logging.WARNING}
    try:
        if address is None:
            ray.init(include_dashboard=False, **quiet)
        else:
            ray.init(address=address, **quiet)
    except (ConnectionError, RuntimeError, ValueError) as err:
        raise ConfigError(
            f"could not connect to Ray at {address!r} ({str(err).splitlines()[0]})",
            "--address",
        ) from None
    resources = ray.cluster_resources()
    console.print(
        f"Ray cluster: {len(ray.nodes())} node(s), {resources.get('CPU', 0):g} CPUs, "
        f"{resources.get('GPU', 0):g} GPUs"
    )


def _progress_queue(ray):
    from ray.util.queue import Queue

    return Queue(actor_options={"num_cpus": 0})


def _drain(queue) -> list:
    try:
        return queue.get_nowait_batch(queue.qsize())
    except Exception:  # the queue is best effort; a lost message only delays a bar
        return []


#: a queue message that carries a packed staging folder (others carry progress)
_SNAPSHOT, _PROGRESS = "snapshot", "progress"


class _Stages:
    """A Ray actor: the latest packed staging folder of each cell. A task, retried after its
    worker died, resumes from what its predecessor last sent here."""

    def __init__(self, stages: dict[str, bytes | None]):
        self.stages = dict(stages)

    def get(self, name: str) -> bytes | None:
        return self.stages.get(name)

    def put(self, name: str, archive: bytes) -> None:
        self.stages[name] = archive


def _stage_of(job: CellJob) -> bytes | None:
    """The cell's staging folder in the results folder, packed, if it has a snapshot to
    resume from."""
    stage = store.running_dir(job.path)
    return store.pack_cell(stage) if staging.latest_snapshot(stage) is not None else None


def _keep_failed(job: CellJob, cause: BaseException) -> None:
    """The failed cell's last snapshot (sent home by its worker) becomes its failed folder."""
    stage = store.running_dir(job.path)
    status = staging.read_status(stage)
    if status is None:
        return
    staging.write_status(stage, {**status, "state": staging.FAILED, "reason": str(cause)})
    store.mark_failed(job.path)


def _train_cell(train_cell: TrainCell, cell, queue, memory_limit: MemoryLimit, stages) -> bytes:
    """On a worker: train ``cell`` in a scratch folder (resuming from its latest staging
    folder in ``stages``, a ``_Stages`` actor) and return the packed cell folder."""
    import ray

    def send(kind: str, payload) -> None:
        with contextlib.suppress(Exception):  # a full or lost queue must not fail the cell
            queue.put_nowait((cell.name, kind, payload))

    def report(env_steps: int, info: str, total: int, phase: str = TRAIN) -> None:
        send(_PROGRESS, (env_steps, info, total, phase))

    def snapshot(folder: Path) -> None:
        ray.get(stages.put.remote(cell.name, store.pack_cell(folder)))
        send(_SNAPSHOT, None)

    scratch = Path(tempfile.mkdtemp(prefix="pmarl-bench-"))
    try:
        path = store.cell_dir(scratch, cell.suite, cell.env_name, cell.agent_name)
        stage = ray.get(stages.get.remote(cell.name))
        if stage is not None:
            store.unpack_stage(path, stage)
        train_cell(cell, path, report, memory_limit=memory_limit, on_snapshot=snapshot)
        return store.pack_cell(path)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
