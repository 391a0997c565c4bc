"""Tidy result tables on disk: ``<results_dir>/<suite>/<env>/<agent>/``.

Each finished cell holds ``metrics.parquet`` (long format: suite, env, agent, seed, update,
env_steps, metric, value) and ``manifest.json`` (resolved config and its hash, versions,
device, timings, throughput). A cell folder appears only when complete: it is written under
another name and renamed into place, so an interrupted run never leaves a half-written cell.

Beside a cell folder ``<agent>`` (names never hold ``@``):
- ``<agent>@running``: the cell while it trains, and after an interruption until it is
  resumed: its status, metrics so far and snapshots (``results.staging``);
- ``<agent>@failed``: the staging folder of a cell that crashed or diverged, kept with its
  reason, its metrics up to the failure and its last snapshot;
- ``<agent>@previous-<date>-<hash>``: a finished result moved aside by ``run --keep-previous``.
Reports and the cell cache read finished cells only.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tarfile
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pmarl_bench.errors import ConfigError
from pmarl_bench.names import FAILED, PREVIOUS, RUNNING, TMP_MARK, is_cell_name
from pmarl_bench.results import durable

__all__ = ["FAILED", "PREVIOUS", "RUNNING", "TMP_MARK", "is_cell_name"]  # (names.py's)

COLUMNS = ["suite", "env", "agent", "seed", "update", "env_steps", "metric", "value"]
METRICS_FILE = "metrics.parquet"
MANIFEST_FILE = "manifest.json"
#: a suite folder's ratings (``pmarl-bench rate``): ``ratings/<task>.csv``, ``.matches.csv``
RATINGS_FOLDER = "ratings"
#: a suite folder's cross-play between cells (``pmarl-bench crossplay``): ``cross_play/<env>.csv``
CROSS_PLAY_FOLDER = "cross_play"
#: files of a staging folder that a finished cell does not keep
_STAGING_ONLY = ("snapshots", "live.parquet", "status.json")


def cell_dir(results_dir: Path, suite: str, env: str, agent: str) -> Path:
    return Path(results_dir) / suite / env / agent


def read_manifest(path: Path) -> dict | None:
    """A folder's manifest, or None where it is missing, unreadable or no JSON object."""
    try:
        manifest = json.loads((Path(path) / MANIFEST_FILE).read_text())
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None


def is_finished(path: Path, config_hash: str) -> bool:
    """A complete result for exactly this config exists at ``path``."""
    manifest = read_manifest(path)
    return (
        manifest is not None
        and manifest.get("status") == "complete"
        and manifest.get("config_hash") == config_hash
        and (Path(path) / METRICS_FILE).is_file()
    )


def metrics_frame(
    metrics: dict[str, np.ndarray],
    *,
    suite: str,
    env: str,
    agent: str,
    seeds: list[int],
    env_steps_per_update: int,
    first_update: int = 0,
    columns: dict[str, list] | None = None,
) -> pd.DataFrame:
    """Per-update metrics ``{name: [seeds, updates]}`` (from update ``first_update`` on) ->
    long table. NaN entries (episode metrics of an update in which no episode ended) are
    dropped: no row, no observation. ``columns``: more columns, a value per seed row (a
    sweep cell's ``trial`` and swept settings)."""
    frames = []
    for name, values in metrics.items():
        values = np.asarray(values, dtype=np.float64)
        n_seeds, n_updates = values.shape
        seed_col = np.repeat(np.asarray(seeds), n_updates)
        update_col = np.tile(np.arange(first_update, first_update + n_updates), n_seeds)
        extra = {k: np.repeat(np.asarray(v), n_updates) for k, v in (columns or {}).items()}
        frames.append(
            pd.DataFrame(
                {
                    "seed": seed_col,
                    "update": update_col,
                    "metric": name,
                    "value": values.reshape(-1),
                    **extra,
                }
            )
        )
    df = pd.concat(frames, ignore_index=True)
    df = df[np.isfinite(df["value"])]
    df.insert(0, "suite", suite)
    df.insert(1, "env", env)
    df.insert(2, "agent", agent)
    df.insert(5, "env_steps", (df["update"].to_numpy() + 1) * env_steps_per_update)
    df = df[COLUMNS + list(columns or {})].reset_index(drop=True)
    types = {"seed": "int64", "update": "int64", "env_steps": "int64"}
    return df.astype(types | ({"trial": "int64"} if columns and "trial" in columns else {}))


