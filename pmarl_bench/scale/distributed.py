"""One job over several processes (hosts) with ``jax.distributed``.

Every process runs the same program on its own devices (JAX's multi-controller model); a
cell's mesh spans the devices of all of them. Only process 0 touches the results folder.
"""

from __future__ import annotations

import os
from typing import Any

import jax
import numpy as np

from pmarl_bench.errors import ConfigError

#: The environment variables ``--distributed`` reads; where a cluster manager (SLURM, Open
#: MPI, Kubernetes, Cloud TPU) sets its own, JAX detects those instead.
COORDINATOR, NUM_PROCESSES, PROCESS_ID = (
    "JAX_COORDINATOR_ADDRESS",
    "JAX_NUM_PROCESSES",
    "JAX_PROCESS_ID",
)


def initialize() -> None:
    """Join the job described by the environment (see ``COORDINATOR`` etc.); blocks until
    every process has joined."""
    num, pid = os.environ.get(NUM_PROCESSES), os.environ.get(PROCESS_ID)
    try:
        num_processes = None if num is None else int(num)
        process_id = None if pid is None else int(pid)
    except ValueError:
        raise ConfigError(
            f"must be integers (got {NUM_PROCESSES}={num!r}, {PROCESS_ID}={pid!r})",
            "--distributed",
        ) from None
    # CPU devices of different processes talk over Gloo (the default has no collectives);
    # an accelerator's backend is not affected
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    try:
        jax.distributed.initialize(
            coordinator_address=os.environ.get(COORDINATOR),
            num_processes=num_processes,
            process_id=process_id,
        )
    except (ValueError, RuntimeError) as err:
        raise ConfigError(
            f"could not join the job ({str(err).splitlines()[0]}); set {COORDINATOR} "
            f"(host:port of process 0), {NUM_PROCESSES} and {PROCESS_ID}, or run under a "
            "cluster manager JAX detects (SLURM, Open MPI, Kubernetes)",
            "--distributed",
        ) from None


def is_primary() -> bool:
    """The process that writes results (process 0; the only one outside a distributed job)."""
    return jax.process_index() == 0


def to_host(tree: Any) -> Any:
    """Device arrays as numpy arrays on this host, gathered from every process when they span
    several."""
    if jax.process_count() == 1:
        return jax.device_get(tree)
    from jax.experimental import multihost_utils

    return jax.tree.map(
        lambda x: (
            np.asarray(multihost_utils.process_allgather(x, tiled=True))
            if isinstance(x, jax.Array) and not x.is_fully_addressable
            else np.asarray(x)
        ),
        tree,
    )


def broadcast(value: Any) -> Any:
    """Process 0's ``value`` (numpy-compatible) on every process."""
    if jax.process_count() == 1:
        return value
    from jax.experimental import multihost_utils

    return multihost_utils.broadcast_one_to_all(value)
