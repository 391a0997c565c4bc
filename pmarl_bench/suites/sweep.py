"""A suite's ``sweep:`` section -> sweep cells (``pmarl-bench tune``): a cell with every
combination of the grid's values as a trial, trained on the tuning seeds, all trials and
seeds in one compiled program (the swept settings are traced values, ``trainer.ppo.Hyper``)."""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path

from pydantic import ValidationError

from pmarl_bench.errors import ConfigError, from_validation
from pmarl_bench.suites.cell import Cell
from pmarl_bench.suites.files import _as_mapping, read_yaml
from pmarl_bench.suites.schema import Suite, Sweep, Tuned
from pmarl_bench.trainer.config import PPOConfig
from pmarl_bench.trainer.ppo import TRACED

#: a sweep's results folder: ``results/<suite>-tune``
TUNE_SUFFIX = "-tune"


def grid_trials(grid: dict[str, list[float]]) -> tuple[dict, ...]:
    """Every combination of the grid's values, the first setting varying slowest."""
    names = list(grid)
    return tuple(
        dict(zip(names, values, strict=True)) for values in itertools.product(*grid.values())
    )


def check_sweep(suite: Suite, where: str, agent_names: list[str], env_names: list[str]) -> Sweep:
    """The suite's sweep, its settings, seeds and names checked (``where``: the file)."""
    sweep = suite.sweep
    if sweep is None:
        raise ConfigError(
            "no `sweep:` section to tune; add one (README, 'Tuning'), e.g. "
            "sweep: {grid: {lr: [1e-4, 3e-4, 1e-3]}}",
            where,
        )
    for name in sweep.grid:
        if name not in TRACED:
            raise ConfigError(
                f"{name!r} cannot be swept in one program; a sweep varies {', '.join(TRACED)} "
                "(for settings that change array shapes, run the suite with --set)",
                f"{where}: sweep.grid.{name}",
            )
    overlap = sorted(set(sweep.seed_list) & set(suite.seed_list))
    if overlap:
        raise ConfigError(
            f"tuning seeds {overlap} are also the suite's evaluation seeds; tune on others",
            f"{where}: sweep.seeds",
        )
    for field, names, have in (("agents", sweep.agents, agent_names),
                               ("envs", sweep.envs, env_names)):  # fmt: skip
        for name in names or []:
            if name not in have:
                raise ConfigError(
                    f"no {field[:-1]} named {name!r}; {field}: {', '.join(have)}",
                    f"{where}: sweep.{field}",
                )
    return sweep


def sweep_cell(cell: Cell, sweep: Sweep, where: str) -> Cell | None:
    """``cell`` as a sweep cell (None: the sweep leaves it out); every trial's settings are
    checked as the PPO config would check them."""
    if sweep.agents is not None and cell.agent_name not in sweep.agents:
        return None
    if sweep.envs is not None and cell.env_name not in sweep.envs:
        return None
    trials = grid_trials(sweep.grid)
    for trial in trials:
        try:
            PPOConfig(**{**cell.ppo.model_dump(), **trial})
        except ValidationError as err:
            raise from_validation(err, f"{where}: sweep.grid") from None
    return dataclasses.replace(
        cell,
        seeds=tuple(sweep.seed_list),
        trials=trials,
        checkpoint_every=None,  # a sweep keeps final parameters only
    )


def load_tuned(suite: Suite, path: Path, agent_names: list[str], env_names: list[str]):
    """The suite's chosen-settings file (``tuned:``), checked: its format, its names, and that
    none of its tuning seeds is one of the suite's evaluation seeds. None when unset."""
    if suite.tuned is None:
        return None
    file = Path(suite.tuned) if Path(suite.tuned).is_absolute() else path.parent / suite.tuned
    try:
        tuned = Tuned(**_as_mapping(read_yaml(file), file))
    except ValidationError as err:
        raise from_validation(err, f"{file}: ", Tuned) from None
    overlap = sorted(set(tuned.protocol.tuning_seeds) & set(suite.seed_list))
    if overlap:
        raise ConfigError(
            f"its settings were tuned on seeds {overlap}, which this suite evaluates on; "
            "evaluate on fresh seeds",
            f"{path}: tuned ({file})",
        )
    for env, agents in tuned.settings.items():
        if env not in env_names:
            raise ConfigError(
                f"no env named {env!r} in {path}; envs: {', '.join(env_names)}",
                f"{file}: settings.{env}",
            )
        for agent, values in agents.items():
            if agent not in agent_names:
                raise ConfigError(
                    f"no agent named {agent!r} in {path}; agents: {', '.join(agent_names)}",
                    f"{file}: settings.{env}.{agent}",
                )
            for key in values:
                if key not in TRACED:
                    raise ConfigError(
                        f"not a tuned setting; allowed: {', '.join(TRACED)}",
                        f"{file}: settings.{env}.{agent}.{key}",
                    )
    return tuned


def tuned_layer(tuned, env: str, agent: str, file: str | None) -> tuple[dict, str]:
    """The chosen settings of one cell as a PPO layer (empty where none were chosen)."""
    if tuned is None:
        return {}, "tuned"
    return dict(tuned.settings.get(env, {}).get(agent, {})), f"{file}: settings.{env}.{agent}"
