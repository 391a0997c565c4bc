"""RGB rendering of grid tiles: a colour and a small sprite per tile kind, fog outside what
the agents see, and an agent's point of view. Pure and jittable."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from pmarl_bench.envs.grid.core import NUM_TILES, Tile

FLOOR = (236, 232, 222)
# tile -> (colour, sprite); sprites: full cell, disc, diamond, small square, ring, dot
_STYLE = {
    Tile.EMPTY: (FLOOR, "full"),
    Tile.WALL: ((54, 54, 62), "full"),
    Tile.DIGGABLE: ((150, 111, 72), "full"),
    Tile.GOAL: ((236, 178, 28), "diamond"),
    Tile.LOCKED: ((128, 82, 160), "square"),
    Tile.UNLOCKED: ((214, 160, 238), "square"),
    Tile.SELF: ((220, 40, 40), "disc"),
    Tile.OTHER: ((40, 110, 220), "disc"),
    Tile.SCOUT: ((40, 170, 90), "disc"),
    Tile.HARVESTER: ((225, 120, 30), "disc"),
    Tile.ALLY_KNIGHT: ((40, 110, 220), "disc"),
    Tile.ALLY_ARCHER: ((90, 180, 240), "ring"),
    Tile.ENEMY_KNIGHT: ((210, 50, 50), "disc"),
    Tile.ENEMY_ARCHER: ((245, 130, 130), "ring"),
    Tile.NEUTRAL_POINT: ((160, 160, 160), "square"),
    Tile.OUR_POINT: ((60, 120, 230), "square"),
    Tile.THEIR_POINT: ((220, 70, 70), "square"),
    Tile.ARROW: ((30, 30, 30), "dot"),
}
assert len(_STYLE) == NUM_TILES
COLOURS = np.array([_STYLE[Tile(i)][0] for i in range(NUM_TILES)], np.uint8)


def _sprite(shape: str, px: int) -> np.ndarray:
    c = (np.arange(px) + 0.5) / px - 0.5
    y, x = np.meshgrid(c, c, indexing="ij")
    r = np.hypot(x, y)
    return {
        "full": np.ones((px, px), bool),
        "disc": r < 0.4,
        "ring": (r < 0.42) & (r > 0.24),
        "diamond": np.abs(x) + np.abs(y) < 0.42,
        "square": np.maximum(np.abs(x), np.abs(y)) < 0.32,
        "dot": r < 0.18,
    }[shape]


def sprites(px: int) -> np.ndarray:
    """``bool [NUM_TILES, px, px]``: where a tile's colour covers the floor."""
    return np.stack([_sprite(_STYLE[Tile(i)][1], px) for i in range(NUM_TILES)])


def render_tiles(tiles: jax.Array, cell_px: int = 8, visible: jax.Array | None = None) -> jax.Array:
    """``uint8 [H, W]`` tile ids -> ``uint8 [H * px, W * px, 3]``; cells where ``visible``
    is False are dimmed (fog)."""
    h, w = tiles.shape
    masks = jnp.asarray(sprites(cell_px))[tiles]  # [H, W, px, px]
    colour = jnp.asarray(COLOURS)[tiles][:, :, None, None, :]  # [H, W, 1, 1, 3]
    floor = jnp.asarray(FLOOR, jnp.uint8)
    cells = jnp.where(masks[..., None], colour, floor)  # [H, W, px, px, 3]
    if visible is not None:
        dim = jnp.where(visible, 1.0, 0.6)[:, :, None, None, None]
        cells = (cells.astype(jnp.float32) * dim).astype(jnp.uint8)
    return cells.transpose(0, 2, 1, 3, 4).reshape(h * cell_px, w * cell_px, 3)


def seen_cells(shape: tuple[int, int], pos: jax.Array, view: int) -> jax.Array:
    """``bool [H, W]``: cells inside at least one agent's view window."""
    rows = jnp.arange(shape[0])[None, :, None]
    cols = jnp.arange(shape[1])[None, None, :]
    r = view // 2
    inside = (jnp.abs(rows - pos[:, 0, None, None]) <= r) & (
        jnp.abs(cols - pos[:, 1, None, None]) <= r
    )
    return inside.any(axis=0)


def render_view(window: jax.Array, cell_px: int = 16) -> jax.Array:
    """One agent's observation window ``[V, V]`` -> its point-of-view frame."""
    return render_tiles(window, cell_px)