def refuse_link(path: Path, levels: int = 0) -> Path:
    """``path``, once neither it nor its ``levels`` nearest parents is a symbolic link.

    The harness writes and deletes only inside a results folder: a link there (planted or
    not) would have it empty, train into or publish a folder elsewhere. One line, before
    anything is written."""
    path = Path(path)
    for p in [path, *list(path.parents)[:levels]]:
        if p.is_symlink():
            raise ConfigError(
                f"{p} is a symbolic link (to {os.readlink(p)}): pmarl-bench never writes or "
                "deletes through a link inside a results folder; remove it, or point "
                "--results-dir at the real folder"
            )
    return path


def refuse_cell_links(path: Path) -> Path:
    """The cell folder ``<results>/<suite>/<env>/<agent>`` (``path``), once none of its suite
    and env folders, itself, and its staging and failed folders is a symbolic link."""
    refuse_link(path, levels=2)
    refuse_link(running_dir(path))
    refuse_link(failed_dir(path))
    return Path(path)


def stage_dir(path: Path) -> Path:
    """The staging folder of the cell folder ``path`` (created if missing): what the cell
    writes while it trains (status, metrics so far, snapshots, checkpoints), kept across
    interruptions; ``write_cell(..., stage=...)`` moves it into place."""
    stage = running_dir(refuse_cell_links(path))
    stage.mkdir(parents=True, exist_ok=True)
    return stage


def running_dir(path: Path) -> Path:
    return Path(path).with_name(f"{Path(path).name}{RUNNING}")


def failed_dir(path: Path) -> Path:
    return Path(path).with_name(f"{Path(path).name}{FAILED}")


