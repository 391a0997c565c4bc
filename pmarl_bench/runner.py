"""Run a loaded suite: each cell trains all its seeds in one compiled program and is written
atomically; finished cells with the same config hash are skipped."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import jax
import numpy as np
from rich.console import Console

from pmarl_bench import checkpoints, provenance
from pmarl_bench.executor import CellJob, Executor, MemoryLimit
from pmarl_bench.progress import ProgressDisplay, Report, human
from pmarl_bench.results import store
from pmarl_bench.scale import distributed
from pmarl_bench.suites.cell import Cell
from pmarl_bench.suites.loader import LoadedSuite
from pmarl_bench.trainer import evaluate, levels, loop


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
    memory_limit: MemoryLimit = loop.DEVICE,
    executor: Executor | None = None,
) -> SuiteRun:
    """Train every cell of ``loaded`` not already finished in ``results_dir`` (all with
    ``force``). ``memory_limit``: bytes per device a cell's seeds must fit in (see
    ``trainer.loop.train_seeds``). ``executor``: where cells run (default: here, one after
    the other; ``executors.ray.RayExecutor`` spreads them over a cluster).

    In a ``jax.distributed`` job every process calls this; process 0 decides which cells are
    finished and alone writes results."""
    console = console or Console(stderr=True)
    results_dir = Path(results_dir)
    summary = SuiteRun()
    todo = pending_cells(loaded, results_dir, force, console)
    names = {job.cell.name for job in todo}
    summary.skipped = [c.name for c in loaded.cells if c.name not in names]
    if not todo:
        return summary
    if executor is not None:
        executor.run(todo, run_cell, console=console, memory_limit=memory_limit)
    else:
        visible = distributed.is_primary()
        with ProgressDisplay(console, names, visible=visible) as bars:
            for job in todo:
                run_cell(job.cell, job.path, bars.reporter(job.cell.name),
                         memory_limit=memory_limit)  # fmt: skip
    summary.ran = [job.cell.name for job in todo]
    return summary


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
    return [
        CellJob(c, p) for c, p, done in zip(loaded.cells, paths, finished, strict=True) if not done
    ]


def run_cell(
    cell: Cell,
    path: Path,
    report: Report | None = None,
    *,
    memory_limit: MemoryLimit = loop.DEVICE,
) -> dict | None:
    """Train one cell and write its folder (only process 0 of a distributed job writes;
    the others return None)."""
    provenance.reset_host_peak()  # so the manifest's peak covers this cell, not earlier ones
    env, env_params, agent, train = cell.build()
    seeds = list(cell.seeds)
    total = train.num_updates * train.env_steps_per_update
    primary = distributed.is_primary()

    def say(env_steps: int, info: str) -> None:
        if report is not None:
            report(env_steps, f"{len(seeds)} seeds · {info}", total)

    def on_progress(p: loop.Progress) -> None:
        ret = "–" if np.isnan(p.latest_return) else f"{p.latest_return:.3g}"
        say(p.env_steps, f"{human(p.env_steps)}/{human(total)} env steps · "
            f"{human(p.agent_steps_per_second)} agent-steps/s · return {ret}")  # fmt: skip

    say(0, f"compiling… ({budget_note(train)})")
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
        vs_random, vs_checkpoints = evaluate.evaluate_seeds(
            env, env_params, agent, params, seeds, kept
        )
        say(total, "evaluating the final policy (greedy and stochastic)…")
        finals = evaluate.final_policy_returns(env, env_params, agent, params, *cell.evaluation)
        evals = (finals | vs_random, vs_checkpoints)
        say(total, "measuring the random policy's return…")
        random = random_levels(cell, env, env_params)
        manifest = _write(
            cell, path, stage, env, env_params, agent, train, result, evals, saved, total, random
        )
    except BaseException:
        if stage is not None:
            shutil.rmtree(stage, ignore_errors=True)
        raise
    say(total, f"{human(total)} env steps · {human(result.agent_steps_per_second)} steps/s · "
        f"compile {result.compile_seconds:.0f}s, run {result.run_seconds:.0f}s")  # fmt: skip
    return manifest


_RANDOM_LEVELS: dict[str, dict] = {}


def random_levels(cell, env, env_params) -> dict:
    """The uniformly random policy's return on the cell's env (per task for a multi-task
    env), measured once per env config in this process: its agents and controls share it."""
    # the oracle observation changes no dynamics: an oracle control shares its env's level
    options = {k: v for k, v in cell.env_options.items() if k != "observe"}
    key = json.dumps([cell.env_id, options, cell.env_params], sort_keys=True, default=str)
    if key not in _RANDOM_LEVELS:
        found = levels.random_policy_returns(env, env_params)
        _RANDOM_LEVELS[key] = found[None] if list(found) == [None] else {"tasks": found}
    return _RANDOM_LEVELS[key]


def _write(cell, path, stage, env, env_params, agent, train, result, evals, saved, total, random):
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
        "env_steps_requested": train.cfg.total_env_steps,
        "env_steps_note": budget_note(train),
        "num_agents": env.num_agents,  # None for a multi-task env: see "tasks"
        **_tasks(train),
        "num_params": agent.num_params(params0),
        "control": cell.control,  # memoryless, frame_stack, oracle, or None: an agent
        "score_levels": asdict(env.score_levels(env_params)),
        "random_return": random,  # mean per-agent episode return of uniform random actions
        "task_card": _cards(env),
        "compile_seconds": result.compile_seconds,
        "run_seconds": result.run_seconds,
        "agent_steps": result.agent_steps,
        "agent_steps_per_second": result.agent_steps_per_second,
        "env_steps_per_second": result.agent_steps_per_second
        * train.env_steps_per_update
        / train.agent_steps_per_update,
        "evaluation": _evaluation(cell, *evals),
        "checkpoints": saved,
        "compiled_memory_bytes": result.compiled_memory_bytes,
        "mesh": {"seed": result.devices[0], "data": result.devices[1]},
        "processes": jax.process_count(),
        "seed_groups": result.groups,
        "peak_host_memory_bytes": provenance.host_peak_bytes(),
        "peak_device_memory_bytes": provenance.device_peak_bytes(),
        **provenance.environment_info(),
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


def _cards(env) -> dict:
    """What the task tests and its memory horizon (per task for a multi-task env)."""
    if hasattr(env, "card"):
        return asdict(env.card())
    return {"tasks": {name: asdict(task.card()) for name, task in env.tasks}}


def budget_note(train) -> str:
    """How the requested env steps became whole updates (rounded down when they do not
    divide), e.g. '97 updates x 8,192 = 794,624 env steps (800,000 asked; rounded down ...)'."""
    per, n = train.env_steps_per_update, train.num_updates
    note = f"{n} updates x {per:,} = {n * per:,} env steps"
    asked = train.cfg.total_env_steps
    if n * per != asked:
        note += f" ({asked:,} asked; rounded down to whole updates)"
    return note


def _evaluation(cell, vs_random: dict, vs_checkpoints: dict) -> dict | None:
    if not vs_random:
        return None
    return {
        **{name: values.tolist() for name, values in vs_random.items()},
        "against_checkpoints": {
            label: {name: values.tolist() for name, values in metrics.items()}
            for label, metrics in vs_checkpoints.items()
        },
        "episodes_per_seed": evaluate.EVAL_EPISODES,
        # the final-policy returns: one episode per env, resets and samples from one key
        "final_policy": dict(zip(("episodes", "seed"), cell.evaluation, strict=True)),
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


def _tasks(train) -> dict:
    """A cell whose env is made of named groups (the tasks of a multi-task env): their envs
    per seed, agents and score levels."""
    groups = train.envs.groups
    if all(g.name is None for g in groups):
        return {}
    return {
        "tasks": {
            g.name: {
                "env_id": g.env.env_id,
                "num_envs": g.num_envs,
                "num_agents": g.env.num_agents,
                "score_levels": asdict(g.env.score_levels(g.params)),
            }
            for g in groups
        }
    }
