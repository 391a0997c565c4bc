"""The memory gap closed over tasks: IQM, mean, median and optimality gap over all runs of
the tasks that have both controls and that every agent ran, and performance profiles."""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from pmarl_bench.controls import GAP_ENDS
from pmarl_bench.report import plots, stats
from pmarl_bench.report.content import Content, Context
from pmarl_bench.report.memory import GAP_MARKS, gap_samples, memory_gap, shown
from pmarl_bench.report.pages import Section
from pmarl_bench.report.results import Results

AGGREGATE_STATS = ("iqm", "mean", "median", "optimality gap")


def load(results: Results) -> Results:
    return results


def section(results: Results, context: Context) -> Content:
    agg = aggregate(results, context.reps)
    left = "; ".join(f"{t} ({why})" for t, why in agg.left_out.items())
    if not agg.tasks:
        return Content([Section(
            "Aggregate over tasks",
            "No aggregate: no task has both the memoryless and the oracle_memory control, a "
            "memory test that is shown and every agent's results, and scores are never "
            f"normalised by the best agent. Raw returns are above. Left out: {left or 'none'}.",
        )])  # fmt: skip
    text = (
        f"Memory gap closed over {', '.join(agg.tasks)} (the tasks with both controls, whose "
        "memory test is shown, that every agent ran): IQM, mean, median and optimality gap "
        "(the mean shortfall from the oracle_memory control, 1) over all runs of these tasks, "
        "with 95% stratified bootstrap CIs that include the controls' uncertainty (a draw "
        "in which a task's gap vanishes is left out of the interval); performance profiles "
        "(the share of runs above each score) with 95% bootstrap bands."
    )
    if left:
        text += f" Left out: {left}."
    colors = context.colors
    out = Content(tables={"aggregate.csv": agg.estimates})
    figures = (
        out.figure("aggregate", plots.interval_estimates(agg.estimates, colors, "All tasks",
                                                         "gap closed", GAP_MARKS)),
        out.figure("profiles", performance_profiles(agg.taus, agg.profiles, colors)),
    )  # fmt: skip
    out.sections.append(Section("Aggregate over tasks", text, figures))
    return out


@dataclass
class Aggregate:
    tasks: list[str]  # every agent ran them, and they have both controls
    left_out: dict[str, str]  # task -> why it is not in the aggregate
    estimates: pd.DataFrame  # task ("all tasks"), agent, stat, value, low, high
    taus: np.ndarray
    profiles: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]  # agent -> profile, band


def aggregate(results: Results, reps: int) -> Aggregate:
    """Memory gap closed over the tasks that have both controls, whose memory test is shown
    (on the others the scale has no length to measure by) and that every agent ran."""
    agents, final = results.agents, results.final
    ran = final.groupby("task").agent.unique()
    tasks, left_out = [], {}
    for task in results.tasks:
        missing = sorted(set(agents) - set(ran[task]))
        gap = memory_gap(results, task, reps)
        pending = [c for c in results.pending_controls(task) if c in GAP_ENDS]
        if gap is None and pending:
            left_out[task] = f"its {' and '.join(pending)} control(s) not run yet"
        elif gap is None:
            left_out[task] = f"no {' and '.join(GAP_ENDS)} controls"
        elif not shown(gap):
            left_out[task] = (
                f"its memory test is not shown: {GAP_ENDS[1]} − {GAP_ENDS[0]} {gap}, an "
                "interval that does not lie above 0"
            )
        elif missing:
            left_out[task] = f"not run by {', '.join(missing)}"
        else:
            tasks.append(task)
    rows, profiles = [], {}
    taus = np.linspace(-0.25, 1.25, 61)
    for agent in agents:
        per_task = []
        for task in tasks:
            f = final[(final.task == task) & (final.agent == agent)]
            per_task.append((f.score.to_numpy(), *gap_samples(results, task)))
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


def performance_profiles(
    taus: np.ndarray,
    profiles: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
    colors: dict[str, tuple],
) -> Figure:
    """``profiles[agent] = (profile, band low, band high)``."""
    fig, ax = plt.subplots(figsize=(6, 3.4), layout="constrained")
    for agent, (profile, low, high) in profiles.items():
        ax.plot(taus, profile, color=colors[agent], label=agent, lw=1.6)
        ax.fill_between(taus, low, high, color=colors[agent], alpha=0.2, lw=0)
    ax.set(
        xlabel=r"memory gap closed $\tau$",
        ylabel=r"fraction of runs with score > $\tau$",
        title="Performance profiles (all tasks)",
        ylim=(-0.02, 1.02),
    )
    ax.grid(alpha=0.3)
    plots.legend_outside(ax)
    return fig
