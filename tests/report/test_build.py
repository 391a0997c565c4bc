"""The report folder from small synthetic result tables: files, reproducibility, statements,
normalisation, the marl-eval export, and missing or partial results."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from pmarl_bench.cli import app
from pmarl_bench.report import build_report
from pmarl_bench.results import metrics_frame, write_cell

UPDATES = 20
LEVELS = {"chance": 0.0, "memoryless": 1.0, "optimal": 3.0}


def write(
    root,
    env,
    agent,
    seeds,
    final,
    *,
    levels=None,
    suite="toy",
    extra=None,
    control=None,
    random=None,
    plateau=False,
    noise=None,
):
    """A cell whose return rises linearly to ``final`` (+ a small per-seed offset), or
    reaches it half-way and stays (``plateau``); ``noise``: its final-policy evaluation's
    manifest entry."""
    ramp = np.linspace(0.0, 1.0, UPDATES)
    if plateau:
        ramp = np.minimum(2 * ramp, 1.0)
    returns = np.stack([final * ramp + 0.01 * s for s in seeds])
    metrics = {"episode_return": returns, **(extra or {})}
    frame = metrics_frame(
        metrics, suite=suite, env=env, agent=agent, seeds=seeds, env_steps_per_update=100
    )
    manifest = {
        "suite": suite, "env": env, "agent": agent, "seeds": seeds, "config_hash": "x",
        "score_levels": levels or {"chance": None, "memoryless": None, "optimal": None},
        "agent_steps_per_second": 1000.0 * len(agent), "compile_seconds": 2.0,
        "run_seconds": 10.0, "peak_host_memory_bytes": 1e9, "device": "cpu",
        "control": control, "random_return": random,
        "task_card": {"tests": ["sequential recall"], "horizon_steps": 4, "horizon": "4 steps"},
        "memory": {"reach": 2, "inputs": ["obs", "prev_action", "prev_reward"]},
        **({"evaluation": {"final_policy": noise}} if noise else {}),
    }  # fmt: skip
    write_cell(root / suite / env / agent, frame, manifest)


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    root = tmp_path_factory.mktemp("results")
    seeds = [0, 1, 2, 3, 4]
    random = {"mean": 0.5, "sem": 0.1, "episodes": 64}
    write(root, "recall", "good", seeds, 3.0, levels=LEVELS, random=random)
    write(root, "recall", "bad", seeds, 1.0, levels=LEVELS, random=random)
    # the controls: 0 and 1 of the memory gap closed
    write(root, "recall", "memoryless", seeds, 1.0, levels=LEVELS, control="memoryless")
    write(root, "recall", "oracle_memory", seeds, 4.0, levels=LEVELS, control="oracle_memory")
    write(root, "recall", "oracle_state", seeds, 6.0, levels=LEVELS, control="oracle_state")
    write(root, "maze", "good", seeds, 5.0)
    write(root, "maze", "bad", seeds[:2], 5.0)  # partial: fewer seeds, same level
    write(root, "solo", "good", seeds, 2.0)  # one agent only
    return root / "toy"


@pytest.fixture(scope="module")
def report(results, tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "toy"
    page = build_report([results], out, reps=300)
    return out, page


def test_report_folder_has_pages_figures_and_tables(report):
    out, page = report
    assert page == out / "index.html"
    for name in ("index.html", "report.md", "final_scores.csv", "aggregate.csv", "gap_closed.csv",
                 "probability_of_improvement.csv", "throughput.csv", "marl_eval.json"):  # fmt: skip
        assert (out / name).is_file(), name
    for fig in ("final_scores", "aggregate", "profiles", "improvement", "throughput", "curve_00",
                "gap_closed"):  # fmt: skip
        assert (out / f"{fig}.png").stat().st_size > 1000 and (out / f"{fig}.svg").is_file()
    html = (out / "index.html").read_text()
    assert 'src="final_scores.png"' in html and "<table" in html
    assert '<h2 id="aggregate-over-tasks">Aggregate over tasks</h2>' in html  # linkable


@pytest.mark.slow
def test_same_tables_give_the_same_report_byte_for_byte(results, report, tmp_path):
    out, _ = report
    again = tmp_path / "again"
    build_report([results], again, reps=300)
    files = sorted(p.name for p in out.iterdir())
    assert files == sorted(p.name for p in again.iterdir())
    for name in files:
        assert (out / name).read_bytes() == (again / name).read_bytes(), name


def test_statements_and_missing_results(report):
    md = (report[0] / "report.md").read_text()
    assert "good beats bad on recall: P(improvement) 1 [1, 1], Holm-adjusted p" in md
    # maze/bad has 2 seeds: no claim, and the report says how many a claim needs
    assert "no claim on maze for bad vs good: 2 seeds, a claim needs at least 5 per agent" in md
    assert not [line for line in md.splitlines() if "beats" in line and "on maze" in line]
    assert "maze/bad: 2 seeds (others have 5)" in md
    assert "solo: no results for bad" in md and "solo: only good, nothing to compare" in md


@pytest.mark.slow
def test_a_difference_needs_the_holm_corrected_test_too(tmp_path):
    """Two agents whose seeds barely overlap: P(improvement)'s interval may exclude 0.5, but
    with many comparisons in the report the corrected test does not back a claim."""
    seeds = [0, 1, 2, 3, 4]
    for task in ("a", "b", "c", "d"):
        write(tmp_path, task, "x", seeds, 1.0)
        write(tmp_path, task, "y", seeds, 0.97)
        write(tmp_path, task, "z", seeds, 0.99)
    build_report([tmp_path / "toy"], tmp_path / "out", "md", reps=100)
    md = (tmp_path / "out" / "report.md").read_text()
    section = md[md.index("## Probability of improvement") :]
    verdicts = [line for line in section.splitlines() if line.startswith("- ")]
    assert len(verdicts) == 12 and not [v for v in verdicts if " beats " in v]
    # the interval alone would have claimed it
    assert [v for v in verdicts if "(Holm-adjusted p" in v], verdicts


def test_memory_gap_closed_is_scaled_by_the_controls(results, report):
    import pandas as pd

    from pmarl_bench.report.memory import normalised
    from pmarl_bench.report.results import load

    agg = pd.read_csv(report[0] / "final_scores.csv")
    good = agg[(agg.task == "recall") & (agg.agent == "good") & (agg.stat == "mean")].iloc[0]
    # the last 10% of 20 updates: the last 2 of the ramp to 3.0, plus the seed offsets
    ramp_end = np.linspace(0.0, 1.0, UPDATES)[-2:].mean()
    offsets = 0.01 * np.mean([0, 1, 2, 3, 4])
    assert good.value == pytest.approx(3.0 * ramp_end + offsets)
    norm = normalised(load([results]))
    assert set(norm.task) == {"recall"}  # the only task with both controls
    low, high = 1.0 * ramp_end + offsets, 4.0 * ramp_end + offsets  # the controls' means
    recall = norm[(norm.task == "recall") & (norm.agent == "good")].score.mean()
    assert recall == pytest.approx((good.value - low) / (high - low), rel=1e-5)  # CSV: 6 digits
    gap = pd.read_csv(report[0] / "gap_closed.csv").set_index("agent")
    assert gap.value["memoryless"] == pytest.approx(0.0) and gap.value["oracle_memory"] == 1.0
    assert gap.low["good"] < gap.value["good"] < gap.high["good"]
    md = (report[0] / "report.md").read_text()
    assert "Memory gap closed over recall" in md
    assert "maze (no memoryless and oracle_memory controls)" in md
    table = md[md.index("## Does this task test memory?") :]
    row = next(line for line in table.splitlines() if line.startswith("| recall"))
    assert "yes: perfect memory scores above no memory" in row
    # what the task hides beyond memory: full state 6, perfect memory 4 (times the ramp's end)
    header = next(line for line in table.splitlines() if line.startswith("| task"))
    column = [c.strip() for c in header.split("|")].index(
        "hidden beyond memory: oracle_state − oracle_memory [95% CI]"
    )
    hidden = float(row.split("|")[column].split("[")[0])
    assert hidden == pytest.approx(2.0 * ramp_end, abs=0.005)  # shown to 2 decimals
    assert "good 2 (short)" in row  # its manifest: it reaches 2 steps back; the horizon is 4
    maze = next(line for line in table.splitlines() if line.startswith("| maze"))
    assert "unknown" in maze and "needs memoryless and oracle_memory" in maze


def test_marl_eval_layout(report):
    data = json.loads((report[0] / "marl_eval.json").read_text())
    run = data["pmarl-bench"]["recall"]["good"]["run_0"]
    assert run["step_0"] == {"step_count": 100, "episode_return": [0.0]}
    assert len([k for k in run if k.startswith("step_")]) == UPDATES
    assert run["absolute_metrics"]["episode_return"][0] == pytest.approx(
        np.linspace(0.0, 3.0, UPDATES)[-2:].mean()
    )


@pytest.mark.slow
def test_cli_report_and_its_errors(results, tmp_path):
    runner = CliRunner()
    out = tmp_path / "r"
    res = runner.invoke(app, ["report", str(results), "--out", str(out), "--format", "md"])
    assert res.exit_code == 0, res.output
    assert (out / "report.md").is_file() and not (out / "index.html").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    res = runner.invoke(app, ["report", str(empty)])
    assert res.exit_code == 2
    assert res.output.strip().count("\n") == 0 and "no finished cells" in res.output


def test_evaluations_are_listed_per_checkpoint(tmp_path):
    """Evaluations measured at different checkpoints are separate rows, not pooled."""
    seeds = [0, 1]
    at = np.full((2, UPDATES), np.nan)
    last, middle = at.copy(), at.copy()
    last[:, -1] = [0.7, 0.9]
    middle[:, 9] = [0.2, 0.4]
    middle[:, 4] = [0.0, 0.2]  # a second, earlier checkpoint
    write(tmp_path, "koth", "gru", seeds, 1.0,
          extra={"eval/point_share": last, "eval/checkpoint_vs_final": middle})  # fmt: skip
    build_report([tmp_path / "toy"], tmp_path / "out", "md", reps=100)
    rows = [line for line in (tmp_path / "out" / "report.md").read_text().splitlines()
            if line.startswith("| koth") and ("point_share" in line or "_vs_" in line)]  # fmt: skip
    cells = [[c.strip() for c in row.strip("|").split("|")] for row in rows]
    assert [(c[2], c[3], c[4].split()[0]) for c in cells] == [
        ("checkpoint_vs_final", "500", "0.1"),
        ("checkpoint_vs_final", "1000", "0.3"),  # the checkpoint after 10 updates of 100 steps
        ("point_share", "2000", "0.8"),
    ]


def test_final_scores_come_from_the_final_policy_evaluation(tmp_path):
    """Where a cell has the final-policy evaluation, it scores the seeds, not training."""
    seeds = [0, 1]
    at_end = np.full((2, UPDATES), np.nan)
    stochastic, greedy = at_end.copy(), at_end.copy()
    stochastic[:, -1], greedy[:, -1] = [7.0, 9.0], [8.0, 8.0]
    extra = {"eval/return_stochastic": stochastic, "eval/return_greedy": greedy}
    write(tmp_path, "recall", "new", seeds, 1.0, extra=extra)
    write(tmp_path, "recall", "old", seeds, 1.0)  # before the evaluation existed
    build_report([tmp_path / "toy"], tmp_path / "out", "md", reps=100)
    import pandas as pd

    final = pd.read_csv(tmp_path / "out" / "final_scores.csv")
    mean = final[final.stat == "mean"].set_index("agent").value
    assert mean["new"] == pytest.approx(8.0)  # the stochastic policy's returns, 7 and 9
    assert mean["old"] == pytest.approx(np.linspace(0.0, 1.0, UPDATES)[-2:].mean() + 0.005)
    md = (tmp_path / "out" / "report.md").read_text()
    assert "recall/old: no final-policy evaluation" in md and "recall/new: no" not in md
    assert "return_greedy" in md  # listed under Evaluations


def test_throughput_table_carries_the_manifests_efficiency():
    from pmarl_bench.report.sections.throughput import throughput_table

    eff = {"acting_flops_per_agent_step": 1e5, "learning_flops_per_agent_step": 9e5,
           "achieved_flops_per_second": 5e10, "peak_share": 0.3}  # fmt: skip
    manifests = [
        {"suite": "s", "env": "e", "agent": "new", "efficiency": eff},
        {"suite": "s", "env": "e", "agent": "old"},  # from before efficiency was recorded
    ]
    table = throughput_table(manifests, lambda s, e: e).set_index("agent")
    assert table.loc["new", "flops_per_agent_step"] == 1e6
    assert table.loc["new", "achieved_gflops"] == 50 and table.loc["new", "peak_share"] == 0.3
    assert np.isnan(table.loc["old", "peak_share"])


def test_cross_play_matrices_and_their_gap(tmp_path):
    import pandas as pd

    from pmarl_bench.results import metrics_frame, write_cell

    seeds = [0, 1, 2]
    frame = metrics_frame({"episode_return": np.ones((3, UPDATES))}, suite="toy", env="team",
                          agent="good", seeds=seeds, env_steps_per_update=100)  # fmt: skip
    matrix = (np.ones((3, 3)) + np.eye(3)).tolist()  # own partners 2, others' 1
    manifest = {
        "suite": "toy",
        "env": "team",
        "agent": "good",
        "seeds": seeds,
        "config_hash": "x",
        "cross_play": {"metric": "return_stochastic", "seeds": seeds, "matrices": {"team": matrix}},
    }
    write_cell(tmp_path / "toy" / "team" / "good", frame, manifest)
    # between cells (`pmarl-bench crossplay`): good's seeds with bad's as partners score 0.5
    rows = [
        {
            "task": "team",
            "focal_agent": f,
            "focal_seed": s,
            "partner_agent": p,
            "partner_seed": t,
            "return_stochastic": matrix[s][t] if f == p else 0.5,
        }
        for f in ("good", "bad")
        for p in ("good", "bad")
        for s in seeds
        for t in seeds
    ]
    (tmp_path / "toy" / "cross_play").mkdir()
    pd.DataFrame(rows).to_csv(tmp_path / "toy" / "cross_play" / "team.csv", index=False)
    build_report([tmp_path / "toy"], tmp_path / "out", "md", reps=100)
    table = pd.read_csv(tmp_path / "out" / "cross_play.csv").iloc[0]
    assert (table["self-play"], table["cross-play"], table.gap) == (2.0, 1.0, 1.0)
    assert "## Cross-play" in (tmp_path / "out" / "report.md").read_text()
    assert (tmp_path / "out" / "cross_play.png").is_file()
    pairs = pd.read_csv(tmp_path / "out" / "cross_play_agents.csv")
    pairs = pairs.set_index(["focal_agent", "partner_agent"]).return_stochastic
    # same agent: the other seeds only (1 each); other agents: every pair of seeds
    assert pairs.to_dict() == {("bad", "bad"): 1.0, ("bad", "good"): 0.5,
                               ("good", "bad"): 0.5, ("good", "good"): 1.0}  # fmt: skip


def test_ratings_are_drawn_and_the_final_policies_ranked(tmp_path):
    seeds = [0, 1]
    frame = metrics_frame({"episode_return": np.ones((2, UPDATES))}, suite="toy", env="hill",
                          agent="good", seeds=seeds, env_steps_per_update=100)  # fmt: skip
    manifest = {"suite": "toy", "env": "hill", "agent": "good", "seeds": seeds,
                "config_hash": "x"}  # fmt: skip
    write_cell(tmp_path / "toy" / "hill" / "good", frame, manifest)
    (tmp_path / "toy" / "ratings").mkdir()
    import pandas as pd

    table = pd.DataFrame({
        "agent": ["good"] * 4, "seed": [0, 0, 1, 1],
        "checkpoint": ["update_000010", "final"] * 2, "update": [10, 20] * 2,
        "env_steps": [1000, 2000] * 2, "mu": [20.0, 30.0, 21.0, 28.0], "sigma": [2.0] * 4,
        "ordinal": [14.0, 24.0, 15.0, 22.0], "matches": [8] * 4, "wins": [2, 6, 3, 5],
        "draws": [0] * 4,
    })  # fmt: skip
    table.to_csv(tmp_path / "toy" / "ratings" / "hill.csv", index=False)
    build_report([tmp_path / "toy"], tmp_path / "out", "md", reps=100)
    page = (tmp_path / "out" / "report.md").read_text()
    section = page[page.index("## Ratings") :]
    assert "ratings.png" in section
    assert section.index("| hill   | good    |      0 |") < section.index(
        "| hill   | good    |      1 |"
    )


def test_the_reach_comes_from_the_manifest_and_an_old_one_says_unknown(tmp_path):
    """Reports never read an agent's network: a new memory core's reach is whatever its
    manifest records, and a cell from before manifests recorded it is named."""
    seeds = [0, 1]
    write(tmp_path, "recall", "new_core", seeds, 1.0)  # reach 2, from ``write``'s manifest
    frame = metrics_frame({"episode_return": np.ones((2, UPDATES))}, suite="toy", env="recall",
                          agent="old", seeds=seeds, env_steps_per_update=100)  # fmt: skip
    write_cell(tmp_path / "toy" / "recall" / "old", frame, {"suite": "toy", "env": "recall",
               "agent": "old", "seeds": seeds, "config_hash": "x"})  # fmt: skip
    build_report([tmp_path / "toy"], tmp_path / "out", "md", reps=50)
    md = (tmp_path / "out" / "report.md").read_text()
    table = md[md.index("## Does this task test memory?") :]
    row = next(line for line in table.splitlines() if line.startswith("| recall"))
    assert "new_core 2" in row and "old unknown" in row
    assert "recall/old: trained before manifests recorded how far back" in md


def test_adding_unrelated_cells_changes_no_claim(tmp_path):
    """Holm runs within each comparison family (default: a task's pairs), so cells of another
    task or another suite leave every existing claim's p-value as it was; a suite that asks
    for per_suite gets one family over its tasks."""
    from pmarl_bench.report import claims
    from pmarl_bench.report.results import load

    def p_values(folders):
        results = load(folders)
        found = claims.compare_all(results.final, 200, results.families)
        return {(c.task, c.x, c.y): c.p_holm for c in found}

    seeds = [0, 1, 2, 3, 4]
    for agent, final in (("a", 1.0), ("b", 1.02), ("c", 1.05)):
        write(tmp_path, "recall", agent, seeds, final)
    before = p_values([tmp_path / "toy"])
    assert len(before) == 3 and all(0 < p < 1 for p in before.values())
    # close scores: weak evidence, so in one family with recall's they would weigh on it
    for agent, final in (("a", 2.0), ("b", 2.001), ("c", 2.002), ("d", 2.003)):
        write(tmp_path, "maze", agent, seeds, final)  # another task of the same suite
        write(tmp_path, "other", agent, seeds, final, suite="more")  # another suite
    after = p_values([tmp_path / "toy", tmp_path / "more"])
    assert len(after) == 3 + 6 + 6
    for (task, x, y), p in before.items():
        assert after[(f"toy:{task}", x, y)] == p  # the same float, not just close

    # per_suite: the suite's tasks form one family (9 comparisons), so Holm is stricter
    for path in (tmp_path / "toy").glob("*/*/manifest.json"):
        manifest = json.loads(path.read_text())
        path.write_text(json.dumps({**manifest, "comparisons": "per_suite"}))
    suite_wide = p_values([tmp_path / "toy"])
    assert all(suite_wide[key] >= p for key, p in before.items())
    assert any(suite_wide[key] > p for key, p in before.items()), (before, suite_wide)


def test_the_aggregate_keeps_shown_tasks_and_survives_a_vanishing_gap(tmp_path):
    from pmarl_bench.report import stats
    from pmarl_bench.report.results import load
    from pmarl_bench.report.sections.aggregate import aggregate

    seeds = [0, 1, 2, 3, 4]
    for task, top in (("recall", 4.0), ("flat", 1.0)):  # flat: perfect memory is no help
        write(tmp_path, task, "memoryless", seeds, 1.0, control="memoryless")
        write(tmp_path, task, "oracle_memory", seeds, top, control="oracle_memory")
        write(tmp_path, task, "good", seeds, 3.0)
    agg = aggregate(load([tmp_path / "toy"]), 500)
    assert agg.tasks == ["recall"]
    # the per-task scale too: a task without a shown memory test has no scale to read
    from pmarl_bench.report.sections.gap_closed import gap_closed_per_task

    assert set(gap_closed_per_task(load([tmp_path / "toy"]), 200).task) == {"recall"}
    assert "flat" in agg.left_out and "memory test is not shown" in agg.left_out["flat"]
    assert np.isfinite(agg.estimates[["value", "low", "high"]].to_numpy()).all()

    # controls whose means some bootstrap draws (about 3%) make equal: the interval exists
    low, high = np.array([0.0, 0.0, 0.0, 0.0, 1.0]), np.array([1.0, 1.0, 1.0, 0.0, 1.0])
    agent = np.array([0.5, 0.6, 0.7, 0.8, 0.9])
    est = stats.gap_closed([(agent, low, high)], "mean", reps=2000)
    assert np.isfinite([est.value, est.low, est.high]).all() and est.low < est.value < est.high


def test_each_cell_shows_its_plateau_and_its_evaluation_noise(tmp_path):
    """A reviewer reads, per cell, whether its curve still rose at the end and how many
    evaluation episodes each seed played with what standard error; a claim about a cell that
    still rises says so."""
    seeds = [0, 1, 2, 3, 4]
    noise = {
        "episodes": 256,
        "keys": "per seed",
        "tried": [64, 128, 256],
        "noise": {"eval/return_stochastic": {"sem": 0.05, "spread": 0.8, "ratio": 0.0625}},
    }
    write(tmp_path, "recall", "memoryless", seeds, 1.0, control="memoryless", plateau=True)
    write(tmp_path, "recall", "oracle_memory", seeds, 4.0, control="oracle_memory", noise=noise)
    build_report([tmp_path / "toy"], tmp_path / "report", fmt="md", reps=200)
    md = (tmp_path / "report" / "report.md").read_text()
    scores = md[md.index("## Final performance per task") :]
    scores = scores[: scores.index("\n## ", 5)]
    rows = {line.split("|")[2].strip(): line for line in scores.splitlines()
            if line.startswith("| recall")}  # fmt: skip
    assert "| no: 0 " in rows["memoryless"]  # flat over its last fifth
    assert "| yes: " in rows["oracle_memory"]  # a ramp to the end
    cells = {agent: [c.strip() for c in row.split("|")] for agent, row in rows.items()}
    assert cells["oracle_memory"][-3:-1] == ["256", "0.05 / 0.8"]
    assert cells["memoryless"][-3:-1] == ["–", "–"]  # its manifest does not say
    table = md[md.index("## Does this task test memory?") :]
    verdict = next(line for line in table.splitlines() if line.startswith("| recall"))
    assert (
        "yes: perfect memory scores above no memory (at this budget: oracle_memory still rising)"
        in verdict
    )
    budget = pd.read_csv(tmp_path / "report" / "budget.csv").set_index("agent")
    assert budget.rising.to_dict() == {"memoryless": False, "oracle_memory": True}


def test_a_partial_report_lists_the_cells_not_run_yet(tmp_path):
    """A run's plan names every cell; a report of a run cut short says which have not run,
    and does not conclude the suite lacks a control that is only pending."""
    from pmarl_bench.results.store import write_plan

    seeds = [0, 1, 2, 3, 4]
    write(tmp_path, "recall", "memoryless", seeds, 1.0, control="memoryless")
    write(tmp_path, "recall", "gru", seeds, 3.0)
    write_plan(tmp_path / "toy", [
        {"env": "recall", "agent": "memoryless", "control": "memoryless"},
        {"env": "recall", "agent": "gru", "control": None},
        {"env": "recall", "agent": "oracle_memory", "control": "oracle_memory"},
    ])  # fmt: skip
    build_report([tmp_path / "toy"], tmp_path / "report", fmt="md", reps=200)
    md = (tmp_path / "report" / "report.md").read_text()
    assert "recall/oracle_memory (the oracle_memory control): not run yet" in md
    table = md[md.index("## Does this task test memory?") :]
    verdict = next(line for line in table.splitlines() if line.startswith("| recall"))
    assert "not run yet: the oracle_memory control(s) are planned" in verdict
    assert "needs memoryless and oracle_memory" not in md


def test_every_figure_is_readable_at_the_page_width(results, tmp_path, monkeypatch):
    """The HTML page shows a figure at most PAGE_WIDTH_PX wide: every text of every figure
    (tick labels, titles, marks) must then be at least 8 px high as displayed (the aggregate's
    four statistics sit two a row, not in one 1,540-px row shrunk to a third)."""
    from matplotlib.text import Text

    from pmarl_bench.report import build
    from pmarl_bench.report.files import FIGURE_DPI
    from pmarl_bench.report.pages import PAGE_WIDTH_PX

    seen: dict[str, float] = {}
    real_save = build.save

    def measure(fig, folder, name):
        width_px = fig.get_size_inches()[0] * FIGURE_DPI
        shown = min(1.0, PAGE_WIDTH_PX / width_px)  # the browser's scale at the page's width
        sizes = [t.get_fontsize() for t in fig.findobj(Text) if t.get_visible() and t.get_text()]
        seen[name] = min(sizes) * FIGURE_DPI / 72 * shown  # the smallest text, in px
        return real_save(fig, folder, name)

    monkeypatch.setattr(build, "save", measure)
    build_report([results], tmp_path / "out", reps=50)
    assert "aggregate" in seen and "final_scores" in seen
    small = {name: round(px, 1) for name, px in seen.items() if px < 8.0}
    assert not small, small


def test_the_evaluation_curve_has_a_section_with_its_episodes(tmp_path):
    seeds = [0, 1, 2]
    curve = np.full((3, UPDATES), np.nan)
    curve[:, [UPDATES // 2 - 1, UPDATES - 1]] = [[1.0, 2.0], [1.5, 2.5], [1.2, 2.2]]
    extra = {"eval_curve/return_greedy": curve, "eval_curve/return_stochastic": curve - 0.5}
    write(tmp_path, "recall", "good", seeds, 3.0, extra=extra)
    write(tmp_path, "recall", "bad", seeds, 1.0)  # a cell without a curve
    out = tmp_path / "report"
    text = build_report([tmp_path / "toy"], out, "md", reps=50).read_text()
    assert "## Evaluation during training" in text and "64 per seed" in text
    table = pd.read_csv(out / "evaluation_curve.csv")
    assert set(table["mode"]) == {"greedy", "stochastic"} and set(table.agent) == {"good"}
    assert len(table) == 2 * 2 * 3  # modes x points x seeds (NaN between points left out)
    assert (out / "evaluation_curve_00.png").is_file() and (
        out / "evaluation_curve_01.png"
    ).is_file()
