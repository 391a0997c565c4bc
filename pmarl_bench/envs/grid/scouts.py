"""Scouts (``scouts-v0``): coordination between two roles.

Scouts move every step; harvesters' moves take effect only on steps ``t`` (0-based, counted
from the episode start) with ``t % harvester_period == 0``. Treasures start locked. A
harvester entering a locked treasure gets ``harvester_reward`` and unlocks it. A scout
entering an unlocked treasure gets ``scout_reward`` and gathers it; a new locked treasure
then appears at a random interior cell without a treasure (the first such of 4 uniform
draws, else the last). Each agent entering a treasure that step is rewarded (a
treasure's state is read at the start of the step). Agents and treasures start at distinct
random cells; agents move through each other. Permanent walls only (an open map).
Agents ``0 .. num_scouts - 1`` are scouts, the rest harvesters; others appear as ``SCOUT`` /
``HARVESTER`` tiles, each agent sees itself as ``SELF``. With ``shared_reward`` every agent
gets the team's total.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from pydantic import Field

from pmarl_bench.envs.grid.base import GridEnv
from pmarl_bench.envs.grid.core import (
    OVERLAY_MAX_WRITES,
    GridOptions,
    Tile,
    mark_self,
    open_map,
    overlay_windows,
    pad_view,
    sample_cells,
    targets,
)


class ScoutsOptions(GridOptions):
    num_scouts: int = Field(1, ge=1)
    num_harvesters: int = Field(1, ge=1)
    num_treasures: int = Field(1, ge=1)
    harvester_period: int = Field(6, ge=1)
    harvester_reward: float = 1.0
    scout_reward: float = 1.0
    shared_reward: bool = False


class ScoutsState(NamedTuple):
    treasures: jax.Array  # int32 [N, 2]
    unlocked: jax.Array  # bool [N]
    pos: jax.Array  # int32 [A, 2]
    t: jax.Array


class Scouts(GridEnv):
    Options = ScoutsOptions
    options: ScoutsOptions

    def __init__(self, **options):
        super().__init__(**options)
        o = self.options
        self.num_agents = o.num_scouts + o.num_harvesters
        self.is_scout = jnp.arange(self.num_agents) < o.num_scouts
        self.tiles = open_map(o.height, o.width)
        self.padded = pad_view(self.tiles, o.view)

    def reset_env(self, key, params):
        o = self.options
        cells = sample_cells(key, self.tiles == Tile.EMPTY, o.num_treasures + self.num_agents)
        state = ScoutsState(
            cells[: o.num_treasures],
            jnp.zeros((o.num_treasures,), bool),
            cells[o.num_treasures :],
            jnp.int32(0),
        )
        return state, self.observe(state)

    def step_env(self, key, state, actions, params):
        o = self.options
        can_move = self.is_scout | (state.t % o.harvester_period == 0)
        target = targets(state.pos, actions)
        blocked = self.tiles[target[:, 0], target[:, 1]] == Tile.WALL
        pos = jnp.where((can_move & ~blocked)[:, None], target, state.pos)
        moved = (pos != state.pos).any(-1)
        on = (pos[:, None, :] == state.treasures[None]).all(-1) & moved[:, None]  # [A, N]
        unlocks = on & ~self.is_scout[:, None] & ~state.unlocked[None]
        gathers = on & self.is_scout[:, None] & state.unlocked[None]
        reward = unlocks.any(-1) * jnp.float32(o.harvester_reward) + gathers.any(-1) * jnp.float32(
            o.scout_reward
        )
        if o.shared_reward:
            reward = jnp.full_like(reward, reward.sum())
        gathered = gathers.any(0)
        unlocked = (state.unlocked | unlocks.any(0)) & ~gathered
        # a gathered treasure reappears, locked (a few draws are cheaper than one over all cells)
        fresh = self._free_cells(key, state.treasures)
        treasures = jnp.where(gathered[:, None], fresh, state.treasures)
        t = state.t + 1
        new = ScoutsState(treasures, unlocked, pos, t)
        return new, self.observe(new), reward, jnp.array(False), self._truncated(t)

    def _free_cells(self, key, treasures, draws: int = 4):
        """One cell per treasure: of ``draws`` uniform interior cells, the first that holds
        no treasure (the last draw if all do)."""
        o = self.options
        inner = o.width - 2
        u = jax.random.uniform(key, (o.num_treasures, draws))
        n = (o.height - 2) * inner
        i = jnp.minimum((u * n).astype(jnp.int32), n - 1)
        cells = jnp.stack([1 + i // inner, 1 + i % inner], axis=-1)  # [N, draws, 2]
        taken = (cells[:, :, None, :] == treasures[None, None]).all(-1).any(-1)
        first = jnp.argmin(taken.at[:, -1].set(False), axis=1)
        return jnp.take_along_axis(cells, first[:, None, None], axis=1)[:, 0]

    def _objects(self, state):
        """Treasures, then agents (drawn over them): cells ``[O, 2]`` and tiles ``[O]``."""
        kinds = jnp.where(state.unlocked, jnp.uint8(Tile.UNLOCKED), jnp.uint8(Tile.LOCKED))
        roles = jnp.where(self.is_scout, jnp.uint8(Tile.SCOUT), jnp.uint8(Tile.HARVESTER))
        cells = jnp.concatenate([state.treasures, state.pos])
        return cells, jnp.concatenate([kinds, roles])

    def scene(self, state):
        tr, p = state.treasures, state.pos
        kinds = jnp.where(state.unlocked, jnp.uint8(Tile.UNLOCKED), jnp.uint8(Tile.LOCKED))
        tiles = self.tiles.at[tr[:, 0], tr[:, 1]].set(kinds)
        roles = jnp.where(self.is_scout, jnp.uint8(Tile.SCOUT), jnp.uint8(Tile.HARVESTER))
        return tiles.at[p[:, 0], p[:, 1]].set(roles)

    def observe(self, state):
        cells, kinds = self._objects(state)
        if self.num_agents * len(kinds) > OVERLAY_MAX_WRITES:
            return super().observe(state)
        # the map never changes: slice it and write the few objects in view
        o = self.options
        return mark_self(overlay_windows(self.padded, state.pos, cells, kinds, o.view))

    def positions(self, state):
        return state.pos
