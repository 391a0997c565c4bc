"""The report's comparison sections: does each task test memory, the memory gap closed over
tasks, the pairwise claims, and the evaluations after training."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd

from pmarl_bench.report import claims, memory, plots, stats, tuning
from pmarl_bench.report.data import ReportData
from pmarl_bench.report.files import save
from pmarl_bench.report.pages import Section

GAP_MARKS = {"memoryless": 0.0, "oracle": 1.0}


def memory_test_section(data: ReportData, reps: int) -> Section:
    return Section(
        "Does this task test memory?",
        "The oracle control (an MLP that sees what memory would have to hold) against the "
        "memoryless control (an MLP on the plain observation), trained by the same PPO: mean "
        "final score difference with a 95% bootstrap CI. A task tests memory at this size "
        "only where the interval lies above 0. The memory horizon is how many steps back an "
        "observation can still matter; an agent whose reach is shorter cannot close the whole "
        "gap.",
        table=memory.memory_test(data, reps),
    )


def gap_sections(data: ReportData, folder: Path, colors: dict, reps: int) -> list[Section]:
    """The memory gap closed per task, where tasks have both controls (else nothing)."""
    found: list[Section] = []
    gap = memory.gap_closed_per_task(data, reps)
    if not gap.empty:
        gap.to_csv(folder / "gap_closed.csv", index=False, float_format="%.6g")
        fig = plots.interval_estimates(gap, colors, "Memory gap closed", "gap closed", GAP_MARKS)
        found.append(Section(
            "Memory gap closed per task",
            "Each agent's final score on the scale of the task's controls: 0 at the "
            "memoryless control's mean, 1 at the oracle control's. Mean over seeds with a 95% "
            "stratified bootstrap CI that resamples the controls' seeds too, so it includes "
            "their uncertainty.",
            (save(fig, folder, "gap_closed"),),
            score_table(gap.assign(stat="gap closed")),
        ))  # fmt: skip
    return found


def aggregate_section(data: ReportData, folder: Path, colors: dict, reps: int) -> Section:
    agg = memory.aggregate(data, reps)
    left = "; ".join(f"{t} ({why})" for t, why in agg.left_out.items())
    if not agg.tasks:
        return Section(
            "Aggregate over tasks",
            "No aggregate: no task has both the memoryless and the oracle control and every "
            "agent's results, and scores are never normalised by the best agent. Raw returns "
            f"are above. Left out: {left or 'none'}.",
        )
    agg.estimates.to_csv(folder / "aggregate.csv", index=False, float_format="%.6g")
    text = (
        f"Memory gap closed over {', '.join(agg.tasks)} (the tasks with both controls that "
        "every agent ran): IQM, mean, median and optimality gap (the mean shortfall from the "
        "oracle control, 1) over all runs of these tasks, with 95% stratified bootstrap CIs "
        "that include the controls' uncertainty; performance profiles (the share of runs above "
        "each score) with 95% bootstrap bands."
    )
    if left:
        text += f" Left out: {left}."
    return Section(
        "Aggregate over tasks",
        text,
        (
            save(plots.interval_estimates(agg.estimates, colors, "All tasks", "gap closed",
                                           GAP_MARKS), folder, "aggregate"),
            save(plots.performance_profiles(agg.taus, agg.profiles, colors), folder,
                  "profiles"),
        ),
    )  # fmt: skip


def improvement_section(data: ReportData, folder: Path, reps: int) -> Section:
    comparisons = claims.compare_all(data.final, reps)
    claims.table(comparisons).to_csv(
        folder / "probability_of_improvement.csv", index=False, float_format="%.6g"
    )
    pairs = {}
    for x, y in itertools.combinations(data.agents, 2):
        both = [c for c in comparisons if (c.x, c.y) == (x, y)]
        if both:
            xs, ys = zip(*[_runs(data, c.task, x, y) for c in both], strict=True)
            pairs[(x, y)] = stats.probability_of_improvement(list(xs), list(ys), reps=reps)
    return Section(
        "Probability of improvement",
        "P(X > Y): the chance that a seed of X ends above a seed of Y on the same task (ties "
        "count half), 95% bootstrap CI; 0.5 is no difference. A claim that one agent beats "
        f"another needs at least {claims.MIN_SEEDS} seeds of each, an interval that excludes "
        f"0.5 and Welch's t-test significant at {claims.LEVEL} after the Holm-Bonferroni "
        f"correction over all {len(comparisons)} pairwise comparisons of this report. The "
        "figure pools each pair's common tasks.\n\n"
        + "\n".join(f"- {c.verdict}" for c in sorted(comparisons, key=lambda c: c.verdict)),
        (save(plots.probability_of_improvement(pairs), folder, "improvement"),),
    )


def _runs(data: ReportData, task: str, x: str, y: str) -> tuple[np.ndarray, np.ndarray]:
    f = data.final[data.final.task == task]
    return f[f.agent == x].score.to_numpy(), f[f.agent == y].score.to_numpy()


def evaluation_section(data: ReportData, reps: int) -> Section:
    rows = []
    keys = ["task", "agent", "metric", "env_steps"]
    for (task, agent, metric, steps), g in data.evaluations.groupby(keys):
        est = stats.aggregate([g.value.to_numpy()], "mean", reps=reps)
        rows.append({"task": task, "agent": agent, "metric": metric, "env steps": int(steps),
                     "mean [95% CI]": str(est), "seeds": len(g)})  # fmt: skip
    return Section(
        "Evaluations",
        "Measured after training. King of the Hill: the share of point-steps the trained "
        "team holds against a team of random agents (point_share) and the random team's share "
        "(random_point_share), at the final checkpoint; and, for each earlier checkpoint "
        "(suites with checkpoint_every), the final policy's share against that checkpoint's "
        "policy (final_vs_checkpoint) and the checkpoint's share (checkpoint_vs_final). "
        "env steps: per seed, when the evaluated (checkpoint) policy was saved.",
        table=pd.DataFrame(rows),
    )


def cross_play_section(data: ReportData, folder: Path, reps: int) -> Section:
    rows = []
    for (task, agent), (seeds, m) in sorted(data.cross_play.items()):
        gap = stats.cross_play_gap(m, reps=reps)
        off = m[~np.eye(len(m), dtype=bool)]
        rows.append({"task": task, "agent": agent, "self-play": float(np.diag(m).mean()),
                     "cross-play": float(off.mean()) if off.size else np.nan,
                     "gap": gap.value, "low": gap.low, "high": gap.high,
                     "seeds": len(seeds)})  # fmt: skip
    table = pd.DataFrame(rows)
    table.to_csv(folder / "cross_play.csv", index=False, float_format="%.6g")
    figures = [save(plots.cross_play_matrices(data.cross_play), folder, "cross_play")
               ] if data.cross_play else []  # fmt: skip
    text = (
        "Each seed's final policy on the focal side (Scouts: the scouts; Traveling Salesman: "
        "agent 0) with every seed's policy as its partners, on the final-policy evaluation's "
        "episodes (actions sampled): the matrices' diagonals are the self-play scores. Gap: "
        "self-play minus cross-play mean return, with a 95% bootstrap CI over seeds; a gap "
        "above 0 means the seeds learned conventions their partners must share."
    )
    pairs = data.cross_agents
    if not pairs.empty:
        other = pairs[(pairs.focal_agent != pairs.partner_agent)
                      | (pairs.focal_seed != pairs.partner_seed)]  # fmt: skip
        means = (other.groupby(["task", "focal_agent", "partner_agent"]).return_stochastic
                 .mean().reset_index())  # fmt: skip
        means.to_csv(folder / "cross_play_agents.csv", index=False, float_format="%.6g")
        figures.append(save(plots.agent_pairs(means), folder, "cross_play_agents"))
        text += (
            " Between agents (`pmarl-bench crossplay`): each agent's seeds on the focal side "
            "with each agent's seeds as partners, the mean over pairs of different seeds "
            "(cross_play_agents.csv)."
        )
    return Section("Cross-play", text, tuple(figures), table.round(4))


def ratings_section(data: ReportData, folder: Path, colors: dict) -> Section:
    table = data.ratings
    finals = table[table.checkpoint == "final"].sort_values(["task", "ordinal"],
                                                            ascending=[True, False])  # fmt: skip
    columns = ["task", "agent", "seed", "mu", "sigma", "ordinal", "matches", "wins", "draws"]
    colors = {**plots.palette(sorted(table.agent.unique())), **colors}
    return Section(
        "Ratings",
        "OpenSkill (Plackett-Luce) ratings of every (agent, seed, checkpoint) of each "
        "competitive task, from matches `pmarl-bench rate` played between them (each player "
        "against randomly drawn others, half the episodes on each side; the team holding more "
        "of the score wins). Figure: each checkpoint's mu (+-sigma) against training progress. "
        "Table: the final policies, ranked by ordinal (mu - 3 sigma). Ratings are relative to "
        "the pool of players rated together.",
        (save(plots.ratings(table, colors), folder, "ratings"),),
        finals[columns].round(3),
    )


def tuning_sections(data: ReportData, folder: Path, reps: int) -> list[Section]:
    """Each sweep's trials and every agent's sensitivity to the swept settings."""
    found = []
    for i, path in enumerate(data.sweeps):
        sweep = tuning.read_sweep(path)
        figure, _ = tuning.write_sensitivity(sweep, folder, f"sensitivity_{i:02d}", reps)
        trials = tuning.trial_table(sweep)
        trials.to_csv(folder / f"trials_{i:02d}.csv", index=False, float_format="%.6g")
        chosen = tuning.choose(sweep, "task")
        picked = trials.merge(chosen[["env", "agent", "trial"]], on=["env", "agent", "trial"])
        found.append(Section(
            f"Tuning: {sweep.suite}",
            f"The sweep in {path}: {trials.trial.nunique()} trial(s) per (env, agent), each "
            f"trained on tuning seeds {sweep.seeds} (never evaluation seeds). Score: the "
            f"{tuning.CRITERION}. Figure: for every value of each swept setting, the best "
            "trial with that value (its IQM and 95% bootstrap CI over the tuning seeds); a "
            "flat line means the agent does not mind the setting within this range. Table: "
            f"each (env, agent)'s best trial (all trials in trials_{i:02d}.csv). Which "
            "settings the compared cells use is stated under What is compared.",
            (figure,) if figure else (),
            picked.round(6),
        ))  # fmt: skip
    return found


def score_table(per_task: pd.DataFrame) -> pd.DataFrame:
    wide = []
    for (task, agent), g in per_task.groupby(["task", "agent"]):
        cell = {"task": task, "agent": agent, "seeds": int(g.seeds.iloc[0])}
        for _, r in g.iterrows():
            cell[f"{r.stat.upper() if r.stat == 'iqm' else r.stat} [95% CI]"] = str(
                stats.Estimate(r.value, r.low, r.high)
            )
        wide.append(cell)
    return pd.DataFrame(wide)
