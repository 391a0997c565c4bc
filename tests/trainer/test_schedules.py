"""Every learning-rate schedule the schema allows traces into the update and records the
rate it used (a constant schedule returns a Python float, the others arrays)."""

import jax
import numpy as np
import pytest

from pmarl_bench import agents, envs
from pmarl_bench.trainer import PPOConfig, Train


@pytest.mark.parametrize("schedule", ["constant", "linear", "cosine"])
def test_every_schedule_gives_a_float32_learning_rate(schedule):
    env = envs.make("n_back-v0", episode_length=8, max_n=2)
    agent = agents.make_agent(agents.MLPConfig(width=8), env.observation_space, env.action_space)
    cfg = PPOConfig(
        total_env_steps=64, num_envs=4, rollout_length=8, num_minibatches=2, num_epochs=1,
        lr=1e-3, lr_schedule=schedule,
    )  # fmt: skip
    train = Train(env, agent, cfg)
    state = jax.eval_shape(train.init, jax.random.key(0))
    _, metrics = jax.eval_shape(train.update, state)  # traces the whole update, no compile
    assert metrics["learning_rate"].dtype == np.float32 and metrics["learning_rate"].shape == ()
    assert float(train.schedule(0)) == pytest.approx(1e-3)
