"""The benchmark matrix file (``benchmarks/bench.yaml``): env stepping cases and training cases,
with named profiles (e.g. ``gpu``) that replace them."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pmarl_bench.names import default_name


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EnvCase(_Strict):
    """Random-action stepping of one env: ``num_envs`` envs for ``steps`` steps in one scan."""

    id: str = Field(description="registered env id")
    name: str | None = Field(None, description="case name; default: the env name")
    options: dict[str, Any] = Field(default_factory=dict)
    num_envs: int = Field(256, gt=0)
    steps: int = Field(128, gt=0)

    @property
    def case(self) -> str:
        return f"env:{self.name or default_name(self.id)}"


class TrainCase(_Strict):
    """PPO training of one env x agent for a few updates (seeds vmapped), timed per chunk."""

    env: str = Field(description="registered env id")
    name: str | None = Field(None, description="case name; default: <env>/<agent>")
    options: dict[str, Any] = Field(default_factory=dict, description="env options")
    agent: str = Field(description="a baseline name in baselines/")
    network: dict[str, Any] = Field(default_factory=dict, description="network overrides")
    ppo: dict[str, Any] = Field(default_factory=dict, description="PPO overrides")
    seeds: int = Field(2, gt=0)
    updates: int = Field(2, gt=0, description="updates per timed repeat")
    reference: dict[str, float] = Field(
        default_factory=dict,
        description="agent-steps/s claimed for this shape elsewhere (e.g. the origin's on an "
        "RTX 5090), printed beside the measured figure",
    )

    @property
    def case(self) -> str:
        return f"train:{self.name or default_name(self.env) + '/' + self.agent}"


class Cases(_Strict):
    env_cases: list[EnvCase] = Field(default_factory=list)
    train_cases: list[TrainCase] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self):
        names = [c.case for c in (*self.env_cases, *self.train_cases)]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"duplicate case names {sorted(dup)}; set `name:` to tell them apart")
        return self


class BenchSuite(Cases):
    name: str
    description: str = ""
    repeats: int = Field(3, gt=0, description="timed repeats per case (after a warm-up)")
    profiles: dict[str, Cases] = Field(
        default_factory=dict, description="named case lists that replace the default ones"
    )


def is_bench_matrix(data: Any) -> bool:
    """Whether a file's parsed YAML is a benchmark matrix (it has env or train cases; a suite
    has envs and agents)."""
    return isinstance(data, dict) and ("env_cases" in data or "train_cases" in data)
