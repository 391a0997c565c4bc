"""Scouts: coordination between two roles (``scouts-v1``; ``scouts-v0`` below it).

``scouts-v1``, the specification's task: as v0 below, on a map with obstacle blobs of
permanent walls (``wall_density`` of the interior, default 0.35, every free cell connected;
each episode draws one of a fixed pool of ``map_pool`` seeded maps and flips it), where
treasures reappear on free cells only, each agent's own cell in its view shows its role
(``SCOUT`` or ``HARVESTER`` at the centre, where v0 showed every agent ``SELF``), and the
reward values are traced params (``ScoutsParams``), so they can be vmapped.

``scouts-v0`` (kept so published results reproduce):

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
from flax import struct
from pydantic import Field, model_validator

from pmarl_bench.envs.grid.base import GridEnv
from pmarl_bench.envs.grid.core import (
    OVERLAY_MAX_WRITES,
    CellTable,
    GridOptions,
    Tile,
    cell_table,
    mark_self,
    open_map,
    overlay_windows,
    pad_view,
    sample_cells,
    targets,
    uniform_cells,
    windows,
)
from pmarl_bench.envs.grid.obstacles import connected_wall_pool


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


# -- scouts-v1 -------------------------------------------------------------------------------
class ScoutsV1Options(GridOptions):
    num_scouts: int = Field(1, ge=1)
    num_harvesters: int = Field(1, ge=1)
    num_treasures: int = Field(1, ge=1)
    harvester_period: int = Field(6, ge=1)
    shared_reward: bool = False
    wall_density: float = Field(
        0.35, ge=0.0, le=0.6, description="interior share of permanent-wall obstacles"
    )
    map_pool: int = Field(256, ge=1, le=4096, description="seeded maps drawn from per episode")

    @model_validator(mode="after")
    def _fits(self):
        interior = (self.height - 2) * (self.width - 2)
        objects = self.num_scouts + self.num_harvesters + self.num_treasures
        if objects > (1 - self.wall_density) * interior * 0.5:
            raise ValueError(
                f"{objects} agents and treasures do not fit in the free half of a "
                f"{self.height}x{self.width} map at wall_density {self.wall_density}"
            )
        return self


@struct.dataclass
class ScoutsParams:
    harvester_reward: jax.Array = struct.field(default_factory=lambda: jnp.float32(1.0))
    scout_reward: jax.Array = struct.field(default_factory=lambda: jnp.float32(1.0))


class ScoutsV1State(NamedTuple):
    treasures: jax.Array  # int32 [N, 2]
    unlocked: jax.Array  # bool [N]
    pos: jax.Array  # int32 [A, 2]
    t: jax.Array
    padded: jax.Array  # uint8 [H + 2r, W + 2r]: this episode's map, padded by the view radius
    free: CellTable  # its free cells, for treasures that reappear


class ScoutsV1(Scouts):
    Options = ScoutsV1Options
    options: ScoutsV1Options  # type: ignore[assignment]

    def __init__(self, **options):
        GridEnv.__init__(self, **options)
        o = self.options
        self.num_agents = o.num_scouts + o.num_harvesters
        self.is_scout = jnp.arange(self.num_agents) < o.num_scouts
        self.roles = jnp.where(self.is_scout, jnp.uint8(Tile.SCOUT), jnp.uint8(Tile.HARVESTER))
        self.maps = jnp.asarray(connected_wall_pool(o.height, o.width, o.wall_density, o.map_pool))

    @property
    def default_params(self) -> ScoutsParams:
        return ScoutsParams()

    def reset_env(self, key, params):
        o = self.options
        key_map, key_flip, key_cells = jax.random.split(key, 3)
        tiles = self.maps[jax.random.randint(key_map, (), 0, o.map_pool)]
        flip = jax.random.bernoulli(key_flip, 0.5, (2,))
        tiles = jnp.where(flip[0], tiles[::-1], tiles)
        tiles = jnp.where(flip[1], tiles[:, ::-1], tiles)
        free = tiles == Tile.EMPTY
        cells = sample_cells(key_cells, free, o.num_treasures + self.num_agents)
        state = ScoutsV1State(
            cells[: o.num_treasures],
            jnp.zeros((o.num_treasures,), bool),
            cells[o.num_treasures :],
            jnp.int32(0),
            pad_view(tiles, o.view),
            cell_table(free),
        )
        return state, self.observe(state)

    def step_env(self, key, state, actions, params):
        o = self.options
        r = o.view // 2
        can_move = self.is_scout | (state.t % o.harvester_period == 0)
        target = targets(state.pos, actions)
        blocked = state.padded[target[:, 0] + r, target[:, 1] + r] == Tile.WALL
        pos = jnp.where((can_move & ~blocked)[:, None], target, state.pos)
        moved = (pos != state.pos).any(-1)
        on = (pos[:, None, :] == state.treasures[None]).all(-1) & moved[:, None]  # [A, N]
        unlocks = on & ~self.is_scout[:, None] & ~state.unlocked[None]
        gathers = on & self.is_scout[:, None] & state.unlocked[None]
        reward = unlocks.any(-1) * params.harvester_reward + gathers.any(-1) * params.scout_reward
        reward = reward.astype(jnp.float32)
        if o.shared_reward:
            reward = jnp.full_like(reward, reward.sum())
        gathered = gathers.any(0)
        unlocked = (state.unlocked | unlocks.any(0)) & ~gathered
        fresh = self._free_cells_v1(key, state.treasures, state.free)
        treasures = jnp.where(gathered[:, None], fresh, state.treasures)
        t = state.t + 1
        new = state._replace(treasures=treasures, unlocked=unlocked, pos=pos, t=t)
        return new, self.observe(new), reward, jnp.array(False), self._truncated(t)

    def _free_cells_v1(self, key, treasures, free: CellTable, draws: int = 4):
        """One free cell per treasure: of ``draws`` uniform free cells, the first that holds
        no treasure (the last draw if all do)."""
        u = jax.random.uniform(key, (self.options.num_treasures * draws,))
        cells = uniform_cells(u, free).reshape(-1, draws, 2)  # [N, draws, 2]
        taken = (cells[:, :, None, :] == treasures[None, None]).all(-1).any(-1)
        first = jnp.argmin(taken.at[:, -1].set(False), axis=1)
        return jnp.take_along_axis(cells, first[:, None, None], axis=1)[:, 0]

    def _tiles(self, state):
        r = self.options.view // 2
        return state.padded[r:-r, r:-r] if r else state.padded

    def scene(self, state):
        tr, p = state.treasures, state.pos
        kinds = jnp.where(state.unlocked, jnp.uint8(Tile.UNLOCKED), jnp.uint8(Tile.LOCKED))
        tiles = self._tiles(state).at[tr[:, 0], tr[:, 1]].set(kinds)
        return tiles.at[p[:, 0], p[:, 1]].set(self.roles)

    def observe(self, state):
        cells, kinds = self._objects(state)
        v = self.options.view
        if self.num_agents * len(kinds) > OVERLAY_MAX_WRITES:
            obs = windows(self.scene(state), state.pos, v)
        else:
            obs = overlay_windows(state.padded, state.pos, cells, kinds, v)
        c = v // 2
        return obs.at[:, c, c].set(self.roles)  # its own cell shows its role
