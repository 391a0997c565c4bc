"""Shared grid-world pieces: the tile vocabulary, actions, options, cheap map generation,
free-cell sampling, egocentric view windows and moves.

Coordinates are ``(row, col)`` with row 0 at the top: ``up`` decreases the row. The map has a
border of permanent walls; cells outside it read as permanent wall in views.
"""

from __future__ import annotations

from enum import IntEnum
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from pydantic import Field, field_validator, model_validator

from pmarl_bench.envs.base import EnvOptions, HostArray


class Tile(IntEnum):
    """One vocabulary for every grid task (team-dependent ids are egocentric)."""

    EMPTY = 0
    WALL = 1  # permanent
    DIGGABLE = 2
    GOAL = 3  # goal / flag
    LOCKED = 4  # locked treasure
    UNLOCKED = 5  # unlocked treasure
    SELF = 6
    OTHER = 7  # another agent (tasks without roles)
    SCOUT = 8
    HARVESTER = 9
    ALLY_KNIGHT = 10
    ALLY_ARCHER = 11
    ENEMY_KNIGHT = 12
    ENEMY_ARCHER = 13
    NEUTRAL_POINT = 14
    OUR_POINT = 15
    THEIR_POINT = 16
    ARROW = 17


NUM_TILES = len(Tile)

MOVES = ("up", "right", "down", "left")
FULL_ACTIONS = (*MOVES, "stay", "attack", "dig")
UP, RIGHT, DOWN, LEFT, STAY, ATTACK, DIG = range(7)
# (drow, dcol) per action; non-move actions stand still
# (a host array: importing the envs starts no JAX backend; index it as jnp.asarray(DELTAS))
DELTAS = np.array([[-1, 0], [0, 1], [1, 0], [0, -1], [0, 0], [0, 0], [0, 0]], np.int32)


#: the largest map side (the origin's GPU maps are 40; a 1024-side map of 4,096 envs is 4 GB)
MAX_SIDE = 1024


class GridOptions(EnvOptions):
    width: int = Field(40, ge=5, le=MAX_SIDE, description="map width W, border walls included")
    height: int = Field(40, ge=5, le=MAX_SIDE, description="map height H, border walls included")
    view: int = Field(5, ge=1, description="side V of each agent's square view (odd)")
    episode_length: int = Field(512, ge=1)

    @field_validator("view")
    @classmethod
    def _odd(cls, v: int) -> int:
        if v % 2 == 0:
            raise ValueError(f"view must be odd so the agent is at its centre (got {v})")
        return v

    @property
    def spawned(self) -> int:
        """Agents and objects placed on distinct free cells at reset (0: the task checks
        its own placement)."""
        return 0

    @model_validator(mode="after")
    def _fits_the_map(self):
        h, w = self.height, self.width
        if self.view > max(h, w):
            raise ValueError(f"view {self.view} is larger than the {h}x{w} map")
        density = getattr(self, "wall_density", 0.0)
        if self.spawned > (h - 2) * (w - 2) * (1 - density):
            raise ValueError(
                f"{self.spawned} agents and objects do not fit in the free cells of a {h}x{w} "
                f"map (wall_density {density})"
            )
        return self


def open_map(height: int, width: int) -> np.ndarray:
    """``uint8 [H, W]``: empty inside a border of permanent walls (a host array: a constant
    of any program that uses it)."""
    m = np.full((height, width), Tile.WALL, np.uint8)
    m[1:-1, 1:-1] = Tile.EMPTY
    return m


