"""Output paths checked before long work starts: a folder or file the command will write must
be writable. Each failure is one ``ConfigError`` naming the option."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from pmarl_bench.errors import ConfigError
from pmarl_bench.results import durable


def writable_dir(path: Path, option: str) -> Path:
    """``path`` as a folder this process can write in (created if missing)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{path} is a file, not a folder", option)
    try:
        path.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=path).close()  # created and removed at once
    except OSError as err:
        raise ConfigError(f"cannot write in {path}: {err.strerror or err}", option) from None
    return path


def writable_file(path: Path, option: str) -> Path:
    """``path`` as a file this process can create or replace; nothing is written yet."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{path} is a folder; give a file name", option)
    if path.exists() and not os.access(path, os.W_OK):
        raise ConfigError(f"cannot write {path}: permission denied", option)
    problem = durable.cannot_create(path)
    if problem:
        raise ConfigError(f"cannot create {path}: {problem}", option)
    return path
