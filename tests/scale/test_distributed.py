"""``run --distributed``: two local processes form one ``jax.distributed`` job on the CPU
(one device each). One seed spans both processes (its envs split between them, the gradient
averaged over Gloo), or two seeds take one process each; process 0 alone writes, and the
results match a single-process run."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pmarl_bench.results import reading, store

# compiles and trains whole programs: the slow tier (CI runs it)
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SMOKE = str(ROOT / "suites" / "smoke.yaml")


def cli(results: Path, seeds: int, **env: str) -> subprocess.Popen:
    code = "from pmarl_bench.cli import main; main()"
    args = [
        "run",
        SMOKE,
        "--only",
        "n_back/mlp",
        "--seeds",
        str(seeds),
        "--results-dir",
        str(results),
    ]
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


def job(root: Path, seeds: int) -> Path:
    """Two processes as one job; returns process 0's results folder."""
    env = {"JAX_COORDINATOR_ADDRESS": f"127.0.0.1:{free_port()}", "JAX_NUM_PROCESSES": "2"}
    procs = [cli(root / f"process{i}", seeds, **env, JAX_PROCESS_ID=str(i)) for i in range(2)]
    outs = [p.communicate(timeout=300)[0] for p in procs]
    for p, out in zip(procs, outs, strict=True):
        assert p.returncode == 0, out
    assert "process 1 of 2: process 0 writes" in outs[1]
    assert not (root / "process1").exists()  # process 1 trained but wrote nothing
    return root / "process0" / "smoke"


def curves(results: Path, seeds: list[int]) -> pd.DataFrame:
    df = reading.load_results(results)
    return df[df.seed.isin(seeds)].sort_values(["seed", "metric", "update"])


def test_two_processes_form_one_job_and_only_process_0_writes(tmp_path):
    single = cli(tmp_path / "single", 2)
    out = single.communicate(timeout=300)[0]
    assert single.returncode == 0, out
    # one seed: its envs split between the processes, the gradient averaged over Gloo;
    # two seeds: one per process, gathered back for process 0 to write
    for seeds, mesh in ((1, {"seed": 1, "data": 2}), (2, {"seed": 2, "data": 1})):
        results = job(tmp_path / f"seeds{seeds}", seeds)
        manifest = store.read_manifest(results / "n_back" / "mlp")
        assert manifest["processes"] == 2 and manifest["mesh"] == mesh
        assert (results / "n_back" / "mlp" / "checkpoints" / "final").is_dir()
        joint = curves(results, list(range(seeds)))
        alone = curves(tmp_path / "single" / "smoke", list(range(seeds)))
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
