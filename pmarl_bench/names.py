"""Names that folders and results are keyed by, light enough to check a suite file before
JAX or pandas load: an env's default name from its id, and the marks of a results folder's
temporary and staging folders (``results.store``)."""

from __future__ import annotations

import re

#: the mark of a folder being written (``<name>.tmp-<hex>``), removed by the next run
TMP_MARK = ".tmp-"
#: beside a cell folder ``<agent>``: its staging, failed and moved-aside folders
RUNNING, FAILED, PREVIOUS = "@running", "@failed", "@previous-"


def default_name(env_id: str) -> str:
    """An env's name in results and case names when none is given: its id without the
    adapter prefix and the version, lower case with ``_`` for ``-`` (``n_back-v0`` ->
    ``n_back``, ``gymnax:CartPole-v1`` -> ``cartpole``)."""
    base = env_id.split(":", 1)[-1]
    return re.sub(r"-v\d+$", "", base).replace("-", "_").lower()


def is_cell_name(name: str) -> bool:
    """A finished cell's folder name (not a staging, failed, previous or temporary one)."""
    return "@" not in name and TMP_MARK not in name
