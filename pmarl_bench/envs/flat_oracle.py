"""The oracle observation of an adapted env (gymnax, JaxMARL): its whole state, flattened,
for every agent (the adapter knows nothing of what memory would have to hold)."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from pmarl_bench.errors import ConfigError


class FlatStateOracle:
    """Mixin: ``oracle_size`` / ``oracle`` from ``self._state_shape()`` (abstract state) and
    ``self.num_agents``; ``self`` names the env in errors."""

    #: an adapted env's state has no known bounds
    oracle_bounds = (-float("inf"), float("inf"))
    num_agents: int

    def _state_shape(self):
        raise NotImplementedError

    @property
    def oracle_size(self) -> int:
        leaves = jax.tree.leaves(self._state_shape())
        for leaf in leaves:
            if not (jnp.issubdtype(leaf.dtype, jnp.number) or leaf.dtype == jnp.bool_):
                raise ConfigError(
                    f"{self!r}'s state holds {leaf.dtype} values; it has no oracle observation "
                    "(the flattened state)",
                    "options.observe",
                )
        return sum(math.prod(leaf.shape) for leaf in leaves)

    def oracle(self, state, params):
        """The whole env state, flattened, the same for every agent."""
        flat = jnp.concatenate([jnp.ravel(x).astype(jnp.float32) for x in jax.tree.leaves(state)])
        return jnp.broadcast_to(flat, (self.num_agents, flat.shape[0]))
