"""PPO learns: tiny budgets, thresholds with a margin a correct implementation always meets."""

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pmarl_bench import agents, envs
from pmarl_bench.agents.mlp import MLPConfig
from pmarl_bench.suites import load_suite
from pmarl_bench.trainer import PPOConfig, Train
from tests.trainer.test_rerun import assert_same_run

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def seed_keys(seeds: list[int]) -> jax.Array:
    return jnp.stack([jax.random.key(s) for s in seeds])


def final_mean(metrics, name, last):
    """Per-seed mean of a metric over the last ``last`` updates."""
    return np.nanmean(np.asarray(metrics[name])[:, -last:], axis=1)


def test_mlp_reaches_the_memoryless_level_on_n_back():
    env = envs.make("n_back-v0")
    network = MLPConfig(width=64, inputs=("obs",))  # the memoryless control: no feedback
    agent = agents.make_agent(network, env.observation_space, env.action_space)
    cfg = PPOConfig(total_env_steps=256 * 64 * 60, num_envs=256, rollout_length=64)
    _, metrics = jax.jit(jax.vmap(Train(env, agent, cfg)))(seed_keys([0, 1]))
    levels = env.score_levels()
    first = np.asarray(metrics["episode_return"])[:, :3].mean(axis=1)
    last = final_mean(metrics, "episode_return", 10)
    # Starts near chance (32), ends at the memoryless optimum (33.25: always `no_match`); the
    # 10-update mean over 256 episodes each has a std of ~0.08, so 0.3 is a wide margin.
    assert np.all(np.abs(first - levels.chance) < 0.6), first
    assert np.all(last > levels.memoryless - 0.3), last
    # It cannot do better without memory.
    assert np.all(last < levels.memoryless + 0.3), last


MEMORY_AGENTS = {
    # the frame stack remembers frames - 1 steps back: 1-back needs 2 frames
    "frame_stack": agents.FrameStackConfig(frames=2, frame_width=16, width=32),
    "gru": agents.GRUConfig(width=32),
    "lstm": agents.LSTMConfig(width=32),
    "mingru": agents.MinGRUConfig(width=32),
    "lru": agents.LRUConfig(width=32),
    "transformer": agents.TransformerConfig(width=32, ffn_width=64, context=16),
}
# the histogram value head, on the GRU (returns with gamma 0.5 lie in [0, 2])
HL_GAUSS = agents.GRUConfig(
    width=32, value_head=agents.HLGaussValue(bins=41, min=-1.0, max=3.0, sigma=0.75)
)


def test_every_memory_agent_is_tested_for_learning():
    assert set(MEMORY_AGENTS) == set(agents.agent_kinds()) - {"mlp"}


@pytest.mark.parametrize("kind", [*sorted(MEMORY_AGENTS), "gru[hl_gauss]"])
def test_memory_agents_learn_one_back_beyond_the_memoryless_level(kind):
    """1-back (K=4, 16 steps): memoryless level 8.5, optimum 16. Over 10 seeds each agent
    ended at 14.6 or more after 150k steps (the frame stack, 6 seeds: 15.99 or more; lstm,
    mingru and lru: checked on these 2 seeds only so far), so half-way (12) has a wide
    margin."""
    env = envs.make("n_back-v0", num_symbols=4, max_n=1, episode_length=16)
    network = HL_GAUSS if kind == "gru[hl_gauss]" else MEMORY_AGENTS[kind]
    agent = agents.make_agent(network, env.observation_space, env.action_space)
    cfg = PPOConfig(
        total_env_steps=150_000,
        num_envs=128,
        rollout_length=16,
        gamma=0.5,
        lr=1e-3,
        ent_coef=0.003,
    )
    train = jax.jit(jax.vmap(Train(env, agent, cfg)))
    state, metrics = train(seed_keys([0, 1]))
    last = final_mean(metrics, "episode_return", 10)
    assert env.score_levels().memoryless == 8.5
    assert np.all(last > 12.0), last
    if kind == "gru[hl_gauss]":
        # the histogram value learns: its cross-entropy falls from ~3.4 over the first updates
        # (3.7 = log 41 is a uniform histogram) to ~2.0-2.2; the floor is the spread of the
        # returns plus the target Gaussian's own width
        loss = np.asarray(metrics["value_loss"])
        assert np.all(loss[:, -10:].mean(1) < 0.75 * loss[:, :5].mean(1)), loss
    # the same program run again ends bit for bit where it did (tests/trainer/test_rerun.py)
    assert_same_run((state, metrics), train(seed_keys([0, 1])))


def test_mlp_solves_cartpole_through_the_gymnax_adapter():
    """suites/cartpole.yaml (gymnax CartPole-v1, continuing mode, MLP with a separate value
    torso) reaches a mean episode return above 450 within 500k steps; with these settings 116
    of 116 seeds reached 500."""
    cell = load_suite(ROOT / "suites" / "cartpole.yaml", seeds=2).cells[0]
    assert cell.ppo.total_env_steps == 500_000
    _, _, _, train = cell.build()
    _, metrics = jax.jit(jax.vmap(train))(seed_keys(list(cell.seeds)))
    last = final_mean(metrics, "episode_return", train.num_updates // 20)
    assert np.all(last > 450), last
    # Episodes that reach the limit are truncated (500 steps), not cut short.
    assert np.nanmax(np.asarray(metrics["episode_length"])) == 500
