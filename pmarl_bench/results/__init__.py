"""Result tables: per-cell parquet + manifest, the cell cache, and loaders."""

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
