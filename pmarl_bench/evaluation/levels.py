"""Reference levels measured by acting, recorded beside every cell's results: the return of
the uniformly random policy (legal actions only) on the cell's env, so reports place agents
against a level that does not move when agents are added. An env's agents and controls share
one measurement (``random_levels``)."""

from __future__ import annotations

import json
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from pmarl_bench.agents import policy
from pmarl_bench.evaluation.episodes import UNBOUNDED_STEPS
from pmarl_bench.trainer.rollout import EnvBatch

#: envs stepped at once (envs without a fixed episode length play ``UNBOUNDED_STEPS``)
RANDOM_ENVS = 64


def random_policy_returns(env, params: Any, seed: int = 0) -> dict[str | None, dict]:
    """Per task (``None``: a single-task env): the mean per-agent return of the episodes a
    uniformly random policy completes, its standard error and their number."""
    batch = EnvBatch(env, params, max(RANDOM_ENVS, len(env.groups(RANDOM_ENVS, params))))
    limits = [g.env.max_episode_steps for g in batch.groups]
    steps = max(limits) if None not in limits else UNBOUNDED_STEPS

    def run(key):
        key_reset, key_scan = jax.random.split(key)
        env_state, ts = batch.reset(key_reset)
        zeros = jnp.zeros((batch.batch,), jnp.float32)

        def body(carry, key):
            env_state, ts, running, total, squares, count = carry
            key_act, key_env = jax.random.split(key)
            mask = batch.action_mask(ts)
            action = policy.choose(key_act, policy.uniform_logits(mask))
            env_state, ts = batch.step(key_env, env_state, action)
            running = running + batch.per_agent(ts, "reward")
            done = batch.per_agent(ts, "terminated") | batch.per_agent(ts, "truncated")
            ended = jnp.where(done, running, 0.0)
            carry = (
                env_state,
                ts,
                jnp.where(done, 0.0, running),
                total + ended,
                squares + ended**2,
                count + done,
            )
            return carry, None

        init = (env_state, ts, zeros, zeros, zeros, zeros)
        out = jax.lax.scan(body, init, jax.random.split(key_scan, steps))[0]
        return out[3:]

    total, squares, count = (np.asarray(x, np.float64) for x in jax.jit(run)(jax.random.key(seed)))
    levels: dict[str | None, dict] = {}
    for g, rows in zip(batch.groups, batch.rows, strict=True):
        n = float(count[rows].sum())
        mean = float(total[rows].sum() / n) if n else math.nan
        var = float(squares[rows].sum() / n - mean**2) if n else math.nan
        sem = math.sqrt(max(var, 0.0) / (n - 1)) if n > 1 else math.nan
        levels[g.name] = {"mean": mean, "sem": sem, "episodes": int(n)}
    return levels


_MEASURED: dict[str, dict] = {}


def random_levels(env_id: str, options: dict, param_overrides: dict, env, env_params) -> dict:
    """The uniformly random policy's return on an env (per task for a multi-task env: under
    ``tasks``), measured once per env config (id, static options, traced overrides) in this
    process: its agents and controls share it."""
    # the oracle observation changes no dynamics: an oracle control shares its env's level
    options = {k: v for k, v in options.items() if k != "observe"}
    key = json.dumps([env_id, options, param_overrides], sort_keys=True, default=str)
    if key not in _MEASURED:
        found = random_policy_returns(env, env_params)
        _MEASURED[key] = found[None] if list(found) == [None] else {"tasks": found}
    return _MEASURED[key]
