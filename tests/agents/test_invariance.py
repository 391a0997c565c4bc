"""Invariants every agent must keep: ``unroll`` equals stepping (also across episode starts),
causality, no memory across episodes, vmap over seeds, and deterministic init."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pmarl_bench import envs
from pmarl_bench.agents import agent_class, agent_kinds, make_agent
from pmarl_bench.envs.spaces import Box, Dict, Discrete
from pmarl_bench.types import NO_ACTION, AgentInput

T, B = 8, 4
TOL = {"rtol": 1e-5, "atol": 1e-5}
_N_BACK = envs.make("n_back-v0")
SPACES = {
    "n_back": (_N_BACK.observation_space, _N_BACK.action_space),
    # grid tiles with a task id, as a multi-task env gives them
    "tiles+task": (
        Dict.of(view=Box(0, 17, (5, 5), "uint8", 18), task=Box(0, 3, (), "int32", 4)),
        Discrete(7),
    ),
}
# episode starts per batch row (every row starts at t = 0)
STARTS = {0: (0, 3), 1: (0, 5), 2: (0,), 3: (0, 2, 6)}
# every registered agent at its defaults, plus variants whose code paths differ: a context
# shorter than the episodes (sliding window, ring-buffer wrap-around) and a histogram value
VARIANTS = {kind: (kind, {}) for kind in agent_kinds()} | {
    "transformer[context=3]": ("transformer", {"context": 3}),
    "frame_stack[frames=2]": ("frame_stack", {"frames": 2}),
    "gru[hl_gauss]": ("gru", {"value_head": {"kind": "hl_gauss", "bins": 11, "max": 2.0}}),
}


def config(variant: str):
    kind, overrides = VARIANTS[variant]
    return agent_class(kind).Config(**overrides)


@functools.cache
def setup(variant: str, space: str):
    obs_space, action_space = SPACES[space]
    agent = make_agent(config(variant), obs_space, action_space)
    init = jax.jit(agent.init)
    params = init(jax.random.key(0))
    return agent, params, jax.jit(agent.unroll), jax.jit(agent.step), init


@functools.cache
def make_inputs(space: str, length: int = T, seed: int = 0) -> AgentInput:
    obs_space, action_space = SPACES[space]
    rng = np.random.default_rng(seed)
    start = np.zeros((length, B), bool)
    for b, ts in STARTS.items():
        start[[t for t in ts if t < length], b] = True
    prev_action = rng.integers(0, action_space.n, (length, B))
    prev_reward = rng.normal(size=(length, B))
    return AgentInput(
        obs=random_obs(obs_space, (length, B), rng),
        prev_action=jnp.asarray(np.where(start, NO_ACTION, prev_action).astype(np.int32)),
        prev_reward=jnp.asarray(np.where(start, 0.0, prev_reward).astype(np.float32)),
        start=jnp.asarray(start),
    )


def random_obs(space, lead: tuple[int, ...], rng):
    if isinstance(space, Dict):
        return {name: random_obs(box, lead, rng) for name, box in space.spaces}
    shape = (*lead, *space.shape)
    if np.issubdtype(np.dtype(space.dtype), np.integer):
        obs = rng.integers(space.low, space.high + 1, shape)
    else:
        obs = rng.uniform(space.low, space.high, shape)
    return jnp.asarray(obs.astype(space.dtype))


def step_through(step, params, carry, inputs: AgentInput):
    logits, values = [], []
    for t in range(inputs.start.shape[0]):
        carry, out = step(params, carry, jax.tree.map(lambda x, t=t: x[t], inputs))
        logits.append(out.logits)
        values.append(out.value)
    return carry, np.stack(logits), np.stack(values)


#: variants whose invariants run in the quick tier (the memory suite's kinds, on n-back's
#: space); the others, and every variant on the other space, in the slow tier (CI runs both)
QUICK = {"mlp", "gru", "transformer", "frame_stack"}


def tiered(cases: list, quick) -> list:
    """``cases`` as parameters, those ``quick(case)`` rejects marked slow."""
    return [pytest.param(*c, marks=() if quick(c) else pytest.mark.slow) for c in cases]


@pytest.fixture(
    params=[k if k in QUICK else pytest.param(k, marks=pytest.mark.slow) for k in sorted(VARIANTS)]
)
def kind(request):
    return request.param


#: cores whose input path is the shared encoder behind a recurrent core already tested on
#: every space (the GRU's): tested on n-back only, to keep CI's time
ONE_SPACE = {"lstm", "lru", "mingru"}
#: (agent variant, observation space) pairs: every variant on every space, but those above
KIND_SPACE = [
    (k, s) for k in sorted(VARIANTS) for s in sorted(SPACES) if k not in ONE_SPACE or s == "n_back"
]
#: vmapping the init is the point, not the space: every variant on n-back, the shared
#: encoder's other space through the GRU
VMAP_CASES = [(k, s) for k, s in KIND_SPACE if s == "n_back" or k == "gru"]
kind_space = pytest.mark.parametrize(
    ("kind", "space"), tiered(KIND_SPACE, lambda c: c[0] in QUICK and c[1] == "n_back")
)


@pytest.mark.slow
@kind_space
def test_unroll_equals_step(kind, space):
    agent, params, unroll, step, _ = setup(kind, space)
    n = SPACES[space][1].n
    inputs = make_inputs(space)
    carry0 = agent.initial_carry(B)
    carry_u, out = unroll(params, carry0, inputs)
    assert out.logits.shape == (T, B, n) and out.logits.dtype == jnp.float32
    assert out.value.shape == (T, B) and out.value.dtype == jnp.float32
    carry_s, logits, values = step_through(step, params, carry0, inputs)
    np.testing.assert_allclose(out.logits, logits, **TOL)
    np.testing.assert_allclose(out.value, values, **TOL)
    # the carries left behind act the same on what follows (no start: memory continues)
    more = make_inputs(space, length=3, seed=1)
    more = more._replace(start=jnp.zeros_like(more.start))
    _, after_u, after_uv = step_through(step, params, carry_u, more)
    _, after_s, after_sv = step_through(step, params, carry_s, more)
    np.testing.assert_allclose(after_u, after_s, **TOL)
    np.testing.assert_allclose(after_uv, after_sv, **TOL)
    # and unrolling in two pieces, passing the carry on, equals one unroll
    first = jax.tree.map(lambda x: x[:4], inputs)
    second = jax.tree.map(lambda x: x[4:], inputs)
    carry_1, out_1 = unroll(params, carry0, first)
    _, out_2 = unroll(params, carry_1, second)
    np.testing.assert_allclose(np.concatenate([out_1.logits, out_2.logits]), out.logits, **TOL)
    np.testing.assert_allclose(np.concatenate([out_1.value, out_2.value]), out.value, **TOL)
    # every row starts an episode at t = 0, so the fresh-episode path agrees
    fresh = jax.jit(agent.unroll_fresh)(params, inputs)
    np.testing.assert_allclose(fresh.logits, out.logits, **TOL)
    np.testing.assert_allclose(fresh.value, out.value, **TOL)


def test_an_episode_does_not_depend_on_when_it_starts(kind):
    """Each row keeps its own episode clock: the same episode gives the same outputs whether
    it starts at t = 0, mid-sequence after another episode, or after a carried memory."""
    space = "n_back"
    agent, params, unroll, step, _ = setup(kind, space)
    inputs = make_inputs(space)  # row 2 is one episode over [0, T)
    episode = jax.tree.map(lambda x: x[:5, 2:3], inputs)
    _, alone = unroll(params, agent.initial_carry(1), episode)
    # row 0 of a second batch: two steps of another episode, then the same episode at t = 2
    # (row 1 keeps running its own episode from t = 0)
    shifted = jax.tree.map(
        lambda a, e: a.at[2:7, 0].set(e[:, 0]), jax.tree.map(lambda x: x[:7, :2], inputs), episode
    )
    carry = agent.initial_carry(2)
    _, out_u = unroll(params, carry, shifted)
    _, logits_s, values_s = step_through(step, params, carry, shifted)
    for got_logits, got_values in ((out_u.logits, out_u.value), (logits_s, values_s)):
        np.testing.assert_allclose(got_logits[2:7, 0], alone.logits[:, 0], **TOL)
        np.testing.assert_allclose(got_values[2:7, 0], alone.value[:, 0], **TOL)


def perturb(inputs: AgentInput, space: str, t: int, b: int) -> AgentInput:
    def change(x, box):
        x = np.array(x)
        if box.num_values:
            x[t, b] = (x[t, b] + 1) % box.num_values
        else:
            x[t, b] = 1.0 - x[t, b]
        return jnp.asarray(x)

    obs_space = SPACES[space][0]
    if isinstance(obs_space, Dict):
        obs = {name: change(inputs.obs[name], box) for name, box in obs_space.spaces}
    else:
        obs = change(inputs.obs, obs_space)
    prev_reward = np.array(inputs.prev_reward)
    prev_reward[t, b] += 1.5
    return inputs._replace(obs=obs, prev_reward=jnp.asarray(prev_reward))


@kind_space
@pytest.mark.parametrize(("b", "t", "next_start"), [(0, 1, 3), (1, 3, 5), (3, 2, 6), (2, 4, T)])
def test_causal_and_no_memory_across_episodes(kind, space, b, t, next_start):
    agent, params, unroll, _, _ = setup(kind, space)
    inputs = make_inputs(space)
    carry0 = agent.initial_carry(B)
    _, base = unroll(params, carry0, inputs)
    _, moved = unroll(params, carry0, perturb(inputs, space, t, b))
    for name in ("logits", "value"):
        x, y = np.asarray(getattr(base, name)), np.asarray(getattr(moved, name))
        np.testing.assert_allclose(y[:t], x[:t], **TOL, err_msg=f"{name} before t changed")
        others = [r for r in range(B) if r != b]
        np.testing.assert_allclose(y[:, others], x[:, others], **TOL, err_msg="other rows")
        np.testing.assert_allclose(
            y[next_start:, b], x[next_start:, b], **TOL, err_msg="next episode changed"
        )
    assert not np.allclose(moved.value[t, b], base.value[t, b], rtol=0, atol=1e-6), (
        "the perturbation must reach the output at t"
    )


@pytest.mark.slow
@pytest.mark.timeout(120)  # linear algebra (QR) in a vmapped init can hang XLA on the CPU
@pytest.mark.parametrize(("kind", "space"), VMAP_CASES)
def test_vmap_over_seeds_equals_one_by_one(kind, space):
    agent, _, unroll, _, init = setup(kind, space)
    inputs = make_inputs(space)
    keys = jax.random.split(jax.random.key(42), 3)

    def run(key):
        return unroll(agent.init(key), agent.initial_carry(B), inputs)[1]

    batched = jax.jit(jax.vmap(run))(keys)
    for i in range(3):
        _, single = unroll(init(keys[i]), agent.initial_carry(B), inputs)
        np.testing.assert_allclose(batched.logits[i], single.logits, **TOL)
        np.testing.assert_allclose(batched.value[i], single.value, **TOL)
    assert not np.allclose(batched.value[0], batched.value[1])


@kind_space
def test_init_is_deterministic(kind, space):
    agent, params, _, _, init = setup(kind, space)
    again = init(jax.random.key(0))
    other = init(jax.random.key(1))
    leaves, same, diff = (jax.tree.leaves(p) for p in (params, again, other))
    assert len(leaves) == len(same) == len(diff) > 0
    assert agent.num_params(params) > 0
    for a, b in zip(leaves, same, strict=True):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, c) for a, c in zip(leaves, diff, strict=True))
    assert jax.tree.structure(params) == jax.tree.structure(other)


@pytest.mark.slow
@pytest.mark.parametrize("kind", agent_kinds())
def test_no_previous_action_has_its_own_embedding(kind):
    """NO_ACTION (-1, episode start) must not read as any real action."""
    env = envs.make("n_back-v0")
    agent = make_agent(agent_class(kind).Config(), env.observation_space, env.action_space)
    params = agent.init(jax.random.key(0))
    n = env.action_space.n
    prev = jnp.array([NO_ACTION, *range(n)], jnp.int32)
    batch = prev.shape[0]
    inputs = AgentInput(
        obs=jnp.zeros((batch, *env.observation_space.shape), jnp.float32),
        prev_action=prev,
        prev_reward=jnp.zeros((batch,), jnp.float32),
        start=jnp.ones((batch,), bool),
    )
    _, out = agent.step(params, agent.initial_carry(batch), inputs)
    for a in range(n):
        assert not np.allclose(out.value[0], out.value[a + 1]), a


MEMORYLESS = {"mlp"}
#: tested by test_attention_sees_only_its_context and test_a_frame_stack_sees_its_frames_only
SHORT_MEMORY = {"transformer[context=3]", "frame_stack", "frame_stack[frames=2]"}


@pytest.mark.parametrize(
    "kind",
    tiered(
        [(v,) for v, (k, _) in VARIANTS.items() if k not in MEMORYLESS and v not in SHORT_MEMORY],
        lambda c: c[0] in QUICK,
    ),
)
def test_memory_spans_the_whole_episode_and_resets_exactly_at_its_start(kind):
    """Perturbing an episode's first step changes every later output of that episode (a reset
    one step early would cut this off), and none of the next episode's (one step late would
    leak it). Row 3 has episodes [0, 2), [2, 6), [6, T)."""
    space = "n_back"
    agent, params, unroll, _, _ = setup(kind, space)
    inputs = make_inputs(space)
    carry = agent.initial_carry(B)
    _, base = unroll(params, carry, inputs)
    _, moved = unroll(params, carry, perturb(inputs, space, 2, 3))
    changed = ~np.isclose(
        np.asarray(base.value[:, 3]), np.asarray(moved.value[:, 3]), rtol=1e-6, atol=1e-7
    )
    assert changed[2:6].all(), changed
    assert not changed[:2].any() and not changed[6:].any(), changed


@pytest.mark.parametrize("variant", ["frame_stack", "frame_stack[frames=2]"])
def test_a_frame_stack_sees_its_frames_only(variant):
    """Row 2 is one episode: perturbing step 1 reaches steps 1 .. frames exactly."""
    space = "n_back"
    agent, params, unroll, _, _ = setup(variant, space)
    inputs = make_inputs(space)
    carry = agent.initial_carry(B)
    _, base = unroll(params, carry, inputs)
    _, moved = unroll(params, carry, perturb(inputs, space, 1, 2))
    changed = ~np.isclose(
        np.asarray(base.value[:, 2]), np.asarray(moved.value[:, 2]), rtol=1e-6, atol=1e-7
    )
    expected = np.zeros(T, bool)
    expected[1 : 1 + config(variant).frames] = True
    np.testing.assert_array_equal(changed, expected)
