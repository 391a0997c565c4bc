"""The multi-task env: batch split, located config errors, the batch layout the trainer sees
(rows per task, task ids, union action masks), agreement with stepping each task alone, and
per-task episode metrics."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pmarl_bench import agents, envs
from pmarl_bench.agents.mlp import MLPConfig
from pmarl_bench.errors import ConfigError
from pmarl_bench.trainer.config import PPOConfig
from pmarl_bench.trainer.ppo import Train, validate
from pmarl_bench.trainer.rollout import EnvBatch, Transition
from pmarl_bench.types import AgentInput

SMALL = {"width": 9, "height": 9, "episode_length": 8}
TASKS = [
    {"id": "grid_return-v0", "options": SMALL, "share": 1},
    {"id": "king_of_the_hill-v0", "options": {**SMALL, "num_agents": 4, "knights_per_team": 1}},
]


@functools.cache
def multitask():
    return envs.make("multitask-v0", tasks=TASKS)


def test_description():
    env = multitask()
    assert env.action_names == ("up", "right", "down", "left", "stay", "attack", "dig")
    assert env.action_space.n == 7
    assert env.observation_space["view"] == envs.make("scouts-v0").observation_space
    assert env.observation_space["task"].num_values == 2
    assert [name for name, _ in env.tasks] == ["grid_return", "king_of_the_hill"]
    assert env.max_episode_steps == 8 and not env.needs_auto_reset(8)
    assert env.needs_auto_reset(9)
    # defaults filled in, so a changed default changes a cell's config hash
    assert env.options.tasks[0].options["num_goals"] == 1


@pytest.mark.parametrize(
    ("shares", "num_envs", "want"),
    [((1, 1), 8, [4, 4]), ((3, 1), 8, [6, 2]), ((1, 2), 4, [1, 3]), ((1, 100), 5, [1, 4])],
)
def test_split_follows_shares_and_gives_every_task_an_env(shares, num_envs, want):
    tasks = [dict(t, share=s) for t, s in zip(TASKS, shares, strict=True)]
    assert envs.make("multitask-v0", tasks=tasks).split(num_envs) == want


def test_split_needs_an_env_per_task():
    with pytest.raises(ConfigError, match=r"^ppo.num_envs: 1 envs cannot give each of the 2"):
        multitask().split(1)


@pytest.mark.parametrize(
    ("tasks", "message"),
    [
        ([{"id": "n_back-v0"}], "options.tasks[0].id: n_back-v0 is not a grid task"),
        (
            [{"id": "scouts-v0"}, {"id": "grid_return-v0", "options": {"view": 7}}],
            "options.tasks[1].options.view: its view 7 differs from task 0's (5)",
        ),
        ([{"id": "scouts-v0", "options": {"wdith": 9}}], "options.tasks[0].options.wdith: unknown"),
        ([{"id": "scouts-v0"}, {"id": "scouts-v0"}], "options.tasks[1]: duplicate task name"),
        ([{"id": "nope-v0"}], "options.tasks[0].id: unknown env 'nope-v0'"),
        ([{"id": "scouts-v0", "share": 0}], "options.tasks[0].share: Input should be greater"),
    ],
)
def test_bad_tasks_give_located_errors(tasks, message):
    with pytest.raises(ConfigError) as err:
        envs.make("multitask-v0", tasks=tasks)
    assert str(err.value).startswith(message)


@pytest.mark.slow
def test_batch_layout_task_ids_and_masks():
    env = multitask()
    batch = EnvBatch(env, env.default_params, num_envs=6)  # 3 envs each: 3 + 3 x 4 rows
    assert batch.batch == 15 and batch.rows == [slice(0, 3), slice(3, 15)]
    _, steps = jax.jit(batch.reset)(jax.random.key(0))
    obs = batch.obs(steps)
    assert obs["view"].shape == (15, 5, 5) and obs["view"].dtype == jnp.uint8
    np.testing.assert_array_equal(obs["task"], [0] * 3 + [1] * 12)
    mask = np.asarray(batch.action_mask(steps))
    assert mask.shape == (15, 7)
    assert mask[:3, :4].all() and not mask[:3, 4:].any(), "grid_return has only the moves"
    np.testing.assert_array_equal(mask[3:], np.asarray(steps[1].action_mask).reshape(12, 7))


@pytest.mark.slow
def test_each_task_steps_as_it_would_alone():
    """Row slices carry each task's actions to it, and its results come back to its rows."""
    env = multitask()
    batch = EnvBatch(env, env.default_params, num_envs=4)
    key_reset, key_step, key_act = jax.random.split(jax.random.key(3), 3)
    states, _ = batch.reset(key_reset)
    actions = jax.random.randint(key_act, (batch.batch,), 0, 4)
    new_states, new_steps = batch.step(key_step, states, actions)
    rewards = batch.per_agent(new_steps, "reward")
    for g, rows, k_reset, k_step, state, new_state in zip(
        batch.groups,
        batch.rows,
        jax.random.split(key_reset, 2),
        jax.random.split(key_step, 2),
        states,
        new_states,
        strict=True,
    ):
        alone = EnvBatch(g.env, g.params, g.num_envs)
        alone_states, _ = alone.reset(k_reset)
        for a, b in zip(jax.tree.leaves(alone_states[0]), jax.tree.leaves(state), strict=True):
            np.testing.assert_array_equal(a, b)
        alone_new, alone_steps = alone.step(k_step, alone_states, actions[rows])
        for a, b in zip(jax.tree.leaves(alone_new[0]), jax.tree.leaves(new_state), strict=True):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(rewards[rows], alone.per_agent(alone_steps, "reward"))


