"""Throughput measurements (host side). ``pmarl-bench bench`` builds on these."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import jax
import jax.numpy as jnp

from pmarl_bench.envs.base import Environment
from pmarl_bench.provenance import host_peak_bytes, reset_host_peak


@dataclass
class EnvThroughput:
    env: str
    num_envs: int
    steps: int
    agent_steps_per_second: float  # median over repeats
    compile_seconds: float
    reset_seconds: float  # one reset of all envs (compiled), fastest batch of repeats


def env_throughput(
    env: Environment,
    num_envs: int,
    steps: int = 512,
    repeats: int = 5,
    seed: int = 0,
    auto_reset: bool | None = None,
) -> EnvThroughput:
    """Random-action stepping of ``num_envs`` envs for ``steps`` steps in one ``lax.scan``.

    As in training: fixed-length envs step without auto-reset when the scan fits in one
    episode (``auto_reset=None``), other envs reset only through the auto-reset inside
    ``step``. The initial reset is timed separately. Every observation is consumed (summed)
    so XLA cannot skip computing it.
    """
    params = env.default_params
    if auto_reset is None:
        auto_reset = env.needs_auto_reset(steps)
    step = env.step if auto_reset else env.step_no_reset
    n_actions = env.action_space.n

    def reset(key):
        return jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(key, num_envs), params)

    def rollout(state, key):
        def body(carry, key):
            state, acc = carry
            key_act, key_step = jax.random.split(key)
            actions = jax.random.randint(key_act, (num_envs, env.num_agents), 0, n_actions)
            keys = jax.random.split(key_step, num_envs)
            state, ts = jax.vmap(step, in_axes=(0, 0, 0, None))(keys, state, actions, params)
            obs_sum = sum(jnp.sum(x.astype(jnp.float32)) for x in jax.tree.leaves(ts.obs))
            return (state, acc + obs_sum + ts.reward.sum()), None

        (state, acc), _ = jax.lax.scan(body, (state, jnp.float32(0)), jax.random.split(key, steps))
        return state, acc

    key = jax.random.key(seed)
    t0 = time.perf_counter()
    reset_c = jax.jit(reset).lower(key).compile()
    state, _ = reset_c(key)
    rollout_c = jax.jit(rollout).lower(state, key).compile()
    compile_seconds = time.perf_counter() - t0

    jax.block_until_ready(rollout_c(state, key))  # warm-up
    # a reset can take well under a millisecond: time enough of them for a steady figure
    jax.block_until_ready(reset_c(key))
    t = time.perf_counter()
    jax.block_until_ready(reset_c(key))
    per_call = max(time.perf_counter() - t, 1e-6)
    calls = max(1, min(100, int(0.02 / per_call)))
    # resets are timed apart from the rollouts, each batch after an untimed call: right after
    # a long scan the first reset pays for cold caches, which is noise, not its cost
    reset_times, step_times = [], []
    for i in range(repeats):
        k = jax.random.fold_in(key, i)
        jax.block_until_ready(reset_c(k))
        t = time.perf_counter()
        for _ in range(calls):
            state, _ = jax.block_until_ready(reset_c(k))
        reset_times.append((time.perf_counter() - t) / calls)
    for i in range(repeats):
        t = time.perf_counter()
        jax.block_until_ready(rollout_c(state, jax.random.fold_in(key, i)))
        step_times.append(time.perf_counter() - t)
    per_second = steps * num_envs * env.num_agents / statistics.median(step_times)
    return EnvThroughput(
        env=repr(env),
        num_envs=num_envs,
        steps=steps,
        agent_steps_per_second=per_second,
        compile_seconds=compile_seconds,
        # the fastest batch: a reset takes milliseconds, and on a shared machine a batch is
        # only ever slowed down by other work, so the minimum is the steadiest figure
        reset_seconds=min(reset_times),
    )


@dataclass
class TrainThroughput:
    name: str
    seeds: int
    agent_steps: int
    agent_steps_per_second: float
    compile_seconds: float
    run_seconds: float
    compiled_memory_bytes: int | None
    peak_host_bytes: int


def train_throughput(name: str, train, seeds: int) -> TrainThroughput:
    """Time a whole training run of ``train`` (a ``trainer.Train``) over ``seeds`` vmapped
    seeds, through the same chunked host loop as ``pmarl-bench run``."""
    from pmarl_bench.trainer.loop import train_seeds

    reset_host_peak()
    result = train_seeds(train, list(range(seeds)), name=name)
    return TrainThroughput(
        name=name,
        seeds=seeds,
        agent_steps=result.agent_steps,
        agent_steps_per_second=result.agent_steps_per_second,
        compile_seconds=result.compile_seconds,
        run_seconds=result.run_seconds,
        compiled_memory_bytes=result.compiled_memory_bytes,
        peak_host_bytes=host_peak_bytes(),
    )
