"""The loggers, fed long-format rows: TensorBoard keeps each value once across a kill and a
resume (the resumed writer purges what the killed one logged past the snapshot); W&B keeps
one offline run per seed."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from pmarl_bench.errors import ConfigError
from pmarl_bench.results import metrics_frame
from pmarl_bench.runner.loggers import Loggers

PER_UPDATE = 10
CELL = SimpleNamespace(
    seeds=[0, 1], name="e/a", env_name="e", agent_name="a",
    config_hash=lambda: "abcdef0123456789", resolved_config=lambda: {"suite": "s"},
)  # fmt: skip
TRAIN = SimpleNamespace(env_steps_per_update=PER_UPDATE)


def rows(values: np.ndarray, first: int):
    return metrics_frame({"episode_return": values}, suite="s", env="e", agent="a",
                         seeds=CELL.seeds, env_steps_per_update=PER_UPDATE,
                         first_update=first)  # fmt: skip


def test_a_resumed_tensorboard_run_holds_each_step_once(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    killed = Loggers.open(("tensorboard",), tmp_path, CELL, 0, TRAIN)
    killed.log(rows(np.full((2, 6), -1.0), 0))  # updates 0-5; its snapshot was after 3
    killed.close()
    resumed = Loggers.open(("tensorboard",), tmp_path, CELL, 3, TRAIN)
    again = np.arange(10, dtype=float).reshape(2, 5)  # updates 3-7, seed 1's last one NaN
    again[1, -1] = np.nan
    resumed.log(rows(again, 3))
    resumed.close()
    for seed in CELL.seeds:
        events = EventAccumulator(str(tmp_path / "tensorboard" / f"seed_{seed}")).Reload()
        logged = [(e.step, e.value) for e in events.Scalars("episode_return")]
        expected = [(s, -1.0) for s in (10, 20, 30)] + [
            ((u + 1) * PER_UPDATE, v) for u, v in zip(range(3, 8), again[seed], strict=True)
            if np.isfinite(v)
        ]  # fmt: skip
        assert logged == expected


@pytest.mark.slow
def test_wandb_keeps_one_offline_run_per_seed(tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.delenv("WANDB_MODE", raising=False)  # offline by default
    loggers = Loggers.open(("wandb",), tmp_path, CELL, 0, TRAIN)
    loggers.log(rows(np.ones((2, 3)), 0))
    loggers.close()
    runs = sorted((tmp_path / "wandb").rglob("run-*.wandb"))
    assert [r.stem for r in runs] == [f"run-abcdef012345-e-a-{s}" for s in CELL.seeds]
    assert all(r.stat().st_size > 0 for r in runs)


def test_an_unknown_logger_is_a_one_line_error(tmp_path):
    with pytest.raises(ConfigError, match="unknown logger 'csv'; use tensorboard or wandb"):
        Loggers.open(("csv",), Path(tmp_path), CELL, 0, TRAIN)
