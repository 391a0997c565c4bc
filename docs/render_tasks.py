"""Render a PNG strip per grid task, and an n-back frame, for the README (the renderer of
each env, jitted).

    uv run python docs/render_tasks.py

Each strip: the whole map at steps 0, 16, 32 and 48 of one episode under uniform random
actions (fog outside every agent's view), then agent 0's point of view at step 48. n-back:
the frame after 20 random answers.
"""

from __future__ import annotations

from pathlib import Path

import imageio.v3 as iio
import jax
import jax.numpy as jnp
import numpy as np

from pmarl_bench import envs

TASKS = {
    "grid_return-v0": {"num_agents": 2, "num_goals": 2},
    "scouts-v1": {"num_scouts": 2, "num_harvesters": 2, "num_treasures": 2},
    "traveling_salesman-v1": {},
    "king_of_the_hill-v1": {"num_agents": 6, "point_band": 2},
}
SHOW = (0, 16, 32, 48)
CELL_PX = 10
OUT = Path(__file__).parent / "tasks"


def strip(env_id: str, options: dict, seed: int = 0) -> np.ndarray:
    env = envs.make(env_id, width=20, height=14, **options)

    def play(key):
        state, _ = env.reset(key)

        def body(state, key):
            k1, k2 = jax.random.split(key)
            actions = jax.random.randint(k1, (env.num_agents,), 0, env.action_space.n)
            state, _ = env.step_no_reset(k2, state, actions)
            return state, env.render(state, cell_px=CELL_PX)

        last, frames = jax.lax.scan(body, state, jax.random.split(key, SHOW[-1]))
        first = env.render(state, cell_px=CELL_PX)
        frames = jnp.concatenate([first[None], frames])
        return frames[jnp.array(SHOW)], env.render_pov(last, 0, cell_px=2 * CELL_PX)

    frames, pov = jax.jit(play)(jax.random.key(seed))
    frames, pov = np.asarray(frames), np.asarray(pov)
    h = frames.shape[1]
    gap = np.full((h, 4, 3), 255, np.uint8)
    pov_panel = np.full((h, pov.shape[1], 3), 255, np.uint8)
    pov_panel[(h - pov.shape[0]) // 2 :][: pov.shape[0]] = pov
    parts = []
    for frame in [*frames, pov_panel]:
        parts += [frame, gap]
    return np.concatenate(parts[:-1], axis=1)


def n_back_frame(steps: int = 20, seed: int = 0) -> np.ndarray:
    env = envs.make("n_back-v0")

    def play(key):
        state, _ = env.reset(key)

        def body(state, key):
            k1, k2 = jax.random.split(key)
            state, _ = env.step(k2, state, jax.random.randint(k1, (1,), 0, 2))
            return state, None

        state, _ = jax.lax.scan(body, state, jax.random.split(key, steps))
        return env.render(state, cell_px=2 * CELL_PX)

    return np.asarray(jax.jit(play)(jax.random.key(seed)))


def main() -> None:
    OUT.mkdir(exist_ok=True)
    for env_id, options in TASKS.items():
        path = OUT / f"{env_id.split('-')[0]}.png"
        iio.imwrite(path, strip(env_id, options))
        print(path)
    iio.imwrite(OUT / "n_back.png", n_back_frame())
    print(OUT / "n_back.png")


if __name__ == "__main__":
    main()
