"""Flushing written files to disk before a rename publishes them, so that a power cut or a
kernel crash never leaves a published cell or snapshot with missing bytes."""

from __future__ import annotations

import os
import tempfile
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


def cannot_create(path: Path) -> str | None:
    """Why ``path`` (a file or folder that may not exist yet, nor its parents) cannot be
    created, or None: a folder is made and removed at once in its nearest existing parent,
    so a read-only place, ``/proc`` or a full disk is found before the work, not after."""
    parent = Path(path).absolute().parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        return f"{parent} is not a folder"
    try:
        os.rmdir(tempfile.mkdtemp(dir=parent, prefix=".pmarl-probe-"))
    except OSError as err:
        return f"cannot create anything in {parent}: {err.strerror or err}"
    return None