@pytest.mark.slow
def test_agent_sees_the_task_id():
    env = multitask()
    agent = agents.make_agent(MLPConfig(width=16), env.observation_space, env.action_space)
    params = agent.init(jax.random.key(0))
    view = jnp.zeros((2, 5, 5), jnp.uint8)
    inputs = AgentInput(
        obs={"view": view, "task": jnp.array([0, 1], jnp.int32)},
        prev_action=jnp.zeros((2,), jnp.int32),
        prev_reward=jnp.zeros((2,)),
        start=jnp.ones((2,), bool),
    )
    _, out = agent.step(params, agent.initial_carry(2), inputs)
    assert not np.allclose(out.logits[0], out.logits[1])


def test_validate_counts_every_tasks_agents():
    env = multitask()  # 2 envs per task at num_envs=4: 2 x 1 + 2 x 4 = 10 sequences
    cfg = PPOConfig(num_envs=4, rollout_length=8, num_minibatches=4, total_env_steps=64)
    with pytest.raises(ConfigError, match=r"2 x 1 \+ 2 x 4 = 10 sequences"):
        validate(env, cfg)
    validate(env, cfg.model_copy(update={"num_minibatches": 5}))


@pytest.mark.slow
def test_episode_metrics_per_task():
    env = multitask()
    agent = agents.make_agent(MLPConfig(width=8), env.observation_space, env.action_space)
    cfg = PPOConfig(num_envs=2, rollout_length=8, num_minibatches=1, total_env_steps=16)
    train = Train(env, agent, cfg)  # rows: 1 grid_return agent, then 4 king_of_the_hill agents
    T, B = 3, train.envs.batch
    done = np.zeros((T, B), bool)
    ret = np.zeros((T, B), np.float32)
    done[2, :] = True  # every episode ends at t = 2 ...
    ret[2, 0] = 3.0
    ret[2, 1:] = [1.0, 2.0, 3.0, 6.0]
    length = done * 8.0
    zeros = jnp.zeros((T, B))
    traj = Transition(*[zeros] * 7, jnp.asarray(done), zeros, jnp.asarray(ret), jnp.asarray(length))
    m = jax.device_get(train._episode_metrics(traj))
    assert m["episode_return/grid_return"] == 3.0 and m["episodes/grid_return"] == 1
    assert m["episode_return/king_of_the_hill"] == 3.0 and m["episodes/king_of_the_hill"] == 1
    assert m["episode_return"] == pytest.approx(15.0 / 5) and m["episodes"] == 2
    done[2, 0], ret[2, 0] = False, 0.0  # ... but grid_return's: no episode, no return
    traj = traj._replace(done=jnp.asarray(done), completed_return=jnp.asarray(ret))
    m = jax.device_get(train._episode_metrics(traj))
    assert np.isnan(m["episode_return/grid_return"]) and m["episodes/grid_return"] == 0
    assert m["episode_return"] == pytest.approx(12.0 / 4)


@pytest.mark.slow
def test_one_task_is_that_task_as_the_trainer_shows_it_to_the_agent():
    from pmarl_bench.envs.multitask import one_task

    env = multitask()
    task_env, params, name = one_task(env, env.default_params, "king_of_the_hill")
    assert name == "king_of_the_hill" and task_env.num_agents == 4
    assert task_env.action_space.n == 7 and task_env.observation_space == env.observation_space
    key = jax.random.key(3)
    batch = EnvBatch(env, env.default_params, 2)  # one env per task
    _, steps = batch.reset(key)
    # the trainer's key for the KOTH group's first env
    env_key = jax.random.split(jax.random.split(key, 2)[1], 1)[0]
    _, ts = task_env.reset(env_key, params)
    rows = batch.rows[1]
    expected = jax.tree.map(lambda x: x[rows], batch.obs(steps))
    jax.tree.map(np.testing.assert_array_equal, ts.obs, expected)
    np.testing.assert_array_equal(ts.action_mask, batch.action_mask(steps)[rows])
    assert task_env.render(task_env.reset(env_key, params)[0]).dtype == jnp.uint8
    assert one_task(env, None, None)[2] == "grid_return"  # the first task by default
    with pytest.raises(ConfigError, match="--task: no task 'nope'; tasks: grid_return, king"):
        one_task(env, None, "nope")
    with pytest.raises(ConfigError, match=r"--task: .* has no tasks"):
        one_task(envs.make("n_back-v0"), None, "x")
