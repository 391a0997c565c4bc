"""The memory scale of a report: the memoryless and oracle controls' scores that set "memory
gap closed" (0 at the memoryless control's mean, 1 at the oracle's) on the tasks that have
both."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pmarl_bench.controls import GAP_ENDS
from pmarl_bench.report.results import Results

#: where the gap's ends sit on its scale, for figures
GAP_MARKS = {GAP_ENDS[0]: 0.0, GAP_ENDS[1]: 1.0}


def gap_samples(results: Results, task: str) -> tuple[np.ndarray, np.ndarray] | None:
    """The memoryless and oracle controls' final scores (runs) on ``task``, or None when the
    suite lacks either."""
    ctl = results.controls.get(task, {})
    if not all(c in ctl for c in GAP_ENDS):
        return None
    f = results.final[results.final.task == task]
    lo, hi = (f[f.agent == ctl[c]].score.to_numpy() for c in GAP_ENDS)
    return (lo, hi) if len(lo) and len(hi) else None


def normalised(results: Results) -> pd.DataFrame:
    """Final scores as "memory gap closed": 0 at the memoryless control's mean, 1 at the
    oracle control's, on the tasks that have both (the others are left out)."""
    lv = results.levels.set_index("task")
    final = results.final
    f = final[final.task.map(lv.low).notna() & final.task.map(lv.high).notna()]
    f = f.copy()
    low, high = f.task.map(lv.low), f.task.map(lv.high)
    span = (high - low).where((high - low).abs() > 1e-12, np.nan)
    f["score"] = (f.score - low) / span
    return f
