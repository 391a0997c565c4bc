"""Seeds that do not fit in device memory together train in groups, side by side, with the
results of one group."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from pmarl_bench import agents, envs
from pmarl_bench.agents.gru import GRUConfig
from pmarl_bench.trainer.config import PPOConfig
from pmarl_bench.trainer.loop import Resume, train_seeds
from pmarl_bench.trainer.ppo import Train
from pmarl_bench.trainer.programs import DoesNotFitError, ProgramCache, seed_groups

# compiles and trains whole programs: the slow tier (CI runs it)
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def train():
    env = envs.make("n_back-v0", episode_length=16, max_n=2)
    agent = agents.make_agent(GRUConfig(width=16), env.observation_space, env.action_space)
    cfg = PPOConfig(num_envs=16, rollout_length=16, num_minibatches=2, num_epochs=2,
                    total_env_steps=16 * 16 * 4)  # fmt: skip
    return Train(env, agent, cfg)


@pytest.fixture(scope="module")
def programs(train):
    return ProgramCache(train)


def peak(program, sizes):
    """Per-device bytes of groups of ``sizes`` side by side, from the compiled programs."""
    memories = [program(n).memory() for n in sizes]
    return sum(m.state for m in memories) + max(m.temp + m.extra_out for m in memories)


def test_memory_grows_with_the_seeds(programs):
    one, four = programs(1).memory(), programs(4).memory()
    assert four.state == 4 * one.state  # parameters, optimiser and envs of each seed
    assert one.temp < four.temp


def test_groups_are_the_largest_that_fit(programs):
    seeds = [0, 1, 2, 3]
    assert seed_groups(seeds, programs, None) == [seeds]  # no limit (the CPU)
    assert seed_groups(seeds, programs, peak(programs, [4])) == [seeds]
    assert seed_groups(seeds, programs, peak(programs, [2, 2])) == [[0, 1], [2, 3]]
    assert seed_groups(seeds, programs, peak(programs, [3, 1])) == [[0, 1, 2], [3]]
    assert seed_groups(seeds, programs, peak(programs, [1] * 4)) == [[0], [1], [2], [3]]
    with pytest.raises(DoesNotFitError, match=r"cell x: even one seed at a time needs about"):
        seed_groups(seeds, programs, peak(programs, [1] * 4) - 1, "cell x")


def test_grouped_training_matches_one_group(train, programs):
    seeds = [0, 1, 2, 3]
    together = train_seeds(train, seeds, memory_limit=None, programs=programs)
    limit = peak(programs, [2, 2])
    grouped = train_seeds(train, seeds, memory_limit=limit, programs=programs)
    assert together.groups == [[0, 1, 2, 3]] and grouped.groups == [[0, 1], [2, 3]]
    for name, values in together.metrics.items():
        np.testing.assert_allclose(grouped.metrics[name], values, rtol=1e-5, atol=1e-6,
                                   err_msg=name)  # fmt: skip
    for a, b in zip(jax.tree.leaves(together.params), jax.tree.leaves(grouped.params),
                    strict=True):  # fmt: skip
        assert a.shape == b.shape and a.shape[0] == 4
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-5, atol=1e-6)


class _Stop(Exception):
    pass


def stopped_after(train, seeds, programs, limit, updates):
    """Train until ``updates`` updates are done, then stop as a kill would; returns what a
    snapshot holds."""
    taken = {}

    def on_chunk(chunk):
        if chunk.updates == updates:
            taken.update(leaves=chunk.state_leaves(), metrics=chunk.metrics())
            raise _Stop

    with pytest.raises(_Stop):
        train_seeds(train, seeds, memory_limit=limit, programs=programs, on_chunk=on_chunk)
    return Resume(updates, taken["leaves"], taken["metrics"])


@pytest.mark.parametrize("layouts", [("grouped", "grouped"), ("together", "grouped")])
def test_resumed_training_ends_bit_for_bit_where_an_unbroken_one_does(train, programs, layouts):
    """Seed groups resume from a snapshot exactly, even one taken with other groups (a run
    resumed on a device with less memory)."""
    seeds = [0, 1, 2, 3]
    limits = {"together": None, "grouped": peak(programs, [2, 2])}
    unbroken = train_seeds(train, seeds, memory_limit=limits[layouts[1]], programs=programs)
    resume = stopped_after(train, seeds, programs, limits[layouts[0]], updates=2)
    resumed = train_seeds(train, seeds, memory_limit=limits[layouts[1]], programs=programs,
                          resume=resume)  # fmt: skip
    assert resumed.resumed_from == 2 and resumed.agent_steps == unbroken.agent_steps // 2
    same = layouts[0] == layouts[1]  # across layouts: the first updates' sums ran in groups
    for name, values in unbroken.metrics.items():
        if same:
            np.testing.assert_array_equal(resumed.metrics[name], values, err_msg=name)
        else:
            np.testing.assert_allclose(resumed.metrics[name], values, rtol=1e-5, atol=1e-6)
    for a, b in zip(jax.tree.leaves(unbroken.params), jax.tree.leaves(resumed.params),
                    strict=True):  # fmt: skip
        if same:
            np.testing.assert_array_equal(np.asarray(b), np.asarray(a))
        else:
            np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-5, atol=1e-6)


def test_a_programs_initial_state_is_the_vmapped_init_bit_for_bit(train, programs):
    """``SeedProgram.init`` draws each seed's state one at a time (it compiles faster): the
    same bits as initialising the seeds vmapped."""
    seeds = [3, 0, 7]
    got = programs(3).init(seeds)
    want = jax.jit(jax.vmap(lambda s: train.init(jax.random.key(s))))(np.asarray(seeds))
    raw = lambda x: (
        jax.random.key_data(x) if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key) else x
    )
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        np.testing.assert_array_equal(np.asarray(raw(a)), np.asarray(raw(b)))
