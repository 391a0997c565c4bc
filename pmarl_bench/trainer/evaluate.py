"""Evaluations run after training, beside the training returns.

King of the Hill: the trained policy plays one team against a team of uniformly random
agents, and against each of its own earlier checkpoints; a cell records the share of
point-steps (points x steps) each team holds. Half the episodes give the policy team 0 and
half team 1, so neither side's spawn edge favours it.
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


def point_shares(
    agent: Agent, envs: EnvBatch, params, opponent, key: jax.Array
) -> dict[str, jax.Array]:
    """One episode per env of a King of the Hill batch (one group): the share of point-steps
    held by the policy's team and by the other team (the rest is neutral). The other team
    plays ``opponent`` (parameters of the same agent), or uniformly random actions when it is
    None."""
    (group,) = envs.groups
    env: KingOfTheHill = group.env
    E, A = group.num_envs, env.num_agents
    policy_team = jnp.arange(E) % 2  # [E]
    is_policy = jnp.repeat(policy_team, A) == jnp.tile(env.team, E)  # [B] agent-major rows
    key_reset, key_scan = jax.random.split(key)
    rs = envs.fresh(key_reset, agent)

    def act(carry, key):
        rs, opponent_memory = carry
        key_policy, key_other, key_env = jax.random.split(key, 3)
        mask = envs.action_mask(rs.timestep)
        inputs = envs.agent_input(rs.timestep, rs.start)
        memory, out = agent.step(params, rs.carry, inputs)
        policy = jax.random.categorical(key_policy, masked_logits(out.logits, mask))
        if opponent is None:
            other = jax.random.categorical(key_other, jnp.where(mask, 0.0, -jnp.inf))
        else:  # both policies act for every row; each team keeps its own's actions
            opponent_memory, out = agent.step(opponent, opponent_memory, inputs)
            other = jax.random.categorical(key_other, masked_logits(out.logits, mask))
        action = jnp.where(is_policy, policy, other)
        env_state, ts = envs.step(key_env, rs.env_state, action)
        owner = env_state[0].owner  # [E, P]
        held = (
            (owner == policy_team[:, None]).mean(-1),
            (owner == 1 - policy_team[:, None]).mean(-1),
        )
        new = rs._replace(
            env_state=env_state, timestep=ts, carry=memory, start=jnp.zeros_like(rs.start)
        )
        return (new, opponent_memory), held

    steps = jax.random.split(key_scan, env.options.episode_length)
    _, (policy_held, other_held) = jax.lax.scan(act, (rs, rs.carry), steps)
    return {"policy": policy_held.mean(), "other": other_held.mean()}


def evaluations(env, env_params, agent: Agent) -> dict[str, Callable]:
    """``{metric prefix: fn(params, opponent, key) -> {"policy", "other": scalar}}`` for a
    cell's env: one per King of the Hill task (``eval/`` for a single env, ``eval/<task>/``
    within a multi-task env)."""
    out = {}
    for g in env_groups(env, env_params, EVAL_EPISODES):
        if isinstance(g.env, KingOfTheHill):
            group = Group(g.name, g.env, g.params, EVAL_EPISODES, g.task_id)
            # episodes are exactly episode_length long: no auto-reset needed
            batch = EnvBatch(env, env_params, EVAL_EPISODES, auto_reset=False, groups=[group])
            prefix = "eval/" if g.name is None else f"eval/{g.name}/"
            out[prefix] = lambda params, opponent, key, batch=batch: point_shares(
                agent, batch, params, opponent, key
            )
    return out


#: metric names: against random agents (after training), and final policy against an
#: earlier checkpoint (recorded at the checkpoint's update)
VS_RANDOM = {"policy": "point_share", "other": "random_point_share"}
VS_CHECKPOINT = {"policy": "final_vs_checkpoint", "other": "checkpoint_vs_final"}


def evaluate_seeds(
    env, env_params, agent: Agent, params, seeds: list[int], checkpoints: dict | None = None
) -> tuple[dict[str, np.ndarray], dict[str, dict[str, np.ndarray]]]:
    """Run a cell's evaluations for every seed (params stacked over seeds, vmapped; each seed
    against its own checkpoints). Returns ``{metric: [seeds]}`` against random agents and
    ``{checkpoint label: {metric: [seeds]}}`` for each of ``checkpoints`` (label: params
    stacked over seeds); both empty when the env has no evaluation."""
    vs_random, vs_checkpoints = {}, {}
    keys = jnp.stack([jax.random.fold_in(jax.random.key(s), 1) for s in seeds])
    for prefix, fn in evaluations(env, env_params, agent).items():
        random_play = jax.jit(jax.vmap(lambda p, k, fn=fn: fn(p, None, k)))
        values = jax.device_get(random_play(params, keys))
        vs_random |= {prefix + VS_RANDOM[k]: np.asarray(v) for k, v in values.items()}
        self_play = jax.jit(jax.vmap(fn))  # compiled once for every checkpoint
        for label, opponent in (checkpoints or {}).items():
            values = jax.device_get(self_play(params, opponent, keys))
            vs_checkpoints.setdefault(label, {}).update(
                {prefix + VS_CHECKPOINT[k]: np.asarray(v) for k, v in values.items()}
            )
    return vs_random, vs_checkpoints
