"""Choosing settings from a sweep: the best IQM over the tuning seeds per (env, agent), or one
trial per agent whose scores, scaled within each env, are best on average."""

import pandas as pd
import pytest

from pmarl_bench.errors import ConfigError
from pmarl_bench.report.tuning import Sweep, choose, chosen_document, trial_table

GRID = [{"lr": 1e-4}, {"lr": 1e-3}, {"lr": 1e-2}]


def sweep(scores: dict[tuple[str, str, int], list[float]], settings=None) -> Sweep:
    rows = [
        {"env": e, "agent": a, "trial": t, "seed": 1000 + i, "score": v}
        for (e, a, t), values in scores.items()
        for i, v in enumerate(values)
    ]
    pairs = {(e, a) for e, a, _ in scores}
    return Sweep(pd.DataFrame(rows), settings or {p: GRID for p in pairs}, [1000, 1001], "s-tune")


def test_per_task_picks_the_best_interquartile_mean_over_seeds():
    # trial 2 has the best mean only through one outlier seed; the IQM ignores it
    s = sweep({
        ("a", "mlp", 0): [1.0, 1.0, 1.0, 1.0],
        ("a", "mlp", 1): [2.0, 2.0, 2.0, 2.0],
        ("a", "mlp", 2): [0.0, 0.0, 0.0, 100.0],
        ("b", "mlp", 0): [5.0, 5.0, 5.0, 5.0],
        ("b", "mlp", 1): [0.0, 0.0, 0.0, 0.0],
        ("b", "mlp", 2): [0.0, 0.0, 0.0, 0.0],
    })  # fmt: skip
    best = choose(s, "task").set_index("env")
    assert best.loc["a", "trial"] == 1 and best.loc["a", "iqm"] == 2.0
    assert best.loc["b", "trial"] == 0
    table = trial_table(s)
    assert list(table.columns) == ["env", "agent", "trial", "iqm", "seeds", "lr"]
    assert table.lr.tolist() == [1e-4, 1e-3, 1e-2] * 2 and set(table.seeds) == {4}
    doc = chosen_document(s, choose(s, "task"), "task", {"grid": {"lr": [1e-4, 1e-3, 1e-2]}})
    assert doc["settings"] == {"a": {"mlp": {"lr": 1e-3}}, "b": {"mlp": {"lr": 1e-4}}}
    assert doc["protocol"]["grid"] == {"lr": [1e-4, 1e-3, 1e-2]}
    assert doc["protocol"]["tuning_seeds"] == [1000, 1001] and "interquartile" in doc[
        "protocol"]["criterion"]  # fmt: skip


def test_per_agent_scales_scores_within_each_env_so_no_reward_scale_dominates():
    # env b's rewards are 100x larger: raw means would follow b alone (trial 0);
    # scaled within each env, trial 1 is best on average (1.0 + 0.9 against 0.0 + 1.0)
    s = sweep({
        ("a", "gru", 0): [0.0, 0.0],
        ("a", "gru", 1): [10.0, 10.0],
        ("a", "gru", 2): [5.0, 5.0],
        ("b", "gru", 0): [1000.0, 1000.0],
        ("b", "gru", 1): [990.0, 990.0],
        ("b", "gru", 2): [900.0, 900.0],
    })  # fmt: skip
    best = choose(s, "agent")
    assert best.trial.tolist() == [1, 1] and best.env.tolist() == ["a", "b"]
    assert best.iqm.tolist() == [10.0, 990.0]


def test_per_agent_needs_the_same_trials_on_every_env():
    s = sweep(
        {("a", "gru", 0): [1.0], ("b", "gru", 0): [1.0]},
        {("a", "gru"): GRID, ("b", "gru"): [{"lr": 5.0}]},
    )
    with pytest.raises(ConfigError, match="different settings on different envs"):
        choose(s, "agent")


def sweep_cell(root, agent, trials, scores, swept_agent=None):
    """A finished sweep cell: ``scores[trial]`` the final evaluation of seeds 1000, 1001."""
    import numpy as np

    from pmarl_bench.results import metrics_frame, write_cell

    seeds = [1000, 1001] * len(trials)
    values = np.array([s for trial in scores for s in trial])[:, None]
    columns = {"trial": [i for i in range(len(trials)) for _ in (0, 1)]}
    columns |= {k: [t[k] for t in trials for _ in (0, 1)] for k in trials[0]}
    frame = metrics_frame({"eval/return_stochastic": values}, suite="s-tune", env="e",
                          agent=agent, seeds=seeds, env_steps_per_update=10,
                          columns=columns)  # fmt: skip
    config = {"swept_agent": swept_agent} if swept_agent else {}
    manifest = {"suite": "s-tune", "env": "e", "agent": agent, "seeds": [1000, 1001],
                "config_hash": agent, "trials": trials, "config": config}  # fmt: skip
    write_cell(root / "s-tune" / "e" / agent, frame, manifest)


def test_variants_pool_under_their_agent_and_sensitivity_takes_the_best_at_each_value(tmp_path):
    from pmarl_bench.report.tuning import read_sweep, sensitivity

    small = [{"lr": 1e-3, "network.width": 8}, {"lr": 1e-2, "network.width": 8}]
    large = [{"lr": 1e-3, "network.width": 16}, {"lr": 1e-2, "network.width": 16}]
    sweep_cell(tmp_path, "mlp.width-8", small, [[1.0, 1.2], [3.0, 3.4]], "mlp")
    sweep_cell(tmp_path, "mlp.width-16", large, [[2.0, 2.2], [0.0, 0.2]], "mlp")
    s = read_sweep(tmp_path / "s-tune")
    # variants in name order: width-16 first (trials 0, 1), then width-8 (trials 2, 3)
    assert s.settings[("e", "mlp")] == large + small
    table = trial_table(s)
    assert table.trial.tolist() == [0, 1, 2, 3] and set(table.agent) == {"mlp"}
    assert table.cell.tolist() == ["e/mlp.width-16"] * 2 + ["e/mlp.width-8"] * 2
    assert table.iqm.tolist() == pytest.approx([2.1, 0.1, 1.1, 3.2])
    best = choose(s, "task").iloc[0]
    assert best.trial == 3  # width 8 at lr 1e-2
    doc = chosen_document(s, choose(s, "task"), "task", {})
    assert doc["settings"] == {"e": {"mlp": {"lr": 1e-2, "network.width": 8}}}

    sens = sensitivity(s, reps=200).set_index(["setting", "value"])
    # at each value, the best trial with it: width 16 -> trial 0 (2.1); width 8 -> 3 (3.2);
    # lr 1e-3 -> trial 0 (2.1, not trial 2's 1.1); lr 1e-2 -> trial 3
    assert sens.trial.to_dict() == {("lr", 1e-3): 0, ("lr", 1e-2): 3,
                                    ("network.width", 8): 3, ("network.width", 16): 0}  # fmt: skip
    assert sens.iqm[("lr", 1e-3)] == pytest.approx(2.1)
    row = sens.loc[("network.width", 8)]
    assert row.low == pytest.approx(3.0) and row.high == pytest.approx(3.4)  # 2 seeds' range
