"""A grid sweep's choices checked for margin (``pmarl-bench tune``): a choice at the edge of
its grid may be cut off by it (the grid then grows by one step on that side and tunes
again), and a choice no better than its grid neighbours on the tuning seeds is marked as
such, since other seeds could as well have picked the neighbour."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from pmarl_bench.report import stats
from pmarl_bench.report.tuning import Sweep, trial_table

#: how many times a grid grows on one side before the tuner gives up (and says so)
MAX_GROWTH = 2


def step_beyond(values: list[float], side: str) -> float:
    """The next value past the grid's ``side`` ("low" or "high") edge: the same ratio as the
    last step for a positive grid spaced by ratios (a log grid, like lr), else the same
    difference."""
    values = sorted(values)
    a, b = (values[1], values[0]) if side == "low" else (values[-2], values[-1])
    if a > 0 and b > 0 and max(values) / min(values) >= 4:
        return float(f"{b * (b / a):.4g}")
    return float(f"{b + (b - a):.4g}")


def edges(sweep: Sweep, chosen: pd.DataFrame, grids: dict[tuple[str, str], dict]) -> list[dict]:
    """Per chosen (env, agent) and per traced setting with 3+ values in its grid (two values
    are a comparison, not a search: every choice is at an edge): where the
    choice sits on the grid's lowest or highest value, ``{env, agent, setting, side, value,
    beyond}`` (``beyond``: the next grid step out)."""
    found = []
    for row in chosen.itertuples():
        picked = sweep.settings[(row.env, row.agent)][int(row.trial)]
        for name, values in grids[(row.env, row.agent)].items():
            if len(values) < 3 or name not in picked:
                continue
            for side, edge in (("low", min(values)), ("high", max(values))):
                if picked[name] == edge:
                    found.append({"env": row.env, "agent": row.agent, "setting": name,
                                  "side": side, "value": edge,
                                  "beyond": step_beyond(values, side)})  # fmt: skip
    return found


def grown_trials(grid: dict[str, list[float]], setting: str, value: float) -> tuple[dict, ...]:
    """The trials a grid adds with ``value`` for ``setting``: that value with every
    combination of the others."""
    others = {k: v for k, v in grid.items() if k != setting}
    combos = itertools.product(*others.values()) if others else [()]
    return tuple({**dict(zip(others, c, strict=True)), setting: value} for c in combos)


def neighbours(sweep: Sweep, chosen: pd.DataFrame, reps: int = 2000) -> pd.DataFrame:
    """env, agent, trial, distinguishable, neighbours: for each chosen trial, its grid
    neighbours (one setting one grid step away) whose tuning-seed scores it does not beat
    clearly (P(chosen > neighbour)'s 95% CI includes 0.5), named with their settings."""
    table = trial_table(sweep)
    scores = sweep.scores.groupby(["env", "agent", "trial"]).score
    rows = []
    for row in chosen.itertuples():
        trials = table[(table.env == row.env) & (table.agent == row.agent)]
        settings = sweep.settings[(row.env, row.agent)]
        picked = settings[int(row.trial)]
        values = {k: sorted({s[k] for s in settings if k in s}) for k in picked}
        close = []
        for t in trials.trial:
            other = settings[int(t)]
            diff = [k for k in picked if other.get(k) != picked[k]]
            if len(diff) != 1 or set(other) != set(picked):
                continue
            k = diff[0]
            if abs(values[k].index(other[k]) - values[k].index(picked[k])) != 1:
                continue
            mine = scores.get_group((row.env, row.agent, row.trial)).to_numpy()
            theirs = scores.get_group((row.env, row.agent, t)).to_numpy()
            est = stats.probability_of_improvement([mine], [theirs], reps=reps)
            if not (np.isfinite(est.low) and est.low > 0.5):
                close.append(f"{k}={other[k]:g}")
        rows.append({"env": row.env, "agent": row.agent, "trial": int(row.trial),
                     "distinguishable": not close,
                     "neighbours": ", ".join(close)})  # fmt: skip
    return pd.DataFrame(rows, columns=["env", "agent", "trial", "distinguishable", "neighbours"])
