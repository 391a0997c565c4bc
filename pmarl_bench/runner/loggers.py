"""Streaming a training cell's metrics to TensorBoard or Weights & Biases, from the host
between chunks (never from inside the compiled program): one run per seed, the step axis in
env steps per seed, the same rows as the cell's ``metrics.parquet``.

After a resume, TensorBoard is told to drop what the interrupted run logged past the snapshot
(a purge step), so each value appears once."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from pmarl_bench.errors import ConfigError

KINDS = ("tensorboard", "wandb")
TENSORBOARD_FOLDER = "tensorboard"
WANDB_FOLDER = "wandb"


class Loggers:
    """The cell's open loggers; ``log(frame)`` sends long-format metric rows to each."""

    def __init__(self, sinks: list):
        self.sinks = sinks

    @classmethod
    def open(cls, kinds, stage: Path | None, cell, start_update: int, train) -> Loggers | None:
        if not kinds or stage is None:  # only process 0 of a distributed job logs
            return None
        first_step = (start_update + 1) * train.env_steps_per_update
        sinks = []
        for kind in kinds:
            if kind == "tensorboard":
                sinks.append(_TensorBoard(stage / TENSORBOARD_FOLDER, cell, first_step))
            elif kind == "wandb":
                sinks.append(_Wandb(stage / WANDB_FOLDER, cell))
            else:
                raise ConfigError(f"unknown logger {kind!r}; use {' or '.join(KINDS)}", "--log")
        return cls(sinks)

    def log(self, frame: pd.DataFrame) -> None:
        for sink in self.sinks:
            sink.log(frame)

    def close(self) -> None:
        for sink in self.sinks:
            sink.close()


def _by_seed(frame: pd.DataFrame):
    """(seed, [(env_steps, {metric: value}), ...]) in step order."""
    for seed, rows in frame.groupby("seed", sort=True):
        steps = []
        for step, at in rows.groupby("env_steps", sort=True):
            steps.append((int(step), dict(zip(at["metric"], at["value"], strict=True))))
        yield int(seed), steps


class _TensorBoard:
    def __init__(self, folder: Path, cell, first_step: int):
        from tensorboardX import SummaryWriter

        # a resumed run purges what its predecessor wrote from ``first_step`` on. Readers
        # take the files in name order, and the default names (seconds, host) can tie: the
        # suffix keeps a later writer's file after an earlier one's
        suffix = f".{time.time_ns():020d}"
        self.writers = {
            seed: SummaryWriter(
                str(folder / f"seed_{seed}"), purge_step=first_step, filename_suffix=suffix
            )
            for seed in cell.seeds
        }

    def log(self, frame: pd.DataFrame) -> None:
        for seed, steps in _by_seed(frame):
            writer = self.writers[seed]
            for step, values in steps:
                for metric, value in values.items():
                    writer.add_scalar(metric, float(value), step)
            writer.flush()

    def close(self) -> None:
        for writer in self.writers.values():
            writer.close()


class _Wandb:
    """One W&B run per seed, grouped by cell. Offline unless ``WANDB_MODE`` says otherwise
    (``wandb sync`` uploads later)."""

    def __init__(self, folder: Path, cell):
        try:
            import wandb
        except ImportError:
            raise ConfigError(
                "needs the wandb extra: uv sync --extra wandb (or pip install wandb)", "--log"
            ) from None
        folder.mkdir(parents=True, exist_ok=True)
        self.runs = {
            seed: wandb.init(
                project=os.environ.get("WANDB_PROJECT", "pmarl-bench"),
                group=cell.name,
                name=f"{cell.name}/seed_{seed}",
                id=f"{cell.config_hash()[:12]}-{cell.env_name}-{cell.agent_name}-{seed}",
                resume="allow",
                dir=str(folder),
                mode=os.environ.get("WANDB_MODE", "offline"),
                config={**cell.resolved_config(), "seed": seed},
                reinit="create_new",
                # the progress lines are the run's output: no console capture, no banners
                settings=wandb.Settings(silent=True, console="off"),
            )
            for seed in cell.seeds
        }

    def log(self, frame: pd.DataFrame) -> None:
        for seed, steps in _by_seed(frame):
            run = self.runs[seed]
            for step, values in steps:
                run.log({k: float(v) for k, v in values.items() if np.isfinite(v)}, step=step)

    def close(self) -> None:
        for run in self.runs.values():
            run.finish()
