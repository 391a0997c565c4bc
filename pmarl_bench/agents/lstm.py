"""Recurrent baseline: flax's LSTM cell as the memory core (``agents.recurrent``); the carry
is the cell state and the hidden state, ``(c, h)``, both cleared at an episode start."""

from __future__ import annotations

from typing import Literal

import jax
import jax.numpy as jnp
from flax import nnx

from pmarl_bench.agents.base import register_agent
from pmarl_bench.agents.recurrent import RecurrentAgent, RecurrentConfig, recurrent_init


class LSTMConfig(RecurrentConfig):
    kind: Literal["lstm"] = "lstm"


@register_agent("lstm")
class LSTMAgent(RecurrentAgent):
    Config = LSTMConfig
    config: LSTMConfig

    def build_core(self, rngs: nnx.Rngs) -> nnx.LSTMCell:
        width = self.config.width
        return nnx.LSTMCell(width, width, recurrent_kernel_init=recurrent_init, rngs=rngs)

    def initial_carry(self, batch: int) -> tuple[jax.Array, jax.Array]:
        zeros = jnp.zeros((batch, self.config.width), jnp.float32)
        return zeros, zeros
