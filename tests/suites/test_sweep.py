"""A suite's ``sweep:`` (``pmarl-bench tune``) and ``tuned:`` sections: the sweep cells it
expands to, the chosen-settings file laid over a run's cells, and the one-line errors that
keep tuning and evaluation seeds apart."""

import pytest
import yaml

from pmarl_bench.errors import ConfigError
from pmarl_bench.suites import load_suite
from pmarl_bench.trainer.ppo import hyper

SUITE = """\
name: s
seeds: 2
steps: 4096
envs:
  - id: n_back-v0
    options: {episode_length: 16}
    ppo: {num_envs: 16, rollout_length: 16}
  - id: n_back-v0
    name: n_back_long
agents:
  - baseline: tiny
  - baseline: tiny
    name: wide
    network: {width: 32}
controls: [oracle]
"""
SWEEP = "sweep: {grid: {lr: [1.0e-4, 1.0e-3], ent_coef: [0.0, 0.01, 0.05]}, seeds: 2}\n"


@pytest.fixture
def project(tmp_path):
    (tmp_path / "baselines").mkdir()
    (tmp_path / "baselines" / "tiny.yaml").write_text(
        "name: tiny\nnetwork: {kind: mlp, width: 8, depth: 1}\nppo: {lr: 5.0e-4}\n"
    )
    (tmp_path / "suites").mkdir()
    return tmp_path


def write(project, text, name="s.yaml"):
    path = project / "suites" / name
    path.write_text(text)
    return path


def test_a_sweep_cell_trains_every_combination_on_the_tuning_seeds(project):
    path = write(project, SUITE + SWEEP)
    run = load_suite(path)
    tuned = load_suite(path, tune=True)
    assert tuned.suite.name == "s-tune" and run.suite.name == "s"
    assert [c.name for c in tuned.cells] == [c.name for c in run.cells]  # controls too
    cell = tuned.cells[0]
    assert cell.suite == "s-tune" and cell.seeds == (1000, 1001) and cell.checkpoint_every is None
    assert cell.trials[:4] == (
        {"lr": 1e-4, "ent_coef": 0.0},
        {"lr": 1e-4, "ent_coef": 0.01},
        {"lr": 1e-4, "ent_coef": 0.05},
        {"lr": 1e-3, "ent_coef": 0.0},
    )
    assert len(cell.trials) == 6 and cell.member_seeds == [1000, 1001] * 6
    settings = cell.member_settings()
    assert settings[2] == hyper(cell.ppo, lr=1e-4, ent_coef=0.01)  # trial 1, seed 1000
    assert float(settings[0].vf_coef) == pytest.approx(cell.ppo.vf_coef)  # not swept
    columns = cell.member_columns()
    assert columns["trial"] == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert columns["ent_coef"][:6] == [0.0, 0.0, 0.01, 0.01, 0.05, 0.05]
    # the sweep is part of the config: its results are never mistaken for a run's
    assert cell.resolved_config()["sweep"] == list(cell.trials)
    assert cell.config_hash() != run.cells[0].config_hash()
    assert run.cells[0].trials == () and run.cells[0].member_columns() is None


def test_a_sweep_can_name_its_agents_envs_and_seeds(project):
    text = (
        SUITE
        + "sweep: {grid: {lr: [1.0e-3]}, agents: [wide, oracle], envs: [n_back], seeds: [7]}\n"
    )
    cells = load_suite(write(project, text), tune=True).cells
    assert [c.name for c in cells] == ["n_back/wide", "n_back/oracle"]
    assert all(c.seeds == (7,) for c in cells)
    default = load_suite(write(project, SUITE + "sweep: {grid: {lr: [1.0e-3]}}\n"), tune=True)
    assert default.cells[0].seeds == (1000, 1001, 1002)  # clear of the evaluation seeds


@pytest.mark.parametrize(
    ("sweep", "where", "message"),
    [
        ("{grid: {num_envs: [8, 16]}}", "sweep.grid.num_envs", "cannot be swept in one program"),
        ("{grid: {lr: [1.0e-3]}, seeds: [1, 5]}", "sweep.seeds", "tuning seeds [1] are also"),
        ("{grid: {lr: [1.0e-3]}, agents: [gru]}", "sweep.agents", "no agent named 'gru'"),
        ("{grid: {lr: [1.0e-3]}, envs: [x]}", "sweep.envs", "no env named 'x'"),
        ("{grid: {lr: [-1.0]}}", "sweep.grid.lr", "greater than 0"),
        ("{grid: {lr: [1.0e-3, 1.0e-3]}}", "sweep.grid", "distinct values"),
    ],
)
def test_bad_sweeps_are_one_line_naming_the_field(project, sweep, where, message):
    path = write(project, SUITE + f"sweep: {sweep}\n")
    with pytest.raises(ConfigError) as err:
        load_suite(path, tune=True)
    assert where in str(err.value) and message in str(err.value)
    assert "\n" not in str(err.value)


def test_tune_without_a_sweep_says_how_to_add_one(project):
    with pytest.raises(ConfigError, match=r"no `sweep:` section to tune; add one"):
        load_suite(write(project, SUITE), tune=True)


def chosen(seeds, settings):
    protocol = {"tuning_seeds": seeds, "chosen": "per task", "criterion": "IQM"}
    return yaml.safe_dump({"protocol": protocol, "settings": settings})


def test_tuned_settings_are_laid_over_each_cells_ppo_and_recorded(project):
    write(project, chosen([1000, 1001], {"n_back": {"wide": {"lr": 0.002, "gamma": 0.9}}}),
          "s.tuned.yaml")  # fmt: skip
    plain = {c.name: c for c in load_suite(write(project, SUITE)).cells}
    cells = {c.name: c for c in load_suite(write(project, SUITE + "tuned: s.tuned.yaml\n")).cells}
    wide = cells["n_back/wide"]
    assert wide.ppo.lr == 0.002 and wide.ppo.gamma == 0.9
    assert wide.ppo.num_envs == 16  # the rest as the suite has it
    assert wide.tuning["tuning_seeds"] == [1000, 1001]
    assert wide.resolved_config()["tuning"]["criterion"] == "IQM"
    # cells the file has no settings for keep theirs (the baseline's lr)
    assert cells["n_back/tiny"].ppo.lr == plain["n_back/tiny"].ppo.lr == 5e-4
    assert cells["n_back_long/wide"].ppo == plain["n_back_long/wide"].ppo


@pytest.mark.parametrize(
    ("settings", "seeds", "where", "message"),
    [
        ({}, [1, 1000], "tuned (", "tuned on seeds [1], which this suite evaluates on"),
        ({"x": {}}, [1000], "settings.x", "no env named 'x'"),
        ({"n_back": {"gru": {}}}, [1000], "settings.n_back.gru", "no agent named 'gru'"),
        ({"n_back": {"tiny": {"num_envs": 8}}}, [1000], "settings.n_back.tiny.num_envs",
         "not a tuned setting"),
    ],
)  # fmt: skip
def test_bad_tuned_files_are_one_line_naming_the_field(project, settings, seeds, where, message):
    write(project, chosen(seeds, settings), "s.tuned.yaml")
    with pytest.raises(ConfigError) as err:
        load_suite(write(project, SUITE + "tuned: s.tuned.yaml\n"))
    assert where in str(err.value) and message in str(err.value)
    assert "\n" not in str(err.value)
