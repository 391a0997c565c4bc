"""GAE against a plain loop; the rollout's flags, returns and bootstrap values; and the
advantages a PPO update computes from its rollout."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pmarl_bench import envs
from pmarl_bench.agents import GRUConfig, MLPConfig, make_agent
from pmarl_bench.trainer import PPOConfig, Train, ppo
from pmarl_bench.trainer.gae import gae
from pmarl_bench.trainer.rollout import EnvBatch, collect
from pmarl_bench.types import NO_ACTION, AgentInput


def reference_gae(rewards, values, next_values, terminated, done, gamma, lam):
    """adv[t] = sum_k (gamma lam)^(k-t) delta_k over the rest of t's episode within the
    rollout, delta_k = r_k + gamma V(next_k) [not terminated] - V_k."""
    T, B = rewards.shape
    adv = np.zeros((T, B))
    for b in range(B):
        for t in range(T):
            total, discount = 0.0, 1.0
            for k in range(t, T):
                bootstrap = 0.0 if terminated[k, b] else gamma * next_values[k, b]
                total += discount * (rewards[k, b] + bootstrap - values[k, b])
                if done[k, b]:
                    break
                discount *= gamma * lam
            adv[t, b] = total
    return adv, adv + values


def random_rollout(seed, T=7, B=3):
    rng = np.random.default_rng(seed)
    rewards = rng.normal(size=(T, B)).astype(np.float32)
    values = rng.normal(size=(T, B)).astype(np.float32)
    next_values = rng.normal(size=(T, B)).astype(np.float32)
    terminated = rng.random((T, B)) < 0.2
    truncated = (rng.random((T, B)) < 0.2) & ~terminated
    done = terminated | truncated
    assert terminated.any() and truncated.any() and (~done).any()
    return rewards, values, next_values, terminated, done


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("gamma,lam", [(0.99, 0.95), (0.9, 1.0), (0.8, 0.0), (1.0, 0.5)])
def test_gae_matches_reference(seed, gamma, lam):
    args = random_rollout(seed)
    adv, targets = gae(*map(jnp.asarray, args), gamma, lam)
    ref_adv, ref_targets = reference_gae(*args, gamma, lam)
    assert adv.shape == targets.shape == (7, 3)
    np.testing.assert_allclose(adv, ref_adv, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(targets, ref_targets, rtol=1e-5, atol=1e-5)


def test_gae_truncation_bootstraps_from_final_value():
    gamma, lam = 0.5, 0.5
    # one row: step 1 truncates (final obs worth 8), step 2 starts a new episode worth 100;
    # another row: step 1 terminates.
    rewards = jnp.array([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]])
    values = jnp.array([[0.0, 0.0], [1.0, 1.0], [100.0, 100.0]])
    next_values = jnp.array([[1.0, 1.0], [8.0, 8.0], [4.0, 4.0]])
    terminated = jnp.array([[False, False], [False, True], [False, False]])
    done = jnp.array([[False, False], [True, True], [False, False]])
    adv, targets = gae(rewards, values, next_values, terminated, done, gamma, lam)
    # truncated: bootstrap from the final obs, nothing from the next episode
    assert float(adv[1, 0]) == pytest.approx(2.0 + 0.5 * 8.0 - 1.0)
    assert float(targets[1, 0]) == pytest.approx(2.0 + 0.5 * 8.0)
    # terminated: no bootstrap
    assert float(adv[1, 1]) == pytest.approx(2.0 - 1.0)
    assert float(targets[1, 1]) == pytest.approx(2.0)
    # the step before carries the episode's advantage back
    delta0 = 1.0 + 0.5 * 1.0 - 0.0
    assert float(adv[0, 0]) == pytest.approx(delta0 + 0.25 * 5.0)
    assert float(adv[0, 1]) == pytest.approx(delta0 + 0.25 * 1.0)
    # the last step bootstraps from next_values
    assert float(adv[2, 0]) == pytest.approx(3.0 + 0.5 * 4.0 - 100.0)


# -- the rollout ------------------------------------------------------------------------
EP_LEN, T, NUM_ENVS = 4, 6, 8
ENV = envs.make("n_back-v0", episode_length=EP_LEN, max_n=2)
AGENT = make_agent(MLPConfig(width=16, depth=2), ENV.observation_space, ENV.action_space)


def fold(x):
    return x.reshape(x.shape[0] * x.shape[1], *x.shape[2:])


@functools.cache
def two_rollouts():
    """Two consecutive rollouts of T=6 steps on episodes of 4: episodes end at global steps
    3, 7 (spanning both rollouts) and 11 (the last step of the second rollout)."""
    params = jax.jit(AGENT.init)(jax.random.key(0))
    batch = EnvBatch(ENV, ENV.default_params, NUM_ENVS)
    rs0 = jax.jit(lambda key: batch.fresh(key, AGENT))(jax.random.key(1))
    run = jax.jit(lambda p, rs, k: collect(AGENT, p, batch, rs, k, T, True))
    rs1, traj1, boot1 = run(params, rs0, jax.random.key(2))
    rs2, traj2, boot2 = run(params, rs1, jax.random.key(3))
    return jax.device_get((params, rs0, (rs1, traj1, boot1), (rs2, traj2, boot2)))


value_of = jax.jit(lambda params, carry, inputs: AGENT.step(params, carry, inputs)[1].value)


@pytest.mark.slow
def test_collect_flags_follow_the_time_limit():
    _, _, (_, traj1, _), (_, traj2, _) = two_rollouts()
    g = np.arange(2 * T)
    done = np.concatenate([traj1.done, traj2.done])
    terminated = np.concatenate([traj1.terminated, traj2.terminated])
    assert done.shape == (2 * T, NUM_ENVS)
    np.testing.assert_array_equal(
        done, np.broadcast_to(((g + 1) % EP_LEN == 0)[:, None], done.shape)
    )
    assert not terminated.any()
    start = np.concatenate([traj1.inputs.start, traj2.inputs.start])
    np.testing.assert_array_equal(start, np.broadcast_to((g % EP_LEN == 0)[:, None], start.shape))


@pytest.mark.slow
def test_collect_inputs_carry_previous_action_and_reward():
    _, _, (_, traj1, _), (_, traj2, _) = two_rollouts()
    cat = lambda f: np.concatenate([f(traj1), f(traj2)])
    start = cat(lambda tr: tr.inputs.start)
    prev_action, prev_reward = (
        cat(lambda tr: tr.inputs.prev_action),
        cat(lambda tr: tr.inputs.prev_reward),
    )
    action, reward = cat(lambda tr: tr.action), cat(lambda tr: tr.reward)
    assert np.all(prev_action[start] == NO_ACTION) and np.all(prev_reward[start] == 0.0)
    np.testing.assert_array_equal(prev_action[1:][~start[1:]], action[:-1][~start[1:]])
    np.testing.assert_array_equal(prev_reward[1:][~start[1:]], reward[:-1][~start[1:]])
    assert set(np.unique(reward)) <= {0.0, 1.0}


def test_collect_completed_returns():
    _, _, (_, traj1, _), (_, traj2, _) = two_rollouts()
    reward = np.concatenate([traj1.reward, traj2.reward])
    done = np.concatenate([traj1.done, traj2.done])
    ret = np.concatenate([traj1.completed_return, traj2.completed_return])
    length = np.concatenate([traj1.completed_length, traj2.completed_length])
    for end in np.flatnonzero(done[:, 0]):
        np.testing.assert_allclose(ret[end], reward[end - EP_LEN + 1 : end + 1].sum(0))
        np.testing.assert_array_equal(length[end], EP_LEN)
    assert np.all(ret[~done] == 0.0) and np.all(length[~done] == 0.0)
    assert ret[done].std() > 0  # not a constant


def test_collect_values_and_log_probs():
    params, rs0, (_, traj1, _), _ = two_rollouts()
    _, out = jax.jit(AGENT.unroll)(params, rs0.carry, traj1.inputs)
    np.testing.assert_allclose(traj1.value, out.value, rtol=1e-5, atol=1e-6)
    logp = jax.nn.log_softmax(out.logits)
    expected = np.take_along_axis(np.asarray(logp), traj1.action[..., None], -1)[..., 0]
    np.testing.assert_allclose(traj1.log_prob, expected, rtol=1e-5, atol=1e-6)


def test_collect_bootstrap_value():
    params, _, (rs1, traj1, boot1), (rs2, traj2, boot2) = two_rollouts()
    B = NUM_ENVS
    # first rollout ends mid-episode: the value of the current obs
    current = AgentInput(
        obs=fold(rs1.timestep[0].obs),
        prev_action=traj1.action[-1],
        prev_reward=traj1.reward[-1],
        start=np.zeros(B, bool),
    )
    np.testing.assert_array_equal(fold(rs1.timestep[0].prev_action), traj1.action[-1])
    np.testing.assert_allclose(boot1, value_of(params, rs1.carry, current), rtol=1e-5, atol=1e-6)
    # second rollout's last step truncates: the value of the final obs of that episode
    assert traj2.done[-1].all() and not traj2.terminated[-1].any()
    final = AgentInput(
        obs=fold(rs2.timestep[0].info["final_obs"]),
        prev_action=traj2.action[-1],
        prev_reward=fold(rs2.timestep[0].reward),
        start=np.zeros(B, bool),
    )
    want = value_of(params, rs2.carry, final)
    np.testing.assert_allclose(boot2, want, rtol=1e-5, atol=1e-6)
    fresh = AgentInput(
        obs=fold(rs2.timestep[0].obs),
        prev_action=fold(rs2.timestep[0].prev_action),
        prev_reward=fold(rs2.timestep[0].prev_reward),
        start=np.ones(B, bool),
    )
    assert not np.allclose(want, value_of(params, rs2.carry, fresh)), "test cannot tell them apart"


def test_collect_final_value_mid_rollout():
    """On a truncated step inside the rollout, ``final_value`` is the value of the episode's
    final obs (some one-hot symbol, after that step's action and reward); 0 elsewhere."""
    params, _, (rs1, traj1, _), _ = two_rollouts()
    truncated = traj1.done & ~traj1.terminated
    assert truncated[3].all() and truncated.sum() == NUM_ENVS
    assert np.all(traj1.final_value[~truncated] == 0.0)
    k = ENV.options.num_symbols
    cands = np.stack(
        [
            value_of(
                params,
                rs1.carry,
                AgentInput(
                    obs=np.broadcast_to(np.eye(k, dtype=np.float32)[s], (NUM_ENVS, k)),
                    prev_action=traj1.action[3],
                    prev_reward=traj1.reward[3],
                    start=np.zeros(NUM_ENVS, bool),
                ),
            )
            for s in range(k)
        ]
    )  # [K, B]
    gaps = np.abs(cands[:, None, :] - cands[None, :, :])[~np.eye(k, dtype=bool)]
    assert gaps.min() > 1e-4, "symbols must have distinguishable values"
    err = np.abs(cands - traj1.final_value[3][None]).min(0)
    assert np.all(err < 1e-5), err


def test_collect_final_value_of_a_memory_agent_reads_its_carry():
    """A recurrent agent values a final obs with the memory of its episode (one network call
    in the acting step); the memoryless agent above values them after the loop, all at once."""
    gru = make_agent(GRUConfig(width=16), ENV.observation_space, ENV.action_space)
    params = jax.jit(gru.init)(jax.random.key(0))
    batch = EnvBatch(ENV, ENV.default_params, NUM_ENVS)
    rs0 = batch.fresh(jax.random.key(1), gru)
    _, traj, _ = jax.jit(lambda p, rs, k: collect(gru, p, batch, rs, k, T, True))(
        params, rs0, jax.random.key(2)
    )
    episode = jax.tree.map(lambda x: x[:4], traj.inputs)  # the first episode, steps 0-3
    carry, _ = gru.unroll(params, rs0.carry, episode)
    k = ENV.options.num_symbols

    def error(carry):  # the final obs is not kept: the nearest of each symbol's value
        cands = np.stack(
            [
                gru.step(
                    params,
                    carry,
                    AgentInput(
                        obs=np.broadcast_to(np.eye(k, dtype=np.float32)[s], (NUM_ENVS, k)),
                        prev_action=traj.action[3],
                        prev_reward=traj.reward[3],
                        start=np.zeros(NUM_ENVS, bool),
                    ),
                )[1].value
                for s in range(k)
            ]
        )
        return np.abs(cands - np.asarray(traj.final_value[3])[None]).min(0)

    assert np.all(error(carry) < 1e-5)
    assert np.all(error(gru.initial_carry(NUM_ENVS)) > 1e-4), "the carry must matter"


# -- the advantages of one PPO update ---------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("bootstrap_truncated", [True, False])
def test_update_advantages(monkeypatch, bootstrap_truncated):
    env = envs.make("n_back-v0", episode_length=EP_LEN, max_n=2)
    cfg = PPOConfig(
        total_env_steps=2 * 8 * 8,
        num_envs=8,
        rollout_length=8,
        num_epochs=1,
        num_minibatches=2,
        gamma=0.9,
        gae_lambda=0.8,
        bootstrap_truncated=bootstrap_truncated,
    )
    train = Train(env, AGENT, cfg)
    seen = {}

    def spy_collect(*args, **kwargs):
        seen["collect"] = out = collect(*args, **kwargs)
        return out

    def spy_gae(*args):
        seen["gae_in"] = args
        seen["gae_out"] = out = gae(*args)
        return out

    def spy_learn(params, opt_state, data, key, h=None):
        seen["batch"] = data  # what the optimiser would learn from; no need to optimise
        return params, opt_state, {}

    monkeypatch.setattr(ppo, "collect", spy_collect)
    monkeypatch.setattr(ppo, "gae", spy_gae)
    monkeypatch.setattr(train, "_learn", spy_learn)

    def update(key):
        seen.clear()
        _, metrics = train.update(train.init(key))
        return metrics, seen["collect"], seen["gae_in"], seen["gae_out"], seen["batch"]

    metrics, (_, traj, last_value), gae_in, gae_out, batch = jax.device_get(
        jax.jit(update)(jax.random.key(5))
    )
    rewards, values, next_values, terminated, done, gamma, lam = gae_in
    assert (gamma, lam) == (np.float32(0.9), np.float32(0.8))  # traced settings: float32

    np.testing.assert_array_equal(rewards, traj.reward)
    np.testing.assert_array_equal(values, traj.value)
    np.testing.assert_array_equal(done, traj.done)
    truncated = traj.done & ~traj.terminated
    assert truncated[3].all() and truncated[7].all() and truncated.sum() == 2 * 8
    if bootstrap_truncated:
        np.testing.assert_array_equal(terminated, traj.terminated)
        # next value: the next step's value within an episode, the final obs's value where
        # an episode was truncated inside the rollout, the bootstrap value at the end
        expected_next = np.concatenate([traj.value[1:], last_value[None]])
        expected_next[:-1] = np.where(truncated[:-1], traj.final_value[:-1], expected_next[:-1])
        np.testing.assert_allclose(next_values, expected_next, rtol=1e-6, atol=1e-6)
        assert not np.allclose(traj.final_value[3], traj.value[4])
    else:
        np.testing.assert_array_equal(terminated, traj.done)
        np.testing.assert_allclose(next_values[:-1][~done[:-1]], traj.value[1:][~done[:-1]])

    ref_adv, ref_targets = reference_gae(rewards, values, next_values, terminated, done, gamma, lam)
    np.testing.assert_allclose(gae_out[0], ref_adv, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(gae_out[1], ref_targets, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(batch.advantage, gae_out[0])
    np.testing.assert_array_equal(batch.target, gae_out[1])
    np.testing.assert_array_equal(batch.value, traj.value)
    np.testing.assert_array_equal(batch.action, traj.action)

    # episode metrics count the completed episodes only
    assert metrics["episodes"] == 16.0
    assert metrics["episode_length"] == EP_LEN
    np.testing.assert_allclose(metrics["episode_return"], traj.completed_return.sum() / 16.0)
