"""The memory questions of a report: does each task test memory at its size (the oracle
control against the memoryless one), and how much of that gap each agent closes, per task and
over the tasks every agent ran."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pmarl_bench.report import stats
from pmarl_bench.report.data import GAP_ENDS, ReportData, gap_samples

AGGREGATE_STATS = ("iqm", "mean", "median", "optimality gap")


def memory_test(data: ReportData, reps: int) -> pd.DataFrame:
    """Per task: the oracle control's mean final score minus the memoryless control's, with
    a 95% bootstrap CI and a plain verdict; the task's memory horizon beside each agent's
    reach."""
    rows = []
    for task in data.tasks:
        card = data.cards.get(task, {})
        horizon = card.get("horizon_steps")
        row = {"task": task, "tests": ", ".join(card.get("tests", [])) or "–"}
        ends = gap_samples(data, task)
        if ends is None:
            have = sorted(data.controls.get(task, {}))
            row["oracle − memoryless [95% CI]"] = "–"
            row["verdict"] = (
                f"unknown: the suite has {' and '.join(have) or 'no'} control(s); "
                "it needs memoryless and oracle (`controls:` in the suite)"
            )
        else:
            low, high = ends
            gap = stats.difference(high, low, reps=reps)
            row["oracle − memoryless [95% CI]"] = str(gap)
            row["verdict"] = _verdict(gap)
        row["memory horizon (steps)"] = "–" if horizon is None else str(horizon)
        row["agents' reach (steps back)"] = _reach(data, task, horizon)
        rows.append(row)
    return pd.DataFrame(rows)


def _verdict(gap: stats.Estimate) -> str:
    if not np.isfinite(gap.low):
        return "unknown: too few seeds for an interval"
    if gap.low > 0:
        return "yes: perfect memory scores above no memory"
    if gap.high < 0:
        return "no: the oracle control scores below the memoryless one (a training problem?)"
    return "not shown at this size: the interval includes 0"


def _reach(data: ReportData, task: str, horizon: int | None) -> str:
    parts = []
    for agent in sorted(a for (t, a) in data.reach if t == task):
        steps = data.reach[(task, agent)]
        text = "unknown" if steps == -1 else "unbounded" if steps is None else str(steps)
        short = horizon is not None and steps is not None and 0 <= steps < horizon
        parts.append(f"{agent} {text}{' (short)' if short else ''}")
    return ", ".join(parts)


def gap_closed_per_task(data: ReportData, reps: int) -> pd.DataFrame:
    """Per task with both controls and per agent: the mean share of the memoryless-to-oracle
    gap its seeds close, with a CI that includes the controls' own uncertainty."""
    rows = []
    for task in data.tasks:
        ends = gap_samples(data, task)
        if ends is None:
            continue
        f = data.final[data.final.task == task]
        for agent, g in f.groupby("agent"):
            est = stats.gap_closed([(g.score.to_numpy(), *ends)], "mean", reps=reps)
            rows.append({"task": task, "agent": agent, "stat": "mean", "value": est.value,
                         "low": est.low, "high": est.high, "seeds": len(g)})  # fmt: skip
    return pd.DataFrame(rows, columns=["task", "agent", "stat", "value", "low", "high", "seeds"])


@dataclass
class Aggregate:
    tasks: list[str]  # every agent ran them, and they have both controls
    left_out: dict[str, str]  # task -> why it is not in the aggregate
    estimates: pd.DataFrame  # task ("all tasks"), agent, stat, value, low, high
    taus: np.ndarray
    profiles: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]  # agent -> profile, band


def aggregate(data: ReportData, reps: int) -> Aggregate:
    """Memory gap closed over the tasks that have both controls and that every agent ran."""
    agents = data.agents
    ran = data.final.groupby("task").agent.unique()
    tasks, left_out = [], {}
    for task in data.tasks:
        missing = sorted(set(agents) - set(ran[task]))
        if gap_samples(data, task) is None:
            left_out[task] = f"no {' and '.join(GAP_ENDS)} controls"
        elif missing:
            left_out[task] = f"not run by {', '.join(missing)}"
        else:
            tasks.append(task)
    rows, profiles = [], {}
    taus = np.linspace(-0.25, 1.25, 61)
    for agent in agents:
        per_task = []
        for task in tasks:
            f = data.final[(data.final.task == task) & (data.final.agent == agent)]
            per_task.append((f.score.to_numpy(), *gap_samples(data, task)))
        if not per_task:
            continue
        for kind in AGGREGATE_STATS:
            est = stats.gap_closed(per_task, kind, reps=reps)
            rows.append({"task": "all tasks", "agent": agent, "stat": kind, "value": est.value,
                         "low": est.low, "high": est.high})  # fmt: skip
        runs = [(x - lo.mean()) / (hi.mean() - lo.mean()) for x, lo, hi in per_task]
        low, high = stats.profile_band(runs, taus, reps=min(reps, 1000))
        profiles[agent] = (stats.performance_profile(runs, taus), low, high)
    columns = ["task", "agent", "stat", "value", "low", "high"]
    return Aggregate(tasks, left_out, pd.DataFrame(rows, columns=columns), taus, profiles)
