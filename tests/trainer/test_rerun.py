"""Every agent kind reruns bit for bit on the same machine: a cell's program run twice gives
identical parameters and curves (issue 32: a frame-stack rerun that drifted was traced to
the host, not the program: on one machine two processes matched bit for bit, BENCHMARKS.md).
Compiling is deterministic; what could vary between runs of one program is the runtime
(threaded reductions), which is checked for every kind: the memory kinds by running their
learning test's program twice (tests/trainer/test_learning.py), the MLP here."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pmarl_bench import agents, envs
from pmarl_bench.trainer import PPOConfig, Train

pytestmark = pytest.mark.slow

# The memory kinds rerun their learning test's program (tests/trainer/test_learning.py), which
# has already compiled; the MLP's learning run is long, so it reruns a tiny program here.
RERUN_IN_LEARNING_TEST = {"frame_stack", "gru", "lstm", "mingru", "lru", "transformer"}


def test_every_agent_kind_is_covered():
    from tests.trainer.test_learning import MEMORY_AGENTS

    assert set(MEMORY_AGENTS) == RERUN_IN_LEARNING_TEST
    assert RERUN_IN_LEARNING_TEST | {"mlp"} == set(agents.agent_kinds())


def assert_same_run(first, second) -> None:
    """Two runs' (state, metrics) are equal bit for bit (PRNG keys as their raw data)."""
    runs = []
    for state, metrics in (first, second):
        state = jax.tree.map(
            lambda x: jax.random.key_data(x) if jnp.issubdtype(x.dtype, jax.dtypes.prng_key) else x,
            state,
        )
        runs.append(jax.device_get((state, metrics)))
    (p1, m1), (p2, m2) = runs
    for a, b in zip(jax.tree.leaves((p1, m1)), jax.tree.leaves((p2, m2)), strict=True):
        np.testing.assert_array_equal(a, b)
    assert np.ptp(np.asarray(m1["episode_return"])) > 0  # it trained on something


def test_an_mlp_rerun_is_bit_identical():
    env = envs.make("n_back-v0", num_symbols=4, max_n=2, episode_length=8)
    network = agents.MLPConfig(width=16, inputs=("obs",))
    agent = agents.make_agent(network, env.observation_space, env.action_space)
    cfg = PPOConfig(total_env_steps=32 * 8 * 4, num_envs=32, rollout_length=8, lr=3e-3)
    keys = jnp.stack([jax.random.key(s) for s in (0, 1)])
    train = jax.jit(jax.vmap(Train(env, agent, cfg)))
    assert_same_run(train(keys), train(keys))
