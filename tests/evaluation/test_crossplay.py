"""Cross-play: row i's seed plays the focal side (Scouts: the scouts), column j's seed its
partners (the harvesters), on the final-policy evaluation's episodes."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pmarl_bench import agents, envs
from pmarl_bench.agents.mlp import MLPConfig
from pmarl_bench.envs.base import Environment
from pmarl_bench.envs.spaces import Box, Discrete
from pmarl_bench.evaluation import crossplay
from tests.evaluation.test_evaluate import fixed_policy

pytestmark = pytest.mark.slow


class Pay(Environment):
    """Two agents, 4-step episodes: action 0 pays agent 0 one and agent 1 two; action 1
    pays nothing. Agent 0 is the focal side, agent 1 its partner."""

    num_agents, partners, max_episode_steps, fixed_length = 2, (0, 1), 4, True

    def __init__(self):
        super().__init__()
        self.observation_space = Box(0.0, 1.0, (1,), "float32")
        self.action_space = Discrete(2)

    @property
    def default_params(self):
        return None

    def reset_env(self, key, params):
        return jnp.int32(0), jnp.zeros((2, 1), jnp.float32)

    def step_env(self, key, t, actions, params):
        reward = jnp.where(actions == 0, jnp.array([1.0, 2.0]), 0.0)
        return t + 1, jnp.zeros((2, 1), jnp.float32), reward, jnp.array(False), t + 1 >= 4


def test_rows_are_the_focal_side_and_columns_its_partners():
    """Seed 0 always pays (action 0), seed 1 never does: the focal agent earns 4 a
    episode from seed 0, the partner 8; the per-agent mean is their average."""
    env = Pay()
    assert crossplay.has_partners(env)
    agent = agents.make_agent(MLPConfig(width=8), env.observation_space, env.action_space)
    keys = jax.random.split(jax.random.key(0), 2)
    params = jax.tree.map(
        lambda a, b: np.stack([a, b]), fixed_policy(agent, keys[0], 0),
        fixed_policy(agent, keys[1], 1),
    )  # fmt: skip
    (matrix,) = crossplay.cross_play_returns(env, None, agent, params, episodes=8).values()
    np.testing.assert_allclose(matrix, [[(4 + 8) / 2, 4 / 2], [8 / 2, 0.0]])


def test_another_agent_can_play_the_partners():
    """MLP scouts' seeds against GRU partners' seeds: rows the MLP's, columns the GRU's."""
    from pmarl_bench.agents.gru import GRUConfig

    env = Pay()
    mlp = agents.make_agent(MLPConfig(width=8), env.observation_space, env.action_space)
    gru = agents.make_agent(GRUConfig(width=8), env.observation_space, env.action_space)
    keys = jax.random.split(jax.random.key(1), 3)
    stack = lambda *trees: jax.tree.map(lambda *xs: np.stack(xs), *trees)
    focal = stack(fixed_policy(mlp, keys[0], 0), fixed_policy(mlp, keys[1], 1))
    partners = stack(*(fixed_policy(gru, k, a) for k, a in zip(keys, (1, 1, 0), strict=True)))
    (matrix,) = crossplay.cross_play_returns(
        env, None, mlp, focal, episodes=8, partner_agent=gru, partner_params=partners
    ).values()
    np.testing.assert_allclose(matrix, [[2.0, 2.0, 6.0], [0.0, 0.0, 4.0]])


def test_single_agent_and_competitive_envs_have_no_cross_play():
    assert not crossplay.has_partners(envs.make("n_back-v0"))
    assert not crossplay.has_partners(envs.make("king_of_the_hill-v1"))
    assert envs.make("traveling_salesman-v1").partners == (0, 1)
    assert envs.make("scouts-v1", num_scouts=2).partners == (0, 0, 1)
