"""Evaluations measured after training other than the final score (the greedy policy's
return, team shares against random agents and earlier checkpoints), one row per metric and
checkpoint."""

from __future__ import annotations

import pandas as pd

from pmarl_bench.report import stats
from pmarl_bench.report.content import Content, Context
from pmarl_bench.report.pages import Section
from pmarl_bench.report.results import Results


def load(results: Results) -> pd.DataFrame | None:
    evals = results.evaluations
    return None if evals.empty else evals


def section(evals: pd.DataFrame, context: Context) -> Content:
    rows = []
    keys = ["task", "agent", "metric", "env_steps"]
    for (task, agent, metric, steps), g in evals.groupby(keys):
        est = stats.aggregate([g.value.to_numpy()], "mean", reps=context.reps)
        rows.append({"task": task, "agent": agent, "metric": metric, "env steps": int(steps),
                     "mean [95% CI]": str(est), "seeds": len(g)})  # fmt: skip
    return Content([Section(
        "Evaluations",
        "Measured after training. King of the Hill: the share of point-steps the trained "
        "team holds against a team of random agents (point_share) and the random team's share "
        "(random_point_share), at the final checkpoint; and, for each earlier checkpoint "
        "(suites with checkpoint_every), the final policy's share against that checkpoint's "
        "policy (final_vs_checkpoint) and the checkpoint's share (checkpoint_vs_final). "
        "env steps: per seed, when the evaluated (checkpoint) policy was saved.",
        table=pd.DataFrame(rows),
    )])  # fmt: skip
