"""Scouts: coordination between two roles (``scouts-v1``; ``scouts-v0`` below it).

``scouts-v1``, the specification's task: as v0 below, on a map with obstacle blobs of
permanent walls (``wall_density`` of the interior, default 0.35, every free cell connected;
each episode draws one of a fixed pool of ``map_pool`` seeded maps, flipped or not), where
treasures reappear on free cells only (rejection sampling), each agent's own cell in its view
shows its role (``SCOUT`` or ``HARVESTER`` at the centre, where v0 showed every agent
``SELF``), and the reward values are traced params (``ScoutsParams``), so they can be vmapped.

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

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from pydantic import Field, model_validator

from pmarl_bench.envs.base import HostArray, TaskCard
from pmarl_bench.envs.grid.base import GridEnv
from pmarl_bench.envs.grid.core import (
    OVERLAY_MAX_WRITES,
    CellTable,
    GridOptions,
    Tile,
    mark_self,
    open_map,
    overlay,
    overlay_windows,
    sample_cells,
    sample_table_cells,
    targets,
    windows,
)
from pmarl_bench.envs.grid.obstacles import connected_wall_pool
from pmarl_bench.envs.grid.oracle import flat, offsets, other_agents
from pmarl_bench.types import Array, PRNGKey


class ScoutsOptions(GridOptions):
    num_scouts: int = Field(1, ge=1)
    num_harvesters: int = Field(1, ge=1)
    num_treasures: int = Field(1, ge=1)
    harvester_period: int = Field(6, ge=1)
    harvester_reward: float = 1.0
    scout_reward: float = 1.0
    shared_reward: bool = False

    @property
    def spawned(self) -> int:
        return self.num_scouts + self.num_harvesters + self.num_treasures


class ScoutsState(NamedTuple):
    treasures: jax.Array  # int32 [N, 2]
    unlocked: jax.Array  # bool [N]
    pos: jax.Array  # int32 [A, 2]
    t: jax.Array


class Scouts(GridEnv):
    Options = ScoutsOptions
    options: ScoutsOptions
    # built on the host: no device array until a program reads them
    is_scout = HostArray()
    tiles = HostArray()
    padded = HostArray()

    def __init__(self, **options):
        super().__init__(**options)
        o = self.options
        self.num_agents = o.num_scouts + o.num_harvesters
        self.is_scout = np.arange(self.num_agents) < o.num_scouts
        self.partners = (0,) * o.num_scouts + (1,) * o.num_harvesters  # cross-play by role
        self.tiles = open_map(o.height, o.width)
        self.padded = np.pad(open_map(o.height, o.width), o.view // 2, constant_values=Tile.WALL)

    def reset_env(self, key: PRNGKey, params: Any) -> tuple[Any, Array]:
        o = self.options
        cells = sample_cells(key, self.tiles == Tile.EMPTY, o.num_treasures + self.num_agents)
        state = ScoutsState(
            cells[: o.num_treasures],
            jnp.zeros((o.num_treasures,), bool),
            cells[o.num_treasures :],
            jnp.int32(0),
        )
        return state, self.observe(state)

    def step_env(
        self, key: PRNGKey, state: Any, actions: Array, params: Any
    ) -> tuple[Any, Array, Array, Array, Array]:
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

    def scene(self, state: Any) -> Array:
        tr, p = state.treasures, state.pos
        kinds = jnp.where(state.unlocked, jnp.uint8(Tile.UNLOCKED), jnp.uint8(Tile.LOCKED))
        tiles = self.tiles.at[tr[:, 0], tr[:, 1]].set(kinds)
        roles = jnp.where(self.is_scout, jnp.uint8(Tile.SCOUT), jnp.uint8(Tile.HARVESTER))
        return tiles.at[p[:, 0], p[:, 1]].set(roles)

    def observe(self, state: Any) -> Array:
        cells, kinds = self._objects(state)
        if self.num_agents * len(kinds) > OVERLAY_MAX_WRITES:
            return super().observe(state)
        # the map never changes: slice it and write the few objects in view
        o = self.options
        return mark_self(overlay_windows(self.padded, state.pos, cells, kinds, o.view))

    def positions(self, state: Any) -> Array:
        return state.pos

    def card(self) -> TaskCard:
        why = "where treasures were seen, and whether the other role has been there"
        tests = ("roles", "spatial memory", "object tracking")
        return self.episode_card(tests, why)

    @property
    def oracle_size(self) -> int:
        return 3 * self.options.num_treasures + 3 * (self.num_agents - 1)

    def oracle(self, state: Any, params: Any) -> Array:
        """Each treasure's offset and lock state, then each other agent's offset and role
        (1: scout)."""
        o = self.options
        shape = (o.height, o.width)
        unlocked = jnp.broadcast_to(state.unlocked, (self.num_agents, len(state.unlocked)))
        treasures = jnp.concatenate(
            [offsets(state.treasures, state.pos, shape), unlocked[..., None]], axis=-1
        )
        idx, rel = other_agents(state.pos, shape)
        return flat(treasures, jnp.concatenate([rel, self.is_scout[idx][..., None]], axis=-1))


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
    harvester_reward: jax.Array = struct.field(default_factory=lambda: np.float32(1.0))
    scout_reward: jax.Array = struct.field(default_factory=lambda: np.float32(1.0))


class ScoutsV1State(NamedTuple):
    treasures: jax.Array  # int32 [N, 2]
    unlocked: jax.Array  # bool [N]
    pos: jax.Array  # int32 [A, 2]
    t: jax.Array
    map_id: jax.Array  # int32: this episode's map in the env's pool (flips included)


class ScoutsV1(Scouts):
    Options = ScoutsV1Options  # type: ignore[assignment]  # v1 options are not v0 options
    options: ScoutsV1Options  # type: ignore[assignment]
    roles = HostArray()
    padded_maps = HostArray()
    free_in_row = HostArray()
    free_row_end = HostArray()
    first_free = HostArray()

    def __init__(self, **options):
        GridEnv.__init__(self, **options)
        o = self.options
        r = o.view // 2
        self.num_agents = o.num_scouts + o.num_harvesters
        is_scout = np.arange(self.num_agents) < o.num_scouts
        self.is_scout = is_scout
        self.partners = (0,) * o.num_scouts + (1,) * o.num_harvesters  # cross-play by role
        self.roles = np.where(is_scout, np.uint8(Tile.SCOUT), np.uint8(Tile.HARVESTER))
        # the pool and its flips, padded for views, with each map's free-cell table: an
        # episode keeps only its map's number (no map rides in the state)
        pool = connected_wall_pool(o.height, o.width, o.wall_density, o.map_pool)
        maps = np.concatenate([pool, pool[:, ::-1], pool[:, :, ::-1], pool[:, ::-1, ::-1]])
        self.num_maps = len(maps)
        padded = np.pad(maps, ((0, 0), (r, r), (r, r)), constant_values=Tile.WALL)
        self.padded_maps = padded
        in_row = np.cumsum(maps == Tile.EMPTY, axis=2, dtype=np.int16)
        self.free_in_row = in_row  # [M, H, W]
        self.free_row_end = np.cumsum(in_row[:, :, -1], axis=1, dtype=np.int32)
        first = (maps == Tile.EMPTY).reshape(len(maps), -1).argmax(1)
        self.first_free = np.stack(np.divmod(first, o.width), -1).astype(np.int32)

    @property
    def default_params(self) -> ScoutsParams:
        return ScoutsParams()

    def _free(self, map_id) -> CellTable:
        return CellTable(self.free_in_row[map_id], self.free_row_end[map_id])

    def reset_env(self, key: PRNGKey, params: ScoutsParams) -> tuple[ScoutsV1State, Array]:
        o = self.options
        key_map, key_cells = jax.random.split(key)
        map_id = jax.random.randint(key_map, (), 0, self.num_maps)
        cells = sample_table_cells(key_cells, self._free(map_id), o.num_treasures + self.num_agents)
        state = ScoutsV1State(
            cells[: o.num_treasures],
            jnp.zeros((o.num_treasures,), bool),
            cells[o.num_treasures :],
            jnp.int32(0),
            map_id,
        )
        return state, self.observe(state)

    def step_env(
        self, key: PRNGKey, state: ScoutsV1State, actions: Array, params: ScoutsParams
    ) -> tuple[ScoutsV1State, Array, Array, Array, Array]:
        o = self.options
        r = o.view // 2
        can_move = self.is_scout | (state.t % o.harvester_period == 0)
        target = targets(state.pos, actions)
        blocked = self.padded_maps[state.map_id, target[:, 0] + r, target[:, 1] + r] == Tile.WALL
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
        fresh = self._free_cells_v1(key, state.treasures, state.map_id)
        treasures = jnp.where(gathered[:, None], fresh, state.treasures)
        t = state.t + 1
        new = state._replace(treasures=treasures, unlocked=unlocked, pos=pos, t=t)
        return new, self.observe(new), reward, jnp.array(False), self._truncated(t)

    def _free_cells_v1(self, key, treasures, map_id, draws: int = 8):
        """One free cell per treasure: of ``draws`` uniform interior cells, the first that is
        neither wall nor treasure (uniform over those cells: rejection sampling, a few bytes
        read per draw); if all ``draws`` miss (0.35^8 = 0.02% at the default density), the
        map's first free cell."""
        o = self.options
        r, inner = o.view // 2, o.width - 2
        n = (o.height - 2) * inner
        u = jax.random.uniform(key, (o.num_treasures, draws))
        i = jnp.minimum((u * n).astype(jnp.int32), n - 1)
        cells = jnp.stack([1 + i // inner, 1 + i % inner], axis=-1)  # [N, draws, 2]
        wall = self.padded_maps[map_id, cells[..., 0] + r, cells[..., 1] + r] == Tile.WALL
        taken = wall | (cells[:, :, None, :] == treasures[None, None]).all(-1).any(-1)
        first = jnp.argmax(~taken, axis=1)
        chosen = jnp.take_along_axis(cells, first[:, None, None], axis=1)[:, 0]
        return jnp.where((~taken).any(1)[:, None], chosen, self.first_free[map_id])

    def _tiles(self, state):
        o = self.options
        r = o.view // 2
        return jax.lax.dynamic_slice(
            self.padded_maps, (state.map_id, r, r), (1, o.height, o.width)
        )[0]

    def scene(self, state: ScoutsV1State) -> Array:
        tr, p = state.treasures, state.pos
        kinds = jnp.where(state.unlocked, jnp.uint8(Tile.UNLOCKED), jnp.uint8(Tile.LOCKED))
        tiles = self._tiles(state).at[tr[:, 0], tr[:, 1]].set(kinds)
        return tiles.at[p[:, 0], p[:, 1]].set(self.roles)

    def observe(self, state: ScoutsV1State) -> Array:
        cells, kinds = self._objects(state)
        v = self.options.view
        if self.num_agents * len(kinds) > OVERLAY_MAX_WRITES:
            obs = windows(self.scene(state), state.pos, v)
        else:  # the windows cut straight from the pool's map, then the few objects in view
            crop = lambda p: jax.lax.dynamic_slice(
                self.padded_maps, (state.map_id, p[0], p[1]), (1, v, v)
            )[0]
            obs = overlay(jax.vmap(crop)(state.pos), state.pos, cells, kinds)
        c = v // 2
        return obs.at[:, c, c].set(self.roles)  # its own cell shows its role
