"""The perfect-memory observation (``observe: oracle_memory``, ENVIRONMENTS.md "Controls"): it
adds to the observation without changing dynamics, and it holds what the agent has observed
earlier in the episode and nothing else (a replay checks every remembered tile against the
views the agent had)."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_conformance import CURRENT_ENV_IDS, random_actions, tiered

from pmarl_bench import envs
from pmarl_bench.envs.grid.memory import LANDMARKS, UNSEEN
from pmarl_bench.envs.perfect_memory import STACK_CAP, PerfectMemory
from pmarl_bench.errors import ConfigError

SHORT = {"episode_length": 16}  # two episode ends in a short rollout
STEPS = 40


def make_pair(env_id: str, observe: str = "oracle_memory", **options):
    """The env at a short size and the same env observed through a control's wrapper."""
    adapted = {"gymnax:": {}, "jaxmarl:": {"max_steps": 16}, "carry_bit": {"delay": 7}}
    options = options or next((o for p, o in adapted.items() if env_id.startswith(p)), SHORT)
    return envs.make(env_id, **options), envs.make(env_id, observe=observe, **options)


def run(env, key, steps: int = STEPS):
    """Random actions through ``env.step``: every step's (state, TimeStep)."""
    state, ts = env.reset(key)

    def body(carry, k):
        state, ts = carry
        k_act, k_step = jax.random.split(k)
        state, ts = env.step(k_step, state, random_actions(k_act, ts.action_mask))
        return (state, ts), (state, ts)

    first = jax.tree.map(lambda x: jnp.asarray(x)[None], (state, ts))
    rest = jax.lax.scan(body, (state, ts), jax.random.split(key, steps))[1]
    return jax.tree.map(lambda a, b: jnp.concatenate([a, b]), first, rest)


@functools.cache
def plain_rollout(env_id: str):
    """``run`` of the plain env of ``make_pair(env_id)`` with key 3, as host arrays: the
    rollout both controls' wrappers are compared with (here and tests/envs/test_oracle.py)."""
    return jax.device_get(jax.jit(run, static_argnums=0)(make_pair(env_id)[0], jax.random.key(3)))


def assert_same_dynamics(env_id: str, state, ts) -> None:
    """A wrapped env's rollout (``run``, key 3; ``state``: the plain env's state) has the
    plain env's states, rewards and plain observations."""
    s_plain, ts_plain = plain_rollout(env_id)
    pairs = [
        *zip(jax.tree.leaves(s_plain), jax.tree.leaves(state), strict=True),
        (ts_plain.reward, ts.reward),
        (ts_plain.obs, ts.obs["obs"]),
        (ts_plain.info["final_obs"], ts.info["final_obs"]["obs"]),
    ]
    for a, b in pairs:
        if jnp.issubdtype(a.dtype, jnp.floating):
            # two compiled programs may fuse float physics (MPE) differently: within an ulp
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
        else:
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("env_id", tiered(CURRENT_ENV_IDS))
def test_perfect_memory_adds_to_the_observation_and_changes_no_dynamics(env_id):
    plain, remembering = make_pair(env_id)
    assert isinstance(remembering, PerfectMemory)
    space = remembering.observation_space
    plain_parts = plain.observation_space
    assert space["obs"] == plain_parts and len(space.keys()) > 1
    (s_mem, ts_mem) = jax.jit(run, static_argnums=0)(remembering, jax.random.key(3))
    assert_same_dynamics(env_id, s_mem.inner, ts_mem)
    for name in space.keys():  # noqa: SIM118 (a Dict space: keys() is its API)
        part = np.asarray(ts_mem.obs[name])
        assert all(space[name].contains(p) for p in part.reshape(-1, *space[name].shape))


GRIDS = [
    ("grid_return-v0", {"width": 13, "height": 13, "episode_length": 48}),
    ("traveling_salesman-v1", {"width": 11, "height": 11, "episode_length": 48, "num_flags": 4}),
    ("scouts-v1", {"width": 13, "height": 13, "episode_length": 48}),
    ("king_of_the_hill-v1", {"width": 16, "height": 16, "episode_length": 48}),
]


@pytest.mark.parametrize(("env_id", "options"), tiered_grids := [
    GRIDS[0], *(pytest.param(*g, marks=pytest.mark.slow) for g in GRIDS[1:])
])  # fmt: skip
def test_the_map_holds_what_the_agent_saw_and_nothing_it_did_not(env_id, options):
    """Replay an episode (Grid Return's includes teleports): a tile is remembered only where
    some earlier view of this agent covered it, with the id that view showed when it was last
    seen there, and its age is the steps since then; the record is centred on the agent."""
    env = envs.make(env_id, observe="oracle_memory", **options)
    states, ts = jax.jit(run, static_argnums=(0, 2))(env, jax.random.key(5), 47)
    pos = np.asarray(jax.vmap(env.positions)(states))  # [T, A, 2]
    views = np.asarray(ts.obs["obs"])  # [T, A, V, V]
    tiles, age = np.asarray(ts.obs["memory_tiles"]), np.asarray(ts.obs["memory_age"])
    nearest = np.asarray(ts.obs["memory_nearest"])  # [T, A, LANDMARKS, 3]
    o = env.options
    half, (h, w) = o.view // 2, (o.height, o.width)
    # the map is one-hot over the task's tile kinds: every kind a view shows must be one
    assert set(np.unique(views)) <= set(env.tile_kinds)
    lookup = np.full(UNSEEN + 1, len(env.tile_kinds))
    lookup[list(env.tile_kinds)] = np.arange(len(env.tile_kinds))
    for a in range(env.num_agents):
        last = np.full((h, w), UNSEEN)
        when = np.full((h, w), -1)
        for t in range(len(views)):
            r0, c0 = pos[t, a] - half
            for i in range(o.view):
                for j in range(o.view):
                    r, c = r0 + i, c0 + j
                    if 0 <= r < h and 0 <= c < w:
                        last[r, c], when[r, c] = views[t, a, i, j], t
            expected_age = np.where(when >= 0, (t - when) / o.episode_length, 1.0)
            np.testing.assert_array_equal(lookup[centred(last, pos[t, a], UNSEEN)], tiles[t, a])
            np.testing.assert_allclose(age[t, a], centred(expected_age, pos[t, a], 1.0), atol=1e-6)
            if not env.known_channels:  # (Traveling Salesman leaves out its record's flags)
                np.testing.assert_allclose(nearest[t, a], closest(last, pos[t, a]), atol=1e-6)
        assert (last == UNSEEN).any(), "the test map should keep some tiles unseen"


