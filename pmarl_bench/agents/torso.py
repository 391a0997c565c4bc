"""Shared input encoding: observation + previous action + previous reward -> one vector."""

from __future__ import annotations

import math
from typing import Literal

import jax
import jax.numpy as jnp
from flax import nnx

from pmarl_bench.envs.spaces import Box, Dict
from pmarl_bench.types import AgentInput

Activation = Literal["relu", "tanh", "gelu", "silu"]
ACTIVATIONS = {"relu": jax.nn.relu, "tanh": jnp.tanh, "gelu": jax.nn.gelu, "silu": jax.nn.silu}


class BoxEncoder(nnx.Module):
    """A linear projection of one observation array. Categorical observations (integer dtype
    with ``num_values``, e.g. tile ids) are one-hot encoded per element first, so ids are never
    read as magnitudes."""

    def __init__(self, space: Box, width: int, rngs: nnx.Rngs):
        self.num_values = space.num_values
        flat = math.prod(space.shape)
        self.proj = nnx.Linear(flat * (self.num_values or 1), width, rngs=rngs)

    def __call__(self, x: jax.Array, lead: tuple[int, ...]) -> jax.Array:
        if self.num_values:
            x = jax.nn.one_hot(x, self.num_values, dtype=jnp.float32)
        return self.proj(x.reshape(*lead, -1).astype(jnp.float32))


class InputEncoder(nnx.Module):
    """Sum of embeddings of the observation, the previous action and the previous reward.

    A ``Dict`` observation (e.g. a view and a task id) sums one projection per part. The
    previous action ``NO_ACTION`` (-1, episode start) has an embedding of its own.
    """

    def __init__(self, obs_space: Box | Dict, num_actions: int, width: int, rngs: nnx.Rngs):
        if isinstance(obs_space, Dict):
            self.obs_parts = nnx.Dict(
                {name: BoxEncoder(box, width, rngs) for name, box in obs_space.spaces}
            )
        else:
            self.obs_proj = BoxEncoder(obs_space, width, rngs)
        self.action_embed = nnx.Embed(num_actions + 1, width, rngs=rngs)
        self.reward_proj = nnx.Linear(1, width, use_bias=False, rngs=rngs)

    def __call__(self, inputs: AgentInput) -> jax.Array:
        lead = inputs.prev_action.shape
        if hasattr(self, "obs_parts"):
            obs = sum(enc(inputs.obs[name], lead) for name, enc in self.obs_parts.items())
        else:
            obs = self.obs_proj(inputs.obs, lead)
        return (
            obs
            + self.action_embed(inputs.prev_action + 1)
            + self.reward_proj(inputs.prev_reward[..., None].astype(jnp.float32))
        )
