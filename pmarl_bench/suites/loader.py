"""YAML suite files -> validated, fully resolved cells (one per env x agent pair).

Everything a run needs is checked here, before anything is trained or written: the YAML, the
schema, env ids and options, env params, baselines and their networks, PPO values and batch
shapes. Errors are ``ConfigError``s naming the file and the field.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from pmarl_bench import agents, envs
from pmarl_bench import controls as controls_
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
    DEFAULT_BUDGET,
    MAX_SEEDS,
    MAX_STEPS,
    AgentBudget,
    Budget,
    EnvBudget,
    EnvEntry,
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
    suite, chosen = _sized(suite, path, budget, seeds, steps, only)
    bwhere = f"{path}: budgets.{budget}"
    loaded_agents, controls = _load_agents(suite, path, chosen, bwhere)
    env_names = [e.resolved_name for e in suite.envs]
    names = [a.name for a in loaded_agents] + list(controls)
    # tuning starts from the untuned settings: `tuned:` is the sweep's output, not its input
    tuned = None if tune else load_tuned(suite, path, names, env_names)
    sweep = check_sweep(suite, str(path), names, env_names) if tune else None
    if tune:
        suite = suite.model_copy(update={"name": suite.name + TUNE_SUFFIX})
    expand = _Expansion(suite, path, chosen, bwhere, tuned, sweep, steps, only)
    for i, entry in enumerate(suite.envs):
        expand.env(i, entry, loaded_agents, controls)
    if only and not expand.cells:
        names = [f"{e.resolved_name}/{a.name}" for e in suite.envs for a in loaded_agents]
        raise ConfigError(f"no cell matches {only!r}; cells: {', '.join(names)}", "--only")
    return LoadedSuite(suite, path, expand.cells, expand.shadowed(overrides or []))


def _sized(
    suite: Suite, path: Path, budget: str | None, seeds: int | None, steps: int | None,
    only: str | None,
) -> tuple[Suite, Budget]:  # fmt: skip
    """The suite with its named budget's and the command line's sizes, and the budget; the
    command line's values checked."""
    chosen = pick_budget(suite, budget, path)
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
    return suite, chosen


def _load_agents(
    suite: Suite, path: Path, chosen: Budget, bwhere: str
) -> tuple[list[_Agent], dict[str, _Agent]]:
    """The suite's agents and the controls its envs want, their names checked."""

    def load_agent(ref: str, entry_network: dict, where: str, name: str | None) -> _Agent:
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
        c: load_agent(controls_.BASELINES[c], {}, f"{path}: controls ({c})", c)
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
    return loaded_agents, controls


