"""Recurrent baseline: flax's GRU cell as the memory core (``agents.recurrent``)."""

from __future__ import annotations

from typing import Literal

import jax
import jax.numpy as jnp
from flax import nnx

from pmarl_bench.agents.base import register_agent
from pmarl_bench.agents.recurrent import RecurrentAgent, RecurrentConfig, recurrent_init


class GRUConfig(RecurrentConfig):
    kind: Literal["gru"] = "gru"


@register_agent("gru")
class GRUAgent(RecurrentAgent):
    Config = GRUConfig
    config: GRUConfig

    def build_core(self, rngs: nnx.Rngs) -> nnx.GRUCell:
        width = self.config.width
        return nnx.GRUCell(width, width, recurrent_kernel_init=recurrent_init, rngs=rngs)

    def initial_carry(self, batch: int) -> jax.Array:
        return jnp.zeros((batch, self.config.width), jnp.float32)
