"""YAML suite files -> validated, fully resolved cells (one per env x agent pair).

Everything a run needs is checked here, before anything is trained or written: the YAML, the
schema, env ids and options, env params, baselines and their networks, PPO values and batch
shapes. Errors are ``ConfigError``s naming the file and the field.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from pmarl_bench import agents, envs
from pmarl_bench.agents.base import AgentConfig
from pmarl_bench.errors import ConfigError, from_validation
from pmarl_bench.suites.cell import Cell, apply_env_params, network_config
from pmarl_bench.suites.files import (
    _as_mapping,
    check_ppo_keys,
    find_baseline,
    load_baseline,
    read_yaml,
)
from pmarl_bench.suites.overrides import apply_overrides, shadowed
from pmarl_bench.suites.schema import (
    CONTROL_BASELINES,
    DEFAULT_BUDGET,
    MAX_SEEDS,
    MAX_STEPS,
    AgentBudget,
    Budget,
    EnvBudget,
    Suite,
)
from pmarl_bench.suites.sweep import (
    TUNE_SUFFIX,
    check_sweep,
    load_tuned,
    sweep_cells,
    tuned_layer,
    tuned_network,
)
from pmarl_bench.trainer.config import PPOConfig
from pmarl_bench.trainer.ppo import validate


@dataclass
class _Agent:
    """An agent of a suite (or a control) as loaded, with its PPO layers: the baseline file's,
    the suite entry's (none for a control) and the budget's for this agent."""

    name: str
    baseline: str
    network: AgentConfig
    base_layer: tuple[dict, str]
    budget_layer: tuple[dict, str]
    entry_layers: list[tuple[dict, str]] = field(default_factory=list)
    plain_mlp: bool = False


@dataclass(frozen=True)
class LoadedSuite:
    suite: Suite
    path: Path
    cells: list[Cell]
    #: what the user should know before training (a ``--set`` that some cells do not see)
    warnings: list[str] = field(default_factory=list)


def ppo_config(layers: list[tuple[dict, str]], total_env_steps: int) -> PPOConfig:
    """Merge PPO override layers (later wins); a bad value is reported where it was set."""
    merged: dict = {"total_env_steps": total_env_steps}
    origin: dict[str, str] = {"total_env_steps": "steps"}
    for data, where in layers:
        check_ppo_keys(data, where)
        for key, value in data.items():
            merged[key] = value
            origin[key] = where
    try:
        return PPOConfig(**merged)
    except ValidationError as err:
        key = str(err.errors()[0]["loc"][0])
        raise from_validation(err, origin.get(key, "ppo")) from None


def pick_budget(suite: Suite, name: str | None, path: Path) -> Budget:
    """The named budget (an empty one for the suite as written), its names checked."""
    if name is None or name == DEFAULT_BUDGET:
        return Budget()
    if name not in suite.budgets:
        have = ", ".join([DEFAULT_BUDGET, *suite.budgets])
        raise ConfigError(f"unknown budget {name!r}; {path} has: {have}", "--budget")
    budget = suite.budgets[name]
    env_names = [e.resolved_name for e in suite.envs]
    for key in budget.envs:
        if key not in env_names:
            raise ConfigError(
                f"no env named {key!r}; envs: {', '.join(env_names)}",
                f"{path}: budgets.{name}.envs.{key}",
            )
    return budget


def load_suite(
    path: str | Path,
    *,
    seeds: int | None = None,
    steps: int | None = None,
    only: str | None = None,
    budget: str | None = None,
    overrides: list[str] | None = None,
    tune: bool = False,
) -> LoadedSuite:
    """Load, validate and expand a suite file. CLI overrides: ``seeds`` (count), ``steps``
    (env steps per seed), ``only`` (a glob over cell names ``env/agent``), ``budget`` (a
    named size profile of the suite; its values win over the suite as written, and its
    results go to ``<suite>-<budget>``), ``overrides`` (``PATH=VALUE`` assignments into the
    file's data, ``suites.overrides``), ``tune`` (the cells of the suite's ``sweep:``
    instead, ``suites.sweep``)."""
    path = Path(path)
    data = apply_overrides(_as_mapping(read_yaml(path), path), overrides or [])
    try:
        suite = Suite(**data)
    except ValidationError as err:
        raise from_validation(err, f"{path}: ", Suite) from None
    chosen = pick_budget(suite, budget, path)
    bwhere = f"{path}: budgets.{budget}"
    if chosen != Budget():
        update = {"name": f"{suite.name}-{budget}"}
        if chosen.seeds is not None:
            update["seeds"] = chosen.seeds
        suite = suite.model_copy(update=update)
    if seeds is not None:
        if not 1 <= seeds <= MAX_SEEDS:
            raise ConfigError(f"a count of seeds from 1 to {MAX_SEEDS:,} (got {seeds})", "--seeds")
        suite = suite.model_copy(update={"seeds": seeds})
    if steps is not None and not 1 <= steps <= MAX_STEPS:
        raise ConfigError(f"env steps per seed from 1 to {MAX_STEPS:,} (got {steps:,})", "--steps")
    if only is not None and not only.strip():
        raise ConfigError("an empty pattern; e.g. --only 'n_back/*'", "--only")

    def load_agent(ref: str, entry_network: dict, where: str, name: str | None):
        try:
            bpath = find_baseline(ref, path.parent)
        except ConfigError as err:
            raise err.at(f"{where}.baseline") from None
        baseline, network, base_ppo = load_baseline(bpath)
        name = name or baseline.name
        over = chosen.agents.get(name, AgentBudget())
        if entry_network:
            network = network_config({**network.model_dump(), **entry_network}, f"{where}.network")
        if over.network:
            network = network_config(
                {**network.model_dump(), **over.network}, f"{bwhere}.agents.{name}.network"
            )
        return _Agent(
            name,
            baseline.name,
            network,
            (base_ppo, f"{bpath}: ppo"),
            (over.ppo, f"{bwhere}.agents.{name}.ppo"),
        )

    loaded_agents = []
    for j, entry in enumerate(suite.agents):
        where = f"{path}: agents[{j}]"
        agent = load_agent(entry.baseline, entry.network, where, entry.name)
        agent.entry_layers.append((entry.ppo, f"{where}.ppo"))
        # an MLP agent as the baseline file has it is the memoryless control already
        agent.plain_mlp = agent.baseline == "mlp" and not entry.network and not entry.ppo
        loaded_agents.append(agent)
    wanted = {c for e in suite.envs for c in (suite.controls if e.controls is None else e.controls)}
    controls = {
        c: load_agent(CONTROL_BASELINES[c], {}, f"{path}: controls ({c})", c)
        for c in sorted(wanted)
    }
    for key in chosen.agents:
        if key not in [a.name for a in loaded_agents] + list(controls):
            raise ConfigError(
                f"no agent named {key!r}; agents: {', '.join(a.name for a in loaded_agents)}",
                f"{bwhere}.agents.{key}",
            )

    _unique([e.resolved_name for e in suite.envs], f"{path}: envs", "env name")
    names = [a.name for a in loaded_agents]
    _unique(names, f"{path}: agents", "agent name")
    for c in controls:
        if c in names:
            raise ConfigError(
                f"agent name {c!r} is taken by the {c} control; rename it", f"{path}: agents"
            )

    # tuning starts from the untuned settings: `tuned:` is the sweep's output, not its input
    tuned = None if tune else load_tuned(suite, path, names + list(controls),
                                         [e.resolved_name for e in suite.envs])  # fmt: skip
    sweep = None
    if tune:
        sweep = check_sweep(suite, str(path), names + list(controls),
                            [e.resolved_name for e in suite.envs])  # fmt: skip
        suite = suite.model_copy(update={"name": suite.name + TUNE_SUFFIX})
    cells = []
    layers: dict[str, list[tuple[dict, str]]] = {}  # per cell, for shadowed overrides
    for i, entry in enumerate(suite.envs):
        where = f"{path}: envs[{i}]"
        over = chosen.envs.get(entry.resolved_name, EnvBudget())
        options = {**entry.options, **over.options}
        try:
            env = envs.make(entry.id, **options)
        except ConfigError as err:
            # located in the budget when the budget set the field
            key = (err.where or "").removeprefix("options.").split(".")[0].split("[")[0]
            at = f"{bwhere}.envs.{entry.resolved_name}" if key in over.options else where
            raise (err.at(at) if err.where else err.at(f"{where}.id")) from None
        try:
            apply_env_params(env, entry.params)
        except ConfigError as err:
            raise err.at(f"{where}.params") from None
        env_controls = suite.controls if entry.controls is None else entry.controls
        for agent, control in _with_controls(loaded_agents, controls, env_controls):
            cell_options, cell_env = options, env
            if control == "oracle":
                cell_options = {**options, "observe": "oracle"}
                try:
                    cell_env = envs.make(entry.id, **cell_options)
                except ConfigError as err:
                    raise ConfigError(err.message, f"{where}.controls (oracle)") from None
            total = steps or over.steps or chosen.steps or entry.steps or suite.steps
            layers[f"{entry.resolved_name}/{agent.name}"] = [
                agent.base_layer,
                (suite.ppo, f"{path}: ppo"),
                (entry.ppo, f"{where}.ppo"),
                *agent.entry_layers,
                tuned_layer(tuned, entry.resolved_name, agent.name, suite.tuned),
                (chosen.ppo, f"{bwhere}.ppo"),
                (over.ppo, f"{bwhere}.envs.{entry.resolved_name}.ppo"),
                agent.budget_layer,
            ]
            ppo = ppo_config(layers[f"{entry.resolved_name}/{agent.name}"], total)
            network = tuned_network(tuned, entry.resolved_name, agent.name, agent.network,
                                    suite.tuned)  # fmt: skip
            cell = Cell(
                suite.name,
                entry.resolved_name,
                agent.name,
                entry.id,
                cell_options,
                dict(entry.params),
                agent.baseline,
                network,
                ppo,
                tuple(suite.seed_list),
                suite.checkpoint_every,
                control,
                (suite.evaluation.episodes, suite.evaluation.seed),
                suite.snapshot_every,
                tuning=None if tuned is None else tuned.protocol.model_dump(exclude={"written"}),
            )
            for c in [cell] if sweep is None else sweep_cells(cell, sweep, str(path)):
                if only and not fnmatch.fnmatch(c.name, only):
                    continue
                try:
                    validate(cell_env, c.ppo, c.network)
                    agents.make_agent(c.network, cell_env.observation_space, cell_env.action_space)
                except ConfigError as err:
                    raise ConfigError(err.message, f"{path}: cell {c.name}: {err.where}") from None
                cells.append(c)
    if only and not cells:
        names = [f"{e.resolved_name}/{a.name}" for e in suite.envs for a in loaded_agents]
        raise ConfigError(f"no cell matches {only!r}; cells: {', '.join(names)}", "--only")
    names = {c.name for c in cells} | {f"{c.env_name}/{c.swept_agent}" for c in cells}
    chosen_layers = {name: v for name, v in layers.items() if name in names}
    warnings = shadowed(overrides or [], f"{path}: ppo", chosen_layers)
    return LoadedSuite(suite, path, cells, warnings)


def _with_controls(
    loaded: list[_Agent], controls: dict[str, _Agent], wanted: list[str]
) -> list[tuple[_Agent, str | None]]:
    """An env's (agent, control or None) pairs: the suite's agents, then the controls it
    wants; an MLP agent as its baseline file has it is the memoryless control itself."""
    plain_mlp = next((a for a in loaded if a.plain_mlp), None)
    runs = [
        (a, "memoryless" if a is plain_mlp and "memoryless" in wanted else None) for a in loaded
    ]
    return runs + [
        (controls[c], c) for c in wanted if not (c == "memoryless" and plain_mlp is not None)
    ]


def _unique(names: list[str], where: str, what: str) -> None:
    seen = set()
    for name in names:
        if name in seen:
            raise ConfigError(f"duplicate {what} {name!r}; set `name:` to tell them apart", where)
        seen.add(name)
