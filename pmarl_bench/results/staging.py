"""What a cell keeps in its staging folder (``<agent>@running``, see ``store``) while it trains:

- ``status.json``: its state (running, interrupted, failed), progress, speed and ETA;
- ``live.parquet``: the per-update metrics so far (the long format of ``metrics.parquet``);
- ``snapshots/update_<N>/``: the whole training state after update N (orbax) with the metrics
  up to it and what the runner needs to go on (``info.json``); only the latest is kept.

Every file is replaced atomically (written aside, then renamed), so a kill at any moment leaves
either the old or the new version, never a torn one.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import socket
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from pmarl_bench import interrupts
from pmarl_bench.results import durable, store

if TYPE_CHECKING:  # orbax (and JAX with it) only where snapshots are read or written
    import orbax.checkpoint as ocp

STATUS_FILE = "status.json"
LIVE_FILE = "live.parquet"
SNAPSHOTS = "snapshots"
_INFO = "info.json"
_STATE = "state"
_PREFIX = "update_"

RUNNING, INTERRUPTED, FAILED, FINISHED = "running", "interrupted", "failed", "finished"
#: a staging folder whose status file cannot be read (``unfinished_cells`` lists it)
DAMAGED = "damaged"


def _replace_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
    try:
        with open(tmp, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:  # a full disk: no half-written file left beside the old one
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def orbax_writing():
    """Around an orbax save: signals wait for its threads (``interrupts.deferred``), and a
    failure it also logs with its traceback (absl's logger, e.g. a full disk) reaches the
    caller as the exception alone, which the CLI prints as one line."""
    absl = logging.getLogger("absl")
    level = absl.level
    absl.setLevel(logging.CRITICAL)
    try:
        with interrupts.deferred():
            yield
    finally:
        absl.setLevel(level)


def process_start(pid: int) -> str | None:
    """When process ``pid`` started (Linux: clock ticks since boot, from ``/proc``), so a
    PID the OS has since given to another process is not taken for the writer; None where
    the OS does not say."""
    try:
        stat = Path(f"/proc/{int(pid)}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[19]  # field 22, after the command's ")"
    except (OSError, ValueError, IndexError):
        return None


def write_status(stage: Path, status: dict[str, Any]) -> None:
    """Replace the cell's ``status.json`` (this process, when it started, and the host are
    added)."""
    me = os.getpid()
    full = {**status, "pid": me, "started": process_start(me), "host": socket.gethostname()}
    text = json.dumps(full, indent=2, default=str)
    _replace_text(store.refuse_link(Path(stage)) / STATUS_FILE, text)


def read_status(stage: Path) -> dict | None:
    """The cell's status, or None where it is missing, unreadable or no JSON object."""
    try:
        status = json.loads((Path(stage) / STATUS_FILE).read_text())
    except (OSError, ValueError):
        return None
    return status if isinstance(status, dict) else None


def effective_state(status: dict) -> str:
    """``running`` only while the process that wrote it is alive: one killed outright
    (SIGKILL, a lost node) left ``running`` behind and is in fact interrupted. A process on
    another host is taken at its word."""
    state = status.get("state", INTERRUPTED)
    if state != RUNNING or status.get("host") != socket.gethostname():
        return state
    pid = status.get("pid")
    try:
        os.kill(int(pid), 0)
    except (TypeError, ValueError, OverflowError, ProcessLookupError):
        return INTERRUPTED
    except PermissionError:  # alive, another user's
        pass
    started = status.get("started")
    if started is not None and process_start(int(pid)) not in (None, started):
        return INTERRUPTED  # the PID now belongs to another process
    return RUNNING


def unfinished_cells(root: str | Path) -> list[dict]:
    """The status of every running, interrupted or failed cell under ``root`` (a results dir
    or a suite folder), each with ``state`` as it really is (``effective_state``), ``path``
    (its staging or failed folder) and ``cell_path`` (where it goes when finished)."""
    root = Path(root)
    out = []
    for file in sorted(root.rglob(f"*@*/{STATUS_FILE}")) if root.is_dir() else []:
        folder = file.parent
        if not folder.name.endswith(("@running", "@failed")):
            continue
        cell_path = folder.with_name(folder.name.rsplit("@", 1)[0])
        where = {"path": str(folder), "cell_path": str(cell_path)}
        status = read_status(folder)
        if status is None:  # listed, not dropped: its snapshots may still resume it
            reason = f"{STATUS_FILE} is unreadable or no JSON object"
            out.append({"state": DAMAGED, "reason": reason, **where})
            continue
        state = FAILED if folder.name.endswith("@failed") else effective_state(status)
        out.append({**status, "state": state, **where})
    return out


def write_live(stage: Path, frame: pd.DataFrame) -> None:
    """Replace the cell's metrics so far."""
    path = Path(stage) / LIVE_FILE
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
    frame.to_parquet(tmp, index=False)
    durable.fsync_path(tmp)
    os.replace(tmp, path)