def centred(grid: np.ndarray, pos, fill) -> np.ndarray:
    """``grid [H, W]`` as ``[2H - 1, 2W - 1]`` with ``pos`` at the centre (``fill`` outside)."""
    h, w = grid.shape
    out = np.full((2 * h - 1, 2 * w - 1), fill, dtype=grid.dtype)
    r, c = pos
    out[h - 1 - r : 2 * h - 1 - r, w - 1 - c : 2 * w - 1 - c] = grid
    return out


def closest(seen: np.ndarray, pos) -> np.ndarray:
    """Per landmark kind: found, and the offset of the nearest remembered one (first in
    row-major order among equals), divided by the map's larger side."""
    h, w = seen.shape
    out = np.zeros((len(LANDMARKS), 3), np.float32)
    for k, kind in enumerate(LANDMARKS):
        cells = np.argwhere(seen == kind)
        if len(cells):
            d = np.abs(cells - pos).sum(1)
            r, c = cells[np.argmin(d)] - pos
            out[k] = (1.0, r / max(h, w), c / max(h, w))
    return out


def test_traveling_salesman_remembers_its_own_record():
    env = envs.make("traveling_salesman-v1", observe="oracle_memory", **GRIDS[1][1])
    states, ts = jax.jit(run, static_argnums=(0, 2))(env, jax.random.key(1), 47)
    record = np.asarray(ts.obs["memory_known"][:, :, 0])  # [T, A, 2H - 1, 2W - 1]
    flags, collected = np.asarray(states.inner.flags), np.asarray(states.inner.collected)
    pos = np.asarray(jax.vmap(env.positions)(states))
    o = env.options
    for t in range(record.shape[0]):
        for a in range(env.num_agents):
            expected = np.zeros((o.height, o.width), np.float32)
            expected[flags[t, :, 0], flags[t, :, 1]] = collected[t, a]
            np.testing.assert_array_equal(record[t, a], centred(expected, pos[t, a], 0.0))
    assert record.any()
    # the nearest flag it remembers is never one it has collected
    nearest = np.asarray(ts.obs["memory_nearest"][:, :, 0])  # [T, A, 3]: the goal/flag kind
    scale = max(o.height, o.width)
    for t in range(record.shape[0]):
        for a in range(env.num_agents):
            if nearest[t, a, 0]:
                cell = np.rint(pos[t, a] + nearest[t, a, 1:] * scale).astype(int)
                mine = (flags[t] == cell).all(1)
                assert mine.any() and not collected[t, a][mine].any()


def test_n_back_remembers_its_symbols_and_which_n_its_rewards_allow():
    env = envs.make("n_back-v0", observe="oracle_memory")
    states, ts = jax.jit(run, static_argnums=(0, 2))(env, jax.random.key(2), 63)
    symbols = np.argmax(np.asarray(ts.obs["obs"][:, 0]), -1)  # [T]
    past = np.argmax(np.asarray(ts.obs["memory_symbols"][:, 0]), -1)  # [T, max_n]
    consistent = np.asarray(ts.obs["memory_consistent"][:, 0])
    k, max_n = env.options.num_symbols, env.options.max_n
    for t in range(len(symbols)):
        for lag in range(1, max_n + 1):
            assert past[t, lag - 1] == (symbols[t - lag] if t >= lag else k)
    n = int(states.inner.n[0])
    assert consistent[:, n - 1].all()  # the true n is never ruled out
    assert consistent[-1].sum() == 1  # 63 random answers leave only the true n
    assert consistent[0].all()  # before any answer, every n


def test_external_envs_stack_their_episode_capped():
    env = envs.make("gymnax:CartPole-v1", observe="oracle_memory")
    assert env.record == {"layout": "StackMemory", "cap": STACK_CAP}  # for its manifest
    _, ts = jax.jit(run, static_argnums=(0, 2))(env, jax.random.key(0), 5)
    valid = np.asarray(ts.obs["memory_valid"][:, 0])
    np.testing.assert_array_equal(valid.sum(-1), np.minimum(np.arange(6), STACK_CAP))
    steps = np.asarray(ts.obs["memory_steps"][:, 0])
    obs = np.asarray(ts.obs["obs"][:, 0])
    np.testing.assert_allclose(steps[3, 0, :4], obs[2])  # newest first: the last observation
    np.testing.assert_allclose(steps[3, 2, :4], obs[0])


def test_oracle_memory_is_refused_where_there_is_none():
    tasks = [{"id": "grid_return-v0", "options": {}}]
    with pytest.raises(ConfigError, match="observe: a multi-task env has no perfect-memory"):
        envs.make("multitask-v0", observe="oracle_memory", tasks=tasks)
