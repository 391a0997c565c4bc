"""Versioned env ids -> constructors. A shipped env's dynamics are frozen: a behaviour change
registers a new version (``name-v1``) and gets a CHANGELOG line."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from pmarl_bench.envs.base import Environment
from pmarl_bench.errors import ConfigError, from_validation
from pmarl_bench.names import default_name

__all__ = ["default_name", "make", "register", "registered"]  # default_name: names.py

_REGISTRY: dict[str, Callable[..., Environment]] = {}
_ID = re.compile(r"[a-z][a-z0-9_]*-v\d+")  # whole ids only (fullmatch)
GYMNAX_PREFIX = "gymnax:"
JAXMARL_PREFIX = "jaxmarl:"


def register(env_id: str, factory: Callable[..., Any]) -> None:
    if not _ID.fullmatch(env_id):
        raise ValueError(f"env id {env_id!r} must look like 'name-v0'")
    if env_id in _REGISTRY:
        raise ValueError(f"env id {env_id!r} is already registered")
    _REGISTRY[env_id] = factory


def registered() -> list[str]:
    """The registered env ids, sorted (gymnax and JaxMARL envs are reachable as
    ``gymnax:<EnvName>`` and ``jaxmarl:<env>``)."""
    return sorted(_REGISTRY)


def make(env_id: str, **options: Any) -> Environment:
    """Build an env from its id and static options; raises ``ConfigError`` on bad input."""
    if env_id.startswith(GYMNAX_PREFIX):
        from pmarl_bench.envs.gymnax_adapter import make_gymnax

        env: Any = make_gymnax(env_id.removeprefix(GYMNAX_PREFIX), **options)
    elif env_id.startswith(JAXMARL_PREFIX):
        from pmarl_bench.envs.jaxmarl_adapter import make_jaxmarl

        env = make_jaxmarl(env_id.removeprefix(JAXMARL_PREFIX), **options)
    else:
        if env_id not in _REGISTRY:
            raise ConfigError(
                f"unknown env {env_id!r}; registered: {', '.join(registered())}, "
                f"or {GYMNAX_PREFIX}<EnvName> for a gymnax env, {JAXMARL_PREFIX}<env> for a "
                "JaxMARL env"
            )
        try:
            env = _REGISTRY[env_id](**options)
        except ValidationError as err:
            options_model = getattr(_REGISTRY[env_id], "Options", None)
            raise from_validation(err, "options", options_model) from None
    env.env_id = env_id
    if getattr(env.options, "observe", "plain") == "oracle_memory":
        from pmarl_bench.envs.perfect_memory import PerfectMemory

        return PerfectMemory(env)
    if getattr(env, "observes_oracle", False):
        try:
            _ = env.oracle_size
        except NotImplementedError:
            raise ConfigError(
                f"{env_id} has no perfect-memory observation; use observe: plain",
                "options.observe",
            ) from None
    return env
