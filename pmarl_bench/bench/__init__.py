"""Throughput: measurements (``measure``), the benchmark matrix (``schema``, ``matrix``) and
the regression check (``compare``) behind ``pmarl-bench bench``."""

from pmarl_bench.bench.measure import (
    EnvThroughput,
    TrainThroughput,
    env_throughput,
    train_throughput,
)

__all__ = [
    "EnvThroughput",
    "TrainThroughput",
    "env_throughput",
    "train_throughput",
]
