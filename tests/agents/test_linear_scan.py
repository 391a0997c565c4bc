"""Reference tests of the parallel-scan cores: the associative scan equals a plain
sequential loop over the same inputs, across episode starts, for every layer of a stack."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from pmarl_bench.agents import agent_class, make_agent
from pmarl_bench.agents.linear_scan import complex_mul, linear_recurrence, real_mul
from pmarl_bench.agents.recurrent import clear_where
from pmarl_bench.envs.spaces import Box, Discrete

T, B, N = 37, 3, 5  # an odd length: the scan's levels do not divide it evenly


def loop(a, b, h0):
    h, out = h0, []
    for t in range(a.shape[0]):
        h = a[t] * h + b[t]
        out.append(h)
    return np.stack(out)


@pytest.mark.parametrize("dtype", [np.float32, np.complex64])
def test_linear_recurrence_equals_a_loop_across_starts(dtype):
    rng = np.random.default_rng(0)

    def draw(*shape):
        x = rng.uniform(-1, 1, shape)
        return (x + 1j * rng.uniform(-1, 1, shape) if dtype == np.complex64 else x).astype(dtype)

    a, b, h0 = draw(T, B, N), draw(T, B, N), draw(B, N)
    a[[0, 9, 10, 30], 1] = 0  # episode starts, also at t = 0 (the initial state is dropped)
    is_complex = dtype == np.complex64
    mul, parts = (complex_mul, (np.real, np.imag)) if is_complex else (real_mul, (np.real,))

    def scan(a, b, h0):
        split = [tuple(jnp.asarray(p(x)) for p in parts) for x in (a, b, h0)]
        h = jax.jit(linear_recurrence, static_argnums=0)(mul, *split)
        return np.asarray(h[0]) + (1j * np.asarray(h[1]) if len(h) > 1 else 0)

    got = scan(a, b, h0)
    np.testing.assert_allclose(got, loop(a, b, h0), rtol=1e-5, atol=1e-5)
    # after a start nothing earlier matters: the rest equals a fresh run from any state
    fresh = scan(a[9:], b[9:], 100 * h0)
    np.testing.assert_allclose(got[9:, 1], fresh[:, 1], rtol=1e-5, atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["lru", "mingru"])
def test_a_stack_of_scan_blocks_equals_stepping(kind):
    """Two blocks, a non-zero carry going in, starts mid-sequence: ``sequence`` equals a loop
    of one-step calls that clears the carry where an episode starts."""
    agent = make_agent(
        agent_class(kind).Config(width=8, num_layers=2), Box(0, 1, (3,), "float32"), Discrete(2)
    )
    core = agent.build_core(nnx.Rngs(1))
    rng = np.random.default_rng(1)
    x = jnp.asarray(rng.normal(size=(T, B, 8)).astype(np.float32))
    start = np.zeros((T, B), bool)
    start[[5, 6, 20], 0] = True
    start[0, 2] = True
    carry = tuple(
        jnp.asarray(rng.normal(size=c.shape).astype(np.float32)) for c in agent.initial_carry(B)
    )
    carry_seq, y_seq = core.sequence(carry, x, jnp.asarray(start))
    c, ys = carry, []
    for t in range(T):
        c, y = core(clear_where(jnp.asarray(start[t]), c), x[t])
        ys.append(y)
    np.testing.assert_allclose(y_seq, np.stack(ys), rtol=1e-5, atol=1e-5)
    for got, want in zip(carry_seq, c, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
