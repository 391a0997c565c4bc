"""Memoryless baseline: an MLP over the current input (empty carry)."""

from __future__ import annotations

from typing import Literal

import jax.numpy as jnp
from flax import nnx
from pydantic import Field

from pmarl_bench.agents.base import Agent, AgentConfig, register_agent
from pmarl_bench.agents.heads import PolicyValueHeads
from pmarl_bench.agents.torso import ACTIVATIONS, Activation, InputEncoder
from pmarl_bench.types import AgentInput, AgentOutput


class MLPConfig(AgentConfig):
    kind: Literal["mlp"] = "mlp"
    width: int = Field(128, gt=0, description="hidden width")
    depth: int = Field(2, ge=1, description="hidden layers, the input embedding included")
    activation: Activation = "relu"
    separate_value: bool = Field(
        False,
        description="give the value head a torso of its own (same width and depth) instead of "
        "sharing the policy's",
    )


class MLPNet(nnx.Module):
    def __init__(self, cfg: MLPConfig, obs_space, num_actions: int, rngs: nnx.Rngs):
        self.act = ACTIVATIONS[cfg.activation]
        self.encoder = InputEncoder(obs_space, num_actions, cfg.width, rngs, cfg.inputs)
        self.hidden = _hidden(cfg, rngs)
        self.separate_value = cfg.separate_value
        if cfg.separate_value:
            self.value_encoder = InputEncoder(obs_space, num_actions, cfg.width, rngs, cfg.inputs)
            self.value_hidden = _hidden(cfg, rngs)
        self.heads = PolicyValueHeads(cfg.width, num_actions, rngs, cfg.value_head)

    def _torso(self, encoder, hidden, inputs: AgentInput):
        h = self.act(encoder(inputs))
        for layer in hidden:
            h = self.act(layer(h))
        return h

    def __call__(self, inputs: AgentInput) -> AgentOutput:
        h = self._torso(self.encoder, self.hidden, inputs)
        h_value = None
        if self.separate_value:
            h_value = self._torso(self.value_encoder, self.value_hidden, inputs)
        return self.heads(h, h_value)


def _hidden(cfg: MLPConfig, rngs: nnx.Rngs) -> nnx.List:
    return nnx.List([nnx.Linear(cfg.width, cfg.width, rngs=rngs) for _ in range(cfg.depth - 1)])


@register_agent("mlp")
class MLPAgent(Agent):
    Config = MLPConfig
    config: MLPConfig

    def build(self, rngs: nnx.Rngs) -> MLPNet:
        return MLPNet(self.config, self.obs_space, self.action_space.n, rngs)

    core_reach = 0

    def initial_carry(self, batch: int):
        return jnp.zeros((batch, 0), jnp.float32)  # no memory

    def step(self, params, carry, inputs):
        return carry, self.module(params)(inputs)

    def unroll(self, params, carry, inputs):
        return carry, self.module(params)(inputs)  # the same network at every time step
