"""User-facing errors: the CLI prints them as one line and exits with code 2."""

import difflib
import types
import typing


class ConfigError(ValueError):
    """Bad user input. ``where`` names the file and field, e.g. ``suites/x.yaml: envs[0].id``."""

    def __init__(self, message: str, where: str | None = None):
        self.message = message
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)

    def at(self, where: str) -> "ConfigError":
        """The same error, located (an inner location is kept after the outer one)."""
        return ConfigError(self.message, f"{where}.{self.where}" if self.where else where)


def import_extra(module: str, extra: str, feature: str):
    """``module``, part of an optional feature: without it, one line naming the extra that
    installs it (the dev environment, ``uv run pytest``'s, has every extra)."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ConfigError(
            f"{feature} needs the `{extra}` extra ({module} is not installed): "
            f"uv sync --extra {extra}, or pip install 'pmarl-bench[{extra}]'"
        ) from None


class TrainingDivergedError(RuntimeError):
    """A loss or metric became NaN/inf during training."""


class CellLostError(RuntimeError):
    """A cell's cluster workers kept dying (retries exhausted); run again to retry it."""


def format_loc(loc: tuple) -> str:
    """('envs', 0, 'id') -> 'envs[0].id'"""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def from_validation(err, where: str, allowed=None) -> ConfigError:
    """The first error of a pydantic ``ValidationError`` as a one-line ``ConfigError``.

    ``where`` is the file (and field prefix); ``allowed`` lists the valid keys for an
    unknown-key error, or is the model that was validated: then the keys allowed where the
    unknown one sits (``envs[0].foo`` lists an env entry's keys, not the suite's).
    """
    first = err.errors()[0]
    raw_loc = tuple(p for p in first["loc"] if p not in _UNION_TAGS)
    loc = format_loc(raw_loc)
    msg = first["msg"]
    if first["type"] == "extra_forbidden":
        keys = _keys_at(allowed, raw_loc[:-1]) if isinstance(allowed, type) else allowed
        msg = unknown_key(str(raw_loc[-1]) if raw_loc else "", keys)
    elif first["type"] == "missing":
        msg = "missing required field"
    elif (
        "input" in first
        and not isinstance(first["input"], dict)  # a model's own check: all its fields
        and f"(got {first['input']!r})" not in msg
    ):
        shown = repr(first["input"])
        msg += f" (got {shown if len(shown) <= 80 else shown[:77] + '...'})"
    if loc:
        sep = "" if not where or where.endswith(": ") else "."
        where = f"{where}{sep}{loc}" if where else loc
    return ConfigError(msg, where or None)


def unknown_key(key: str, allowed: list[str] | None) -> str:
    """'unknown key; did you mean 'lr'? allowed: ...' (the nearest allowed key, if one is
    close)."""
    msg = "unknown key"
    if allowed is None:
        return msg
    near = difflib.get_close_matches(key, list(allowed), n=1, cutoff=0.6)
    if near:
        msg += f"; did you mean {near[0]!r}?"
    return msg + f"{' ' if near else '; '}allowed: {', '.join(allowed) or '(none)'}"


def _keys_at(model, loc: tuple) -> list[str] | None:
    """The field names of the pydantic model at ``loc`` inside ``model`` (through fields,
    list items and dict values), or None where there is no model."""
    for part in loc:
        model = _unwrap(model)
        if isinstance(part, str) and hasattr(model, "model_fields"):
            if part not in model.model_fields:
                return None
            model = model.model_fields[part].annotation
        else:  # a list index or a dict key: the item type
            args = typing.get_args(model)
            if not args:
                return None
            model = args[-1]
    model = _unwrap(model)
    return list(model.model_fields) if hasattr(model, "model_fields") else None


def _unwrap(t):
    """``X | None`` -> ``X``."""
    args = [a for a in typing.get_args(t) if a is not type(None)]
    return (
        args[0] if typing.get_origin(t) in (typing.Union, types.UnionType) and len(args) == 1 else t
    )


# pydantic puts the member type of a union in the error location; it is no field name.
_UNION_TAGS = {"int", "list[int]", "float", "bool", "str"}
