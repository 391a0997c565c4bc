"""Shared input encoding: the observation, plus the previous action and previous reward where
the agent reads them -> one vector."""

from __future__ import annotations

import functools
import math
from typing import Literal

import jax
import jax.numpy as jnp
from flax import nnx

from pmarl_bench.envs.spaces import Box, Dict
from pmarl_bench.types import AgentInput

#: every input an agent can read, in the order configs and manifests list them
INPUTS: tuple[str, ...] = ("obs", "prev_action", "prev_reward")

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
    """Sum of embeddings of the inputs the agent reads (``inputs``): the observation, and
    optionally the previous action and the previous reward.

    A ``Dict`` observation (e.g. a view and a task id) sums one projection per part. The
    previous action ``NO_ACTION`` (-1, episode start) has an embedding of its own. An input
    the agent does not read has no parameters and never reaches the network.
    """

    def __init__(
        self,
        obs_space: Box | Dict,
        num_actions: int,
        width: int,
        rngs: nnx.Rngs,
        inputs: tuple[str, ...] = INPUTS,
    ):
        if isinstance(obs_space, Dict):
            self.obs_parts = nnx.Dict(
                {name: BoxEncoder(box, width, rngs) for name, box in obs_space.spaces}
            )
        else:
            self.obs_proj = BoxEncoder(obs_space, width, rngs)
        self.reads_action = "prev_action" in inputs
        self.reads_reward = "prev_reward" in inputs
        if self.reads_action:
            self.action_embed = nnx.Embed(num_actions + 1, width, rngs=rngs)
        if self.reads_reward:
            self.reward_proj = nnx.Linear(1, width, use_bias=False, rngs=rngs)

    def __call__(self, inputs: AgentInput) -> jax.Array:
        lead = inputs.prev_action.shape
        obs: jax.Array
        if hasattr(self, "obs_parts"):
            parts = [enc(inputs.obs[name], lead) for name, enc in self.obs_parts.items()]
            obs = functools.reduce(jnp.add, parts)
        else:
            obs = self.obs_proj(inputs.obs, lead)
        if self.reads_action:
            obs = obs + self.action_embed(inputs.prev_action + 1)
        if self.reads_reward:
            obs = obs + self.reward_proj(inputs.prev_reward[..., None].astype(jnp.float32))
        return obs
