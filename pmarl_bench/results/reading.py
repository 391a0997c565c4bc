"""Reading finished cells defensively: results folders are often copied, truncated or handed
over by others, so every cell is checked before its tables are used. A cell that cannot be
read is reported by path and reason, never read as garbage and never a traceback."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pmarl_bench.errors import ConfigError, format_loc
from pmarl_bench.results.store import (
    COLUMNS,
    MANIFEST_FILE,
    METRICS_FILE,
    is_cell_name,
    is_complete,
    read_manifest,
)


class _Manifest(BaseModel):
    """What readers of a finished cell's ``manifest.json`` rely on (other keys pass)."""

    model_config = ConfigDict(extra="allow")

    status: Literal["complete"]
    suite: str
    env: str
    agent: str
    config_hash: str | None = None
    config: dict | None = None
    seeds: list[int] | None = Field(None, min_length=1)
    control: str | None = None
    tasks: dict[str, dict] | None = None
    score_levels: dict | None = None
    random_return: dict | None = None
    task_card: dict | None = None
    checkpoints: list[dict] | None = None
    agent_steps_per_second: float | None = None
    compile_seconds: float | None = None
    run_seconds: float | None = None
    peak_host_memory_bytes: float | None = None
    device: str | None = None
    evaluation: dict | None = None
    efficiency: dict | None = None
    env_steps_per_second: float | None = None
    env_steps_per_seed: int | None = None
    created: str | None = None


_INTEGER = ("seed", "update", "env_steps")
_TEXT = ("suite", "env", "agent", "metric")


def manifest_problem(path: Path) -> str | None:
    """Why the cell folder ``path``'s manifest cannot be used (None: it can)."""
    file = Path(path) / MANIFEST_FILE
    if not file.is_file():
        return f"no {MANIFEST_FILE}"
    manifest = read_manifest(path)
    if manifest is None:
        return f"{MANIFEST_FILE} is unreadable or no JSON object"
    try:
        _Manifest(**manifest)
    except ValidationError as err:
        first = err.errors()[0]
        return f"{MANIFEST_FILE}: {format_loc(first['loc'])}: {first['msg']}"
    return None


def read_metrics(path: Path, manifest: dict) -> pd.DataFrame:
    """A cell's ``metrics.parquet``, checked: readable, the tidy columns and types, and rows
    of this cell (its suite, env and agent); ``ValueError`` naming what is wrong."""
    file = Path(path) / METRICS_FILE
    try:
        df = pd.read_parquet(file)
    except Exception as err:  # pyarrow raises several kinds for a damaged file
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0][:120]
        raise ValueError(f"{METRICS_FILE} is unreadable ({reason})") from None
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{METRICS_FILE} lacks the columns {', '.join(missing)}")
    for col in _INTEGER:
        if not pd.api.types.is_integer_dtype(df[col]):
            raise ValueError(f"{METRICS_FILE}: column {col} is {df[col].dtype}, not integers")
    if not pd.api.types.is_numeric_dtype(df["value"]):
        raise ValueError(f"{METRICS_FILE}: column value is {df['value'].dtype}, not numbers")
    for col in _TEXT:
        if not all(isinstance(v, str) for v in df[col].unique()):
            raise ValueError(f"{METRICS_FILE}: column {col} holds values that are not text")
    for col in ("suite", "env", "agent"):
        other = set(df[col].unique()) - {manifest[col]}
        if other:
            raise ValueError(
                f"{METRICS_FILE} holds rows of {col} {sorted(other)[0]!r}, the manifest says "
                f"{manifest[col]!r}"
            )
    # a sweep cell's rows also name their trial and its settings
    extra = [c for c in df.columns if c not in COLUMNS] if "trial" in df.columns else []
    return df[COLUMNS + extra]


