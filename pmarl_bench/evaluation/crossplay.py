"""Cross-play: how well a policy works with partners it was not trained with.

For an env that declares its cooperative sides (``env.partners``: per agent, 0 for the focal
side, e.g. Scouts' scouts; 1 for its partners, the harvesters), entry ``[i, j]`` of a cell's
matrix is the mean per-agent return when the focal agents follow seed ``i``'s final policy
and their partners seed ``j``'s. Every pair plays one shared set of episodes (the same
resets and action keys, from the evaluation key), so the matrix compares pairs on equal
terms and its diagonal is each seed's self-play on those episodes. The policies act by
sampling, as trained.
"""

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

#: the metric a matrix holds: the sampled (trained) policy's mean per-agent return
METRIC = "return_stochastic"


def has_partners(env, env_params=None) -> bool:
    """Whether any task of ``env`` declares cooperative sides to cross."""
    return any(g.env.partners is not None for g in env.groups(EVAL_EPISODES, env_params))


def cross_play_returns(
    env, env_params, agent: Agent, params, episodes: int = EVAL_EPISODES,
    seed: int = FINAL_EVAL_SEED, partner_agent: Agent | None = None, partner_params=None,
) -> dict[str | None, np.ndarray]:  # fmt: skip
    """``{task: [seeds, seeds]}`` (task None for a single env) for every task of ``env`` that
    declares partners; ``params`` stacked over seeds. Row: the focal side's seed; column:
    the partners' seed. Episodes are split among the tasks as in the final-policy
    evaluation; the diagonal is each seed's self-play on the shared episodes. With
    ``partner_agent`` and ``partner_params`` (stacked over its seeds), another agent plays
    the partners: ``[seeds, its seeds]``."""
    key = jax.random.key(seed)
    runs = []
    for g in env.groups(episodes, env_params):
        if g.env.partners is None:
            continue
        batch = EnvBatch(env, env_params, episodes, auto_reset=True, groups=[g])
        focal = jnp.tile(jnp.asarray(g.env.partners) == 0, g.num_envs)
        runs.append((g.name, batch, focal, g.env.max_episode_steps or UNBOUNDED_STEPS))
    if not runs:
        return {}
    partners = params if partner_params is None else partner_params
    n, k = (jax.tree.leaves(p)[0].shape[0] for p in (params, partners))
    rows, cols = np.repeat(np.arange(n), k), np.tile(np.arange(k), n)

    def play(mine, theirs):
        return {
            name: first_episode_return(
                agent, batch, mine, False, key, steps, theirs, focal, partner_agent
            )
            for name, batch, focal, steps in runs
        }

    pick = lambda tree, idx: jax.tree.map(lambda x: x[idx], tree)
    values = jax.device_get(jax.jit(jax.vmap(play))(pick(params, rows), pick(partners, cols)))
    return {name: np.asarray(v).reshape(n, k) for name, v in values.items()}
