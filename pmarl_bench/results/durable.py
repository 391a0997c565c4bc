"""Flushing written files to disk before a rename publishes them, so that a power cut or a
kernel crash never leaves a published cell or snapshot with missing bytes."""

from __future__ import annotations

import os
from pathlib import Path


def fsync_tree(folder: Path) -> None:
    """Flush every file and folder under ``folder`` to disk (links are not followed)."""
    for root, _, files in os.walk(folder):
        for name in files:
            file = Path(root) / name
            if not file.is_symlink():
                fsync_path(file)
        fsync_dir(Path(root))


def fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(folder: Path) -> None:
    """Flush a folder's entries (a rename into it) to disk."""
    fsync_path(folder)
