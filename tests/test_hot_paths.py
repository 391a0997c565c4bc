"""pytest-benchmark timings of the hot paths, run on demand:

    uv run pytest -m bench --benchmark-columns=median,iqr,rounds

Excluded from the default run (speed is measured here, never asserted).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest

from pmarl_bench import agents, envs
from pmarl_bench.agents.mlp import MLPConfig
from pmarl_bench.agents.transformer import TransformerConfig
from pmarl_bench.trainer.config import PPOConfig
from pmarl_bench.trainer.ppo import Train
from pmarl_bench.trainer.rollout import EnvBatch
from pmarl_bench.types import AgentInput

pytestmark = pytest.mark.bench


def timed(benchmark, fn, *args):
    jax.block_until_ready(fn(*args))  # compile and warm up outside the timing
    benchmark(lambda: jax.block_until_ready(fn(*args)))


@pytest.mark.parametrize("env_id", ["n_back-v0", "grid_return-v0", "king_of_the_hill-v0"])
def test_env_step(benchmark, env_id):
    env = envs.make(env_id)
    batch = EnvBatch(env, env.default_params, 256)
    state, _ = batch.reset(jax.random.key(0))
    actions = jnp.zeros((batch.batch,), jnp.int32)
    timed(benchmark, jax.jit(batch.step), jax.random.key(1), state, actions)


@pytest.mark.parametrize("kind", ["mlp", "gru", "transformer"])
def test_agent_unroll(benchmark, kind):
    env = envs.make("grid_return-v0")
    config = agents.agent_class(kind).Config()
    agent = agents.make_agent(config, env.observation_space, env.action_space)
    params = agent.init(jax.random.key(0))
    T, B = 64, 128
    inputs = AgentInput(
        obs=jnp.zeros((T, B, 5, 5), jnp.uint8),
        prev_action=jnp.zeros((T, B), jnp.int32),
        prev_reward=jnp.zeros((T, B)),
        start=jnp.zeros((T, B), bool).at[0].set(True),
    )
    unroll = jax.jit(agent.unroll_fresh)
    timed(benchmark, unroll, params, inputs)


@pytest.mark.parametrize("config", [MLPConfig(), TransformerConfig()], ids=["mlp", "transformer"])
def test_ppo_update(benchmark, config):
    env = envs.make("n_back-v0")
    agent = agents.make_agent(config, env.observation_space, env.action_space)
    train = Train(env, agent, PPOConfig(num_envs=256, rollout_length=64, total_env_steps=16384))
    state = jax.jit(train.init)(jax.random.key(0))
    update = jax.jit(train.update)
    timed(benchmark, update, state)
