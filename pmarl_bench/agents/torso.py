"""Shared input encoding: observation + previous action + previous reward -> one vector."""

from __future__ import annotations

import math
from typing import Literal

import jax
import jax.numpy as jnp
from flax import nnx

from pmarl_bench.envs.spaces import Box
from pmarl_bench.types import AgentInput

Activation = Literal["relu", "tanh", "gelu", "silu"]
ACTIVATIONS = {"relu": jax.nn.relu, "tanh": jnp.tanh, "gelu": jax.nn.gelu, "silu": jax.nn.silu}


class InputEncoder(nnx.Module):
    """Sum of embeddings of the observation, the previous action and the previous reward.

    Categorical observations (integer dtype with ``num_values``, e.g. tile ids) are one-hot
    encoded per element before the projection, so ids are never read as magnitudes. The
    previous action ``NO_ACTION`` (-1, episode start) has an embedding of its own.
    """

    def __init__(self, obs_space: Box, num_actions: int, width: int, rngs: nnx.Rngs):
        self.num_values = obs_space.num_values
        flat = math.prod(obs_space.shape)
        in_dim = flat * self.num_values if self.num_values else flat
        self.obs_proj = nnx.Linear(in_dim, width, rngs=rngs)
        self.action_embed = nnx.Embed(num_actions + 1, width, rngs=rngs)
        self.reward_proj = nnx.Linear(1, width, use_bias=False, rngs=rngs)

    def __call__(self, inputs: AgentInput) -> jax.Array:
        obs = inputs.obs
        lead = inputs.prev_action.shape
        if self.num_values:
            obs = jax.nn.one_hot(obs, self.num_values, dtype=jnp.float32)
        obs = obs.reshape(*lead, -1).astype(jnp.float32)
        return (
            self.obs_proj(obs)
            + self.action_embed(inputs.prev_action + 1)
            + self.reward_proj(inputs.prev_reward[..., None].astype(jnp.float32))
        )
