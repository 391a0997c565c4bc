"""Time `pmarl-bench report` on synthetic results: 10 envs x 5 agents x 10 seeds x 200
updates (the size issue 5 asks to build in under 30 s on a 2-core CPU).

    uv run python benchmarks/report_speed.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from pmarl_bench.report import build_report
from pmarl_bench.results import metrics_frame, write_cell


def synthetic(root: Path, envs: int, agents: int, seeds: int, updates: int) -> Path:
    rng = np.random.default_rng(0)
    for e in range(envs):
        for a in range(agents):
            curve = np.linspace(0, 1 + a, updates)[None] + rng.normal(0, 0.3, (seeds, updates))
            frame = metrics_frame(
                {"episode_return": curve},
                suite="synthetic",
                env=f"env{e}",
                agent=f"agent{a}",
                seeds=list(range(seeds)),
                env_steps_per_update=1000,
            )
            manifest = {
                "suite": "synthetic", "env": f"env{e}", "agent": f"agent{a}",
                "seeds": list(range(seeds)), "config_hash": "x",
                "score_levels": {"chance": 0.0, "memoryless": 0.5, "optimal": None},
                "agent_steps_per_second": 1e5, "compile_seconds": 5.0, "run_seconds": 60.0,
            }  # fmt: skip
            write_cell(root / "synthetic" / f"env{e}" / f"agent{a}", frame, manifest)
    return root / "synthetic"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results = synthetic(Path(tmp), envs=10, agents=5, seeds=10, updates=200)
        times = []
        for i in range(args.repeats):
            t0 = time.perf_counter()
            build_report([results], Path(tmp) / f"report{i}")
            times.append(time.perf_counter() - t0)
    print(
        "report of 10 envs x 5 agents x 10 seeds x 200 updates: "
        f"median {statistics.median(times):.1f} s (runs: {', '.join(f'{t:.1f}' for t in times)})"
    )


if __name__ == "__main__":
    main()
