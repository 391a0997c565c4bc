"""Throughput: measurements (``measure``), the benchmark matrix (``schema``, ``matrix``) and
the regression check (``compare``) behind ``pmarl-bench bench``. The names below load on
first use (``lazy``): the matrix format is read without JAX."""

from typing import TYPE_CHECKING

from pmarl_bench.lazy import exports

_HOMES = {
    "EnvThroughput": "measure",
    "TrainThroughput": "measure",
    "env_throughput": "measure",
    "train_throughput": "measure",
}

if TYPE_CHECKING:
    from pmarl_bench.bench.measure import (
        EnvThroughput,
        TrainThroughput,
        env_throughput,
        train_throughput,
    )

__getattr__ = exports(__name__, _HOMES)

__all__ = [
    "EnvThroughput",
    "TrainThroughput",
    "env_throughput",
    "train_throughput",
]
