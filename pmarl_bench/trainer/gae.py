"""Generalised advantage estimation over a time-major rollout."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def gae(
    rewards: jax.Array,
    values: jax.Array,
    next_values: jax.Array,
    terminated: jax.Array,
    done: jax.Array,
    gamma: float | jax.Array,
    lam: float | jax.Array,
) -> tuple[jax.Array, jax.Array]:
    """Advantages and value targets, all arrays ``[T, B]``.

    ``next_values[t]`` is the value of the state after step ``t`` (for a truncated step, the
    value of its final observation); ``terminated[t]`` cuts the bootstrap; ``done[t]``
    (terminated or truncated) cuts the advantage recursion, as the next step belongs to a new
    episode.
    """
    not_term = 1.0 - terminated.astype(jnp.float32)
    not_done = 1.0 - done.astype(jnp.float32)
    deltas = rewards + gamma * next_values * not_term - values

    def backward(adv_next, x):
        delta, nd = x
        adv = delta + gamma * lam * nd * adv_next
        return adv, adv

    _, adv = jax.lax.scan(backward, jnp.zeros_like(values[0]), (deltas, not_done), reverse=True)
    return adv, adv + values
