"""``pmarl-bench rate``: OpenSkill ratings of a King of the Hill run's checkpoints, ordered by
training progress, written beside the cells (the report's section: tests/report/test_build.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from typer.testing import CliRunner

from pmarl_bench.cli import app
from pmarl_bench.matches import ratings

SUITE = """\
name: k
seeds: 2
steps: 24576
checkpoint_every: 6144
evaluation: {max_episodes: 64}
envs:
  - id: king_of_the_hill-v1
    name: koth
    options: {width: 9, height: 9, episode_length: 32, num_agents: 4, knights_per_team: 1}
    ppo: {num_envs: 8, rollout_length: 32, num_minibatches: 2, mode: episodic, lr: 3.0e-3}
agents:
  - baseline: mlp
    network: {width: 32}
"""


def invoke(*args):
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result


def test_a_schedule_never_pairs_a_player_with_itself():
    pairs = ratings.schedule(5, 7, seed=3)
    assert pairs.shape == (35, 2) and (pairs[:, 0] != pairs[:, 1]).all()
    assert np.bincount(pairs[:, 0]).tolist() == [7] * 5  # each starts its matches
    assert len(set(pairs[:, 1])) == 5
    assert (pairs == ratings.schedule(5, 7, seed=3)).all()


@pytest.mark.slow
def test_ratings_order_a_king_of_the_hill_runs_checkpoints_by_training_progress(tmp_path):
    suite, results = tmp_path / "k.yaml", tmp_path / "results"
    suite.write_text(SUITE)
    invoke("run", suite, "--results-dir", results)
    out = invoke("rate", results / "k", "--matches", 24)
    assert "koth: 8 players, 192 matches" in out.output
    table = pd.read_csv(results / "k" / "ratings" / "koth.csv")
    # 2 seeds x (3 checkpoints + final)
    assert len(table) == 8 and set(table.checkpoint) >= {"final", "update_000024"}
    assert stats.spearmanr(table["update"], table.mu).statistic > 0.6
    by_update = table.groupby("update").mu.mean()
    assert by_update.iloc[-1] > by_update.iloc[0] + 10  # the final policies beat the first
    played = pd.read_csv(results / "k" / "ratings" / "koth.matches.csv")
    assert len(played) == 192 and (table.wins + table.draws <= table.matches).all()
    assert table.matches.sum() == 2 * 192
    assert ((played.policy_share >= 0) & (played.policy_share <= 1)).all()


def test_rate_needs_a_competitive_task_with_checkpoints(tmp_path):
    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(app, ["rate", str(tmp_path / "empty")])
    assert result.exit_code == 2 and "no finished cell of a competitive task" in result.output
    result = CliRunner().invoke(app, ["rate", str(tmp_path), "--episodes", "3"])
    assert result.exit_code == 2 and "even" in result.output
