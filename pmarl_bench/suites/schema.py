"""The suite and baseline file formats (strict pydantic: unknown keys are rejected)."""

from __future__ import annotations

import math
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from pmarl_bench.controls import OLD_ORACLE, ORACLE_MEMORY, ORACLE_STATE, Control
from pmarl_bench.names import TMP_MARK, default_name, is_cell_name

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")  # whole names only (fullmatch)
DEFAULT_BUDGET = "default"
#: seeds a cell may train (the most any suite has asked for is 64) and the largest seed
MAX_SEEDS, MAX_SEED = 10_000, 2**31 - 1  # a seed is an int32 inside training
#: the trials of one sweep space (a grid's combinations, a sample's draws)
MAX_TRIALS = 1024
#: env steps per seed: beyond it a run is a typo (1e13 would take years on one GPU)
MAX_STEPS = 10**11


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def _check_name(v: str | None) -> str | None:
    if v is not None and not _NAME.fullmatch(v):
        raise ValueError(
            "use up to 100 letters, digits, '_', '-' and '.' (it names a results folder)"
        )
    if v is not None and not is_cell_name(v):
        raise ValueError(f"{v!r} holds {TMP_MARK!r}, which marks temporary folders")
    return v


def _old_oracle(v):
    if isinstance(v, list) and OLD_ORACLE in v:
        raise ValueError(
            f"'{OLD_ORACLE}' is now two controls: {ORACLE_MEMORY} (perfect memory, the top of "
            f"the memory scale) and {ORACLE_STATE} (full state); name either or both"
        )
    return v


def _check_controls(v):
    if v is not None and len(set(v)) != len(v):
        raise ValueError("each control once")
    return v


def _check_seeds(v):
    if isinstance(v, int) and not 1 <= v <= MAX_SEEDS:
        raise ValueError(f"a count of seeds from 1 to {MAX_SEEDS:,}")
    if isinstance(v, list) and (not v or len(set(v)) != len(v) or min(v) < 0):
        raise ValueError("a list of distinct non-negative seeds")
    if isinstance(v, list) and (len(v) > MAX_SEEDS or max(v) > MAX_SEED):
        raise ValueError(f"at most {MAX_SEEDS:,} seeds, each at most 2**31 - 1")
    return v


def env_name(env_id: str, name: str | None = None) -> str:
    """An env entry's name in results: its ``name``, else ``envs.default_name(id)``."""
    return name or default_name(env_id)


class EnvEntry(_Strict):
    id: str = Field(description="registered env id (n_back-v0) or gymnax:<EnvName>")
    name: str | None = Field(None, description="name in results; default: the id without -vN")
    options: dict[str, Any] = Field(default_factory=dict, description="static env options")
    params: dict[str, float | int | bool] = Field(
        default_factory=dict, description="traced env parameters (fields of its Params)"
    )
    steps: int | None = Field(
        None, gt=0, le=MAX_STEPS, description="env steps per seed for this env"
    )
    ppo: dict[str, Any] = Field(
        default_factory=dict, description="PPO overrides for this env (num_envs, mode, ...)"
    )
    controls: list[Control] | None = Field(
        None, description="this env's control agents instead of the suite's ([]: none)"
    )

    _name = field_validator("name")(classmethod(lambda cls, v: _check_name(v)))
    _controls = field_validator("controls")(classmethod(lambda cls, v: _check_controls(v)))
    _old = field_validator("controls", mode="before")(classmethod(lambda cls, v: _old_oracle(v)))

    @property
    def resolved_name(self) -> str:
        return env_name(self.id, self.name)


class AgentEntry(_Strict):
    baseline: str = Field(description="a baseline name in baselines/ or a path to a YAML file")
    name: str | None = Field(None, description="name in results; default: the baseline's name")
    network: dict[str, Any] = Field(default_factory=dict, description="network overrides")
    ppo: dict[str, Any] = Field(default_factory=dict, description="PPO overrides")

    _name = field_validator("name")(classmethod(lambda cls, v: _check_name(v)))


