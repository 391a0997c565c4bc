"""Throughput of the core pieces, as recorded in BENCHMARKS.md.

    uv run python benchmarks/core_throughput.py

n-back random-action stepping at 1024 and 4096 envs (512-step scans, obs consumed), and
training agent-steps/s with compile time for the memory suite's n-back cells and for gymnax
CartPole-v1 (suites/cartpole.yaml).
"""

from __future__ import annotations

import argparse
import platform

import jax

from pmarl_bench import bench, envs
from pmarl_bench.suites import load_suite


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {jax.device_count()} x {jax.devices()[0].device_kind}"
        f", jax {jax.__version__}"
    )

    print("\n| env | envs | agent-steps/s | reset (all envs) | compile |")
    print("|---|---|---|---|---|")
    for num_envs in (1024, 4096):
        r = bench.env_throughput(envs.make("n_back-v0"), num_envs, 512, args.repeats)
        print(
            f"| n_back-v0 | {num_envs} | {r.agent_steps_per_second / 1e6:.1f}M | "
            f"{r.reset_seconds * 1e3:.2f} ms | {r.compile_seconds:.1f} s |"
        )

    print("\n| cell | seeds | batch (envs x T) | agent-steps/s | compile | run |")
    print("|---|---|---|---|---|---|")
    cases = [("memory.yaml", "n_back/*", (1, 5)), ("cartpole.yaml", "*", (1, 4))]
    for suite, only, seed_counts in cases:
        for cell in load_suite(f"suites/{suite}", only=only).cells:
            for seeds in seed_counts:
                _, _, _, train = cell.build()
                r = bench.train_throughput(cell.name, train, seeds)
                print(
                    f"| {cell.name} ({suite}) | {seeds} | {cell.ppo.num_envs} x "
                    f"{cell.ppo.rollout_length} | {r.agent_steps_per_second / 1e3:.0f}k | "
                    f"{r.compile_seconds:.1f} s | {r.run_seconds:.1f} s |"
                )


if __name__ == "__main__":
    main()
