"""``pmarl-bench tune`` end to end: the sweep's trials train in one cell with their settings
as table columns; each trial trains as the same settings do alone in ``run``; the chosen
settings are the best IQM and land in a file a suite's ``tuned:`` reads, whose evaluation's
report shows the sweep's sensitivity; a rerun skips the finished sweep.

A trial matches its run to float rounding, not bit for bit: XLA on the CPU tiles and
vectorises a vmapped batch of 4 members otherwise than one of 2, so sums over a minibatch add
in another order and the losses differ in their last bits (as seeds trained in other groups
do, ``tests/trainer/test_seed_groups.py``); the episodes played stay the same."""

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from pmarl_bench.cli import app
from pmarl_bench.suites import load_suite

pytestmark = pytest.mark.slow

SUITE = """\
name: t
seeds: 2
steps: 512
envs:
  - id: n_back-v0
    options: {episode_length: 16, max_n: 2}
    ppo: {num_envs: 16, rollout_length: 16, num_minibatches: 2, num_epochs: 1, lr: 1.0e-5}
agents:
  - baseline: mlp
    network: {width: 16}
sweep:
  grid: {lr: [1.0e-5, 3.0e-3], ent_coef: [0.05]}
  seeds: 2
"""


def invoke(*args):
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result


def rows(path):
    df = pd.read_parquet(path / "n_back" / "mlp" / "metrics.parquet")
    return df.sort_values(["seed", "metric", "update"]).reset_index(drop=True)


def test_tune_trains_the_sweep_as_runs_would_and_writes_the_settings_a_suite_uses(tmp_path):
    suite, results, out = tmp_path / "t.yaml", tmp_path / "results", tmp_path / "t.tuned.yaml"
    suite.write_text(SUITE)
    first = invoke("tune", suite, "--results-dir", results, "--out", out)
    folder = results / "t-tune"
    df = rows(folder)
    assert {"trial", "lr", "ent_coef"} <= set(df.columns)
    assert set(zip(df.trial, df.lr, df.ent_coef, strict=True)) == {(0, 1e-5, 0.05),
                                                                   (1, 3e-3, 0.05)}  # fmt: skip
    assert set(df.seed) == {1000, 1001}  # tuning seeds, not the suite's 0 and 1
    assert len(df[df.metric == "eval/return_stochastic"]) == 4  # every (trial, seed)
    lr = df[(df.metric == "learning_rate") & (df.update == 0)]
    np.testing.assert_array_equal(lr.value, lr.lr.astype(np.float32))

    # trial 1 against the same settings trained alone, on the same seeds
    invoke("run", suite, "--results-dir", results, "--set", "seeds=[1000, 1001]",
           "--set", "envs.n_back.ppo.lr=3e-3", "--set", "ppo.ent_coef=0.05")  # fmt: skip
    alone, trial = rows(results / "t"), df[df.trial == 1].reset_index(drop=True)
    assert alone[["seed", "metric", "update"]].equals(trial[["seed", "metric", "update"]])
    np.testing.assert_allclose(trial.value, alone.value, rtol=1e-5, atol=1e-6)
    played = trial.metric.isin(["episode_return", "eval/return_stochastic"])
    np.testing.assert_array_equal(trial.value[played], alone.value[played])
    other = df[df.trial == 0].reset_index(drop=True)
    assert not np.allclose(other.value[other.metric == "policy_loss"],
                           trial.value[trial.metric == "policy_loss"])  # fmt: skip

    trials = pd.read_csv(folder / "trials.csv")
    best = trials.loc[trials.iqm.idxmax()]
    doc = yaml.safe_load(out.read_text())
    assert doc == yaml.safe_load((folder / "chosen.yaml").read_text())
    assert doc["settings"] == {"n_back": {"mlp": {"ent_coef": 0.05, "lr": best.lr}}}
    assert doc["protocol"]["tuning_seeds"] == [1000, 1001]
    assert f"n_back/mlp: ent_coef=0.05, lr={best.lr:g}" in first.stdout

    again = invoke("tune", suite, "--results-dir", results)
    assert "0 sweep cell(s) trained, 1 skipped" in again.output
    watch = CliRunner().invoke(app, ["enjoy", "t-tune/n_back/mlp", "--results-dir", str(results),
                                     "--video-path", str(tmp_path / "x.gif")])  # fmt: skip
    assert watch.exit_code == 2 and "is a sweep cell" in watch.output

    # sensitivity: the score at each swept value (ent_coef took one value: nothing to show)
    sens = pd.read_csv(folder / "sensitivity.csv")
    assert set(sens.setting) == {"lr"} and sorted(sens.value) == [1e-5, 3e-3]
    by_value = sens.set_index("value")
    assert by_value.iqm[best.lr] == pytest.approx(best.iqm)
    assert (by_value.low <= by_value.iqm).all() and (by_value.iqm <= by_value.high).all()
    assert (folder / "sensitivity.png").stat().st_size > 0

    evaluation = tmp_path / "e.yaml"
    evaluation.write_text(SUITE.replace("name: t", "name: e\ntuned: t.tuned.yaml"))
    (cell,) = load_suite(evaluation).cells
    assert cell.ppo.lr == best.lr and cell.ppo.ent_coef == 0.05 and cell.seeds == (0, 1)

    # the evaluation's report states the protocol and finds the sweep beside it
    invoke("run", evaluation, "--results-dir", results)
    invoke("report", results / "e", "--out", tmp_path / "report", "--format", "md", "--no-videos")
    page = (tmp_path / "report" / "report.md").read_text()
    assert "Tuned PPO settings (every cell): chosen per task" in page
    assert "## Tuning: t-tune" in page and "sensitivity_00.png" in page
    assert (tmp_path / "report" / "trials_00.csv").is_file()


