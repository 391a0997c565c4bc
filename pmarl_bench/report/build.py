"""Build a report folder from result tables: figures (PNG + SVG), CSV summaries, the scores in
marl-eval's JSON layout, and an ``index.html`` with a Markdown twin. The same tables give the
same report, byte for byte (fixed bootstrap seeds, no timestamps in files)."""

from __future__ import annotations

import itertools
import json
import shutil
import warnings
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from scipy.stats import DegenerateDataWarning

from pmarl_bench.report import claims, memory, plots, stats
from pmarl_bench.report.data import CONTROLS, FINAL_FRACTION, ReportData, load
from pmarl_bench.report.pages import Section, html_page, markdown_page

FIGURE_DPI = 110
SVG_SALT = "pmarl-bench"  # fixed ids in SVG files


def build_report(
    results_dirs: list[str | Path],
    out: str | Path,
    fmt: str = "html",
    reps: int = stats.REPS,
    videos: bool = True,
) -> Path:
    """Write the report for ``results_dirs`` into ``out`` (replaced if it exists); returns the
    main page (``index.html``, or ``report.md`` for ``fmt="md"``). ``videos``: a short GIF of
    the best and the median seed of every cell with saved parameters and a renderable env."""
    data = load(results_dirs)
    warnings.simplefilter("ignore", DegenerateDataWarning)  # flat samples: the CI is the point
    out = Path(out)
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        sections = _sections(data, tmp, reps)
        if videos and data.cells:
            sections.append(_rollout_section(data, tmp))
        (tmp / "report.md").write_text(markdown_page(sections))
        if fmt == "html":
            (tmp / "index.html").write_text(html_page(sections))
        shutil.rmtree(out, ignore_errors=True)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out / ("index.html" if fmt == "html" else "report.md")


# -- content ---------------------------------------------------------------------------------
def _sections(data: ReportData, folder: Path, reps: int) -> list[Section]:
    colors = plots.palette(data.agents)
    sections = [Section("What is compared", _overview(data))]
    if data.notes:
        sections.append(
            Section("Missing or partial results", "\n".join(f"- {n}" for n in data.notes))
        )

    # learning curves
    names = []
    for i, task in enumerate(data.tasks):
        curves = _curve_bands(data.curves[data.curves.task == task], reps)
        lv = data.levels.set_index("task").loc[task].to_dict()
        names.append(
            _save(plots.learning_curve(curves, lv, task, colors), folder, f"curve_{i:02d}")
        )
    sections.append(Section(
        "Learning curves",
        "Episode return per agent against env steps: mean over seeds with a 95% bootstrap "
        "confidence band. The controls (memoryless, frame_stack, oracle) are curves of their "
        "own where the suite has them; the random policy's measured return and the env's own "
        "levels (where it knows them) are lines.",
        tuple(names),
    ))  # fmt: skip

    # final performance per task
    rows = []
    for (task, agent), g in data.final.groupby(["task", "agent"]):
        for kind in ("iqm", "mean"):
            est = stats.aggregate([g.score.to_numpy()], kind, reps=reps)
            rows.append({"task": task, "agent": agent, "stat": kind, "value": est.value,
                         "low": est.low, "high": est.high, "seeds": len(g)})  # fmt: skip
    per_task = pd.DataFrame(rows)
    per_task.to_csv(folder / "final_scores.csv", index=False, float_format="%.6g")
    lv = data.levels.set_index("task")
    marks = {
        task: {"random": lv.random[task]} | {c: lv[f"{c}_control"][task] for c in CONTROLS}
        for task in data.tasks
    }
    fig = plots.interval_estimates(
        per_task, colors, "Final return per task", "episode return", marks
    )
    sections.append(Section(
        "Final performance per task",
        "Each seed's score is its final policy's mean return on evaluation episodes (actions "
        "sampled, as trained; env resets and samples from one key shared by every agent and "
        "seed; the greedy policy's return is under Evaluations). Cells from before this "
        f"evaluation existed are scored by their mean training return over the last "
        f"{FINAL_FRACTION:.0%} of updates (listed under Missing or partial results). "
        "IQM (interquartile mean) and mean across seeds, with 95% stratified bootstrap "
        "confidence intervals; dotted lines: the random policy's return and the controls' "
        "mean scores.",
        (_save(fig, folder, "final_scores"),),
        _score_table(per_task),
    ))  # fmt: skip

    sections.append(_memory_test_section(data, reps))
    gap = memory.gap_closed_per_task(data, reps)
    if not gap.empty:
        gap.to_csv(folder / "gap_closed.csv", index=False, float_format="%.6g")
        fig = plots.interval_estimates(gap, colors, "Memory gap closed", "gap closed", GAP_MARKS)
        sections.append(Section(
            "Memory gap closed per task",
            "Each agent's final score on the scale of the task's controls: 0 at the "
            "memoryless control's mean, 1 at the oracle control's. Mean over seeds with a 95% "
            "stratified bootstrap CI that resamples the controls' seeds too, so it includes "
            "their uncertainty.",
            (_save(fig, folder, "gap_closed"),),
            _score_table(gap.assign(stat="gap closed")),
        ))  # fmt: skip
    sections.append(_aggregate_section(data, folder, colors, reps))
    if len(data.agents) > 1:
        sections.append(_improvement_section(data, folder, reps))

    if not data.evaluations.empty:
        sections.append(_evaluation_section(data, reps))
    if not data.throughput.empty:
        data.throughput.to_csv(folder / "throughput.csv", index=False, float_format="%.6g")
        sections.append(Section(
            "Throughput",
            "From the cells' manifests: agent-steps per second over all seeds (learning "
            "included, compile excluded) and compile time.",
            (_save(plots.throughput(data.throughput, colors), folder, "throughput"),),
            data.throughput.round(2),
        ))  # fmt: skip
    _marl_eval_json(data, folder / "marl_eval.json")
    return sections


