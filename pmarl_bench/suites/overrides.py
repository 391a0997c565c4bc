"""``--set PATH=VALUE``: command-line overrides of a suite file's values, applied to its data
before validation, so an override is checked exactly as the file's own value would be.

A path is dotted keys into the suite (``ppo.lr``, ``steps``, ``budgets.full.steps``); the
``envs`` and ``agents`` lists are entered by name (``envs.n_back.options.width``,
``agents.transformer.network.num_layers``) or by index (``agents.0.ppo.lr``). A value is
read as YAML (``2``, ``true``, ``[0, 1]``, ``{kind: hl_gauss}``), and a number in any form
Python reads (``1e-3``) is a number.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

from pmarl_bench.errors import ConfigError
from pmarl_bench.suites.schema import env_name
from pmarl_bench.suites.yaml_files import parse_yaml

_EXAMPLE = "e.g. --set ppo.lr=1e-3 or --set agents.gru.network.width=128"
#: how a chosen-settings file's PPO layer is located: ``FILE: settings.ENV.AGENT``
_TUNED = ": settings."


def parse_value(text: str, where: str = "--set") -> Any:
    """A ``--set`` value, read by the same guarded YAML reader as a file's values (too deep,
    an alias bomb, a duplicate key or a runaway integer: a ``ConfigError`` at ``where``);
    text that is no YAML is itself."""
    try:
        value = parse_yaml(text, where)
    except ConfigError as err:
        if "malformed YAML" in err.message:
            return text
        raise
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            pass
        try:
            return float(value)
        except ValueError:
            return value
    return value


def _entry_names(items: list, section: str) -> list[str | None]:
    names: list[str | None] = []
    for item in items:
        if not isinstance(item, dict):
            names.append(None)
        elif section == "envs":
            names.append(env_name(str(item.get("id", "")), item.get("name")))
        else:
            names.append(item.get("name") or Path(str(item.get("baseline", ""))).stem)
    return names


def apply_overrides(data: dict, assignments: list[str]) -> dict:
    """The suite's data with every ``PATH=VALUE`` assignment applied in order (a copy)."""
    data = copy.deepcopy(data)
    for assignment in assignments:
        path, sep, text = assignment.partition("=")
        path = path.strip()
        if not sep or not path or not re.fullmatch(r"[\w-]+(\.[\w-]+)*", path):
            raise ConfigError(f"expected PATH=VALUE, got {assignment!r}; {_EXAMPLE}", "--set")
        keys = path.split(".")
        node: Any = data
        for depth, key in enumerate(keys[:-1]):
            where = f"--set {'.'.join(keys[: depth + 1])}"
            if isinstance(node, list):
                node = node[_index(node, key, keys[depth - 1], where)]
            elif isinstance(node, dict):
                node = node.setdefault(key, {} if not keys[depth + 1].isdigit() else [])
            else:
                raise ConfigError(f"{keys[depth - 1]} is a value, not a section", where)
            if not isinstance(node, dict | list):
                raise ConfigError(f"{key} is a value ({node!r}), not a section", where)
        last = keys[-1]
        if isinstance(node, list):
            node[_index(node, last, keys[-2], f"--set {path}")] = parse_value(text, f"--set {path}")
        else:
            node[last] = parse_value(text, f"--set {path}")
    return data


def override_locations(data: dict, assignments: list[str]) -> list[tuple[str, str]]:
    """Each assignment's field as an error names it (``envs[0].ppo.lr`` for
    ``envs.n_back.ppo.lr``, entries by index in ``data``, the suite's data before the
    overrides) beside its ``PATH``; assignments that do not parse are left out."""
    found = []
    for assignment in assignments:
        path = assignment.partition("=")[0].strip()
        node: Any = data
        parts = []
        for key in path.split("."):
            if isinstance(node, list):
                names = _entry_names(node, parts[-1] if parts else "")
                i = int(key) if key.isdigit() else (names.index(key) if key in names else None)
                if i is None or i >= len(node):
                    break
                parts[-1] += f"[{i}]"
                node = node[i]
            else:
                parts.append(key)
                node = node.get(key) if isinstance(node, dict) else None
        else:
            found.append((".".join(parts), path))
    return found


def relocated(err: ConfigError, data: dict, assignments: list[str]) -> ConfigError:
    """``err`` located at ``--set PATH`` where an override's field is, holds or lies inside
    the field it names, so the user is pointed at the flag, not the file."""
    field = (err.where or "").rsplit(": ", 1)[-1]
    for loc, path in reversed(override_locations(data, assignments)):
        if field == loc or field.startswith(loc + ".") or loc.startswith(field + "."):
            return ConfigError(err.message, f"--set {path}")
    return err


def _index(items: list, key: str, section: str, where: str) -> int:
    if key.isdigit():
        if int(key) >= len(items):
            raise ConfigError(f"{section} has {len(items)} entries (0..{len(items) - 1})", where)
        return int(key)
    names = _entry_names(items, section)
    if key not in names:
        kind = {"envs": "env", "agents": "agent"}.get(section, "entry")
        have = ", ".join(n for n in names if n) or "(none)"
        raise ConfigError(f"no {kind} named {key!r}; {section}: {have}", where)
    return names.index(key)


def shadowed(overrides: list[str], suite_layer: str, layers: dict[str, list]) -> list[str]:
    """One line per ``--set ppo.KEY=VALUE`` and layer that sets ``KEY`` again for some cells
    (an env entry's ``ppo``, an agent's, the chosen settings of ``tuned:``, a budget's): a
    suite-wide setting does not reach those cells. ``layers``: each cell's PPO layers
    ``[(values, where)]`` in order of precedence, ``suite_layer`` the suite's ``ppo``."""
    lines = []
    for assignment in overrides:
        path = assignment.split("=", 1)[0].strip()
        keys = path.split(".")
        if len(keys) != 2 or keys[0] != "ppo":
            continue
        by_layer: dict[tuple[str, bool], list[str]] = {}
        for cell, cell_layers in layers.items():
            wheres = [where for _, where in cell_layers]
            later = cell_layers[wheres.index(suite_layer) + 1 :]
            setters = [where for values, where in later if keys[1] in values]
            if setters:  # a tuned file's cells (``FILE: settings.ENV.AGENT``) as one
                where, tuned = setters[-1].split(_TUNED)[0], _TUNED in setters[-1]
                by_layer.setdefault((where, tuned), []).append(cell)
        for (where, tuned), cells in by_layer.items():
            shown = ", ".join(cells[:3]) + (f" and {len(cells) - 3} more" if len(cells) > 3 else "")
            if tuned:
                lines.append(
                    f"--set {path} does not reach {shown}: the chosen settings in {where} "
                    f"(tuned:) set {keys[1]} for them (--set tuned=null trains without them)"
                )
            else:
                lines.append(
                    f"--set {path} does not reach {shown}: {where} sets {keys[1]} for them "
                    "(override it there)"
                )
    return lines
