"""King of the Hill: competitive team coordination (``king_of_the_hill-v1``; v0 below).

``king_of_the_hill-v1``, the specification's task: as v0 below, except that
- step 5: an agent at 0 HP respawns on a free cell of its team's spawn column (the free one
  nearest its spawn cell), never on a cell another agent occupies; dead agents respawn in
  agent order, each seeing the cells taken before it (v0 put it on its spawn cell even when
  another agent stood there, stacking them);
- ``wall_density`` (default 0.35) is the interior's obstacle share after the spawn columns
  are cleared (v0's 0.3 was calibrated before clearing them: 28.6% on average);
- ``point_reward`` is a traced param (``KingOfTheHillParams``, default ``1 /
  episode_length``), so it can be vmapped; at most ``height - 2`` agents, so a spawn column
  always has a free cell.

``king_of_the_hill-v0`` (kept so published results reproduce):

Two teams of ``num_agents / 2`` spawn on opposite edges (team 0 in column 1, team 1 in column
``W - 2``), each agent at its own spawn cell. Team slot ``i`` is a knight (2 HP) for
``i < knights_per_team``, else an archer (1 HP), the same in both teams. Control points lie
in a band of columns across the middle; the map has smooth diggable obstacle blobs (spawn
columns and points kept clear).

Actions: ``up, right, down, left, stay, attack, dig``. A move turns the agent to face that
way. Order of a step:
1. frozen agents (after digging) ignore their action and count down;
2. moves: into a wall or a cell held by an agent at the start of the step fails; several
   agents moving into one cell: one, chosen at random, gets it;
3. ``dig`` removes the faced diggable wall and freezes the agent for ``dig_timeout`` steps;
4. knights' ``attack`` hits the faced cell; arrows in flight move one cell, then archers with
   no arrow in flight shoot one into the faced cell; an arrow hits whoever is in its cell,
   stops at walls and falls after ``arrow_range`` cells. Damage hits anyone, allies too;
5. an agent at 0 HP respawns at its spawn cell with full HP;
6. a point belongs to the last team that stood on it alone; every agent earns
   ``point_reward`` (default ``1 / episode_length``) per point its team holds.

Views are egocentric: ally/enemy knights and archers, our/their/neutral points.
"""

from __future__ import annotations

from typing import NamedTuple, cast

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from pydantic import Field, model_validator

from pmarl_bench.envs.base import HostArray, TaskCard
from pmarl_bench.envs.grid.base import GridEnv
from pmarl_bench.envs.grid.core import (
    ATTACK,
    DELTAS,
    DIG,
    FULL_ACTIONS,
    STAY,
    BlobMaps,
    GridOptions,
    Tile,
    at,
    mark_self,
    open_map,
    pad_view,
    sample_cells,
    set_cells,
)
from pmarl_bench.envs.grid.oracle import flat, offsets, other_agents
from pmarl_bench.types import Array, PRNGKey, TeamEvaluation

NEUTRAL = -1


class KingOfTheHillCommonOptions(GridOptions):
    num_agents: int = Field(8, ge=2, description="both teams together (even)")
    knights_per_team: int = Field(2, ge=0)
    num_points: int = Field(2, ge=1)
    point_band: int = Field(4, ge=1, description="width of the central column band")
    arrow_range: int = Field(4, ge=1)
    dig_timeout: int = Field(3, ge=0)

    @model_validator(mode="after")
    def _teams(self):
        if self.num_agents % 2:
            raise ValueError(f"num_agents must be even (two teams), got {self.num_agents}")
        if self.knights_per_team > self.num_agents // 2:
            raise ValueError("knights_per_team exceeds the team size")
        if self.num_agents // 2 > self.height - 2:
            raise ValueError("a team does not fit in its spawn column")
        return self


class KingOfTheHillOptions(KingOfTheHillCommonOptions):
    point_reward: float | None = Field(None, description="default 1 / episode_length")
    wall_density: float = Field(0.3, ge=0.0, lt=0.9)


class KingOfTheHillState(NamedTuple):
    tiles: jax.Array  # uint8 [H, W]: EMPTY, WALL, DIGGABLE
    pos: jax.Array  # int32 [A, 2]
    facing: jax.Array  # int32 [A]: 0..3 (up, right, down, left)
    hp: jax.Array  # int32 [A]
    frozen: jax.Array  # int32 [A]
    spawn: jax.Array  # int32 [A, 2]
    arrow_pos: jax.Array  # int32 [A, 2] (one arrow per archer)
    arrow_dir: jax.Array  # int32 [A]
    arrow_left: jax.Array  # int32 [A]: cells it may still fly; 0 = no arrow
    points: jax.Array  # int32 [P, 2]
    owner: jax.Array  # int32 [P]: team, or -1
    t: jax.Array


