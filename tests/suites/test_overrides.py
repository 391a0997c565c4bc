"""``--set PATH=VALUE``: overrides land where the path says, are checked as the file's own
values (the same value set either way gives the same config hash), and bad paths or values
are one line naming the path."""

import pytest

from pmarl_bench.errors import ConfigError
from pmarl_bench.suites import load_suite
from pmarl_bench.suites.overrides import apply_overrides, parse_value

#: baselines/tiny.yaml of the test project (``conftest.project``)
BASELINE = "name: tiny\nnetwork: {kind: mlp, width: 8, depth: 1}\n"

VALID = """\
name: s
seeds: 3
steps: 4096
ppo: {gamma: 0.95}
envs:
  - id: n_back-v0
    options: {episode_length: 16}
    ppo: {num_envs: 16, rollout_length: 16, gamma: 0.97}
  - id: n_back-v0
    name: n_back_long
    steps: 8192
    ppo: {num_envs: 8, rollout_length: 32, num_minibatches: 2}
agents:
  - baseline: tiny
  - baseline: tiny
    name: tiny_wide
    network: {width: 32}
"""


def cells(path, *assignments):
    return {c.name: c for c in load_suite(path, overrides=list(assignments)).cells}


def test_values_parse_as_yaml_and_numbers_in_any_form():
    assert parse_value("1e-3") == 0.001 and parse_value("2e6") == 2_000_000.0
    assert parse_value("3") == 3 and parse_value("true") is True
    assert parse_value("[0, 2]") == [0, 2] and parse_value("{kind: mse}") == {"kind": "mse"}
    assert parse_value("relu") == "relu"


def test_overrides_land_where_their_path_says(write):
    path = write(VALID)
    got = cells(
        path,
        "ppo.lr=1e-3",
        "agents.tiny_wide.network.width=64",
        "envs.n_back_long.steps=16384",
        "agents.0.ppo.gamma=0.5",
        "seeds=[4, 7]",
    )
    assert all(c.ppo.lr == 0.001 for c in got.values())
    assert got["n_back/tiny_wide"].network.width == 64 and got["n_back/tiny"].network.width == 8
    assert got["n_back_long/tiny"].ppo.total_env_steps == 16384
    assert got["n_back/tiny"].ppo.gamma == 0.5 and got["n_back/tiny_wide"].ppo.gamma == 0.97
    assert got["n_back/tiny"].seeds == (4, 7)


def test_a_value_set_on_the_command_line_equals_the_same_value_in_the_file(write):
    edited = write(VALID.replace("seeds: 3", "seeds: 3\nsteps: 8192", 1).replace(
        "steps: 4096\n", "", 1), "edited.yaml")  # fmt: skip
    by_file = cells(edited)
    by_set = cells(write(VALID), "steps=8192")
    assert by_file.keys() == by_set.keys()
    for name in by_file:
        assert by_file[name].config_hash() == by_set[name].config_hash(), name


def test_a_suite_wide_setting_that_some_cells_set_again_is_warned_about(project, write):
    path = write(VALID)
    loaded = load_suite(path, overrides=["ppo.gamma=0.5", "ppo.lr=1e-3"])
    # the first env's entry sets gamma again; the second's does not; nothing sets lr again
    assert loaded.warnings == [
        f"--set ppo.gamma does not reach n_back/tiny, n_back/tiny_wide: {path}: envs[0].ppo "
        "sets gamma for them (override it there)"
    ]
    got = {c.name: c.ppo.gamma for c in loaded.cells}
    assert got == {"n_back/tiny": 0.97, "n_back/tiny_wide": 0.97, "n_back_long/tiny": 0.5,
                   "n_back_long/tiny_wide": 0.5}  # fmt: skip
    only = load_suite(path, overrides=["ppo.gamma=0.5"], only="n_back/tiny")
    assert only.warnings[0].startswith("--set ppo.gamma does not reach n_back/tiny: ")
    assert load_suite(path, overrides=["envs.0.ppo.gamma=0.5"]).warnings == []
    # chosen settings (tuned:) are named as such, every cell of the file at once
    (project / "suites" / "t.yaml").write_text(
        "protocol: {tuning_seeds: [1000], chosen: per task, criterion: IQM}\n"
        "settings: {n_back: {tiny: {lr: 3.0e-3}, tiny_wide: {lr: 3.0e-3}}}\n"
    )
    tuned = write(VALID + "tuned: t.yaml\n", "tuned.yaml")
    (line,) = load_suite(tuned, overrides=["ppo.lr=1e-3"]).warnings
    assert line == (
        "--set ppo.lr does not reach n_back/tiny, n_back/tiny_wide: the chosen settings in "
        "t.yaml (tuned:) set lr for them (--set tuned=null trains without them)"
    )


def test_the_file_itself_is_not_changed(write):
    path = write(VALID)
    data = {"ppo": {"gamma": 0.9}, "agents": [{"baseline": "tiny"}]}
    out = apply_overrides(data, ["ppo.gamma=0.5", "agents.tiny.network.width=4"])
    assert data == {"ppo": {"gamma": 0.9}, "agents": [{"baseline": "tiny"}]}
    assert out["agents"][0]["network"] == {"width": 4}
    assert path.read_text() == VALID


@pytest.mark.parametrize(
    ("assignment", "expected"),
    [
        ("ppo.lr", "--set: expected PATH=VALUE, got 'ppo.lr'; e.g. --set ppo.lr=1e-3"),
        ("=3", "--set: expected PATH=VALUE"),
        (
            "agents.lstm.network.width=8",
            "--set agents.lstm: no agent named 'lstm'; agents: tiny, tiny_wide",
        ),
        (
            "envs.cartpole.steps=8",
            "--set envs.cartpole: no env named 'cartpole'; envs: n_back, n_back_long",
        ),
        ("agents.5.ppo.lr=1", "--set agents.5: agents has 2 entries (0..1)"),
        ("steps.x=1", "--set steps: steps is a value (4096), not a section"),
        # errors about a value a --set gave name the --set, not the file
        ("ppo.lr=fast", "--set ppo.lr: Input should be a valid number"),
        ("ppo.lrr=0.1", "--set ppo.lrr: unknown key; did you mean 'lr'?"),
        (
            "agents.tiny.network.width=-1",
            "--set agents.tiny.network.width: Input should be greater",
        ),
        ("stepz=1", "--set stepz: unknown key; did you mean 'steps'?"),
    ],
)
def test_bad_overrides_are_one_line_naming_the_path(write, assignment, expected):
    with pytest.raises(ConfigError) as info:
        load_suite(write(VALID), overrides=[assignment])
    message = str(info.value)
    assert "\n" not in message
    assert expected in message, message
