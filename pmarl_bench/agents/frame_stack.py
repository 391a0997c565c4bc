"""Short-memory control: an MLP over the last ``frames`` inputs, the classic frame stack. With
the observation as its only input (the control's baseline file) it remembers exactly
``frames - 1`` steps back, so a task it solves needs no longer memory than that; a stacked
previous action would carry whatever its policy wrote into it, however far back.

Each input is embedded by the shared encoder (``frame_width`` wide, 32 by default, so the
window of 4 costs what the MLP's first layer does); the carry holds the last ``frames - 1``
embeddings (zeros before an episode's first step), and the first hidden layer reads the
whole window, so it knows which frame is which.
"""

from __future__ import annotations

from typing import Literal

import jax
import jax.numpy as jnp
from flax import nnx
from pydantic import Field

from pmarl_bench.agents.base import Agent, AgentConfig, register_agent
from pmarl_bench.agents.heads import PolicyValueHeads
from pmarl_bench.agents.torso import ACTIVATIONS, Activation, InputEncoder


class FrameStackConfig(AgentConfig):
    kind: Literal["frame_stack"] = "frame_stack"
    frames: int = Field(4, ge=1, description="inputs seen at once: this step and frames-1 back")
    frame_width: int = Field(
        32, gt=0, description="each frame's embedding (the window is frames x frame_width)"
    )
    width: int = Field(128, gt=0, description="hidden width")
    depth: int = Field(2, ge=1, description="hidden layers, the window's own included")
    activation: Activation = "relu"


class FrameStackNet(nnx.Module):
    def __init__(self, cfg: FrameStackConfig, obs_space, num_actions: int, rngs: nnx.Rngs):
        self.act = ACTIVATIONS[cfg.activation]
        self.encoder = InputEncoder(obs_space, num_actions, cfg.frame_width, rngs, cfg.inputs)
        self.window = nnx.Linear(cfg.frames * cfg.frame_width, cfg.width, rngs=rngs)
        self.hidden = nnx.List(
            [nnx.Linear(cfg.width, cfg.width, rngs=rngs) for _ in range(cfg.depth - 1)]
        )
        self.heads = PolicyValueHeads(cfg.width, num_actions, rngs, cfg.value_head)

    def __call__(self, frames: jax.Array):
        """``frames [..., F, width]``, oldest first -> the heads' output."""
        h = self.act(self.window(frames.reshape(*frames.shape[:-2], -1)))
        for layer in self.hidden:
            h = self.act(layer(h))
        return self.heads(h)


@register_agent("frame_stack")
class FrameStackAgent(Agent):
    Config = FrameStackConfig
    config: FrameStackConfig

    def build(self, rngs: nnx.Rngs) -> FrameStackNet:
        return FrameStackNet(self.config, self.obs_space, self.action_space.n, rngs)

    @property
    def core_reach(self) -> int:
        return self.config.frames - 1  # the window: this step and frames - 1 back

    def initial_carry(self, batch: int) -> jax.Array:
        return jnp.zeros((batch, self.config.frames - 1, self.config.frame_width), jnp.float32)

    def step(self, params, carry, inputs):
        net = self.module(params)
        carry = jnp.where(inputs.start[:, None, None], 0.0, carry)  # a new episode: no past
        frames = jnp.concatenate([carry, net.encoder(inputs)[:, None]], axis=1)
        return frames[:, 1:], net(frames)

    def unroll(self, params, carry, inputs):
        """All windows at once: frame ``j`` steps back is the embedding of step ``t - j``
        (from the carry before the sequence), zero where an episode started after it."""
        net = self.module(params)
        k = self.config.frames
        x = net.encoder(inputs)  # [T, B, W]
        steps = x.shape[0]
        past = jnp.concatenate([jnp.moveaxis(carry, 1, 0), x], axis=0)  # [k - 1 + T, B, W]
        t = jnp.arange(steps)[:, None]
        # steps since this episode's start (starts before the sequence: all k-1 carried
        # frames are kept, the carry itself is zero where they were cleared)
        last_start = jax.lax.cummax(jnp.where(inputs.start, t, -k), axis=0)
        age = t - last_start  # [T, B]
        lags = range(k - 1, -1, -1)  # oldest first
        # slices, not a gather: frame ``lag`` steps back of steps 0..T-1
        frames = jnp.stack([past[k - 1 - lag : k - 1 - lag + steps] for lag in lags], axis=2)
        valid = jnp.arange(k - 1, -1, -1)[None, None, :] <= age[:, :, None]
        frames = jnp.where(valid[..., None], frames, 0.0)
        return frames[-1, :, 1:], net(frames)  # frames: [T, B, k, W]
