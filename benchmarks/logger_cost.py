"""Cost per chunk of streaming metrics to TensorBoard and W&B (offline), at the memory
suite's shapes: 5 seeds, 5 updates per chunk (1/25 of 122), the trainer's 14 metrics.

    uv run python benchmarks/logger_cost.py [--chunks 25]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from pmarl_bench.results import metrics_frame
from pmarl_bench.runner.loggers import Loggers

METRICS = ["episode_return", "episode_length", "episodes", "policy_loss", "value_loss",
           "entropy", "approx_kl", "clip_fraction", "grad_norm", "learning_rate",
           "explained_variance", "sps", "value_mean", "advantage_std"]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=25)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--updates-per-chunk", type=int, default=5)
    args = parser.parse_args()
    seeds = list(range(args.seeds))
    cell = SimpleNamespace(
        seeds=seeds, name="n_back/gru", env_name="n_back", agent_name="gru",
        config_hash=lambda: "0123456789abcdef", resolved_config=lambda: {"suite": "bench"},
    )  # fmt: skip
    train = SimpleNamespace(env_steps_per_update=16384)
    rng = np.random.default_rng(0)
    for kind in ("tensorboard", "wandb"):
        with tempfile.TemporaryDirectory() as folder:
            t0 = time.perf_counter()
            loggers = Loggers.open((kind,), Path(folder), cell, 0, train)
            opened = time.perf_counter() - t0
            times = []
            for c in range(args.chunks):
                first = c * args.updates_per_chunk
                values = {m: rng.normal(size=(len(seeds), args.updates_per_chunk))
                          for m in METRICS}  # fmt: skip
                frame = metrics_frame(values, suite="bench", env="n_back", agent="gru",
                                      seeds=seeds, env_steps_per_update=16384,
                                      first_update=first)  # fmt: skip
                t0 = time.perf_counter()
                loggers.log(frame)
                times.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            loggers.close()
            closed = time.perf_counter() - t0
        n = len(METRICS) * len(seeds) * args.updates_per_chunk
        median = statistics.median(times) * 1e3
        print(
            f"{kind}: open {opened:.2f}s, per chunk median {median:.1f} ms (max "
            f"{max(times) * 1e3:.1f} ms, {n} values), close {closed:.2f}s"
        )


if __name__ == "__main__":
    main()
