"""The PPO loss over minibatches of whole sequences."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from pmarl_bench.agents.policy import masked_logits
from pmarl_bench.trainer.config import PPOConfig
from pmarl_bench.types import AgentInput


class Batch(NamedTuple):
    """A minibatch of whole sequences, time-major ``[T, b, ...]`` (``carry`` is ``[b, ...]``)."""

    carry: object  # agent memory at the sequences' start; None: fresh episodes (episodic)
    inputs: AgentInput
    action_mask: jax.Array
    action: jax.Array
    log_prob: jax.Array
    value: jax.Array
    advantage: jax.Array
    target: jax.Array


def ppo_loss(params, agent, batch: Batch, cfg: PPOConfig, h):
    """``cfg``: the static settings; ``h``: the traced ones (``ppo.Hyper``: clip_eps and the
    loss coefficients)."""
    if batch.carry is None:
        out = agent.unroll_fresh(params, batch.inputs)
    else:
        _, out = agent.unroll(params, batch.carry, batch.inputs)
    log_probs = jax.nn.log_softmax(masked_logits(out.logits, batch.action_mask))
    log_prob = jnp.take_along_axis(log_probs, batch.action[..., None], axis=-1)[..., 0]
    entropy = -jnp.sum(jnp.exp(log_probs) * log_probs, axis=-1).mean()

    adv = batch.advantage
    if cfg.normalize_advantages:
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    log_ratio = log_prob - batch.log_prob
    ratio = jnp.exp(log_ratio)
    clipped = jnp.clip(ratio, 1.0 - h.clip_eps, 1.0 + h.clip_eps)
    policy_loss = -jnp.minimum(ratio * adv, clipped * adv).mean()

    clip = h.clip_eps if cfg.clip_value else None
    value_loss = agent.config.value_head.value_loss(out, batch.value, batch.target, clip)

    total = policy_loss + h.vf_coef * value_loss - h.ent_coef * entropy
    aux = {
        "policy_loss": policy_loss,
        "value_loss": value_loss,
        "entropy": entropy,
        "approx_kl": ((ratio - 1.0) - log_ratio).mean(),
        "clip_fraction": (jnp.abs(ratio - 1.0) > h.clip_eps).mean(),
    }
    return total, aux
