"""Cores whose recurrence is linear in the state, ``h_t = a_t * h_{t-1} + b_t`` (elementwise),
with ``a_t`` and ``b_t`` computed from the input alone: the LRU and the minGRU. Learning
computes every state of a sequence at once with a parallel (associative) scan; acting takes
one step. Both give the same states (tested against a plain loop).

A core is a stack of pre-norm residual blocks, as in the minGRU and LRU papers:

    y = x + mixer(norm(x))        the linear recurrence (mixes over time)
    out = y + ffn(norm(y))        a per-step feed-forward layer (mixes features)

The feed-forward layer is where the remembered and the current input meet non-linearly (the
recurrence itself is linear). A mixer says how its ``a`` and ``b`` follow from the input and
how the state is read out; the carry is one real array per layer (cleared at an episode
start by ``agents.recurrent``).
"""

from __future__ import annotations

import abc
from collections.abc import Callable

import jax
import jax.numpy as jnp
from flax import nnx
from pydantic import Field

from pmarl_bench.agents.recurrent import RecurrentAgent, RecurrentConfig
from pmarl_bench.agents.torso import ACTIVATIONS


class LinearScanConfig(RecurrentConfig):
    num_layers: int = Field(1, gt=0, description="residual blocks (recurrence + feed-forward)")
    ffn_width: int | None = Field(None, gt=0, description="feed-forward hidden width; default 2x")


State = tuple[jax.Array, ...]


def linear_recurrence(mul, a: State, b: State, h0: State) -> State:
    """Every state of ``h_t = a_t * h_{t-1} + b_t`` (time on axis 0) from ``h0``, by an
    associative scan: ``log T`` levels of elementwise work instead of ``T`` sequential steps.
    States and coefficients are tuples of real arrays (a complex number is a pair), and
    ``mul`` multiplies them (an associative, commutative product). An episode start is
    ``a_t = 0``."""
    first = jax.tree.map(lambda b, ah: b[0] + ah, b, mul(tuple(x[0] for x in a), h0))
    b = tuple(x.at[0].set(f) for x, f in zip(b, first, strict=True))

    def combine(earlier, later):
        a1, b1 = earlier
        a2, b2 = later
        return mul(a1, a2), jax.tree.map(jnp.add, mul(a2, b1), b2)

    return jax.lax.associative_scan(combine, (a, b), axis=0)[1]


def real_mul(x: State, y: State) -> State:
    return (x[0] * y[0],)


def complex_mul(x: State, y: State) -> State:
    """``(re, im) * (re, im)``, in real arithmetic (XLA's complex kernels are slower on the
    CPU)."""
    return x[0] * y[0] - x[1] * y[1], x[0] * y[1] + x[1] * y[0]


class Mixer(nnx.Module, abc.ABC):
    """A linear recurrence over time: its coefficients, its state and its readout. A state
    is a tuple of real arrays multiplied by ``mul``; the carry stores them side by side."""

    mul = staticmethod(real_mul)

    @abc.abstractmethod
    def coefficients(self, x: jax.Array) -> tuple[State, State]:
        """``x [..., width]`` -> (``a``, ``b``) of the recurrence; ``a`` may omit the
        leading axes where it does not depend on the input."""

    @abc.abstractmethod
    def readout(self, h: State, x: jax.Array) -> jax.Array:
        """The state (and the mixer's input) -> ``[..., width]``."""

    def to_state(self, carry: jax.Array) -> State:
        return tuple(jnp.split(carry, self.parts, axis=-1))

    def to_carry(self, h: State) -> jax.Array:
        return h[0] if len(h) == 1 else jnp.concatenate(h, axis=-1)

    @property
    def parts(self) -> int:
        return 2 if self.mul is complex_mul else 1


class Block(nnx.Module):
    def __init__(self, mixer: Mixer, width: int, ffn_width: int, activation, rngs: nnx.Rngs):
        self.mixer_norm = nnx.RMSNorm(width, rngs=rngs)
        self.mixer = mixer
        self.ffn_norm = nnx.RMSNorm(width, rngs=rngs)
        self.ffn_in = nnx.Linear(width, ffn_width, rngs=rngs)
        self.ffn_out = nnx.Linear(ffn_width, width, rngs=rngs)
        self.act = activation

    def _ffn(self, y: jax.Array) -> jax.Array:
        return y + self.ffn_out(self.act(self.ffn_in(self.ffn_norm(y))))

    def __call__(self, carry: jax.Array, x: jax.Array):
        u = self.mixer_norm(x)
        a, b = self.mixer.coefficients(u)
        h = jax.tree.map(jnp.add, self.mixer.mul(a, self.mixer.to_state(carry)), b)
        return self.mixer.to_carry(h), self._ffn(x + self.mixer.readout(h, u))

    def sequence(self, carry: jax.Array, x: jax.Array, start: jax.Array):
        """``x [T, B, width]``, ``start [T, B]``: a start zeroes ``a`` there, so nothing
        before it reaches the state."""
        u = self.mixer_norm(x)
        a, b = self.mixer.coefficients(u)
        a = tuple(jnp.where(start[..., None], 0, jnp.broadcast_to(p, b[0].shape)) for p in a)
        h = linear_recurrence(self.mixer.mul, a, b, self.mixer.to_state(carry))
        last = tuple(part[-1] for part in h)
        return self.mixer.to_carry(last), self._ffn(x + self.mixer.readout(h, u))


class LinearScanCore(nnx.Module):
    """The stack of blocks; its carry is a tuple with one array per block."""

    def __init__(self, cfg: LinearScanConfig, make_mixer: Callable[[], Mixer], rngs: nnx.Rngs):
        ffn_width = cfg.ffn_width or 2 * cfg.width
        act = ACTIVATIONS[cfg.activation]
        self.blocks = nnx.List(
            [Block(make_mixer(), cfg.width, ffn_width, act, rngs) for _ in range(cfg.num_layers)]
        )

    def __call__(self, carry: tuple, x: jax.Array):
        out = []
        for block, c in zip(self.blocks, carry, strict=True):
            c, x = block(c, x)
            out.append(c)
        return tuple(out), x

    def sequence(self, carry: tuple, x: jax.Array, start: jax.Array):
        out = []
        for block, c in zip(self.blocks, carry, strict=True):
            c, x = block.sequence(c, x, start)
            out.append(c)
        return tuple(out), x


class LinearScanAgent(RecurrentAgent):
    config: LinearScanConfig

    @abc.abstractmethod
    def mixer(self, rngs: nnx.Rngs) -> Mixer: ...

    @abc.abstractmethod
    def carry_width(self) -> int:
        """Width of one block's stored carry."""

    def build_core(self, rngs: nnx.Rngs) -> LinearScanCore:
        return LinearScanCore(self.config, lambda: self.mixer(rngs), rngs)

    def initial_carry(self, batch: int) -> tuple[jax.Array, ...]:
        zeros = jnp.zeros((batch, self.carry_width()), jnp.float32)
        return (zeros,) * self.config.num_layers
