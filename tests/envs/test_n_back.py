"""n-back rules on hand-built states and on generated episodes, its statistics, score levels
and option validation."""

from __future__ import annotations

import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pmarl_bench import envs
from pmarl_bench.envs.n_back import MATCH, NO_MATCH, NBackParams, NBackState
from pmarl_bench.errors import ConfigError
from pmarl_bench.types import NO_ACTION

ENV = envs.make("n_back-v0")
RING = ENV.ring  # the history ring buffer's length
K, MAX_N, L = 8, 4, 64
NUM_EPISODES = 256


def test_defaults():
    o = ENV.options
    assert (o.num_symbols, o.max_n, o.episode_length) == (K, MAX_N, L)
    assert ENV.num_agents == 1 and ENV.action_space.n == 2
    assert ENV.action_names[NO_MATCH] == "no_match" and ENV.action_names[MATCH] == "match"
    assert ENV.observation_space.shape == (K,)
    assert ENV.max_episode_steps == L
    assert float(ENV.default_params.p_match) == 0.5


def hand_state(label: bool, t: int = 3, n: int = 2):
    """A mid-episode state: the symbol of step s sits in history[s % RING]."""
    history = [3, 5, 3, 1, 6, 2, 7, 0, 4, 2, 5, 1][:RING]
    return NBackState(
        history=jnp.array(history, ENV.symbol_dtype),
        symbol=jnp.int32(history[t % RING]),
        label=jnp.array(label),
        n=jnp.int32(n),
        t=jnp.int32(t),
        answers=jnp.full((RING,), -1, jnp.int8),
    )


step_env = jax.jit(ENV.step_env)
step = jax.jit(ENV.step)


@pytest.mark.parametrize("label", [False, True])
@pytest.mark.parametrize("action", [NO_MATCH, MATCH])
def test_reward_is_one_exactly_for_the_correct_answer(label, action):
    params = ENV.default_params
    state = hand_state(label)
    actions = jnp.array([action], jnp.int32)
    expected = float(action == int(label))
    for i in range(5):
        key = jax.random.key(i)
        new, obs, reward, terminated, truncated = step_env(key, state, actions, params)
        assert reward.shape == (1,) and float(reward[0]) == expected
        assert not terminated and not truncated
        assert int(new.t) == 4 and int(new.n) == 2
        # the new symbol lands in the ring buffer and is shown one-hot
        assert int(new.history[4 % RING]) == int(new.symbol)
        others = np.arange(RING) != 4 % RING
        np.testing.assert_array_equal(new.history[others], state.history[others])
        np.testing.assert_array_equal(obs[0], jax.nn.one_hot(new.symbol, K))
        # t = 4 >= n = 2: the answer is `match` iff the symbol repeats the one of step 2
        assert bool(new.label) == (int(new.symbol) == int(state.history[2 % RING]))
        _, ts = step(key, state, actions, params)
        assert float(ts.reward[0]) == expected


@pytest.mark.parametrize("action", [NO_MATCH, MATCH])
def test_last_step_truncates_rewards_and_resets(action):
    params = ENV.default_params
    state = hand_state(True, t=L - 1, n=3)
    new, ts = step(jax.random.key(0), state, jnp.array([action], jnp.int32), params)
    assert bool(ts.truncated) and not bool(ts.terminated)
    assert float(ts.reward[0]) == float(action == MATCH)
    assert int(ts.prev_action[0]) == NO_ACTION and float(ts.prev_reward[0]) == 0.0
    assert int(new.t) == 0
    np.testing.assert_array_equal(ts.obs[0], jax.nn.one_hot(new.symbol, K))


def run_episodes(key, params, num_steps):
    """Random actions through ``env.step`` from a reset; records the state each action sees."""
    key_reset, key_scan = jax.random.split(key)
    state, ts = ENV.reset(key_reset, params)

    def body(carry, key):
        state, ts = carry
        key_act, key_step = jax.random.split(key)
        action = jax.random.randint(key_act, (1,), 0, 2, jnp.int32)
        new_state, new_ts = ENV.step(key_step, state, action, params)
        rec = {"state": state, "obs": ts.obs[0], "action": action[0], "ts": new_ts}
        return (new_state, new_ts), rec

    _, recs = jax.lax.scan(body, (state, ts), jax.random.split(key_scan, num_steps))
    return recs


_run = jax.jit(jax.vmap(functools.partial(run_episodes, num_steps=2 * L), in_axes=(0, None)))


@functools.cache
def episodes(p_match: float):
    keys = jax.random.split(jax.random.key(int(p_match * 1000)), NUM_EPISODES)
    return jax.device_get(_run(keys, NBackParams(p_match=jnp.float32(p_match))))


@pytest.fixture(params=[0.5, 0.2], ids=["p0.5", "p0.2"])
def recs(request):
    return request.param, episodes(request.param)