GAP_MARKS = {"memoryless": 0.0, "oracle": 1.0}


def _memory_test_section(data: ReportData, reps: int) -> Section:
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


def _aggregate_section(data: ReportData, folder: Path, colors: dict, reps: int) -> Section:
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
            _save(plots.interval_estimates(agg.estimates, colors, "All tasks", "gap closed",
                                           GAP_MARKS), folder, "aggregate"),
            _save(plots.performance_profiles(agg.taus, agg.profiles, colors), folder,
                  "profiles"),
        ),
    )  # fmt: skip


def _improvement_section(data: ReportData, folder: Path, reps: int) -> Section:
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
        (_save(plots.probability_of_improvement(pairs), folder, "improvement"),),
    )


def _runs(data: ReportData, task: str, x: str, y: str) -> tuple[np.ndarray, np.ndarray]:
    f = data.final[data.final.task == task]
    return f[f.agent == x].score.to_numpy(), f[f.agent == y].score.to_numpy()


ROLLOUT_STEPS = 64


def _rollout_section(data: ReportData, folder: Path) -> Section:
    """GIFs of the best and the median seed (by final score) of each cell; of each task, in
    a multi-task cell."""
    import jax

    from pmarl_bench import video
    from pmarl_bench.checkpoints import load_cell
    from pmarl_bench.envs.multitask import one_task
    from pmarl_bench.errors import ConfigError

    gifs, skipped = [], []
    tasks = sorted(data.final.task.unique())
    for (env_name, agent), path in sorted(data.cells.items()):
        for task in [t for t in tasks if t == env_name or t.startswith(f"{env_name}/")]:
            scores = data.final[(data.final.task == task) & (data.final.agent == agent)]
            ranked = scores.sort_values(["score", "seed"], ascending=[False, True])
            if ranked.empty:
                continue
            picks = {
                "best": int(ranked.seed.iloc[0]),
                "median": int(ranked.seed.iloc[len(ranked) // 2]),
            }
            try:
                cell = load_cell(path)
                sub = task.removeprefix(env_name).removeprefix("/") or None
                env, env_params, _ = one_task(cell.env, cell.env_params, sub)
                for which, seed in picks.items():
                    rec = video.record(
                        env, env_params, cell.agent, cell.params(seed),
                        jax.random.key(seed), steps=ROLLOUT_STEPS, cell_px=video.CELL_PX,
                    )  # fmt: skip
                    name = f"rollout_{task}_{agent}_{which}".replace("/", "-").replace(":", "-")
                    video.write_video(folder / f"{name}.gif", video.annotate(rec), fps=8)
                    gifs.append((f"{task} / {agent}: {which} seed ({seed})", f"{name}.gif"))
            except ConfigError:
                skipped.append(f"{task}/{agent}")
    text = (
        f"The first {ROLLOUT_STEPS} steps of one episode of the best and the median seed of "
        "each cell (by final score), from its saved parameters."
    )
    if skipped:
        text += f" No rollout for {', '.join(skipped)} (no renderer)."
    return Section("Rollouts", text, gifs=tuple(gifs))


def _evaluation_section(data: ReportData, reps: int) -> Section:
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


def _overview(data: ReportData) -> str:
    seeds = data.final.groupby(["task", "agent"]).seed.nunique()
    text = (
        f"Results from {', '.join(data.sources)}: {len(data.tasks)} task(s) "
        f"({', '.join(data.tasks)}), {len(data.agents)} agent(s) ({', '.join(data.agents)}), "
        f"{seeds.min()}-{seeds.max()} seeds per cell."
    )
    roles = sorted({(c, a) for ctl in data.controls.values() for c, a in ctl.items()})
    if roles:
        text += " Controls: " + ", ".join(f"{c} ({a})" for c, a in roles) + "."
    else:
        text += " No controls (a suite asks for them with `controls:`)."
    return text


# -- computations ----------------------------------------------------------------------------
def _curve_bands(curves: pd.DataFrame, reps: int) -> dict:
    """Per agent: steps, mean over seeds and a 95% bootstrap band (seeds resampled)."""
    out = {}
    for agent, g in curves.groupby("agent"):
        wide = g.pivot_table(index="env_steps", columns="seed", values="value").ffill().bfill()
        mean, low, high = stats.mean_band(wide.to_numpy().T, reps=min(reps, 1000))
        out[agent] = (wide.index.to_numpy(), mean, low, high)
    return out


def _est(e: stats.Estimate) -> dict:
    return {"value": e.value, "low": e.low, "high": e.high}


def _score_table(per_task: pd.DataFrame) -> pd.DataFrame:
    wide = []
    for (task, agent), g in per_task.groupby(["task", "agent"]):
        cell = {"task": task, "agent": agent, "seeds": int(g.seeds.iloc[0])}
        for _, r in g.iterrows():
            cell[f"{r.stat.upper() if r.stat == 'iqm' else r.stat} [95% CI]"] = str(
                stats.Estimate(r.value, r.low, r.high)
            )
        wide.append(cell)
    return pd.DataFrame(wide)


def _marl_eval_json(data: ReportData, path: Path) -> None:
    """Scores in marl-eval's raw-data layout: env -> task -> algorithm -> run -> steps."""
    out: dict = {}
    for (task, agent, seed), g in data.curves.groupby(["task", "agent", "seed"]):
        run = {
            f"step_{i}": {"step_count": int(r.env_steps), "episode_return": [float(r.value)]}
            for i, r in enumerate(g.itertuples())
        }
        score = data.final[(data.final.task == task) & (data.final.agent == agent)
                           & (data.final.seed == seed)].score  # fmt: skip
        run["absolute_metrics"] = {"episode_return": [float(score.iloc[0])]}
        out.setdefault("pmarl-bench", {}).setdefault(task, {}).setdefault(agent, {})[
            f"run_{seed}"
        ] = run
    path.write_text(json.dumps(out, sort_keys=True, separators=(",", ":")))


def _save(fig, folder: Path, name: str) -> str:
    with matplotlib.rc_context({"svg.hashsalt": SVG_SALT}):
        fig.savefig(folder / f"{name}.png", dpi=FIGURE_DPI, metadata={"Software": None})
        fig.savefig(folder / f"{name}.svg", metadata={"Date": None, "Creator": None})
    matplotlib.pyplot.close(fig)
    return name
