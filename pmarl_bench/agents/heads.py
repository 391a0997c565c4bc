"""Policy and value heads shared by every agent, and the value-head options.

The value head is either a plain scalar trained with a squared error (``mse``) or HL-Gauss
(``hl_gauss``): the value is discretised into bins over a fixed range, the head predicts a
histogram, and it is trained by cross-entropy against a Gaussian centred on the target and
integrated over each bin (Imani & White, 2018; Farebrother et al., 2024).
"""

from __future__ import annotations

from typing import Literal

import jax
import jax.numpy as jnp
from flax import nnx
from pydantic import BaseModel, ConfigDict, Field, model_validator

from pmarl_bench.types import AgentOutput

# A near-zero policy init gives a near-uniform first policy (variance scaling: no QR, which
# can deadlock XLA's CPU thread pool under vmap).
_policy_init = nnx.initializers.variance_scaling(1e-4, "fan_in", "truncated_normal")


class MSEValue(BaseModel):
    """A scalar value trained with a squared error (optionally clipped around the old value,
    PPO's value clipping)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["mse"] = "mse"

    @property
    def outputs(self) -> int:
        return 1

    def output(self, logits: jax.Array, v: jax.Array) -> AgentOutput:
        return AgentOutput(logits, v[..., 0])

    def value_loss(
        self, out: AgentOutput, old_value: jax.Array, target: jax.Array, clip_eps=None
    ) -> jax.Array:
        """Half the mean squared error; with ``clip_eps``, the larger of it and the error of
        the value moved at most ``clip_eps`` from ``old_value``."""
        err = jnp.square(out.value - target)
        if clip_eps is not None:
            delta = jnp.clip(out.value - old_value, -clip_eps, clip_eps)
            err = jnp.maximum(err, jnp.square(old_value + delta - target))
        return 0.5 * err.mean()


class HLGaussValue(BaseModel):
    """Histogram value head; ``sigma`` is the Gaussian's width in bin widths."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["hl_gauss"] = "hl_gauss"
    bins: int = Field(101, ge=2, description="number of value bins")
    min: float = Field(-10.0, description="lower edge of the value range")
    max: float = Field(10.0, description="upper edge of the value range")
    sigma: float = Field(0.75, gt=0.0, description="target Gaussian's std in bin widths")

    @model_validator(mode="after")
    def _range(self) -> HLGaussValue:
        if not self.max > self.min:
            raise ValueError(f"max ({self.max}) must be above min ({self.min})")
        return self

    def edges(self) -> jax.Array:
        return jnp.linspace(self.min, self.max, self.bins + 1, dtype=jnp.float32)

    def centers(self) -> jax.Array:
        edges = self.edges()
        return (edges[:-1] + edges[1:]) / 2

    def target_probs(self, target: jax.Array) -> jax.Array:
        """``[...] -> [..., bins]``: the Gaussian around the (range-clipped) target,
        integrated over each bin and renormalised to the range."""
        sigma = self.sigma * (self.max - self.min) / self.bins
        target = jnp.clip(target, self.min, self.max)
        cdf = jax.scipy.special.erf((self.edges() - target[..., None]) / (sigma * jnp.sqrt(2)))
        mass = cdf[..., 1:] - cdf[..., :-1]
        return mass / (cdf[..., -1:] - cdf[..., :1])

    def value(self, logits: jax.Array) -> jax.Array:
        return jnp.sum(jax.nn.softmax(logits) * self.centers(), axis=-1)

    def loss(self, logits: jax.Array, target: jax.Array) -> jax.Array:
        """Cross-entropy per element against the target histogram."""
        probs = jax.lax.stop_gradient(self.target_probs(target))
        return -jnp.sum(probs * jax.nn.log_softmax(logits), axis=-1)

    @property
    def outputs(self) -> int:
        return self.bins

    def output(self, logits: jax.Array, v: jax.Array) -> AgentOutput:
        return AgentOutput(logits, self.value(v), v)

    def value_loss(
        self, out: AgentOutput, old_value: jax.Array, target: jax.Array, clip_eps=None
    ) -> jax.Array:
        """The mean cross-entropy against the target histograms (never clipped)."""
        assert out.value_logits is not None  # ``output`` always gives them
        return self.loss(out.value_logits, target).mean()


ValueHead = MSEValue | HLGaussValue


class PolicyValueHeads(nnx.Module):
    def __init__(
        self,
        width: int,
        num_actions: int,
        rngs: nnx.Rngs,
        value_head: ValueHead | None = None,
    ):
        self.value_head = value_head or MSEValue()
        self.policy = nnx.Linear(width, num_actions, kernel_init=_policy_init, rngs=rngs)
        self.value = nnx.Linear(width, self.value_head.outputs, rngs=rngs)

    def __call__(self, h: jax.Array, h_value: jax.Array | None = None) -> AgentOutput:
        """Logits from ``h``; the value from ``h_value`` where given (a separate torso)."""
        logits = self.policy(h).astype(jnp.float32)
        v = self.value(h if h_value is None else h_value).astype(jnp.float32)
        return self.value_head.output(logits, v)
