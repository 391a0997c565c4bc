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

from pmarl_bench.report import plots, stats
from pmarl_bench.report.data import FINAL_FRACTION, ReportData, load, normalised
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
        "confidence band; reference levels dashed where the env knows them.",
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
    fig = plots.interval_estimates(per_task, colors, "Final return per task", "episode return")
    sections.append(Section(
        "Final performance per task",
        f"Each seed's score is its mean return over the last {FINAL_FRACTION:.0%} of updates. "
        "IQM (interquartile mean) and mean across seeds, with 95% stratified bootstrap "
        "confidence intervals.",
        (_save(fig, folder, "final_scores"),),
        _score_table(per_task),
    ))  # fmt: skip

    # aggregate over tasks, normalised
    norm = normalised(data)
    by_agent = {a: [g.score.to_numpy() for _, g in norm[norm.agent == a].groupby("task")]
                for a in data.agents}  # fmt: skip
    agg = [
        {"task": "all tasks", "agent": a, "stat": kind, **_est(stats.aggregate(s, kind, reps=reps))}
        for a, s in by_agent.items()
        for kind in ("iqm", "mean")
    ]
    agg = pd.DataFrame(agg)
    agg.to_csv(folder / "aggregate.csv", index=False, float_format="%.6g")
    taus = np.linspace(min(-0.1, float(norm.score.min())), max(1.1, float(norm.score.max())), 101)
    profiles = {a: stats.performance_profile(s, taus) for a, s in by_agent.items()}
    lv = data.levels[["task", "low", "low_source", "high", "high_source"]]
    sections.append(Section(
        "Aggregate over tasks",
        "Scores normalised per task: 0 at the memoryless level (else chance, else the untrained "
        "policy's first recorded return), 1 at the optimum (else the best agent's mean). IQM "
        "and mean over all runs of all tasks with stratified bootstrap CIs, and performance "
        "profiles (the share of runs above each normalised score).",
        (
            _save(plots.interval_estimates(agg, colors, "All tasks", "normalised score"),
                  folder, "aggregate"),
            _save(plots.performance_profiles(taus, profiles, colors), folder, "profiles"),
        ),
        lv.rename(columns={"low": "0 at", "low_source": "from", "high": "1 at",
                           "high_source": "from "}),
    ))  # fmt: skip

    # probability of improvement
    if len(data.agents) > 1:
        sections.append(_improvement_section(data, norm, folder, reps))

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


def _improvement_section(data: ReportData, norm: pd.DataFrame, folder: Path, reps: int):
    pairs, lines, rows = {}, [], []
    for x, y in itertools.permutations(data.agents, 2):
        tasks = sorted(set(norm[norm.agent == x].task) & set(norm[norm.agent == y].task))
        if not tasks:
            continue
        xs = [norm[(norm.agent == x) & (norm.task == t)].score.to_numpy() for t in tasks]
        ys = [norm[(norm.agent == y) & (norm.task == t)].score.to_numpy() for t in tasks]
        if x < y:
            pairs[(x, y)] = stats.probability_of_improvement(xs, ys, reps=reps)
        for t, sx, sy in zip(tasks, xs, ys, strict=True):
            est = stats.probability_of_improvement([sx], [sy], reps=reps)
            rows.append({"task": t, "x": x, "y": y, **_est(est)})
            if x < y:
                lines.append(_verdict(t, x, y, est, min(len(sx), len(sy))))
    table = pd.DataFrame(rows)
    table.to_csv(folder / "probability_of_improvement.csv", index=False, float_format="%.6g")
    return Section(
        "Probability of improvement",
        "P(X > Y): the chance that a seed of X ends above a seed of Y on the same task (ties "
        "count half), 95% bootstrap CI; 0.5 is no difference.\n\n"
        + "\n".join(f"- {line}" for line in sorted(lines)),
        (_save(plots.probability_of_improvement(pairs), folder, "improvement"),),
    )


def _verdict(task: str, x: str, y: str, est: stats.Estimate, seeds: int) -> str:
    if np.isfinite(est.low) and est.low > 0.5:
        return f"{x} beats {y} on {task}: P(improvement) {est}"
    if np.isfinite(est.high) and est.high < 0.5:
        return f"{y} beats {x} on {task}: P(improvement) {_flip(est)}"
    need = stats.seeds_to_separate(est, seeds)
    more = (
        "no sign of a difference"
        if need is None
        else f"about {need} seeds per agent might separate them (now {seeds})"
    )
    return (
        f"no clear difference between {x} and {y} on {task} (CI includes 0.5): "
        f"P({x} > {y}) {est}; {more}"
    )


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
    return (
        f"Results from {', '.join(data.sources)}: {len(data.tasks)} task(s) "
        f"({', '.join(data.tasks)}), {len(data.agents)} agent(s) ({', '.join(data.agents)}), "
        f"{seeds.min()}-{seeds.max()} seeds per cell."
    )


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


def _flip(e: stats.Estimate) -> stats.Estimate:
    return stats.Estimate(1 - e.value, 1 - e.high, 1 - e.low)


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
