"""The contract between the runner and whatever runs its cells elsewhere (a Ray cluster).

The runner decides which cells to train and hands them to an ``Executor`` together with the
function that trains one cell (``TrainCell``), so an executor never imports the runner: it
only places calls of that function and brings their folders back."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from rich.console import Console

from pmarl_bench.progress import Report
from pmarl_bench.suites.cell import Cell

#: bytes per device, "device" (what the device reports) or None (no limit)
MemoryLimit = int | str | None


@dataclass(frozen=True)
class CellJob:
    """A cell to train and the folder its finished results go to."""

    cell: Cell
    path: Path


class TrainCell(Protocol):
    """Train one cell into ``path`` (reporting progress; resuming from the snapshot in its
    staging folder, ``results.store.running_dir(path)``, if there is one); returns its
    manifest. ``on_snapshot(stage)`` runs after each snapshot of the staging folder."""

    def __call__(
        self,
        cell: Cell,
        path: Path,
        report: Report | None = None,
        *,
        memory_limit: MemoryLimit,
        on_snapshot: Callable[[Path], None] | None = None,
    ) -> dict | None: ...


class Executor(Protocol):
    """Runs every job with ``train_cell``; returns when each has its folder written (or
    raises the first failure, after the others finished)."""

    def run(
        self,
        jobs: Sequence[CellJob],
        train_cell: TrainCell,
        *,
        console: Console,
        memory_limit: MemoryLimit,
    ) -> None: ...
