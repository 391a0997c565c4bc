"""A package's names loaded on first use (PEP 562): importing one light submodule of it (a
file format, a folder rule) then loads none of the heavy ones, so the CLI checks its input
before JAX or pandas load."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def exports(package: str, homes: dict[str, str]) -> Callable[[str], Any]:
    """The package's ``__getattr__``: each name in ``homes`` from its submodule."""

    def __getattr__(name: str) -> Any:
        if name in homes:
            return getattr(importlib.import_module(f"{package}.{homes[name]}"), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
