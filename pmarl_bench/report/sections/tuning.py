"""Tuning: each sweep's trials (``pmarl-bench tune``) and every agent's sensitivity to the
swept settings, for the sweeps read and those that tuned the compared cells."""

from __future__ import annotations

from pathlib import Path

from pmarl_bench.report import grid_edges, plots
from pmarl_bench.report import tuning as tuning_
from pmarl_bench.report.content import Content, Context
from pmarl_bench.report.pages import Section
from pmarl_bench.report.results import Results


def load(results: Results) -> list[Path] | None:
    """The sweeps' results folders (``results/<suite>-tune``): of the sweep cells read, and
    those beside (or inside) the folders read that the tuned cells' protocols name."""
    found = {Path(cell).parent.parent for cell in results.sweep_cells}
    for p in results.tuning.values():
        for d in map(Path, results.sources):
            for folder in (d / str(p.get("sweep")), d.parent / str(p.get("sweep"))):
                if p.get("sweep") and (folder / "chosen.yaml").is_file():
                    found.add(folder)
    return sorted(found) or None


def section(sweeps: list[Path], context: Context) -> Content:
    out = Content()
    for i, path in enumerate(sweeps):
        sweep = tuning_.read_sweep(path)
        table = tuning_.sensitivity(sweep, context.reps)
        out.tables[f"sensitivity_{i:02d}.csv"] = table
        figures = ()
        if not table.empty:
            colors = plots.palette(sorted(table.agent.unique()))
            fig = tuning_.sensitivity_figure(table, colors)
            figures = (out.figure(f"sensitivity_{i:02d}", fig),)
        trials = tuning_.trial_table(sweep)
        out.tables[f"trials_{i:02d}.csv"] = trials
        chosen = tuning_.choose(sweep, "task")
        picked = trials.merge(chosen[["env", "agent", "trial"]], on=["env", "agent", "trial"])
        margins = grid_edges.neighbours(sweep, chosen, reps=min(context.reps, 2000))
        picked = picked.merge(margins, on=["env", "agent", "trial"], how="left")
        picked["neighbours"] = [
            f"not distinguishable from {n}" if n else "better than each neighbour"
            for n in picked.neighbours.fillna("")
        ]
        picked = picked.drop(columns="distinguishable")
        out.sections.append(Section(
            f"Tuning: {sweep.suite}",
            f"The sweep in {path}: {trials.trial.nunique()} trial(s) per (env, agent), each "
            f"trained on tuning seeds {sweep.seeds} (never evaluation seeds). Score: the "
            f"{tuning_.CRITERION}. Figure: for every value of each swept setting, the best "
            "trial with that value (its IQM and 95% bootstrap CI over the tuning seeds); a "
            "flat line means the agent does not mind the setting within this range. Table: "
            f"each (env, agent)'s best trial (all trials in trials_{i:02d}.csv), with the grid "
            "neighbours (one setting one step away) it does not beat clearly on the tuning "
            "seeds (P(chosen > neighbour)'s 95% CI includes 0.5): another set of seeds could "
            "as well have chosen those. Which settings the compared cells use is stated under "
            "What is compared.",
            figures,
            picked.round(6),
        ))  # fmt: skip
    return out
