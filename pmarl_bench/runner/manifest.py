"""A finished cell's manifest: its config, levels, task cards, what its agent remembers,
timings and the measurements after training, and its metrics table."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

import jax
import numpy as np

from pmarl_bench import provenance
from pmarl_bench.results import store
from pmarl_bench.trainer import cost

#: environment variable: 0 skips counting a cell's FLOPs (2-5 s a cell; the test suite,
#: which trains a hundred tiny cells, sets it and checks the counting in its own tests)
COUNT_FLOPS_ENV = "PMARL_BENCH_COUNT_FLOPS"


def _efficiency(cell, train, rate: float) -> dict | None:
    """Model FLOPs per agent-step, achieved FLOP/s and share of peak (``trainer.cost``);
    counting them never costs a finished cell its result."""
    if os.environ.get(COUNT_FLOPS_ENV, "1") == "0":
        return None
    try:
        return cost.efficiency(train, rate, str(getattr(cell.network, "dtype", "float32")))
    except Exception as err:  # an env or agent XLA cannot analyse: say so, keep the cell
        return {"error": f"{type(err).__name__}: {str(err).splitlines()[0][:200]}"}


def write(
    cell, path, stage, built, result, history: dict, measured: Mapping[str, Any],
    metrics: Mapping[str, np.ndarray],
) -> dict:  # fmt: skip
    """Write the finished cell ``path`` (moving ``stage`` into place); returns its manifest.
    ``history``: the runs before a resume (``run_seconds``, ``agent_steps``, ``resumed``);
    ``measured``: manifest entries measured after training, by key (``evaluation``,
    ``cross_play``, ``random_return``, ``checkpoints``, ...); ``metrics``: their rows
    ``{name: [members, updates]}`` beside the training metrics."""
    env, env_params, agent, train = built
    seeds = list(cell.seeds)
    total = train.num_updates * train.env_steps_per_update
    params0 = jax.tree.map(lambda x: x[0], result.params)
    run_seconds = result.run_seconds + history.get("run_seconds", 0.0)
    agent_steps = result.agent_steps + history.get("agent_steps", 0)
    rate = agent_steps / run_seconds if run_seconds > 0 else float("nan")
    manifest = {
        "suite": cell.suite,
        "env": cell.env_name,
        "agent": cell.agent_name,
        "cell": cell.name,
        "config": cell.resolved_config(),
        "config_hash": cell.config_hash(),
        "seeds": seeds,
        # a sweep cell: its trials' settings; rows and evaluations are per (trial, seed)
        **({"trials": [dict(t) for t in cell.trials]} if cell.trials else {}),
        "num_updates": train.num_updates,
        "env_steps_per_seed": total,
        "env_steps_requested": train.cfg.total_env_steps,
        "env_steps_note": budget_note(train),
        "num_agents": env.num_agents,  # None for a multi-task env: see "tasks"
        **_tasks(train),
        "num_params": agent.num_params(params0),
        "control": cell.control,  # a control's name, or None: an agent
        "comparisons": cell.comparisons,  # the suite's comparison family (report.claims)
        "memory": agent.memory(),  # how far back it can remember, and what it reads
        "score_levels": asdict(env.score_levels(env_params)),
        "task_card": _cards(env),
        # observe: oracle_memory: how the record of what the agent observed is laid out
        **({"perfect_memory": env.record} if hasattr(env, "record") else {}),
        "compile_seconds": result.compile_seconds,  # of the last run, after a resume
        "run_seconds": run_seconds,  # training time of every run together
        "agent_steps": agent_steps,
        "agent_steps_per_second": rate,
        "env_steps_per_second": rate * train.env_steps_per_update / train.agent_steps_per_update,
        "efficiency": _efficiency(cell, train, rate),
        "resumed_at_updates": history.get("resumed", []),
        # snapshots for resuming (their seconds are part of run_seconds)
        "snapshots": history.get("snapshots", 0),
        "snapshot_seconds": history.get("snapshot_seconds", 0.0),
        **measured,
        "compiled_memory_bytes": result.compiled_memory_bytes,
        "mesh": {"seed": result.devices[0], "data": result.devices[1]},
        "processes": jax.process_count(),
        "seed_groups": result.groups,
        "peak_host_memory_bytes": provenance.host_peak_bytes(),
        "peak_device_memory_bytes": provenance.device_peak_bytes(),
        **provenance.environment_info(),
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    frame = _frame(cell, train, {**result.metrics, **metrics})
    store.write_cell(path, frame, manifest, stage=stage)
    return manifest


def evaluation_frame(cell, train, metrics: Mapping[str, np.ndarray]):
    """The rows of the measurements after training, in the cell's table format."""
    return _frame(cell, train, metrics)


def _frame(cell, train, metrics):
    return store.metrics_frame(
        metrics,
        suite=cell.suite,
        env=cell.env_name,
        agent=cell.agent_name,
        seeds=cell.member_seeds,
        env_steps_per_update=train.env_steps_per_update,
        columns=cell.member_columns(),
    )


def _cards(env) -> dict:
    """What the task tests and its memory horizon (per task for a multi-task env)."""
    cards = env.task_cards()
    if list(cards) == [None]:
        return asdict(cards[None])
    return {"tasks": {name: asdict(card) for name, card in cards.items()}}


def budget_note(train) -> str:
    """How the requested env steps became whole updates (rounded down when they do not
    divide), e.g. '97 updates x 8,192 = 794,624 env steps (800,000 asked; rounded down ...)'."""
    per, n = train.env_steps_per_update, train.num_updates
    note = f"{n} updates x {per:,} = {n * per:,} env steps"
    asked = train.cfg.total_env_steps
    if n * per != asked:
        note += f" ({asked:,} asked; rounded down to whole updates)"
    return note


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
