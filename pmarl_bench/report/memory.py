"""The memory scale of a report: the memoryless and perfect-memory (``oracle_memory``)
controls' scores that set "memory gap closed" (0 at the memoryless control's mean, 1 at the
perfect-memory control's) on the tasks that have both."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pmarl_bench.controls import GAP_ENDS
from pmarl_bench.report import stats
from pmarl_bench.report.results import Results

#: where the gap's ends sit on its scale, for figures
GAP_MARKS = {GAP_ENDS[0]: 0.0, GAP_ENDS[1]: 1.0}


def gap_samples(
    results: Results, task: str, ends: tuple[str, str] = GAP_ENDS
) -> tuple[np.ndarray, np.ndarray] | None:
    """Two controls' final scores (runs) on ``task``, by default the memory scale's ends
    (memoryless, oracle_memory), or None when the suite lacks either."""
    ctl = results.controls.get(task, {})
    if not all(c in ctl for c in ends):
        return None
    f = results.final[results.final.task == task]
    lo, hi = (f[f.agent == ctl[c]].score.to_numpy() for c in ends)
    return (lo, hi) if len(lo) and len(hi) else None


def memory_gap(results: Results, task: str, reps: int) -> stats.Estimate | None:
    """ "Does this task test memory?": the perfect-memory control's mean final score minus
    the memoryless one's with a 95% bootstrap CI (None without both controls). The task
    tests memory at its size only where the interval lies above 0 (``shown``)."""
    ends = gap_samples(results, task)
    return None if ends is None else stats.difference(ends[1], ends[0], reps=reps)


def shown(gap: stats.Estimate | None) -> bool:
    return gap is not None and bool(np.isfinite(gap.low)) and gap.low > 0


def normalised(results: Results) -> pd.DataFrame:
    """Final scores as "memory gap closed": 0 at the memoryless control's mean, 1 at the
    perfect-memory control's, on the tasks that have both (the others are left out)."""
    lv = results.levels.set_index("task")
    final = results.final
    f = final[final.task.map(lv.low).notna() & final.task.map(lv.high).notna()]
    f = f.copy()
    low, high = f.task.map(lv.low), f.task.map(lv.high)
    span = (high - low).where((high - low).abs() > 1e-12, np.nan)
    f["score"] = (f.score - low) / span
    return f
