"""Choosing each agent's PPO settings from a sweep's results (``pmarl-bench tune``).

A trial's score on a task is the interquartile mean, over the tuning seeds, of each seed's
final score: its final policy's return on the evaluation episodes (``eval/return_stochastic``;
for a multi-task env, the mean over its tasks). ``per="task"`` picks the best trial of every
(env, agent); ``per="agent"`` one trial per agent for all its envs, the best mean over envs of
the trial scores scaled to [0, 1] within each env (so no task's reward scale dominates).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import yaml
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from pmarl_bench.errors import ConfigError
from pmarl_bench.report import plots, stats
from pmarl_bench.report.files import save
from pmarl_bench.report.results import SCORE_METRIC
from pmarl_bench.report.stats import iqm
from pmarl_bench.results import load_cells

Per = Literal["task", "agent"]
CRITERION = (
    "interquartile mean over the tuning seeds of the final policy's return on the evaluation "
    f"episodes (eval/{SCORE_METRIC}; multi-task envs: the mean over tasks)"
)


@dataclass(frozen=True)
class Sweep:
    """A sweep's results: every (env, agent, trial, seed) score and each trial's settings.
    An agent's variants (shape-changing settings swept, one cell each) are pooled under the
    agent: their trials are numbered on, in the order of the variants' names."""

    scores: pd.DataFrame  # env, agent, trial, seed, score
    settings: dict[tuple[str, str], list[dict]]  # (env, agent) -> trial -> settings
    seeds: list[int]
    suite: str
    #: (env, agent) -> trial -> the cell that trained it (``env/agent`` or ``env/variant``)
    cells: dict[tuple[str, str], list[str]] = field(default_factory=dict)


def read_sweep(path: str | Path) -> Sweep:
    """The sweep cells under ``path`` (``results/<suite>-tune``)."""
    found = load_cells(path)
    df = found.metrics
    if "trial" not in df.columns or not any(m.get("trials") for m in found.manifests):
        raise ConfigError("no sweep results here; `pmarl-bench tune SUITE` trains them", str(path))
    # (env, cell's agent) -> (env, agent pooled under, first trial number)
    pooled: dict[tuple[str, str], tuple[str, int]] = {}
    settings: dict[tuple[str, str], list[dict]] = {}
    cells: dict[tuple[str, str], list[str]] = {}
    for m in sorted(found.manifests, key=lambda m: (m["env"], m["agent"])):
        if not m.get("trials"):
            continue
        agent = (m.get("config") or {}).get("swept_agent") or m["agent"]
        trials = settings.setdefault((m["env"], agent), [])
        pooled[(m["env"], m["agent"])] = (agent, len(trials))
        trials += [dict(t) for t in m["trials"]]
        cells.setdefault((m["env"], agent), []).extend([f"{m['env']}/{m['agent']}"] * len(
            m["trials"]))  # fmt: skip
    ev = df[df.trial.notna() & df.metric.str.startswith("eval/")]
    ev = ev[ev.metric.str.endswith("/" + SCORE_METRIC)].copy()
    if ev.empty:
        raise ConfigError(f"the sweep cells hold no eval/{SCORE_METRIC} rows", str(path))
    ev["overall"] = ev.metric == f"eval/{SCORE_METRIC}"
    keys = ["env", "agent", "trial", "seed"]
    ev = ev[ev.overall | ~ev.groupby(keys).overall.transform("any")]
    scores = ev.groupby(keys).value.mean().rename("score").reset_index()
    at = [pooled[(e, a)] for e, a in zip(scores.env, scores.agent, strict=True)]
    scores["agent"] = [agent for agent, _ in at]
    scores["trial"] = [first + int(t) for (_, first), t in zip(at, scores.trial, strict=True)]
    return Sweep(
        scores=scores.sort_values(keys).reset_index(drop=True),
        settings=settings,
        seeds=sorted(int(s) for s in scores.seed.unique()),
        suite=str(df.suite.iloc[0]),
        cells=cells,
    )


def trial_table(sweep: Sweep) -> pd.DataFrame:
    """env, agent, trial, its settings (one column each), IQM score and seeds."""
    table = (
        sweep.scores.groupby(["env", "agent", "trial"])
        .score.agg(iqm=lambda s: float(iqm(s.to_numpy())), seeds="count")
        .reset_index()
    )
    names = sorted({k for trials in sweep.settings.values() for t in trials for k in t})
    for name in names:
        table[name] = [
            sweep.settings[(e, a)][t].get(name, np.nan)
            for e, a, t in zip(table.env, table.agent, table.trial, strict=True)
        ]
    if any(len(set(c)) > 1 for c in sweep.cells.values()):  # variants: where each trained
        table["cell"] = [
            sweep.cells[(e, a)][t]
            for e, a, t in zip(table.env, table.agent, table.trial, strict=True)
        ]
    return table


