"""Acting from a policy's logits, the one way the rollout, the evaluations, videos and ``play``
choose actions: invalid actions masked out, then a sample (or the most likely action)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from pmarl_bench.types import AgentInput, AgentOutput

#: the logit of an action the env's mask rules out (finite, so log-softmax stays finite)
MASKED_LOGIT = -1e9


def masked_logits(logits: jax.Array, mask: jax.Array) -> jax.Array:
    return jnp.where(mask, logits, MASKED_LOGIT)


def uniform_logits(mask: jax.Array) -> jax.Array:
    """Logits of the uniformly random policy over the allowed actions."""
    return jnp.where(mask, 0.0, -jnp.inf)


def choose(key: jax.Array, logits: jax.Array, deterministic: bool = False) -> jax.Array:
    """int32 actions: a sample from ``logits``, or their argmax when ``deterministic``."""
    if deterministic:
        return jnp.argmax(logits, -1).astype(jnp.int32)
    return jax.random.categorical(key, logits).astype(jnp.int32)


def log_prob(logits: jax.Array, action: jax.Array) -> jax.Array:
    return jnp.take_along_axis(jax.nn.log_softmax(logits), action[..., None], axis=-1)[..., 0]


def act(
    agent, params, carry: Any, inputs: AgentInput, mask: jax.Array, key: jax.Array,
    deterministic: bool = False,
) -> tuple[Any, jax.Array, jax.Array, AgentOutput]:  # fmt: skip
    """One step of ``agent``: ``(carry, action, masked logits, output)``."""
    carry, out = agent.step(params, carry, inputs)
    logits = masked_logits(out.logits, mask)
    return carry, choose(key, logits, deterministic), logits, out
