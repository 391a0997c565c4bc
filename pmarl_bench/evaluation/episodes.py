"""Playing evaluation episodes: the first episode of every env of a batch, acted by a trained
policy (or, row by row, by it and a partner policy), and its mean per-agent return. The
final-policy evaluation (``final``, each seed on its own episodes) and cross-play
(``crossplay``, every pair on one shared set) both play through it."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from pmarl_bench.agents import policy
from pmarl_bench.agents.base import Agent
from pmarl_bench.trainer.rollout import EnvBatch

#: episodes per seed (an even number: half with the policy on each team); the final-policy
#: evaluation starts there and plays more where its noise is not small (``final``)
EVAL_EPISODES = 64
#: the key of the final-policy evaluation's episodes: each seed's are drawn from it and the
#: seed's number, the same for every agent (cross-play uses it as is, for every pair)
FINAL_EVAL_SEED = 2026
#: the longest evaluation episode of an env without a time limit (longer ones are left out)
UNBOUNDED_STEPS = 1000


def first_episode_return(
    agent: Agent, envs: EnvBatch, params, greedy, key, steps: int, partner=None, focal=None,
    partner_agent: Agent | None = None, per_episode: bool = False,
):  # fmt: skip
    """The mean per-agent return of the first episode of every env of ``envs`` (NaN when
    none ends within ``steps``; ``per_episode``: each env's, ``[B]``), acting greedily or by
    sampling (``greedy``: a traced bool). With ``partner`` (parameters of ``partner_agent``,
    by default the same agent), the rows where ``focal [B]`` is False follow it instead: both
    policies act on every row with the same key, each keeping its own memory, so a partner
    equal to ``params`` plays exactly as ``params`` alone."""
    key_reset, key_scan = jax.random.split(key)
    rs = envs.fresh(key_reset, agent)
    other = agent if partner_agent is None else partner_agent
    partner_carry = rs.carry if partner_agent is None else envs.fresh(key_reset, other).carry
    zeros = jnp.zeros((envs.batch,), jnp.float32)

    def act(carry, key):
        rs, partner_memory, total, running = carry
        key_act, key_env = jax.random.split(key)
        inputs = envs.agent_input(rs.timestep, rs.start)
        mask = envs.action_mask(rs.timestep)
        memory, sampled, logits, _ = policy.act(agent, params, rs.carry, inputs, mask, key_act)
        if partner is not None:
            partner_memory, theirs, other_logits, _ = policy.act(
                other, partner, partner_memory, inputs, mask, key_act
            )
            sampled = jnp.where(focal, sampled, theirs)
            logits = jnp.where(focal[:, None], logits, other_logits)
        action = jnp.where(greedy, jnp.argmax(logits, -1).astype(jnp.int32), sampled)
        env_state, ts = envs.step(key_env, rs.env_state, action)
        done = envs.per_agent(ts, "terminated") | envs.per_agent(ts, "truncated")
        running = jnp.where(jnp.isnan(total), running + envs.per_agent(ts, "reward"), running)
        total = jnp.where(jnp.isnan(total) & done, running, total)
        new = rs._replace(env_state=env_state, timestep=ts, carry=memory, start=done)
        return (new, partner_memory, total, running), None

    init = (rs, partner_carry, jnp.full((envs.batch,), jnp.nan), zeros)
    total = jax.lax.scan(act, init, jax.random.split(key_scan, steps))[0][2]
    return total if per_episode else jnp.nanmean(total)
