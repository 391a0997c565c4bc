"""A grid task's perfect-memory record (``observe: oracle_memory``): per agent, a map of every
tile it has seen this episode (its views written where they were) and how long ago each was
last seen, centred on the agent's own cell (its place in the map), so a memoryless policy
reads "the goal I saw is 3 up, 2 left" at a fixed input, wherever it stands. Only what its
views showed: a tile no view has covered, and the padding around the map, read unseen.
Beside the map, the offset of the nearest remembered tile of each landmark kind (goals and
flags, treasures, control points), which a memoryless policy reads as directly as the
full-state observation's offsets, but only for what it has seen."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from pmarl_bench.envs.grid.core import NUM_TILES, Tile
from pmarl_bench.envs.spaces import Box
from pmarl_bench.types import Array

#: the map record's id of a tile no view has shown yet (one past the tile vocabulary)
UNSEEN = NUM_TILES
#: the tile kinds whose nearest remembered cell the record gives the offset of
LANDMARKS = (Tile.GOAL, Tile.LOCKED, Tile.UNLOCKED, Tile.NEUTRAL_POINT, Tile.OUR_POINT,
             Tile.THEIR_POINT)  # fmt: skip


class SeenMap(NamedTuple):
    tiles: Array  # uint8 [A, H, W] last seen tile ids, UNSEEN where never seen
    seen_at: Array  # int32 [A, H, W] step of the last sighting (-1: never)
    t: Array  # int32 step of the episode


class MapMemory:
    """Centred on the agent (``[2H - 1, 2W - 1]``, the agent at the centre, so every cell of
    the map fits wherever it stands): ``memory_tiles`` (the index of each tile's kind in the
    task's ``tile_kinds``, ``len(tile_kinds)`` where never seen),
    ``memory_age`` (steps since last seen / episode length; 1 where never seen) and, where
    the task has them, ``memory_known`` (the cells it knows for certain from its own past,
    ``env.known_cells``, e.g. the flags it has collected); ``memory_nearest [LANDMARKS, 3]``:
    per landmark kind, whether one is remembered and the offset (rows, columns, divided by
    the map's larger side) of the nearest by steps, leaving out known cells."""

    cap = None  # the whole episode

    def __init__(self, env: Any):
        self.env = env
        o = env.options
        self.shape = (o.height, o.width)
        self.view = o.view
        self.length = o.episode_length
        kinds = env.tile_kinds
        self.unseen = len(kinds)  # the map's id of a tile never seen
        lookup = np.full(UNSEEN + 1, self.unseen, np.uint8)
        lookup[np.asarray(kinds, int)] = np.arange(len(kinds))
        self.lookup = lookup  # raw tile id (UNSEEN included) -> the map's id

    def spaces(self) -> dict[str, Box]:
        h, w = self.shape
        shape = (2 * h - 1, 2 * w - 1)
        known = self.env.known_channels
        return {
            "memory_tiles": Box(0, self.unseen, shape, "uint8", self.unseen + 1),
            "memory_age": Box(0.0, 1.0, shape, "float32"),
            **({"memory_known": Box(0.0, 1.0, (known, *shape), "float32")} if known else {}),
            "memory_nearest": Box(-1.0, 1.0, (len(LANDMARKS), 3), "float32"),
        }

    def _write(self, memory: SeenMap, views: Array, state: Any) -> SeenMap:
        """Each agent's view ``[A, V, V]`` written at its place on its map."""
        h, w = self.shape
        pos = self.env.positions(state)  # [A, 2]
        half = self.view // 2
        rows = jnp.arange(h)[None, :] - pos[:, :1] + half  # [A, H] row within the view
        cols = jnp.arange(w)[None, :] - pos[:, 1:] + half  # [A, W]
        inside = ((rows >= 0) & (rows < self.view))[:, :, None] & (
            (cols >= 0) & (cols < self.view)
        )[:, None, :]
        r = jnp.clip(rows, 0, self.view - 1)[:, :, None]
        c = jnp.clip(cols, 0, self.view - 1)[:, None, :]
        shown = jax.vmap(lambda v, r, c: v[r, c])(views, r, c)  # [A, H, W]
        return SeenMap(
            jnp.where(inside, shown, memory.tiles).astype(jnp.uint8),
            jnp.where(inside, memory.t, memory.seen_at),
            memory.t,
        )

    def init(self, obs: Array, state: Any, params: Any) -> SeenMap:
        a, (h, w) = self.env.num_agents, self.shape
        empty = SeenMap(
            jnp.full((a, h, w), UNSEEN, jnp.uint8),
            jnp.full((a, h, w), -1, jnp.int32),
            jnp.int32(0),
        )
        return self._write(empty, obs, state)

    def update(self, memory: SeenMap, obs: Array, actions: Array, reward: Array, state: Any):
        return self._write(memory._replace(t=memory.t + 1), obs, state)

    def observe(self, memory: SeenMap, state: Any) -> dict[str, Array]:
        age = jnp.where(memory.seen_at >= 0, (memory.t - memory.seen_at) / self.length, 1.0)
        pos = self.env.positions(state)
        out = {
            "memory_tiles": jnp.asarray(self.lookup)[self._centred(memory.tiles, pos, UNSEEN)],
            "memory_age": self._centred(age.astype(jnp.float32), pos, 1.0),
        }
        done = jnp.zeros(memory.tiles.shape, bool)
        if self.env.known_channels:
            known = self.env.known_cells(state)  # [A, C, H, W]
            done = known.any(axis=1)
            out["memory_known"] = jax.vmap(
                lambda k, p: jax.vmap(lambda m: self._one_centred(m, p, 0.0))(k)
            )(known.astype(jnp.float32), pos)
        out["memory_nearest"] = jax.vmap(self._nearest)(memory.tiles, done, pos)
        return out

    def _nearest(self, tiles: Array, done: Array, pos: Array) -> Array:
        """``[LANDMARKS, 3]``: found, row and column offset of the nearest remembered cell of
        each landmark kind (by Manhattan distance, not ``done``), zeros where none is."""
        h, w = self.shape
        rows, cols = jnp.arange(h)[:, None] - pos[0], jnp.arange(w)[None, :] - pos[1]
        steps = (jnp.abs(rows) + jnp.abs(cols)).ravel()
        kinds = jnp.asarray(LANDMARKS, jnp.uint8)[:, None]
        match = (tiles.ravel()[None, :] == kinds) & ~done.ravel()[None, :]  # [K, H * W]
        best = jnp.argmin(jnp.where(match, steps[None, :], h + w), axis=1)
        found = match.any(axis=1)
        scale = max(h, w)
        dr = jnp.broadcast_to(rows, (h, w)).ravel()[best] / scale
        dc = jnp.broadcast_to(cols, (h, w)).ravel()[best] / scale
        return jnp.where(found[:, None], jnp.stack([found, dr, dc], -1), 0.0).astype(jnp.float32)

    def _one_centred(self, grid: Array, pos: Array, fill) -> Array:
        """``grid [H, W]`` -> ``[2H - 1, 2W - 1]`` with cell ``pos`` at the centre."""
        h, w = self.shape
        padded = jnp.pad(grid, ((h - 1, h - 1), (w - 1, w - 1)), constant_values=fill)
        return jax.lax.dynamic_slice(padded, (pos[0], pos[1]), (2 * h - 1, 2 * w - 1))

    def _centred(self, grids: Array, pos: Array, fill) -> Array:
        return jax.vmap(lambda g, p: self._one_centred(g, p, fill))(grids, pos)
