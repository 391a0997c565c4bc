"""``run --executor ray`` on a local Ray cluster: a worker killed during a cell has its cell
retried, every cell ends with its results in the usual layout, and a second run skips them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pmarl_bench.executors.ray import TASK_NAME
from pmarl_bench.results import reading, store

# compiles and trains whole programs: the slow tier (CI runs it)
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SMOKE = ROOT / "suites" / "smoke.yaml"
CELLS = ("n_back/mlp", "n_back/mlp_tanh")


def cli(*args: str) -> subprocess.Popen:
    code = "from pmarl_bench.cli import main; main()"
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=dict(os.environ, JAX_PLATFORMS="cpu", COLUMNS="200"),
    )


def cell_workers() -> list[int]:
    """PIDs of Ray workers running a cell (Ray titles them ``ray::<task name>``)."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            title = (proc / "cmdline").read_bytes().split(b"\0")[0].decode()
        except (OSError, ValueError):
            continue
        if title.startswith(f"ray::{TASK_NAME}"):
            pids.append(int(proc.name))
    return pids


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds Ray's workers through /proc")
def test_a_killed_worker_is_retried_and_a_second_run_skips_every_cell(tmp_path):
    results = tmp_path / "results"
    # a snapshot after every chunk: the workers send each one home
    run = cli("run", str(SMOKE), "--executor", "ray", "--results-dir", str(results),
              "--snapshot-every", "0")  # fmt: skip
    killed, seen = None, {}
    deadline = time.monotonic() + 240
    while run.poll() is None and killed is None and time.monotonic() < deadline:
        now = time.monotonic()
        for pid in cell_workers():
            # give it a moment, so the cell is underway (compiling or training) when it dies
            if now - seen.setdefault(pid, now) > 1.0:
                os.kill(pid, signal.SIGKILL)
                killed = pid
                break
        time.sleep(0.1)
    out, _ = run.communicate(timeout=300)
    assert killed is not None, f"no cell worker was seen running:\n{out}"
    assert run.returncode == 0, out
    assert "2 cell(s) trained, 0 skipped" in out, out
    for cell in CELLS:
        manifest = store.read_manifest(results / "smoke" / cell)
        assert manifest["status"] == "complete", cell
        assert (results / "smoke" / cell / "checkpoints" / "final").is_dir()
    assert len(reading.load_results(results / "smoke")) > 0
    assert not list((results / "smoke").glob("*/*.tmp-*"))  # nothing half-written left
    assert not list((results / "smoke").glob("*/*@*"))  # no staging folder left

    again = cli("run", str(SMOKE), "--executor", "ray", "--results-dir", str(results))
    out, _ = again.communicate(timeout=120)
    assert again.returncode == 0, out
    assert "0 cell(s) trained, 2 skipped" in out, out
    assert "Ray cluster" not in out  # nothing to do: no cluster started
