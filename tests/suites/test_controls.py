"""Control agents in suites (``controls:``): which cells they add, how they are configured and
marked, and the one-line errors for asking wrongly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pmarl_bench.cli import app
from pmarl_bench.errors import ConfigError
from pmarl_bench.suites import load_suite

SUITE = """\
name: c
seeds: 2
steps: 1024
ppo: {num_epochs: 2}
controls: [memoryless, frame_stack, oracle_memory]
envs:
  - id: n_back-v0
    options: {episode_length: 16, max_n: 2}
    ppo: {num_envs: 16, rollout_length: 16, num_minibatches: 2}
  - id: n_back-v0
    name: only_oracle
    options: {episode_length: 16, max_n: 2}
    ppo: {num_envs: 16, rollout_length: 16, num_minibatches: 2}
    controls: [oracle_memory]
agents:
  - baseline: gru
    network: {width: 16}
  - baseline: mlp
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    return path


def test_controls_add_cells_per_env_and_the_plain_mlp_is_the_memoryless_one(tmp_path):
    cells = {c.name: c for c in load_suite(write(tmp_path, SUITE)).cells}
    assert list(cells) == [
        "n_back/gru",
        "n_back/mlp",
        "n_back/frame_stack",
        "n_back/oracle_memory",
        "only_oracle/gru",
        "only_oracle/mlp",
        "only_oracle/oracle_memory",
    ]
    assert {n: c.control for n, c in cells.items() if c.control} == {
        "n_back/mlp": "memoryless",
        "n_back/frame_stack": "frame_stack",
        "n_back/oracle_memory": "oracle_memory",
        "only_oracle/oracle_memory": "oracle_memory",
    }
    oracle = cells["n_back/oracle_memory"]
    assert oracle.env_options == {"episode_length": 16, "max_n": 2, "observe": "oracle_memory"}
    assert (
        oracle.network.kind == "mlp" and cells["n_back/frame_stack"].network.kind == "frame_stack"
    )
    # controls get the same PPO layers as agents: baseline, suite, env
    assert oracle.ppo.num_epochs == 2 and oracle.ppo.num_envs == 16
    assert oracle.resolved_config()["control"] == "oracle_memory"
    assert "control" not in cells["n_back/gru"].resolved_config()
    env, _, _ = oracle.build_policy()
    assert env.observation_space.keys() == ["memory_consistent", "memory_symbols", "obs"]


def test_the_suite_declares_its_comparison_family_outside_the_cells_config(tmp_path):
    default = load_suite(write(tmp_path, SUITE)).cells[0]
    wide = load_suite(write(tmp_path, "comparisons: per_suite\n" + SUITE)).cells[0]
    assert (default.comparisons, wide.comparisons) == ("per_task", "per_suite")
    assert default.config_hash() == wide.config_hash()  # how results are read, not computed
    with pytest.raises(ConfigError, match="comparisons"):
        load_suite(write(tmp_path, "comparisons: everything\n" + SUITE))


def test_without_a_plain_mlp_agent_the_memoryless_control_is_its_own_cell(tmp_path):
    text = SUITE.replace("  - baseline: mlp\n", "  - baseline: mlp\n    network: {width: 32}\n")
    cells = {c.name: c for c in load_suite(write(tmp_path, text)).cells}
    assert cells["n_back/memoryless"].control == "memoryless"
    assert cells["n_back/mlp"].control is None and cells["n_back/mlp"].network.width == 32


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            ("controls: [memoryless, frame_stack, oracle_memory]", "controls: [oracle_state] * 2"),
            "controls",
        ),
        (("frame_stack, oracle_memory]", "oracle_memory, oracle_memory]"), "once"),
        (("frame_stack, oracle_memory]", "frame_stack, perfect]"), "controls"),
        # the control that was full state under the name "oracle" is named by what it sees
        (
            ("frame_stack, oracle_memory]", "frame_stack, oracle]"),
            "'oracle' is now two controls: oracle_memory .* and oracle_state",
        ),
        (
            ("  - baseline: mlp\n", "  - baseline: mlp\n    name: oracle_memory\n"),
            "taken by the oracle_memory",
        ),
    ],
)
def test_bad_controls_fail_with_one_line(tmp_path, edit, message):
    with pytest.raises(ConfigError, match=message) as err:
        load_suite(write(tmp_path, SUITE.replace(*edit)))
    assert "\n" not in str(err.value)


@pytest.mark.slow
def test_control_cells_are_marked_in_their_manifests(tmp_path):
    path = write(tmp_path, SUITE)
    result = CliRunner().invoke(
        app, ["run", str(path), "--only", "n_back/[mo]*", "--results-dir", str(tmp_path / "r")]
    )
    assert result.exit_code == 0, result.output
    cells = tmp_path / "r" / "c" / "n_back"
    manifests = {p.name: json.loads((p / "manifest.json").read_text()) for p in cells.iterdir()}
    assert sorted(manifests) == ["mlp", "oracle_memory"]
    assert manifests["mlp"]["control"] == "memoryless"
    assert manifests["oracle_memory"]["control"] == "oracle_memory"
    assert manifests["oracle_memory"]["config"]["env"]["options"]["observe"] == "oracle_memory"
    # n-back (max_n 2) keeps its last 2 symbols
    assert manifests["oracle_memory"]["perfect_memory"] == {"layout": "NBackMemory", "cap": 2}
    # the memoryless control reads the observation only: nothing of its own past
    assert manifests["mlp"]["memory"] == {"reach": 0, "core_reach": 0, "inputs": ["obs"]}
    assert manifests["mlp"]["comparisons"] == "per_task"  # the report's comparison family
    # the run's plan: every cell it set out to train, for reports of a partial run
    plan = json.loads((tmp_path / "r" / "c" / "plan.json").read_text())["cells"]
    assert {"env": "n_back", "agent": "oracle_memory", "control": "oracle_memory"} in plan
    # one env config, measured once: both cells carry the same random-policy level
    assert manifests["mlp"]["random_return"] == manifests["oracle_memory"]["random_return"]


def test_the_suite_states_its_evaluation_protocol(tmp_path):
    default = load_suite(write(tmp_path, SUITE)).cells[0]
    assert default.evaluation == (64, 2026, 1024)
    assert "evaluation" not in default.resolved_config()
    text = SUITE.replace(
        "controls: [memory", "evaluation: {episodes: 8, seed: 3}\ncontrols: [memory"
    )
    cell = load_suite(write(tmp_path, text)).cells[0]
    assert cell.evaluation == (8, 3, 1024)
    # the cap is written only when set, so configs from before it keep their hash
    assert cell.resolved_config()["evaluation"] == {"episodes": 8, "seed": 3}
    assert cell.config_hash() != default.config_hash()
    assert type(cell).from_config(cell.resolved_config()).evaluation == (8, 3, 1024)
    capped = load_suite(write(tmp_path, text.replace("seed: 3}", "seed: 3, max_episodes: 8}")))
    config = capped.cells[0].resolved_config()
    assert config["evaluation"] == {"episodes": 8, "seed": 3, "max_episodes": 8}
    assert type(cell).from_config(config).evaluation == (8, 3, 8)
    with pytest.raises(ConfigError, match=r"evaluation\.episodes"):
        load_suite(write(tmp_path, text.replace("episodes: 8", "episodes: 0")))
    with pytest.raises(ConfigError, match=r"max_episodes \(4\) is below episodes \(8\)"):
        load_suite(write(tmp_path, text.replace("seed: 3}", "seed: 3, max_episodes: 4}")))
