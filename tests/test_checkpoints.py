"""Saved parameters: every cell saves its seeds' final parameters (and intermediate ones with
``checkpoint_every``), and a cell folder alone rebuilds the agent and its parameters."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pmarl_bench.checkpoints import load_cell
from pmarl_bench.errors import ConfigError
from pmarl_bench.runner import run_suite
from pmarl_bench.suites import load_suite
from pmarl_bench.trainer import loop
from pmarl_bench.types import AgentInput

# compiles and trains whole programs: the slow tier (CI runs it)
pytestmark = pytest.mark.slow

SUITE = """\
name: ck
seeds: [3, 5]
steps: 1024
checkpoint_every: 512
evaluation: {max_episodes: 64}
envs:
  - id: n_back-v0
    options: {episode_length: 16, max_n: 2}
    ppo: {num_envs: 16, rollout_length: 16, num_minibatches: 2, num_epochs: 2}
agents:
  - baseline: mlp
    network: {width: 16}
"""


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("ck")
    (root / "suites").mkdir()
    path = root / "suites" / "ck.yaml"
    path.write_text(SUITE)
    loaded = load_suite(path)
    run_suite(loaded, root / "results")
    return root / "results", loaded


def test_manifest_lists_final_and_intermediate_checkpoints(trained):
    results, _ = trained
    cell = load_cell("ck/n_back/mlp", results)
    assert [c["label"] for c in cell.checkpoints] == ["update_000002", "final"]
    assert cell.checkpoints[0]["env_steps"] == 512 and cell.checkpoints[1]["update"] == 4
    assert cell.seeds == [3, 5]


def test_restored_parameters_are_the_trained_ones_and_act_identically(trained):
    results, loaded = trained
    cell = load_cell(results / "ck" / "n_back" / "mlp")  # a folder works too
    restored = cell.params(5)
    _, _, agent, train = loaded.cells[0].build()
    again = loop.train_seeds(train, [3, 5])  # the same program: the same parameters
    expected = jax.tree.map(lambda x: np.asarray(x)[1], again.params)
    for a, b in zip(jax.tree.leaves(expected), jax.tree.leaves(restored), strict=True):
        np.testing.assert_array_equal(a, b)
    inputs = AgentInput(
        obs=jax.random.uniform(jax.random.key(0), (8, *cell.env.observation_space.shape)),
        prev_action=jnp.zeros((8,), jnp.int32),
        prev_reward=jnp.zeros((8,)),
        start=jnp.ones((8,), bool),
    )
    _, want = agent.step(expected, agent.initial_carry(8), inputs)
    _, got = cell.agent.step(restored, cell.agent.initial_carry(8), inputs)
    np.testing.assert_array_equal(want.logits, got.logits)
    np.testing.assert_array_equal(want.logits.argmax(-1), got.logits.argmax(-1))
    # an intermediate checkpoint is another set of parameters, reachable by update number
    middle = cell.params(5, "2")
    assert any(
        not np.array_equal(a, b)
        for a, b in zip(jax.tree.leaves(middle), jax.tree.leaves(restored), strict=True)
    )
    same = cell.params(5, "update_000002")
    for a, b in zip(jax.tree.leaves(middle), jax.tree.leaves(same), strict=True):
        np.testing.assert_array_equal(a, b)


def test_asking_for_what_does_not_exist_lists_what_does(trained):
    results, _ = trained
    cell = load_cell("ck/n_back/mlp", results)
    with pytest.raises(ConfigError, match=r"--seed: no seed 4 in .*; seeds: 3, 5"):
        cell.params(4)
    with pytest.raises(ConfigError, match=r"--checkpoint: no checkpoint '7' .* updates 2, 4"):
        cell.params(3, "7")
    with pytest.raises(ConfigError, match=r"no finished cell here; finished cells: ck/n_back/mlp"):
        load_cell("ck/n_back/gru", results)


def test_a_checkpoint_for_another_network_is_one_line_not_a_crash(trained):
    """Parameters saved for another observation or width (an earlier version of the code)
    cannot play: the cell says so in one line (a report lists it without rollouts)."""
    from pmarl_bench import agents

    results, _ = trained
    cell = load_cell("ck/n_back/mlp", results)
    space = cell.env.observation_space, cell.env.action_space
    for other in (
        agents.MLPConfig(width=8, inputs=("obs",)),  # other shapes
        agents.MLPConfig(width=16),
    ):  # other parameters (reads its past actions)
        cell.agent = agents.make_agent(other, *space)
        with pytest.raises(ConfigError, match="does not fit the network this code builds") as err:
            cell.params(3)
        # what a report's rollouts section says of the cell
        assert (
            err.value.reason == "its checkpoint was trained with an earlier observation or network"
        )
