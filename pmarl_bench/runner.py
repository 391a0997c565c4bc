"""Run a loaded suite: each cell trains all its seeds in one compiled program and is written
atomically; finished cells with the same config hash are skipped."""

from __future__ import annotations

import datetime as dt
import functools
import importlib.metadata
import platform
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import jax
import numpy as np
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from pmarl_bench import bench, checkpoints
from pmarl_bench.envs.multitask import MultiTask
from pmarl_bench.results import store
from pmarl_bench.scale import distributed
from pmarl_bench.suites.loader import Cell, LoadedSuite
from pmarl_bench.trainer import evaluate, loop

#: ``report(env_steps_done, info, total_env_steps)``: a cell's progress, for a progress bar
Report = Callable[[int, str, int], None]


@dataclass
class SuiteRun:
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def run_suite(
    loaded: LoadedSuite,
    results_dir: str | Path = "results",
    *,
    force: bool = False,
    console: Console | None = None,
    memory_limit: int | str | None = loop.DEVICE,
    executor=None,
) -> SuiteRun:
    """Train every cell of ``loaded`` not already finished in ``results_dir`` (all with
    ``force``). ``memory_limit``: bytes per device a cell's seeds must fit in (see
    ``trainer.loop.train_seeds``). ``executor``: where cells run (default: here, one after
    the other; ``scale.ray_executor.RayExecutor`` spreads them over a cluster).

    In a ``jax.distributed`` job every process calls this; process 0 decides which cells are
    finished and alone writes results."""
    console = console or Console(stderr=True)
    results_dir = Path(results_dir)
    summary = SuiteRun()
    todo = pending_cells(loaded, results_dir, force, console)
    summary.skipped = [c.name for c in loaded.cells if c.name not in {t.name for t, _ in todo}]
    if not todo:
        return summary
    if executor is not None:
        executor.run(todo, console=console, memory_limit=memory_limit)
    else:
        with progress_bars(console, visible=distributed.is_primary()) as bars:
            for cell, path in todo:
                run_cell(cell, path, bars.reporter(cell), memory_limit=memory_limit)
    summary.ran = [cell.name for cell, _ in todo]
    return summary


def pending_cells(
    loaded: LoadedSuite, results_dir: Path, force: bool, console: Console
) -> list[tuple[Cell, Path]]:
    """The cells to train and their folders: all with ``force``, else those without a
    finished result for their config (process 0's view, in a distributed job)."""
    primary = distributed.is_primary()
    suite = loaded.suite
    if primary:
        stale = store.remove_stale_tmp(results_dir, suite.name)
        if stale:
            console.print(f"removed {stale} unfinished cell folder(s) left by an interrupted run")
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
            console.print(f"[dim]skip[/] {cell.name}: finished ({path})")
    return [(c, p) for c, p, done in zip(loaded.cells, paths, finished, strict=True) if not done]


class progress_bars:
    """A rich progress display with one bar per cell (hidden with ``visible=False``)."""

    COLUMNS = (
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(bar_width=20),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
    )

    def __init__(self, console: Console, visible: bool = True):
        self.progress = Progress(*self.COLUMNS, console=console, disable=not visible)

    def __enter__(self) -> progress_bars:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.__exit__(*exc)

    def reporter(self, cell: Cell, info: str = "") -> Report:
        task = self.progress.add_task(cell.name, total=None, info=info)

        def report(env_steps: int, info: str, total: int) -> None:
            self.progress.update(task, completed=env_steps, total=total, info=info)

        return report


def run_cell(
    cell: Cell,
    path: Path,
    report: Report | None = None,
    *,
    memory_limit: int | str | None = loop.DEVICE,
) -> dict | None:
    """Train one cell and write its folder (only process 0 of a distributed job writes;
    the others return None)."""
    bench.reset_host_peak()  # so the manifest's peak covers this cell, not earlier ones
    env, env_params, agent, train = cell.build()
    seeds = list(cell.seeds)
    total = train.num_updates * train.env_steps_per_update
    primary = distributed.is_primary()

    def say(env_steps: int, info: str) -> None:
        if report is not None:
            report(env_steps, f"{len(seeds)} seeds · {info}", total)

    def on_progress(p: loop.Progress) -> None:
        ret = "–" if np.isnan(p.latest_return) else f"{p.latest_return:.3g}"
        say(p.env_steps, f"{_human(p.env_steps)}/{_human(total)} env steps · "
            f"{_human(p.agent_steps_per_second)} agent-steps/s · return {ret}")  # fmt: skip

    say(0, "compiling…")
    # checkpoints land in the stage folder; the cell appears when complete
    stage = store.stage_dir(path) if primary else None
    try:
        saved = []
        every = cell.checkpoint_every
        evaluated = bool(evaluate.evaluations(env, env_params, agent))
        kept = {}  # label -> parameters of the checkpoints the final policy plays against

        def on_chunk(params, updates: int) -> None:
            steps = updates * train.env_steps_per_update
            previous = (updates - train.updates_per_chunk) * train.env_steps_per_update
            if every and steps // every > previous // every and updates < train.num_updates:
                label = checkpoints.update_label(updates)
                if primary:
                    checkpoints.save(stage, label, params)
                    if evaluated:
                        kept[label] = distributed.to_host(params)
                saved.append({"label": label, "update": updates, "env_steps": steps})

        result = loop.train_seeds(
            train,
            seeds,
            name=cell.name,
            on_progress=on_progress,
            on_chunk=on_chunk if every else None,
            memory_limit=memory_limit,
        )
        params = result.params  # gathered from every process in a distributed job
        if not primary:
            return None
        checkpoints.save(stage, checkpoints.FINAL, params)
        saved.append({"label": checkpoints.FINAL, "update": train.num_updates, "env_steps": total})
        if evaluated:
            say(total, f"evaluating (against random agents and {len(kept)} checkpoint(s))…")
        evals = evaluate.evaluate_seeds(env, env_params, agent, params, seeds, kept)
        manifest = _write(
            cell, path, stage, env, env_params, agent, train, result, evals, saved, total
        )
    except BaseException:
        if stage is not None:
            shutil.rmtree(stage, ignore_errors=True)
        raise
    say(total, f"{_human(total)} env steps · {_human(result.agent_steps_per_second)} steps/s · "
        f"compile {result.compile_seconds:.0f}s, run {result.run_seconds:.0f}s")  # fmt: skip
    return manifest


