"""``run --launcher slurm`` through submitit's local executor (jobs as processes here): a job
warned of its time limit (SLURM's USR2) saves a snapshot, is requeued and resumes from it,
and the cell ends with its results in the usual layout."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pmarl_bench.executors.slurm import SlurmExecutor
from pmarl_bench.results import staging, store

ROOT = Path(__file__).resolve().parents[2]
SMOKE = ROOT / "suites" / "smoke.yaml"


def job_processes() -> list[int]:
    """PIDs of submitit's job processes (``python -m submitit.core._submit ...``)."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"submitit.core._submit" in cmdline:
            pids.append(int(proc.name))
    return pids


def test_the_options_become_the_job_arrays_sbatch_settings(tmp_path, monkeypatch):
    """With SLURM's commands on PATH (stand-ins here), the sbatch script submitit writes
    carries the partition, time limit, GPUs, the time-limit warning and any other option."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for command in ("sbatch", "srun"):
        (bin_dir / command).write_text('#!/bin/sh\necho "Submitted batch job 42"\n')
        (bin_dir / command).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    import submitit

    launcher = SlurmExecutor(tmp_path / "logs", partition="gpu", time_s=2 * 3600,
                             gpus_per_cell=1, options={"account": "abc", "mem_gb": 32})  # fmt: skip
    script = launcher.executor(submitit)._executor._make_submission_file_text("cmd", "uid")
    for line in ("--partition=gpu", "--time=120", "--gpus-per-node=1", "--account=abc",
                 "--mem=32GB", "--signal=USR2@120", "--cpus-per-task=2"):  # fmt: skip
        assert f"#SBATCH {line}\n" in script, script
    cpu_only = SlurmExecutor(tmp_path / "logs").executor(submitit)
    assert "gpus" not in cpu_only._executor._make_submission_file_text("cmd", "uid")


def test_a_job_array_sbatch_refuses_is_one_line_naming_why(tmp_path, monkeypatch):
    from rich.console import Console

    from pmarl_bench.errors import ConfigError
    from pmarl_bench.executor import CellJob
    from pmarl_bench.suites import load_suite

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "srun").write_text("#!/bin/sh\n")
    (bin_dir / "sbatch").write_text(
        '#!/bin/sh\necho "sbatch: error: invalid partition specified: gpu" >&2\nexit 1\n'
    )
    for command in ("sbatch", "srun"):
        (bin_dir / command).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    cell = load_suite(SMOKE).cells[0]
    launcher = SlurmExecutor(tmp_path / "logs", partition="gpu")
    with pytest.raises(ConfigError, match="invalid partition specified: gpu"):
        launcher.run([CellJob(cell, tmp_path / "cell")], lambda *a, **k: None,
                     console=Console(quiet=True), memory_limit=None)  # fmt: skip


# compiles and trains whole programs in job processes: the slow tier (CI runs it)
@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds the jobs' processes through /proc")
def test_a_two_cell_suite_is_stopped_and_resumed_and_a_warned_job_requeued(tmp_path):
    results, logs = tmp_path / "results", tmp_path / "logs"
    run = ["run", str(SMOKE), "--steps", "131072", "--launcher", "slurm",
           "--submitit-cluster", "local", "--time", "30m", "--slurm-logs", str(logs),
           "--results-dir", str(results), "--snapshot-every", "0"]  # fmt: skip
    cells = {agent: results / "smoke" / "n_back" / agent for agent in ("mlp", "mlp_tanh")}

    # 1. Ctrl-C on the login node once both jobs train: the jobs are cancelled, their
    # snapshots stay
    first = launch(run)
    until(lambda: all(snapshot_of(c) is not None for c in cells.values()), first)
    first.send_signal(signal.SIGINT)
    out, _ = first.communicate(timeout=120)
    assert first.returncode == 130, out
    assert "submitted 2 job(s)" in out and "cancelled 2 job(s)" in out, out
    until(lambda: not job_processes(), None)  # (the cancelled jobs end)
    left = {agent: snapshot_of(cell) for agent, cell in cells.items()}
    assert all(u is not None for u in left.values()) and not any(map(store.is_complete,
                                                                      cells.values()))  # fmt: skip

    # 2. the same command again: both resume; mlp's job, warned of its time limit (SLURM's
    # USR2) after a snapshot of its own, snapshots, is requeued and resumes once more
    second = launch(run)
    mlp = store.running_dir(cells["mlp"])
    until(lambda: (snapshot_of(cells["mlp"]) or 0) > left["mlp"], second)
    os.kill(staging.read_status(mlp)["pid"], signal.SIGUSR2)
    out, _ = second.communicate(timeout=300)
    assert second.returncode == 0, out
    assert "2 cell(s) trained, 0 skipped" in out, out
    resumed = {a: store.read_manifest(c)["resumed_at_updates"] for a, c in cells.items()}
    assert resumed["mlp_tanh"] == [left["mlp_tanh"]], resumed
    assert resumed["mlp"][0] == left["mlp"] and resumed["mlp"][1] > left["mlp"], resumed
    job_logs = "".join(p.read_text() for p in logs.glob("smoke/*_log.err"))
    assert "Requeued job" in job_logs, job_logs
    for cell in cells.values():
        assert store.read_manifest(cell)["status"] == "complete"
    assert not list((results / "smoke").glob("*/*@*"))  # no staging folder left


def launch(args: list[str]) -> subprocess.Popen:
    code = "from pmarl_bench.cli import main; main()"
    return subprocess.Popen(
        [sys.executable, "-c", code, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, env=dict(os.environ, JAX_PLATFORMS="cpu", COLUMNS="200"),
    )  # fmt: skip


def until(ready, proc: subprocess.Popen | None, seconds: float = 240) -> None:
    deadline = time.monotonic() + seconds
    while not ready():
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"the run ended first:\n{proc.communicate()[0]}")
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def snapshot_of(cell: Path) -> int | None:
    """The update of the cell's latest snapshot (None: none yet)."""
    snapshot = staging.latest_snapshot(store.running_dir(cell))
    return None if snapshot is None else snapshot.updates
