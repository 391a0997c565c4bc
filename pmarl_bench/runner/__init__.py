"""Run a loaded suite: each cell trains all its seeds in one compiled program and is written
atomically. Finished cells with the same config hash are skipped, interrupted ones resume from
their latest snapshot (``runner.cell``), and a finished result of another config is never
replaced unless the user says so."""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console

from pmarl_bench.errors import ConfigError
from pmarl_bench.executor import CellJob, Executor, MemoryLimit
from pmarl_bench.progress import ProgressDisplay, clock
from pmarl_bench.results import lock, staging, store
from pmarl_bench.runner.cell import SNAPSHOT_EVERY, run_cell
from pmarl_bench.runner.preflight import check_cells
from pmarl_bench.scale import distributed
from pmarl_bench.suites.loader import LoadedSuite
from pmarl_bench.trainer import loop

__all__ = ["SNAPSHOT_EVERY", "SuiteRun", "pending_cells", "run_cell", "run_suite"]


@dataclass
class SuiteRun:
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # where --keep-previous moved old results


def run_suite(
    loaded: LoadedSuite,
    results_dir: str | Path = "results",
    *,
    force: bool = False,
    keep_previous: bool = False,
    console: Console | None = None,
    memory_limit: MemoryLimit = loop.DEVICE,
    executor: Executor | None = None,
    snapshot_every: float | None = None,
    loggers: tuple[str, ...] = (),
    preflight: bool = True,
) -> SuiteRun:
    """Train every cell of ``loaded`` not already finished in ``results_dir``.

    A finished cell of another config stops the run with a ``ConfigError`` naming it, unless
    ``force`` (replace it, and start interrupted cells afresh) or ``keep_previous`` (move it
    aside as ``<agent>@previous-...``). ``memory_limit``: bytes per device a cell's seeds must
    fit in (see ``trainer.loop.train_seeds``). ``executor``: where cells run (default: here,
    one after the other; ``executors.ray.RayExecutor`` spreads them over a cluster).
    ``snapshot_every`` (seconds) and ``loggers``: see ``runner.cell.run_cell``.
    ``preflight``: refuse cells whose sizes cannot run (``runner.preflight``) before any
    folder is made.

    One run at a time per suite folder: a second one stops with a ``ConfigError`` (an OS lock
    on the folder). In a ``jax.distributed`` job every process calls this; process 0 decides
    which cells are finished, holds the lock and alone writes results."""
    console = console or Console(stderr=True)
    results_dir = Path(results_dir)
    folder = results_dir / loaded.suite.name
    if preflight:
        check_cells(loaded.cells, memory_limit)
    if distributed.is_primary():  # a planted link is refused before the lock file is made
        if folder.exists() and not folder.is_dir():
            raise ConfigError(f"{folder} is a file, not a suite's results folder",
                              "--results-dir")  # fmt: skip
        for c in loaded.cells:
            store.refuse_cell_links(store.cell_dir(results_dir, loaded.suite.name, c.env_name,
                                                   c.agent_name))  # fmt: skip
    with lock.suite_lock(folder) if distributed.is_primary() else contextlib.nullcontext():
        return _run_locked(
            loaded, results_dir, force, keep_previous, console, memory_limit, executor,
            snapshot_every, loggers,
        )  # fmt: skip


