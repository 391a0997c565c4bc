"""Where a cell's arrays live: a ``("seed", "data")`` device mesh.

Seeds are spread over the ``seed`` axis (as many devices as divide the seed count; each runs
its own seeds, no communication). The other devices split each seed's env batch over the
``data`` axis: the rollout state is sharded on its env/row axis, and XLA's partitioner turns the
losses' batch means into partial sums plus an all-reduce, so the gradient is averaged across
the data axis and the program computes what it computes on one device (up to the order of
floating-point sums). One device means no mesh and the unchanged single-device program.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

SEED, DATA = "seed", "data"


@dataclass(frozen=True)
class CellMesh:
    mesh: Mesh

    @property
    def seed_devices(self) -> int:
        return self.mesh.shape[SEED]

    @property
    def data_devices(self) -> int:
        return self.mesh.shape[DATA]

    def seeds(self) -> NamedSharding:
        """Arrays that lead with the seed axis (keys, parameters, metrics)."""
        return NamedSharding(self.mesh, PartitionSpec(SEED))

    def state(self, state_shape: Any) -> Any:
        """Shardings of a vmapped ``RunnerState``: the rollout's env/row axis (axis 1, after
        the seeds) over ``data``, everything else (parameters, optimiser) over ``seed`` only."""
        rows = NamedSharding(self.mesh, PartitionSpec(SEED, DATA))
        seeds = self.seeds()
        return state_shape._replace(
            params=jax.tree.map(lambda _: seeds, state_shape.params),
            opt_state=jax.tree.map(lambda _: seeds, state_shape.opt_state),
            rollout=jax.tree.map(lambda x: rows if x.ndim >= 2 else seeds, state_shape.rollout),
            key=seeds,
            update=seeds,
        )


def plan(num_seeds: int, row_counts: list[int], devices: list | None = None) -> CellMesh | None:
    """The mesh for ``num_seeds`` seeds over ``devices`` (default: all of them; the local ones
    unless ``jax.distributed`` joined several processes). The seed axis takes as many devices
    as divide the seed count; the data axis as many of the rest as divide every count in
    ``row_counts`` (each task's env count, the minibatch size) so that shards are equal.
    None when that is a single device."""
    devices = list(jax.devices() if devices is None else devices)
    seed_n, data_n = mesh_shape(num_seeds, len(devices), row_counts)
    if seed_n * data_n == 1:
        return None
    grid = np.array(devices[: seed_n * data_n]).reshape(seed_n, data_n)
    return CellMesh(Mesh(grid, (SEED, DATA)))


def mesh_shape(num_seeds: int, num_devices: int, row_counts: list[int]) -> tuple[int, int]:
    """``(seed devices, data devices)``; see ``plan``."""
    seed_n = math.gcd(num_seeds, num_devices)
    spare = num_devices // seed_n
    data_n = max(
        d for d in range(1, spare + 1) if spare % d == 0 and all(c % d == 0 for c in row_counts)
    )
    return seed_n, data_n


def shard_rows(tree: Any, axis: int) -> Any:
    """Inside a program compiled under a mesh with a ``data`` axis, keep ``axis`` (the env
    batch's rows) split over it, so the partitioner computes each shard where it lives rather
    than gathering it; a no-op otherwise (one device)."""
    mesh = jax.sharding.get_abstract_mesh()
    if mesh.empty or DATA not in mesh.axis_names or mesh.shape[DATA] == 1:
        return tree
    spec = PartitionSpec(*([None] * axis), DATA)
    return jax.tree.map(lambda x: jax.lax.with_sharding_constraint(x, spec), tree)
