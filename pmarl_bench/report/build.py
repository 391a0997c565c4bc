"""Build a report folder from result tables: figures (PNG + SVG), CSV summaries, the scores in
marl-eval's JSON layout, and an ``index.html`` with a Markdown twin. The same tables give the
same report, byte for byte (fixed bootstrap seeds, no timestamps in files)."""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import warnings
from pathlib import Path

import pandas as pd
from scipy.stats import DegenerateDataWarning

from pmarl_bench.errors import ConfigError
from pmarl_bench.report import plots, stats
from pmarl_bench.report import sections as sections_
from pmarl_bench.report.data import CONTROLS, FINAL_FRACTION, ReportData, load
from pmarl_bench.report.files import REPORT_MARK, check_out_folder, save
from pmarl_bench.report.pages import Section, html_page, markdown_page
from pmarl_bench.report.unfinished import unfinished, unfinished_section


def build_report(
    results_dirs: list[str | Path],
    out: str | Path,
    fmt: str = "html",
    reps: int = stats.REPS,
    videos: bool = True,
) -> Path:
    """Write the report for ``results_dirs`` into ``out`` (replaced if it exists); returns the
    main page (``index.html``, or ``report.md`` for ``fmt="md"``). ``videos``: a short GIF of
    the best and the median seed of every cell with saved parameters and a renderable env.
    ``out`` may only be new, empty or an earlier report, and never in or around a results
    folder read (a ``ConfigError`` otherwise)."""
    check_out_folder(Path(out), [Path(d) for d in results_dirs])
    pending = unfinished(results_dirs)
    try:
        data = load(results_dirs)
    except ConfigError as err:
        if "no finished cells" in str(err) and not pending.empty:
            raise ConfigError(
                f"no finished cells yet; {len(pending)} running, interrupted or failed (see "
                "pmarl-bench status)",
                err.where,
            ) from None
        raise
    warnings.simplefilter("ignore", DegenerateDataWarning)  # flat samples: the CI is the point
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.tmp-"))
    tmp.chmod(0o755)  # mkdtemp's folder is private; a report is meant to be shared
    try:
        (tmp / REPORT_MARK).write_text("written by pmarl-bench report; replaced by the next\n")
        sections = _sections(data, tmp, reps)
        if not pending.empty:
            sections.insert(1, unfinished_section(pending, tmp))
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
        names.append(save(plots.learning_curve(curves, lv, task, colors), folder, f"curve_{i:02d}"))
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
        (save(fig, folder, "final_scores"),),
        sections_.score_table(per_task),
    ))  # fmt: skip

    sections.append(sections_.memory_test_section(data, reps))
    sections.extend(sections_.gap_sections(data, folder, colors, reps))
    sections.append(sections_.aggregate_section(data, folder, colors, reps))
    if len(data.agents) > 1:
        sections.append(sections_.improvement_section(data, folder, reps))

    if not data.evaluations.empty:
        sections.append(sections_.evaluation_section(data, reps))
    if data.cross_play or not data.cross_agents.empty:
        sections.append(sections_.cross_play_section(data, folder, reps))
    if not data.ratings.empty:
        data.ratings.to_csv(folder / "ratings.csv", index=False, float_format="%.6g")
        sections.append(sections_.ratings_section(data, folder, colors))
    sections.extend(sections_.tuning_sections(data, folder, reps))
    if not data.throughput.empty:
        data.throughput.to_csv(folder / "throughput.csv", index=False, float_format="%.6g")
        sections.append(Section(
            "Throughput",
            "From the cells' manifests: agent-steps per second over all seeds (learning "
            "included, compile excluded) and compile time; model FLOPs per agent-step "
            "(acting and learning, from XLA's cost analysis), the achieved GFLOP/s and its "
            "share of the device's peak (its data sheet's, or on a CPU the rate of a fixed "
            "calibration kernel).",
            (save(plots.throughput(data.throughput, colors), folder, "throughput"),),
            data.throughput.round(2),
        ))  # fmt: skip
    _marl_eval_json(data, folder / "marl_eval.json")
    return sections


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
                    name = re.sub(r"[^A-Za-z0-9_.-]", "-", f"rollout_{task}_{agent}_{which}")
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
    return text + _tuning_note(data)


def _tuning_note(data: ReportData) -> str:
    """The tuning protocol behind the cells' PPO settings, as a paper states it."""
    if not data.tuning:
        return " Every cell trains with its suite's PPO settings (not tuned per agent)."
    text = ""
    protocols: dict[str, list[str]] = {}
    for (task, agent), p in sorted(data.tuning.items()):
        key = (f"chosen {p.get('chosen', '?')} by the {p.get('criterion', '?')}, on tuning "
               f"seeds {p.get('tuning_seeds')}")  # fmt: skip
        protocols.setdefault(key, []).append(f"{task}/{agent}")
    untuned = {(t, a) for t in data.tasks for a in data.agents} - set(data.tuning)
    have = set(map(tuple, data.final[["task", "agent"]].drop_duplicates().to_numpy()))
    for key, cells in protocols.items():
        which = "every cell" if len(protocols) == 1 and not untuned & have else ", ".join(cells)
        text += f" Tuned PPO settings ({which}): {key}; evaluated here on other seeds."
    if untuned & have:
        text += " The other cells train with their suite's PPO settings (not tuned)."
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