def _run_locked(
    loaded: LoadedSuite,
    results_dir: Path,
    force: bool,
    keep_previous: bool,
    console: Console,
    memory_limit: MemoryLimit,
    executor: Executor | None,
    snapshot_every: float | None,
    loggers: tuple[str, ...],
) -> SuiteRun:
    summary = SuiteRun()
    todo = pending_cells(loaded, results_dir, force, console)
    plan = [{"env": c.env_name, "agent": c.agent_name, "control": c.control}
            for c in loaded.cells]  # fmt: skip
    # the plan, for reports of a partial run and for `status` (cells not started yet), once
    # the run is under way or a cell has results: a refused run leaves nothing
    planned = distributed.is_primary() and not any(c.trials for c in loaded.cells)
    if planned and len(todo) < len(loaded.cells):
        store.write_plan(results_dir / loaded.suite.name, plan)
    if distributed.is_primary():
        summary.kept = _make_room(todo, force, keep_previous, console)
    names = {job.cell.name for job in todo}
    summary.skipped = [c.name for c in loaded.cells if c.name not in names]
    if not todo:
        return summary
    plan_file = results_dir / loaded.suite.name / store.PLAN_FILE
    fresh_plan = planned and not plan_file.exists()
    if planned:
        store.write_plan(results_dir / loaded.suite.name, plan)
    try:
        return _train_all(loaded, results_dir, todo, summary, console, memory_limit, executor,
                          snapshot_every, loggers, plan if planned else None)  # fmt: skip
    except BaseException:
        # refused or stopped before any cell left a result or a staging folder: the plan
        # goes too, so such a run leaves nothing behind
        left = any(store.is_complete(j.path) or store.running_dir(j.path).exists() for j in todo)
        if fresh_plan and not left:
            plan_file.unlink(missing_ok=True)
        raise


def _train_all(
    loaded: LoadedSuite,
    results_dir: Path,
    todo: list[CellJob],
    summary: SuiteRun,
    console: Console,
    memory_limit: MemoryLimit,
    executor: Executor | None,
    snapshot_every: float | None,
    loggers: tuple[str, ...],
    plan: list[dict] | None,
) -> SuiteRun:
    planned = plan is not None
    train = functools.partial(run_cell, snapshot_every=snapshot_every, loggers=tuple(loggers))
    if executor is not None:
        executor.run(todo, train, console=console, memory_limit=memory_limit)
        if planned:
            store.write_plan(results_dir / loaded.suite.name, plan)
    else:
        visible = distributed.is_primary()
        # "cell k of N" in every line: where a long suite stands, in a log too
        labels = [f"{job.cell.name} ({k} of {len(todo)})" for k, job in enumerate(todo, 1)]
        eta = SuiteClock(loaded.suite.name, [job.cell for job in todo])
        with ProgressDisplay(console, labels, visible=visible) as bars:
            for k, (job, label) in enumerate(zip(todo, labels, strict=True), 1):
                train(job.cell, job.path, bars.reporter(label), memory_limit=memory_limit)
                if planned:
                    store.write_plan(results_dir / loaded.suite.name, plan)
                if visible and k < len(todo):
                    console.print(eta.line(k), highlight=False)
    summary.ran = [job.cell.name for job in todo]
    return summary


class SuiteClock:
    """The suite's ETA between cells: the time per env step (all seeds) of the cells trained
    so far, times the env steps of the cells left (a rough guide: cells differ in cost)."""

    def __init__(self, name: str, cells: list):
        self.name, self.start = name, time.monotonic()
        self.steps = [c.ppo.total_env_steps * len(c.seeds) * max(1, len(c.trials))
                      for c in cells]  # fmt: skip

    def line(self, done: int) -> str:
        elapsed = time.monotonic() - self.start
        left = elapsed / max(1, sum(self.steps[:done])) * sum(self.steps[done:])
        return (f"suite {self.name}: {done} of {len(self.steps)} cells in {clock(elapsed)}; "
                f"about {clock(left)} left (at the rate of the cells so far)")  # fmt: skip


