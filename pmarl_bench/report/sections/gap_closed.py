"""The memory gap closed per task: each agent's final score on the scale of the task's
controls, with a CI that includes the controls' own uncertainty."""

from __future__ import annotations

import pandas as pd

from pmarl_bench.report import budget, plots, stats
from pmarl_bench.report.content import Content, Context
from pmarl_bench.report.memory import GAP_MARKS, gap_samples, memory_gap, shown
from pmarl_bench.report.pages import Section
from pmarl_bench.report.results import Results
from pmarl_bench.report.sections.final_scores import score_table, with_budget


def load(results: Results) -> Results | None:
    """Nothing to show unless a task has both ends of the scale."""
    return results if any(gap_samples(results, t) is not None for t in results.tasks) else None


def section(results: Results, context: Context) -> Content:
    gap = gap_closed_per_task(results, context.reps)
    unscaled = [
        t for t in results.tasks
        if gap_samples(results, t) is not None and t not in set(gap.task)
    ]  # fmt: skip
    left = (
        f" Left out: {', '.join(unscaled)}, whose memory test is not shown (the scale has no "
        "length to measure by; see Does this task test memory?)."
        if unscaled
        else ""
    )
    if gap.empty:
        return Content([Section("Memory gap closed per task", f"No task to scale.{left}")])
    fig = plots.interval_estimates(gap, context.colors, "Memory gap closed", "gap closed",
                                   GAP_MARKS)  # fmt: skip
    out = Content(tables={"gap_closed.csv": gap})
    out.sections.append(Section(
        "Memory gap closed per task",
        "Each agent's final score on the scale of the task's controls: 0 at the "
        "memoryless control's mean, 1 at the perfect-memory (oracle_memory) control's. "
        "Mean over seeds with a 95% stratified bootstrap CI that resamples the controls' "
        f"seeds too, so it includes their uncertainty.{left}",
        (out.figure("gap_closed", fig),),
        with_budget(score_table(gap.assign(stat="gap closed")),
                    budget.rises(results, context.reps), budget.evaluation_noise(results)),
    ))  # fmt: skip
    return out


def gap_closed_per_task(results: Results, reps: int) -> pd.DataFrame:
    """Per task with both controls and a memory test that is shown, and per agent: the mean
    share of the memoryless to perfect-memory gap its seeds close, with a CI that includes
    the controls' own uncertainty."""
    rows = []
    for task in results.tasks:
        ends = gap_samples(results, task)
        if ends is None or not shown(memory_gap(results, task, reps)):
            continue
        f = results.final[results.final.task == task]
        for agent, g in f.groupby("agent"):
            est = stats.gap_closed([(g.score.to_numpy(), *ends)], "mean", reps=reps)
            rows.append({"task": task, "agent": agent, "stat": "mean", "value": est.value,
                         "low": est.low, "high": est.high, "seeds": len(g)})  # fmt: skip
    return pd.DataFrame(rows, columns=["task", "agent", "stat", "value", "low", "high", "seeds"])
