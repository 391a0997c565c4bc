"""Random-action stepping and reset time of the grid tasks, as recorded in BENCHMARKS.md.

    uv run python benchmarks/grid_throughput.py [--repeats 5] [--only scouts-v1] [--agents 16]

Each task at its defaults (40x40, view 5, 512-step episodes) with 256 and 2048 envs, plus the
large-view many-agent shapes; one 512-step scan of uniform random actions, obs consumed, no
auto-reset inside the episode (as in training); reset = one reset of all envs.
"""

from __future__ import annotations

import argparse
import platform

import jax

from pmarl_bench import bench, envs

CASES = [
    ("grid_return-v0", {}),
    ("scouts-v1", {}),
    ("traveling_salesman-v1", {}),
    ("king_of_the_hill-v1", {}),
    ("grid_return-v0", {"num_agents": 16, "view": 11}),
    ("king_of_the_hill-v1", {"num_agents": 32, "view": 11}),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--envs", type=int, nargs="+", default=[256, 2048])
    parser.add_argument("--only", nargs="+", help="env ids to run (default: all)")
    parser.add_argument("--agents", type=int, help="only cases with this many agents")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {jax.devices()[0].device_kind}, jax {jax.__version__}")
    print("\n| env | options | envs | agent-steps/s | reset (all envs) | 64 steps | compile |")
    print("|---|---|---|---|---|---|---|")
    for env_id, options in CASES:
        env = envs.make(env_id, **options)
        if (args.only and env_id not in args.only) or (
            args.agents and env.num_agents != args.agents
        ):
            continue
        for num_envs in args.envs:
            r = bench.env_throughput(env, num_envs, 512, args.repeats)
            step64 = 64 * num_envs * env.num_agents / r.agent_steps_per_second
            opts = ", ".join(f"{k}={v}" for k, v in options.items()) or "defaults"
            print(
                f"| {env_id} | {opts} | {num_envs} | {r.agent_steps_per_second / 1e6:.2f}M | "
                f"{r.reset_seconds * 1e3:.1f} ms | {step64 * 1e3:.1f} ms | "
                f"{r.compile_seconds:.1f} s |"
            )


if __name__ == "__main__":
    main()
