"""A suite file read and checked against the suite format, with its ``--set`` overrides
applied: light (PyYAML and pydantic), so a malformed or mistyped suite is refused in well
under a second, before the env, agent and trainer modules (and JAX) load."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from pmarl_bench.errors import from_validation
from pmarl_bench.suites.overrides import apply_overrides
from pmarl_bench.suites.schema import Suite
from pmarl_bench.suites.yaml_files import _as_mapping, read_yaml


def read_suite(path: str | Path, overrides: list[str] | None = None) -> Suite:
    """The suite file at ``path`` with ``overrides`` (``PATH=VALUE``) applied, validated; a
    one-line ``ConfigError`` naming the file and field otherwise."""
    path = Path(path)
    data = apply_overrides(_as_mapping(read_yaml(path), path), overrides or [])
    try:
        return Suite(**data)
    except ValidationError as err:
        raise from_validation(err, f"{path}: ", Suite) from None
