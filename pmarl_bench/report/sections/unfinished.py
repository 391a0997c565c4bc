"""Cells that have not finished (running, interrupted, failed): listed with how far they got,
and their curves so far drawn apart. They stay out of every statistic: a partial curve scored
beside finished ones would bias the comparison."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import EngFormatter

from pmarl_bench.report.content import Content, Context
from pmarl_bench.report.pages import Section
from pmarl_bench.report.results import RETURN, Results
from pmarl_bench.results import staging


def load(results: Results) -> pd.DataFrame | None:
    table = unfinished(results.sources)
    return None if table.empty else table


def unfinished(results_dirs: list[str | Path]) -> pd.DataFrame:
    """One row per unfinished cell: cell, state (e.g. 'running, 40% done'), env steps, latest
    return, reason, and its staging folder."""
    rows = []
    for d in results_dirs:
        for s in staging.unfinished_cells(d):
            total = s.get("env_steps_per_seed") or 0
            done = s.get("env_steps") or 0
            pct = f"{100 * done / total:.0f}%" if total else "?"
            state = {
                staging.RUNNING: f"running, {pct} done",
                staging.INTERRUPTED: f"interrupted at {pct}",
            }.get(s["state"], f"{s['state']} at {pct}")
            rows.append(
                {
                    "cell": "/".join(Path(s["cell_path"]).parts[-3:]),
                    "state": state,
                    "env_steps": done,
                    "latest_return": s.get("latest_return"),
                    "reason": s.get("reason", ""),
                    "path": s["path"],
                }
            )
    return pd.DataFrame(rows, columns=["cell", "state", "env_steps", "latest_return", "reason",
                                       "path"])  # fmt: skip


def section(table: pd.DataFrame, context: Context) -> Content:
    out = Content()
    curves = []
    for row in table.itertuples():
        live = staging.read_live(Path(row.path))
        if live is not None:
            mine = live[live.metric == RETURN]
            curves.append(mine.groupby("env_steps", as_index=False).value.mean().assign(
                cell=f"{row.cell} ({row.state})"))  # fmt: skip
    figures = ()
    if curves:
        figures = (out.figure("unfinished_curves", _curves(pd.concat(curves))),)
    out.sections.append(Section(
        "Unfinished cells",
        "Cells still running, interrupted (rerun the command that started them to resume) or "
        "failed (their folder keeps the reason, the metrics up to the failure and the last "
        "snapshot). They are left out of every score and statistic of this report; their "
        "training curves so far (mean episode return over seeds) are drawn here. `pmarl-bench "
        "status` shows them live.",
        figures,
        table.drop(columns="path"),
    ))  # fmt: skip
    return out


def _curves(curves: pd.DataFrame) -> Figure:
    fig, ax = plt.subplots(figsize=(7, 3.6))
    for cell, g in curves.groupby("cell", sort=True):
        ax.plot(g.env_steps, g.value, label=cell)
    ax.set_xlabel("env steps per seed")
    ax.set_ylabel("episode return")
    ax.xaxis.set_major_formatter(EngFormatter())
    ax.set_title("Unfinished cells: training return so far")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, frameon=False)
    fig.tight_layout()
    return fig
