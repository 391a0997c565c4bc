"""Run a loaded suite: each cell trains all its seeds in one compiled program and is written
atomically; finished cells with the same config hash are skipped."""

from __future__ import annotations

import datetime as dt
import functools
import importlib.metadata
import platform
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

import jax
import numpy as np
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from pmarl_bench import bench, checkpoints
from pmarl_bench.envs.multitask import MultiTask
from pmarl_bench.results import store
from pmarl_bench.suites.loader import Cell, LoadedSuite
from pmarl_bench.trainer import evaluate, loop


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
) -> SuiteRun:
    console = console or Console(stderr=True)
    results_dir = Path(results_dir)
    suite = loaded.suite
    stale = store.remove_stale_tmp(results_dir, suite.name)
    if stale:
        console.print(f"removed {stale} unfinished cell folder(s) left by an interrupted run")
    summary = SuiteRun()
    todo = []
    for cell in loaded.cells:
        path = store.cell_dir(results_dir, suite.name, cell.env_name, cell.agent_name)
        if not force and store.is_finished(path, cell.config_hash()):
            summary.skipped.append(cell.name)
            console.print(f"[dim]skip[/] {cell.name}: finished ({path})")
        else:
            todo.append((cell, path))
    if not todo:
        return summary
    columns = (
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(bar_width=20),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        for cell, path in todo:
            run_cell(cell, path, progress)
            summary.ran.append(cell.name)
    return summary


def run_cell(cell: Cell, path: Path, progress: Progress | None = None) -> dict:
    bench.reset_host_peak()  # so the manifest's peak covers this cell, not earlier ones
    env, env_params, agent, train = cell.build()
    seeds = list(cell.seeds)
    total = train.num_updates * train.env_steps_per_update
    task = None
    if progress is not None:
        task = progress.add_task(
            cell.name,
            total=total,
            info=f"{len(seeds)} seeds · compiling…",
        )

    def on_progress(p: loop.Progress) -> None:
        if progress is None:
            return
        ret = "–" if np.isnan(p.latest_return) else f"{p.latest_return:.3g}"
        progress.update(
            task,
            completed=p.env_steps,
            info=f"{len(seeds)} seeds · {_human(p.env_steps)}/{_human(total)} env steps · "
            f"{_human(p.agent_steps_per_second)} agent-steps/s · return {ret}",
        )

    stage = store.stage_dir(path)  # checkpoints land here; the cell appears when complete
    try:
        saved = []
        every = cell.checkpoint_every

        def on_chunk(state, updates: int) -> None:
            steps = updates * train.env_steps_per_update
            previous = (updates - train.updates_per_chunk) * train.env_steps_per_update
            if every and steps // every > previous // every and updates < train.num_updates:
                checkpoints.save(stage, checkpoints.update_label(updates), state.params)
                saved.append({"label": checkpoints.update_label(updates), "update": updates,
                              "env_steps": steps})  # fmt: skip

        result = loop.train_seeds(
            train, seeds, name=cell.name, on_progress=on_progress, on_chunk=on_chunk
        )
        checkpoints.save(stage, checkpoints.FINAL, result.state.params)
        saved.append({"label": checkpoints.FINAL, "update": train.num_updates, "env_steps": total})
        if progress is not None and evaluate.evaluations(env, env_params, agent):
            progress.update(task, info=f"{len(seeds)} seeds · evaluating…")
        evals = evaluate.evaluate_seeds(env, env_params, agent, result.state.params, seeds)
        manifest = _write(
            cell, path, stage, env, env_params, agent, train, result, evals, saved, total
        )
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    if progress is not None:
        progress.update(
            task,
            completed=total,
            info=f"{len(seeds)} seeds · {_human(total)} env steps · "
            f"{_human(result.agent_steps_per_second)} steps/s · "
            f"compile {result.compile_seconds:.0f}s, run {result.run_seconds:.0f}s",
        )
    return manifest


def _write(cell, path, stage, env, env_params, agent, train, result, evals, saved, total):
    seeds = list(cell.seeds)
    params0 = jax.tree.map(lambda x: x[0], result.state.params)
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
        "evaluation": {
            **{name: values.tolist() for name, values in evals.items()},
            "episodes_per_seed": evaluate.EVAL_EPISODES,
        }
        if evals
        else None,
        "checkpoints": saved,
        "compiled_memory_bytes": result.compiled_memory_bytes,
        "peak_host_memory_bytes": bench.host_peak_bytes(),
        "peak_device_memory_bytes": _device_peak_bytes(),
        **environment_info(),
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    frame = store.metrics_frame(
        result.metrics | _at_last_update(evals, train.num_updates),
        suite=cell.suite,
        env=cell.env_name,
        agent=cell.agent_name,
        seeds=seeds,
        env_steps_per_update=train.env_steps_per_update,
    )
    store.write_cell(path, frame, manifest, stage=stage)
    return manifest


def _at_last_update(values: dict[str, np.ndarray], num_updates: int) -> dict[str, np.ndarray]:
    """Per-seed values as ``[seeds, updates]`` metrics observed at the last update only."""
    out = {}
    for name, v in values.items():
        full = np.full((len(v), num_updates), np.nan)
        full[:, -1] = v
        out[name] = full
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
