"""Observation and action spaces (per agent, without the leading agent axis)."""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np


@dataclass(frozen=True)
class Discrete:
    """Integer actions ``0 .. n-1``."""

    n: int
    dtype: str = "int32"

    @property
    def shape(self) -> tuple[int, ...]:
        return ()

    def sample(self, key: jax.Array, shape: tuple[int, ...] = ()) -> jax.Array:
        return jax.random.randint(key, shape, 0, self.n, dtype=self.dtype)

    def contains(self, x) -> bool:
        x = np.asarray(x)
        return bool(np.issubdtype(x.dtype, np.integer) and np.all((x >= 0) & (x < self.n)))


@dataclass(frozen=True)
class Box:
    """Arrays of a fixed shape and dtype with elementwise bounds.

    ``num_values`` is set for integer observations that are categorical ids (e.g. tile ids),
    so agents can embed them instead of treating them as magnitudes.
    """

    low: float
    high: float
    shape: tuple[int, ...]
    dtype: str = "float32"
    num_values: int | None = None

    def sample(self, key: jax.Array, shape: tuple[int, ...] = ()) -> jax.Array:
        full = (*shape, *self.shape)
        if jnp.issubdtype(self.dtype, jnp.integer):
            return jax.random.randint(key, full, int(self.low), int(self.high) + 1, self.dtype)
        lo = np.maximum(self.low, np.finfo(np.float32).min / 2)
        hi = np.minimum(self.high, np.finfo(np.float32).max / 2)
        return jax.random.uniform(key, full, self.dtype, lo, hi)

    def contains(self, x) -> bool:
        x = np.asarray(x)
        return bool(x.shape[-len(self.shape) :] == self.shape if self.shape else True) and bool(
            np.all((x >= self.low) & (x <= self.high))
        )


@dataclass(frozen=True)
class Dict:
    """A mapping of named ``Box`` parts (e.g. a view and a task id); observations are dicts
    with the same keys."""

    spaces: tuple[tuple[str, Box], ...]

    @classmethod
    def of(cls, **spaces: Box) -> Dict:
        return cls(tuple(sorted(spaces.items())))

    def __getitem__(self, name: str) -> Box:
        return dict(self.spaces)[name]

    def keys(self) -> list[str]:
        return [k for k, _ in self.spaces]

    def sample(self, key: jax.Array, shape: tuple[int, ...] = ()) -> dict[str, jax.Array]:
        keys = jax.random.split(key, len(self.spaces))
        parts = zip(self.spaces, keys, strict=True)
        return {name: box.sample(k, shape) for (name, box), k in parts}

    def contains(self, x) -> bool:
        return set(x) == set(self.keys()) and all(box.contains(x[k]) for k, box in self.spaces)
