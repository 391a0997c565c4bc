"""Pairwise claims between agents, made only on enough evidence: "X beats Y on a task" needs
at least ``MIN_SEEDS`` seeds of each, a probability-of-improvement interval that excludes
0.5, and Welch's t-test significant at ``LEVEL`` after the Holm-Bonferroni correction over
its comparison family: the suite's choice (``comparisons``), by default every pair of agents
and controls on the same task. Families never mix suites or (by default) tasks, so adding
unrelated cells to a report changes no claim's p-value."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pmarl_bench.report import stats

MIN_SEEDS = 5
LEVEL = 0.05


@dataclass
class Comparison:
    task: str
    x: str
    y: str
    improvement: stats.Estimate  # P(X > Y)
    p: float  # Welch's t-test, two-sided
    seeds: int  # the fewer of the two
    p_holm: float = float("nan")
    #: appended to the verdict: which of the two are still rising at this budget
    budget: str = ""
    family: str = ""  # the comparisons its p-value is corrected with

    @property
    def verdict(self) -> str:
        x, y, task, est = self.x, self.y, self.task, self.improvement
        if self.seeds < MIN_SEEDS:
            return (
                f"no claim on {task} for {x} vs {y}: {self.seeds} seeds, a claim needs at least "
                f"{MIN_SEEDS} per agent (P({x} > {y}) {est})"
            )
        separated = np.isfinite(est.low) and (est.low > 0.5 or est.high < 0.5)
        if separated and self.p_holm < LEVEL:
            winner, loser = (x, y) if est.value > 0.5 else (y, x)
            shown = est if winner == x else _flip(est)
            return (
                f"{winner} beats {loser} on {task}: P(improvement) {shown}, "
                f"Holm-adjusted p {self.p_holm:.2g}{self.budget}"
            )
        need = stats.seeds_to_separate(est, self.seeds)
        more = (
            "no sign of a difference"
            if need is None
            else f"about {need} seeds per agent might separate them (now {self.seeds})"
        )
        why = "CI includes 0.5" if not separated else f"Holm-adjusted p {self.p_holm:.2g}"
        return (
            f"no clear difference between {x} and {y} on {task} ({why}): P({x} > {y}) {est}; "
            f"{more}{self.budget}"
        )


def compare_all(
    final: pd.DataFrame, reps: int, families: dict[str, str] | None = None
) -> list[Comparison]:
    """Every pair of agents on every task both ran (``final``: task, agent, seed, score),
    with Holm-adjusted p-values within each comparison family (``families``: task -> its
    family; a task not named there is a family of its own)."""
    families = families or {}
    out = []
    for task, g in final.groupby("task"):
        runs = {a: r.score.to_numpy() for a, r in g.groupby("agent")}
        for x, y in itertools.combinations(sorted(runs), 2):
            est = stats.probability_of_improvement([runs[x]], [runs[y]], reps=reps)
            seeds = min(len(runs[x]), len(runs[y]))
            out.append(Comparison(task, x, y, est, stats.welch_p(runs[x], runs[y]), seeds))
    family_of = [families.get(c.task, f"task {c.task}") for c in out]
    for family in set(family_of):
        members = [c for c, f in zip(out, family_of, strict=True) if f == family]
        for c, p in zip(members, stats.holm([c.p for c in members]), strict=True):
            c.p_holm = p
            c.family = family
    return out


def table(comparisons: list[Comparison]) -> pd.DataFrame:
    rows = [
        {"task": c.task, "x": c.x, "y": c.y, "value": c.improvement.value,
         "low": c.improvement.low, "high": c.improvement.high, "seeds": c.seeds,
         "p_welch": c.p, "p_holm": c.p_holm, "family": c.family}
        for c in comparisons
    ]  # fmt: skip
    return pd.DataFrame(rows)


def _flip(e: stats.Estimate) -> stats.Estimate:
    return stats.Estimate(1 - e.value, 1 - e.high, 1 - e.low)
