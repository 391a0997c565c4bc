"""A cell: one (env, agent) pair of a suite, fully resolved, and the one way to build its env,
agent and trainer (the suite loader, the checkpoint loader and the benchmarks all use it)."""

from __future__ import annotations

import copy
import dataclasses
import functools
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import ValidationError

from pmarl_bench import agents, envs, evaluation
from pmarl_bench.agents.base import AgentConfig
from pmarl_bench.errors import ConfigError, from_validation
from pmarl_bench.trainer.config import PPOConfig
from pmarl_bench.trainer.ppo import TRACED, Hyper, Train, hyper

#: the default final-policy evaluation: (episodes per seed, key, most episodes per seed), as
#: in ``evaluation``
EVALUATION = (evaluation.EVAL_EPISODES, evaluation.FINAL_EVAL_SEED, evaluation.MAX_EVAL_EPISODES)
_EVALUATION_KEYS = ("episodes", "seed", "max_episodes")


@dataclass(frozen=True, kw_only=True)
class Cell:
    """One (env, agent) pair of a suite, fully resolved; it trains all its seeds at once.
    A value: built with keywords, never changed (``dataclasses.replace`` makes another);
    its resolved config and hash are computed once."""

    suite: str
    env_name: str
    agent_name: str
    env_id: str
    env_options: dict
    env_params: dict
    baseline: str
    network: AgentConfig
    ppo: PPOConfig
    seeds: tuple[int, ...]
    checkpoint_every: int | None = None  # env steps per seed between saved parameters
    # env steps per seed between points of the evaluation curve (None: none)
    evaluate_every: int | None = None
    control: str | None = None  # a control's name (``controls.CONTROLS``): a control cell
    evaluation: tuple[int, ...] = EVALUATION  # final-policy evaluation: (episodes, seed, most)
    # seconds between snapshots while it trains (None: the runner's default); how a cell
    # runs, not what it computes: not part of its config
    snapshot_every: float | None = field(default=None, compare=False)
    # the family the report's Holm correction runs over (the suite's ``comparisons``): how
    # results are read, not what is computed, so not part of its config either
    comparisons: str = field(default="per_task", compare=False)
    # a sweep cell (``pmarl-bench tune``): each trial's traced PPO settings (``ppo.TRACED``
    # names), every trial training every seed, all in one program
    trials: tuple[dict, ...] = ()
    # its PPO settings were chosen by ``pmarl-bench tune``: the protocol (seeds, criterion)
    tuning: dict | None = None
    # a sweep cell that is a variant of an agent (shape-changing settings swept): the agent
    swept_agent: str | None = None

    @property
    def save_every(self) -> int | None:
        """Env steps per seed between saved parameters: ``checkpoint_every``'s, or the
        evaluation curve's where it is finer (its points are saved checkpoints)."""
        return min(filter(None, (self.checkpoint_every, self.evaluate_every)), default=None)

    @property
    def name(self) -> str:
        return f"{self.env_name}/{self.agent_name}"

    @property
    def member_seeds(self) -> list[int]:
        """The seed of every member the program trains: the seeds, once per trial."""
        return [s for _ in self.trials or [{}] for s in self.seeds]

    def member_settings(self) -> list[Hyper] | None:
        """Each member's traced PPO settings (None: the config's for all)."""
        if not self.trials:
            return None
        traced = [{k: v for k, v in t.items() if k in TRACED} for t in self.trials]
        return [hyper(self.ppo, **t) for t in traced for _ in self.seeds]

    def member_columns(self) -> dict[str, list] | None:
        """A sweep cell's extra table columns per member: ``trial`` and each swept setting."""
        if not self.trials:
            return None
        names = sorted({k for t in self.trials for k in t})
        members = [(i, t) for i, t in enumerate(self.trials) for _ in self.seeds]
        return {
            "trial": [i for i, _ in members],
            **{k: [float(t.get(k, getattr(self.ppo, k, np.nan))) for _, t in members]
               for k in names},
        }  # fmt: skip

    def resolved_config(self) -> dict:
        """The config as manifests keep it (a copy: the caller may change it)."""
        return copy.deepcopy(self._resolved)

    @functools.cached_property
    def _resolved(self) -> dict:
        env = envs.make(self.env_id, **self.env_options)
        # resolved options (a gymnax env's are passed through: its model has only `observe`,
        # which like every env's is left out when plain)
        options = {**self.env_options, **env.options.model_dump()}
        if options.get("observe") == "plain":
            del options["observe"]
        return {
            "suite": self.suite,
            "env": {
                "name": self.env_name,
                "id": self.env_id,
                "options": options,
                "params": dict(self.env_params),
            },
            "agent": {
                "name": self.agent_name,
                "baseline": self.baseline,
                "network": self.network.model_dump(),
            },
            "ppo": self.ppo.model_dump(),
            "seeds": list(self.seeds),
            # only when set, so cells without it keep their config hash
            **({"checkpoint_every": self.checkpoint_every} if self.checkpoint_every else {}),
            **({"evaluate_every": self.evaluate_every} if self.evaluate_every else {}),
            **({"control": self.control} if self.control else {}),
            # only when not the default, so cells from before it keep their config hash
            **(
                {
                    "evaluation": {
                        k: v
                        for k, v, d in zip(
                            _EVALUATION_KEYS, self.evaluation, EVALUATION, strict=True
                        )
                        if k != "max_episodes" or v != d
                    }
                }
                if self.evaluation != EVALUATION
                else {}
            ),
            **({"sweep": [dict(t) for t in self.trials]} if self.trials else {}),
            **({"tuning": dict(self.tuning)} if self.tuning else {}),
            **({"swept_agent": self.swept_agent} if self.swept_agent else {}),
        }

    def config_hash(self) -> str:
        return self._hash

    @functools.cached_property
    def _hash(self) -> str:
        blob = json.dumps(self._resolved, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def env_config(self) -> evaluation.EnvConfig:
        """What identifies its env for measurements its agents and controls share."""
        return evaluation.EnvConfig(
            self.env_id, dict(self.env_options), dict(self.env_params), self.env_name
        )

    def build_policy(self) -> tuple[Any, Any, Any]:
        """(env, env_params, agent): what acting needs (no trainer)."""
        env = envs.make(self.env_id, **self.env_options)
        params = apply_env_params(env, self.env_params)
        agent = agents.make_agent(self.network, env.observation_space, env.action_space)
        return env, params, agent

    def build(self) -> tuple[Any, Any, Any, Train]:
        """(env, env_params, agent, train) of this cell."""
        env, params, agent = self.build_policy()
        return env, params, agent, Train(env, agent, self.ppo, params)

    @classmethod
    def from_config(cls, config: dict, where: str = "config") -> Cell:
        """The cell of a resolved config (``resolved_config()``, as a manifest keeps it)."""
        env, agent = config["env"], config["agent"]
        ev = config.get("evaluation") or {}
        try:
            ppo = PPOConfig(**config["ppo"])
        except ValidationError as err:
            raise from_validation(err, f"{where}.ppo: ") from None
        return cls(
            suite=config["suite"],
            env_name=env["name"],
            agent_name=agent["name"],
            env_id=env["id"],
            env_options=dict(env["options"]),
            env_params=dict(env.get("params") or {}),
            baseline=agent["baseline"],
            network=network_config(agent["network"], f"{where}.agent.network"),
            ppo=ppo,
            seeds=tuple(config["seeds"]),
            checkpoint_every=config.get("checkpoint_every"),
            evaluate_every=config.get("evaluate_every"),
            control=config.get("control"),
            evaluation=tuple(
                ev.get(k, d) for k, d in zip(_EVALUATION_KEYS, EVALUATION, strict=True)
            ),
            trials=tuple(dict(t) for t in config.get("sweep") or ()),
            tuning=config.get("tuning"),
            swept_agent=config.get("swept_agent"),
        )


def apply_env_params(env, overrides: dict):
    params = env.default_params
    if not overrides:
        return params
    if not dataclasses.is_dataclass(params):
        raise ConfigError(f"{env!r} has no traced params; set its options instead")
    fields = {f.name: f for f in dataclasses.fields(params)}
    for key, value in overrides.items():
        if key not in fields:
            raise ConfigError(f"unknown env param; {env!r} has: {', '.join(fields)}", key)
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if number and not np.isfinite(value):
            raise ConfigError(f"a finite number (got {value!r})", key)
        low, high = fields[key].metadata.get("range", (-np.inf, np.inf))
        if number and not low <= value <= high:
            raise ConfigError(f"must be in [{low:g}, {high:g}] (got {value!r})", key)
        default = getattr(params, key)
        # a host value, as the defaults are (checking a suite starts no JAX backend)
        params = params.replace(**{key: np.asarray(value, dtype=np.asarray(default).dtype)})
    return params


def network_config(data: dict, where: str) -> AgentConfig:
    kind = data.get("kind")
    if kind not in agents.agent_kinds():
        raise ConfigError(
            f"unknown agent kind {kind!r}; available: {', '.join(agents.agent_kinds())}",
            f"{where}.kind",
        )
    cls = agents.agent_class(kind).Config
    try:
        return cls(**data)
    except ValidationError as err:
        raise from_validation(err, where, cls) from None
