"""Probability of improvement between every pair of agents, and the pairwise claims the
evidence supports (``report.claims``)."""

from __future__ import annotations

import itertools

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from pmarl_bench.report import budget, claims, stats
from pmarl_bench.report.content import Content, Context
from pmarl_bench.report.pages import Section
from pmarl_bench.report.results import Results


def load(results: Results) -> Results | None:
    """Nothing to compare with one agent."""
    return results if len(results.agents) > 1 else None


def section(results: Results, context: Context) -> Content:
    reps = context.reps
    comparisons = claims.compare_all(results.final, reps, results.families)
    rises = budget.rises(results, reps)
    for c in comparisons:
        c.budget = budget.budget_note(rises, c.task, [c.x, c.y])
    families = sorted({c.family for c in comparisons})
    pairs = {}
    for x, y in itertools.combinations(results.agents, 2):
        both = [c for c in comparisons if (c.x, c.y) == (x, y)]
        if both:
            xs, ys = zip(*[_runs(results, c.task, x, y) for c in both], strict=True)
            pairs[(x, y)] = stats.probability_of_improvement(list(xs), list(ys), reps=reps)
    out = Content(tables={"probability_of_improvement.csv": claims.table(comparisons)})
    out.sections.append(Section(
        "Probability of improvement",
        "P(X > Y): the chance that a seed of X ends above a seed of Y on the same task (ties "
        "count half), 95% bootstrap CI; 0.5 is no difference. A claim that one agent beats "
        f"another needs at least {claims.MIN_SEEDS} seeds of each, an interval that excludes "
        f"0.5 and Welch's t-test significant at {claims.LEVEL} after the Holm-Bonferroni "
        "correction within its comparison family (the suite's `comparisons`: by default each "
        "task's pairs of agents and controls, so cells of other tasks or suites never change "
        f"a claim); {len(comparisons)} comparisons in {len(families)} families here. The "
        "figure pools each pair's common tasks and makes no claim.\n\n"
        + "\n".join(f"- {c.verdict}" for c in sorted(comparisons, key=lambda c: c.verdict)),
        (out.figure("improvement", probability_of_improvement(pairs)),),
    ))  # fmt: skip
    return out


def _runs(results: Results, task: str, x: str, y: str) -> tuple[np.ndarray, np.ndarray]:
    f = results.final[results.final.task == task]
    return f[f.agent == x].score.to_numpy(), f[f.agent == y].score.to_numpy()


def probability_of_improvement(pairs: dict[tuple[str, str], stats.Estimate]) -> Figure:
    labels = [f"P({x} > {y})" for x, y in pairs]
    fig, ax = plt.subplots(figsize=(5.5, 0.4 * len(pairs) + 1.0), layout="constrained")
    for k, est in enumerate(pairs.values()):
        if np.isfinite(est.low):
            ax.barh(k, est.high - est.low, left=est.low, height=0.6, color="tab:blue", alpha=0.6)
        ax.plot([est.value, est.value], [k - 0.3, k + 0.3], color="k", lw=1.5)
    ax.axvline(0.5, color="0.3", ls="--", lw=1)
    ax.set_yticks(range(len(labels)), labels)
    ax.set(xlim=(0, 1), xlabel="probability of improvement (all tasks)")
    ax.grid(axis="x", alpha=0.3)
    return fig