@dataclass
class _Expansion:
    """The cells of a suite, env by env, and the PPO layers of each (for ``--set`` overrides
    that a later layer shadows)."""

    suite: Suite
    path: Path
    chosen: Budget
    bwhere: str
    tuned: Any
    sweep: Any
    steps: int | None
    only: str | None
    cells: list[Cell] = field(default_factory=list)
    layers: dict[str, list[tuple[dict, str]]] = field(default_factory=dict)

    def env(
        self, i: int, entry: EnvEntry, agents_: list[_Agent], controls: dict[str, _Agent]
    ) -> None:
        suite, path, where = self.suite, self.path, f"{self.path}: envs[{i}]"
        over = self.chosen.envs.get(entry.resolved_name, EnvBudget())
        options = {**entry.options, **over.options}
        env = self._make_env(entry, options, over, where)
        try:
            apply_env_params(env, entry.params)
        except ConfigError as err:
            raise err.at(f"{where}.params") from None
        env_controls = suite.controls if entry.controls is None else entry.controls
        for agent, control in _with_controls(agents_, controls, env_controls):
            cell_options, cell_env = options, env
            if control is not None and controls_.OBSERVE[control] != "plain":
                cell_options = {**options, "observe": controls_.OBSERVE[control]}
                try:
                    cell_env = envs.make(entry.id, **cell_options)
                except ConfigError as err:
                    raise ConfigError(err.message, f"{where}.controls ({control})") from None
            name = f"{entry.resolved_name}/{agent.name}"
            self.layers[name] = self._ppo_layers(entry, agent, over, where)
            total = self.steps or over.steps or self.chosen.steps or entry.steps or suite.steps
            ppo = ppo_config(self.layers[name], total)
            network = tuned_network(self.tuned, entry.resolved_name, agent.name, agent.network,
                                    suite.tuned)  # fmt: skip
            cell = Cell(
                suite=suite.name,
                env_name=entry.resolved_name,
                agent_name=agent.name,
                env_id=entry.id,
                env_options=cell_options,
                env_params=dict(entry.params),
                baseline=agent.baseline,
                network=network,
                ppo=ppo,
                seeds=tuple(suite.seed_list),
                checkpoint_every=suite.checkpoint_every,
                control=control,
                evaluation=(suite.evaluation.episodes, suite.evaluation.seed),
                snapshot_every=suite.snapshot_every,
                tuning=None
                if self.tuned is None
                else self.tuned.protocol.model_dump(exclude={"written"}),
            )
            for c in [cell] if self.sweep is None else sweep_cells(cell, self.sweep, str(path)):
                if self.only and not fnmatch.fnmatch(c.name, self.only):
                    continue
                try:
                    validate(cell_env, c.ppo, c.network)
                    agents.make_agent(c.network, cell_env.observation_space, cell_env.action_space)
                except ConfigError as err:
                    raise ConfigError(err.message, f"{path}: cell {c.name}: {err.where}") from None
                self.cells.append(c)

    def _make_env(self, entry: EnvEntry, options: dict, over: EnvBudget, where: str):
        try:
            return envs.make(entry.id, **options)
        except ConfigError as err:
            # located in the budget when the budget set the field
            key = (err.where or "").removeprefix("options.").split(".")[0].split("[")[0]
            at = f"{self.bwhere}.envs.{entry.resolved_name}" if key in over.options else where
            raise (err.at(at) if err.where else err.at(f"{where}.id")) from None

    def _ppo_layers(
        self, entry: EnvEntry, agent: _Agent, over: EnvBudget, where: str
    ) -> list[tuple[dict, str]]:
        """A cell's PPO override layers, later wins."""
        return [
            agent.base_layer,
            (self.suite.ppo, f"{self.path}: ppo"),
            (entry.ppo, f"{where}.ppo"),
            *agent.entry_layers,
            tuned_layer(self.tuned, entry.resolved_name, agent.name, self.suite.tuned),
            (self.chosen.ppo, f"{self.bwhere}.ppo"),
            (over.ppo, f"{self.bwhere}.envs.{entry.resolved_name}.ppo"),
            agent.budget_layer,
        ]

    def shadowed(self, overrides: list[str]) -> list[str]:
        """Warnings for the ``--set ppo.KEY`` overrides a later layer shadows in the cells
        loaded (a sweep variant's layers are its agent's)."""
        cells = self.cells
        names = {c.name for c in cells} | {f"{c.env_name}/{c.swept_agent}" for c in cells}
        chosen_layers = {name: v for name, v in self.layers.items() if name in names}
        return shadowed(overrides, f"{self.path}: ppo", chosen_layers)


def _with_controls(
    loaded: list[_Agent], controls: dict[str, _Agent], wanted: list[str]
) -> list[tuple[_Agent, str | None]]:
    """An env's (agent, control or None) pairs: the suite's agents, then the controls it
    wants; an MLP agent as its baseline file has it is the memoryless control itself."""
    plain_mlp = next((a for a in loaded if a.plain_mlp), None)
    memoryless = controls_.MEMORYLESS
    runs = [(a, memoryless if a is plain_mlp and memoryless in wanted else None) for a in loaded]
    return runs + [
        (controls[c], c) for c in wanted if not (c == memoryless and plain_mlp is not None)
    ]


def _unique(names: list[str], where: str, what: str) -> None:
    seen = set()
    for name in names:
        if name in seen:
            raise ConfigError(f"duplicate {what} {name!r}; set `name:` to tell them apart", where)
        seen.add(name)
