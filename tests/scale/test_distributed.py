"""``run --distributed``: two local processes form one ``jax.distributed`` job on the CPU
(one device each). The cell's seed spans both processes (its envs split between them, the
gradient averaged across them over Gloo); process 0 alone writes, and the results match a
single-process run."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pmarl_bench.results import store

ROOT = Path(__file__).resolve().parents[2]
SMOKE = str(ROOT / "suites" / "smoke.yaml")
ARGS = ["--only", "n_back/mlp", "--seeds", "1"]


def cli(results: Path, **env: str) -> subprocess.Popen:
    code = "from pmarl_bench.cli import main; main()"
    args = ["run", SMOKE, *ARGS, "--results-dir", str(results)]
    return subprocess.Popen(
        [sys.executable, "-c", code, *args, *(["--distributed"] if env else [])],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=dict(os.environ, JAX_PLATFORMS="cpu", JAX_NUM_CPU_DEVICES="1", **env),
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_processes_form_one_job_and_only_process_0_writes(tmp_path):
    job = {"JAX_COORDINATOR_ADDRESS": f"127.0.0.1:{free_port()}", "JAX_NUM_PROCESSES": "2"}
    procs = [cli(tmp_path / f"process{i}", **job, JAX_PROCESS_ID=str(i)) for i in range(2)]
    outs = [p.communicate(timeout=300)[0] for p in procs]
    for p, out in zip(procs, outs, strict=True):
        assert p.returncode == 0, out

    cell = tmp_path / "process0" / "smoke" / "n_back" / "mlp"
    manifest = store.read_manifest(cell)
    assert manifest["processes"] == 2
    assert manifest["mesh"] == {"seed": 1, "data": 2}  # one seed, its envs on two processes
    assert not (tmp_path / "process1").exists()  # process 1 trained but wrote nothing

    single = cli(tmp_path / "single")
    out = single.communicate(timeout=300)[0]
    assert single.returncode == 0, out
    alone = store.load_results(tmp_path / "single" / "smoke")
    joint = store.load_results(tmp_path / "process0" / "smoke")
    key = ["metric", "update"]
    alone, joint = alone.sort_values(key), joint.sort_values(key)
    assert list(joint["metric"]) == list(alone["metric"])
    np.testing.assert_allclose(joint["value"], alone["value"], rtol=1e-4, atol=1e-5)


def test_without_a_job_to_join_it_is_a_one_line_error(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAX_COORDINATOR")}
    code = "from pmarl_bench.cli import main; main()"
    out = subprocess.run(
        [sys.executable, "-c", code, "run", SMOKE, "--distributed",
         "--results-dir", str(tmp_path / "res")],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "--distributed: could not join the job" in lines[0], out.stderr
    assert "JAX_COORDINATOR_ADDRESS" in lines[0]
    assert not (tmp_path / "res").exists()
