"""The agent interface shared by every baseline, so an ablation changes only the memory core.

An agent is built from its config and the env's spaces and offers pure functions over an
explicit parameter pytree (an ``nnx.State``) and an explicit memory carry:

    params = agent.init(key)
    carry = agent.initial_carry(batch)
    carry, out = agent.step(params, carry, AgentInput[B])        # acting, one step
    carry, out = agent.unroll(params, carry, AgentInput[T, B])   # learning, a sequence

``AgentInput.start`` marks the first step of an episode: the carry is cleared before that
step is processed, so memory never crosses an episode boundary. ``unroll`` over a sequence
equals stepping through it (tested for every registered agent).
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Any, ClassVar, Literal

import jax
from flax import nnx
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_serializer

from pmarl_bench.agents.heads import MSEValue, ValueHead
from pmarl_bench.agents.torso import INPUTS
from pmarl_bench.envs.spaces import Box, Discrete
from pmarl_bench.types import AgentInput, AgentOutput

Carry = Any

Input = Literal["obs", "prev_action", "prev_reward"]
#: inputs fed back from the agent's own past: a memory channel (a policy can write a bit into
#: its action and read it back next step, and its actions steer its rewards)
FEEDBACK: frozenset[str] = frozenset({"prev_action", "prev_reward"})


class AgentConfig(BaseModel):
    """Base of every agent's network config (strict: unknown keys are rejected)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    kind: str
    value_head: ValueHead = Field(
        default_factory=MSEValue,
        discriminator="kind",
        description="mse (scalar value) or hl_gauss (histogram value, cross-entropy loss)",
    )
    inputs: tuple[Input, ...] = Field(
        INPUTS,  # type: ignore[arg-type]  # the same three names, as a plain tuple
        description="what the agent reads each step: obs (always), prev_action, prev_reward; "
        "the last two are fed back from its own past, a memory channel of their own",
    )

    @field_validator("inputs")
    @classmethod
    def _inputs_known(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if "obs" not in value:
            raise ValueError("inputs must include obs")
        if len(set(value)) != len(value):
            raise ValueError(f"inputs {list(value)} name one input twice")
        return tuple(i for i in INPUTS if i in value)  # one order, so one config hash

    @model_serializer(mode="wrap")
    def _default_inputs_left_out(self, handler):
        # the default is not written, so configs (and their hashes) from before the option
        # existed are unchanged
        data = handler(self)
        if isinstance(data, dict) and tuple(data.get("inputs", ())) == INPUTS:
            del data["inputs"]
        elif isinstance(data, dict) and "inputs" in data:
            data["inputs"] = list(data["inputs"])  # as JSON reads it back from a manifest
        return data


class Agent(abc.ABC):
    """Wraps an ``nnx.Module`` built by ``build(rngs)`` into pure functions."""

    Config: ClassVar[type[AgentConfig]]

    def __init__(self, config: AgentConfig, obs_space: Box, action_space: Discrete):
        self.config = config
        self.obs_space = obs_space
        self.action_space = action_space
        abstract = nnx.eval_shape(lambda: self.build(nnx.Rngs(0)))
        self._graphdef, _ = nnx.split(abstract)

    @abc.abstractmethod
    def build(self, rngs: nnx.Rngs) -> nnx.Module:
        """The network; its methods are called through ``self.module(params)``."""

    def init(self, key: jax.Array) -> nnx.State:
        return nnx.split(self.build(nnx.Rngs(key)))[1]

    def module(self, params: nnx.State) -> Any:
        return nnx.merge(self._graphdef, params)

    def num_params(self, params: nnx.State) -> int:
        return sum(x.size for x in jax.tree.leaves(params))

    @abc.abstractmethod
    def initial_carry(self, batch: int) -> Carry: ...

    @property
    def inputs(self) -> tuple[str, ...]:
        """What the agent reads each step (``AgentInput`` fields), recorded in its manifest."""
        return self.config.inputs

    @property
    @abc.abstractmethod
    def core_reach(self) -> int | None:
        """How many steps back the memory core can remember: 0 (none), a number of steps, or
        None (no fixed limit, e.g. a recurrent core)."""

    @property
    def memory_reach(self) -> int | None:
        """How many steps back the agent can remember, derived from its core and its inputs:
        the core's reach, or None (no fixed limit) when it reads its previous action or reward,
        which carry whatever its policy writes into its actions. Recorded in its manifest;
        reports read it from there."""
        return None if FEEDBACK & set(self.inputs) else self.core_reach

    def memory(self) -> dict[str, Any]:
        """The manifest's ``memory`` entry: the reach, the core's own and the inputs."""
        return {"reach": self.memory_reach, "core_reach": self.core_reach,
                "inputs": list(self.inputs)}  # fmt: skip

    @abc.abstractmethod
    def step(
        self, params: nnx.State, carry: Carry, inputs: AgentInput
    ) -> tuple[Carry, AgentOutput]: ...

    def unroll(
        self, params: nnx.State, carry: Carry, inputs: AgentInput
    ) -> tuple[Carry, AgentOutput]:
        """Default: scan ``step`` over the leading time axis. Agents override it with a
        parallel form where one exists."""
        return jax.lax.scan(lambda c, x: self.step(params, c, x), carry, inputs)

    def unroll_fresh(self, params: nnx.State, inputs: AgentInput) -> AgentOutput:
        """``unroll`` from the initial carry, for sequences whose first step starts an
        episode (episodic rollouts). Agents may override it to skip reading empty memory."""
        batch = inputs.start.shape[1]
        return self.unroll(params, self.initial_carry(batch), inputs)[1]


_AGENTS: dict[str, type[Agent]] = {}


def register_agent(kind: str) -> Callable[[type[Agent]], type[Agent]]:
    def deco(cls: type[Agent]) -> type[Agent]:
        _AGENTS[kind] = cls
        return cls

    return deco


def agent_kinds() -> list[str]:
    return sorted(_AGENTS)


def agent_class(kind: str) -> type[Agent]:
    return _AGENTS[kind]


def make_agent(config: AgentConfig, obs_space: Box, action_space: Discrete) -> Agent:
    return _AGENTS[config.kind](config, obs_space, action_space)
