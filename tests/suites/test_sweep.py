"""A suite's ``sweep:`` (``pmarl-bench tune``) and ``tuned:`` sections: the sweep cells it
expands to, the chosen-settings file laid over a run's cells, and the one-line errors that
keep tuning and evaluation seeds apart."""

import pytest
import yaml

from pmarl_bench.errors import ConfigError
from pmarl_bench.suites import load_suite
from pmarl_bench.trainer.ppo import hyper

#: baselines/tiny.yaml of the test project (``conftest.project``)
BASELINE = "name: tiny\nnetwork: {kind: mlp, width: 8, depth: 1}\nppo: {lr: 5.0e-4}\n"

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
controls: [oracle_state]
"""
SWEEP = "sweep: {grid: {lr: [1.0e-4, 1.0e-3], ent_coef: [0.0, 0.01, 0.05]}, seeds: 2}\n"


def test_a_sweep_cell_trains_every_combination_on_the_tuning_seeds(write):
    path = write(SUITE + SWEEP)
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


def test_a_sweep_can_name_its_agents_envs_and_seeds(write):
    text = (
        SUITE + "sweep: {grid: {lr: [1.0e-3]}, agents: [wide, oracle_state], envs: [n_back], "
        "seeds: [7]}\n"
    )
    cells = load_suite(write(text), tune=True).cells
    assert [c.name for c in cells] == ["n_back/wide", "n_back/oracle_state"]
    assert all(c.seeds == (7,) for c in cells)
    default = load_suite(write(SUITE + "sweep: {grid: {lr: [1.0e-3]}}\n"), tune=True)
    assert default.cells[0].seeds == (1000, 1001, 1002)  # clear of the evaluation seeds


@pytest.mark.parametrize(
    ("sweep", "where", "message"),
    [
        (
            "{grid: {total_env_steps: [8, 16]}}",
            "sweep.grid.total_env_steps",
            "not a PPO or network setting",
        ),
        ("{grid: {network.nope: [8]}}", "sweep.grid (tiny)", "nope"),
        ("{grid: {num_envs: [0]}}", "sweep.grid", "greater than 0"),
        ("{grid: {lr: [1.0e-3]}, seeds: [1, 5]}", "sweep.seeds", "tuning seeds [1] are also"),
        ("{grid: {lr: [1.0e-3]}, agents: [gru]}", "sweep.agents", "no agent named 'gru'"),
        ("{grid: {lr: [1.0e-3]}, envs: [x]}", "sweep.envs", "no env named 'x'"),
        ("{grid: {lr: [-1.0]}}", "sweep.grid.lr", "greater than 0"),
        ("{grid: {lr: [1.0e-3, 1.0e-3]}}", "sweep.grid", "distinct values"),
        ("{grid: {lr: [1.0e-3]}, sample: {gamma: [0.9]}, trials: 2}", "sweep", "either `grid`"),
        ("{sample: {lr: {low: 1.0e-4, high: 1.0e-2}}}", "sweep", "`trials` (how many draws)"),
        ("{grid: {lr: [1.0e-3]}, trials: 4}", "sweep", "`trials` (how many draws)"),
        (
            "{sample: {lr: {low: 0.0, high: 1.0e-2, log: true}}, trials: 2}",
            "sweep.sample.lr",
            "log range needs low > 0",
        ),
        (
            "{sample: {lr: {low: 1.0e-2, high: 1.0e-3}}, trials: 2}",
            "sweep.sample.lr",
            "must be below high",
        ),
        (
            "{sample: {num_envs: [8, 16]}, trials: 2}",
            "sweep.sample.num_envs",
            "goes in a `grid`, not a random `sample`",
        ),
        (
            "{sample: {gamma: {low: 0.5, high: 1.5}}, trials: 64}",
            "sweep.sample.gamma",
            "less than or equal to 1",
        ),
        ("{per_agent: {gru: {grid: {lr: [1.0e-3]}}}}", "sweep.per_agent", "no agent named 'gru'"),
        (
            "{grid: {lr: [1.0e-3]}, agents: [tiny], per_agent: {wide: {grid: {lr: [1.0]}}}}",
            "sweep.per_agent",
            "no agent named 'wide'; sweep.agents: tiny",
        ),
        ("{per_agent: {wide: {}}}", "sweep.per_agent.wide", "either `grid`"),
        ("{per_agent: {wide: {grid: {x: [1.0]}}}}", "sweep.per_agent.wide.grid.x", "not a PPO"),
        ("{per_agent: {wide: {grid: {lr: [0.0]}}}}", "sweep.per_agent.wide.grid", "greater than 0"),
        ("{seeds: 2}", "sweep", "either `grid`"),
    ],
)
def test_bad_sweeps_are_one_line_naming_the_field(write, sweep, where, message):
    path = write(SUITE + f"sweep: {sweep}\n")
    with pytest.raises(ConfigError) as err:
        load_suite(path, tune=True)
    assert where in str(err.value) and message in str(err.value)
    assert "\n" not in str(err.value)


def test_an_agent_may_have_its_own_space_and_the_protocol_records_it(write):
    per_agent = "per_agent: {wide: {grid: {lr: [1.0e-2], network.width: [16, 64]}}, "
    text = SUITE + "sweep: {grid: {lr: [1.0e-4, 1.0e-3]}, " + per_agent
    sweep = load_suite(write(text + "oracle_state: {sample: {gamma: [0.9]}, trials: 1}}}\n"),
                       tune=True)  # fmt: skip
    cells = {c.name: c for c in sweep.cells if c.env_name == "n_back"}
    assert list(cells) == ["n_back/tiny", "n_back/wide.width-16", "n_back/wide.width-64",
                           "n_back/oracle_state"]  # fmt: skip
    assert cells["n_back/tiny"].trials == ({"lr": 1e-4}, {"lr": 1e-3})  # the shared grid
    assert cells["n_back/wide.width-64"].trials == ({"lr": 1e-2, "network.width": 64},)
    assert cells["n_back/wide.width-64"].network.width == 64
    assert cells["n_back/oracle_state"].trials == ({"gamma": 0.9},)
    assert sweep.suite.sweep.described == {
        "grid": {"lr": [1e-4, 1e-3]},
        "per_agent": {
            "wide": {"grid": {"lr": [1e-2], "network.width": [16.0, 64.0]}},
            "oracle_state": {"sample": {"gamma": [0.9]}, "trials": 1, "sample_seed": 0},
        },
    }
    # without a shared space only the agents with their own are tuned
    wide = "sweep: {per_agent: {wide: {grid: {lr: [1.0e-2], network.width: [16, 64]}}}}\n"
    only = load_suite(write(SUITE + wide), tune=True)
    assert {c.swept_agent or c.agent_name for c in only.cells} == {"wide"}


def test_a_random_sweep_draws_reproducible_trials_within_its_ranges(write):
    text = SUITE + (
        "sweep: {sample: {lr: {low: 1.0e-5, high: 1.0e-2, log: true}, "
        "gae_lambda: {low: 0.8, high: 0.99}, ent_coef: [0.0, 0.01]}, trials: 200}\n"
    )
    path = write(text)
    trials = load_suite(path, tune=True).cells[0].trials
    assert trials == load_suite(path, tune=True).cells[0].trials  # the same draws
    assert len(trials) == 200 and all(set(t) == {"lr", "gae_lambda", "ent_coef"} for t in trials)
    lr = [t["lr"] for t in trials]
    lam = [t["gae_lambda"] for t in trials]
    assert all(1e-5 <= v <= 1e-2 for v in lr) and all(0.8 <= v <= 0.99 for v in lam)
    # log-uniform: about as many draws per decade (3 decades, 200 draws; a uniform draw
    # would put about 90% in the top decade)
    assert 40 <= sum(v < 1e-4 for v in lr) <= 95 and sum(v > 1e-3 for v in lr) <= 95
    assert {t["ent_coef"] for t in trials} == {0.0, 0.01}
    reseeded = load_suite(path, tune=True, overrides=["sweep.sample_seed=1"]).cells[0].trials
    assert reseeded != trials


def test_tune_ignores_tuned_its_output_so_a_fresh_clone_can_tune_first(write):
    # the chosen-settings file need not exist yet, and does not move the sweep's start
    path = write(SUITE + SWEEP + "tuned: missing.tuned.yaml\n")
    cells = load_suite(path, tune=True).cells
    assert all(c.tuning is None for c in cells)
    with pytest.raises(ConfigError, match=r"missing\.tuned\.yaml"):
        load_suite(path)


def test_shape_changing_settings_make_a_variant_cell_per_combination(write):
    text = SUITE + (
        "sweep: {grid: {lr: [1.0e-3, 3.0e-3], num_envs: [8, 16], network.width: [8, 16]}, "
        "agents: [tiny], envs: [n_back]}\n"
    )
    cells = load_suite(write(text), tune=True).cells
    assert [c.agent_name for c in cells] == [
        "tiny.num_envs-8.width-8", "tiny.num_envs-8.width-16",
        "tiny.num_envs-16.width-8", "tiny.num_envs-16.width-16",
    ]  # fmt: skip
    last = cells[-1]
    assert last.ppo.num_envs == 16 and last.network.width == 16 and last.swept_agent == "tiny"
    assert cells[0].ppo.num_envs == 8 and cells[0].network.width == 8
    assert last.ppo.rollout_length == 16 and last.network.depth == 1  # the rest unchanged
    assert last.trials == (
        {"lr": 1e-3, "num_envs": 16, "network.width": 16},
        {"lr": 3e-3, "num_envs": 16, "network.width": 16},
    )
    assert [float(h.lr) for h in last.member_settings()] == pytest.approx([1e-3] * 3 + [3e-3] * 3)
    columns = last.member_columns()
    assert columns["network.width"] == [16.0] * 6 and columns["num_envs"] == [16.0] * 6
    assert last.resolved_config()["swept_agent"] == "tiny"
    assert len({c.config_hash() for c in cells}) == 4


def test_tuned_shape_settings_set_the_cells_ppo_and_network(write):
    write(chosen([1000], {"n_back": {"tiny": {"lr": 0.002, "num_envs": 32.0,
                                                       "network.width": 24.0}}}),
          "s.tuned.yaml")  # fmt: skip
    cells = {c.name: c for c in load_suite(write(SUITE + "tuned: s.tuned.yaml\n")).cells}
    tiny = cells["n_back/tiny"]
    assert (tiny.ppo.lr, tiny.ppo.num_envs, tiny.network.width) == (0.002, 32, 24)
    assert cells["n_back_long/tiny"].network.width == 8  # not tuned there


def test_tune_without_a_sweep_says_how_to_add_one(write):
    with pytest.raises(ConfigError, match=r"no `sweep:` section to tune; add one"):
        load_suite(write(SUITE), tune=True)


def chosen(seeds, settings):
    protocol = {"tuning_seeds": seeds, "chosen": "per task", "criterion": "IQM"}
    return yaml.safe_dump({"protocol": protocol, "settings": settings})


def test_tuned_settings_are_laid_over_each_cells_ppo_and_recorded(write):
    write(chosen([1000, 1001], {"n_back": {"wide": {"lr": 0.002, "gamma": 0.9}}}),
          "s.tuned.yaml")  # fmt: skip
    plain = {c.name: c for c in load_suite(write(SUITE)).cells}
    cells = {c.name: c for c in load_suite(write(SUITE + "tuned: s.tuned.yaml\n")).cells}
    wide = cells["n_back/wide"]
    assert wide.ppo.lr == 0.002 and wide.ppo.gamma == 0.9
    assert wide.ppo.num_envs == 16  # the rest as the suite has it
    assert wide.tuning["tuning_seeds"] == [1000, 1001]
    assert wide.resolved_config()["tuning"]["criterion"] == "IQM"
    # cells the file has no settings for keep theirs (the baseline's lr)
    assert cells["n_back/tiny"].ppo.lr == plain["n_back/tiny"].ppo.lr == 5e-4
    assert cells["n_back_long/wide"].ppo == plain["n_back_long/wide"].ppo
    # ... and are not called tuned (no protocol in their config, so reports list them apart)
    assert cells["n_back/tiny"].tuning is None and cells["n_back_long/wide"].tuning is None
    assert cells["n_back/tiny"].config_hash() == plain["n_back/tiny"].config_hash()


@pytest.mark.parametrize(
    ("settings", "seeds", "where", "message"),
    [
        ({}, [1, 1000], "tuned (", "tuned on seeds [1], which this suite evaluates on"),
        ({"x": {}}, [1000], "settings.x", "no env named 'x'"),
        ({"n_back": {"gru": {}}}, [1000], "settings.n_back.gru", "no agent named 'gru'"),
        ({"n_back": {"tiny": {"total_env_steps": 8}}}, [1000],
         "settings.n_back.tiny.total_env_steps", "not a tuned setting"),
        ({"n_back": {"tiny": {"network.nope": 8}}}, [1000], "settings.n_back.tiny", "nope"),
    ],
)  # fmt: skip
def test_bad_tuned_files_are_one_line_naming_the_field(write, settings, seeds, where, message):
    write(chosen(seeds, settings), "s.tuned.yaml")
    with pytest.raises(ConfigError) as err:
        load_suite(write(SUITE + "tuned: s.tuned.yaml\n"))
    assert where in str(err.value) and message in str(err.value)
    assert "\n" not in str(err.value)