def _temp_dir(path: Path) -> Path:
    """A new temporary folder beside ``path`` (removed by ``remove_stale_tmp``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}{TMP_MARK}{uuid.uuid4().hex[:8]}")
    tmp.mkdir()
    return tmp


def mark_failed(path: Path) -> Path:
    """Keep the staging folder of the cell ``path`` as its failed folder (replacing an older
    one); returns the failed folder."""
    failed = failed_dir(refuse_cell_links(path))
    if failed.exists():
        shutil.rmtree(failed)
    running_dir(path).rename(failed)
    return failed


def keep_previous(path: Path) -> Path:
    """Move the finished cell ``path`` aside, named by its creation date and config hash, so
    a new result can take its place; returns where it went."""
    manifest = read_manifest(refuse_cell_links(path)) or {}
    created = "".join(ch for ch in str(manifest.get("created", ""))[:16] if ch.isalnum())
    tag = f"{created or 'undated'}-{str(manifest.get('config_hash', 'nohash'))[:8]}"
    target = Path(path).with_name(f"{Path(path).name}{PREVIOUS}{tag}")
    n = 1
    while target.exists():
        n += 1
        target = target.with_name(f"{Path(path).name}{PREVIOUS}{tag}-{n}")
    Path(path).rename(target)
    return target


def write_cell(
    path: Path, metrics: pd.DataFrame, manifest: dict[str, Any], stage: Path | None = None
) -> None:
    """Atomically (re)place the cell folder ``path`` with these tables (and what ``stage``,
    from ``stage_dir``, already holds: its snapshots are dropped once the cell is in place,
    and an older failed folder of the cell goes too)."""
    path = refuse_cell_links(path)
    tmp = stage or _temp_dir(path)
    try:
        metrics.to_parquet(tmp / METRICS_FILE, index=False)
        with open(tmp / MANIFEST_FILE, "w") as f:
            json.dump({**manifest, "status": "complete"}, f, indent=2, sort_keys=True, default=str)
        durable.fsync_tree(tmp)  # on disk before the rename publishes it: a power cut loses no rows
        _install(path, tmp)
        durable.fsync_dir(path.parent)
    except BaseException:
        if stage is None:  # a staging folder keeps its snapshots for a rerun
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    clean_finished(path)
    shutil.rmtree(failed_dir(path), ignore_errors=True)


def clean_finished(path: Path) -> None:
    """Drop what only a running cell needs (snapshots, live metrics, status) from the
    finished cell ``path``; an interruption between installing and this leaves them, harmless,
    for the next run to remove."""
    for name in _STAGING_ONLY:
        target = Path(path) / name
        if target.is_dir():
            shutil.rmtree(target, ignore_errors=True)
        elif target.exists():
            target.unlink()


def _install(path: Path, tmp: Path) -> None:
    """Move the complete folder ``tmp`` to ``path``, replacing what is there."""
    if path.exists():
        old = path.with_name(f"{path.name}{TMP_MARK}old-{uuid.uuid4().hex[:8]}")
        path.rename(old)
        tmp.rename(path)
        shutil.rmtree(old, ignore_errors=True)
    else:
        tmp.rename(path)


def pack_cell(path: Path) -> bytes:
    """A finished cell folder as one archive (to send it from a worker to the results
    folder's host)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        tar.add(path, arcname=".")
    return buffer.getvalue()


def unpack_cell(path: Path, archive: bytes) -> None:
    """Atomically (re)place the cell folder ``path`` with the contents of ``pack_cell``."""
    path = refuse_cell_links(path)
    tmp = _temp_dir(path)
    try:
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(tmp, filter="data")
        if not is_complete(tmp):
            raise ValueError(f"the archive for {path} holds no complete cell")
        _install(path, tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def unpack_stage(path: Path, archive: bytes) -> None:
    """Atomically (re)place the staging folder of the cell ``path`` with the contents of
    ``pack_cell(stage)`` (a snapshot a cluster worker sent home)."""
    stage = running_dir(refuse_cell_links(path))
    tmp = _temp_dir(path)
    try:
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(tmp, filter="data")
        _install(stage, tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def remove_stale_tmp(results_dir: Path, suite: str) -> int:
    """Delete temporary folders that an interrupted run left behind; returns their count. A
    finished cell moved aside to be replaced (``<agent>.tmp-old-...``) whose replacement never
    arrived is put back instead. Only real folders inside ``results_dir/suite`` are touched:
    symbolic links are neither followed nor removed."""
    root = Path(results_dir) / suite
    if not root.is_dir() or root.is_symlink():
        return 0
    stale = [
        p
        for env in root.iterdir()
        if env.is_dir() and not env.is_symlink()
        for p in env.iterdir()
        if TMP_MARK in p.name and p.is_dir() and not p.is_symlink()
    ]
    removed = 0
    for p in stale:
        cell = p.with_name(p.name.split(TMP_MARK)[0])
        if f"{TMP_MARK}old-" in p.name and not cell.exists() and is_complete(p):
            p.rename(cell)  # killed between moving the old cell aside and installing the new
            continue
        shutil.rmtree(p, ignore_errors=True)
        removed += 1
    return removed


def is_complete(path: Path) -> bool:
    manifest = read_manifest(path)
    return manifest is not None and manifest.get("status") == "complete"


#: a suite folder's list of the cells its last run set out to train (``write_plan``)
PLAN_FILE = "plan.json"


def write_plan(folder: Path, cells: list[dict[str, Any]]) -> None:
    """Record the cells a run of the suite in ``folder`` sets out to train (env, agent,
    control), so a report of a partial run can list what has not run yet instead of reading
    its absence as a choice. Written atomically."""
    refuse_link(Path(folder) / PLAN_FILE, levels=1)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{PLAN_FILE}.{uuid.uuid4().hex}"
    tmp.write_text(json.dumps({"cells": cells}, indent=1))
    tmp.replace(folder / PLAN_FILE)


def read_plans(path: Path) -> list[dict[str, Any]]:
    """The planned cells of the suite folders at or right under ``path`` (each with its
    ``suite``), or none where no run wrote a plan; an unreadable plan counts as none."""
    path = Path(path)
    found = []
    for plan in [path / PLAN_FILE, *sorted(path.glob(f"*/{PLAN_FILE}"))]:
        try:
            cells = json.loads(plan.read_text())["cells"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        found += [{**c, "suite": plan.parent.name} for c in cells if isinstance(c, dict)]
    return found
