"""Expanding a loaded suite into cells: each env with each agent and the controls it wants,
every cell's PPO settings merged from their layers (later wins), its network as tuned, and
the sweep's trial cells when tuning."""

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
from pmarl_bench.suites.cell import Cell, apply_env_params
from pmarl_bench.suites.files import check_ppo_keys
from pmarl_bench.suites.overrides import shadowed
from pmarl_bench.suites.schema import Budget, EnvBudget, EnvEntry, Suite
from pmarl_bench.suites.sweep import sweep_cells, tuned_layer, tuned_network
from pmarl_bench.trainer.config import PPOConfig
from pmarl_bench.trainer.ppo import validate


@dataclass
class LoadedAgent:
    """An agent of a suite (or a control) as loaded, with its PPO layers: the baseline file's,
    the suite entry's (none for a control) and the budget's for this agent."""

    name: str
    baseline: str
    network: AgentConfig
    base_layer: tuple[dict, str]
    budget_layer: tuple[dict, str]
    entry_layers: list[tuple[dict, str]] = field(default_factory=list)
    plain_mlp: bool = False


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


@dataclass
class Expansion:
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
        self, i: int, entry: EnvEntry, agents_: list[LoadedAgent], controls: dict[str, LoadedAgent]
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
        for agent, control in with_controls(agents_, controls, env_controls):
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
                evaluate_every=suite.evaluation.every,
                control=control,
                evaluation=(
                    suite.evaluation.episodes,
                    suite.evaluation.seed,
                    suite.evaluation.max_episodes,
                ),
                snapshot_every=suite.snapshot_every,
                comparisons=suite.comparisons,
                # the protocol only where the file chose this cell's settings: a cell it has
                # no entry for trains with the suite's own and is not called tuned
                tuning=None
                if self.tuned is None
                or not self.tuned.settings.get(entry.resolved_name, {}).get(agent.name)
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
        self, entry: EnvEntry, agent: LoadedAgent, over: EnvBudget, where: str
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


def with_controls(
    loaded: list[LoadedAgent], controls: dict[str, LoadedAgent], wanted: list[str]
) -> list[tuple[LoadedAgent, str | None]]:
    """An env's (agent, control or None) pairs: the suite's agents, then the controls it
    wants; an MLP agent as its baseline file has it is the memoryless control itself."""
    plain_mlp = next((a for a in loaded if a.plain_mlp), None)
    memoryless = controls_.MEMORYLESS
    runs = [(a, memoryless if a is plain_mlp and memoryless in wanted else None) for a in loaded]
    return runs + [
        (controls[c], c) for c in wanted if not (c == memoryless and plain_mlp is not None)
    ]
