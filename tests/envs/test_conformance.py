"""The environment contract, checked for every registered env (and a gymnax adapter env):
spaces, dtypes, jit, vmap, determinism and the auto-reset contract of ``Environment.step``."""

from __future__ import annotations

import functools
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pmarl_bench import envs
from pmarl_bench.envs.base import TaskCard
from pmarl_bench.errors import ConfigError
from pmarl_bench.types import NO_ACTION, EnvLike

GYMNAX_ID = "gymnax:CartPole-v1"
JAXMARL_IDS = ["jaxmarl:MPE_simple_spread_v3", "jaxmarl:overcooked"]
ADAPTED = [GYMNAX_ID, *JAXMARL_IDS]
#: adapted envs at test sizes (Overcooked's 400-step episodes shortened)
OPTIONS = {"jaxmarl:overcooked": {"max_steps": 40}}
# every single env; a multi-task env is a batch of them (tests/envs/test_multitask.py)
ENV_IDS = [
    *(i for i in envs.registered() if not isinstance(envs.make(i), envs.MultiTask)),
    *ADAPTED,
]
#: every env but those a newer version of the same task supersedes (``scouts-v0`` beside
#: ``scouts-v1``): the observation wrappers (oracle, perfect memory) are checked on these,
#: while superseded versions keep their contract and rule checks (CI has 30 minutes)
CURRENT_ENV_IDS = [
    i for i in ENV_IDS
    if not (m := re.fullmatch(r"(.+)-v(\d+)", i)) or f"{m[1]}-v{int(m[2]) + 1}" not in ENV_IDS
]  # fmt: skip
#: the envs whose compiled contract checks run in the quick tier (one of each kind: no map,
#: a grid task, an adapter); every other env's run in the slow tier, which CI runs too
QUICK_ENV_IDS = ("n_back-v0", "grid_return-v0", GYMNAX_ID)


def tiered(env_ids) -> list:
    """``env_ids`` as parameters, those outside ``QUICK_ENV_IDS`` marked slow."""
    return [e if e in QUICK_ENV_IDS else pytest.param(e, marks=pytest.mark.slow) for e in env_ids]


NUM_ROLLOUTS = 4  # rows 0 and 2 share a key
MAX_SCAN = 2100


@functools.cache
def make_env(env_id: str):
    return envs.make(env_id, **OPTIONS.get(env_id, {}))


def num_steps(env) -> int:
    """Long enough to see at least two time limits (when there is one)."""
    if env.max_episode_steps is None:
        return 200
    return min(2 * env.max_episode_steps + 3, MAX_SCAN)


def random_actions(key, mask):
    logits = jnp.where(mask, 0.0, -jnp.inf)
    return jax.random.categorical(key, logits).astype(jnp.int32)


def rollout(env, params, key, length):
    """Random-action rollout through ``env.step``; beside each step, the raw results of the
    transition and of the reset that ``Environment.step`` picks from (``step_and_reset``,
    which is ``step_env`` and ``reset_env`` on split keys unless an env fuses them)."""
    key_reset, key_scan = jax.random.split(key)
    state0, ts0 = env.reset(key_reset, params)

    def body(carry, key):
        state, ts = carry
        key_act, key_step = jax.random.split(key)
        action = random_actions(key_act, ts.action_mask)
        new_state, new_ts = env.step(key_step, state, action, params)
        (_, raw_obs, raw_reward, raw_term, raw_trunc), (reset_state, reset_obs) = (
            env.step_and_reset(key_step, state, action, params)
        )
        state_is_reset = jnp.all(
            jnp.stack(
                [
                    jnp.all(a == b)
                    for a, b in zip(
                        jax.tree.leaves(new_state), jax.tree.leaves(reset_state), strict=True
                    )
                ]
            )
        )
        rec = {
            "ts": new_ts,
            "action": action,
            "raw_obs": raw_obs,
            "raw_reward": raw_reward,
            "raw_terminated": raw_term,
            "raw_truncated": raw_trunc,
            "reset_obs": reset_obs,
            "state_is_reset": state_is_reset,
        }
        return (new_state, new_ts), rec

    _, recs = jax.lax.scan(body, (state0, ts0), jax.random.split(key_scan, length))
    return ts0, recs


def rollout_keys():
    k = jax.random.split(jax.random.key(7), 3)
    return jnp.stack([k[0], k[1], k[0], k[2]])


@functools.cache
def compiled_rollout(env_id: str):
    env = make_env(env_id)
    return jax.jit(
        jax.vmap(functools.partial(rollout, env, length=num_steps(env)), in_axes=(None, 0))
    )


@functools.cache
def batched_rollout(env_id: str):
    env = make_env(env_id)
    return jax.device_get(compiled_rollout(env_id)(env.default_params, rollout_keys()))


@pytest.fixture(params=ENV_IDS)
def env_id(request):
    return request.param


