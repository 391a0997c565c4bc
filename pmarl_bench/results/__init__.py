"""Result tables: per-cell parquet + manifest, the cell cache, and loaders.

The names below load on first use (PEP 562), so a light submodule (``durable``, ``names``)
is imported without pandas: the CLI's help and its checks of paths stay fast."""

from typing import TYPE_CHECKING

from pmarl_bench.lazy import exports

_HOMES = {
    "find_cell": "reading",
    "finished_cells": "reading",
    "load_cells": "reading",
    "load_manifests": "reading",
    "load_results": "reading",
    "COLUMNS": "store",
    "cell_dir": "store",
    "is_finished": "store",
    "metrics_frame": "store",
    "read_manifest": "store",
    "write_cell": "store",
}

if TYPE_CHECKING:
    from pmarl_bench.results.reading import (
        find_cell,
        finished_cells,
        load_cells,
        load_manifests,
        load_results,
    )
    from pmarl_bench.results.store import (
        COLUMNS,
        cell_dir,
        is_finished,
        metrics_frame,
        read_manifest,
        write_cell,
    )


__getattr__ = exports(__name__, _HOMES)

__all__ = [
    "COLUMNS",
    "cell_dir",
    "find_cell",
    "finished_cells",
    "is_finished",
    "load_cells",
    "load_manifests",
    "load_results",
    "metrics_frame",
    "read_manifest",
    "write_cell",
]
