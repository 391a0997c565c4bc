"""Permanent-wall obstacle maps in which every free cell is connected (host-side, numpy).

Used where walls cannot be dug (Scouts v1): smooth blobs as in ``core.BlobMaps``, then every
free pocket cut off from the largest free region is filled in. The threshold is searched so
that the mean interior wall share, pockets included, is the requested density. Maps are made
once per shape as a fixed pool (seeded); an env draws one per episode and flips it, which
keeps resets as cheap as sampling a few cells.
"""

from __future__ import annotations

import functools

import numpy as np

from pmarl_bench.envs.grid.core import Tile, _interpolation


@functools.lru_cache(maxsize=16)
def connected_wall_pool(
    height: int, width: int, density: float, count: int, seed: int = 0, scale: int = 5
) -> np.ndarray:
    """``uint8 [count, H, W]`` maps (``WALL`` border and obstacles, ``EMPTY`` elsewhere)
    whose free cells form one 4-connected region; each map's interior wall share is within
    3 points below ``density`` (a bisection over the number of blob cells stops just below
    the density; a map whose next pocket would overshoot by more is drawn again)."""
    from scipy import ndimage

    coarse = (height // scale + 2, width // scale + 2)
    rows, cols = _interpolation(height, coarse[0]), _interpolation(width, coarse[1])
    rng = np.random.default_rng(seed)
    interior = np.zeros((height, width), bool)
    interior[1:-1, 1:-1] = True
    target = round(density * int(interior.sum()))
    tolerance = max(0.03 * interior.sum(), 1.0)
    kept: list[np.ndarray] = []
    best: list[tuple[float, np.ndarray]] = []  # closest misses, if few maps come within
    for _ in range(50 * count):
        if len(kept) == count:
            break
        field = rows @ rng.uniform(size=coarse) @ cols.T
        order = np.argsort(field[interior])  # lowest field first: blobs grow smoothly
        lo, hi = 0, target  # filled pockets only add walls: at most `target` blob cells
        while lo < hi:  # the most blob cells whose map, pockets filled, stays within target
            mid = (lo + hi + 1) // 2
            if _fill_pockets(order[:mid], interior, ndimage).sum() <= target:
                lo = mid
            else:
                hi = mid - 1
        walls = _fill_pockets(order[:lo], interior, ndimage)
        miss = target - walls.sum()
        if miss <= tolerance:
            kept.append(walls)
        else:  # a pocket filled at the next step would overshoot: draw another map
            best.append((miss, walls))
    kept += [w for _, w in sorted(best, key=lambda b: b[0])[: count - len(kept)]]
    walls = np.stack(kept)
    maps = np.where(walls | ~interior, Tile.WALL, Tile.EMPTY).astype(np.uint8)
    maps.setflags(write=False)
    return maps


def _fill_pockets(blob: np.ndarray, interior: np.ndarray, ndimage) -> np.ndarray:
    """Walls at the interior cells numbered ``blob`` (row-major), plus every free cell cut
    off from the largest free region."""
    walls = np.zeros(interior.shape, bool)
    walls[tuple(np.argwhere(interior)[blob].T)] = True
    labels, n = ndimage.label(~walls & interior)
    if n > 1:
        sizes = np.bincount(labels.ravel())[1:]
        walls |= interior & (labels != 1 + int(np.argmax(sizes)))
    return walls