def read_live(stage: Path) -> pd.DataFrame | None:
    try:
        return pd.read_parquet(Path(stage) / LIVE_FILE)
    except (OSError, ValueError):
        return None


@dataclass(frozen=True)
class Snapshot:
    folder: Path
    info: dict  # what the runner stored beside the state: ``updates`` and its own keys

    @property
    def updates(self) -> int:
        return int(self.info["updates"])


def write_snapshot(
    stage: Path,
    updates: int,
    leaves: list[np.ndarray],
    metrics: dict[str, np.ndarray],
    info: dict[str, Any],
) -> Snapshot:
    """Store the state after ``updates`` updates (its leaves, host arrays), the metrics so far
    (``{name: [seeds, updates]}``) and ``info`` (JSON); older snapshots are then removed."""
    root = store.refuse_link(Path(stage) / SNAPSHOTS, levels=1)
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".tmp-{uuid.uuid4().hex[:8]}"
    # orbax stores no empty arrays: they come back from their shapes
    tree = {"leaves": _numbered(leaves, nonempty=True), "metrics": dict(metrics)}
    checkpointer = local_checkpointer()
    dtypes = {k: str(np.asarray(v).dtype) for k, v in metrics.items()}
    info = {**info, "updates": updates, "num_leaves": len(leaves), "metrics": dtypes}
    try:
        with orbax_writing():  # orbax writes from threads: let them finish
            checkpointer.save((tmp / _STATE).absolute(), tree)
            checkpointer.wait_until_finished()
        _replace_text(tmp / _INFO, json.dumps(info, indent=2, default=str))
        durable.fsync_tree(tmp)  # whole on disk before the older snapshots go
    except BaseException:  # (a full disk): the older snapshot stays the latest, alone
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    folder = root / f"{_PREFIX}{updates:08d}"
    if folder.exists():  # the same update again (a resumed run): the same state
        shutil.rmtree(folder)
    tmp.rename(folder)
    durable.fsync_dir(root)
    for old in root.iterdir():
        if old != folder:
            shutil.rmtree(old, ignore_errors=True)
    return Snapshot(folder, info)


def latest_snapshot(stage: Path) -> Snapshot | None:
    """The newest complete snapshot in ``stage`` (None if there is none)."""
    root = Path(stage) / SNAPSHOTS
    if not root.is_dir():
        return None
    for folder in sorted(root.glob(f"{_PREFIX}*"), reverse=True):
        try:
            return Snapshot(folder, json.loads((folder / _INFO).read_text()))
        except (OSError, ValueError):
            continue
    return None


class StaleSnapshot(ValueError):
    """A snapshot whose state does not fit this code's (another version wrote it)."""


def read_snapshot(
    snapshot: Snapshot, like: list[Any], num_seeds: int
) -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
    """The state's leaves (shaped and typed as ``like``, e.g. ``jax.ShapeDtypeStruct``s) and
    the metrics so far, as host arrays."""
    info = snapshot.info
    if info["num_leaves"] != len(like):
        raise StaleSnapshot(f"{snapshot.folder}: {info['num_leaves']} leaves, expected {len(like)}")
    target = {
        "leaves": _numbered([np.zeros(x.shape, x.dtype) for x in like], nonempty=True),
        "metrics": {
            k: np.zeros((num_seeds, snapshot.updates), dtype)
            for k, dtype in info["metrics"].items()
        },
    }
    tree = local_checkpointer().restore((snapshot.folder / _STATE).absolute(), target)
    stored = tree["leaves"]
    leaves = [
        np.asarray(stored[k]) if k in stored else np.zeros(x.shape, x.dtype)
        for k, x in _numbered(like).items()
    ]
    # orbax restores what was stored, whatever the target's shape: a state laid out otherwise
    # (written by another version of the code) must not reach the compiled program
    for i, (got, want) in enumerate(zip(leaves, like, strict=True)):
        if got.shape != tuple(want.shape):  # (orbax casts to the target's dtype)
            raise StaleSnapshot(
                f"{snapshot.folder}: leaf {i} is {got.dtype}{list(got.shape)}, "
                f"expected {np.dtype(want.dtype)}{list(want.shape)}"
            )
    return leaves, {k: np.asarray(v) for k, v in tree["metrics"].items()}


def local_checkpointer() -> ocp.StandardCheckpointer:
    """An orbax checkpointer for this process alone: in a distributed job only process 0
    reads and writes files, so it must not wait for the others at orbax's barriers."""
    import jax
    import orbax.checkpoint as ocp

    if jax.process_count() == 1:
        return ocp.StandardCheckpointer()
    me = jax.process_index()
    only_me = ocp.options.MultiprocessingOptions(primary_host=me, active_processes={me})
    return ocp.StandardCheckpointer(multiprocessing_options=only_me)


def _numbered(leaves: list, nonempty: bool = False) -> dict[str, Any]:
    return {
        f"{i:05d}": leaf
        for i, leaf in enumerate(leaves)
        if not nonempty or int(np.prod(leaf.shape)) > 0
    }
