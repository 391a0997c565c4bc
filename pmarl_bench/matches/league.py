"""What ``rate`` and ``crossplay`` share: the trained cells of a suite folder that may meet
others, the choice of one of their tasks, and writing a table beside the cells."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pmarl_bench import checkpoints, controls
from pmarl_bench.errors import ConfigError
from pmarl_bench.results import reading, store


def playing_cells(path: Path) -> list[checkpoints.TrainedCell]:
    """The finished cells under a suite folder with saved parameters, rebuilt; sweep cells
    and oracle controls (whose observation differs from the others') left out."""
    found = []
    for folder in reading.finished_cells(path):
        manifest = store.read_manifest(folder) or {}
        if manifest.get("trials") or manifest.get("control") in controls.ORACLES:
            continue
        cell = checkpoints.load_cell(folder)
        if cell.checkpoints:
            found.append(cell)
    return found


def only(found: dict, name: str | None, what: str, option: str, path: Path, none: str) -> dict:
    """``found`` (name -> cells), or just ``name``'s; one-line errors when it is not there
    (``what``: the kind of name) or when nothing was found (``none``: what is missing)."""
    if name is not None:
        if name not in found:
            have = ", ".join(found) or "none"
            raise ConfigError(f"no {what} {name!r} here; {what}s: {have}", option)
        found = {name: found[name]}
    if not found:
        raise ConfigError(none, str(path))
    return found


def write_table(folder: Path, file: str, table: pd.DataFrame, float_format=None) -> Path:
    """``table`` as ``folder/file`` (CSV), written whole: a reader never sees half of it. The
    folder (in a suite's results folder) and the file are never symbolic links."""
    store.refuse_link(folder, levels=1)
    store.refuse_link(folder / file)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{file}.tmp"
    table.to_csv(tmp, index=False, float_format=float_format)
    tmp.replace(folder / file)
    return folder / file
