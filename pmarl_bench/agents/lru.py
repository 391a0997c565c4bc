"""The Linear Recurrent Unit (Orvieto et al., 2023) as a linear-scan core
(``agents.linear_scan``): a complex diagonal recurrence with a learned, input-independent
decay,

    h_t = lambda * h_{t-1} + gamma * (B x_t),   y_t = Re(C h_t) + D * x_t,
    lambda = exp(-exp(nu) + i exp(theta)),      gamma = sqrt(1 - |lambda|^2) at init,

with ``|lambda|`` drawn uniformly on the ring ``[r_min, r_max]`` and the phase in
``[0, max_phase]``. The stored carry is real: the state's real and imaginary parts side by
side.
"""

from __future__ import annotations

import math
from typing import Literal

import jax
import jax.numpy as jnp
from flax import nnx
from pydantic import Field, field_validator

from pmarl_bench.agents.base import register_agent
from pmarl_bench.agents.linear_scan import (
    LinearScanAgent,
    LinearScanConfig,
    Mixer,
    State,
    complex_mul,
)


class LRUConfig(LinearScanConfig):
    kind: Literal["lru"] = "lru"
    state_width: int | None = Field(None, gt=0, description="complex state size; default width")
    r_min: float = Field(0.5, gt=0.0, lt=1.0, description="smallest decay |lambda| at init")
    r_max: float = Field(0.99, gt=0.0, lt=1.0, description="largest decay |lambda| at init")
    max_phase: float = Field(
        math.pi / 10, gt=0.0, le=2 * math.pi, description="largest rotation per step at init"
    )

    @field_validator("r_max")
    @classmethod
    def _ring(cls, v: float, info) -> float:
        r_min = info.data.get("r_min")
        if r_min is not None and r_min > v:
            raise ValueError(f"r_max ({v}) must not be below r_min ({r_min})")
        return v

    @property
    def resolved_state_width(self) -> int:
        return self.state_width or self.width


class LRUMixer(Mixer):
    def __init__(self, cfg: LRUConfig, rngs: nnx.Rngs):
        width, n = cfg.width, cfg.resolved_state_width
        u1 = jax.random.uniform(rngs.params(), (n,))
        u2 = jax.random.uniform(rngs.params(), (n,))
        radius_sq = u1 * (cfg.r_max**2 - cfg.r_min**2) + cfg.r_min**2
        self.nu_log = nnx.Param(jnp.log(-0.5 * jnp.log(radius_sq)))
        self.theta_log = nnx.Param(jnp.log(cfg.max_phase * u2))
        self.gamma_log = nnx.Param(0.5 * jnp.log(1 - radius_sq))
        normal = jax.random.normal
        self.b_re = nnx.Param(normal(rngs.params(), (width, n)) / math.sqrt(2 * width))
        self.b_im = nnx.Param(normal(rngs.params(), (width, n)) / math.sqrt(2 * width))
        self.c_re = nnx.Param(normal(rngs.params(), (n, width)) / math.sqrt(n))
        self.c_im = nnx.Param(normal(rngs.params(), (n, width)) / math.sqrt(n))
        self.d = nnx.Param(normal(rngs.params(), (width,)))

    mul = staticmethod(complex_mul)

    def coefficients(self, x: jax.Array) -> tuple[State, State]:
        radius = jnp.exp(-jnp.exp(self.nu_log[...]))
        phase = jnp.exp(self.theta_log[...])
        gamma = jnp.exp(self.gamma_log[...])
        decay = (radius * jnp.cos(phase), radius * jnp.sin(phase))
        return decay, ((x @ self.b_re[...]) * gamma, (x @ self.b_im[...]) * gamma)

    def readout(self, h: State, x: jax.Array) -> jax.Array:
        """``Re(C h)``, with ``C = c_re - i c_im``."""
        return h[0] @ self.c_re[...] - h[1] @ self.c_im[...] + self.d[...] * x


@register_agent("lru")
class LRUAgent(LinearScanAgent):
    Config = LRUConfig
    config: LRUConfig

    def mixer(self, rngs: nnx.Rngs) -> LRUMixer:
        return LRUMixer(self.config, rngs)

    def carry_width(self) -> int:
        return 2 * self.config.resolved_state_width
