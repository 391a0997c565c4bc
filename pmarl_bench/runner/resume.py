"""Where a cell's training resumes: the latest snapshot of its config in its staging folder,
read by process 0 and handed to the others in a distributed job, with the bookkeeping of the
runs before (timings, saved checkpoints)."""

from __future__ import annotations

import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pmarl_bench import checkpoints
from pmarl_bench.results import staging, store
from pmarl_bench.scale import distributed
from pmarl_bench.trainer import loop
from pmarl_bench.trainer.programs import state_leaf_specs


@dataclass
class Found:
    resume: loop.Resume
    saved: list[dict]  # checkpoints saved before the snapshot
    history: dict[str, Any]  # the earlier runs: run_seconds, agent_steps, resumed, snapshots


def latest(stage: Path | None, cell, train, seeds: list[int]) -> Found | None:
    """The latest snapshot of ``cell``'s config in ``stage`` (None on processes other than
    0), or None, after emptying ``stage`` of anything that cannot be resumed."""
    snapshot = staging.latest_snapshot(stage) if stage is not None else None
    if snapshot is not None and snapshot.info.get("config_hash") != cell.config_hash():
        snapshot = None  # another config's: the runner asked before replacing it
    specs = None
    if snapshot is not None:
        specs = state_leaf_specs(train, len(seeds))
        try:
            leaves, metrics = staging.read_snapshot(snapshot, specs, len(seeds))
        except staging.StaleSnapshot as err:  # like another config's: train afresh
            warnings.warn(f"cannot resume, training afresh: {err}", stacklevel=2)
            snapshot = None
    if not bool(distributed.broadcast(np.array(snapshot is not None))):
        if stage is not None:
            _clear(stage)  # an earlier attempt's files, if any, are of no use now
        return None
    if snapshot is not None:
        info = snapshot.info
    else:  # another process of a distributed job: process 0's values arrive below
        specs = state_leaf_specs(train, len(seeds))
        leaves, metrics, info = [np.zeros(s.shape, s.dtype) for s in specs], {}, {}
    updates = int(distributed.broadcast(np.array(info.get("updates", 0))))
    leaves = distributed.broadcast(leaves)  # only process 0 needs the metrics
    history = {
        "run_seconds": float(info.get("run_seconds", 0.0)),
        "agent_steps": int(info.get("agent_steps", 0)),
        "resumed": [*info.get("resumed", []), updates],
        "snapshots": int(info.get("snapshots", 0)),
        "snapshot_seconds": float(info.get("snapshot_seconds", 0.0)),
    }
    return Found(loop.Resume(updates, leaves, metrics), list(info.get("saved", [])), history)


def kept_checkpoints(stage: Path, saved: list[dict], agent, seeds: list[int]) -> dict:
    """The parameters of the checkpoints saved before the snapshot (the final policy plays
    against them)."""
    return {c["label"]: checkpoints.load(stage, c["label"], agent, seeds) for c in saved}


def _clear(stage: Path) -> None:
    """Empty a staging folder whose contents cannot be resumed."""
    for child in store.refuse_link(stage).iterdir():
        if child.is_dir():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)
