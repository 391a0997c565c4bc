"""Throughput of the core pieces, as recorded in BENCHMARKS.md.

    uv run python benchmarks/core_throughput.py

n-back random-action stepping at 1024 and 4096 envs (512-step scans, obs consumed), and
training agent-steps/s with compile time and peak memory for the memory suite's n-back cells
(every agent), the GPU-sized transformer-medium baseline at the same shapes (a short run), and
gymnax CartPole-v1 (suites/cartpole.yaml).
"""

from __future__ import annotations

import argparse
import platform
import tempfile
from pathlib import Path

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

    print(
        "\n| cell | seeds | envs x T | agent-steps/s | compile | run | peak host RSS "
        "| compiled chunk program | params |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    cases = [
        ("suites/memory.yaml", "n_back/*", None, (1, 5)),
        (medium_suite(), "*", 256 * 64 * 16, (1,)),
        ("suites/cartpole.yaml", "*", None, (1, 4)),
    ]
    for suite, only, steps, seed_counts in cases:
        for cell in load_suite(suite, only=only, steps=steps).cells:
            for seeds in seed_counts:
                _, _, agent, train = cell.build()
                r = bench.train_throughput(cell.name, train, seeds)
                params = agent.num_params(jax.eval_shape(agent.init, jax.random.key(0)))
                print(
                    f"| {cell.name} ({Path(suite).name}) | {seeds} | {cell.ppo.num_envs} x "
                    f"{cell.ppo.rollout_length} | {r.agent_steps_per_second / 1e3:.1f}k | "
                    f"{r.compile_seconds:.1f} s | {r.run_seconds:.1f} s | "
                    f"{r.peak_host_bytes / 1e9:.2f} GB | "
                    f"{(r.compiled_memory_bytes or 0) / 1e6:.0f} MB | {params / 1e3:.1f}k |"
                )


def medium_suite() -> str:
    """The memory suite's n-back cell with the GPU-sized transformer-medium baseline."""
    memory = Path("suites/memory.yaml").read_text()
    text = memory.split("agents:")[0] + "agents:\n  - baseline: transformer-medium\n"
    path = Path(tempfile.mkdtemp()) / "memory_medium.yaml"
    path.write_text(text.replace("name: memory", "name: memory_medium", 1))
    return str(path)


if __name__ == "__main__":
    main()
