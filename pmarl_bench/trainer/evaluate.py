"""Evaluations run after training, beside the training returns.

King of the Hill: the trained policy plays one team against a team of uniformly random
agents; a cell records the share of point-steps (points x steps) each team holds. Half the
episodes give the policy team 0 and half team 1, so neither side's spawn edge favours it.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from pmarl_bench.agents.base import Agent
from pmarl_bench.envs.grid import KingOfTheHill
from pmarl_bench.envs.multitask import Group
from pmarl_bench.trainer.losses import masked_logits
from pmarl_bench.trainer.rollout import EnvBatch, env_groups

#: episodes per seed (an even number: half with the policy on each team)
EVAL_EPISODES = 64


def point_share_vs_random(
    agent: Agent, envs: EnvBatch, params, key: jax.Array
) -> dict[str, jax.Array]:
    """One episode per env of a King of the Hill batch (one group): the share of point-steps
    held by the policy's team and by the random team (the rest is neutral)."""
    (group,) = envs.groups
    env: KingOfTheHill = group.env
    E, A = group.num_envs, env.num_agents
    policy_team = jnp.arange(E) % 2  # [E]
    is_policy = jnp.repeat(policy_team, A) == jnp.tile(env.team, E)  # [B] agent-major rows
    key_reset, key_scan = jax.random.split(key)
    rs = envs.fresh(key_reset, agent)

    def act(rs, key):
        key_policy, key_random, key_env = jax.random.split(key, 3)
        mask = envs.action_mask(rs.timestep)
        carry, out = agent.step(params, rs.carry, envs.agent_input(rs.timestep, rs.start))
        policy = jax.random.categorical(key_policy, masked_logits(out.logits, mask))
        uniform = jax.random.categorical(key_random, jnp.where(mask, 0.0, -jnp.inf))
        action = jnp.where(is_policy, policy, uniform)
        env_state, ts = envs.step(key_env, rs.env_state, action)
        owner = env_state[0].owner  # [E, P]
        held = (
            (owner == policy_team[:, None]).mean(-1),
            (owner == 1 - policy_team[:, None]).mean(-1),
        )
        new = rs._replace(
            env_state=env_state, timestep=ts, carry=carry, start=jnp.zeros_like(rs.start)
        )
        return new, held

    steps = jax.random.split(key_scan, env.options.episode_length)
    _, (policy_held, random_held) = jax.lax.scan(act, rs, steps)
    return {"point_share": policy_held.mean(), "random_point_share": random_held.mean()}


def evaluations(env, env_params, agent: Agent) -> dict[str, Callable]:
    """``{metric prefix: fn(params, key) -> {name: scalar}}`` for a cell's env: one per King
    of the Hill task (``eval/`` for a single env, ``eval/<task>/`` within a multi-task env)."""
    out = {}
    for g in env_groups(env, env_params, EVAL_EPISODES):
        if isinstance(g.env, KingOfTheHill):
            group = Group(g.name, g.env, g.params, EVAL_EPISODES, g.task_id)
            # episodes are exactly episode_length long: no auto-reset needed
            batch = EnvBatch(env, env_params, EVAL_EPISODES, auto_reset=False, groups=[group])
            prefix = "eval/" if g.name is None else f"eval/{g.name}/"
            out[prefix] = lambda params, key, batch=batch: point_share_vs_random(
                agent, batch, params, key
            )
    return out


def evaluate_seeds(
    env, env_params, agent: Agent, params, seeds: list[int]
) -> dict[str, np.ndarray]:
    """Run a cell's evaluations for every seed (params stacked over seeds, vmapped):
    ``{metric: [seeds]}``; empty when the env has none."""
    results = {}
    keys = jnp.stack([jax.random.fold_in(jax.random.key(s), 1) for s in seeds])
    for prefix, fn in evaluations(env, env_params, agent).items():
        values = jax.device_get(jax.jit(jax.vmap(fn))(params, keys))
        results |= {prefix + name: np.asarray(v) for name, v in values.items()}
    return results
