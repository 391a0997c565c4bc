"""PPO learns: tiny budgets, thresholds with a margin a correct implementation always meets."""

import jax
import numpy as np
import pytest

from pmarl_bench import agents, envs
from pmarl_bench.agents.mlp import MLPConfig
from pmarl_bench.trainer import PPOConfig, make_train
from pmarl_bench.trainer.loop import seed_keys

pytestmark = pytest.mark.slow


def final_mean(metrics, name, last):
    """Per-seed mean of a metric over the last ``last`` updates."""
    return np.nanmean(np.asarray(metrics[name])[:, -last:], axis=1)


def test_mlp_reaches_the_memoryless_level_on_n_back():
    env = envs.make("n_back-v0")
    agent = agents.make_agent(MLPConfig(width=64), env.observation_space, env.action_space)
    cfg = PPOConfig(total_env_steps=256 * 64 * 60, num_envs=256, rollout_length=64)
    _, metrics = jax.jit(jax.vmap(make_train(env, agent, cfg)))(seed_keys([0, 1]))
    levels = env.score_levels()
    first = np.asarray(metrics["episode_return"])[:, :3].mean(axis=1)
    last = final_mean(metrics, "episode_return", 10)
    # Starts near chance (32), ends at the memoryless optimum (33.25: always `no_match`); the
    # 10-update mean over 256 episodes each has a std of ~0.08, so 0.3 is a wide margin.
    assert np.all(np.abs(first - levels.chance) < 0.6), first
    assert np.all(last > levels.memoryless - 0.3), last
    # It cannot do better without memory.
    assert np.all(last < levels.memoryless + 0.3), last


def test_mlp_solves_cartpole_through_the_gymnax_adapter():
    """gymnax CartPole-v1 in continuing mode: mean episode return above 450 within 500k steps.

    Settings as suites/cartpole.yaml; with them 116 of 116 seeds reached 500 (separate value
    torso; a shared torso with whole-sequence minibatches of 4 envs is much less reliable)."""
    env = envs.make("gymnax:CartPole-v1")
    net = MLPConfig(width=64, depth=2, activation="tanh", separate_value=True)
    agent = agents.make_agent(net, env.observation_space, env.action_space)
    cfg = PPOConfig(
        total_env_steps=500_000,
        num_envs=4,
        rollout_length=128,
        mode="continuing",
        num_epochs=4,
        num_minibatches=4,
        lr=1e-3,
    )
    train = make_train(env, agent, cfg)
    _, metrics = jax.jit(jax.vmap(train))(seed_keys([0, 1]))
    last = final_mean(metrics, "episode_return", train.num_updates // 20)
    assert np.all(last > 450), last
    # Episodes that reach the limit are truncated (500 steps), not cut short.
    assert np.nanmax(np.asarray(metrics["episode_length"])) == 500
