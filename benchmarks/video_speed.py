"""Time a 512-step rollout video of a 40x40 map (King of the Hill, 8 agents, with one agent's
point of view): the jitted rollout with rendering (compile included), the overlays, and MP4
encoding.

    uv run python benchmarks/video_speed.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import jax

from pmarl_bench import agents, envs, video
from pmarl_bench.agents.gru import GRUConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    env = envs.make("king_of_the_hill-v0")  # 40x40, 512-step episodes
    agent = agents.make_agent(GRUConfig(), env.observation_space, env.action_space)
    params = agent.init(jax.random.key(0))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeats):
            t0 = time.perf_counter()
            rec = video.record(env, None, agent, params, jax.random.key(i), pov=0)
            t1 = time.perf_counter()
            frames = video.annotate(rec)
            t2 = time.perf_counter()
            video.write_video(Path(tmp) / "v.mp4", frames, fps=24)
            t3 = time.perf_counter()
            rows.append((t1 - t0, t2 - t1, t3 - t2, t3 - t0))
    rollout, overlay, encode, total = (statistics.median(c) for c in zip(*rows, strict=True))
    print(
        f"{len(frames)} frames of {frames.shape[2]}x{frames.shape[1]}: rollout + render "
        f"{rollout:.2f} s, overlays {overlay:.2f} s, MP4 {encode:.2f} s, total {total:.2f} s "
        f"({len(frames) / total:.0f} frames/s; median of {args.repeats})"
    )


if __name__ == "__main__":
    main()
