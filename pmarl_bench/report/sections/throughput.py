"""Throughput from the cells' manifests: agent-steps per second, compile time, model FLOPs
per agent-step and the achieved share of the device's peak."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import EngFormatter

from pmarl_bench.report import plots
from pmarl_bench.report.content import Content, Context
from pmarl_bench.report.pages import Section
from pmarl_bench.report.results import Results

COLUMNS = ["task", "agent", "seeds", "agent_steps_per_second", "compile_seconds",
           "run_seconds", "peak_host_memory_gb", "flops_per_agent_step", "achieved_gflops",
           "peak_share", "device"]  # fmt: skip
MEASURED = ["agent_steps_per_second", "compile_seconds", "run_seconds", "flops_per_agent_step",
            "achieved_gflops", "peak_share"]  # fmt: skip


def load(results: Results) -> pd.DataFrame | None:
    table = throughput_table(results.manifests, results.name)
    return None if table.empty else table


def section(table: pd.DataFrame, context: Context) -> Content:
    out = Content(tables={"throughput.csv": table})
    out.sections.append(Section(
        "Throughput",
        "From the cells' manifests: agent-steps per second over all seeds (learning "
        "included, compile excluded) and compile time; model FLOPs per agent-step "
        "(acting and learning, from XLA's cost analysis), the achieved GFLOP/s and its "
        "share of the device's peak (its data sheet's, or on a CPU the rate of a fixed "
        "calibration kernel).",
        (out.figure("throughput", throughput(table, context.colors)),),
        table.round(2),
    ))  # fmt: skip
    return out


def throughput_table(manifests: list[dict], name) -> pd.DataFrame:
    """One row per cell: its speed, compile time, memory and efficiency (NaN where its
    manifest lacks a figure); ``name(suite, env)``: the report's task name."""
    rows = [
        {
            "task": name(m.get("suite"), m.get("env")),
            "agent": m.get("agent"),
            "seeds": len(m.get("seeds") or []),
            "agent_steps_per_second": m.get("agent_steps_per_second"),
            "compile_seconds": m.get("compile_seconds"),
            "run_seconds": m.get("run_seconds"),
            "peak_host_memory_gb": (m.get("peak_host_memory_bytes") or np.nan) / 1e9,
            **_efficiency(m.get("efficiency") or {}),
            "device": m.get("device"),
        }
        for m in manifests
    ]
    table = pd.DataFrame(rows, columns=COLUMNS)
    table[MEASURED] = table[MEASURED].astype(float)
    return table.sort_values(["task", "agent"]).reset_index(drop=True)


def _efficiency(e: dict) -> dict[str, float]:
    """A manifest's model FLOPs per agent-step (acting + learning), achieved GFLOP/s and share
    of the device's peak; NaN where it has none (cells from before they were recorded)."""

    def number(key: str) -> float:
        value = e.get(key)
        return float(value) if isinstance(value, int | float) else np.nan

    return {
        "flops_per_agent_step": number("acting_flops_per_agent_step")
        + number("learning_flops_per_agent_step"),
        "achieved_gflops": number("achieved_flops_per_second") / 1e9,
        "peak_share": number("peak_share"),
    }


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
    plots.legend_outside(axes[1])
    return fig
