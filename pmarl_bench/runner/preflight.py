"""Sizes checked before any folder is made or anything compiles: a cell that cannot fit (a
network 10^9 wide, a million trials in one program, counters past int32) is one line naming
the value, the estimate and the limit, instead of a hang, an XLA abort or an overflow inside
training after its folders exist.

The memory estimate is a lower bound from shapes alone (no compilation): per run (a seed of
a trial) the parameters with their gradients and Adam's two moments, and the rollout's
observations; the compiled program needs at least that. ``run --dry-run`` compiles each cell
and reports XLA's own figure.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import jax
import numpy as np

from pmarl_bench.errors import ConfigError
from pmarl_bench.suites.cell import Cell
from pmarl_bench.trainer.programs import device_memory_limit

#: seeds x trials that one compiled program may train side by side
MAX_RUNS_PER_PROGRAM = 10_000
#: what an int32 counter or array index holds (steps, batch rows)
INT32_MAX = 2**31 - 1
#: per parameter: itself, its gradient and Adam's two moments (float32)
_BYTES_PER_PARAM = 4 * 4


@dataclass(frozen=True)
class Estimate:
    runs: int  # seeds x trials in the cell's one program
    params: int  # per run
    bytes_per_run: int  # the lower bound above

    @property
    def bytes(self) -> int:
        return self.runs * self.bytes_per_run


def estimate(cell: Cell) -> Estimate:
    """The cell's runs and memory lower bound, from shapes (nothing is allocated)."""
    env, _, agent, train = cell.build()
    shapes = jax.eval_shape(agent.init, jax.ShapeDtypeStruct((), jax.random.key(0).dtype))
    params = sum(math.prod(x.shape) for x in jax.tree.leaves(shapes))
    space = env.observation_space
    parts = [box for _, box in space.spaces] if hasattr(space, "spaces") else [space]
    obs = sum(math.prod(box.shape) * np.dtype(box.dtype).itemsize for box in parts)
    rollout = train.agent_steps_per_update * (obs + 16)  # + action, reward, value, log-prob
    runs = len(cell.seeds) * max(1, len(cell.trials))
    return Estimate(runs, params, params * _BYTES_PER_PARAM + rollout)


def host_memory() -> int | None:
    """This machine's physical memory in bytes (None where the OS does not say)."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_cells(cells: list[Cell], memory_limit: int | str | None = "device") -> None:
    """Refuse, with one ``ConfigError`` naming the cell, the first cell whose sizes cannot
    run: more runs in one program than ``MAX_RUNS_PER_PROGRAM``, a batch past int32, or a
    memory estimate over the limit. ``memory_limit``: bytes per device (seeds that do not
    fit together train in groups, so one run must fit), ``"device"`` (what the device
    reports; on the CPU, where seeds are never grouped, all runs must fit in the host's
    memory) or None (no memory check)."""
    grouped = memory_limit != "device" or device_memory_limit() is not None
    if memory_limit == "device":
        memory_limit = device_memory_limit() or host_memory()
    for cell in cells:
        _check(cell, memory_limit, grouped)


def _check(cell: Cell, limit: int | None, grouped: bool) -> None:
    runs = len(cell.seeds) * max(1, len(cell.trials))
    seeds = f"{len(cell.seeds):,} seed{'s' if len(cell.seeds) > 1 else ''}"
    what = seeds + (f" x {len(cell.trials):,} trials" if cell.trials else "")
    if runs > MAX_RUNS_PER_PROGRAM:
        raise ConfigError(
            f"{what} = {runs:,} runs in one compiled program; at most "
            f"{MAX_RUNS_PER_PROGRAM:,} (fewer seeds or trials, or --no-preflight)",
            cell.name,
        )
    est = estimate(cell)
    rows = est.runs * cell.ppo.num_envs * cell.ppo.rollout_length
    if rows > INT32_MAX:
        raise ConfigError(
            f"{what} x {cell.ppo.num_envs:,} envs x {cell.ppo.rollout_length:,} steps = "
            f"{rows:,} rollout rows per update, past int32 ({INT32_MAX:,})",
            cell.name,
        )
    need = est.bytes_per_run if grouped else est.bytes
    if limit is not None and need > limit:
        per = "one run (seeds train in groups)" if grouped else f"{what} together"
        raise ConfigError(
            f"needs at least {_size(need)} for {per} ({est.params:,} parameters per run), "
            f"more than the {_size(limit)} here (fewer or narrower layers, fewer envs, seeds "
            "or trials, --device-memory, or --no-preflight)",
            cell.name,
        )


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if n < 1000 or unit == "PB":
            return f"{n:,.1f} {unit}" if unit != "B" else f"{n:,.0f} B"
        n /= 1000
    raise AssertionError  # unreachable
