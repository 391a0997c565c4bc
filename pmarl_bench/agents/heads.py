"""Policy and value heads shared by every agent."""

from __future__ import annotations

import jax
from flax import nnx

# A near-zero policy init gives a near-uniform first policy (variance-scaling, no QR: see
# DESIGN.md on orthogonal init under vmap).
_policy_init = nnx.initializers.variance_scaling(1e-4, "fan_in", "truncated_normal")


class PolicyValueHeads(nnx.Module):
    def __init__(self, width: int, num_actions: int, rngs: nnx.Rngs):
        self.policy = nnx.Linear(width, num_actions, kernel_init=_policy_init, rngs=rngs)
        self.value = nnx.Linear(width, 1, rngs=rngs)

    def __call__(
        self, h: jax.Array, h_value: jax.Array | None = None
    ) -> tuple[jax.Array, jax.Array]:
        """Logits from ``h``; the value from ``h_value`` where given (a separate torso)."""
        return self.policy(h), self.value(h if h_value is None else h_value)[..., 0]
