"""Cross-play: each cell's seeds with each other's partners (from the manifests) and, after
``pmarl-bench crossplay``, every agent's seeds with every agent's (``cross_play/`` tables).
A gap between self-play and cross-play means the seeds learned conventions."""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from pmarl_bench.report import stats
from pmarl_bench.report.content import Content, Context
from pmarl_bench.report.pages import Section
from pmarl_bench.report.results import Results, tables
from pmarl_bench.results.store import CROSS_PLAY_FOLDER


@dataclass
class CrossPlay:
    #: (task, agent) -> (seeds, cross-play matrix [seeds, seeds]: row i's seed on the focal
    #: side, column j's as its partners; ``evaluation.crossplay``)
    matrices: dict[tuple[str, str], tuple[list[int], np.ndarray]]
    #: between cells (``pmarl-bench crossplay``): task, focal_agent, focal_seed,
    #: partner_agent, partner_seed, return_stochastic
    pairs: pd.DataFrame


def load(results: Results) -> CrossPlay | None:
    matrices = {}
    for m in results.manifests:
        cross = m.get("cross_play") or {}
        for key, matrix in (cross.get("matrices") or {}).items():
            env = m["env"] if not m.get("tasks") else f"{m['env']}/{key}"
            matrices[(results.name(m["suite"], env), m["agent"])] = (
                list(cross["seeds"]), np.asarray(matrix, float)
            )  # fmt: skip
    pairs = tables(results.sources, CROSS_PLAY_FOLDER, results.name)
    return CrossPlay(matrices, pairs) if matrices or not pairs.empty else None


def section(data: CrossPlay, context: Context) -> Content:
    rows = []
    for (task, agent), (seeds, m) in sorted(data.matrices.items()):
        gap = stats.cross_play_gap(m, reps=context.reps)
        off = m[~np.eye(len(m), dtype=bool)]
        rows.append({"task": task, "agent": agent, "self-play": float(np.diag(m).mean()),
                     "cross-play": float(off.mean()) if off.size else np.nan,
                     "gap": gap.value, "low": gap.low, "high": gap.high,
                     "seeds": len(seeds)})  # fmt: skip
    table = pd.DataFrame(rows)
    out = Content(tables={"cross_play.csv": table})
    figures = []
    if data.matrices:
        figures.append(out.figure("cross_play", cross_play_matrices(data.matrices)))
    text = (
        "Each seed's final policy on the focal side (Scouts: the scouts; Traveling Salesman: "
        "agent 0) with every seed's policy as its partners, on the final-policy evaluation's "
        "episodes (actions sampled): the matrices' diagonals are the self-play scores. Gap: "
        "self-play minus cross-play mean return, with a 95% bootstrap CI over seeds; a gap "
        "above 0 means the seeds learned conventions their partners must share."
    )
    pairs = data.pairs
    if not pairs.empty:
        other = pairs[(pairs.focal_agent != pairs.partner_agent)
                      | (pairs.focal_seed != pairs.partner_seed)]  # fmt: skip
        means = (other.groupby(["task", "focal_agent", "partner_agent"]).return_stochastic
                 .mean().reset_index())  # fmt: skip
        out.tables["cross_play_agents.csv"] = means
        figures.append(out.figure("cross_play_agents", agent_pairs(means)))
        text += (
            " Between agents (`pmarl-bench crossplay`): each agent's seeds on the focal side "
            "with each agent's seeds as partners, the mean over pairs of different seeds "
            "(cross_play_agents.csv)."
        )
    out.sections.append(Section("Cross-play", text, tuple(figures), table.round(4)))
    return out


def cross_play_matrices(cells: dict[tuple[str, str], tuple[list[int], np.ndarray]]) -> Figure:
    """One heatmap per (task, agent): rows the focal side's seed, columns its partners'."""
    tasks = sorted({t for t, _ in cells})
    agents = sorted({a for _, a in cells})
    fig, axes = plt.subplots(
        len(tasks), len(agents), figsize=(2.6 * len(agents) + 0.6, 2.4 * len(tasks) + 0.5),
        layout="constrained", squeeze=False,
    )  # fmt: skip
    for i, task in enumerate(tasks):
        for j, agent in enumerate(agents):
            ax = axes[i, j]
            if (task, agent) not in cells:
                ax.axis("off")
                continue
            seeds, m = cells[(task, agent)]
            image = ax.imshow(m, cmap="viridis")
            ax.set_xticks(range(len(seeds)), seeds, fontsize=7)
            ax.set_yticks(range(len(seeds)), seeds, fontsize=7)
            ax.set_title(f"{task} / {agent}", fontsize=8)
            if j == 0:
                ax.set_ylabel("focal side's seed", fontsize=8)
            if i == len(tasks) - 1:
                ax.set_xlabel("partners' seed", fontsize=8)
            fig.colorbar(image, ax=ax, shrink=0.8)
    fig.suptitle("Cross-play: mean per-agent return")
    return fig


def agent_pairs(means: pd.DataFrame) -> Figure:
    """Cross-play between agents, one heatmap per task: rows the focal side's agent, columns
    its partners' agent; ``means``: task, focal_agent, partner_agent, return_stochastic."""
    tasks = list(dict.fromkeys(means.task))
    fig, axes = plt.subplots(1, len(tasks), figsize=(3.4 * len(tasks) + 0.8, 3.0),
                             layout="constrained", squeeze=False)  # fmt: skip
    for ax, task in zip(axes[0], tasks, strict=True):
        grid = means[means.task == task].pivot(
            index="focal_agent", columns="partner_agent", values="return_stochastic"
        )
        image = ax.imshow(grid.to_numpy(), cmap="viridis")
        ax.set_xticks(range(len(grid.columns)), grid.columns, fontsize=7, rotation=30)
        ax.set_yticks(range(len(grid.index)), grid.index, fontsize=7)
        values = grid.to_numpy()
        middle = (np.nanmin(values) + np.nanmax(values)) / 2
        for (i, j), v in np.ndenumerate(values):  # dark text on the bright end of viridis
            ax.text(j, i, f"{v:.3g}", ha="center", va="center", fontsize=7,
                    color="k" if v > middle else "w")  # fmt: skip
        ax.set(title=task, xlabel="partners' agent", ylabel="focal side's agent")
        fig.colorbar(image, ax=ax, shrink=0.8)
    fig.suptitle("Cross-play between agents: mean return over pairs of different seeds")
    return fig
