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
from typing import Any, ClassVar

import jax
from flax import nnx
from pydantic import BaseModel, ConfigDict, Field

from pmarl_bench.agents.heads import MSEValue, ValueHead
from pmarl_bench.envs.spaces import Box, Discrete
from pmarl_bench.types import AgentInput, AgentOutput

Carry = Any


class AgentConfig(BaseModel):
    """Base of every agent's network config (strict: unknown keys are rejected)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    kind: str
    value_head: ValueHead = Field(
        default_factory=MSEValue,
        discriminator="kind",
        description="mse (scalar value) or hl_gauss (histogram value, cross-entropy loss)",
    )


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

    #: what the agent reads each step (``AgentInput`` fields), recorded in its manifest
    inputs: ClassVar[tuple[str, ...]] = ("obs", "prev_action", "prev_reward")

    @property
    @abc.abstractmethod
    def memory_reach(self) -> int | None:
        """How many steps back the agent can remember: 0 (memoryless), a number of steps, or
        None (no fixed limit, e.g. a recurrent core). Recorded in its manifest; reports read
        it from there."""

    def memory(self) -> dict[str, Any]:
        """The manifest's ``memory`` entry: the reach and the inputs."""
        return {"reach": self.memory_reach, "inputs": list(self.inputs)}

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