class BlobMaps:
    """Smooth random obstacle fields: coarse uniform noise, bilinearly upsampled (two small
    matmuls with fixed interpolation matrices), thresholded at a level calibrated once on
    the host so that about ``density`` of the interior is wall on average."""

    rows = HostArray()
    cols = HostArray()

    def __init__(self, height: int, width: int, density: float, scale: int = 5, seed: int = 0):
        self.shape = (height, width)
        self.coarse = (height // scale + 2, width // scale + 2)
        rows = _interpolation(height, self.coarse[0]).astype(np.float32)
        cols = _interpolation(width, self.coarse[1]).astype(np.float32)
        self.rows, self.cols = rows, cols
        rng = np.random.default_rng(seed)
        sample = rng.uniform(size=(256, *self.coarse))
        fields = np.einsum("hi,nij,wj->nhw", rows, sample, cols)
        self.threshold = float(np.quantile(fields[:, 1:-1, 1:-1], density))

    def walls(self, key: jax.Array) -> jax.Array:
        """``bool [H, W]``: interior obstacle cells (the border is not included)."""
        noise = jax.random.uniform(key, self.coarse)
        field = self.rows @ noise @ self.cols.T
        interior = jnp.zeros(self.shape, bool).at[1:-1, 1:-1].set(True)
        return (field < self.threshold) & interior


def _interpolation(out: int, coarse: int) -> np.ndarray:
    """``[out, coarse]`` linear-interpolation weights spanning the coarse grid."""
    pos = np.linspace(0, coarse - 1, out)
    lo = np.clip(np.floor(pos).astype(int), 0, coarse - 2)
    frac = pos - lo
    w = np.zeros((out, coarse), np.float32)
    w[np.arange(out), lo] = 1 - frac
    w[np.arange(out), lo + 1] = frac
    return w


class CellTable(NamedTuple):
    """A set of cells numbered ``0 .. count - 1`` in row-major order, so that a draw costs a
    search over rows and one over a row instead of a pass over the whole map."""

    in_row: jax.Array  # int16 [H, W]: cells of the set in this row up to this column
    row_end: jax.Array  # int32 [H]: cells of the set in rows 0..r

    @property
    def count(self) -> jax.Array:  # type: ignore[override]  # shadows tuple.count on purpose
        return self.row_end[-1]


def cell_table(allowed: jax.Array) -> CellTable:
    in_row = jnp.cumsum(allowed, axis=1, dtype=jnp.int16)  # small: it rides in the env state
    return CellTable(in_row, jnp.cumsum(in_row[:, -1], dtype=jnp.int32))


def table_cells(table: CellTable, i: jax.Array) -> jax.Array:
    """Cells number ``i [n]`` of the table -> ``int32 [n, 2]``."""
    row = (table.row_end[None, :] <= i[:, None]).sum(-1)
    before = jnp.where(row > 0, table.row_end[row - 1], 0)
    col = (table.in_row[row] <= (i - before)[:, None]).sum(-1)
    return jnp.stack([row, col], axis=-1).astype(jnp.int32)


def uniform_cells(u: jax.Array, table: CellTable) -> jax.Array:
    """Uniforms ``u [n]`` in [0, 1) -> ``n`` cells drawn uniformly, with replacement."""
    return table_cells(table, jnp.minimum((u * table.count).astype(jnp.int32), table.count - 1))


def sample_cells(key: jax.Array, allowed: jax.Array, k: int) -> jax.Array:
    """``k`` distinct cells, a uniformly random ordered sample of ``allowed [H, W]`` ->
    ``int32 [k, 2]`` (the map must have at least ``k`` allowed cells).

    Floyd's algorithm on cell numbers, then a shuffle: ``2k`` random numbers instead of one
    per cell, which keeps resets cheap."""
    return sample_table_cells(key, cell_table(allowed), k)


def sample_table_cells(key: jax.Array, table: CellTable, k: int) -> jax.Array:
    """``sample_cells`` over the cells of a ``CellTable``."""
    key_pick, key_order = jax.random.split(key)
    u = jax.random.uniform(key_pick, (k,))

    def pick(i, chosen):
        j = table.count - k + i  # draw t uniformly from 0..j; if taken, take j itself
        t = jnp.minimum((u[i] * (j + 1)).astype(jnp.int32), j)
        taken = (chosen == t).any()
        return chosen.at[i].set(jnp.where(taken, j, t))

    chosen = jax.lax.fori_loop(0, k, pick, jnp.full((k,), -1, jnp.int32))
    return table_cells(table, chosen[jax.random.permutation(key_order, k)])


def windows(tiles: jax.Array, pos: jax.Array, view: int) -> jax.Array:
    """``tiles [H, W]`` and ``pos [A, 2]`` -> ``[A, V, V]`` windows centred on each agent;
    outside the map reads as permanent wall."""
    return crop_windows(pad_view(tiles, view), pos, view)


def pad_view(tiles: jax.Array, view: int) -> jax.Array:
    """``tiles`` padded with permanent wall by the view radius."""
    return jnp.pad(tiles, view // 2, constant_values=Tile.WALL)


def crop_windows(padded: jax.Array, pos: jax.Array, view: int) -> jax.Array:
    """The ``[A, V, V]`` windows of a ``pad_view``-ed map centred on ``pos [A, 2]``."""
    crop = lambda p: jax.lax.dynamic_slice(padded, (p[0], p[1]), (view, view))
    return jax.vmap(crop)(pos)


#: ``overlay_windows`` writes agents x objects cells; past this many, drawing the scene once
#: and slicing it is cheaper (measured on this CPU: 1 agent x 1 object 1.3-1.6x faster,
#: 2 x 3 2x faster, 2 x 10 19% slower at 256 envs, 16 x 16 at view 11 15-25% slower).
OVERLAY_MAX_WRITES = 16


def overlay_windows(
    padded: jax.Array,
    pos: jax.Array,
    objects: jax.Array,
    kinds: jax.Array,
    view: int,
    present: jax.Array | None = None,
) -> jax.Array:
    """``windows`` of a scene made of ``padded`` (a ``pad_view``-ed map) with ``kinds`` drawn
    at ``objects [O, 2]`` in order (later objects over earlier ones), without building the
    scene: each window is sliced from the map and only the objects inside it are written (a
    few cells instead of a copy of the map per step). ``kinds`` is ``[O]``, or ``[A, O]`` when
    agents see objects differently (teams); ``present [O]`` leaves out the others."""
    return overlay(crop_windows(padded, pos, view), pos, objects, kinds, present)


def overlay(
    win: jax.Array,
    pos: jax.Array,
    objects: jax.Array,
    kinds: jax.Array,
    present: jax.Array | None = None,
) -> jax.Array:
    """``overlay_windows`` on windows ``win [A, V, V]`` already cut around ``pos``."""
    view = win.shape[-1]
    r = view // 2
    rel = objects[None, :, :] - pos[:, None, :] + r  # [A, O, 2]
    inside = ((rel >= 0) & (rel < view)).all(-1)
    if present is not None:
        inside = inside & present[None, :]
    agent = jnp.broadcast_to(jnp.arange(pos.shape[0])[:, None], inside.shape)
    rows = jnp.where(inside, rel[..., 0], view)  # out of range: dropped
    values = jnp.broadcast_to(kinds.astype(win.dtype), inside.shape)
    return win.at[agent, rows, rel[..., 1]].set(values, mode="drop")


def mark_self(obs: jax.Array) -> jax.Array:
    """Put ``SELF`` at the centre of every window ``[A, V, V]``."""
    c = obs.shape[-1] // 2
    return obs.at[:, c, c].set(Tile.SELF)


def targets(pos: jax.Array, actions: jax.Array) -> jax.Array:
    """The cell each agent's action points at (its own cell for non-moves)."""
    return pos + jnp.asarray(DELTAS)[actions]


def set_cells(tiles: jax.Array, cells: jax.Array, where: jax.Array, value) -> jax.Array:
    """``tiles`` with ``value`` at ``cells [n, 2]`` where ``where [n]`` holds (the others are
    sent out of range and dropped: a negative index would wrap around)."""
    cells = jnp.where(where[:, None], cells, jnp.array(tiles.shape, jnp.int32))
    return tiles.at[cells[:, 0], cells[:, 1]].set(jnp.asarray(value, tiles.dtype), mode="drop")


def at(tiles: jax.Array, pos: jax.Array) -> jax.Array:
    """Tile under each position ``[A, 2]``."""
    return tiles[pos[:, 0], pos[:, 1]]
