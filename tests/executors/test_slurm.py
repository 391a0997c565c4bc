"""``run --launcher slurm`` through submitit's local executor (jobs as processes here): a job
warned of its time limit (SLURM's USR2) saves a snapshot, is requeued and resumes from it,
and the cell ends with its results in the usual layout."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pmarl_bench.executors.slurm import SlurmExecutor
from pmarl_bench.results import store

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


# compiles and trains a whole program in a job process: the slow tier (CI runs it)
@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds the job's process through /proc")
def test_a_job_warned_of_its_time_limit_is_requeued_and_resumes_from_its_snapshot(tmp_path):
    results, logs = tmp_path / "results", tmp_path / "logs"
    code = "from pmarl_bench.cli import main; main()"
    run = subprocess.Popen(
        [sys.executable, "-c", code, "run", str(SMOKE), "--only", "n_back/mlp",
         "--steps", "131072", "--launcher", "slurm", "--submitit-cluster", "local",
         "--time", "30m", "--slurm-logs", str(logs), "--results-dir", str(results),
         "--snapshot-every", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env=dict(os.environ, JAX_PLATFORMS="cpu", COLUMNS="200"),
    )  # fmt: skip
    cell = results / "smoke" / "n_back" / "mlp"
    snapshots = store.running_dir(cell) / "snapshots"
    warned = None
    deadline = time.monotonic() + 240
    while run.poll() is None and warned is None and time.monotonic() < deadline:
        if snapshots.is_dir() and any(snapshots.iterdir()):  # training, a snapshot saved
            for pid in job_processes():
                os.kill(pid, signal.SIGUSR2)  # SLURM's warning before the time limit
                warned = pid
        time.sleep(0.05)
    out, _ = run.communicate(timeout=300)
    assert warned is not None, f"no job was seen training:\n{out}"
    assert run.returncode == 0, out
    assert "submitted 1 job(s)" in out and "1 cell(s) trained, 0 skipped" in out, out
    manifest = json.loads((cell / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    # the requeued job went on from the snapshot the warned one saved
    assert manifest["resumed_at_updates"] and manifest["resumed_at_updates"][0] > 0
    assert manifest["resumed_at_updates"][0] < manifest["num_updates"]
    job_logs = "".join(p.read_text() for p in logs.glob("smoke/*_log.err"))
    assert "Requeued job" in job_logs, job_logs
    assert not list((results / "smoke").glob("*/*@*"))  # no staging folder left
