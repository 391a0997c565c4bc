"""Common shape of the grid tasks: options, spaces, fixed-length episodes, rendering."""

from __future__ import annotations

import abc

import jax

from pmarl_bench.envs.base import Environment, TaskCard
from pmarl_bench.envs.grid import render
from pmarl_bench.envs.grid.core import MOVES, NUM_TILES, GridOptions, Tile, mark_self, windows
from pmarl_bench.envs.grid.memory import MapMemory
from pmarl_bench.envs.spaces import Box, Discrete


class GridEnv(Environment):
    """A grid task. Subclasses set ``num_agents`` and implement ``reset_env``, ``step_env``,
    ``scene(state)`` (the full map with every object and agent drawn by kind) and
    ``positions(state)``; observations are the scene seen by each agent (``observe``)."""

    Options = GridOptions
    options: GridOptions
    action_names: tuple[str, ...] = MOVES
    fixed_length = True  # truncated after exactly episode_length steps, never terminated

    def __init__(self, **options):
        super().__init__(**options)
        o = self.options
        self.observation_space = Box(0, NUM_TILES - 1, (o.view, o.view), "uint8", NUM_TILES)
        self.action_space = Discrete(len(self.action_names))
        self.max_episode_steps = o.episode_length

    @property
    def default_params(self):
        return None

    @abc.abstractmethod
    def scene(self, state) -> jax.Array:
        """``uint8 [H, W]``: the map with every object and agent drawn by kind."""

    @abc.abstractmethod
    def positions(self, state) -> jax.Array:
        """``int32 [A, 2]`` agent cells."""

    # -- the perfect-memory record (``observe: oracle_memory``) ---------------------------
    #: extra map channels of cells each agent knows for certain (``known_cells``)
    known_channels: int = 0
    #: every tile kind this task's views can show; the record's map is one-hot over these
    #: (and unseen) only, so its input is a few times smaller than over the whole vocabulary
    tile_kinds: tuple[Tile, ...] = tuple(Tile)

    def known_cells(self, state) -> jax.Array:
        """``bool [A, known_channels, H, W]``: cells each agent knows for certain from its own
        past (e.g. the flags in its record), beside what it has seen."""
        raise NotImplementedError

    def memory_layout(self) -> MapMemory:
        return MapMemory(self)

    def observe(self, state) -> jax.Array:
        return mark_self(windows(self.scene(state), self.positions(state), self.options.view))

    def episode_card(self, tests: tuple[str, ...], why: str) -> TaskCard:
        """The card of a task whose memory can matter across the whole episode."""
        n = self.options.episode_length
        return TaskCard(tests, n, f"the episode ({n} steps): {why}")

    def _truncated(self, t: jax.Array) -> jax.Array:
        return t >= self.options.episode_length

    # -- rendering -----------------------------------------------------------------------
    def render(self, state, params=None, cell_px: int = 8) -> jax.Array:
        """The whole map, fogged outside every agent's view: ``uint8 [H*px, W*px, 3]``."""
        scene = self.scene(state)
        pos = self.positions(state)
        seen = render.seen_cells((scene.shape[0], scene.shape[1]), pos, self.options.view)
        return render.render_tiles(scene, cell_px, seen)

    def render_pov(self, state, agent: int, cell_px: int = 16) -> jax.Array:
        """What ``agent`` observes, as a frame ``uint8 [V*px, V*px, 3]``."""
        return render.render_view(self.observe(state)[agent], cell_px)
