"""Recurrent baseline: a GRU core between the shared input encoder and the heads.

The carry is cleared exactly where an episode starts: before the step whose ``start`` flag is
set, so the first observation of an episode is processed from a zero state.
"""

from __future__ import annotations

from typing import Literal

import jax
import jax.numpy as jnp
from flax import nnx
from pydantic import Field

from pmarl_bench.agents.base import Agent, AgentConfig, register_agent
from pmarl_bench.agents.heads import PolicyValueHeads
from pmarl_bench.agents.torso import ACTIVATIONS, Activation, InputEncoder
from pmarl_bench.types import AgentInput

# Orthogonal init (the GRUCell default) runs a QR, which can deadlock XLA's CPU thread pool
# when parameters are initialised per seed under vmap (jaxlib 0.10), so use variance scaling.
_recurrent_init = nnx.initializers.variance_scaling(1.0, "fan_in", "truncated_normal")


class GRUConfig(AgentConfig):
    kind: Literal["gru"] = "gru"
    width: int = Field(128, gt=0, description="input embedding and GRU state width")
    activation: Activation = "relu"


class GRUNet(nnx.Module):
    def __init__(self, cfg: GRUConfig, obs_space, num_actions: int, rngs: nnx.Rngs):
        self.act = ACTIVATIONS[cfg.activation]
        self.encoder = InputEncoder(obs_space, num_actions, cfg.width, rngs)
        self.cell = nnx.GRUCell(
            cfg.width, cfg.width, recurrent_kernel_init=_recurrent_init, rngs=rngs
        )
        self.heads = PolicyValueHeads(cfg.width, num_actions, rngs, cfg.value_head)

    def embed(self, inputs: AgentInput) -> jax.Array:
        return self.act(self.encoder(inputs))

    def recur(self, carry: jax.Array, x: jax.Array, start: jax.Array):
        carry = jnp.where(start[..., None], jnp.zeros_like(carry), carry)
        return self.cell(carry, x)

    def __call__(self, carry, inputs: AgentInput):
        carry, h = self.recur(carry, self.embed(inputs), inputs.start)
        return carry, self.heads(h)

    def sequence(self, carry, inputs: AgentInput):
        x = self.embed(inputs)  # [T, B, width]: batched over time, only the cell is sequential
        carry, h = jax.lax.scan(lambda c, xs: self.recur(c, *xs), carry, (x, inputs.start))
        return carry, self.heads(h)


@register_agent("gru")
class GRUAgent(Agent):
    Config = GRUConfig
    config: GRUConfig

    def build(self, rngs: nnx.Rngs) -> GRUNet:
        return GRUNet(self.config, self.obs_space, self.action_space.n, rngs)

    def initial_carry(self, batch: int) -> jax.Array:
        return jnp.zeros((batch, self.config.width), jnp.float32)

    def step(self, params, carry, inputs):
        return self.module(params)(carry, inputs)

    def unroll(self, params, carry, inputs):
        return self.module(params).sequence(carry, inputs)
