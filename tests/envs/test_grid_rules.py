"""Scenario tests for the grid task rules (each task module's docstring), on hand-built
states."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pmarl_bench import envs
from pmarl_bench.envs.grid import Tile
from pmarl_bench.envs.grid.core import DOWN, LEFT, RIGHT, UP, cell_table, sample_cells, windows

KEY = jax.random.key(0)


#: each env's jitted step, compiled once (a new ``jax.jit`` wrapper compiles again)
_STEPS: dict[int, tuple] = {}


def step(env, state, *actions, key=KEY):
    found = _STEPS.get(id(env))
    if found is None or found[0] is not env:  # (kept alive here, so an id is never reused)
        found = _STEPS[id(env)] = (env, jax.jit(env.step_env))
    state, obs, reward, _, _ = found[1](
        key, state, jnp.array(actions, jnp.int32), env.default_params
    )
    return state, np.asarray(obs), np.asarray(reward)


def open_tiles(h=7, w=7):
    t = np.full((h, w), Tile.WALL, np.uint8)
    t[1:-1, 1:-1] = Tile.EMPTY
    return t


# -- shared conventions ----------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("env_id", ["grid_return-v0", "scouts-v0", "traveling_salesman-v0"])
def test_actions_are_named_and_move_the_way_they_say(env_id):
    env = envs.make(env_id, width=9, height=9)
    assert env.action_names[:4] == ("up", "right", "down", "left")
    assert env.observation_space.dtype == "uint8" and env.observation_space.shape == (5, 5)
    state, _ = env.reset(KEY)
    state = state._replace(pos=state.pos.at[0].set(jnp.array([4, 4])))
    if env_id == "grid_return-v0":
        state = state._replace(tiles=jnp.asarray(open_tiles(9, 9)))
    if env_id == "scouts-v0":
        state = state._replace(treasures=jnp.array([[1, 1]]))
    if env_id == "traveling_salesman-v0":
        state = state._replace(flags=jnp.full_like(state.flags, 1))
    others = [0] * (env.num_agents - 1)
    for action, expected in ((UP, (3, 4)), (RIGHT, (3, 5)), (DOWN, (4, 5)), (LEFT, (4, 4))):
        state, _, _ = step(env, state, action, *others)
        assert tuple(np.asarray(state.pos[0])) == expected, env.action_names[action]


@pytest.mark.slow
def test_views_show_self_others_and_walls_outside_the_map():
    env = envs.make("grid_return-v0", width=7, height=7, num_agents=2, view=5)
    state, _ = env.reset(KEY)
    tiles = open_tiles()
    tiles[3, 3] = Tile.GOAL
    state = state._replace(tiles=jnp.asarray(tiles), pos=jnp.array([[1, 1], [2, 2]]))
    obs = np.asarray(env.observe(state))
    me = obs[0]
    assert me[2, 2] == Tile.SELF and me[3, 3] == Tile.OTHER and me[4, 4] == Tile.GOAL
    assert (me[0, :] == Tile.WALL).all() and (me[:, 0] == Tile.WALL).all()  # outside + border
    assert obs[1][2, 2] == Tile.SELF and obs[1][1, 1] == Tile.OTHER


# -- Grid Return ------------------------------------------------------------------------------
def small(env_id, **options):
    """A 7x7 env and a state to edit by hand."""
    env = envs.make(env_id, width=7, height=7, **options)
    state, _ = env.reset(KEY)
    return env, state


def grid_return(**options):
    return small("grid_return-v0", **options)


@pytest.mark.slow
def test_digging_removes_the_wall_and_freezes_the_agent_for_the_timeout():
    env, state = grid_return(dig_timeout=3)
    tiles = open_tiles()
    tiles[3, 4] = Tile.DIGGABLE
    state = state._replace(tiles=jnp.asarray(tiles), pos=jnp.array([[3, 3]]))
    state, _, _ = step(env, state, RIGHT)
    assert state.tiles[3, 4] == Tile.EMPTY and tuple(np.asarray(state.pos[0])) == (3, 3)
    for _ in range(3):  # the next three actions are ignored
        state, _, _ = step(env, state, RIGHT)
        assert tuple(np.asarray(state.pos[0])) == (3, 3)
    state, _, _ = step(env, state, RIGHT)
    assert tuple(np.asarray(state.pos[0])) == (3, 4)


@pytest.mark.slow
def test_permanent_walls_block_and_agents_pass_through_each_other():
    env, state = grid_return(num_agents=2)
    state = state._replace(tiles=jnp.asarray(open_tiles()), pos=jnp.array([[1, 1], [1, 2]]))
    state, _, _ = step(env, state, UP, LEFT)
    np.testing.assert_array_equal(state.pos, [[1, 1], [1, 1]])  # wall; then onto the other
    state, _, _ = step(env, state, RIGHT, RIGHT)
    np.testing.assert_array_equal(state.pos, [[1, 2], [1, 2]])


@pytest.mark.slow
def test_entering_a_goal_rewards_and_teleports_to_a_free_cell_and_the_goal_stays():
    env, state = grid_return()
    tiles = open_tiles()
    tiles[2, 3] = Tile.GOAL
    tiles[4, 1:6] = Tile.DIGGABLE
    free = cell_table(jnp.asarray(tiles) == Tile.EMPTY)
    state = state._replace(tiles=jnp.asarray(tiles), pos=jnp.array([[3, 3]]), free=free)
    landed = set()
    for i in range(40):
        s, _, reward = step(env, state, UP, key=jax.random.key(i))
        assert reward[0] == 1.0
        cell = tuple(np.asarray(s.pos[0]))
        assert tiles[cell] == Tile.EMPTY, cell  # never a wall or the goal
        assert s.tiles[2, 3] == Tile.GOAL
        landed.add(cell)
    assert len(landed) > 10  # spread over the free cells


@pytest.mark.slow
def test_maps_are_blobs_of_diggable_walls_inside_a_permanent_border():
    env = envs.make("grid_return-v0")
    states, _ = jax.vmap(env.reset)(jax.random.split(KEY, 64))
    tiles = np.asarray(states.tiles)
    assert (tiles[:, 0, :] == Tile.WALL).all() and (tiles[:, :, -1] == Tile.WALL).all()
    inner = tiles[:, 1:-1, 1:-1]
    assert not (inner == Tile.WALL).any()  # every obstacle can be dug: all cells reachable
    density = (inner == Tile.DIGGABLE).mean()
    assert 0.3 < density < 0.4, density
    # smooth: a wall's neighbours are mostly walls (uniform noise would give ~0.35)
    wall = inner == Tile.DIGGABLE
    same = (wall[:, 1:, :] == wall[:, :-1, :]).mean()
    assert same > 0.8, same
    assert ((tiles == Tile.GOAL).sum(axis=(1, 2)) == 1).all()
    assert len({t.tobytes() for t in tiles}) == 64


# -- Traveling Salesman -----------------------------------------------------------------------
@pytest.mark.slow
def test_flag_records_are_per_agent_and_clear_after_all_flags():
    env, state = small("traveling_salesman-v0", num_agents=2, num_flags=2)
    state = state._replace(flags=jnp.array([[2, 2], [2, 4]]), pos=jnp.array([[2, 1], [3, 2]]))
    r = 1 / 3  # the default flag_reward
    state, _, reward = step(env, state, RIGHT, UP)  # both onto flag 0
    np.testing.assert_allclose(reward, [r, r])  # each agent's own record
    state, _, reward = step(env, state, LEFT, DOWN)
    state, _, reward = step(env, state, RIGHT, UP)  # flag 0 again: already collected
    np.testing.assert_allclose(reward, [0, 0])
    state, _, reward = step(env, state, RIGHT, DOWN)
    state, _, reward = step(env, state, RIGHT, DOWN)  # agent 0 onto flag 1: all collected
    np.testing.assert_allclose(reward, [r, 0])
    assert not np.asarray(state.collected[0]).any()  # its record cleared
    assert np.asarray(state.collected[1]).tolist() == [True, False]
    state, _, reward = step(env, state, LEFT, UP)
    state, _, reward = step(env, state, LEFT, UP)  # agent 0 back on flag 0: a new cycle
    np.testing.assert_allclose(reward[0], r)


@pytest.mark.slow
@pytest.mark.parametrize(("version", "paid"), [("v1", [1, 0, 0, 0]), ("v0", [1, 1, 1, 1])])
def test_only_entering_a_flag_pays(version, paid):
    """One flag by the top wall, the agent just below it, up x4: it enters the flag once (its
    record completes and clears), then bumps the wall and stays. v1 pays the entering only;
    v0 (kept for published results) paid every step the agent stood there."""
    env, state = small(f"traveling_salesman-{version}", num_agents=1, num_flags=1)
    state = state._replace(flags=jnp.array([[1, 3]]), pos=jnp.array([[2, 3]]))
    r = 1 / 3  # the default flag_reward
    rewards = []
    for _ in range(4):
        state, _, reward = step(env, state, UP)
        rewards.append(float(reward[0]))
    np.testing.assert_allclose(rewards, np.array(paid) * r)
    if version == "v1":  # leaving and entering again pays again
        state, _, _ = step(env, state, DOWN)
        state, _, reward = step(env, state, UP)
        np.testing.assert_allclose(reward, [r])


@pytest.mark.slow
def test_a_completed_record_is_not_paid_again_by_bumping_a_wall():
    """Two flags: the agent completes its record on the flag by the wall, then bumps the wall.
    v1: no pay until it collects a flag by entering it."""
    env, state = small("traveling_salesman-v1", num_agents=1, num_flags=2)
    state = state._replace(flags=jnp.array([[1, 3], [2, 3]]), pos=jnp.array([[3, 3]]))
    r = 1 / 3  # the default flag_reward
    rewards = []
    for _ in range(4):  # onto flag 1, onto flag 0 (record complete, cleared), bump, bump
        state, _, reward = step(env, state, UP)
        rewards.append(float(reward[0]))
    np.testing.assert_allclose(rewards, [r, r, 0, 0])
    state, _, reward = step(env, state, DOWN)  # entering flag 1 again: a new cycle
    np.testing.assert_allclose(reward, [r])


# -- Scouts -----------------------------------------------------------------------------------
def scouts(**options):
    return small("scouts-v0", **options)


@pytest.mark.slow
def test_harvesters_move_only_every_period_th_step():
    env, state = scouts(harvester_period=3)
    state = state._replace(pos=jnp.array([[1, 1], [5, 1]]), treasures=jnp.array([[5, 5]]))
    cols = []
    for _ in range(7):
        state, _, _ = step(env, state, RIGHT, RIGHT)
        cols.append((int(state.pos[0, 1]), int(state.pos[1, 1])))
    assert [c[0] for c in cols] == [2, 3, 4, 5, 5, 5, 5]  # the scout moves every step
    assert [c[1] for c in cols] == [2, 2, 2, 3, 3, 3, 4]  # t = 0, 3, 6


@pytest.mark.slow
def test_harvester_unlocks_then_scout_gathers_and_a_new_locked_treasure_appears():
    env, state = scouts()
    state = state._replace(
        pos=jnp.array([[3, 2], [2, 3]]), treasures=jnp.array([[3, 3]]), t=jnp.int32(1)
    )
    state, _, reward = step(env, state, RIGHT, LEFT)  # scout onto the locked treasure
    np.testing.assert_allclose(reward, [0, 0])
    assert not bool(state.unlocked[0])
    state, _, _ = step(env, state, LEFT, LEFT)  # scout steps off; the harvester cannot move
    state = state._replace(t=jnp.int32(6))  # a step on which harvesters move
    state, _, reward = step(env, state, UP, DOWN)  # harvester onto it: unlocks
    np.testing.assert_allclose(reward, [0, 1])
    assert bool(state.unlocked[0])
    state, _, reward = step(env, state, DOWN, DOWN)
    state, _, reward = step(env, state, RIGHT, DOWN)  # scout onto the unlocked treasure
    np.testing.assert_allclose(reward, [1, 0])
    assert not bool(state.unlocked[0])
    assert tuple(np.asarray(state.treasures[0])) != (3, 3)  # gathered, reappears elsewhere
    scene = np.asarray(env.scene(state))
    assert (scene == Tile.LOCKED).sum() == 1 and (scene == Tile.UNLOCKED).sum() == 0


@pytest.mark.slow
def test_roles_are_visible_and_shared_reward_gives_the_team_total():
    env, state = scouts(num_scouts=2, shared_reward=True)
    state = state._replace(pos=jnp.array([[3, 2], [3, 4], [4, 3]]), treasures=jnp.array([[1, 1]]))
    obs = np.asarray(env.observe(state))
    assert obs[0][2, 4] == Tile.SCOUT and obs[0][3, 3] == Tile.HARVESTER
    assert obs[2][1, 1] == Tile.SCOUT and obs[2][2, 2] == Tile.SELF
    state = state._replace(pos=jnp.array([[1, 2], [3, 4], [2, 1]]), t=jnp.int32(0))
    state, _, reward = step(env, state, 0, 0, UP)  # the harvester unlocks: everyone gets 1
    np.testing.assert_allclose(reward, [1, 1, 1])


@pytest.mark.slow
def test_sampled_cells_are_distinct_allowed_and_uniform():
    allowed = np.zeros((6, 7), bool)
    allowed[1, 2] = allowed[2, 1:5] = allowed[4, 6] = allowed[5, 0] = True  # 7 cells
    draw = jax.jit(jax.vmap(lambda k: sample_cells(k, jnp.asarray(allowed), 3)))
    cells = np.asarray(draw(jax.random.split(KEY, 7000)))
    assert allowed[cells[..., 0], cells[..., 1]].all()
    flat = cells[..., 0] * 7 + cells[..., 1]
    assert all(len(set(row)) == 3 for row in flat)
    # every cell equally likely in every position: 7000 / 7 = 1000 each (std ~29)
    for position in range(3):
        counts = np.bincount(flat[:, position], minlength=42)[allowed.reshape(-1)]
        assert counts.min() > 880 and counts.max() < 1120, counts


# -- King of the Hill -------------------------------------------------------------------------
# agents: 0 knight and 1 archer of team 0, 2 knight and 3 archer of team 1
def koth(**options):
    env = envs.make(
        "king_of_the_hill-v0", width=9, height=9, num_agents=4, knights_per_team=1, **options
    )
    state, _ = env.reset(KEY)
    far = jnp.array([[7, 1], [7, 2], [7, 6], [7, 7]])  # out of the way, facing up
    state = state._replace(
        tiles=jnp.asarray(open_tiles(9, 9)),
        pos=far,
        spawn=jnp.array([[1, 1], [2, 1], [1, 7], [2, 7]]),
        facing=jnp.zeros(4, jnp.int32),
        points=jnp.array([[4, 4], [1, 4]]),
    )
    return env, state


def place(state, agent, cell, facing=None):
    state = state._replace(pos=state.pos.at[agent].set(jnp.array(cell)))
    if facing is not None:
        state = state._replace(facing=state.facing.at[agent].set(facing))
    return state


STAY, ATTACK, DIG = 4, 5, 6


@pytest.mark.slow
def test_koth_ids_are_egocentric_for_both_teams():
    env, state = koth()
    assert env.teams == (0, 0, 1, 1)
    state = place(place(state, 0, (4, 3)), 2, (4, 5))
    state = state._replace(owner=jnp.array([0, 1]))
    obs = np.asarray(env.observe(state))
    a, b = obs[0], obs[2]  # knight of team 0 at (4, 3), knight of team 1 at (4, 5)
    assert a[2, 2] == Tile.SELF and a[2, 4] == Tile.ENEMY_KNIGHT and a[2, 3] == Tile.OUR_POINT
    assert b[2, 2] == Tile.SELF and b[2, 0] == Tile.ENEMY_KNIGHT and b[2, 1] == Tile.THEIR_POINT
    state = place(state, 1, (3, 3))
    assert np.asarray(env.observe(state))[0][1, 2] == Tile.ALLY_ARCHER
    assert np.asarray(env.observe(state))[2][1, 0] == Tile.ENEMY_ARCHER


@pytest.mark.slow
def test_knight_damage_friendly_fire_and_respawn():
    env, state = koth()
    state = place(place(state, 0, (4, 3), facing=RIGHT), 3, (4, 4))
    state, _, _ = step(env, state, ATTACK, STAY, STAY, STAY)  # the enemy archer (1 HP) dies
    assert tuple(np.asarray(state.pos[3])) == (2, 7) and int(state.hp[3]) == 1  # respawned
    state = place(place(state, 0, (4, 3), facing=UP), 1, (3, 3))  # own archer in the way
    state, _, _ = step(env, state, ATTACK, STAY, STAY, STAY)
    assert tuple(np.asarray(state.pos[1])) == (2, 1)  # friendly fire: it respawned too
    state = place(state, 2, (3, 3))  # the enemy knight has 2 HP
    state, _, _ = step(env, state, ATTACK, STAY, STAY, STAY)
    assert int(state.hp[2]) == 1 and tuple(np.asarray(state.pos[2])) == (3, 3)


@pytest.mark.slow
def test_arrows_fly_hit_stop_at_walls_and_fall_after_their_range():
    env, state = koth(arrow_range=4)
    state = place(place(state, 1, (4, 1), facing=RIGHT), 2, (4, 4))
    state, _, _ = step(env, state, ATTACK, ATTACK, STAY, STAY)  # arrow appears at (4, 2)
    assert tuple(np.asarray(state.arrow_pos[1])) == (4, 2) and int(state.arrow_left[1]) == 3
    assert Tile.ARROW in np.asarray(env.observe(state))[1]
    state, _, _ = step(env, state, STAY, STAY, STAY, STAY)  # (4, 3)
    assert int(state.hp[2]) == 2
    state, _, _ = step(env, state, STAY, STAY, STAY, STAY)  # (4, 4): hits the knight
    assert int(state.hp[2]) == 1 and int(state.arrow_left[1]) == 0
    # no target: the arrow falls after 4 cells
    state = place(state, 2, (7, 6))
    state, _, _ = step(env, state, STAY, ATTACK, STAY, STAY)
    for _ in range(3):
        assert int(state.arrow_left[1]) > 0
        state, _, _ = step(env, state, STAY, STAY, STAY, STAY)
    assert int(state.arrow_left[1]) == 0 and tuple(np.asarray(state.arrow_pos[1])) == (4, 5)
    # a wall stops it
    state = state._replace(tiles=state.tiles.at[4, 3].set(Tile.DIGGABLE))
    state, _, _ = step(env, state, STAY, ATTACK, STAY, STAY)
    state, _, _ = step(env, state, STAY, STAY, STAY, STAY)
    assert int(state.arrow_left[1]) == 0


@pytest.mark.slow
def test_agents_block_and_contested_moves_go_to_one_at_random():
    env, state = koth()
    state = place(place(state, 0, (4, 3)), 2, (4, 4))
    state, _, _ = step(env, state, RIGHT, STAY, STAY, STAY)
    assert tuple(np.asarray(state.pos[0])) == (4, 3)  # blocked by the enemy knight
    state = place(state, 2, (4, 5))  # now both move into (4, 4)
    winners = set()
    for i in range(20):
        s, _, _ = step(env, state, RIGHT, STAY, LEFT, STAY, key=jax.random.key(i))
        moved = [int((np.asarray(s.pos[a]) == (4, 4)).all()) for a in (0, 2)]
        assert sum(moved) == 1
        winners.add(moved.index(1))
    assert winners == {0, 1}


@pytest.mark.slow
def test_points_are_captured_and_pay_every_agent_of_the_holding_team():
    env, state = koth()
    r = env.point_reward
    assert r == 1 / env.options.episode_length
    state = place(state, 1, (4, 3))
    state, _, reward = step(env, state, STAY, RIGHT, STAY, STAY)
    np.testing.assert_allclose(reward, [r, r, 0, 0])
    state, _, reward = step(env, state, STAY, LEFT, STAY, STAY)  # left the point: still ours
    np.testing.assert_allclose(reward, [r, r, 0, 0])
    state = place(state, 3, (1, 3))
    state, _, reward = step(env, state, STAY, STAY, STAY, RIGHT)  # team 1 takes the other
    np.testing.assert_allclose(reward, [r, r, r, r])
    state = place(state, 2, (4, 5))
    state, _, reward = step(env, state, STAY, STAY, LEFT, STAY)  # and the first one
    np.testing.assert_allclose(reward, [0, 0, 2 * r, 2 * r])


@pytest.mark.slow
def test_koth_dig_removes_the_faced_wall_and_freezes():
    env, state = koth(dig_timeout=2)
    state = state._replace(tiles=state.tiles.at[4, 4].set(Tile.DIGGABLE))
    state = place(state, 0, (4, 3), facing=RIGHT)
    state, _, _ = step(env, state, DIG, STAY, STAY, STAY)
    assert state.tiles[4, 4] == Tile.EMPTY
    state, _, _ = step(env, state, RIGHT, STAY, STAY, STAY)
    state, _, _ = step(env, state, RIGHT, STAY, STAY, STAY)
    assert tuple(np.asarray(state.pos[0])) == (4, 3)  # frozen for two steps
    state, _, _ = step(env, state, RIGHT, STAY, STAY, STAY)
    assert tuple(np.asarray(state.pos[0])) == (4, 4)


@pytest.mark.slow
@pytest.mark.parametrize("env_id", ["grid_return-v0", "king_of_the_hill-v0", "king_of_the_hill-v1"])
def test_the_border_survives_random_play(env_id):
    env = envs.make(env_id, width=10, height=10)  # v1: 8 agents need height - 2 >= 8
    state, _ = env.reset(KEY)

    def body(state, key):
        k1, k2 = jax.random.split(key)
        a = jax.random.randint(k1, (env.num_agents,), 0, env.action_space.n)
        state, _ = env.step_no_reset(k2, state, a)
        return state, state.tiles

    _, tiles = jax.jit(lambda s: jax.lax.scan(body, s, jax.random.split(KEY, 300)))(state)
    tiles = np.asarray(tiles)
    assert (tiles[:, 0] == Tile.WALL).all() and (tiles[:, -1] == Tile.WALL).all()
    assert (tiles[:, :, 0] == Tile.WALL).all() and (tiles[:, :, -1] == Tile.WALL).all()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("env_id", "options"),
    [
        ("grid_return-v0", {"num_agents": 3, "num_goals": 2}),
        ("grid_return-v0", {"num_agents": 8}),  # past OVERLAY_MAX_WRITES: draws the scene
        ("scouts-v0", {"num_scouts": 2, "num_harvesters": 2, "num_treasures": 3}),
        ("traveling_salesman-v0", {"num_flags": 4}),
        ("king_of_the_hill-v0", {"num_agents": 6}),
        ("scouts-v1", {"num_treasures": 3}),  # few objects: written into map windows
        ("scouts-v1", {"num_scouts": 2, "num_harvesters": 2, "num_treasures": 3}),
        ("traveling_salesman-v1", {"num_flags": 4}),
        ("king_of_the_hill-v1", {"num_agents": 4}),
    ],
)
def test_observations_are_the_scene_around_each_agent(env_id, options):
    """Whatever shortcut ``observe`` takes, each agent sees its window of the scene (its
    team's scene in King of the Hill) with itself at the centre; agents crowd a small map so
    objects overlap and sit at the view's edges. The centre is ``SELF``, or in Scouts v1 the
    agent's own role."""
    env = envs.make(env_id, width=7, height=7, view=5, **options)
    state, _ = env.reset(KEY)
    c = env.options.view // 2
    centre = getattr(env, "roles", jnp.uint8(Tile.SELF))

    def body(state, key):
        k1, k2 = jax.random.split(key)
        a = jax.random.randint(k1, (env.num_agents,), 0, env.action_space.n)
        state, ts = env.step_no_reset(k2, state, a)
        if env.teams is None:
            scenes = jnp.broadcast_to(env.scene(state), (env.num_agents, *env.scene(state).shape))
        else:
            scenes = jnp.stack([env.team_scene(state, t) for t in env.teams])
        want = jax.vmap(lambda s, p: windows(s, p[None], env.options.view)[0])(
            scenes, env.positions(state)
        )
        return state, (ts.obs, want.at[:, c, c].set(centre))

    _, (got, want) = jax.jit(lambda s: jax.lax.scan(body, s, jax.random.split(KEY, 200)))(state)
    np.testing.assert_array_equal(got, want)