class KingOfTheHill(GridEnv):
    Options = KingOfTheHillOptions
    options: KingOfTheHillOptions
    action_names = FULL_ACTIONS
    # built on the host: no device array until a program reads them
    team = HostArray()
    is_knight = HostArray()
    max_hp = HostArray()
    band = HostArray()
    spawn_columns = HostArray()

    def __init__(self, **options):
        super().__init__(**options)
        o = self.options
        self.num_agents = o.num_agents
        half = o.num_agents // 2
        self.teams = tuple([0] * half + [1] * half)
        self.team = np.array(self.teams, np.int32)
        is_knight = np.arange(o.num_agents) % half < o.knights_per_team
        self.is_knight = is_knight
        self.max_hp = np.where(is_knight, 2, 1).astype(np.int32)
        reward = getattr(o, "point_reward", None)  # v0's option (v1: a param)
        self.point_reward = reward if reward is not None else 1 / o.episode_length
        self.maps = BlobMaps(o.height, o.width, o.wall_density)
        cols = np.arange(o.width)
        lo = (o.width - o.point_band) // 2
        band = np.zeros((o.height, o.width), bool)
        band[1:-1] = (cols >= lo) & (cols < lo + o.point_band)
        self.band = band
        spawn = np.zeros((2, o.height, o.width), bool)  # each team's column
        spawn[0, 1:-1, 1] = spawn[1, 1:-1, o.width - 2] = True
        self.spawn_columns = spawn
        # evaluation: the share of control points each team holds, step by step
        self.evaluation = TeamEvaluation(held=self.points_held, metric="point_share")

    def points_held(self, state: KingOfTheHillState) -> jax.Array:
        """``float32 [2]``: the share of the control points each team holds."""
        return jnp.stack([(state.owner == 0).mean(), (state.owner == 1).mean()])

    def reset_env(
        self, key: PRNGKey, params: KingOfTheHillParams | None
    ) -> tuple[KingOfTheHillState, Array]:
        o = self.options
        half = o.num_agents // 2
        key_map, key_points, key_left, key_right = jax.random.split(key, 4)
        left, right = self.spawn_columns
        walls = self.maps.walls(key_map) & ~left & ~right  # spawn columns stay clear
        tiles = jnp.where(walls, jnp.uint8(Tile.DIGGABLE), open_map(o.height, o.width))
        points = sample_cells(key_points, self.band, o.num_points)
        tiles = tiles.at[points[:, 0], points[:, 1]].set(Tile.EMPTY)
        spawn = jnp.concatenate(
            [sample_cells(key_left, left, half), sample_cells(key_right, right, half)]
        )
        a = o.num_agents
        zeros = jnp.zeros((a,), jnp.int32)
        state = KingOfTheHillState(
            tiles=tiles,
            pos=spawn,
            facing=jnp.where(self.team == 0, 1, 3).astype(jnp.int32),  # face the middle
            hp=self.max_hp,
            frozen=zeros,
            spawn=spawn,
            arrow_pos=spawn,
            arrow_dir=zeros,
            arrow_left=zeros,
            points=points,
            owner=jnp.full((o.num_points,), NEUTRAL, jnp.int32),
            t=jnp.int32(0),
        )
        return state, self.observe(state)

    def step_env(
        self,
        key: PRNGKey,
        state: KingOfTheHillState,
        actions: Array,
        params: KingOfTheHillParams | None,
    ) -> tuple[KingOfTheHillState, Array, Array, Array, Array]:
        o = self.options
        a = o.num_agents
        active = state.frozen == 0
        actions = jnp.where(active, actions, STAY)
        moving = actions < 4
        facing = jnp.where(moving, actions, state.facing)

        # 2. moves, blocked by walls and by agents standing there; ties broken at random
        target = state.pos + jnp.asarray(DELTAS)[actions]
        tile = at(state.tiles, target)
        held = (target[:, None, :] == state.pos[None, :, :]).all(-1)  # [A, A]
        held = (held & ~jnp.eye(a, dtype=bool)).any(-1)
        wants = moving & (tile == Tile.EMPTY) & ~held
        priority = jax.random.uniform(key, (a,))
        same = (target[:, None, :] == target[None, :, :]).all(-1) & wants[None, :]
        beaten = (same & (priority[None, :] > priority[:, None])).any(-1)
        pos = jnp.where((wants & ~beaten)[:, None], target, state.pos)

        # 3. digging
        faced = pos + jnp.asarray(DELTAS)[facing]
        digs = (actions == DIG) & (at(state.tiles, faced) == Tile.DIGGABLE)
        tiles = set_cells(state.tiles, faced, digs, Tile.EMPTY)
        frozen = jnp.where(digs, o.dig_timeout, jnp.maximum(state.frozen - 1, 0))

        # 4. knights strike; arrows fly, then archers shoot
        attack = actions == ATTACK
        strikes = jnp.where((attack & self.is_knight)[:, None], faced, -1)  # [A, 2]
        damage = _hits(pos, strikes)
        flying = state.arrow_left > 0
        arrow = state.arrow_pos + jnp.asarray(DELTAS)[state.arrow_dir]
        flying = flying & (at(tiles, arrow) == Tile.EMPTY)
        shoot = attack & ~self.is_knight & ~flying & (at(tiles, faced) == Tile.EMPTY)
        arrow = jnp.where(shoot[:, None], faced, arrow)
        arrow_dir = jnp.where(shoot, facing, state.arrow_dir)
        left = jnp.where(shoot, o.arrow_range, state.arrow_left)
        live = flying | shoot
        hit_by = (arrow[:, None, :] == pos[None, :, :]).all(-1) & live[:, None]  # [arrow, A]
        damage = damage + hit_by.sum(0)
        left = jnp.where(live & ~hit_by.any(-1), left - 1, 0)

        # 5. respawn
        hp = state.hp - damage
        dead = hp <= 0
        pos = self._respawn(state.spawn, pos, dead)
        hp = jnp.where(dead, self.max_hp, hp)
        frozen = jnp.where(dead, 0, frozen)

        # 6. points
        on = (state.points[:, None, :] == pos[None, :, :]).all(-1)  # [P, A]
        team0 = (on & (self.team == 0)[None]).any(-1)
        team1 = (on & (self.team == 1)[None]).any(-1)
        owner = jnp.where(team0 & ~team1, 0, jnp.where(team1 & ~team0, 1, state.owner))
        held_by = (owner[None, :] == self.team[:, None]).sum(-1)  # [A]
        reward = held_by * self._point_reward(params)

        t = state.t + 1
        new = KingOfTheHillState(
            tiles, pos, facing, hp, frozen, state.spawn, arrow, arrow_dir, left,
            state.points, owner, t,
        )  # fmt: skip
        return new, self.observe(new), reward, jnp.array(False), self._truncated(t)

    def _respawn(self, spawn, pos, dead):
        """v0: the dead go back to their spawn cells, whoever stands there."""
        return jnp.where(dead[:, None], spawn, pos)

    def _point_reward(self, params) -> jax.Array:
        return jnp.float32(self.point_reward)

    # -- views ---------------------------------------------------------------------------
    def team_scene(self, state, team: int) -> jax.Array:
        """The map as ``team`` sees it (ally/enemy, our/their)."""
        p = state.points
        kind = jnp.where(
            state.owner == NEUTRAL,
            Tile.NEUTRAL_POINT,
            jnp.where(state.owner == team, Tile.OUR_POINT, Tile.THEIR_POINT),
        ).astype(jnp.uint8)
        tiles = state.tiles.at[p[:, 0], p[:, 1]].set(kind)
        tiles = set_cells(tiles, state.arrow_pos, state.arrow_left > 0, Tile.ARROW)
        ally = self.team == team
        kind = jnp.where(
            ally,
            jnp.where(self.is_knight, Tile.ALLY_KNIGHT, Tile.ALLY_ARCHER),
            jnp.where(self.is_knight, Tile.ENEMY_KNIGHT, Tile.ENEMY_ARCHER),
        ).astype(jnp.uint8)
        return tiles.at[state.pos[:, 0], state.pos[:, 1]].set(kind)

    def scene(self, state: KingOfTheHillState) -> Array:
        return self.team_scene(state, 0)

    def observe(self, state: KingOfTheHillState) -> Array:
        # each agent's window is sliced from its own team's scene (one slice per agent)
        v = self.options.view
        scenes = jnp.stack([pad_view(self.team_scene(state, t), v) for t in (0, 1)])
        crop = lambda team, p: jax.lax.dynamic_slice(scenes, (team, p[0], p[1]), (1, v, v))[0]
        return mark_self(jax.vmap(crop)(self.team, state.pos))

    def positions(self, state: KingOfTheHillState) -> Array:
        return state.pos

    def card(self) -> TaskCard:
        why = "where the points are and who held them when last seen"
        tests = ("teams", "competition", "spatial memory")
        return self.episode_card(tests, why)

    @property
    def oracle_size(self) -> int:
        return 5 * self.options.num_points + 3 * (self.num_agents - 1)

    def oracle(self, state: KingOfTheHillState, params: KingOfTheHillParams | None) -> Array:
        """Each control point's offset and owner (one-hot: nobody, us, them), then each
        other agent's offset and team (1: ours); owners and teams are the observer's."""
        o = self.options
        shape = (o.height, o.width)
        mine = self.team[:, None]
        owner = jnp.stack(
            [
                jnp.broadcast_to(state.owner < 0, (self.num_agents, o.num_points)),
                state.owner[None, :] == mine,
                (state.owner[None, :] >= 0) & (state.owner[None, :] != mine),
            ],
            axis=-1,
        )
        points = jnp.concatenate([offsets(state.points, state.pos, shape), owner], axis=-1)
        idx, rel = other_agents(state.pos, shape)
        ally = (self.team[idx] == mine)[..., None]
        return flat(points, jnp.concatenate([rel, ally], axis=-1))


