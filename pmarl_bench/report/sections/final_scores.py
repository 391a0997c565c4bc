"""Final performance per task: each seed's final-policy score, IQM and mean over seeds with
bootstrap CIs beside the random policy and the controls; the scores also in marl-eval's
raw-data layout (``marl_eval.json``)."""

from __future__ import annotations

import json

import pandas as pd

from pmarl_bench.controls import CONTROLS
from pmarl_bench.report import budget, plots, stats
from pmarl_bench.report.content import Content, Context
from pmarl_bench.report.pages import Section
from pmarl_bench.report.results import FINAL_FRACTION, Results


def load(results: Results) -> Results:
    return results


def section(results: Results, context: Context) -> Content:
    rows = []
    for (task, agent), g in results.final.groupby(["task", "agent"]):
        for kind in ("iqm", "mean"):
            est = stats.aggregate([g.score.to_numpy()], kind, reps=context.reps)
            rows.append({"task": task, "agent": agent, "stat": kind, "value": est.value,
                         "low": est.low, "high": est.high, "seeds": len(g)})  # fmt: skip
    per_task = pd.DataFrame(rows)
    lv = results.levels.set_index("task")
    marks = {
        task: {"random": lv.random[task]} | {c: lv[f"{c}_control"][task] for c in CONTROLS}
        for task in results.tasks
    }
    fig = plots.interval_estimates(
        per_task, context.colors, "Final return per task", "episode return", marks
    )
    rises, noise = budget.rises(results, context.reps), budget.evaluation_noise(results)
    out = Content(tables={"final_scores.csv": per_task, "budget.csv": _budget(rises, noise)})
    out.files["marl_eval.json"] = marl_eval_json(results)
    out.sections.append(Section(
        "Final performance per task",
        "Each seed's score is its final policy's mean return on evaluation episodes (actions "
        "sampled, as trained; each seed's resets and samples from the evaluation key and its "
        "seed number, the same for every agent; the greedy policy's return is under "
        "Evaluations). Cells from before this "
        f"evaluation existed are scored by their mean training return over the last "
        f"{FINAL_FRACTION:.0%} of updates (listed under Missing or partial results). "
        "IQM (interquartile mean) and mean across seeds, with 95% stratified bootstrap "
        "confidence intervals; dotted lines: the random policy's return and the controls' "
        "mean scores. Each seed plays its own evaluation episodes (episodes/seed: grown "
        "from 64 until a seed's standard error was under a tenth of the spread between "
        "seeds, or 1024), so the spread between seeds already holds the episode noise and "
        "the bootstrap over seeds carries it into the intervals; 'SE / spread' says how much "
        "of the spread it is. 'Still rising': the training return's rise over the last fifth "
        "of updates (end tenth minus the tenth before, mean over seeds, 95% CI); where it "
        "lies above 0, every claim about the cell holds at this budget only.",
        (out.figure("final_scores", fig),),
        with_budget(score_table(per_task), rises, noise),
    ))  # fmt: skip
    return out


def score_table(per_task: pd.DataFrame) -> pd.DataFrame:
    """One row per (task, agent): each statistic's value with its CI, and the seeds."""
    wide = []
    for (task, agent), g in per_task.groupby(["task", "agent"]):
        cell = {"task": task, "agent": agent, "seeds": int(g.seeds.iloc[0])}
        for _, r in g.iterrows():
            cell[f"{r.stat.upper() if r.stat == 'iqm' else r.stat} [95% CI]"] = str(
                stats.Estimate(r.value, r.low, r.high)
            )
        wide.append(cell)
    return pd.DataFrame(wide)


def _budget(rises: pd.DataFrame, noise: pd.DataFrame) -> pd.DataFrame:
    return rises.merge(noise, on=["task", "agent"], how="outer")


def with_budget(table: pd.DataFrame, rises: pd.DataFrame, noise: pd.DataFrame) -> pd.DataFrame:
    """``table`` (task, agent, ...) with each cell's plateau check and evaluation noise."""
    out = table.copy()
    rise = rises.set_index(["task", "agent"])
    ev = noise.drop_duplicates(["task", "agent"]).set_index(["task", "agent"])
    keys = list(zip(out.task, out.agent, strict=True))

    def rising(key) -> str:
        if key not in rise.index:
            return "–"
        r = rise.loc[key]
        shown = str(stats.Estimate(r.rise, r.low, r.high))
        return f"yes: {shown}" if r.rising else f"no: {shown}"

    def episodes(key) -> str:
        if key not in ev.index or pd.isna(ev.loc[key, "episodes"]):
            return "–"
        e = ev.loc[key]
        return str(int(e.episodes)) + ("" if e.own_episodes else " (shared by every seed)")

    def ratio(key) -> str:
        if key not in ev.index or pd.isna(ev.loc[key, "sem"]):
            return "–"
        e = ev.loc[key]
        return f"{e['sem']:.3g} / {e['spread']:.3g}"  # a Series: .sem is a method

    out["still rising (last fifth)"] = [rising(k) for k in keys]
    out["eval episodes/seed"] = [episodes(k) for k in keys]
    out["SE / spread"] = [ratio(k) for k in keys]
    return out


def marl_eval_json(results: Results) -> str:
    """Scores in marl-eval's raw-data layout: env -> task -> algorithm -> run -> steps."""
    out: dict = {}
    final = results.final
    for (task, agent, seed), g in results.curves.groupby(["task", "agent", "seed"]):
        run = {
            f"step_{i}": {"step_count": int(r.env_steps), "episode_return": [float(r.value)]}
            for i, r in enumerate(g.itertuples())
        }
        score = final[(final.task == task) & (final.agent == agent) & (final.seed == seed)].score
        run["absolute_metrics"] = {"episode_return": [float(score.iloc[0])]}
        out.setdefault("pmarl-bench", {}).setdefault(task, {}).setdefault(agent, {})[
            f"run_{seed}"
        ] = run
    return json.dumps(out, sort_keys=True, separators=(",", ":"))
