"""Missing or partial results, in plain language: damaged cells, sweep cells, agents or
seeds a task lacks, and cells scored from training for want of a final-policy evaluation."""

from __future__ import annotations

from pmarl_bench.report.content import Content, Context
from pmarl_bench.report.pages import Section
from pmarl_bench.report.results import FINAL_FRACTION, Results, side_table_problems


def load(results: Results) -> list[str] | None:
    notes = [f"{path}: skipped, damaged: {reason}" for path, reason in results.damaged]
    notes += [f"{path}: skipped, {reason}" for path, reason in side_table_problems(results.sources)]
    notes += [
        f"{path}: a sweep cell (tuning results): under Tuning, not among the compared cells"
        for path in results.sweep_cells
    ]
    notes += [_not_run(c) for c in results.not_run]
    notes += missing(results) + [
        f"{task}/{agent}: no final-policy evaluation (a run from before it existed); its score "
        f"is its training return over the last {FINAL_FRACTION:.0%} of updates"
        for task, agent in results.scored_from_training
    ]
    unsaid = sorted(f"{m['env']}/{m['agent']}" for m in results.manifests if "memory" not in m)
    if unsaid:
        notes.append(
            f"{', '.join(unsaid)}: trained before manifests recorded how far back an agent "
            "remembers; its reach is shown as unknown"
        )
    return notes or None


def _not_run(cell: dict) -> str:
    what = f" (the {cell['control']} control)" if cell.get("control") else ""
    return (
        f"{cell['env']}/{cell['agent']}{what}: not run yet (in the plan of suite "
        f"{cell['suite']}'s last run); nothing below reads its absence as a choice"
    )


def section(notes: list[str], context: Context) -> Content:
    return Content([Section("Missing or partial results", "\n".join(f"- {n}" for n in notes))])


def missing(results: Results) -> list[str]:
    """Plain-language notes on what the results lack: cells, seeds, comparisons."""
    notes = []
    agents = results.agents
    seeds = results.final.groupby(["task", "agent"]).seed.nunique()
    most = int(seeds.max())
    for task in results.tasks:
        have = sorted(results.final[results.final.task == task].agent.unique())
        lacking = [a for a in agents if a not in have]
        if lacking:
            notes.append(f"{task}: no results for {', '.join(lacking)}")
        if len(have) == 1:
            notes.append(f"{task}: only {have[0]}, nothing to compare it with")
        for agent in have:
            n = int(seeds[(task, agent)])
            if n < most:
                notes.append(f"{task}/{agent}: {n} seed{'s' * (n != 1)} (others have {most})")
    return notes
