"""Report figures. Each function takes tidy inputs and returns a matplotlib Figure; only
``build`` writes files."""

from __future__ import annotations

import zlib

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.ticker import EngFormatter, NullFormatter

from pmarl_bench.report.stats import Estimate

#: reference levels drawn as lines: the env's own (where it knows them), the random policy's
#: measured return and the controls' mean final scores
LEVEL_STYLES = {
    "random": ("0.55", ":"),
    "chance": ("0.3", ":"),
    "memoryless": ("0.3", "--"),
    "optimal": ("0.3", "-."),
}
#: agents that keep their colour in every report (others: by a hash of their name)
FIXED_COLOURS = {"mlp": 0, "memoryless": 0, "gru": 1, "transformer": 2, "frame_stack": 3,
                 "oracle": 4, "transformer-medium": 5, "lstm": 6, "lru": 7,
                 "mingru": 8}  # fmt: skip


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


def _legend_outside(ax) -> None:
    ax.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))


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
    _legend_outside(ax)
    return fig


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
    fig, axes = plt.subplots(
        len(tasks),
        len(stats_),
        figsize=(3.2 * len(stats_) + 1.2, 0.35 * len(agents) * len(tasks) + 0.9),
        layout="constrained",
        squeeze=False,
    )
    for i, task in enumerate(tasks):
        for j, stat in enumerate(stats_):
            ax = axes[i, j]
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
            ax.set_yticks(range(len(agents)), agents if j == 0 else [""] * len(agents))
            ax.grid(axis="x", alpha=0.3)
            if i == 0:
                ax.set_title(stat.upper() if stat == "iqm" else stat)
            if j == 0 and len(tasks) > 1:
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
    _legend_outside(ax)
    return fig


def probability_of_improvement(pairs: dict[tuple[str, str], Estimate]) -> Figure:
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


def throughput(table: pd.DataFrame, colors: dict[str, tuple]) -> Figure:
    """Agent-steps/s and compile time per task x agent (from the manifests)."""
    tasks = list(dict.fromkeys(table.task))
    agents = [a for a in colors if a in set(table.agent)]
    fig, axes = plt.subplots(1, 2, figsize=(10, 0.3 * len(tasks) * len(agents) + 1.4),
                             layout="constrained")  # fmt: skip
    height = 0.8 / max(len(agents), 1)
    for ax, column, label in (
        (axes[0], "agent_steps_per_second", "agent-steps/s (all seeds, learning included)"),
        (axes[1], "compile_seconds", "compile seconds"),
    ):
        for k, agent in enumerate(agents):
            rows = table[table.agent == agent].set_index("task").reindex(tasks)
            ax.barh(np.arange(len(tasks)) + k * height, rows[column], height=height,
                    color=colors[agent], label=agent)  # fmt: skip
        ax.set_yticks(np.arange(len(tasks)) + height * (len(agents) - 1) / 2, tasks)
        ax.invert_yaxis()
        ax.set_xlabel(label)
        ax.grid(axis="x", alpha=0.3)
    axes[0].xaxis.set_major_formatter(EngFormatter())
    _legend_outside(axes[1])
    return fig


def sensitivity(table: pd.DataFrame, colors: dict[str, tuple]) -> Figure:
    """Score against each swept setting: one row per setting, one column per env, one line
    per agent with CI bars. ``table``: ``report.tuning.sensitivity``'s columns."""
    settings = list(dict.fromkeys(table.setting))
    envs = list(dict.fromkeys(table.env))
    fig, axes = plt.subplots(
        len(settings),
        len(envs),
        figsize=(3.0 * len(envs) + 1.4, 2.4 * len(settings) + 0.6),
        layout="constrained",
        squeeze=False,
    )
    for i, setting in enumerate(settings):
        values = table.value[table.setting == setting]
        log = bool((values > 0).all() and values.max() / values.min() >= 10)
        for j, env in enumerate(envs):
            ax = axes[i, j]
            rows = table[(table.setting == setting) & (table.env == env)]
            for agent, r in rows.groupby("agent", sort=False):
                r = r.sort_values("value")
                err = np.vstack([r.iqm - r.low, r.high - r.iqm])
                ax.errorbar(r.value, r.iqm, yerr=np.where(np.isfinite(err), err, 0.0),
                            color=colors[agent], label=agent, marker="o", ms=3, lw=1.2,
                            capsize=2)  # fmt: skip
            if log:
                ax.set_xscale("log")
                ax.xaxis.set_minor_formatter(NullFormatter())
            ticks = sorted(values.unique())
            if len(ticks) <= 8:  # a grid's values, written as in the suite
                ax.set_xticks(ticks, [f"{v:g}" for v in ticks], fontsize=8)
            ax.grid(alpha=0.3)
            if i == 0:
                ax.set_title(env)
            if j == 0:
                ax.set_ylabel(f"IQM score\n(best at each {setting})")
            ax.set_xlabel(setting)
    _legend_outside(axes[0, -1])
    fig.suptitle("Sensitivity to each swept setting (tuning seeds)")
    return fig


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
    _legend_outside(axes[0, -1])
    fig.suptitle("OpenSkill ratings of every seed's checkpoints")
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
