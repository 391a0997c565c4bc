"""The host side of training one cell: compile once, run jitted chunks of updates over all
seeds (vmapped), report progress and stop on NaN between chunks."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from pmarl_bench.errors import TrainingDivergedError
from pmarl_bench.trainer.ppo import LOSS_METRICS, Train


@dataclass
class Progress:
    """What the host knows after each chunk (for progress bars)."""

    updates: int
    num_updates: int
    env_steps: int  # per seed
    agent_steps_per_second: float  # all seeds, since the first chunk started
    latest_return: float  # mean over seeds of the last update's episode return (NaN: none)


@dataclass
class TrainResult:
    metrics: dict[str, np.ndarray]  # name -> [seeds, num_updates]
    state: Any  # final RunnerState (stacked over seeds, on device)
    compile_seconds: float
    run_seconds: float
    agent_steps: int  # all seeds together
    compiled_memory_bytes: int | None

    @property
    def agent_steps_per_second(self) -> float:
        return self.agent_steps / self.run_seconds if self.run_seconds > 0 else float("nan")


def seed_keys(seeds: list[int]) -> jax.Array:
    return jnp.stack([jax.random.key(s) for s in seeds])


def seed_sharding(num_seeds: int) -> NamedSharding | None:
    """Seeds spread over the local devices (as many as divide the seed count evenly), or
    None on one device. Inputs placed so, the compiled program runs each device's seeds there
    with no communication."""
    devices = jax.local_devices()
    n = math.gcd(num_seeds, len(devices))
    if n <= 1:
        return None
    return NamedSharding(Mesh(np.array(devices[:n]), ("seed",)), PartitionSpec("seed"))


def train_seeds(
    train: Train,
    seeds: list[int],
    *,
    name: str = "cell",
    on_progress: Callable[[Progress], None] | None = None,
    on_chunk: Callable[[Any, int], None] | None = None,
) -> TrainResult:
    """Train all ``seeds`` of a cell. ``on_chunk(state, updates_done)`` runs on the host
    after every chunk, before the state's buffers are donated to the next one (e.g. to save
    parameters)."""
    keys = seed_keys(seeds)
    # every array leads with the seed axis; with several devices it is split over them (the
    # seeds' programs are independent, so each device runs its own with no communication)
    sharding = seed_sharding(len(seeds))
    spread = {} if sharding is None else {"in_shardings": sharding, "out_shardings": sharding}
    if sharding is not None:
        keys = jax.device_put(keys, sharding)
    t0 = time.perf_counter()
    init = jax.jit(jax.vmap(train.init), **spread).lower(keys).compile()
    state = init(keys)
    chunk = jax.jit(jax.vmap(train.chunk), donate_argnums=0, **spread).lower(state).compile()
    compile_seconds = time.perf_counter() - t0

    chunks: list[dict[str, np.ndarray]] = []
    agent_steps_per_chunk = len(seeds) * train.updates_per_chunk * train.agent_steps_per_update
    t_run = time.perf_counter()
    for i in range(train.num_chunks):
        state, metrics = chunk(state)
        metrics = jax.device_get(metrics)  # also waits for the chunk to finish
        _check_finite(metrics, name, seeds, i * train.updates_per_chunk)
        chunks.append(metrics)
        if on_chunk is not None:
            on_chunk(state, (i + 1) * train.updates_per_chunk)
        if on_progress is not None:
            elapsed = time.perf_counter() - t_run
            done = (i + 1) * train.updates_per_chunk
            ret = metrics["episode_return"][:, -1]
            on_progress(
                Progress(
                    updates=done,
                    num_updates=train.num_updates,
                    env_steps=done * train.env_steps_per_update,
                    agent_steps_per_second=(i + 1) * agent_steps_per_chunk / elapsed,
                    latest_return=float(np.nanmean(ret)) if np.isfinite(ret).any() else np.nan,
                )
            )
    run_seconds = time.perf_counter() - t_run
    merged = {k: np.concatenate([c[k] for c in chunks], axis=1) for k in chunks[0]}
    return TrainResult(
        metrics=merged,
        state=state,
        compile_seconds=compile_seconds,
        run_seconds=run_seconds,
        agent_steps=len(seeds) * train.num_updates * train.agent_steps_per_update,
        compiled_memory_bytes=_compiled_bytes(chunk),
    )


def _check_finite(metrics: dict[str, np.ndarray], name: str, seeds: list[int], first: int):
    for key in LOSS_METRICS:
        bad = ~np.isfinite(metrics[key])
        if bad.any():
            s, u = np.argwhere(bad)[0]
            raise TrainingDivergedError(
                f"{name}: {key} became {metrics[key][s, u]} for seed {seeds[s]} at update "
                f"{first + u}; try a lower ppo.lr or ppo.max_grad_norm, or check the env's "
                "rewards"
            )


def _compiled_bytes(compiled) -> int | None:
    try:
        m = compiled.memory_analysis()
        return int(
            m.temp_size_in_bytes
            + m.argument_size_in_bytes
            + m.output_size_in_bytes
            - m.alias_size_in_bytes
        )
    except Exception:  # not every backend reports it
        return None
