"""Learning curves: each agent's episode return against env steps, mean over seeds with a
bootstrap band, beside the random policy's return and the env's own levels."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import EngFormatter

from pmarl_bench.report import stats
from pmarl_bench.report.content import Content, Context
from pmarl_bench.report.pages import Section
from pmarl_bench.report.plots import legend_outside
from pmarl_bench.report.results import Results

#: reference levels drawn as lines: the env's own (where it knows them), the random policy's
#: measured return and the controls' mean final scores
LEVEL_STYLES = {
    "random": ("0.55", ":"),
    "chance": ("0.3", ":"),
    "memoryless": ("0.3", "--"),
    "optimal": ("0.3", "-."),
}


def load(results: Results) -> Results:
    return results


def section(results: Results, context: Context) -> Content:
    out = Content()
    names = []
    for i, task in enumerate(results.tasks):
        bands = curve_bands(results.curves[results.curves.task == task], context.reps)
        lv = results.levels.set_index("task").loc[task].to_dict()
        fig = learning_curve(bands, lv, task, context.colors)
        names.append(out.figure(f"curve_{i:02d}", fig))
    out.sections.append(Section(
        "Learning curves",
        "Episode return per agent against env steps: mean over seeds with a 95% bootstrap "
        "confidence band. The controls (memoryless, frame_stack, oracle_memory, "
        "oracle_state) are curves of their own where the suite has them; the random "
        "policy's measured return and the env's own levels (where it knows them) are lines.",
        tuple(names),
    ))  # fmt: skip
    return out


def curve_bands(curves: pd.DataFrame, reps: int) -> dict:
    """Per agent: steps, mean over seeds and a 95% bootstrap band (seeds resampled)."""
    out = {}
    for agent, g in curves.groupby("agent"):
        wide = g.pivot_table(index="env_steps", columns="seed", values="value").ffill().bfill()
        mean, low, high = stats.mean_band(wide.to_numpy().T, reps=min(reps, 1000))
        out[agent] = (wide.index.to_numpy(), mean, low, high)
    return out


def learning_curve(
    curves: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
    levels: dict[str, float | None],
    task: str,
    colors: dict[str, tuple],
) -> Figure:
    """Return against env steps per agent: ``curves[agent] = (steps, mean, low, high)``;
    ``levels``: the env's and the random policy's (controls are curves of their own)."""
    fig, ax = plt.subplots(figsize=(6.5, 3.4), layout="constrained")
    for agent, (steps, mean, low, high) in curves.items():
        ax.plot(steps, mean, color=colors[agent], label=agent, lw=1.6)
        ax.fill_between(steps, low, high, color=colors[agent], alpha=0.2, lw=0)
    for name, (colour, style) in LEVEL_STYLES.items():
        level = levels.get(name)
        if level is not None and np.isfinite(level):
            ax.axhline(level, color=colour, ls=style, lw=1, label=f"{name} (env)"
                       if name != "random" else "random policy")  # fmt: skip
    ax.set(title=task, xlabel="env steps (per seed)", ylabel="episode return")
    ax.xaxis.set_major_formatter(EngFormatter())
    ax.grid(alpha=0.3)
    legend_outside(ax)
    return fig
