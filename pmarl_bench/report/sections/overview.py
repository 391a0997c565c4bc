"""What is compared: the folders, tasks, agents, seeds, controls and the tuning protocol
behind the cells' PPO settings, as a paper states it."""

from __future__ import annotations

from pmarl_bench.report.content import Content, Context
from pmarl_bench.report.pages import Section
from pmarl_bench.report.results import Results


def load(results: Results) -> Results:
    return results


def section(results: Results, context: Context) -> Content:
    return Content([Section("What is compared", _overview(results))])


def _overview(results: Results) -> str:
    seeds = results.final.groupby(["task", "agent"]).seed.nunique()
    text = (
        f"Results from {', '.join(results.sources)}: {len(results.tasks)} task(s) "
        f"({', '.join(results.tasks)}), {len(results.agents)} agent(s) "
        f"({', '.join(results.agents)}), {seeds.min()}-{seeds.max()} seeds per cell."
    )
    roles = sorted({(c, a) for ctl in results.controls.values() for c, a in ctl.items()})
    if roles:
        text += " Controls: " + ", ".join(f"{c} ({a})" for c, a in roles) + "."
    else:
        text += " No controls (a suite asks for them with `controls:`)."
    return text + tuning_note(results)


def tuning_note(results) -> str:
    """The tuning protocol behind the cells' PPO settings, as a paper states it."""
    if not results.tuning:
        return " Every cell trains with its suite's PPO settings (not tuned per agent)."
    text = ""
    protocols: dict[str, list[str]] = {}
    for (task, agent), p in sorted(results.tuning.items()):
        key = (f"chosen {p.get('chosen', '?')} by the {p.get('criterion', '?')}, on tuning "
               f"seeds {p.get('tuning_seeds')}")  # fmt: skip
        protocols.setdefault(key, []).append(f"{task}/{agent}")
    untuned = {(t, a) for t in results.tasks for a in results.agents} - set(results.tuning)
    have = set(map(tuple, results.final[["task", "agent"]].drop_duplicates().to_numpy()))
    for key, cells in protocols.items():
        which = "every cell" if len(protocols) == 1 and not untuned & have else ", ".join(cells)
        text += f" Tuned PPO settings ({which}): {key}; evaluated here on other seeds."
    if untuned & have:
        text += " The other cells train with their suite's PPO settings (not tuned)."
    return text
