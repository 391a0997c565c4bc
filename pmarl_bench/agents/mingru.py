"""minGRU (Feng et al., 2024, "Were RNNs all we needed?") as a linear-scan core
(``agents.linear_scan``): the GRU with its gate and candidate computed from the input alone,

    z_t = sigmoid(W_z x_t),  h~_t = W_h x_t,  h_t = (1 - z_t) * h_{t-1} + z_t * h~_t,

so learning runs a parallel scan over the sequence and acting one step.
"""

from __future__ import annotations

from typing import Literal

import jax
from flax import nnx

from pmarl_bench.agents.base import register_agent
from pmarl_bench.agents.linear_scan import LinearScanAgent, LinearScanConfig, Mixer, State


class MinGRUConfig(LinearScanConfig):
    kind: Literal["mingru"] = "mingru"


class MinGRUMixer(Mixer):
    def __init__(self, width: int, rngs: nnx.Rngs):
        self.gate = nnx.Linear(width, width, rngs=rngs)
        self.candidate = nnx.Linear(width, width, rngs=rngs)

    def coefficients(self, x: jax.Array) -> tuple[State, State]:
        z = self.gate(x)
        return (jax.nn.sigmoid(-z),), (jax.nn.sigmoid(z) * self.candidate(x),)

    def readout(self, h: State, x: jax.Array) -> jax.Array:
        return h[0]


@register_agent("mingru")
class MinGRUAgent(LinearScanAgent):
    Config = MinGRUConfig
    config: MinGRUConfig

    def mixer(self, rngs: nnx.Rngs) -> MinGRUMixer:
        return MinGRUMixer(self.config.width, rngs)

    def carry_width(self) -> int:
        return self.config.width
