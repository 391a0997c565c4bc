"""Kill a training run with SIGKILL at random moments, resume it each time, and check what
issue 17 promises: no cell corrupted, at most one snapshot interval of work lost per kill, and
a final result bit for bit equal to an unbroken run's; report the snapshots' cost.

    uv run python benchmarks/kill_resume.py --only n_back/transformer --snapshot-every 30 \\
        --kills 10     # the memory suite's size: 5 seeds, 2M env steps

Work lost per kill: the training the killed run did after its latest snapshot (or after it
began training), which the resumed run does again; start-up and compilation are listed
apart. Snapshots come at chunk ends, so up to one snapshot interval plus one chunk.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jax
import numpy as np
import pandas as pd

from pmarl_bench.checkpoints import load_cell
from pmarl_bench.results import staging, store


def run(args: list[str], log: Path) -> subprocess.Popen:
    with log.open("w") as f:
        return subprocess.Popen(
            [sys.executable, "-m", "pmarl_bench.cli", "run", *args],
            stdout=f, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip


def training(stage: Path, pid: int) -> bool:
    """The run ``pid`` is training (not the status a killed predecessor left)."""
    status = staging.read_status(stage)
    return status is not None and status.get("pid") == pid and status.get("phase") == "train"


def check_folders(suite_dir: Path) -> int:
    """Corrupted cells: a finished-looking folder that does not load, or a staging folder
    whose latest snapshot cannot be read."""
    bad = 0
    for path in suite_dir.glob("*/*"):
        try:
            if store.is_cell_name(path.name):
                assert store.is_complete(path)
                pd.read_parquet(path / store.METRICS_FILE)
            elif path.name.endswith(store.RUNNING):
                snapshot = staging.latest_snapshot(path)
                if snapshot is not None:
                    assert (snapshot.folder / "state").is_dir()
        except Exception as err:  # any failure counts
            print(f"corrupted: {path}: {err}")
            bad += 1
    return bad


def same(a: Path, b: Path) -> bool:
    ma, mb = (pd.read_parquet(p / store.METRICS_FILE) for p in (a, b))
    if not ma.equals(mb):
        return False
    ca, cb = load_cell(a), load_cell(b)
    pairs = [
        zip(jax.tree.leaves(ca.params(s)), jax.tree.leaves(cb.params(s)), strict=True)
        for s in ca.seeds
    ]
    return all(np.array_equal(x, y) for pair in pairs for x, y in pair)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="suites/memory.yaml")
    parser.add_argument("--only", default="n_back/transformer")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=2_000_000)
    parser.add_argument("--snapshot-every", type=float, default=30.0)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    root = Path(tempfile.mkdtemp(prefix="kill-resume-"))
    common = [args.suite, "--only", args.only, "--seeds", str(args.seeds), "--steps",
              str(args.steps), "--snapshot-every", str(args.snapshot_every)]  # fmt: skip
    env, agent = args.only.split("/")

    t0 = time.monotonic()
    ref = run([*common, "--results-dir", str(root / "ref")], root / "ref.log")
    assert ref.wait() == 0, (root / "ref.log").read_text()
    reference_seconds = time.monotonic() - t0
    suite = store.read_manifest(next((root / "ref").glob(f"*/{env}/{agent}")))["suite"]
    ref_cell = root / "ref" / suite / env / agent
    manifest = store.read_manifest(ref_cell)
    run_seconds = manifest["run_seconds"]

    cell = root / "killed" / suite / env / agent
    stage = store.running_dir(cell)
    lost, startup, corrupted = [], [], 0
    for i in range(args.kills):
        t_start = time.monotonic()
        proc = run([*common, "--results-dir", str(root / "killed")], root / f"kill{i}.log")
        while proc.poll() is None and not training(stage, proc.pid):
            time.sleep(0.05)
        startup.append(time.monotonic() - t_start)
        trained_from = time.time()
        # somewhere in what is left of training (from the unbroken run's pace), at most a few
        # snapshot intervals on, so kills land anywhere between snapshots
        before = staging.latest_snapshot(stage)
        left = run_seconds * (1 - (before.updates if before else 0) / manifest["num_updates"])
        time.sleep(rng.uniform(0.5, max(min(left - 2, 2.5 * args.snapshot_every), 1.0)))
        if proc.poll() is not None:
            print(f"kill {i}: the run finished first")
            break
        os.killpg(proc.pid, signal.SIGKILL)
        killed_at = time.time()
        proc.wait()
        snapshot = staging.latest_snapshot(stage)
        # training this run did after its latest snapshot (or since it began training)
        since = killed_at - max(snapshot.folder.stat().st_mtime if snapshot else 0, trained_from)
        lost.append(since)
        corrupted += check_folders(root / "killed" / suite)
        done = snapshot.updates if snapshot else 0
        print(f"kill {i}: after {startup[-1]:.1f}s start-up, snapshot at update {done}, "
              f"{since:.1f}s of work lost")  # fmt: skip
    final = run([*common, "--results-dir", str(root / "killed")], root / "final.log")
    assert final.wait() == 0, (root / "final.log").read_text()
    resumed = store.read_manifest(cell)
    identical = same(ref_cell, cell)

    print(
        f"\nmachine: {os.cpu_count()} CPU cores; jax {jax.__version__}; {args.only}, "
        f"{args.seeds} seeds, {args.steps:,} env steps, snapshot every {args.snapshot_every}s"
    )
    print("| measure | value |\n|---|---|")
    print(f"| kills | {len(lost)} |")
    print(f"| cells corrupted | {corrupted} |")
    print(f"| final metrics and parameters equal to the unbroken run | {identical} |")
    print(
        f"| work lost per kill, s: median (max) | {statistics.median(lost):.1f} "
        f"({max(lost):.1f}); snapshot interval {args.snapshot_every:g} s |"
    )
    print(f"| start-up to training per rerun, s: median | {statistics.median(startup):.1f} |")
    print(f"| unbroken run: wall s, training s | {reference_seconds:.0f}, {run_seconds:.0f} |")
    n, secs = manifest["snapshots"], manifest["snapshot_seconds"]
    print(
        f"| snapshots in the unbroken run: count, s each, share of training | {n}, "
        f"{secs / max(n, 1):.2f}, {secs / run_seconds:.1%} |"
    )
    print(f"| resumed at updates | {resumed['resumed_at_updates']} |")
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
