"""A finished cell's manifest: its config, levels, task cards, timings and evaluations, and
its metrics table."""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import asdict

import jax
import numpy as np

from pmarl_bench import provenance
from pmarl_bench.results import store
from pmarl_bench.trainer import cost, crossplay, evaluate, levels

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


def write(cell, path, stage, built, result, evals, saved, random, history, cross=None) -> dict:
    """Write the finished cell ``path`` (moving ``stage`` into place); returns its manifest.
    ``history``: the runs before a resume (``run_seconds``, ``agent_steps``, ``resumed``);
    ``cross``: the cross-play matrices per task (``trainer.crossplay``), if any."""
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
        "control": cell.control,  # memoryless, frame_stack, oracle, or None: an agent
        "score_levels": asdict(env.score_levels(env_params)),
        "random_return": random,  # mean per-agent episode return of uniform random actions
        "task_card": _cards(env),
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
        "evaluation": _evaluation(cell, *evals),
        "cross_play": _cross_play(cell, cross),
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
    members = len(cell.member_seeds)
    frame = _frame(cell, train, result.metrics | _at_updates(*evals, saved, train.num_updates,
                                                             members))  # fmt: skip
    store.write_cell(path, frame, manifest, stage=stage)
    return manifest


def evaluation_frame(cell, train, evals, saved):
    """The evaluation rows of the cell's metrics table."""
    members = len(cell.member_seeds)
    return _frame(cell, train, _at_updates(*evals, saved, train.num_updates, members))


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


def _cross_play(cell, cross: dict | None) -> dict | None:
    """Row i, column j: the focal side follows seed i's final policy, its partners seed j's."""
    if not cross:
        return None
    return {
        "metric": crossplay.METRIC,
        "seeds": list(cell.seeds),
        # per task of a multi-task env, else under the env's name
        "matrices": {cell.env_name if t is None else t: m.tolist() for t, m in cross.items()},
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