@pytest.mark.slow
def test_episode_length_is_exact(recs):
    _, r = recs
    steps = np.arange(1, 2 * L + 1)
    np.testing.assert_array_equal(
        r["ts"].truncated, np.broadcast_to(steps % L == 0, r["ts"].truncated.shape)
    )
    assert not r["ts"].terminated.any()
    t = r["state"].t
    np.testing.assert_array_equal(t, np.broadcast_to(np.arange(2 * L) % L, t.shape))


def test_labels_follow_the_rule(recs):
    _, r = recs
    s = r["state"]
    for ep in (slice(0, L), slice(L, 2 * L)):  # two episodes per row
        sym, lab, n = s.symbol[:, ep], s.label[:, ep], s.n[:, ep]
        assert np.all(n == n[:, :1]), "n is fixed within an episode"
        assert np.all((n >= 1) & (n <= MAX_N))
        assert np.all((sym >= 0) & (sym < K))
        for row in range(sym.shape[0]):
            nn = int(n[row, 0])
            assert not lab[row, :nn].any(), "no match before t = n"
            np.testing.assert_array_equal(lab[row, nn:], sym[row, nn:] == sym[row, :-nn])


def test_reward_and_observation_every_step(recs):
    _, r = recs
    s = r["state"]
    np.testing.assert_array_equal(r["obs"], np.eye(K, dtype=np.float32)[s.symbol])
    np.testing.assert_array_equal(
        r["ts"].reward[..., 0], (r["action"] == s.label.astype(np.int32)).astype(np.float32)
    )


def test_match_rate_is_p_match(recs):
    p, r = recs
    s = r["state"]
    after_n = s.t >= s.n
    count = int(after_n.sum())
    rate = s.label[after_n].mean()
    sigma = np.sqrt(p * (1 - p) / count)
    assert count > 25_000
    assert abs(rate - p) < 5 * sigma, (rate, p, sigma)
    # also right from the first step that can match (t = n) on
    for lag in range(4):
        at = s.t - s.n == lag
        rate, sigma = s.label[at].mean(), np.sqrt(p * (1 - p) / at.sum())
        assert abs(rate - p) < 5 * sigma, (lag, rate, p, sigma)


def test_n_is_uniform():
    count = 4000
    keys = jax.random.split(jax.random.key(11), count)
    states, _ = jax.jit(jax.vmap(ENV.reset, in_axes=(0, None)))(keys, ENV.default_params)
    check_uniform(np.asarray(states.n), 1, MAX_N, count)
    check_uniform(np.asarray(states.symbol), 0, K - 1, count)


def check_uniform(values, low, high, count):
    freq = np.bincount(values - low, minlength=high - low + 1)
    assert freq.sum() == count and len(freq) == high - low + 1, freq
    p = 1 / (high - low + 1)
    assert np.all(np.abs(freq - count * p) < 5 * np.sqrt(count * p * (1 - p))), freq


def test_fused_step_and_reset():
    """``step`` draws the transition and the next episode's reset together; both halves
    follow the rules, with randomness independent of each other."""
    count = 4000
    params = NBackParams(p_match=jnp.float32(0.3))
    state = hand_state(False, t=5, n=2)
    action = jnp.array([MATCH], jnp.int32)
    keys = jax.random.split(jax.random.key(5), count)
    fused = jax.jit(jax.vmap(ENV.step_and_reset, in_axes=(0, None, None, None)))
    (stepped, obs, reward, terminated, truncated), (reset, reset_obs) = jax.device_get(
        fused(keys, state, action, params)
    )
    assert np.all(reward == 0.0) and not terminated.any() and not truncated.any()
    assert np.all(stepped.t == 6) and np.all(stepped.n == 2)
    earlier = int(state.history[4 % RING])
    np.testing.assert_array_equal(stepped.label, stepped.symbol == earlier)
    np.testing.assert_array_equal(stepped.history[:, 6 % RING], stepped.symbol)
    np.testing.assert_array_equal(obs[:, 0], np.eye(K)[stepped.symbol])
    rate, sigma = stepped.label.mean(), np.sqrt(0.3 * 0.7 / count)
    assert abs(rate - 0.3) < 5 * sigma, rate
    # a non-match is any symbol but the one n steps back, uniformly
    others = stepped.symbol[~stepped.label]
    assert not np.any(others == earlier)
    others = others - (others > earlier)
    check_uniform(others, 0, K - 2, len(others))
    assert np.all(reset.t == 0) and not reset.label.any()
    check_uniform(reset.n, 1, MAX_N, count)
    check_uniform(reset.symbol, 0, K - 1, count)
    np.testing.assert_array_equal(reset.history[:, 0], reset.symbol)
    assert np.all(reset.history[:, 1:] == 0)
    np.testing.assert_array_equal(reset_obs[:, 0], np.eye(K)[reset.symbol])
    for a, b in [
        (stepped.label, reset.n),
        (stepped.symbol, reset.n),
        (stepped.label, reset.symbol),
        (stepped.symbol, reset.symbol),
        (reset.n, reset.symbol),
    ]:
        corr = np.corrcoef(a.astype(float), b.astype(float))[0, 1]
        assert abs(corr) < 5 / np.sqrt(count), corr