class EnvBudget(_Strict):
    options: dict[str, Any] = Field(default_factory=dict, description="env option overrides")
    steps: int | None = Field(
        None, gt=0, le=MAX_STEPS, description="env steps per seed for this env"
    )
    ppo: dict[str, Any] = Field(default_factory=dict, description="PPO overrides for this env")


class AgentBudget(_Strict):
    network: dict[str, Any] = Field(default_factory=dict, description="network overrides")
    ppo: dict[str, Any] = Field(default_factory=dict, description="PPO overrides")


class Budget(_Strict):
    """A named size profile (``--budget NAME``): overrides laid over the suite as written,
    e.g. the GPU-size maps, episodes and batches of a paper run."""

    description: str = ""
    seeds: int | list[int] | None = None
    steps: int | None = Field(None, gt=0, le=MAX_STEPS)
    ppo: dict[str, Any] = Field(default_factory=dict, description="PPO overrides for all cells")
    envs: dict[str, EnvBudget] = Field(default_factory=dict, description="by env name")
    agents: dict[str, AgentBudget] = Field(default_factory=dict, description="by agent name")

    _seeds = field_validator("seeds")(classmethod(lambda cls, v: _check_seeds(v)))


class Evaluation(_Strict):
    """The final-policy evaluation: one episode in each of ``episodes`` envs per seed (grown
    up to ``max_episodes`` until a seed's standard error is under a tenth of the spread
    between seeds), each seed's resets and action samples from ``seed`` and its number."""

    episodes: int = Field(64, ge=1, description="evaluation episodes per seed to start with")
    seed: int = Field(2026, ge=0, description="the key of the evaluation episodes")
    max_episodes: int = Field(
        1024,
        ge=1,
        description="the most episodes per seed while the noise is not small "
        "(= episodes: never grow, e.g. for a quick check)",
    )
    every: int | None = Field(
        None,
        gt=0,
        le=MAX_STEPS,
        description="env steps per seed between points of an evaluation curve: the policy "
        "saved at each point plays `episodes` episodes per seed on the same keys, greedy and "
        "stochastic (after training, from the saved checkpoints)",
    )

    @model_validator(mode="after")
    def _cap_covers_the_start(self):
        if self.max_episodes < self.episodes:
            raise ValueError(f"max_episodes ({self.max_episodes}) is below episodes "
                             f"({self.episodes})")  # fmt: skip
        return self


class Range(_Strict):
    """A setting's range for a random sweep: uniform, or log-uniform with ``log: true``."""

    low: float
    high: float
    log: bool = False

    @model_validator(mode="after")
    def _bounds(self):
        if not self.low < self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high})")
        if self.log and self.low <= 0:
            raise ValueError(f"a log range needs low > 0 (got {self.low})")
        return self


class SweepSpace(_Strict):
    """The trials of a sweep: every combination of ``grid`` values, or ``trials`` random draws
    from ``sample``."""

    grid: dict[str, list[float]] | None = Field(
        None,
        description="traced PPO settings (lr, ent_coef, vf_coef, clip_eps, gamma, gae_lambda, "
        "max_grad_norm) and the values to try; every combination is a trial",
    )
    sample: dict[str, Range | list[float]] | None = Field(
        None,
        description="instead of a grid: each setting's range ({low, high, log}) or values to "
        "pick from; `trials` draws, reproducible from `sample_seed`",
    )
    trials: int | None = Field(None, ge=1, le=MAX_TRIALS, description="draws from `sample`")
    sample_seed: int = Field(0, ge=0, description="the seed of the draws from `sample`")

    @field_validator("grid", "sample")
    @classmethod
    def _grid(cls, v):
        if v is not None and not v:
            raise ValueError("at least one setting")
        for name, values in (v or {}).items():
            if isinstance(values, list) and (not values or len(set(values)) != len(values)):
                raise ValueError(f"{name}: a list of distinct values")
        return v

    @model_validator(mode="after")
    def _one_space(self):
        both = self.grid is not None and self.sample is not None
        if both or (self.is_empty and not self._may_be_empty()):
            raise ValueError("give either `grid` (every combination) or `sample` (random draws)")
        if (self.sample is None) != (self.trials is None):
            raise ValueError("`trials` (how many draws) goes with `sample`, and only with it")
        combinations = math.prod(len(v) for v in (self.grid or {}).values())
        if combinations > MAX_TRIALS:  # before any combination is made
            raise ValueError(
                f"a grid of {combinations:,} combinations; at most {MAX_TRIALS:,} (fewer "
                "values, or `sample` with `trials`)"
            )
        return self

    def _may_be_empty(self) -> bool:
        return False

    @property
    def is_empty(self) -> bool:
        return self.grid is None and self.sample is None

    @property
    def kind(self) -> str:
        """The field that holds the space: ``grid`` or ``sample``."""
        return "grid" if self.grid is not None else "sample"

    @property
    def space(self) -> dict:
        """The swept settings and their values or ranges, as written."""
        space = self.grid if self.grid is not None else self.sample
        return {k: v.model_dump() if isinstance(v, Range) else v for k, v in (space or {}).items()}

    @property
    def described(self) -> dict:
        """How the trials were made, for the chosen-settings file's protocol."""
        if self.is_empty:
            return {}
        if self.grid is not None:
            return {"grid": self.space}
        return {"sample": self.space, "trials": self.trials, "sample_seed": self.sample_seed}


