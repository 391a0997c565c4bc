"""Every agent kind reruns bit for bit on the same machine: a cell's program run twice gives
identical parameters and curves (issue 32: a frame-stack rerun that drifted was traced to
the host, not the program: on one machine two processes matched bit for bit, BENCHMARKS.md).
Compiling is deterministic; what could vary between runs of one program is the runtime
(threaded reductions), which this checks for every kind."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pmarl_bench import agents, envs
from pmarl_bench.trainer import PPOConfig, Train

pytestmark = pytest.mark.slow

NETWORKS = {
    "mlp": agents.MLPConfig(width=16, inputs=("obs",)),
    "frame_stack": agents.FrameStackConfig(frames=3, frame_width=8, width=16, inputs=("obs",)),
    "gru": agents.GRUConfig(width=16),
    "lstm": agents.LSTMConfig(width=16),
    "mingru": agents.MinGRUConfig(width=16),
    "lru": agents.LRUConfig(width=16),
    "transformer": agents.TransformerConfig(width=16, ffn_width=32, context=8),
}


def test_every_agent_kind_is_covered():
    assert set(NETWORKS) == set(agents.agent_kinds())


@pytest.mark.parametrize("kind", sorted(NETWORKS))
def test_a_rerun_is_bit_identical(kind):
    env = envs.make("n_back-v0", num_symbols=4, max_n=2, episode_length=8)
    agent = agents.make_agent(NETWORKS[kind], env.observation_space, env.action_space)
    cfg = PPOConfig(total_env_steps=32 * 8 * 4, num_envs=32, rollout_length=8, lr=3e-3)
    keys = jnp.stack([jax.random.key(s) for s in (0, 1)])
    train = jax.jit(jax.vmap(Train(env, agent, cfg)))
    runs = []
    for _ in range(2):
        state, metrics = train(keys)
        state = jax.tree.map(
            lambda x: jax.random.key_data(x) if jnp.issubdtype(x.dtype, jax.dtypes.prng_key) else x,
            state,
        )
        runs.append(jax.device_get((state, metrics)))
    (p1, m1), (p2, m2) = runs
    for a, b in zip(jax.tree.leaves((p1, m1)), jax.tree.leaves((p2, m2)), strict=True):
        np.testing.assert_array_equal(a, b)
    assert np.ptp(np.asarray(m1["episode_return"])) > 0  # it trained on something
