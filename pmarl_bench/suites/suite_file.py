"""A suite file read and checked against the suite format, with its ``--set`` overrides
applied: light (PyYAML and pydantic), so a malformed or mistyped suite is refused in well
under a second, before the env, agent and trainer modules (and JAX) load."""

from __future__ import annotations

import contextlib
from pathlib import Path

from pydantic import ValidationError

from pmarl_bench.errors import ConfigError, from_validation
from pmarl_bench.suites.overrides import apply_overrides, relocated
from pmarl_bench.suites.schema import Suite
from pmarl_bench.suites.yaml_files import _as_mapping, read_yaml


def read_suite(path: str | Path, overrides: list[str] | None = None) -> Suite:
    """The suite file at ``path`` with ``overrides`` (``PATH=VALUE``) applied, validated; a
    one-line ``ConfigError`` naming the file and field otherwise (or the ``--set`` whose
    value it is)."""
    path = Path(path)
    raw = _as_mapping(read_yaml(path), path)
    with errors_at_overrides(raw, overrides):
        data = apply_overrides(raw, overrides or [])
        try:
            return Suite(**data)
        except ValidationError as err:
            raise from_validation(err, f"{path}: ", Suite) from None


@contextlib.contextmanager
def errors_at_overrides(raw: dict, overrides: list[str] | None):
    """A ``ConfigError`` about a field a ``--set`` gave is located at that ``--set``."""
    try:
        yield
    except ConfigError as err:
        if not overrides:
            raise
        raise relocated(err, raw, overrides) from None
