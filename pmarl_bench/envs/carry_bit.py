"""Carry a bit (``carry_bit-v0``): a diagnostic with known answers, one bit carried
``delay`` steps.

Step 0 shows a cue, 0 or 1 (drawn per episode); the next ``delay - 1`` steps show nothing;
step ``delay`` shows a query, and the answer to it (action ``zero`` or ``one``) is rewarded 1
when it names the cue. Actions before the query do nothing. The episode is ``delay + 1`` steps.

Chance and the best memoryless policy score 0.5 (at the query the observation says nothing of
the cue); perfect memory scores 1. A memoryless policy that also reads its previous action
can score 1 by repeating the cue in its actions: the task tells a memoryless control from one
with a memory channel.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from pydantic import Field

from pmarl_bench.envs.base import Environment, EnvOptions, ScoreLevels, TaskCard
from pmarl_bench.envs.spaces import Box, Discrete
from pmarl_bench.types import Array, PRNGKey


class CarryBitOptions(EnvOptions):
    delay: int = Field(4, ge=1, le=512, description="steps from the cue to the query")


class CarryBitState(NamedTuple):
    cue: jax.Array  # int32, 0 or 1
    t: jax.Array  # int32 step of the episode


#: observation parts: cue is 0, cue is 1, query
CUE_ZERO, CUE_ONE, QUERY = 0, 1, 2


class CarryBit(Environment[CarryBitState, None]):
    Options = CarryBitOptions
    options: CarryBitOptions
    action_names = ("zero", "one")
    fixed_length = True

    def __init__(self, **options):
        super().__init__(**options)
        self.num_agents = 1
        self.observation_space = Box(0.0, 1.0, (3,), "float32")
        self.action_space = Discrete(2)
        self.max_episode_steps = self.options.delay + 1

    @property
    def default_params(self) -> None:
        return None

    def score_levels(self, params=None) -> ScoreLevels:
        return ScoreLevels(chance=0.5, memoryless=0.5, optimal=1.0)

    def card(self) -> TaskCard:
        d = self.options.delay
        return TaskCard(("sequential recall",), d, f"{d} steps (from the cue to the query)")

    def _obs(self, state: CarryBitState) -> Array:
        shown = jax.nn.one_hot(state.cue, 2) * (state.t == 0)
        query = (state.t == self.options.delay).astype(jnp.float32)
        return jnp.concatenate([shown, query[None]]).astype(jnp.float32)[None]

    def reset_env(self, key: PRNGKey, params: None) -> tuple[CarryBitState, Array]:
        state = CarryBitState(jax.random.bernoulli(key).astype(jnp.int32), jnp.int32(0))
        return state, self._obs(state)

    def step_env(self, key: PRNGKey, state: CarryBitState, actions: Array, params: None):
        asked = state.t == self.options.delay
        reward = (asked & (actions[0] == state.cue)).astype(jnp.float32)[None]
        state = CarryBitState(state.cue, state.t + 1)
        truncated = state.t > self.options.delay
        return state, self._obs(state), reward, jnp.array(False), truncated

    # -- the full-state oracle (``observe: oracle_state``): the cue itself ------------------
    oracle_bounds = (0.0, 1.0)

    @property
    def oracle_size(self) -> int:
        return 2

    def oracle(self, state: CarryBitState, params: None) -> Array:
        return jax.nn.one_hot(state.cue, 2)[None]

    # -- rendering -----------------------------------------------------------------------
    def render(self, state: CarryBitState, params=None, cell_px: int = 16) -> Array:
        """The episode's steps left to right: the cue's colour in the first cell, the query's
        cell framed, the current step lit."""
        d = self.options.delay
        cols = jnp.arange(d + 1)
        cue = jnp.where(state.cue == 1, jnp.array([236, 178, 28]), jnp.array([60, 120, 220]))
        base = jnp.where((cols == d)[:, None], jnp.array([90, 90, 90]), jnp.array([30, 30, 34]))
        row = jnp.where((cols == 0)[:, None], cue, base)
        row = jnp.where((cols == state.t)[:, None], row + 50, row)
        img = jnp.repeat(jnp.repeat(row[None], cell_px, 0), cell_px, 1)
        return jnp.clip(img, 0, 255).astype(jnp.uint8)

    def render_pov(self, state: CarryBitState, agent: int = 0, cell_px: int = 16) -> Array:
        """What the agent sees: the cue's colour at step 0, grey at the query, else dark."""
        obs = self._obs(state)[0]
        colour = (
            obs[CUE_ZERO] * jnp.array([60, 120, 220])
            + obs[CUE_ONE] * jnp.array([236, 178, 28])
            + obs[QUERY] * jnp.array([90, 90, 90])
        )
        colour = jnp.where(obs.sum() > 0, colour, jnp.array([30, 30, 34]))
        return jnp.broadcast_to(colour, (cell_px, cell_px, 3)).astype(jnp.uint8)
