"""``sweep.optuna``: Optuna studies search a sweep's ``sample`` space in batches, one batch
cell per round; the study's told scores are the trial table's IQMs; a rerun skips finished
batches, and a batch asked but never told (an interrupted round) trains with its trials."""

import optuna
import pandas as pd
import pytest
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from typer.testing import CliRunner

from pmarl_bench.cli import app
from pmarl_bench.errors import ConfigError
from pmarl_bench.study import JOURNAL, distributions
from pmarl_bench.suites import load_suite

SUITE = """\
name: o
seeds: 2
steps: 512
evaluation: {max_episodes: 64}
envs:
  - id: n_back-v0
    options: {episode_length: 16, max_n: 2}
    ppo: {num_envs: 16, rollout_length: 16, num_minibatches: 2, num_epochs: 1}
agents:
  - baseline: mlp
    network: {width: 16}
sweep:
  sample: {lr: {low: 1.0e-4, high: 1.0e-2, log: true}, ent_coef: [0.0, 0.05]}
  trials: 4
  optuna: {batch: 2}
  seeds: 2
"""


def tune(suite, results, *extra):
    result = CliRunner().invoke(app, ["tune", str(suite), "--results-dir", str(results), *extra])
    assert result.exit_code == 0, result.output
    return result.output


def study(folder):
    storage = JournalStorage(JournalFileBackend(str(folder / JOURNAL)))
    return optuna.load_study(study_name="n_back/mlp", storage=storage)


@pytest.mark.slow
def test_optuna_batches_train_as_variant_cells_and_tell_the_table_scores(tmp_path):
    suite, results = tmp_path / "o.yaml", tmp_path / "results"
    suite.write_text(SUITE)
    out = tune(suite, results)
    folder = results / "o-tune"
    assert "optuna round 2: 1 batch cell(s)" in out and "2 sweep cell(s) trained" in out
    table = pd.read_csv(folder / "trials.csv")
    assert list(table.trial) == [0, 1, 2, 3]
    assert list(table.cell) == ["n_back/mlp.optuna-000"] * 2 + ["n_back/mlp.optuna-001"] * 2
    trials = study(folder).get_trials()
    assert [t.state for t in trials] == [optuna.trial.TrialState.COMPLETE] * 4
    for t, row in zip(trials, table.itertuples(), strict=True):  # a trial's number is its row
        assert t.value == pytest.approx(row.iqm)
        assert t.params == pytest.approx({"lr": row.lr, "ent_coef": row.ent_coef})
        assert 1e-4 <= row.lr <= 1e-2 and row.ent_coef in (0.0, 0.05)

    # a rerun: nothing to ask or train
    assert "0 sweep cell(s) trained, 2 skipped" in tune(suite, results)
    assert len(study(folder).get_trials()) == 4

    # a round cut short: trials asked but never told train as the next batch, unchanged
    space = load_suite(suite, tune=True).suite.sweep
    pending = [study(folder).ask(distributions(space)) for _ in range(2)]
    out = tune(suite, results, "--set", "sweep.trials=6")
    assert "1 sweep cell(s) trained, 2 skipped" in out
    table = pd.read_csv(folder / "trials.csv")
    resumed = table[table.cell == "n_back/mlp.optuna-002"]
    assert list(resumed.trial) == [4, 5]
    assert [{"lr": r.lr, "ent_coef": r.ent_coef} for r in resumed.itertuples()] == [
        pytest.approx(p.params) for p in pending
    ]
    assert [t.state for t in study(folder).get_trials()][4:] == [
        optuna.trial.TrialState.COMPLETE
    ] * 2


def test_optuna_searches_samples_only_and_the_protocol_records_it(tmp_path):
    suite = tmp_path / "o.yaml"
    suite.write_text(SUITE.split("sweep:")[0] + "sweep: {grid: {lr: [1.0e-3]}, optuna: {}}\n")
    with pytest.raises(ConfigError, match="optuna searches a `sample` space; sweep has a `grid`"):
        load_suite(suite, tune=True)
    suite.write_text(SUITE)
    sweep = load_suite(suite, tune=True).suite.sweep
    assert sweep.described["optuna"] == {"batch": 2, "sampler": "tpe"}
    lr, ent = distributions(sweep).values()
    assert (lr.low, lr.high, lr.log) == (1e-4, 1e-2, True)
    assert list(ent.choices) == [0.0, 0.05]
