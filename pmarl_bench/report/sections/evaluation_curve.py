"""The evaluation curve (suites with ``evaluation.every``): each agent's saved policies on the
same evaluation episodes at points through training, greedy and stochastic, mean over seeds
with a bootstrap band."""

from __future__ import annotations

import pandas as pd

from pmarl_bench.report.content import Content, Context
from pmarl_bench.report.pages import Section
from pmarl_bench.report.results import Results
from pmarl_bench.report.sections.curves import curve_bands, learning_curve

#: the metrics' prefix (``evaluation.after_training.CURVE``)
PREFIX = "eval_curve/"


def load(results: Results) -> pd.DataFrame | None:
    df = results.metrics
    rows = df[df.metric.str.startswith(PREFIX)].copy()
    if rows.empty:
        return None
    parts = rows.metric.str.removeprefix(PREFIX).str.rsplit("/", n=1)
    rows["mode"] = parts.str[-1].str.removeprefix("return_")  # greedy | stochastic
    rows["task"] = [results.name(s, e if len(p) == 1 else f"{e}/{p[0]}")
                    for s, e, p in zip(rows.suite, rows.env, parts, strict=True)]  # fmt: skip
    # episodes per seed at each point: the cell's evaluation.episodes (64 unless set)
    episodes = {(m["suite"], m["env"], m["agent"]): m.get("config", {}).get("evaluation", {})
                .get("episodes", 64) for m in results.manifests}  # fmt: skip
    cells = zip(rows.suite, rows.env, rows.agent, strict=True)
    rows["episodes"] = [episodes.get(cell, 64) for cell in cells]
    return rows[["task", "agent", "seed", "env_steps", "mode", "value", "episodes"]]


def section(rows: pd.DataFrame, context: Context) -> Content:
    out = Content(tables={"evaluation_curve.csv": rows})
    names = []
    for i, ((task, mode), g) in enumerate(rows.groupby(["task", "mode"], sort=True)):
        bands = curve_bands(g, context.reps)
        fig = learning_curve(bands, {}, f"{task} ({mode} actions)", context.colors)
        fig.axes[0].set_ylabel("evaluation return")
        names.append(out.figure(f"evaluation_curve_{i:02d}", fig))
    per_point = ", ".join(sorted({f"{n}" for n in rows.episodes}))
    out.sections.append(Section(
        "Evaluation during training",
        "Each agent's policy at points through training (its saved checkpoints, "
        "`evaluation.every` env steps apart, and the final one) on the same evaluation "
        f"episodes at every point ({per_point} per seed, the final-policy evaluation's keys), "
        "with the most likely action (greedy) and with sampled actions (as trained): mean "
        "over seeds with a 95% bootstrap band (evaluation_curve.csv).",
        tuple(names),
    ))  # fmt: skip
    return out
