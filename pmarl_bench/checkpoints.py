"""Saved parameters of a cell's seeds (orbax), and rebuilding a trained cell from its folder.

A cell folder holds ``checkpoints/<label>/``: the parameters of all its seeds stacked on a
leading axis (in the order of the manifest's ``seeds``). ``final`` is always saved; suites
with ``checkpoint_every`` add ``update_<N>`` ones. The manifest lists them under
``checkpoints``. Restoring needs only the cell's folder: the agent is rebuilt from the
resolved config in its manifest.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from pmarl_bench.errors import ConfigError
from pmarl_bench.results import reading, store
from pmarl_bench.results.staging import local_checkpointer, orbax_writing
from pmarl_bench.suites.cell import Cell

FOLDER = "checkpoints"
FINAL = "final"


def save(cell_dir: Path, label: str, params: Any) -> None:
    """Write ``params`` (stacked over seeds) as ``cell_dir/checkpoints/<label>``."""
    host = jax.device_get(params)  # a copy: the device buffers may be donated next
    checkpointer = local_checkpointer()  # process 0 alone saves host copies it gathered
    with orbax_writing():
        checkpointer.save((Path(cell_dir) / FOLDER / label).absolute(), host, force=True)
        checkpointer.wait_until_finished()


def load(cell_dir: Path, label: str, agent, seeds: list[int]) -> Any:
    """The parameters ``save`` wrote as ``label`` (stacked over ``seeds``), on the host."""
    restored = local_checkpointer().restore(
        (Path(cell_dir) / FOLDER / label).absolute(), _abstract_params(agent, seeds)
    )
    return jax.tree.map(np.asarray, restored)


def _abstract_params(agent, seeds: list[int]) -> Any:
    return jax.eval_shape(jax.vmap(agent.init), jnp.stack([jax.random.key(s) for s in seeds]))


def _quiet_closed_loop() -> None:
    """After a failed restore, orbax's reads still in flight finish on threads and call back
    into its closed event loop, each printing a traceback (as an unraisable exception) over
    the one-line error (as an unraisable exception, or through ``sys.excepthook``); and a
    read that failed too, its task collected unread, is logged by asyncio ("Task exception
    was never retrieved"): drop those, and only those."""
    previous = sys.unraisablehook
    if getattr(previous, "quiet_closed_loop", False):
        return

    def hook(unraisable):
        err = unraisable.exc_value
        if not (isinstance(err, RuntimeError) and str(err) == "Event loop is closed"):
            previous(unraisable)

    hook.quiet_closed_loop = True  # type: ignore[attr-defined]
    sys.unraisablehook = hook
    logging.getLogger("asyncio").addFilter(_unread_failed_reads)
    before = sys.excepthook  # (tensorstore's callbacks print theirs through it)

    def excepthook(kind, err, tb):
        if not (isinstance(err, RuntimeError) and str(err) == "Event loop is closed"):
            before(kind, err, tb)

    sys.excepthook = excepthook


def _unread_failed_reads(record: logging.LogRecord) -> bool:
    """False for asyncio's report of a checkpoint read (tensorstore's) that failed unread."""
    err = record.exc_info[1] if record.exc_info else None
    unread = record.getMessage().startswith("Task exception was never retrieved")
    return not (unread and "tensorstore_spec" in str(err))


def update_label(update: int) -> str:
    return f"update_{update:06d}"


class UnplayableCheckpoint(ConfigError):
    """A checkpoint that cannot be played; ``reason``: why, in a few words (a report lists the
    cell with it)."""

    def __init__(self, message: str, where: str, reason: str):
        super().__init__(message, where)
        self.reason = reason


@dataclass
class TrainedCell:
    """A finished cell rebuilt from its folder."""

    path: Path
    manifest: dict
    env: Any
    env_params: Any
    agent: Any

    @property
    def seeds(self) -> list[int]:
        return list(self.manifest["seeds"])

    @property
    def checkpoints(self) -> list[dict]:
        return list(self.manifest.get("checkpoints") or [])

    def params(self, seed: int, checkpoint: str = "latest") -> Any:
        """The parameters of one seed at a checkpoint: ``latest`` (= ``final``), ``final``, an
        update number, or a label such as ``update_000040``."""
        if self.manifest.get("trials"):
            raise ConfigError(
                f"{self.path} is a sweep cell (`pmarl-bench tune`'s results); enjoy and play "
                "the cells of a run, e.g. one that evaluates the chosen settings"
            )
        if seed not in self.seeds:
            raise ConfigError(
                f"no seed {seed} in {self.path}; seeds: {', '.join(map(str, self.seeds))}",
                "--seed",
            )
        restored = self.stacked(self._label(checkpoint))
        i = self.seeds.index(seed)
        return jax.tree.map(lambda x: x[i], restored)

    def stacked(self, label: str) -> Any:
        """Every seed's parameters saved as ``label``, stacked; a missing or damaged
        checkpoint is one ``ConfigError`` naming its folder."""
        try:
            params = load(self.path, label, self.agent, self.seeds)
        except Exception as err:  # orbax raises many kinds for a missing or broken folder
            _quiet_closed_loop()
            if "Structure mismatch" in str(err):  # saved for a network with other parts
                raise self._misfit(label) from None
            reason = (str(err).strip().splitlines() or [type(err).__name__])[0][:160]
            raise UnplayableCheckpoint(
                f"checkpoint {label} is missing or damaged ({reason}); train the cell again "
                "with pmarl-bench run SUITE --only ENV/AGENT --force",
                str(self.path / FOLDER / label),
                "its checkpoint is missing or damaged",
            ) from None
        # orbax restores the saved shapes: a network built for another observation (an
        # earlier version of the env's) cannot play them
        want = _abstract_params(self.agent, self.seeds)
        if jax.tree.map(np.shape, params) != jax.tree.map(lambda a: a.shape, want):
            raise self._misfit(label)
        return params

    def _misfit(self, label: str) -> UnplayableCheckpoint:
        return UnplayableCheckpoint(
            f"checkpoint {label} does not fit the network this code builds for the cell "
            "(trained with an earlier observation or network); train the cell again with "
            "pmarl-bench run SUITE --only ENV/AGENT --force",
            str(self.path / FOLDER / label),
            "its checkpoint was trained with an earlier observation or network",
        )

    def _label(self, checkpoint: str) -> str:
        labels = [c["label"] for c in self.checkpoints]
        if not labels:
            raise ConfigError(
                f"{self.path} has no saved parameters (trained before cells saved them); "
                "train it again with pmarl-bench run SUITE --only ENV/AGENT --force"
            )
        want = FINAL if checkpoint == "latest" else checkpoint
        if want.isdigit():
            want = update_label(int(want))
        if want not in labels:
            updates = [str(c["update"]) for c in self.checkpoints]
            raise ConfigError(
                f"no checkpoint {checkpoint!r} in {self.path}; available: latest, final, "
                f"updates {', '.join(updates)}",
                "--checkpoint",
            )
        return want


def load_cell(cell: str | Path, results_dir: str | Path = "results") -> TrainedCell:
    """A finished cell from ``suite/env/agent`` (under ``results_dir``) or a cell folder."""
    path = reading.find_cell(cell, results_dir)
    manifest = store.read_manifest(path) or {}
    where = f"{path / store.MANIFEST_FILE}: config"
    seeds = manifest.get("seeds")
    if not isinstance(seeds, list) or not all(type(s) is int for s in seeds) or not seeds:
        raise ConfigError("missing or damaged", f"{path / store.MANIFEST_FILE}: seeds")
    try:
        built = Cell.from_config(manifest["config"], where).build_policy()
    except (KeyError, TypeError, AttributeError, ValueError) as err:
        if isinstance(err, ConfigError):
            raise
        raise ConfigError(f"missing or damaged ({type(err).__name__}: {err})", where) from None
    return TrainedCell(path, manifest, *built)