def _write(cell, path, stage, env, env_params, agent, train, result, evals, saved, total):
    seeds = list(cell.seeds)
    params0 = jax.tree.map(lambda x: x[0], result.params)
    manifest = {
        "suite": cell.suite,
        "env": cell.env_name,
        "agent": cell.agent_name,
        "cell": cell.name,
        "config": cell.resolved_config(),
        "config_hash": cell.config_hash(),
        "seeds": seeds,
        "num_updates": train.num_updates,
        "env_steps_per_seed": total,
        "num_agents": env.num_agents,  # None for a multi-task env: see "tasks"
        **_tasks(env, env_params, train),
        "num_params": agent.num_params(params0),
        "score_levels": asdict(env.score_levels(env_params)),
        "compile_seconds": result.compile_seconds,
        "run_seconds": result.run_seconds,
        "agent_steps": result.agent_steps,
        "agent_steps_per_second": result.agent_steps_per_second,
        "env_steps_per_second": result.agent_steps_per_second
        * train.env_steps_per_update
        / train.agent_steps_per_update,
        "evaluation": _evaluation(*evals),
        "checkpoints": saved,
        "compiled_memory_bytes": result.compiled_memory_bytes,
        "mesh": {"seed": result.devices[0], "data": result.devices[1]},
        "processes": jax.process_count(),
        "seed_groups": result.groups,
        "peak_host_memory_bytes": bench.host_peak_bytes(),
        "peak_device_memory_bytes": _device_peak_bytes(),
        **environment_info(),
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    frame = store.metrics_frame(
        result.metrics | _at_updates(*evals, saved, train.num_updates, len(seeds)),
        suite=cell.suite,
        env=cell.env_name,
        agent=cell.agent_name,
        seeds=seeds,
        env_steps_per_update=train.env_steps_per_update,
    )
    store.write_cell(path, frame, manifest, stage=stage)
    return manifest


def _evaluation(vs_random: dict, vs_checkpoints: dict) -> dict | None:
    if not vs_random:
        return None
    return {
        **{name: values.tolist() for name, values in vs_random.items()},
        "against_checkpoints": {
            label: {name: values.tolist() for name, values in metrics.items()}
            for label, metrics in vs_checkpoints.items()
        },
        "episodes_per_seed": evaluate.EVAL_EPISODES,
    }


def _at_updates(
    vs_random: dict, vs_checkpoints: dict, saved: list[dict], num_updates: int, num_seeds: int
) -> dict[str, np.ndarray]:
    """Evaluations as ``[seeds, updates]`` metrics: against random agents at the last update,
    against a checkpoint at that checkpoint's update (NaN elsewhere)."""
    at = {c["label"]: c["update"] for c in saved}
    points = [(vs_random, num_updates)] + [(m, at[label]) for label, m in vs_checkpoints.items()]
    out = {}
    for metrics, update in points:
        for name, v in metrics.items():
            out.setdefault(name, np.full((num_seeds, num_updates), np.nan))[:, update - 1] = v
    return out


def _tasks(env, env_params, train) -> dict:
    """A multi-task cell's tasks: their envs per seed, agents and score levels."""
    if not isinstance(env, MultiTask):
        return {}
    levels = env.task_score_levels(env_params)
    return {
        "tasks": {
            g.name: {
                "env_id": g.env.env_id,
                "num_envs": g.num_envs,
                "num_agents": g.env.num_agents,
                "score_levels": asdict(levels[g.name]),
            }
            for g in train.envs.groups
        }
    }


@functools.cache
def environment_info() -> dict:
    device = jax.devices()[0]
    return {
        "package_version": importlib.metadata.version("pmarl-bench"),
        "git_commit": _git_commit(),
        "jax_version": jax.__version__,
        "jaxlib_version": importlib.metadata.version("jaxlib"),
        "python_version": platform.python_version(),
        "backend": jax.default_backend(),
        "device": f"{device.platform}: {device.device_kind} x{jax.device_count()}",
        "host": f"{platform.machine()} {platform.processor() or ''}".strip(),
    }


def _git_commit() -> str | None:
    repo = Path(__file__).resolve().parent.parent
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=repo,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=repo,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout
        return sha + ("-dirty" if dirty.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def _device_peak_bytes() -> int | None:
    stats = jax.devices()[0].memory_stats()  # None on the CPU backend
    return int(stats["peak_bytes_in_use"]) if stats and "peak_bytes_in_use" in stats else None


def _human(x: float) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= size:
            return f"{x / size:.3g}{unit}"
    return f"{x:.3g}"
