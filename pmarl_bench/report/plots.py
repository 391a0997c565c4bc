"""What the report's figures share: one colour per agent in every figure and report, and
interval estimates (a task per row, a statistic per column). Each section module draws its
own figures; every figure function returns a matplotlib Figure, and only ``build`` writes
files."""

from __future__ import annotations

import zlib

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from pmarl_bench.controls import FRAME_STACK, MEMORYLESS, OLD_ORACLE, ORACLE_MEMORY, ORACLE_STATE

#: the controls and the first shipped baselines keep these colours in every report; any other
#: agent (a new memory core too) gets a stable one from a hash of its name, with no entry here
FIXED_COLOURS = {MEMORYLESS: 0, "mlp": 0, "gru": 1, "transformer": 2, FRAME_STACK: 3,
                 ORACLE_MEMORY: 4, OLD_ORACLE: 9, ORACLE_STATE: 9, "transformer-medium": 5,
                 "lstm": 6, "lru": 7, "mingru": 8}  # fmt: skip


def palette(agents: list[str]) -> dict[str, tuple]:
    """One colour per agent, the same in every figure and in every report: fixed for the
    shipped baselines and controls, else picked by a hash of the name (the next free one
    where two agents of a report would share it)."""
    colours = sns.color_palette("colorblind", 10)
    taken: set[int] = set()
    out = {}
    for agent in sorted(agents, key=lambda a: (a not in FIXED_COLOURS, a)):
        i = FIXED_COLOURS.get(agent, zlib.crc32(agent.encode()) % len(colours))
        while i in taken and len(taken) < len(colours):
            i = (i + 1) % len(colours)
        taken.add(i)
        out[agent] = colours[i]
    return {a: out[a] for a in agents}


def legend_outside(ax) -> None:
    ax.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))


def interval_estimates(
    estimates: pd.DataFrame,
    colors: dict[str, tuple],
    title: str,
    xlabel: str,
    marks: dict[str, float] | dict[str, dict[str, float]] | None = None,
) -> Figure:
    """Horizontal CI bars: one row per task, one column per statistic. ``estimates``
    columns: task, agent, stat, value, low, high. ``marks``: named reference values drawn as
    vertical lines, the same for every task or per task (``{task: {name: value}}``)."""
    tasks = list(dict.fromkeys(estimates.task))
    stats_ = list(dict.fromkeys(estimates.stat))
    agents = list(colors)
    # one task and many statistics (the aggregate): two panels a row, so the figure fits a
    # page's width at full size instead of being shrunk until its labels cannot be read
    wrap = len(tasks) == 1 and len(stats_) > 2
    ncols = 2 if wrap else len(stats_)
    nrows = -(-len(stats_) // ncols) if wrap else len(tasks)
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(3.2 * ncols + 1.2, (0.35 * len(agents) + 0.45) * nrows + 0.45),
        layout="constrained",
        squeeze=False,
    )
    for ax in axes.flat[len(stats_) :] if wrap else ():
        ax.axis("off")
    for i, task in enumerate(tasks):
        for j, stat in enumerate(stats_):
            ax = axes[j // ncols, j % ncols] if wrap else axes[i, j]
            rows = estimates[(estimates.task == task) & (estimates.stat == stat)]
            for k, agent in enumerate(agents):
                r = rows[rows.agent == agent]
                if r.empty:
                    continue
                r = r.iloc[0]
                if np.isfinite(r.low):
                    ax.barh(k, r.high - r.low, left=r.low, height=0.6, color=colors[agent],
                            alpha=0.75)  # fmt: skip
                ax.plot([r.value, r.value], [k - 0.3, k + 0.3], color="k", lw=1.5)
            _marks(ax, _task_marks(marks, task), len(agents))
            first = j % ncols == 0
            ax.set_yticks(range(len(agents)), agents if first else [""] * len(agents))
            ax.grid(axis="x", alpha=0.3)
            if i == 0:
                ax.set_title(stat.upper() if stat == "iqm" else stat)
            if first and len(tasks) > 1:
                ax.set_ylabel(task, rotation=0, ha="right", va="center")
            if i == len(tasks) - 1:
                ax.set_xlabel(xlabel)
    fig.suptitle(title)
    return fig


def _task_marks(marks, task: str) -> dict[str, float]:
    if not marks:
        return {}
    if all(isinstance(v, dict) for v in marks.values()):
        return marks.get(task, {})
    return marks


def _marks(ax, marks: dict[str, float], rows: int) -> None:
    for name, value in marks.items():
        if value is None or not np.isfinite(value):
            continue
        ax.axvline(value, color="0.4", ls=":", lw=1)
        ax.text(value, rows - 0.4, name, rotation=90, fontsize=6, color="0.35", ha="right",
                va="top")  # fmt: skip
