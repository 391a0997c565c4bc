"""Pieces of the grid tasks' perfect-memory observations (``observe: oracle``): where things
are relative to each agent, and what the other agents are."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def offsets(cells: jax.Array, pos: jax.Array, shape: tuple[int, int]) -> jax.Array:
    """``float32 [A, N, 2]``: each of ``cells [N, 2]`` relative to each agent ``pos [A, 2]``
    (rows down, columns right), divided by the map's larger side so they lie in (-1, 1)."""
    return (cells[None, :, :] - pos[:, None, :]).astype(jnp.float32) / max(shape)


def other_agents(pos: jax.Array, shape: tuple[int, int]) -> tuple[jax.Array, jax.Array]:
    """For each agent ``i``, the agents ``i + 1, i + 2, ...`` (wrapping around), so each
    agent sees the others in its own order: their numbers ``int32 [A, A - 1]`` and their
    offsets ``float32 [A, A - 1, 2]``."""
    a = pos.shape[0]
    idx = (jnp.arange(a)[:, None] + jnp.arange(1, a)[None, :]) % a
    return idx, offsets(pos, pos, shape)[jnp.arange(a)[:, None], idx]


def flat(*parts: jax.Array) -> jax.Array:
    """``float32 [A, D]``: per-agent parts ``[A, ...]`` flattened and concatenated."""
    a = parts[0].shape[0]
    return jnp.concatenate([p.reshape(a, -1).astype(jnp.float32) for p in parts], axis=-1)
