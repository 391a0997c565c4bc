"""A suite's ``sweep:`` section -> sweep cells (``pmarl-bench tune``): a cell whose trials
(every combination of a grid's values, or random draws from ranges) train on the tuning
seeds, all trials and seeds in one compiled program (the swept settings are traced values,
``trainer.ppo.Hyper``). Settings that change array shapes (``num_envs``, ``network.width``,
...) cannot share a program: each combination of them is a cell of its own, a *variant* of
the agent (``mlp.width-128``), whose trials the choice pools with the other variants'."""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path

import numpy as np
from pydantic import ValidationError

from pmarl_bench.agents.base import AgentConfig
from pmarl_bench.errors import ConfigError, from_validation
from pmarl_bench.suites.cell import Cell, network_config
from pmarl_bench.suites.schema import Range, Suite, Sweep, SweepSpace, Tuned
from pmarl_bench.suites.yaml_files import _as_mapping, read_yaml
from pmarl_bench.trainer.config import PPOConfig
from pmarl_bench.trainer.ppo import TRACED

#: a sweep's results folder: ``results/<suite>-tune``
TUNE_SUFFIX = "-tune"
#: PPO settings a grid may sweep as cells of their own (they change shapes or the program);
#: ``network.<field>`` names the agent's network settings, the same way
SHAPE_PPO = tuple(
    f for f in PPOConfig.model_fields if f not in TRACED and f not in ("total_env_steps",
                                                                       "updates_per_chunk")
)  # fmt: skip
NETWORK = "network."


def is_shape(name: str) -> bool:
    """A setting that changes the compiled program: a sweep runs each value as a cell."""
    return name in SHAPE_PPO or (name.startswith(NETWORK) and len(name) > len(NETWORK))


def grid_trials(grid: dict[str, list[float]]) -> tuple[dict, ...]:
    """Every combination of the grid's values, the first setting varying slowest."""
    names = list(grid)
    return tuple(
        dict(zip(names, values, strict=True)) for values in itertools.product(*grid.values())
    )


def sample_trials(space: dict[str, Range | list[float]], n: int, seed: int) -> tuple[dict, ...]:
    """``n`` random draws: uniform (log-uniform with ``log``) within a range, or one of a
    list's values; the same for the same seed. Rounded to 4 significant digits, so that the
    tables and the chosen-settings file show the values that were trained."""
    rng = np.random.default_rng(seed)

    def draw(dist: Range | list[float]) -> float:
        if isinstance(dist, list):
            return float(dist[rng.integers(len(dist))])
        if dist.log:
            return float(np.exp(rng.uniform(np.log(dist.low), np.log(dist.high))))
        return float(rng.uniform(dist.low, dist.high))

    return tuple(
        {name: float(f"{draw(dist):.4g}") for name, dist in space.items()} for _ in range(n)
    )


def sweep_trials(space: SweepSpace) -> tuple[dict, ...]:
    """The trials of a sweep's space, each a dict of settings."""
    if space.grid is not None:
        return grid_trials(space.grid)
    assert space.sample is not None and space.trials is not None  # the schema ensures it
    return sample_trials(space.sample, space.trials, space.sample_seed)


def check_sweep(suite: Suite, where: str, agent_names: list[str], env_names: list[str]) -> Sweep:
    """The suite's sweep, its settings, seeds and names checked (``where``: the file)."""
    sweep = suite.sweep
    if sweep is None:
        raise ConfigError(
            "no `sweep:` section to tune; add one (README, 'Tuning'), e.g. "
            "sweep: {grid: {lr: [1e-4, 3e-4, 1e-3]}}",
            where,
        )
    for at, space in sweep.spaces:
        _check_space(space, f"{where}: {at}")
    overlap = sorted(set(sweep.seed_list) & set(suite.seed_list))
    if overlap:
        raise ConfigError(
            f"tuning seeds {overlap} are also the suite's evaluation seeds; tune on others",
            f"{where}: sweep.seeds",
        )
    among = ("sweep.agents", sweep.agents) if sweep.agents else ("agents", agent_names)
    for field, names, (listed, have) in (("agents", sweep.agents, ("agents", agent_names)),
                                         ("envs", sweep.envs, ("envs", env_names)),
                                         ("per_agent", list(sweep.per_agent), among)):  # fmt: skip
        for name in names or []:
            if name not in have:
                what = "env" if field == "envs" else "agent"
                raise ConfigError(
                    f"no {what} named {name!r}; {listed}: {', '.join(have)}",
                    f"{where}: sweep.{field}",
                )
    return sweep