class Optuna(_Strict):
    """Optuna's search over a ``sample`` space instead of independent draws: each ``batch``
    of asked trials trains as one cell (one compiled program, like a random sample's), and
    its scores go back to the study before the next batch is asked."""

    batch: int = Field(8, ge=1, le=1024, description="trials asked, trained and told at once")
    sampler: Literal["tpe", "random"] = Field(
        "tpe", description="tpe: a model of the scores so far after the first batch"
    )


class Sweep(SweepSpace):
    """``pmarl-bench tune``: every listed cell trains each trial on the tuning ``seeds``, all
    trials and seeds in one compiled program (the settings are traced values); results go to
    ``results/<suite>-tune/``. The trials: every combination of ``grid`` values, or
    ``trials`` random draws from ``sample``; an agent in ``per_agent`` uses its own."""

    seeds: int | list[int] = Field(
        3,
        description="tuning seeds: a count (seeds 1000, 1001, ...) or a list; never the "
        "suite's evaluation seeds",
    )
    agents: list[str] | None = Field(
        None, description="the agents (and controls) to tune; default: all"
    )
    envs: list[str] | None = Field(None, description="the envs to tune on; default: all")
    per_agent: dict[str, SweepSpace] = Field(
        default_factory=dict,
        description="an agent's (or control's) own grid or sample, instead of the shared one; "
        "without a shared one, only these agents are tuned",
    )
    optuna: Optuna | None = Field(
        None,
        description="draw every `sample`'s `trials` by an Optuna study (stored in the "
        "results folder, resumable) instead of at random",
    )

    _seeds = field_validator("seeds")(classmethod(lambda cls, v: _check_seeds(v)))

    def _may_be_empty(self) -> bool:
        return bool(self.per_agent)

    @model_validator(mode="after")
    def _optuna_samples(self):
        grids = [name for name, s in self.spaces if s.grid is not None]
        if self.optuna is not None and grids:
            raise ValueError(
                f"optuna searches a `sample` space; {' and '.join(grids)} has a `grid`"
            )
        return self

    @property
    def spaces(self) -> list[tuple[str, SweepSpace]]:
        """Every space as ``(where, space)``: the shared one (if any), then each agent's."""
        shared = [] if self.is_empty else [("sweep", self)]
        return shared + [(f"sweep.per_agent.{a}", s) for a, s in self.per_agent.items()]

    def space_for(self, agent: str) -> SweepSpace | None:
        """The space ``agent`` is tuned over (None: it is not tuned)."""
        own = self.per_agent.get(agent)
        if own is not None:
            return own
        return None if self.is_empty else self

    @property
    def described(self) -> dict:
        shared = super().described
        if self.optuna is not None:
            shared = {**shared, "optuna": self.optuna.model_dump()}
        if not self.per_agent:
            return shared
        return {**shared, "per_agent": {a: s.described for a, s in self.per_agent.items()}}

    @property
    def seed_list(self) -> list[int]:
        first = TUNING_SEEDS_FROM
        return (
            list(range(first, first + self.seeds))
            if isinstance(self.seeds, int)
            else list(self.seeds)
        )