def sensitivity(sweep: Sweep, reps: int = stats.REPS) -> pd.DataFrame:
    """How each agent's score depends on each swept setting: for every value a setting took,
    the best trial with that value (the others as good as the sweep found them), its IQM
    over the tuning seeds and a 95% bootstrap CI. Columns: env, agent, setting, value,
    trial, iqm, low, high, seeds."""
    table = trial_table(sweep)
    names = [c for c in table.columns if c not in ("env", "agent", "trial", "iqm", "seeds", "cell")]
    by_trial = sweep.scores.groupby(["env", "agent", "trial"]).score
    rows = []
    for (env, agent), t in table.groupby(["env", "agent"]):
        for name in names:
            swept = t.dropna(subset=[name])
            if swept[name].nunique() < 2:  # not varied for this agent: nothing to show
                continue
            for value, g in swept.groupby(name):
                best = g.loc[g.iqm.idxmax()]
                runs = by_trial.get_group((env, agent, best.trial)).to_numpy()
                est = stats.aggregate([runs], "iqm", reps=reps)
                rows.append({"env": env, "agent": agent, "setting": name, "value": value,
                             "trial": int(best.trial), "iqm": est.value, "low": est.low,
                             "high": est.high, "seeds": len(runs)})  # fmt: skip
    columns = ["env", "agent", "setting", "value", "trial", "iqm", "low", "high", "seeds"]
    return pd.DataFrame(rows, columns=columns)


def write_sensitivity(sweep: Sweep, folder: Path, name: str, reps: int = stats.REPS):
    """``sensitivity`` as ``<name>.csv`` and a figure ``<name>.png``/``.svg`` in ``folder``;
    returns the figure's name and the table (no figure where nothing was varied)."""
    table = sensitivity(sweep, reps)
    _write_text(Path(folder) / f"{name}.csv", table.to_csv(index=False, float_format="%.6g"))
    if table.empty:
        return None, table
    colors = plots.palette(sorted(table.agent.unique()))
    return save(sensitivity_figure(table, colors), Path(folder), name), table


def choose(sweep: Sweep, per: Per = "task") -> pd.DataFrame:
    """The chosen trial of every (env, agent): env, agent, trial, iqm (ties: the first)."""
    table = trial_table(sweep)
    if per == "task":
        best = table.loc[table.groupby(["env", "agent"]).iqm.idxmax()]
        return best[["env", "agent", "trial", "iqm"]].reset_index(drop=True)
    rows = []
    for agent, t in table.groupby("agent"):
        grids = {str(sweep.settings[(e, agent)]) for e in t.env.unique()}
        if len(grids) > 1:
            raise ConfigError(
                f"agent {agent!r} was swept over different settings on different envs; "
                "choose per task",
                "--per",
            )
        low = t.groupby("env").iqm.transform("min")
        span = t.groupby("env").iqm.transform("max") - low
        scaled = np.where(span > 0, (t.iqm - low) / span.where(span > 0, 1.0), 0.5)
        trial = int(t.assign(scaled=scaled).groupby("trial").scaled.mean().idxmax())
        rows += [
            {
                "env": e,
                "agent": agent,
                "trial": trial,
                "iqm": float(g.iqm[g.trial == trial].iloc[0]),
            }
            for e, g in t.groupby("env")
        ]
    return pd.DataFrame(rows, columns=["env", "agent", "trial", "iqm"])


def chosen_document(sweep: Sweep, chosen: pd.DataFrame, per: Per, made: dict) -> dict:
    """The chosen-settings file's content (a suite's ``tuned:`` reads it); ``made``: how the
    trials were made (``{"grid": ...}``, or the sample, its draws and seed)."""
    settings: dict[str, dict[str, dict]] = {}
    for e, a, t in zip(chosen.env, chosen.agent, chosen.trial, strict=True):
        settings.setdefault(e, {})[a] = dict(sweep.settings[(e, a)][int(t)])
    return {
        "protocol": {
            "sweep": sweep.suite,
            "chosen": f"per {per}",
            "criterion": CRITERION,
            "tuning_seeds": sweep.seeds,
            **made,
            "written": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        },
        "settings": settings,
    }


def write_chosen(document: dict, path: Path) -> None:
    head = (
        "# PPO settings chosen by `pmarl-bench tune` on the tuning seeds below; a suite uses\n"
        "# them with `tuned: <this file>` and evaluates them on its own (other) seeds\n"
    )
    _write_text(path, head + yaml.safe_dump(document, sort_keys=False))


def write_trials(table: pd.DataFrame, path: Path) -> None:
    _write_text(path, table.to_csv(index=False))


def _write_text(path: Path, text: str) -> None:
    """Whole or not at all: a reader never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def sensitivity_figure(table: pd.DataFrame, colors: dict[str, tuple]) -> Figure:
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
    plots.legend_outside(axes[0, -1])
    fig.suptitle("Sensitivity to each swept setting (tuning seeds)")
    return fig
