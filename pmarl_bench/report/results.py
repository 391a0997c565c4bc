"""What every section of a report builds on: the finished cells read from result folders,
and the facts most sections share (tasks, learning curves, final scores, evaluations,
reference levels, controls). A section that needs more reads it itself (``load``).

A *task* is what agents are compared on: an env of a suite, or one task of a multi-task
env (``multitask/scouts``, from the per-task metrics). With several suites in one report,
tasks are prefixed by their suite (``memory:n_back``).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from pmarl_bench.controls import CONTROLS, GAP_ENDS
from pmarl_bench.errors import ConfigError
from pmarl_bench.results import load_cells
from pmarl_bench.results.store import COLUMNS, CROSS_PLAY_FOLDER, RATINGS_FOLDER, read_plans

RETURN = "episode_return"
#: a seed's final score: its final policy's return on the evaluation episodes (sampled
#: actions, the policy PPO trained), ``eval/return_stochastic``; for cells from before that
#: evaluation existed, the mean training return over its last ``FINAL_FRACTION`` of updates
SCORE_METRIC = "return_stochastic"
FINAL_FRACTION = 0.1


@dataclass
class Results:
    """The finished cells under the folders read. ``manifests``: the compared cells' (each
    with its folder as ``path``); ``metrics``: their rows in the long format; sweep cells
    (``pmarl-bench tune``'s) are listed in ``sweep_cells`` and kept out of both."""

    sources: list[str]
    manifests: list[dict]
    metrics: pd.DataFrame
    sweep_cells: list[str] = field(default_factory=list)
    damaged: list[tuple[str, str]] = field(default_factory=list)  # (folder, reason)
    #: the cells the suites' last runs set out to train (suite, env, agent, control)
    planned: list[dict] = field(default_factory=list)

    @functools.cached_property
    def not_run(self) -> list[dict]:
        """The planned cells without a finished result (suite, env, agent, control)."""
        have = {(m.get("suite"), m.get("env"), m.get("agent")) for m in self.manifests}
        return [c for c in self.planned if (c["suite"], c["env"], c["agent"]) not in have]

    def pending_controls(self, task: str) -> list[str]:
        """The controls planned for ``task``'s env that have not run yet."""
        return sorted(
            c["control"] for c in self.not_run
            if c.get("control") and self.name(c["suite"], c["env"]) == task
        )  # fmt: skip

    def name(self, suite: str | None, env: str | None) -> str:
        """A task's name in the report: the env, prefixed by its suite when several are
        compared."""
        return f"{suite}:{env}" if self.multi_suite else str(env)

    @functools.cached_property
    def multi_suite(self) -> bool:
        return self.metrics.suite.nunique() > 1

    def task_names(self, m: dict) -> list[tuple[str, str | None]]:
        """(report task name, the multi-task env's task or None) of a cell's manifest."""
        suite, env = m.get("suite"), m.get("env")
        tasks = list((m.get("tasks") or {}).keys())
        if tasks:
            return [(self.name(suite, f"{env}/{t}"), t) for t in tasks]
        return [(self.name(suite, env), None)]

    def per_task(self) -> Iterator[tuple[dict, str, str | None]]:
        """(manifest, report task name, multi-task env's task or None) of every cell."""
        for m in self.manifests:
            for task, sub in self.task_names(m):
                yield m, task, sub

    @functools.cached_property
    def curves(self) -> pd.DataFrame:
        """task, agent, seed, update, env_steps, value (episode return): per task of a
        multi-task cell, where it has them."""
        df = self.metrics
        returns = df[df.metric.str.startswith(RETURN)].copy()
        per_task = returns.metric.str.startswith(RETURN + "/")
        cells_with_tasks = set(map(tuple, returns.loc[per_task, ["suite", "env"]].to_numpy()))
        keep = per_task | ~returns.set_index(["suite", "env"]).index.isin(list(cells_with_tasks))
        returns = returns[keep]
        sub = returns.metric.str.removeprefix(RETURN).str.removeprefix("/")
        returns["task"] = [
            self.name(s, e if not t else f"{e}/{t}")
            for s, e, t in zip(returns.suite, returns.env, sub, strict=True)
        ]
        curves = returns[["task", "agent", "seed", "update", "env_steps", "value"]]
        return curves.sort_values(["task", "agent", "seed", "update"]).reset_index(drop=True)

    @functools.cached_property
    def evaluations(self) -> pd.DataFrame:
        """task, agent, seed, env_steps (when measured), metric, value: the ``eval/`` rows,
        per task of a multi-task cell (``eval/<task>/<metric>``)."""
        df = self.metrics
        evals = df[df.metric.str.startswith("eval/")].copy()
        evals["task"] = [
            self.name(s, e if m.count("/") == 1 else f"{e}/{m.split('/')[1]}")
            for s, e, m in zip(evals.suite, evals.env, evals.metric, strict=True)
        ]
        evals["metric"] = evals.metric.str.split("/").str[-1]
        columns = ["task", "agent", "seed", "env_steps", "metric", "value"]
        return evals[columns].reset_index(drop=True)

    @functools.cached_property
    def _scored(self) -> tuple[pd.DataFrame, list]:
        return scores(final_scores(self.curves), self.evaluations)

    @property
    def final(self) -> pd.DataFrame:
        """task, agent, seed, score: each seed's final score."""
        return self._scored[0]

    @property
    def scored_from_training(self) -> list[tuple[str, str]]:
        """The (task, agent) pairs without a final-policy evaluation, scored from training."""
        return self._scored[1]

    @property
    def tasks(self) -> list[str]:
        return sorted(self.final.task.unique())

    @property
    def agents(self) -> list[str]:
        return sorted(self.final.agent.unique())

    @functools.cached_property
    def families(self) -> dict[str, str]:
        """task -> the comparison family its claims are corrected within: the suite's
        ``comparisons`` (per_task, the default: the task alone; per_suite: every task of its
        suite). Cells from before suites declared it are per task."""
        found: dict[str, str] = {}
        for m, task, _ in self.per_task():
            if m.get("comparisons") == "per_suite":
                found[task] = f"suite {m.get('suite')}"
            else:
                found.setdefault(task, f"task {task}")
        return found

    @functools.cached_property
    def controls(self) -> dict[str, dict[str, str]]:
        """task -> control -> the agent that plays it."""
        found: dict[str, dict[str, str]] = {}
        for m, task, _ in self.per_task():
            if m.get("control"):
                found.setdefault(task, {})[m["control"]] = m["agent"]
        return found

    @functools.cached_property
    def levels(self) -> pd.DataFrame:
        """Per task: the env's chance, memoryless, optimal (None where unknown); random
        (measured) and its sem; each control's mean final score (NaN where the suite has no
        such control); low / high: the gap scale's ends (the memoryless and oracle_memory
        controls' means, or NaN)."""
        return reference_levels(self)

    @functools.cached_property
    def tuning(self) -> dict[tuple[str, str], dict]:
        """(task, agent) -> how its PPO settings were tuned (``pmarl-bench tune``'s protocol)."""
        return {
            (self.name(m["suite"], m["env"]), m["agent"]): m["config"]["tuning"]
            for m in self.manifests
            if (m.get("config") or {}).get("tuning")
        }


def load(results_dirs: list[str | Path]) -> Results:
    """Read every finished cell under the given folders (suite folders or results roots)."""
    if not results_dirs:
        raise ConfigError("give at least one results folder, e.g. results/memory", "RESULTS_DIR")
    frames, manifests, damaged, sweeps, planned = [], [], [], [], []
    for d in results_dirs:
        found = load_cells(d)  # a one-line ConfigError for a missing or empty dir
        planned += read_plans(Path(d))
        metrics = found.metrics
        if "trial" in metrics.columns:  # sweep cells (`tune`): trials.csv sums them up
            metrics = metrics[metrics.trial.isna()].drop(columns=_sweep_columns(metrics))
        frames.append(metrics)
        for m in found.manifests:
            if m.get("trials"):
                sweeps.append(m["path"])
            else:
                manifests.append(m)
        damaged += found.damaged
    if not manifests:
        raise ConfigError(
            "only sweep results (from `pmarl-bench tune`: see their trials.csv); report the "
            "run that evaluates the chosen settings",
            ", ".join(str(d) for d in results_dirs),
        )
    df = pd.concat(frames, ignore_index=True).drop_duplicates(
        ["suite", "env", "agent", "seed", "update", "metric"]
    )
    return Results([str(d) for d in results_dirs], manifests, df, sweeps, damaged, planned)


def _sweep_columns(metrics: pd.DataFrame) -> list[str]:
    """A sweep cell's extra columns: ``trial`` and its swept settings."""
    return [c for c in metrics.columns if c not in COLUMNS]


def scores(training: pd.DataFrame, evals: pd.DataFrame) -> tuple[pd.DataFrame, list]:
    """Final scores (task, agent, seed, score) from the final-policy evaluation where a cell
    has it, else from training; and the (task, agent) pairs scored from training."""
    ev = evals[evals.metric == SCORE_METRIC].rename(columns={"value": "score"})
    ev = ev[["task", "agent", "seed", "score"]]
    have = set(map(tuple, ev[["task", "agent"]].drop_duplicates().to_numpy()))
    pairs = training[["task", "agent"]].apply(tuple, axis=1)
    rest = training[~pairs.isin(have)]
    from_training = sorted(set(map(tuple, rest[["task", "agent"]].to_numpy())))
    out = pd.concat([ev, rest], ignore_index=True)
    out["seed"] = out.seed.astype(int)
    return out.sort_values(["task", "agent", "seed"]).reset_index(drop=True), from_training


def final_scores(curves: pd.DataFrame) -> pd.DataFrame:
    """Each seed's mean return over its last ``FINAL_FRACTION`` of recorded updates."""

    def last(g: pd.DataFrame) -> float:
        n = max(1, round(len(g) * FINAL_FRACTION))
        return float(g.value.iloc[-n:].mean())

    groups = curves.groupby(["task", "agent", "seed"], sort=True)
    out = groups.apply(last, include_groups=False).rename("score").reset_index()
    return out


def reference_levels(results: Results) -> pd.DataFrame:
    """Per task: the env's chance / memoryless / optimal levels (where it knows them), the
    random policy's measured return, each control's mean final score, and the ends of the
    "memory gap closed" scale (the memoryless and the oracle_memory control; NaN without them)."""
    known: dict[str, dict] = {}
    random: dict[str, dict] = {}
    name = results.name
    for m in results.manifests:
        suite, env = m.get("suite"), m.get("env")
        known[name(suite, env)] = m.get("score_levels") or {}
        for task, info in (m.get("tasks") or {}).items():
            known[name(suite, f"{env}/{task}")] = info.get("score_levels") or {}
    for m, task, sub in results.per_task():
        measured = m.get("random_return") or {}
        level = (measured.get("tasks") or {}).get(sub) if sub else measured
        if level and "mean" in level:
            random[task] = level
    rows = []
    for task, g in results.final.groupby("task"):
        lv = {k: known.get(task, {}).get(k) for k in ("chance", "memoryless", "optimal")}
        means = g.groupby("agent").score.mean()
        ctl = {
            f"{c}_control": float(means[agent]) if agent in means else np.nan
            for c in CONTROLS
            for agent in [results.controls.get(task, {}).get(c)]
        }
        rand = random.get(task, {})
        rows.append({"task": task, **lv, "random": rand.get("mean", np.nan),
                     "random_sem": rand.get("sem", np.nan), **ctl,
                     "low": ctl[f"{GAP_ENDS[0]}_control"],
                     "high": ctl[f"{GAP_ENDS[1]}_control"]})  # fmt: skip
    return pd.DataFrame(rows)


#: the columns (and their kinds: "s" text, "n" number) each side table must have to be read:
#: ``rate``'s ratings and ``crossplay``'s pairs; any other CSV there is skipped and named
SIDE_COLUMNS = {
    RATINGS_FOLDER: {"agent": "s", "seed": "n", "checkpoint": "s", "env_steps": "n", "mu": "n",
                     "sigma": "n", "ordinal": "n", "matches": "n", "wins": "n", "draws": "n"},
    CROSS_PLAY_FOLDER: {"task": "s", "focal_agent": "s", "focal_seed": "n",
                        "partner_agent": "s", "partner_seed": "n", "return_stochastic": "n"},
}  # fmt: skip


def _side_files(results_dirs: list[str], folder: str) -> list[Path]:
    return [
        file
        for d in map(Path, results_dirs)
        for file in sorted({*d.glob(f"{folder}/*.csv"), *d.glob(f"*/{folder}/*.csv")})
        if not file.name.endswith(".matches.csv")
    ]


def read_side_table(file: Path, folder: str) -> tuple[pd.DataFrame | None, str | None]:
    """A side table and None, or None and why it cannot be read (unreadable, empty, or
    without the columns of its kind)."""
    try:
        table = pd.read_csv(file)
    except Exception as err:  # pandas raises several kinds for a damaged file
        return None, f"unreadable ({type(err).__name__})"
    want = SIDE_COLUMNS[folder]
    lacking = [c for c in want if c not in table]
    if table.empty or lacking:
        return None, "empty" if table.empty else f"lacks the columns {', '.join(lacking)}"
    wrong = [c for c, kind in want.items()
             if kind == "n" and not pd.api.types.is_numeric_dtype(table[c])]  # fmt: skip
    if wrong:
        return None, f"not numbers in {', '.join(wrong)}"
    return table, None


def side_table_problems(results_dirs: list[str]) -> list[tuple[str, str]]:
    """Every side table the report skips, with why (for the Missing section)."""
    return [
        (str(file), problem)
        for folder in SIDE_COLUMNS
        for file in _side_files(results_dirs, folder)
        if (problem := read_side_table(file, folder)[1])
    ]


def tables(results_dirs: list[str], folder: str, name) -> pd.DataFrame:
    """The CSV tables a suite folder keeps in ``folder`` (``ratings/<task>.csv``, a
    multi-task env's task as ``env+task``; ``cross_play/<env>.csv``), of the suite folders
    read or of the suites under a results root; ``task`` named as the report names it.
    A table that cannot be read is left out (``side_table_problems`` names it)."""
    frames = []
    for file in _side_files(results_dirs, folder):
        table, _ = read_side_table(file, folder)
        if table is None:
            continue
        suite = file.parent.parent.name
        if "task" in table:
            table["task"] = [name(suite, str(t)) for t in table.task]
        else:
            table["task"] = name(suite, file.stem.replace("+", "/", 1))
        frames.append(table)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
