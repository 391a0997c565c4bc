"""YAML suite files -> validated, fully resolved cells (one per env x agent pair).

Everything a run needs is checked here, before anything is trained or written: the YAML, the
schema, env ids and options, env params, baselines and their networks, PPO values and batch
shapes. Errors are ``ConfigError``s naming the file and the field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pmarl_bench import controls as controls_
from pmarl_bench.errors import ConfigError
from pmarl_bench.suites.cell import Cell, network_config
from pmarl_bench.suites.expand import Expansion, LoadedAgent
from pmarl_bench.suites.files import find_baseline, load_baseline
from pmarl_bench.suites.schema import (
    DEFAULT_BUDGET,
    MAX_SEEDS,
    MAX_STEPS,
    AgentBudget,
    Budget,
    Suite,
)
from pmarl_bench.suites.suite_file import errors_at_overrides, read_suite
from pmarl_bench.suites.sweep import (
    TUNE_SUFFIX,
    check_sweep,
    load_tuned,
)
from pmarl_bench.suites.yaml_files import _as_mapping, read_yaml


@dataclass(frozen=True)
class LoadedSuite:
    suite: Suite
    path: Path
    cells: list[Cell]
    #: what the user should know before training (a ``--set`` that some cells do not see)
    warnings: list[str] = field(default_factory=list)


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
    suite = read_suite(path, overrides)
    with errors_at_overrides(_as_mapping(read_yaml(path), path), overrides):
        return _expand(path, suite, seeds, steps, only, budget, overrides, tune)


def _expand(
    path: Path, suite: Suite, seeds: int | None, steps: int | None, only: str | None,
    budget: str | None, overrides: list[str] | None, tune: bool,
) -> LoadedSuite:  # fmt: skip
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
    expand = Expansion(suite, path, chosen, bwhere, tuned, sweep, steps, only)
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
) -> tuple[list[LoadedAgent], dict[str, LoadedAgent]]:
    """The suite's agents and the controls its envs want, their names checked."""

    def load_agent(ref: str, entry_network: dict, where: str, name: str | None) -> LoadedAgent:
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
        return LoadedAgent(
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


def _unique(names: list[str], where: str, what: str) -> None:
    seen = set()
    for name in names:
        if name in seen:
            raise ConfigError(f"duplicate {what} {name!r}; set `name:` to tell them apart", where)
        seen.add(name)
