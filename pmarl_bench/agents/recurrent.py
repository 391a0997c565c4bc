"""Recurrent baselines: a memory core between the shared input encoder and the heads.

Every recurrent agent (GRU, LSTM, LRU, minGRU) is the same network, ``encoder -> core ->
heads``; only the core differs. A core is a module called ``core(carry, x) -> (carry, y)``
for one step (the interface of flax's RNN cells) that may also offer ``core.sequence(carry,
x[T], start[T])`` for a whole sequence at once (a parallel scan); without it a sequence is a
``lax.scan`` of steps.

The carry (any pytree of ``[B, ...]`` arrays) is cleared exactly where an episode starts:
before the step whose ``start`` flag is set, so the first observation of an episode is
processed from a zero state.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx
from pydantic import Field

from pmarl_bench.agents.base import Agent, AgentConfig
from pmarl_bench.agents.heads import PolicyValueHeads
from pmarl_bench.agents.torso import ACTIVATIONS, Activation, InputEncoder
from pmarl_bench.types import AgentInput

# Orthogonal init (flax's recurrent default) runs a QR, which can deadlock XLA's CPU thread
# pool when parameters are initialised per seed under vmap (jaxlib 0.10): variance scaling.
recurrent_init = nnx.initializers.variance_scaling(1.0, "fan_in", "truncated_normal")


class RecurrentConfig(AgentConfig):
    """What every recurrent agent's config has: the width of the input embedding, of the
    core's output and of the heads' input, and the embedding's activation."""

    width: int = Field(128, gt=0, description="input embedding and memory width")
    activation: Activation = "relu"


def clear_where(start: jax.Array, carry: Any) -> Any:
    """The carry with the rows where ``start [B]`` is set zeroed (every leaf is ``[B, ...]``)."""
    return jax.tree.map(
        lambda c: jnp.where(start.reshape(start.shape + (1,) * (c.ndim - 1)), 0, c), carry
    )


class RecurrentNet(nnx.Module):
    """``encoder -> activation -> core -> heads``; the core is stored as ``cell``."""

    def __init__(
        self,
        cfg: RecurrentConfig,
        obs_space,
        num_actions: int,
        build_core: Callable[[nnx.Rngs], nnx.Module],
        rngs: nnx.Rngs,
    ):
        self.act = ACTIVATIONS[cfg.activation]
        self.encoder = InputEncoder(obs_space, num_actions, cfg.width, rngs, cfg.inputs)
        self.cell = build_core(rngs)  # drawn after the encoder, as the GRU always was
        self.heads = PolicyValueHeads(cfg.width, num_actions, rngs, cfg.value_head)

    def embed(self, inputs: AgentInput) -> jax.Array:
        return self.act(self.encoder(inputs))

    def recur(self, carry, x: jax.Array, start: jax.Array):
        return self.cell(clear_where(start, carry), x)

    def __call__(self, carry, inputs: AgentInput):
        carry, h = self.recur(carry, self.embed(inputs), inputs.start)
        return carry, self.heads(h)

    def sequence(self, carry, inputs: AgentInput):
        x = self.embed(inputs)  # [T, B, width]: batched over time, only the core is sequential
        if hasattr(self.cell, "sequence"):
            carry, h = self.cell.sequence(carry, x, inputs.start)
        else:
            carry, h = jax.lax.scan(lambda c, xs: self.recur(c, *xs), carry, (x, inputs.start))
        return carry, self.heads(h)


class RecurrentAgent(Agent):
    """An agent over a ``RecurrentNet``: subclasses say how to build the core and the shape
    of its (zero) carry."""

    config: RecurrentConfig
    core_reach = None  # a state carried through the episode: no fixed limit

    @abc.abstractmethod
    def build_core(self, rngs: nnx.Rngs) -> nnx.Module: ...

    @abc.abstractmethod
    def initial_carry(self, batch: int) -> Any: ...

    def build(self, rngs: nnx.Rngs) -> RecurrentNet:
        return RecurrentNet(self.config, self.obs_space, self.action_space.n, self.build_core, rngs)

    def step(self, params, carry, inputs):
        return self.module(params)(carry, inputs)

    def unroll(self, params, carry, inputs):
        return self.module(params).sequence(carry, inputs)