@pytest.mark.parametrize("env_id", [*envs.registered(), *ADAPTED])
def test_every_env_declares_what_the_harness_uses(env_id):
    """One interface (``types.EnvLike``), a multi-task batch included: no caller asks which
    kind of env it has."""
    env = make_env(env_id)
    assert isinstance(env, EnvLike)
    cards = env.task_cards()
    assert cards and all(isinstance(card, TaskCard) for card in cards.values())
    if isinstance(env, envs.MultiTask):
        assert list(cards) == [name for name, _ in env.tasks]
    else:
        assert list(cards) == [None] and cards[None] == env.card()


def test_spaces_description(env_id):
    env = make_env(env_id)
    assert env.num_agents >= 1
    assert env.action_space.n >= 1
    assert isinstance(env.observation_space.shape, tuple)
    assert len(env.action_names) in (0, env.action_space.n)
    if env.teams is not None:
        assert len(env.teams) == env.num_agents
    if env.max_episode_steps is not None:
        assert env.max_episode_steps >= 1


def check_timestep(env, ts, lead=()):
    a, space = env.num_agents, env.observation_space
    n = env.action_space.n
    assert ts.obs.shape == (*lead, a, *space.shape)
    assert ts.obs.dtype == jnp.dtype(space.dtype)
    assert space.contains(ts.obs)
    assert ts.reward.shape == (*lead, a) and ts.reward.dtype == jnp.float32
    assert ts.terminated.shape == lead and ts.terminated.dtype == jnp.bool_
    assert ts.truncated.shape == lead and ts.truncated.dtype == jnp.bool_
    assert ts.action_mask.shape == (*lead, a, n) and ts.action_mask.dtype == jnp.bool_
    assert np.all(np.asarray(ts.action_mask).any(-1)), "every agent needs a legal action"
    assert ts.prev_action.shape == (*lead, a) and ts.prev_action.dtype == jnp.int32
    assert ts.prev_reward.shape == (*lead, a) and ts.prev_reward.dtype == jnp.float32
    final = ts.info["final_obs"]
    assert final.shape == ts.obs.shape and final.dtype == ts.obs.dtype


@pytest.mark.slow
def test_reset_and_step_match_spaces(env_id):
    env = make_env(env_id)
    ts0, recs = batched_rollout(env_id)
    check_timestep(env, ts0, (NUM_ROLLOUTS,))
    assert np.all(ts0.prev_action == NO_ACTION)
    assert np.all(ts0.prev_reward == 0.0)
    assert np.all(ts0.reward == 0.0)
    assert not ts0.terminated.any() and not ts0.truncated.any()
    np.testing.assert_array_equal(ts0.info["final_obs"], ts0.obs)
    check_timestep(env, recs["ts"], (NUM_ROLLOUTS, num_steps(env)))
    assert recs["action"].shape == (NUM_ROLLOUTS, num_steps(env), env.num_agents)
    assert env.action_space.contains(recs["action"])


