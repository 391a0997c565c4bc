"""The Python API (``pmarl_bench.api``) and the example under ``examples/``: the example runs,
and its numbers are the CLI's for the same suite and seeds, bit for bit."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from pmarl_bench import api
from pmarl_bench.cli import app

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_example_runs_and_its_numbers_are_the_clis(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    example = str(ROOT / "examples" / "train_and_plot.py")
    monkeypatch.setattr(sys, "argv", [example, "--quick", "--results-dir", "r"])
    runpy.run_path(example, run_name="__main__")
    mine = api.Results.read(tmp_path / "r" / "example")
    assert (tmp_path / "r" / "example.png").stat().st_size > 1000
    assert list(mine.scores().agent) == ["mlp", "mlp"]  # 2 seeds (--quick: an MLP, no control)
    # the suite the API wrote, trained by the CLI elsewhere: the same tables
    args = ["run", str(tmp_path / "r" / "example.yaml"), "--results-dir", str(tmp_path / "cli")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    theirs = api.Results.read(tmp_path / "cli" / "example")
    key = ["env", "agent", "seed", "update", "metric"]
    pd.testing.assert_frame_equal(
        mine.metrics.sort_values(key).reset_index(drop=True),
        theirs.metrics.sort_values(key).reset_index(drop=True),
    )


def test_results_read_finished_cells_and_give_scores_and_curves(tmp_path):
    import numpy as np

    from pmarl_bench.results import metrics_frame, write_cell

    cell = {"suite": "s", "env": "e", "agent": "a", "seeds": [0, 1], "env_steps_per_update": 10}
    curves = metrics_frame({"episode_return": np.array([[1.0, 2.0], [3.0, 4.0]])}, **cell)
    final = metrics_frame({"eval/return_stochastic": np.array([[5.0], [6.0]])}, **cell)
    write_cell(tmp_path / "s" / "e" / "a", pd.concat([curves, final]),
               {"suite": "s", "env": "e", "agent": "a"})  # fmt: skip
    results = api.Results.read(tmp_path / "s")
    assert results.scores().to_dict("list") == {"env": ["e", "e"], "agent": ["a", "a"],
                                                "seed": [0, 1], "score": [5.0, 6.0]}  # fmt: skip
    curves = results.curves()
    assert list(curves.env_steps) == [10, 20] and list(curves[1]) == [3.0, 4.0]