def scan_cells(path: str | Path) -> tuple[list[Path], list[tuple[Path, str]]]:
    """The finished cell folders under ``path`` (a cell, a suite folder or a results dir
    holding suites) whose manifest is sound, and the damaged ones with their reasons; staging,
    failed, previous and temporary folders are skipped."""
    path = Path(path)
    if not path.is_dir():
        return [], []
    good, damaged = [], []
    for file in sorted(_manifests_under(path)):
        folder = file.parent
        if not all(is_cell_name(part) for part in folder.relative_to(path).parts):
            continue
        problem = manifest_problem(folder)
        if problem is None and not (folder / METRICS_FILE).is_file():
            problem = f"no {METRICS_FILE}"
        (damaged.append((folder, problem)) if problem else good.append(folder))
    return good, damaged


def _manifests_under(root: Path) -> list[Path]:
    """Every ``manifest.json`` under ``root`` (through links, each folder once: a link that
    points back up is no endless loop)."""
    found, todo, seen = [], [root], set()
    while todo:
        folder = todo.pop()
        try:
            real = folder.resolve()
            entries = list(folder.iterdir()) if real not in seen else []
        except OSError:
            continue
        seen.add(real)
        for entry in entries:
            if entry.name == MANIFEST_FILE and entry.is_file():
                found.append(entry)
            elif entry.is_dir():
                todo.append(entry)
    return found


def finished_cells(path: str | Path) -> list[Path]:
    """The folders of every sound finished cell under ``path``, sorted."""
    return scan_cells(path)[0]


@dataclass
class CellTables:
    """The finished cells read under a folder: their metrics, manifests (each with ``path``)
    and the damaged ones skipped, as ``(path, reason)``."""

    metrics: pd.DataFrame
    manifests: list[dict]
    damaged: list[tuple[str, str]]


def load_cells(path: str | Path) -> CellTables:
    """Every finished cell under ``path``, read and checked; a ``ConfigError`` when the folder
    is missing or holds no readable cell (naming the damaged ones)."""
    path = Path(path)
    if not path.is_dir():
        raise ConfigError("no such results folder", str(path))
    good, damaged = scan_cells(path)
    frames, manifests = [], []
    for folder in good:
        manifest = read_manifest(folder) or {}
        try:
            frames.append(read_metrics(folder, manifest))
        except ValueError as err:
            damaged.append((folder, str(err)))
            continue
        manifests.append({**manifest, "path": str(folder)})
    bad = [(str(p), reason) for p, reason in damaged]
    if not frames:
        hint = f"; damaged: {bad[0][0]} ({bad[0][1]})" if bad else ""
        more = f" and {len(bad) - 1} more" if len(bad) > 1 else ""
        raise ConfigError(
            f"no finished cells (metrics.parquet + manifest.json) here{hint}{more}", str(path)
        )
    return CellTables(
        metrics=pd.concat(frames, ignore_index=True), manifests=manifests, damaged=bad
    )


def load_results(path: str | Path) -> pd.DataFrame:
    """All readable finished cells under ``path`` as one long DataFrame."""
    return load_cells(path).metrics


def load_manifests(path: str | Path) -> list[dict]:
    """The manifests of the sound finished cells under ``path``, each with ``path``."""
    return [{**(read_manifest(p) or {}), "path": str(p)} for p in finished_cells(path)]


def find_cell(cell: str | Path, results_dir: str | Path) -> Path:
    """A finished cell's folder, from ``suite/env/agent`` (under ``results_dir``) or a folder;
    a one-line error listing the finished cells, or saying why the cell cannot be read."""
    path = Path(cell)
    if not (path / MANIFEST_FILE).is_file():
        path = Path(results_dir) / cell
    if (path / MANIFEST_FILE).is_file() and (problem := manifest_problem(path)):
        raise ConfigError(f"this cell is damaged: {problem}", str(path))
    if not is_complete(path):
        root = Path(results_dir)
        names = [str(p.relative_to(root)) for p in finished_cells(root)]
        have = ", ".join(names) or f"(none under {root}/)"
        raise ConfigError(f"no finished cell here; finished cells: {have}", str(cell))
    return path
