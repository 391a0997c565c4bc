"""Compiled training programs of one cell, per seed-group size, and the seed groups that fit
in device memory.

``SeedProgram(train, n)`` compiles the vmapped init and chunk of ``n`` seeds for their device
layout (``trainer.mesh``); each seed (a member) trains with its own traced PPO settings
(``ppo.Hyper``), so a sweep's settings train side by side in the same program. Before
training, ``seed_groups`` asks the compiled chunk how much memory it needs per device; when all
seeds do not fit, they train in the largest groups that do, side by side: every group's state
stays on the device, one group's chunk runs at a time, so only the temporaries are shared.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from pmarl_bench.errors import ConfigError
from pmarl_bench.scale.distributed import to_host
from pmarl_bench.trainer import mesh
from pmarl_bench.trainer.ppo import Hyper, Train


def compile_interruptibly(lowered):
    """``lowered.compile()``, run in a helper thread while the main thread waits: a signal
    handler runs only between Python bytecodes, so Ctrl-C during a compile of many seconds
    would otherwise wait for its end. The CLI then exits without waiting for the compile."""
    if threading.current_thread() is not threading.main_thread():
        return lowered.compile()
    done: dict[str, Any] = {}

    def work() -> None:
        try:
            done["program"] = lowered.compile()
        except BaseException as err:  # handed to the caller below
            done["error"] = err

    worker = threading.Thread(target=work, name="xla-compile", daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(0.1)  # a signal's handler runs between these waits
    if "error" in done:
        raise done["error"]
    return done["program"]


def cell_mesh(train: Train, num_seeds: int) -> mesh.CellMesh | None:
    """The device layout of ``num_seeds`` seeds of a cell: seeds over devices, then each
    seed's envs (see ``trainer.mesh``); None on one device."""
    rows = [g.num_envs for g in train.envs.groups]
    return mesh.plan(num_seeds, [*rows, train.envs.batch // train.cfg.num_minibatches])


@dataclass(frozen=True)
class Memory:
    """Per-device bytes of a compiled chunk (XLA's memory analysis)."""

    state: int  # the RunnerState of its seeds (arguments)
    temp: int  # temporaries while it runs
    extra_out: int  # outputs not written over the donated state (metrics)


class SeedProgram:
    """The vmapped init and chunk programs of ``num_seeds`` seeds, compiled for their layout."""

    def __init__(self, train: Train, num_seeds: int):
        self.num_seeds = num_seeds
        self.layout = cell_mesh(train, num_seeds)

        def init(seed: jax.Array):  # from the integer seed, so inputs are plain host arrays
            return train.init(jax.random.key(seed))

        seeds = jax.ShapeDtypeStruct((num_seeds,), jnp.int32)
        state = jax.eval_shape(jax.vmap(init), seeds)
        hyper = Hyper(*[jax.ShapeDtypeStruct((num_seeds,), jnp.float32)] * len(Hyper._fields))
        self.abstract_state = state
        self.seeds_sharding = None if self.layout is None else self.layout.seeds()
        self.state_shardings = None
        # init compiles on first use: sizes compiled only to ask their memory never run it
        if self.layout is None:
            # one seed at a time (``lax.map``): the same state bit for bit as ``vmap`` (tested),
            # and it compiles in about half the time (the batched random draws of parameter
            # initialisers are a large program), for a step that runs once per cell
            self._lower_init = lambda: jax.jit(lambda s: jax.lax.map(init, s)).lower(seeds)
            chunk = jax.jit(jax.vmap(train.chunk), donate_argnums=0)
            self._chunk = compile_interruptibly(chunk.lower(state, hyper))
            return
        layout = self.layout
        vmap = functools.partial(jax.vmap, spmd_axis_name=mesh.SEED)
        states = layout.state(state)
        self.state_shardings = states

        def lower_init():
            with jax.set_mesh(layout.mesh):
                spread = {"in_shardings": layout.seeds(), "out_shardings": states}
                return jax.jit(vmap(init), **spread).lower(seeds)

        self._lower_init = lower_init
        with jax.set_mesh(layout.mesh):  # ``mesh.shard_rows`` inside the trainer reads it
            chunk = jax.jit(
                vmap(train.chunk),
                in_shardings=(states, layout.seeds()),
                out_shardings=(states, layout.seeds()),
                donate_argnums=0,
            )
            self._chunk = compile_interruptibly(chunk.lower(state, hyper))

    @functools.cached_property
    def _init(self):
        return compile_interruptibly(self._lower_init())

    def init(self, seeds: list[int]):
        """The initial state of ``seeds`` (every process passes the same ones)."""
        values: Any = np.asarray(seeds, np.int32)
        if self.seeds_sharding is not None:  # a host array may go to other processes' devices
            values = jax.device_put(values, self.seeds_sharding)
        return self._init(values)

    def hyper(self, settings: list[Hyper]) -> Hyper:
        """Every member's traced settings (scalars, one ``Hyper`` each) as the ``[n]`` arrays
        ``chunk`` takes, placed like the seeds."""
        stacked = Hyper(*(np.asarray(v, np.float32) for v in zip(*settings, strict=True)))
        if self.seeds_sharding is None:
            return jax.device_put(stacked)
        return jax.tree.map(lambda x: _put(x, self.seeds_sharding), stacked)

    def chunk(self, state, hyper: Hyper):
        """One chunk of updates of every member (``hyper``: from ``self.hyper``)."""
        return self._chunk(state, hyper)

    def to_leaves(self, state) -> list[np.ndarray]:
        """The state as host arrays (PRNG keys as their raw data), gathered from every
        process in a distributed job; ``from_leaves`` puts them back bit for bit."""
        host = to_host(
            [jax.random.key_data(x) if _is_key(x) else x for x in jax.tree.leaves(state)]
        )
        return [np.asarray(x) for x in host]

    def from_leaves(self, leaves: list[np.ndarray]):
        """A state from ``to_leaves`` form, placed on the devices as ``chunk`` expects."""
        specs, treedef = jax.tree.flatten(self.abstract_state)
        shardings = (
            [None] * len(specs)
            if self.state_shardings is None
            else jax.tree.leaves(self.state_shardings)
        )
        placed = []
        for x, spec, sharding in zip(leaves, specs, shardings, strict=True):
            value = jax.random.wrap_key_data(jnp.asarray(x)) if _is_key(spec) else x
            if value.shape != spec.shape:
                raise ValueError(f"a state leaf of shape {value.shape}, expected {spec.shape}")
            placed.append(_put(value, sharding))
        return jax.tree.unflatten(treedef, placed)

    @property
    def devices(self) -> tuple[int, int]:
        """(seed devices, data devices)"""
        layout = self.layout
        return (1, 1) if layout is None else (layout.seed_devices, layout.data_devices)

    def memory(self) -> Memory | None:
        try:
            m = self._chunk.memory_analysis()
            if m is None:
                return None
            return Memory(
                state=int(m.argument_size_in_bytes),
                temp=int(m.temp_size_in_bytes),
                extra_out=max(0, int(m.output_size_in_bytes - m.alias_size_in_bytes)),
            )
        except Exception:  # not every backend reports it
            return None


def state_leaf_specs(train: Train, num_seeds: int) -> list[jax.ShapeDtypeStruct]:
    """Shapes and types of ``SeedProgram.to_leaves`` for ``num_seeds`` seeds (nothing is
    compiled)."""
    seeds = jax.ShapeDtypeStruct((num_seeds,), jnp.int32)
    state = jax.eval_shape(jax.vmap(lambda s: train.init(jax.random.key(s))), seeds)
    return [
        jax.eval_shape(jax.random.key_data, x) if _is_key(x) else x for x in jax.tree.leaves(state)
    ]


def _is_key(x) -> bool:
    return jnp.issubdtype(x.dtype, jax.dtypes.prng_key)


def _put(value, sharding):
    if sharding is None:
        return jax.device_put(value)
    if jax.process_count() == 1:
        return jax.device_put(value, sharding)
    # every process holds the whole host value: each places its own devices' parts (keys as
    # their raw data, with the data's extra axis unsharded, then wrapped where they lie)
    if not _is_key(value):
        return jax.make_array_from_callback(value.shape, sharding, lambda index: value[index])
    data = np.asarray(jax.random.key_data(value))
    spec = jax.sharding.PartitionSpec(*sharding.spec, None)
    placed = jax.make_array_from_callback(
        data.shape, jax.sharding.NamedSharding(sharding.mesh, spec), lambda index: data[index]
    )
    return jax.jit(jax.random.wrap_key_data, out_shardings=sharding)(placed)


class ProgramCache:
    """``cache(n)``: the ``SeedProgram`` of ``n`` seeds of ``train``, compiled on first use."""

    def __init__(self, train: Train):
        self.train = train
        self._programs: dict[int, SeedProgram] = {}

    def __call__(self, num_seeds: int) -> SeedProgram:
        if num_seeds not in self._programs:
            self._programs[num_seeds] = SeedProgram(self.train, num_seeds)
        return self._programs[num_seeds]


def device_memory_limit() -> int | None:
    """Bytes a local device can hold (the smallest, if they differ); None where the backend
    does not say (the CPU)."""
    limits = []
    for device in jax.local_devices():
        stats = device.memory_stats()
        if not stats or "bytes_limit" not in stats:
            return None
        limits.append(int(stats["bytes_limit"]))
    return min(limits)


class DoesNotFitError(ConfigError):
    """Even one seed at a time needs more device memory than there is."""


def seed_groups(
    seeds: list[int], program, limit: int | None, name: str = "cell"
) -> list[list[int]]:
    """``seeds`` cut into consecutive groups, as few as fit in ``limit`` bytes per device
    (all in one group when ``limit`` is None or the backend reports no memory).
    ``program``: a ``ProgramCache``."""
    if limit is None:
        return [seeds]
    full = _peak([seeds], program)
    if full is None or full <= limit:
        return [seeds]
    n = len(seeds)
    # Temporaries grow about linearly in the seeds: interpolate between one seed and all of
    # them for a first size, then let the compiled programs correct it (each size compiles
    # once).
    one, every = program(1).memory(), program(n).memory()
    assert one is not None and every is not None  # the full size reported its memory
    slope = (every.temp + every.extra_out - one.temp - one.extra_out) / max(n - 1, 1)
    base = n * one.state + one.temp + one.extra_out
    size = int((limit - base) // slope) + 1 if slope > 0 else 1
    size = min(max(size, 1), max(n - 1, 1))

    def fits(size: int) -> bool:
        peak = _peak(_split(seeds, size), program)
        return peak is not None and peak <= limit

    while size > 1 and not fits(size):
        size -= 1
    while size < n - 1 and fits(size + 1):
        size += 1
    if fits(size):
        return _split(seeds, size)
    raise DoesNotFitError(
        f"even one seed at a time needs about {_gib(_peak(_split(seeds, 1), program))} "
        f"per device (every seed's state plus one seed's temporaries), more than the "
        f"{_gib(limit)} available; lower ppo.num_envs or ppo.rollout_length, or run fewer seeds",
        name,
    )


def _split(seeds: list[int], size: int) -> list[list[int]]:
    return [seeds[i : i + size] for i in range(0, len(seeds), size)]


def _peak(groups: list[list[int]], program) -> int | None:
    """Per-device bytes while training ``groups`` side by side (the largest group's chunk)."""
    memories = [program(len(g)).memory() for g in groups]
    if any(m is None for m in memories):
        return None
    states = sum(m.state for m in memories)
    return max(states + m.temp + m.extra_out for m in memories)


def _gib(n: int | None) -> str:
    return "?" if n is None else f"{n / 2**30:.2f} GiB"
