"""Model FLOPs from XLA's cost analysis, with every scan multiplied out (XLA counts a loop
body once), and per agent-step of a PPO update: acting and learning apart."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest

from pmarl_bench import agents, envs
from pmarl_bench.trainer.config import PPOConfig
from pmarl_bench.trainer.cost import program_flops, update_flops
from pmarl_bench.trainer.ppo import Train

X, W = jnp.ones((8, 64)), jnp.ones((64, 64))


def step(x, w):
    return jnp.tanh(x @ w)


def test_a_scan_counts_its_body_once_per_step():
    one = program_flops(step, X, W)
    assert one >= 2 * 8 * 64 * 64  # the matmul at least

    def ten(x, w):
        return jax.lax.scan(lambda c, _: (step(c, w), None), x, None, length=10)[0]

    def nested(x, w):
        def inner(c, _):
            return ten(c, w), None

        return jax.lax.scan(inner, x, None, length=3)[0]

    assert program_flops(ten, X, W) == pytest.approx(10 * one, rel=0.01)
    assert program_flops(nested, X, W) == pytest.approx(30 * one, rel=0.01)
    # abstract inputs do as well: nothing runs
    shapes = [jax.ShapeDtypeStruct(a.shape, a.dtype) for a in (X, W)]
    assert program_flops(ten, *shapes) == pytest.approx(10 * one, rel=0.01)


def train_for(**ppo):
    env = envs.make("n_back-v0")
    agent = agents.make_agent(
        agents.agent_class("mlp").Config(kind="mlp"), env.observation_space, env.action_space
    )
    cfg = PPOConfig(num_envs=8, rollout_length=16, total_env_steps=128, **ppo)
    return Train(env, agent, cfg)


@pytest.mark.slow
def test_update_flops_count_every_epoch_and_minibatch_of_learning():
    one = update_flops(train_for(num_epochs=1, num_minibatches=2))
    four = update_flops(train_for(num_epochs=4, num_minibatches=2))
    assert four["acting"] == pytest.approx(one["acting"], rel=1e-6)  # acting: once per update
    assert four["learning"] == pytest.approx(4 * one["learning"], rel=0.02)
    # learning a step (forward, backward, optimizer) costs more than acting it (a forward)
    assert one["learning"] > 2 * one["acting"] > 0
