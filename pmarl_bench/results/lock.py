"""One ``run`` at a time per suite results folder: a second one on the same folder would take
the first's cells in progress for an interrupted run's. The lock is an OS lock (``flock``) on
the folder itself: nothing is written for it, and it is released when the process ends,
however it ends, so no stale lock is ever left behind."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from pmarl_bench.errors import ConfigError


@contextlib.contextmanager
def suite_lock(folder: Path) -> Iterator[None]:
    """Hold the lock of the suite results folder ``folder`` (created if missing); a one-line
    ``ConfigError`` if another process holds it."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(
                f"{folder} is in use by another pmarl-bench run; wait for it to finish "
                "(pmarl-bench status shows it), or write elsewhere with --results-dir DIR"
            ) from None
        yield
    finally:
        os.close(fd)  # closing releases the lock
