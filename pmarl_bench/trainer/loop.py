"""The host side of training one cell: compile once, run jitted chunks of updates over all
seeds (vmapped, spread over the devices), report progress and stop on NaN between chunks.
Training can start from a snapshot of its state taken between chunks (``Resume``) and goes on
exactly as it would have."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import numpy as np

from pmarl_bench.errors import TrainingDivergedError
from pmarl_bench.scale.distributed import to_host
from pmarl_bench.trainer.ppo import LOSS_METRICS, Hyper, Train
from pmarl_bench.trainer.programs import (
    Memory,
    ProgramCache,
    device_memory_limit,
    seed_groups,
)

#: ``memory_limit`` default: what the device reports (none on the CPU)
DEVICE = "device"


@dataclass
class Progress:
    """What the host knows after each chunk (for progress bars)."""

    updates: int
    num_updates: int
    env_steps: int  # per seed
    # all seeds; after the first chunk, over the chunks since it (its time holds the
    # program's first-run costs, which would make an early ETA far too long)
    agent_steps_per_second: float
    latest_return: float  # mean over seeds of the last update's episode return (NaN: none)


@dataclass
class Resume:
    """Where an earlier, interrupted training of the same cell stopped: after ``updates``
    updates (a whole number of chunks), with the state of all seeds as host leaves (in
    ``ChunkDone.state_leaves`` form) and the metrics so far (``{name: [seeds, updates]}``)."""

    updates: int
    leaves: list[np.ndarray]
    metrics: dict[str, np.ndarray]


@dataclass
class ChunkDone:
    """What ``on_chunk`` gets after each chunk; the getters copy from the devices (in a
    distributed job every process must call the same ones)."""

    updates: int  # done so far
    params: Callable[[], Any]  # of all seeds, stacked in seed order
    state_leaves: Callable[[], list[np.ndarray]]  # the whole state of all seeds, host arrays
    metrics: Callable[[], dict[str, np.ndarray]]  # so far: name -> [seeds, updates]


@dataclass
class TrainResult:
    metrics: dict[str, np.ndarray]  # name -> [seeds, num_updates]
    states: list[Any]  # final RunnerState of each seed group (stacked over its seeds, on device)
    groups: list[list[int]]  # the seeds trained together (one group unless memory is short)
    devices: tuple[int, int]  # (seed devices, data devices) of the first group's program
    compile_seconds: float
    run_seconds: float  # this call's (after a resume: since it)
    agent_steps: int  # all seeds together, in this call
    compiled_memory_bytes: int | None  # per device, while the largest group's chunk runs
    resumed_from: int = 0  # the update this call started at

    @functools.cached_property
    def params(self) -> Any:
        """Final parameters stacked over all seeds, in seed order (on the host when they span
        several processes or groups). In a distributed job every process must ask for them
        (they are gathered from all); later calls reuse the first."""
        return _stack([s.params for s in self.states])

    @property
    def agent_steps_per_second(self) -> float:
        return self.agent_steps / self.run_seconds if self.run_seconds > 0 else float("nan")


def train_seeds(
    train: Train,
    seeds: list[int],
    *,
    name: str = "cell",
    on_progress: Callable[[Progress], None] | None = None,
    on_chunk: Callable[[ChunkDone], float | None] | None = None,
    on_compiled: Callable[[float], None] | None = None,
    memory_limit: int | str | None = DEVICE,
    programs: ProgramCache | None = None,
    resume: Resume | None = None,
    settings: list[Hyper] | None = None,
) -> TrainResult:
    """Train all ``seeds`` of a cell (members of a sweep: a seed may repeat, each time with
    its own ``settings``, the traced PPO settings of each member; default: the config's).
    ``on_chunk`` runs on the host after every chunk (e.g. to save parameters or snapshot the
    state); an exception it raises stops training. It may return the seconds it spent
    measuring the policy (an evaluation during training), which the training rate leaves out.
    ``on_compiled(seconds)`` runs once the programs are compiled, before the first chunk.
    ``memory_limit``: bytes per device the seeds must fit in (``"device"``: what the device
    reports; None: no limit); seeds that do not fit together train in groups.
    ``programs``: compiled programs to reuse (of this ``train``). ``resume``: go on from an
    earlier call's ``ChunkDone`` state; the result is that of an uninterrupted call.
    A chunk whose losses are not finite raises ``TrainingDivergedError`` with ``metrics``:
    everything up to and including that chunk."""
    t0 = time.perf_counter()
    program = programs or ProgramCache(train)

    limit = device_memory_limit() if isinstance(memory_limit, str) else memory_limit
    groups = seed_groups(seeds, program, limit, name)
    settings = settings if settings is not None else [train.defaults] * len(seeds)
    if len(settings) != len(seeds):
        raise ValueError(f"{len(settings)} settings for {len(seeds)} seeds")
    firsts = np.cumsum([0, *map(len, groups)])
    hypers = [
        program(len(g)).hyper(settings[first : first + len(g)])
        for g, first in zip(groups, firsts, strict=False)
    ]
    start = 0 if resume is None else resume.updates // train.updates_per_chunk
    if resume is None:
        states = [program(len(g)).init(g) for g in groups]
    else:
        if resume.updates % train.updates_per_chunk or resume.updates > train.num_updates:
            raise ValueError(f"{name}: cannot resume after update {resume.updates}")
        states = _place(resume.leaves, groups, program)
    compile_seconds = time.perf_counter() - t0
    if on_compiled is not None:
        on_compiled(compile_seconds)

    chunks: list[dict[str, np.ndarray]] = [] if resume is None else [resume.metrics]
    agent_steps_per_chunk = len(seeds) * train.updates_per_chunk * train.agent_steps_per_update
    t_run = time.perf_counter()
    measuring = 0.0  # seconds on_chunk spent evaluating, left out of the rates
    for i in range(start, train.num_chunks):
        # groups take turns on the device; their metrics join in seed order
        outs = [program(len(g)).chunk(s, h) for g, s, h in zip(groups, states, hypers, strict=True)]
        states = [state for state, _ in outs]
        metrics = _concat(to_host([m for _, m in outs]))  # waits for the chunk
        chunks.append(metrics)
        try:
            _check_finite(metrics, name, seeds, i * train.updates_per_chunk)
        except TrainingDivergedError as err:
            err.metrics = _merge(chunks)  # type: ignore[attr-defined]
            raise
        done = (i + 1) * train.updates_per_chunk
        if on_chunk is not None:
            # getters of the state after this chunk (called before the next one donates it)
            now = list(states)
            spent = on_chunk(
                ChunkDone(
                    updates=done,
                    params=functools.partial(_params, now),
                    state_leaves=functools.partial(_leaves, now, groups, program),
                    metrics=functools.partial(_merge, chunks),
                )
            )
            measuring += spent or 0.0
        t_now = time.perf_counter() - measuring
        if i == start:
            t_first = t_now  # the steady rate is measured from here on
        if on_progress is not None:
            since, timed = (t_run, 1) if i == start else (t_first, i - start)
            ret = metrics["episode_return"][:, -1]
            on_progress(
                Progress(
                    updates=done,
                    num_updates=train.num_updates,
                    env_steps=done * train.env_steps_per_update,
                    agent_steps_per_second=timed * agent_steps_per_chunk / (t_now - since),
                    latest_return=float(np.nanmean(ret)) if np.isfinite(ret).any() else np.nan,
                )
            )
    run_seconds = time.perf_counter() - measuring - t_run
    memories = [program(len(g)).memory() for g in groups]
    return TrainResult(
        metrics=_merge(chunks),
        states=states,
        groups=groups,
        devices=program(len(groups[0])).devices,
        compile_seconds=compile_seconds,
        run_seconds=run_seconds,
        agent_steps=(train.num_chunks - start) * agent_steps_per_chunk,
        compiled_memory_bytes=_compiled_bytes(memories),
        resumed_from=start * train.updates_per_chunk,
    )


def _merge(chunks: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {k: np.concatenate([c[k] for c in chunks], axis=1) for k in chunks[0]}


def _params(states: list[Any]) -> Any:
    return _stack([s.params for s in states])


def _leaves(states: list[Any], groups: list[list[int]], program: ProgramCache) -> list:
    """The state of every group as host leaves over all seeds (in seed order)."""
    parts = [program(len(g)).to_leaves(s) for g, s in zip(groups, states, strict=True)]
    return [np.concatenate(xs) for xs in zip(*parts, strict=True)]


def _place(leaves: list[np.ndarray], groups: list[list[int]], program: ProgramCache) -> list:
    """Host leaves over all seeds -> each group's state, placed as its chunk expects."""
    states, first = [], 0
    for g in groups:
        part = [x[first : first + len(g)] for x in leaves]
        states.append(program(len(g)).from_leaves(part))
        first += len(g)
    return states


def _compiled_bytes(memories: list[Memory | None]) -> int | None:
    """Every group's state stays on the device; the largest group's temporaries come and go."""
    known = [m for m in memories if m is not None]
    if len(known) < len(memories):
        return None
    return sum(m.state for m in known) + max(m.temp + m.extra_out for m in known)


def _stack(trees: list[Any]) -> Any:
    if len(trees) == 1 and jax.process_count() == 1:
        return trees[0]
    return jax.tree.map(lambda *xs: np.concatenate(xs), *to_host(trees))


def _concat(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    if len(parts) == 1:
        return parts[0]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


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


__all__ = ["DEVICE", "ChunkDone", "Progress", "Resume", "TrainResult", "train_seeds"]
