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

import yaml

from pmarl_bench.errors import ConfigError
from pmarl_bench.suites.schema import env_name

_EXAMPLE = "e.g. --set ppo.lr=1e-3 or --set agents.gru.network.width=128"


def parse_value(text: str) -> Any:
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
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
            node[_index(node, last, keys[-2], f"--set {path}")] = parse_value(text)
        else:
            node[last] = parse_value(text)
    return data


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
