"""The final-policy evaluation of every cell: the final policy's episode return, greedy and
stochastic, on evaluation episodes whose env resets and action samples come from one fixed
key, the same for every agent and seed; reports score agents by it, not by training
returns."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from pmarl_bench.agents.base import Agent
from pmarl_bench.evaluation.episodes import (
    EVAL_EPISODES,
    FINAL_EVAL_SEED,
    UNBOUNDED_STEPS,
    first_episode_return,
)
from pmarl_bench.trainer.rollout import EnvBatch

#: final-policy metrics: the greedy policy (most likely action) and the trained one (sampled)
FINAL_RETURNS = {True: "return_greedy", False: "return_stochastic"}


def final_policy_returns(
    env, env_params, agent: Agent, params, episodes: int = EVAL_EPISODES,
    seed: int = FINAL_EVAL_SEED,
) -> dict[str, np.ndarray]:  # fmt: skip
    """``{metric: [seeds]}``: the final policy's mean per-agent return over ``episodes``
    evaluation episodes (split among the tasks of a multi-task env), greedy and stochastic;
    ``eval/<metric>``, or ``eval/<task>/<metric>`` per task. ``params`` are stacked over
    seeds; every seed plays the same episodes with the same sampling key."""
    key = jax.random.key(seed)
    runs = []  # (metric prefix, batch, steps) per task: one program plays them all
    for g in env.groups(episodes, env_params):
        batch = EnvBatch(env, env_params, episodes, auto_reset=True, groups=[g])
        prefix = "eval/" if g.name is None else f"eval/{g.name}/"
        runs.append((prefix, batch, g.env.max_episode_steps or UNBOUNDED_STEPS))

    def play(p, greedy):
        return {
            prefix: first_episode_return(agent, batch, p, greedy, key, steps)
            for prefix, batch, steps in runs
        }

    run = jax.jit(jax.vmap(play, in_axes=(0, None)))
    out: dict[str, np.ndarray] = {}
    for greedy, name in FINAL_RETURNS.items():
        values = jax.device_get(run(params, jnp.asarray(greedy)))
        out |= {prefix + name: np.asarray(v) for prefix, v in values.items()}
    return out