class TuningProtocol(_Strict):
    model_config = ConfigDict(extra="allow", frozen=True)

    tuning_seeds: list[int] = Field(min_length=1, description="the seeds the sweep trained")
    chosen: str = Field(description="per task or per agent")
    criterion: str


class Tuned(_Strict):
    """A chosen-settings file written by ``pmarl-bench tune``."""

    protocol: TuningProtocol
    settings: dict[str, dict[str, dict[str, float]]] = Field(
        description="env name -> agent name -> PPO settings"
    )


#: a count of tuning seeds starts here (clear of the evaluation seeds 0, 1, ...)
TUNING_SEEDS_FROM = 1000


class Suite(_Strict):
    name: str = Field(description="names the results folder results/<name>/")
    description: str = ""
    seeds: int | list[int] = Field(4, description="a count (seeds 0..N-1) or a list of seeds")
    steps: int = Field(
        gt=0, le=MAX_STEPS, description="env steps per seed and cell (x agents = agent steps)"
    )
    ppo: dict[str, Any] = Field(default_factory=dict, description="PPO overrides for all cells")
    checkpoint_every: int | None = Field(
        None,
        gt=0,
        description="also save parameters every N env steps per seed (the final ones always)",
    )
    snapshot_every: float | None = Field(
        None,
        ge=0,
        description="seconds between snapshots of a training cell's whole state, which a rerun "
        "resumes from (default 300; 0: after every chunk); not part of the results' config",
    )
    evaluation: Evaluation = Field(
        default_factory=lambda: Evaluation(),
        description="the final-policy evaluation that scores every seed",
    )
    envs: list[EnvEntry] = Field(min_length=1)
    agents: list[AgentEntry] = Field(min_length=1)
    controls: list[Control] = Field(
        default_factory=list,
        description="control agents trained on every env beside the agents: memoryless, "
        "frame_stack, oracle_memory, oracle_state (an env entry's `controls` replaces this "
        "list)",
    )
    comparisons: Literal["per_task", "per_suite"] = Field(
        "per_task",
        description="the family the report's Holm correction runs over: per_task (within "
        "each task, every agent against each control and each other agent) or per_suite "
        "(every such comparison of the suite's tasks at once); a report of several suites "
        "keeps each suite's, so adding unrelated cells changes no claim",
    )
    budgets: dict[str, Budget] = Field(
        default_factory=dict,
        description="named size profiles for --budget (results go to results/<name>-<budget>)",
    )
    sweep: Sweep | None = Field(
        None, description="the hyperparameter sweep of `pmarl-bench tune` (not used by `run`)"
    )
    tuned: str | None = Field(
        None,
        description="a chosen-settings file from `pmarl-bench tune` (relative to this file): "
        "each cell's PPO settings as chosen there, laid over the suite's",
    )

    _name = field_validator("name")(classmethod(lambda cls, v: _check_name(v)))

    @field_validator("budgets")
    @classmethod
    def _budget_names(cls, v):
        for name in v:
            _check_name(name)
            if name == DEFAULT_BUDGET:
                raise ValueError(f"{DEFAULT_BUDGET!r} is the suite as written; pick another name")
        return v

    _seeds = field_validator("seeds")(classmethod(lambda cls, v: _check_seeds(v)))
    _controls = field_validator("controls")(classmethod(lambda cls, v: _check_controls(v)))
    _old = field_validator("controls", mode="before")(classmethod(lambda cls, v: _old_oracle(v)))

    @property
    def seed_list(self) -> list[int]:
        return list(range(self.seeds)) if isinstance(self.seeds, int) else list(self.seeds)


class Baseline(_Strict):
    """``baselines/<name>.yaml``: an agent's network and its PPO hyperparameters."""

    name: str
    description: str = ""
    network: dict[str, Any] = Field(description="agent config; `kind` picks the agent")
    ppo: dict[str, Any] = Field(default_factory=dict)

    _name = field_validator("name")(classmethod(lambda cls, v: _check_name(v)))