def _check_space(space: SweepSpace, where: str) -> None:
    """Every setting of a grid or sample is one a sweep can vary there."""
    field = space.kind
    for name in space.space:
        if name in TRACED or (field == "grid" and is_shape(name)):
            continue
        if field == "sample" and is_shape(name):
            raise ConfigError(
                f"{name!r} changes array shapes: each value is a cell of its own, so it goes "
                "in a `grid`, not a random `sample`",
                f"{where}.sample.{name}",
            )
        raise ConfigError(
            f"{name!r} is not a PPO or network setting; a sweep varies {', '.join(TRACED)} "
            f"in one program, and {', '.join(SHAPE_PPO)} or network.<field> as cells of "
            "their own",
            f"{where}.{field}.{name}",
        )


def sweep_cells(cell: Cell, sweep: Sweep, where: str) -> list[Cell]:
    """``cell`` as sweep cells (none: the sweep leaves it out): one per combination of the
    shape-changing settings (one in all where none is swept), each training every traced
    trial. Every trial's settings are checked as the PPO config and network would check
    them."""
    if sweep.agents is not None and cell.agent_name not in sweep.agents:
        return []
    if sweep.envs is not None and cell.env_name not in sweep.envs:
        return []
    space = sweep.space_for(cell.agent_name)
    if space is None:  # only per_agent spaces, and none for this agent
        return []
    own = f".per_agent.{cell.agent_name}" if space is not sweep else ""
    field = f"{where}: sweep{own}.{space.kind}"
    if space.grid is not None:
        traced = {k: v for k, v in space.grid.items() if not is_shape(k)}
        shapes = grid_trials({k: v for k, v in space.grid.items() if is_shape(k)})
        trials = grid_trials(traced) if traced else ({},)
    else:
        shapes, trials = ({},), sweep_trials(space)
    found = []
    for shape in shapes:
        ppo_part = {k: v for k, v in shape.items() if not k.startswith(NETWORK)}
        net_part = {k.removeprefix(NETWORK): v for k, v in shape.items() if k.startswith(NETWORK)}
        try:
            ppo = PPOConfig(**{**cell.ppo.model_dump(), **ppo_part})
            for trial in trials:
                PPOConfig(**{**ppo.model_dump(), **trial})
        except ValidationError as err:
            raise from_validation(err, field) from None
        network = with_network(cell.network, net_part, f"{field} ({cell.agent_name})")
        found.append(
            dataclasses.replace(
                cell,
                agent_name=variant_name(cell.agent_name, shape),
                network=network,
                ppo=ppo,
                seeds=tuple(sweep.seed_list),
                trials=tuple({**trial, **shape} for trial in trials),
                checkpoint_every=None,  # a sweep keeps final parameters only
                evaluate_every=None,
                swept_agent=cell.agent_name if shape else None,
            )
        )
    return found


def variant_name(agent: str, shape: dict) -> str:
    """``mlp`` with ``{network.width: 128, num_envs: 32}`` -> ``mlp.width-128.num_envs-32``."""
    return ".".join([agent, *(f"{k.removeprefix(NETWORK)}-{v:g}" for k, v in shape.items())])


def with_network(network: AgentConfig, values: dict, where: str) -> AgentConfig:
    """``network`` with some fields replaced, checked as a suite's network is."""
    if not values:
        return network
    return network_config({**network.model_dump(), **values}, where)


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
                if key not in TRACED and not is_shape(key):
                    raise ConfigError(
                        f"not a tuned setting; allowed: {', '.join(TRACED + SHAPE_PPO)}, "
                        "network.<field>",
                        f"{file}: settings.{env}.{agent}.{key}",
                    )
    return tuned


def tuned_layer(tuned, env: str, agent: str, file: str | None) -> tuple[dict, str]:
    """The chosen PPO settings of one cell as a PPO layer (empty where none were chosen)."""
    if tuned is None:
        return {}, "tuned"
    values = tuned.settings.get(env, {}).get(agent, {})
    ppo = {k: v for k, v in values.items() if not k.startswith(NETWORK)}
    return ppo, f"{file}: settings.{env}.{agent}"


def tuned_network(tuned, env: str, agent: str, network: AgentConfig, file: str | None):
    """The agent's network with the chosen network settings of one cell (if any)."""
    if tuned is None:
        return network
    values = tuned.settings.get(env, {}).get(agent, {})
    chosen = {k.removeprefix(NETWORK): v for k, v in values.items() if k.startswith(NETWORK)}
    return with_network(network, chosen, f"{file}: settings.{env}.{agent}")