def _hits(pos: jax.Array, cells: jax.Array) -> jax.Array:
    """Damage per agent from strikes at ``cells [S, 2]`` (-1 = none)."""
    return (cells[:, None, :] == pos[None, :, :]).all(-1).sum(0).astype(jnp.int32)


# -- king_of_the_hill-v1 ---------------------------------------------------------------------
class KingOfTheHillV1Options(KingOfTheHillCommonOptions):
    wall_density: float = Field(
        0.35, ge=0.0, lt=0.9, description="interior obstacle share, spawn columns cleared"
    )

    @model_validator(mode="after")
    def _free_spawn_cell(self):
        if self.num_agents > self.height - 2:
            raise ValueError(
                f"num_agents ({self.num_agents}) must be at most height - 2 "
                f"({self.height - 2}), so a respawn always finds a free cell of its column"
            )
        return self


@struct.dataclass
class KingOfTheHillParams:
    point_reward: jax.Array  # per point the team holds, per agent and step


class KingOfTheHillV1(KingOfTheHill):
    Options = KingOfTheHillV1Options  # type: ignore[assignment]  # not v0 options
    options: KingOfTheHillV1Options  # type: ignore[assignment]

    def __init__(self, **options):
        super().__init__(**options)
        o = self.options
        cleared = 2 / (o.width - 2)  # the two spawn columns' share of the interior
        self.maps = BlobMaps(o.height, o.width, min(o.wall_density / (1 - cleared), 0.99))

    @property
    def default_params(self) -> KingOfTheHillParams:
        reward = np.float32(1 / self.options.episode_length)  # a host value: no device array
        return KingOfTheHillParams(point_reward=cast(jax.Array, reward))

    def _point_reward(self, params) -> jax.Array:
        return jnp.asarray(params.point_reward, jnp.float32)

    def _respawn(self, spawn, pos, dead):
        """The dead, in agent order, to the free cell of their spawn column nearest their
        spawn cell (free: no agent standing there, the living or those respawned before).
        The two teams' columns are disjoint, so a scan over team slots places one agent of
        each team per turn, with element-wise work on one occupancy row per column."""
        o = self.options
        half = self.num_agents // 2
        rows = jnp.arange(o.height, dtype=jnp.int32)
        cols = jnp.array([1, o.width - 2], jnp.int32)
        interior = (rows > 0) & (rows < o.height - 1)
        standing = (pos[:, 1][:, None] == cols[None, :]) & ~dead[:, None]  # [A, 2 columns]
        taken = ((pos[:, 0][:, None, None] == rows) & standing[:, :, None]).any(0)  # [2, H]
        spawn_rows = spawn[:, 0].reshape(2, half)  # agents are team-major
        dying = dead.reshape(2, half)

        def place(taken, slot):
            free = interior[None] & ~taken
            distance = jnp.where(free, jnp.abs(rows[None] - spawn_rows[:, slot, None]), o.height)
            row = jnp.argmin(distance, axis=1).astype(jnp.int32)  # [2]
            claimed = (rows[None] == row[:, None]) & dying[:, slot, None]
            return taken | claimed, row

        _, chosen = jax.lax.scan(place, taken, jnp.arange(half))  # [half, 2 teams]
        cells = jnp.stack([chosen.T.reshape(-1), jnp.repeat(cols, half)], axis=-1)
        return jnp.where(dead[:, None], cells, pos)
