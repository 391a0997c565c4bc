"""The learner must see exactly what the actor saw: before any update, re-running the agent
over a collected batch (from the stored start-of-rollout memory in continuing mode, from
empty memory in episodic mode) gives the acting log-probabilities and values. A reset one
step off, a wrong memory or a wrong clock breaks this."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pmarl_bench import agents, envs
from pmarl_bench.trainer import PPOConfig, Train
from pmarl_bench.trainer.losses import masked_logits

# compiles and trains whole programs: the slow tier (CI runs it)
pytestmark = pytest.mark.slow

SMALL = {
    "frame_stack": {"frames": 3, "frame_width": 8, "width": 16},
    "mlp": {"width": 16},
    "gru": {"width": 16},
    "lstm": {"width": 16},
    "mingru": {"width": 16, "ffn_width": 16},
    "lru": {"width": 16, "state_width": 8, "ffn_width": 16},
    "transformer": {"width": 16, "ffn_width": 32, "context": 5},
}


def test_every_agent_is_covered():
    assert set(SMALL) == set(agents.agent_kinds())


@functools.cache
def batches(kind: str, mode: str):
    # 7-step episodes and 8-step rollouts: in continuing mode episodes cross rollout ends, and
    # the transformer's 5-step context makes its window slide inside episodes
    env = envs.make("n_back-v0", episode_length=7, max_n=2)
    agent = agents.make_agent(
        agents.agent_class(kind).Config(**SMALL[kind]), env.observation_space, env.action_space
    )
    cfg = PPOConfig(total_env_steps=64, num_envs=8, rollout_length=8, mode=mode, num_minibatches=2)
    train = Train(env, agent, cfg)
    state = train.init(jax.random.key(0))
    collect = jax.jit(train.collect_batch)
    rollout, _, first = collect(state.params, state.rollout, jax.random.key(1))
    _, _, second = collect(state.params, rollout, jax.random.key(2))
    return agent, state.params, first, second


@pytest.mark.parametrize("mode", ["episodic", "continuing"])
@pytest.mark.parametrize("kind", sorted(SMALL))
def test_learner_reproduces_the_actor(kind, mode):
    agent, params, first, second = batches(kind, mode)
    for data in (first, second):
        if mode == "episodic":
            assert data.carry is None
            out = jax.jit(agent.unroll_fresh)(params, data.inputs)
        else:
            out = jax.jit(agent.unroll)(params, data.carry, data.inputs)[1]
        log_probs = jax.nn.log_softmax(masked_logits(out.logits, data.action_mask))
        log_prob = jnp.take_along_axis(log_probs, data.action[..., None], axis=-1)[..., 0]
        np.testing.assert_allclose(log_prob, data.log_prob, atol=2e-5)
        np.testing.assert_allclose(out.value, data.value, atol=2e-5)
    if mode == "continuing":
        # the second rollout starts mid-episode for every env (7 does not divide 8)
        assert not bool(second.inputs.start[0].any())