@pytest.mark.slow
def test_unbatched_jit_equals_vmapped_row(env_id):
    """reset and step work jitted on one env, and agree with row 1 of the vmapped rollout."""
    env = make_env(env_id)
    params = env.default_params
    ts0, recs = batched_rollout(env_id)
    key_reset, key_scan = jax.random.split(rollout_keys()[1])
    state, ts = jax.jit(env.reset)(key_reset, params)
    key_act, key_step = jax.random.split(jax.random.split(key_scan, num_steps(env))[0])
    action = random_actions(key_act, ts.action_mask)
    np.testing.assert_array_equal(action, recs["action"][1, 0])
    _, ts1 = jax.jit(env.step)(key_step, state, action, params)
    pairs = (
        (ts, jax.tree.map(lambda x: x[1], ts0)),
        (ts1, jax.tree.map(lambda x: x[1, 0], recs["ts"])),
    )
    for got, want in pairs:
        for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
            np.testing.assert_allclose(np.asarray(a), b, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("env_id", tiered(ENV_IDS))
def test_same_key_same_rollout_different_key_different(env_id):
    ts0, recs = batched_rollout(env_id)
    leaves = jax.tree.leaves((ts0, recs))
    for leaf in leaves:
        np.testing.assert_array_equal(leaf[0], leaf[2])
    # other keys, other observations (carry_bit's hold one random bit an episode, so one
    # other key may repeat them: of two, one must differ)
    obs = np.concatenate([ts0.obs[:, None], recs["ts"].obs], axis=1)
    assert not (np.array_equal(obs[0], obs[1]) and np.array_equal(obs[0], obs[3]))
    # and again: a second call of the compiled rollout gives the same result
    env = make_env(env_id)
    again = jax.device_get(compiled_rollout(env_id)(env.default_params, rollout_keys()))
    for a, b in zip(jax.tree.leaves(again), leaves, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("env_id", tiered(ENV_IDS))
def test_auto_reset_contract(env_id):
    _, recs = batched_rollout(env_id)
    ts = recs["ts"]
    done = ts.terminated | ts.truncated
    np.testing.assert_array_equal(ts.terminated, recs["raw_terminated"])
    np.testing.assert_array_equal(ts.truncated, recs["raw_truncated"])
    np.testing.assert_array_equal(ts.reward, recs["raw_reward"])  # the ending transition's
    np.testing.assert_array_equal(ts.info["final_obs"], recs["raw_obs"])
    obs_done = done.reshape(done.shape + (1,) * (ts.obs.ndim - done.ndim))
    np.testing.assert_array_equal(ts.obs, np.where(obs_done, recs["reset_obs"], recs["raw_obs"]))
    agent_done = done[..., None]
    np.testing.assert_array_equal(ts.prev_action, np.where(agent_done, NO_ACTION, recs["action"]))
    np.testing.assert_array_equal(ts.prev_reward, np.where(agent_done, 0.0, ts.reward))
    assert np.all(recs["state_is_reset"][done]), "the state after an ending step is a reset"
    assert np.all(ts.prev_action[~done] >= 0)


def episode_lengths(done: np.ndarray) -> list[int]:
    lengths, count = [], 0
    for d in done:
        count += 1
        if d:
            lengths.append(count)
            count = 0
    return lengths


@pytest.mark.parametrize("env_id", tiered(e for e in ENV_IDS if make_env(e).max_episode_steps))
def test_time_limit(env_id):
    env = make_env(env_id)
    limit = env.max_episode_steps
    _, recs = batched_rollout(env_id)
    ts = recs["ts"]
    done = ts.terminated | ts.truncated
    for row in done:
        assert all(n <= limit for n in episode_lengths(row))
    if not ts.terminated.any() and num_steps(env) > limit:
        steps = np.arange(1, num_steps(env) + 1)
        expected = np.broadcast_to(steps % limit == 0, ts.truncated.shape)
        np.testing.assert_array_equal(ts.truncated, expected)


def test_gymnax_truncates_at_its_time_limit():
    """gymnax >= 1.0 keeps the time limit out of ``step_env``'s done; the adapter must still
    report it (as truncation, so the trainer bootstraps)."""
    env = make_env(GYMNAX_ID)
    assert env.max_episode_steps == env.default_params.max_steps_in_episode
    params = env.default_params.replace(max_steps_in_episode=5)  # too short to fall over
    _, recs = jax.jit(functools.partial(rollout, env, length=12))(params, jax.random.key(0))
    ts = jax.device_get(recs["ts"])
    np.testing.assert_array_equal(ts.truncated, np.arange(1, 13) % 5 == 0)
    assert not ts.terminated.any()


def test_make_unknown_id():
    with pytest.raises(ConfigError, match="no_such_env-v0"):
        envs.make("no_such_env-v0")
    with pytest.raises(ConfigError, match="NoSuchEnv"):
        envs.make("gymnax:NoSuchEnv-v0")


def test_make_unknown_option(env_id):
    with pytest.raises(ConfigError, match="not_an_option"):
        envs.make(env_id, not_an_option=1)


@pytest.mark.parametrize(
    "env_id", [e for e in envs.registered() if make_env(e).Options.model_fields]
)
def test_make_invalid_option_value(env_id):
    fields = make_env(env_id).Options.model_fields
    for field in fields:
        with pytest.raises(ConfigError, match=field) as info:
            envs.make(env_id, **{field: object()})
        assert info.value.where is not None and field in info.value.where


@pytest.mark.slow
@pytest.mark.parametrize("env_id", [e for e in ENV_IDS if make_env(e).fixed_length])
def test_fixed_length_episodes_truncate_exactly_at_the_limit(env_id):
    """What lets the trainer step these envs without auto-reset in episodic mode."""
    env = make_env(env_id)
    params = env.default_params
    limit = env.max_episode_steps
    state, ts = env.reset(jax.random.key(0), params)

    def body(state, key):
        key_act, key_step = jax.random.split(key)
        state, ts = env.step_no_reset(key_step, state, random_actions(key_act, ts_mask), params)
        return state, (ts.terminated, ts.truncated, ts.obs)

    ts_mask = ts.action_mask
    _, (terminated, truncated, obs) = jax.jit(
        lambda s, k: jax.lax.scan(body, s, jax.random.split(k, limit))
    )(state, jax.random.key(1))
    assert not np.asarray(terminated).any()
    np.testing.assert_array_equal(np.asarray(truncated), np.arange(1, limit + 1) == limit)
    assert jax.tree.structure(obs) == jax.tree.structure(ts.obs)


@pytest.mark.parametrize("env_id", [i for i in ENV_IDS if i not in ADAPTED])
def test_every_shipped_env_renders_the_map_and_an_agents_view(env_id):
    # traced only (no compile): shapes and dtypes of the jittable renders
    env = make_env(env_id)
    state = jax.eval_shape(lambda k: env.reset(k)[0], jax.random.key(0))
    img = jax.eval_shape(env.render, state)
    pov = jax.eval_shape(lambda s: env.render_pov(s, 0), state)
    for out in (img, pov):
        assert out.dtype == jnp.uint8 and len(out.shape) == 3 and out.shape[-1] == 3
        assert min(out.shape[:2]) >= 8
