"""User-facing errors: the CLI prints them as one line and exits with code 2."""


class ConfigError(ValueError):
    """Bad user input. ``where`` names the file and field, e.g. ``suites/x.yaml: envs[0].id``."""

    def __init__(self, message: str, where: str | None = None):
        self.message = message
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)

    def at(self, where: str) -> "ConfigError":
        """The same error, located (an inner location is kept after the outer one)."""
        return ConfigError(self.message, f"{where}.{self.where}" if self.where else where)


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


def from_validation(err, where: str, allowed: list[str] | None = None) -> ConfigError:
    """The first error of a pydantic ``ValidationError`` as a one-line ``ConfigError``.

    ``where`` is the file (and field prefix); ``allowed`` lists the valid keys for an
    unknown-key error.
    """
    first = err.errors()[0]
    loc = format_loc(tuple(p for p in first["loc"] if p not in _UNION_TAGS))
    msg = first["msg"]
    if first["type"] == "extra_forbidden":
        msg = "unknown key"
        if allowed is not None:
            msg += f"; allowed: {', '.join(allowed) or '(none)'}"
    elif first["type"] == "missing":
        msg = "missing required field"
    elif "input" in first:
        msg += f" (got {first['input']!r})"
    if loc:
        sep = "" if not where or where.endswith(": ") else "."
        where = f"{where}{sep}{loc}" if where else loc
    return ConfigError(msg, where or None)


# pydantic puts the member type of a union in the error location; it is no field name.
_UNION_TAGS = {"int", "list[int]", "float", "bool", "str"}
