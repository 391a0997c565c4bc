"""Grid Return (``grid_return-v0``): spatial memory.

Agents on a map of smooth diggable obstacle blobs with ``num_goals`` goals. Entering a goal
gives +1 and teleports the agent to a uniformly random cell that was free when the map was
made (never a goal); the goal stays, so agents must remember where it is and come back.
Moving into a diggable wall removes it; the agent stays where it is and its next
``dig_timeout`` actions are ignored. Agents see each other and move through each other, not
through walls. Fixed-length episodes (truncated).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from pydantic import Field

from pmarl_bench.envs.base import TaskCard
from pmarl_bench.envs.grid.base import GridEnv
from pmarl_bench.envs.grid.core import (
    OVERLAY_MAX_WRITES,
    BlobMaps,
    CellTable,
    GridOptions,
    Tile,
    at,
    cell_table,
    mark_self,
    open_map,
    overlay_windows,
    pad_view,
    sample_cells,
    set_cells,
    targets,
    uniform_cells,
)
from pmarl_bench.envs.grid.oracle import flat, offsets
from pmarl_bench.types import Array, PRNGKey


class GridReturnOptions(GridOptions):
    num_agents: int = Field(1, ge=1)
    num_goals: int = Field(1, ge=1)
    dig_timeout: int = Field(5, ge=0, description="steps frozen after digging")
    wall_density: float = Field(0.35, ge=0.0, lt=0.9, description="share of diggable walls")

    @property
    def spawned(self) -> int:
        return self.num_agents + self.num_goals


class GridReturnState(NamedTuple):
    tiles: jax.Array  # uint8 [H, W]: EMPTY, WALL, DIGGABLE, GOAL
    pos: jax.Array  # int32 [A, 2]
    frozen: jax.Array  # int32 [A]: actions still to ignore
    free: CellTable  # teleport destinations: the cells free when the map was made
    t: jax.Array


class GridReturn(GridEnv):
    Options = GridReturnOptions
    options: GridReturnOptions
    tile_kinds = (Tile.EMPTY, Tile.WALL, Tile.DIGGABLE, Tile.GOAL, Tile.SELF, Tile.OTHER)

    def __init__(self, **options):
        super().__init__(**options)
        o = self.options
        self.num_agents = o.num_agents
        self.maps = BlobMaps(o.height, o.width, o.wall_density)

    def reset_env(self, key: PRNGKey, params: None) -> tuple[GridReturnState, Array]:
        o = self.options
        key_map, key_cells = jax.random.split(key)
        walls = self.maps.walls(key_map)
        tiles = jnp.where(walls, jnp.uint8(Tile.DIGGABLE), open_map(o.height, o.width))
        open_cells = tiles == Tile.EMPTY
        cells = sample_cells(key_cells, open_cells, o.num_goals + o.num_agents)
        goals, pos = cells[: o.num_goals], cells[o.num_goals :]
        tiles = tiles.at[goals[:, 0], goals[:, 1]].set(Tile.GOAL)
        zeros = jnp.zeros((o.num_agents,), jnp.int32)
        state = GridReturnState(tiles, pos, zeros, cell_table(tiles == Tile.EMPTY), jnp.int32(0))
        return state, self.observe(state)

    def step_env(
        self, key: PRNGKey, state: GridReturnState, actions: Array, params: None
    ) -> tuple[GridReturnState, Array, Array, Array, Array]:
        o = self.options
        active = state.frozen == 0
        target = targets(state.pos, actions)
        tile = at(state.tiles, target)
        digs = active & (tile == Tile.DIGGABLE)
        moves = active & (tile != Tile.WALL) & (tile != Tile.DIGGABLE)
        tiles = set_cells(state.tiles, target, digs, Tile.EMPTY)
        pos = jnp.where(moves[:, None], target, state.pos)
        frozen = jnp.where(digs, o.dig_timeout, jnp.maximum(state.frozen - 1, 0))
        reached = at(tiles, pos) == Tile.GOAL
        elsewhere = uniform_cells(jax.random.uniform(key, (o.num_agents,)), state.free)
        pos = jnp.where(reached[:, None], elsewhere, pos)
        t = state.t + 1
        new = GridReturnState(tiles, pos, frozen, state.free, t)
        reward = reached.astype(jnp.float32)
        return new, self.observe(new), reward, jnp.array(False), self._truncated(t)

    def card(self) -> TaskCard:
        why = "a goal seen once is worth returning to after every teleport"
        return self.episode_card(("spatial memory",), why)

    @property
    def oracle_size(self) -> int:
        return 2 * self.options.num_goals

    def oracle(self, state: GridReturnState, params: None) -> Array:
        """Each goal's offset from the agent (goals never move; row-major order)."""
        o = self.options
        goals = jnp.argwhere(state.tiles == Tile.GOAL, size=o.num_goals, fill_value=0)
        return flat(offsets(goals, state.pos, (o.height, o.width)))

    def scene(self, state: GridReturnState) -> Array:
        p = state.pos
        return state.tiles.at[p[:, 0], p[:, 1]].set(Tile.OTHER)

    def observe(self, state: GridReturnState) -> Array:
        o = self.options
        if o.num_agents**2 > OVERLAY_MAX_WRITES:
            return super().observe(state)
        # the scene's windows without drawing the agents into a copy of the map
        others = jnp.full((o.num_agents,), Tile.OTHER, jnp.uint8)
        padded = pad_view(state.tiles, o.view)
        return mark_self(overlay_windows(padded, state.pos, state.pos, others, o.view))

    def positions(self, state: GridReturnState) -> Array:
        return state.pos
