"""Whether a cell's budget let it finish learning, and how precisely its seeds were scored:
the two facts printed beside every claim that uses a cell.

- **Still rising**: over the last fifth of its updates, each seed's training return at the
  end (the last tenth) minus at the start (the tenth before): a cell is still rising where
  the mean of that rise over seeds has a 95% bootstrap interval above 0. A claim about such a
  cell holds "at this budget" only.
- **Evaluation noise**: the final-policy evaluation's episodes per seed, the standard error
  of a seed's score over them and the spread (standard deviation) between seeds, from the
  manifest. Each seed plays its own episodes, so the spread already holds the episode noise
  and a bootstrap over seeds carries it into every interval; the ratio says how much of the
  spread it is.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pmarl_bench.report import stats
from pmarl_bench.report.results import Results

#: the part of a curve the check reads: its last fifth, split in two halves
LAST = 0.2


def rises(results: Results, reps: int) -> pd.DataFrame:
    """task, agent, rise, low, high, rising: per cell, the mean rise of the training return
    over its last fifth with a 95% bootstrap CI over seeds, and whether it lies above 0."""
    rows = []
    for (task, agent), g in results.curves.groupby(["task", "agent"]):
        per_seed = []
        for _, s in g.groupby("seed"):
            values = s.sort_values("update").value.to_numpy()
            tail = values[-max(2, round(LAST * len(values))) :]
            half = len(tail) // 2
            per_seed.append(np.nanmean(tail[half:]) - np.nanmean(tail[:half]))
        est = stats.aggregate([np.asarray(per_seed)], "mean", reps=reps)
        rising = bool(np.isfinite(est.low) and est.low > 0)
        rows.append({"task": task, "agent": agent, "rise": est.value, "low": est.low,
                     "high": est.high, "rising": rising})  # fmt: skip
    return pd.DataFrame(rows, columns=["task", "agent", "rise", "low", "high", "rising"])


def still_rising(table: pd.DataFrame, task: str, agents: list[str]) -> list[str]:
    """Of ``agents`` on ``task``, those whose curve is still rising."""
    found = table[(table.task == task) & table.agent.isin(agents) & table.rising]
    return sorted(found.agent)


def budget_note(table: pd.DataFrame, task: str, agents: list[str]) -> str:
    """ "" or " (at this budget: X still rising)", for a sentence about ``agents``."""
    rising = still_rising(table, task, agents)
    return f" (at this budget: {', '.join(rising)} still rising)" if rising else ""


def evaluation_noise(results: Results) -> pd.DataFrame:
    """task, agent, episodes, sem, spread, ratio: the final-policy evaluation's episodes per
    seed, a seed's standard error, the standard deviation between seeds and their ratio
    (NaN where the manifest does not say: cells from before it was measured)."""
    rows = []
    for m, task, sub in results.per_task():
        final = ((m.get("evaluation") or {}).get("final_policy")) or {}
        metric = f"eval/{sub}/return_stochastic" if sub else "eval/return_stochastic"
        noise = (final.get("noise") or {}).get(metric) or {}
        rows.append({"task": task, "agent": m["agent"], "episodes": final.get("episodes"),
                     "own_episodes": final.get("keys") == "per seed",
                     "sem": noise.get("sem", np.nan), "spread": noise.get("spread", np.nan),
                     "ratio": noise.get("ratio", np.nan)})  # fmt: skip
    columns = ["task", "agent", "episodes", "own_episodes", "sem", "spread", "ratio"]
    return pd.DataFrame(rows, columns=columns)
