"""The full-state observation (``observe: oracle_state``, ENVIRONMENTS.md "Controls"): it only
adds to the observation (same key: same states, rewards and plain observations), and it holds
what memory would have to: per task, a scripted policy that reads only the oracle part scores
clearly above one that reads only the plain observation."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_conformance import CURRENT_ENV_IDS, tiered
from test_perfect_memory import STEPS, assert_same_dynamics, make_pair, run

from pmarl_bench import envs
from pmarl_bench.envs.grid.core import DIG, STAY, Tile
from pmarl_bench.errors import ConfigError
from pmarl_bench.types import with_task_id


@pytest.mark.parametrize("env_id", tiered(CURRENT_ENV_IDS))
def test_the_oracle_adds_to_the_observation_and_changes_no_dynamics(env_id):
    plain, oracle = make_pair(env_id, observe="oracle_state")
    space = oracle.observation_space
    assert space.keys() == ["obs", "oracle"] and space["obs"] == plain.observation_space
    assert space["oracle"].shape == (oracle.oracle_size,)
    # the same key: the plain env's rollout (shared with the perfect-memory test)
    s_oracle, ts_oracle = jax.jit(run, static_argnums=0)(oracle, jax.random.key(3))
    assert_same_dynamics(env_id, s_oracle, ts_oracle)
    part = np.asarray(ts_oracle.obs["oracle"])
    assert part.shape == (STEPS + 1, oracle.num_agents, oracle.oracle_size)
    assert part.dtype == np.float32 and space["oracle"].contains(part)
    assert np.ptp(part, axis=0).max() > 0  # it follows the state


def test_observe_is_left_out_of_plain_configs_and_checked():
    assert "observe" not in envs.make("n_back-v0").options.model_dump()
    assert envs.make("n_back-v0", observe="oracle").options.model_dump()["observe"] == "oracle"
    with pytest.raises(ConfigError, match="observe"):
        envs.make("n_back-v0", observe="perfect")
    with pytest.raises(ConfigError, match=r"options\.tasks\[0\]\.options\.observe"):
        envs.make("multitask-v0", tasks=[{"id": "scouts-v1", "options": {"observe": "oracle"}}])


@pytest.mark.slow
def test_multitask_pads_each_tasks_oracle_part_to_one_length():
    small = {"width": 9, "height": 9, "episode_length": 16}
    tasks = [
        {"id": "grid_return-v0", "options": small},
        {"id": "king_of_the_hill-v1", "options": {**small, "num_agents": 4}},
    ]
    env = envs.make("multitask-v0", observe="oracle", tasks=tasks)
    space = env.observation_space
    assert space.keys() == ["oracle", "task", "view"]
    width = space["oracle"].shape[0]
    assert width == max(task.oracle_size for _, task in env.tasks)
    for group in env.groups(len(env.tasks)):
        _, ts = group.env.reset(jax.random.key(0), group.params)
        obs = with_task_id(ts.obs, group.task_id)
        assert obs.keys() == {"oracle", "task", "view"} and obs["oracle"].shape[-1] == width
        assert space["view"].contains(obs["view"]) and space["oracle"].contains(obs["oracle"])
        own = group.env.oracle_size
        np.testing.assert_array_equal(obs["oracle"][:, own:], 0.0)


# -- scripted policies: one that reads the oracle part, one that reads the plain view --------
def mean_return(env, policy, num_envs: int = 32, seed: int = 0) -> float:
    """Mean per-agent return of one episode of ``policy(key, obs) -> actions [A]``."""
    steps = env.max_episode_steps

    def episode(key):
        key_reset, key_run = jax.random.split(key)
        state, ts = env.reset(key_reset)

        def body(carry, k):
            state, ts, total = carry
            k_act, k_step = jax.random.split(k)
            state, ts = env.step(k_step, state, policy(k_act, ts.obs))
            return (state, ts, total + ts.reward), None

        zeros = jnp.zeros((env.num_agents,))
        return jax.lax.scan(body, (state, ts, zeros), jax.random.split(key_run, steps))[0][2]

    keys = jax.random.split(jax.random.key(seed), num_envs)
    return float(jax.jit(jax.vmap(episode))(keys).mean())


def toward(rel: jax.Array) -> jax.Array:
    """The move ``[A]`` that shortens the larger component of offsets ``rel [A, 2]``."""
    vertical = jnp.abs(rel[:, 0]) >= jnp.abs(rel[:, 1])
    return jnp.where(
        vertical, jnp.where(rel[:, 0] > 0, 2, 0), jnp.where(rel[:, 1] > 0, 1, 3)
    ).astype(jnp.int32)


def nearest(rel: jax.Array, wanted: jax.Array) -> jax.Array:
    """``[A, 2]``: of offsets ``rel [A, N, 2]``, the nearest (city blocks) of the ``wanted``."""
    dist = jnp.where(wanted, jnp.abs(rel).sum(-1), jnp.inf)
    return jnp.take_along_axis(rel, jnp.argmin(dist, -1)[:, None, None], 1)[:, 0]


def jitter(key, moves: jax.Array, p: float, num_moves: int = 4) -> jax.Array:
    """``moves``, each replaced by a random one with probability ``p`` (gets round walls)."""
    k1, k2 = jax.random.split(key)
    random = jax.random.randint(k2, moves.shape, 0, num_moves)
    return jnp.where(jax.random.uniform(k1, moves.shape) < p, random, moves)


def seen(view: jax.Array, tiles: tuple[int, ...]) -> tuple[jax.Array, jax.Array]:
    """Of views ``[A, V, V]``: whether any cell shows one of ``tiles``, and the offset of the
    nearest such cell."""
    v = view.shape[-1]
    grid = jnp.stack(jnp.meshgrid(jnp.arange(v), jnp.arange(v), indexing="ij"), -1) - v // 2
    hit = jnp.isin(view, jnp.asarray(tiles)).reshape(view.shape[0], -1)
    rel = jnp.broadcast_to(grid.reshape(1, -1, 2), (view.shape[0], v * v, 2))
    return hit.any(-1), nearest(rel.astype(jnp.float32), hit)


def plain_seeker(tiles: tuple[int, ...], p: float = 0.2):
    """Reads the plain view only: heads for the nearest visible tile of ``tiles``, else
    wanders."""

    def policy(key, obs):
        view = obs["obs"]
        any_seen, rel = seen(view, tiles)
        wander = jax.random.randint(key, (view.shape[0],), 0, 4)
        return jitter(key, jnp.where(any_seen, toward(rel), wander), p)

    return policy


def n_back_policies(env):
    k = env.options.num_symbols

    def oracle(key, obs):
        back = jnp.argmax(obs["oracle"][:, : k + 1], -1)  # k: none yet
        return (back == jnp.argmax(obs["obs"], -1)).astype(jnp.int32)

    def plain(key, obs):  # the best the plain view allows: early steps are never matches
        return jnp.zeros(obs["obs"].shape[:1], jnp.int32)

    return oracle, plain


def grid_return_policies(env):
    def oracle(key, obs):
        rel = obs["oracle"].reshape(obs["oracle"].shape[0], -1, 2)
        return toward(nearest(rel, jnp.ones(rel.shape[:2], bool)))

    return oracle, plain_seeker((Tile.GOAL,), p=0.0)


def traveling_salesman_policies(env):
    def oracle(key, obs):
        flags = obs["oracle"].reshape(obs["oracle"].shape[0], -1, 3)
        return toward(nearest(flags[..., :2], flags[..., 2] == 0))

    return oracle, plain_seeker((Tile.GOAL,))


def scouts_policies(env):
    n = env.options.num_treasures
    is_scout = env.is_scout

    def oracle(key, obs):
        treasures = obs["oracle"][:, : 3 * n].reshape(-1, n, 3)
        # harvesters unlock locked treasures, scouts gather unlocked ones (or wait nearby)
        wanted = jnp.where(is_scout[:, None], treasures[..., 2] == 1, treasures[..., 2] == 0)
        wanted = jnp.where(wanted.any(-1, keepdims=True), wanted, True)
        return jitter(key, toward(nearest(treasures[..., :2], wanted)), 0.25)

    def plain(key, obs):
        scout = plain_seeker((Tile.UNLOCKED,))(key, obs)
        harvester = plain_seeker((Tile.LOCKED,))(key, obs)
        return jnp.where(is_scout, scout, harvester)

    return oracle, plain


def king_of_the_hill_policies(env):
    p = env.options.num_points

    def oracle(key, obs):
        points = obs["oracle"][:, : 5 * p].reshape(-1, p, 5)
        wanted = points[..., 3] == 0  # not ours
        rel = nearest(points[..., :2], jnp.where(wanted.any(-1, keepdims=True), wanted, True))
        moves = jnp.where(jnp.abs(rel).sum(-1) == 0, STAY, toward(rel))
        k1, k2 = jax.random.split(key)
        dig = jax.random.uniform(k1, moves.shape) < 0.15  # through the diggable walls
        return jnp.where(dig & (moves != STAY), DIG, jitter(k2, moves, 0.15))

    return oracle, plain_seeker((Tile.NEUTRAL_POINT, Tile.THEIR_POINT))


# (env id, options, policies, how much more the oracle reader scores at least)
SCRIPTED = [
    ("n_back-v0", {}, n_back_policies, None),
    ("grid_return-v0", {"episode_length": 256}, grid_return_policies, 3.0),
    ("traveling_salesman-v1", {"episode_length": 256}, traveling_salesman_policies, 3.0),
    ("scouts-v1", {"width": 20, "height": 20, "episode_length": 256}, scouts_policies, 3.0),
    ("king_of_the_hill-v1", {"episode_length": 128}, king_of_the_hill_policies, 2.0),
]


@pytest.mark.slow
@pytest.mark.parametrize(("env_id", "options", "policies", "ratio"), SCRIPTED)
def test_a_policy_reading_the_oracle_part_beats_one_reading_the_plain_view(
    env_id, options, policies, ratio
):
    env = envs.make(env_id, observe="oracle", **options)
    oracle, plain = policies(env)
    with_oracle, without = mean_return(env, oracle), mean_return(env, plain)
    if ratio is None:  # n-back: every answer right, against at most the memoryless level
        levels = env.score_levels()
        assert with_oracle == levels.optimal == 64
        assert without <= levels.memoryless + 1.0
    else:
        assert with_oracle > ratio * without and with_oracle > 0, (with_oracle, without)
