"""Ratings of the competitive tasks' checkpoints (``pmarl-bench rate``'s ``ratings/``
tables): each checkpoint's OpenSkill mu against training progress, the final policies
ranked."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import EngFormatter

from pmarl_bench.report import plots
from pmarl_bench.report.content import Content, Context
from pmarl_bench.report.pages import Section
from pmarl_bench.report.results import Results, tables
from pmarl_bench.results.store import RATINGS_FOLDER


def load(results: Results) -> pd.DataFrame | None:
    table = tables(results.sources, RATINGS_FOLDER, results.name)
    return None if table.empty else table


def section(table: pd.DataFrame, context: Context) -> Content:
    finals = table[table.checkpoint == "final"].sort_values(["task", "ordinal"],
                                                            ascending=[True, False])  # fmt: skip
    columns = ["task", "agent", "seed", "mu", "sigma", "ordinal", "matches", "wins", "draws"]
    colors = {**plots.palette(sorted(table.agent.unique())), **context.colors}
    out = Content(tables={"ratings.csv": table})
    out.sections.append(Section(
        "Ratings",
        "OpenSkill (Plackett-Luce) ratings of every (agent, seed, checkpoint) of each "
        "competitive task, from matches `pmarl-bench rate` played between them (each player "
        "against randomly drawn others, half the episodes on each side; the team holding more "
        "of the score wins). Figure: each checkpoint's mu (+-sigma) against training progress. "
        "Table: the final policies, ranked by ordinal (mu - 3 sigma). Ratings are relative to "
        "the pool of players rated together.",
        (out.figure("ratings", ratings(table, colors)),),
        finals[columns].round(3),
    ))  # fmt: skip
    return out


def ratings(table: pd.DataFrame, colors: dict[str, tuple]) -> Figure:
    """OpenSkill mu against training progress, one panel per task: a dot per (seed,
    checkpoint) with +-sigma, a line through each agent's mean over seeds."""
    tasks = list(dict.fromkeys(table.task))
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.6 * len(tasks) + 1.2, 3.2),
                             layout="constrained", squeeze=False)  # fmt: skip
    for ax, task in zip(axes[0], tasks, strict=True):
        rows = table[table.task == task]
        for agent, r in rows.groupby("agent", sort=True):
            colour = colors.get(agent, "0.4")
            ax.errorbar(r.env_steps, r.mu, yerr=r.sigma, fmt="o", ms=3, color=colour,
                        alpha=0.35, lw=0.8)  # fmt: skip
            mean = r.groupby("env_steps").mu.mean()
            ax.plot(mean.index, mean.to_numpy(), color=colour, lw=1.6, label=agent)
        ax.set(title=task, xlabel="env steps (per seed) at the checkpoint", ylabel="rating mu")
        ax.xaxis.set_major_formatter(EngFormatter())
        ax.grid(alpha=0.3)
    plots.legend_outside(axes[0, -1])
    fig.suptitle("OpenSkill ratings of every seed's checkpoints")
    return fig