def test_the_report_names_the_tuned_cells_unless_every_cell_is():
    from types import SimpleNamespace

    from pmarl_bench.report.sections.overview import tuning_note

    protocol = {"chosen": "per task", "criterion": "IQM", "tuning_seeds": [1000, 1001]}
    final = pd.DataFrame({"task": ["a", "a", "b"], "agent": ["mlp", "gru", "mlp"]})
    data = lambda tuned: SimpleNamespace(
        tasks=["a", "b"], agents=["gru", "mlp"], final=final, tuning=dict.fromkeys(tuned, protocol)
    )
    every = tuning_note(data([("a", "mlp"), ("a", "gru"), ("b", "mlp")]))
    assert "Tuned PPO settings (every cell): chosen per task by the IQM" in every
    assert "other cells" not in every
    some = tuning_note(data([("a", "mlp")]))
    assert "Tuned PPO settings (a/mlp)" in some and "The other cells train with" in some
    assert "not tuned per agent" in tuning_note(data([]))


def test_a_choice_at_the_grid_edge_grows_the_grid_and_tunes_again(tmp_path):
    """lr 1e-5..1e-4 at a tiny budget: the largest learns most, so the grid grows upwards by
    its own ratio (3.7e-4, then 1.2e-3) until the choice is inside or it grew twice; the
    chosen-settings file says what was added and which choices its neighbours match."""
    suite, results = tmp_path / "t.yaml", tmp_path / "results"
    suite.write_text(SUITE.replace("lr: [1.0e-5, 3.0e-3], ent_coef: [0.05]",
                                   "lr: [1.0e-5, 3.333e-5, 1.111e-4]"))  # fmt: skip
    run = invoke("tune", suite, "--results-dir", results)
    doc = yaml.safe_load((results / "t-tune" / "chosen.yaml").read_text())
    grown = doc["protocol"]["grown"]
    assert grown[0] == {"cell": "n_back/mlp", "setting": "lr", "side": "high", "added": 0.0003703}
    assert "at the grid's high edge; trying 0.0003703" in run.output
    trials = pd.read_csv(results / "t-tune" / "trials.csv")
    assert {g["added"] for g in grown} <= set(trials.lr)  # pooled with the agent's trials
    assert doc["settings"]["n_back"]["mlp"]["lr"] == trials.loc[trials.iqm.idxmax()].lr
    assert "not_distinguishable" in doc["protocol"]  # 2 tuning seeds: most choices are close