def pending_cells(
    loaded: LoadedSuite, results_dir: Path, force: bool, console: Console
) -> list[CellJob]:
    """The cells to train and their folders: all with ``force``, else those without a
    finished result for their config (process 0's view, in a distributed job)."""
    primary = distributed.is_primary()
    suite = loaded.suite
    if primary:
        stale = store.remove_stale_tmp(results_dir, suite.name)
        if stale:
            console.print(f"removed {stale} half-written folder(s) left by an interrupted run")
    paths = [
        store.cell_dir(results_dir, suite.name, c.env_name, c.agent_name) for c in loaded.cells
    ]
    finished = np.array(
        [
            primary and not force and store.is_finished(path, cell.config_hash())
            for cell, path in zip(loaded.cells, paths, strict=True)
        ]
    )
    finished = distributed.broadcast(finished)
    for cell, path, done in zip(loaded.cells, paths, finished, strict=True):
        if done and primary:
            store.clean_finished(path)  # leftovers of a kill right after it was installed
            console.print(f"[dim]skip[/] {cell.name}: finished ({path})")
    return [
        CellJob(c, p) for c, p, done in zip(loaded.cells, paths, finished, strict=True) if not done
    ]


def _make_room(
    jobs: list[CellJob], force: bool, keep_previous: bool, console: Console
) -> list[str]:
    """Check that training ``jobs`` loses nothing the user did not give up: stop with one
    line naming the cells whose finished result (or interrupted run) is of another config,
    unless ``force`` or ``keep_previous`` say what to do with them. Returns where kept
    results went."""
    busy = [job.cell.name for job in jobs if _trained_elsewhere(job.path)]
    if busy:
        raise ConfigError(
            f"{', '.join(busy)}: being trained by another process right now (see "
            "pmarl-bench status); wait for it, or stop it first"
        )
    old, unfinished = [], []
    for job in jobs:
        manifest = store.read_manifest(job.path)
        if manifest is not None and manifest.get("status") == "complete":
            old.append((job, _changes(manifest.get("config", {}), job.cell.resolved_config())))
        snapshot = staging.latest_snapshot(store.running_dir(job.path))
        if snapshot is not None and snapshot.info.get("config_hash") != job.cell.config_hash():
            unfinished.append(job)
    if force:
        for job in jobs:
            shutil.rmtree(store.running_dir(job.path), ignore_errors=True)
        return []
    kept = []
    if old and keep_previous:
        for job, _ in old:
            kept.append(str(store.keep_previous(job.path)))
            console.print(f"kept the previous result of {job.cell.name} as {kept[-1]}")
        old = []
    if old or unfinished:
        named = [f"{job.cell.name} ({what})" for job, what in old]
        named += [f"{job.cell.name} (an interrupted run of another config)" for job in unfinished]
        keep = " or keep both with --keep-previous" if old else ""
        raise ConfigError(
            f"would replace results of another config: {'; '.join(named)}. Write elsewhere "
            f"with --results-dir DIR, replace them with --force{keep}"
        )
    return kept


def _trained_elsewhere(path: Path) -> bool:
    status = staging.read_status(store.running_dir(path))
    return (
        status is not None
        and staging.effective_state(status) == staging.RUNNING
        and status.get("pid") != os.getpid()
    )


def _changes(old: dict, new: dict) -> str:
    """What differs between two resolved configs, briefly: 'seeds [0, 1, 2, 3, 4] -> [0, 1];
    ppo.total_env_steps 2000000 -> 100000'."""
    names = {"ppo.total_env_steps": "steps"}  # as the suite and the CLI call it
    diffs = [(names.get(k, k), a, b) for k, a, b in _diff(old, new, "")]
    diffs.sort(key=lambda d: (d[0] not in ("seeds", "steps"), d[0]))
    shown = "; ".join(f"{k} {_short(a)} -> {_short(b)}" for k, a, b in diffs[:3])
    more = f"; and {len(diffs) - 3} more" if len(diffs) > 3 else ""
    return (shown + more) or "code or format changed"


def _diff(old: Any, new: Any, prefix: str) -> list[tuple[str, Any, Any]]:
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for key in sorted(set(old) | set(new), key=str):
            name = f"{prefix}.{key}" if prefix else str(key)
            out += _diff(old.get(key), new.get(key), name)
        return out
    return [] if old == new else [(prefix, old, new)]


def _short(value: Any) -> str:
    text = "unset" if value is None else str(value)
    return text if len(text) <= 40 else text[:37] + "..."
