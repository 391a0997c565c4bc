"""Does each task test memory at its size: the perfect-memory control against the memoryless
one, what the task hides beyond memory (full state against perfect memory), with the task's
memory horizon beside each agent's reach (from the manifests: the agents declare it, so a
new memory core needs nothing here)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pmarl_bench.controls import GAP_ENDS, HIDDEN_ENDS, ORACLES
from pmarl_bench.report import budget, stats
from pmarl_bench.report.content import Content, Context
from pmarl_bench.report.memory import gap_samples, memory_gap, shown
from pmarl_bench.report.pages import Section
from pmarl_bench.report.results import Results

GAP_COLUMN = "oracle_memory − memoryless [95% CI]"
HIDDEN_COLUMN = "hidden beyond memory: oracle_state − oracle_memory [95% CI]"
#: the reach of an agent whose manifest does not say (a cell from before manifests did)
UNKNOWN = "unknown"


@dataclass
class MemoryTest:
    results: Results
    cards: dict[str, dict]  # task -> its task card
    #: (task, agent) -> how many steps back the agent can remember (None: no limit)
    reach: dict[tuple[str, str], int | str | None]
    #: (task, agent) -> its memory core's own reach and whether it reads its previous action
    #: or reward (a channel through its own actions), where the manifest says
    core: dict[tuple[str, str], tuple[int | None, bool]]


def load(results: Results) -> MemoryTest:
    cards: dict[str, dict] = {}
    reach: dict[tuple[str, str], int | str | None] = {}
    core: dict[tuple[str, str], tuple[int | None, bool]] = {}
    for m, task, sub in results.per_task():
        card = m.get("task_card") or {}
        found = (card.get("tasks") or {}).get(sub) if sub else card
        if found:
            cards[task] = found
        memory = m.get("memory") or {}
        reach[(task, m["agent"])] = memory.get("reach", UNKNOWN)
        if "core_reach" in memory:
            fed_back = bool({"prev_action", "prev_reward"} & set(memory.get("inputs", [])))
            core[(task, m["agent"])] = (memory["core_reach"], fed_back)
    return MemoryTest(results, cards, reach, core)


def section(data: MemoryTest, context: Context) -> Content:
    return Content([Section(
        "Does this task test memory?",
        "The perfect-memory control (oracle_memory: an MLP that sees everything the agent "
        "has observed earlier in the episode, and nothing more) against the memoryless "
        "control (an MLP on the current observation only, without its previous action or "
        "reward), trained by the same PPO: mean final score difference with a 95% bootstrap "
        "CI. A task tests memory at this size only where the interval lies above 0. The "
        "full-state control (oracle_state) minus the perfect-memory one is what the task "
        "hides beyond memory (what exploring would find). The memory horizon is how many "
        "steps back an observation can still matter; an agent whose reach is shorter cannot "
        "close the whole gap (its core's reach, in steps; '+ actions': it also reads its "
        "previous action or reward, through which a policy can carry bits any distance).",
        table=memory_test(data, context.reps),
    )])  # fmt: skip


def memory_test(data: MemoryTest, reps: int) -> pd.DataFrame:
    """Per task: the perfect-memory control's mean final score minus the memoryless
    control's, with a 95% bootstrap CI and a plain verdict; the full-state control's minus
    the perfect-memory one's; the task's memory horizon beside each agent's reach."""
    results = data.results
    rises = budget.rises(results, reps)
    rows = []
    for task in results.tasks:
        card = data.cards.get(task, {})
        horizon = card.get("horizon_steps")
        row = {"task": task, "tests": ", ".join(card.get("tests", [])) or "–"}
        gap = memory_gap(results, task, reps)
        pending = [c for c in results.pending_controls(task) if c in GAP_ENDS]
        if gap is None and pending:
            row[GAP_COLUMN] = "–"
            row["verdict"] = (
                f"not run yet: the {' and '.join(pending)} control(s) are planned but have no "
                "results (run the suite to finish them)"
            )
        elif gap is None:
            have = sorted(results.controls.get(task, {}))
            row[GAP_COLUMN] = "–"
            row["verdict"] = (
                f"unknown: the suite has {' and '.join(have) or 'no'} control(s); it needs "
                f"{' and '.join(GAP_ENDS)} (`controls:` in the suite)"
            )
        else:
            row[GAP_COLUMN] = str(gap)
            ends = [results.controls[task][c] for c in GAP_ENDS]
            row["verdict"] = _verdict(gap) + budget.budget_note(rises, task, ends)
        hidden = gap_samples(results, task, HIDDEN_ENDS)
        row[HIDDEN_COLUMN] = (
            "–" if hidden is None else str(stats.difference(hidden[1], hidden[0], reps=reps))
        )
        row["memory horizon (steps)"] = "–" if horizon is None else str(horizon)
        row["agents' reach (steps back)"] = _reach(data, task, horizon)
        rows.append(row)
    return pd.DataFrame(rows)


def _verdict(gap: stats.Estimate) -> str:
    if not np.isfinite(gap.low):
        return "unknown: too few seeds for an interval"
    if shown(gap):
        return "yes: perfect memory scores above no memory"
    if gap.high < 0:
        return "no: perfect memory scores below no memory (a training problem?)"
    return "not shown at this size: the interval includes 0"


def _reach(data: MemoryTest, task: str, horizon: int | None) -> str:
    """Each agent's reach: its core's (steps, or unbounded), "+ actions" where it also reads
    its previous action or reward, "(short)" where the core reaches less than the horizon."""
    parts = []
    oracles = {a for c, a in data.results.controls.get(task, {}).items() if c in ORACLES}
    for agent in sorted(a for (t, a) in data.reach if t == task):
        if agent in oracles:  # its observation holds the past (or the state): no core needed
            parts.append(f"{agent} (in its observation)")
            continue
        steps, fed_back = data.core.get((task, agent), (data.reach[(task, agent)], False))
        text = "unbounded" if steps is None else str(steps)
        short = horizon is not None and isinstance(steps, int) and 0 <= steps < horizon
        parts.append(f"{agent} {text}{' + actions' if fed_back else ''}{' (short)' * short}")
    return ", ".join(parts)
