"""Transformer specifics beyond the shared invariants: the context window, bf16 compute, the
ring-buffer cache across many episodes, and attention backend selection."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pmarl_bench import envs
from pmarl_bench.agents import TransformerConfig, make_agent
from pmarl_bench.agents.transformer import attention_implementation, episode_clock
from pmarl_bench.errors import ConfigError
from pmarl_bench.types import NO_ACTION, AgentInput

ENV = envs.make("n_back-v0")


def agent_and_params(**overrides):
    agent = make_agent(
        TransformerConfig(width=32, **overrides), ENV.observation_space, ENV.action_space
    )
    return agent, jax.jit(agent.init)(jax.random.key(0))


def random_inputs(length: int, batch: int, starts: dict[int, tuple[int, ...]], seed=0):
    rng = np.random.default_rng(seed)
    start = np.zeros((length, batch), bool)
    for b, ts in starts.items():
        start[list(ts), b] = True
    obs = rng.integers(0, 2, (length, batch, *ENV.observation_space.shape))
    return AgentInput(
        obs=jnp.asarray(obs, jnp.float32),
        prev_action=jnp.asarray(np.where(start, NO_ACTION, rng.integers(0, 2, start.shape))),
        prev_reward=jnp.asarray(np.where(start, 0.0, rng.normal(size=start.shape)), jnp.float32),
        start=jnp.asarray(start),
    )


def test_episode_clock_is_per_row():
    start = jnp.array([[True, False, False, True, False], [False, False, True, False, False]])
    clock, episode = episode_clock(start, jnp.array([0, 7], jnp.int32))
    np.testing.assert_array_equal(clock, [[0, 1, 2, 0, 1], [7, 8, 0, 1, 2]])
    np.testing.assert_array_equal(episode, [[1, 1, 1, 2, 2], [0, 0, 1, 1, 1]])


@pytest.mark.slow
@pytest.mark.parametrize("context", [3, 64])
def test_attention_sees_only_its_context(context):
    """Perturbing step t of a long episode reaches steps t .. t + context - 1 only."""
    agent, params = agent_and_params(context=context)
    inputs = random_inputs(10, 1, {0: (0,)})
    unroll = jax.jit(agent.unroll)
    _, base = unroll(params, agent.initial_carry(1), inputs)
    moved_obs = inputs.obs.at[2, 0].set(1.0 - inputs.obs[2, 0])
    _, moved = unroll(params, agent.initial_carry(1), inputs._replace(obs=moved_obs))
    changed = ~np.isclose(base.value[:, 0], moved.value[:, 0], rtol=1e-6, atol=1e-7)
    expected = np.zeros(10, bool)
    expected[2 : 2 + context] = True
    np.testing.assert_array_equal(changed, expected)


@pytest.mark.slow
def test_cache_over_many_episodes_and_wraps_matches_unroll():
    """Acting step by step through 40 steps (several episodes per row, the ring wrapping many
    times, rows out of phase) gives what one unroll gives."""
    agent, params = agent_and_params(context=4)
    inputs = random_inputs(40, 3, {0: (0, 9, 10, 30), 1: (0, 1, 2), 2: (0, 17)}, seed=3)
    carry = agent.initial_carry(3)
    _, out = jax.jit(agent.unroll)(params, carry, inputs)
    step = jax.jit(agent.step)
    for t in range(40):
        carry, o = step(params, carry, jax.tree.map(lambda x, t=t: x[t], inputs))
        np.testing.assert_allclose(o.logits, out.logits[t], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(o.value, out.value[t], rtol=1e-5, atol=1e-5)
    assert int(carry.clock[0]) == 10 and int(carry.clock[1]) == 38


@pytest.mark.slow
def test_bfloat16_compute_keeps_float32_params_and_outputs():
    inputs = random_inputs(12, 4, {0: (0, 5), 1: (0,), 2: (0, 3, 4), 3: (0,)})
    full, params = agent_and_params()
    half, half_params = agent_and_params(dtype="bfloat16")
    assert all(x.dtype == jnp.float32 for x in jax.tree.leaves(half_params))
    assert all(k.dtype == jnp.bfloat16 for k in half.initial_carry(4).k)
    _, ref = jax.jit(full.unroll)(params, full.initial_carry(4), inputs)
    carry = half.initial_carry(4)
    _, out = jax.jit(half.unroll)(params, carry, inputs)
    assert out.logits.dtype == jnp.float32 and out.value.dtype == jnp.float32
    np.testing.assert_allclose(out.value, ref.value, atol=0.05)
    step = jax.jit(half.step)
    for t in range(12):
        carry, o = step(params, carry, jax.tree.map(lambda x, t=t: x[t], inputs))
        np.testing.assert_allclose(o.value, out.value[t], atol=0.02)


def test_attention_backend_selection(monkeypatch):
    assert attention_implementation("auto", jnp.bfloat16) == "xla"  # this CPU
    assert attention_implementation("xla", jnp.bfloat16) == "xla"  # explicit wins
    with pytest.raises(ConfigError, match="cudnn needs an NVIDIA GPU"):
        attention_implementation("cudnn", jnp.bfloat16)  # not on a CPU: one line, not a crash
    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
    assert attention_implementation("auto", jnp.bfloat16) == "cudnn"
    assert attention_implementation("cudnn", jnp.bfloat16) == "cudnn"
    assert attention_implementation("auto", jnp.float32) == "xla"  # cuDNN needs 16-bit
    with pytest.raises(ConfigError, match="cudnn needs dtype: bfloat16"):
        attention_implementation("cudnn", jnp.float32)