def brute_force_memoryless(k: int, max_n: int, length: int, p: float) -> float:
    """Best expected return of a policy that sees only the current symbol, by enumerating
    all such deterministic policies against the exact joint law of (symbol, label) per step,
    computed by propagating the distribution of the last n symbols."""
    joint = np.zeros((k, 2))  # sum over steps of P(symbol = s, label = l)
    trans = np.full((k, k), (1 - p) / (k - 1))
    np.fill_diagonal(trans, p)  # trans[earlier, next]
    for n in range(1, max_n + 1):
        w = 1.0 / max_n
        joint[:, NO_MATCH] += w * n / k  # t < n: any symbol, answer no_match
        window = np.full((k,) * n, 1.0 / k**n)  # symbols of steps t-n .. t-1, oldest first
        for _ in range(n, length):
            oldest = window.reshape(k, -1).sum(1)
            joint[:, MATCH] += w * oldest * p
            joint[:, NO_MATCH] += w * (oldest @ (trans * (1 - np.eye(k))))
            window = np.tensordot(window, trans, axes=([0], [0]))
    best = max(
        sum(joint[s, a] for s, a in enumerate(policy))
        for policy in itertools.product((NO_MATCH, MATCH), repeat=k)
    )
    return float(best)


def test_score_levels_defaults():
    levels = ENV.score_levels()
    assert levels.chance == 32.0
    assert levels.optimal == 64.0
    assert levels.memoryless == pytest.approx(33.25, abs=1e-9)
    assert brute_force_memoryless(K, MAX_N, L, 0.5) == pytest.approx(33.25, abs=1e-9)


@pytest.mark.parametrize(
    "options,p",
    [({}, 0.2), ({"num_symbols": 3, "max_n": 2, "episode_length": 6}, 0.35)],
)
def test_score_levels_match_brute_force(options, p):
    env = envs.make("n_back-v0", **options)
    o = env.options
    levels = env.score_levels(NBackParams(p_match=jnp.float32(p)))
    expected = brute_force_memoryless(o.num_symbols, o.max_n, o.episode_length, p)
    assert levels.memoryless == pytest.approx(expected, rel=1e-6)
    assert levels.chance == 0.5 * o.episode_length
    assert levels.optimal == o.episode_length


def test_options_validation():
    envs.make("n_back-v0", max_n=9, episode_length=10)
    for bad in ({"max_n": 64}, {"max_n": 10, "episode_length": 10}, {"max_n": 0}):
        with pytest.raises(ConfigError, match="max_n"):
            envs.make("n_back-v0", **bad)
    with pytest.raises(ConfigError, match="num_symbols"):
        envs.make("n_back-v0", num_symbols=1)
    with pytest.raises(ConfigError, match="episode_length"):
        envs.make("n_back-v0", episode_length=0)


@pytest.mark.slow
def test_render_shows_symbols_answers_and_the_hidden_n():
    env = envs.make("n_back-v0", max_n=3, episode_length=32)
    ring, px, k = env.ring, 16, env.options.num_symbols
    state, _ = env.reset(jax.random.key(0))
    answers = []
    for i in range(ring + 2):  # enough steps to fill every column
        action = jnp.array([i % 2], jnp.int32)
        answers.append((i % 2, i % 2 == int(state.label)))
        state, _ = env.step(jax.random.key(i), state, action)
    img = np.asarray(jax.jit(lambda s: env.render(s, cell_px=px))(state))
    assert img.shape == ((k + 3) * px, ring * px, 3) and img.dtype == np.uint8
    centre = lambda row, col: img[row * px + px // 2, col * px + px // 2]
    t, n = int(state.t), int(state.n)
    history = np.asarray(state.history)
    for col in range(ring):  # each column lights exactly its step's symbol row
        symbol = history[(t - (ring - 1) + col) % ring]
        lit = [np.ptp(centre(r, col).astype(int)) > 60 for r in range(k)]  # coloured
        assert lit == [r == symbol for r in range(k)], (col, lit)
    for col in range(ring - 1):  # answered steps: green when right, red when wrong
        action, right = answers[len(answers) - (ring - 1) + col]
        r, g, _ = img[(k + 1) * px + px - 1, col * px + px // 2].astype(int)
        assert (g > r) == right, col
    gold = np.array([236, 178, 28])
    framed = [(img[1, c * px + 1] == gold).all() for c in range(ring)]
    assert framed == [c == ring - 1 - n for c in range(ring)]  # the column n steps back
    n_row = [(centre(k + 2, c) == gold).all() for c in range(ring)]
    assert n_row == [c < n for c in range(ring)]
