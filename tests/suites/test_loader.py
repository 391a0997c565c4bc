"""Suite loading: expansion into cells, override order, config hashes, and one-line errors
that name the file and the field for every kind of bad input."""

from pathlib import Path

import pytest

from pmarl_bench import envs
from pmarl_bench.envs import registered
from pmarl_bench.errors import ConfigError
from pmarl_bench.suites import load_suite
from pmarl_bench.suites.files import load_baseline

ROOT = Path(__file__).resolve().parents[2]

BASELINE = """\
name: tiny
network: {kind: mlp, width: 8, depth: 1}
ppo: {lr: 0.001, num_epochs: 3, gamma: 0.9}
"""

VALID = """\
name: s
seeds: 3
steps: 4096
ppo: {gamma: 0.95, num_epochs: 2}
envs:
  - id: n_back-v0
    options: {episode_length: 16}
    params: {p_match: 0.25}
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
    ppo: {gamma: 0.5}
"""


@pytest.mark.slow
def test_shipped_suites_load():
    for name in ("memory", "smoke", "cartpole", "coordination", "memory-zoo", "jaxmarl"):
        loaded = load_suite(ROOT / "suites" / f"{name}.yaml")
        assert loaded.suite.name == name
        assert loaded.cells
    for name in ("memory", "coordination"):  # their sweeps: the tuning behind `tuned:`
        sweep = load_suite(ROOT / "suites" / f"{name}.yaml", tune=True)
        assert sweep.cells and all(c.trials and min(c.seeds) >= 1000 for c in sweep.cells)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["memory", "coordination", "memory-zoo"])
def test_shipped_full_budgets_have_the_origin_sizes(name):
    loaded = load_suite(ROOT / "suites" / f"{name}.yaml", budget="full")
    assert loaded.suite.name == f"{name}-full"
    for cell in loaded.cells:
        env, _, _, train = cell.build()
        grids = [e for _, e in env.tasks] if isinstance(env, envs.MultiTask) else [env]
        for grid in grids:
            if grid.env_id != "n_back-v0":
                o = grid.options
                assert (o.width, o.height, o.episode_length) == (40, 40, 512), cell.name
        assert train.envs.batch >= 2048, f"{cell.name}: thousands of agents"
        if cell.network.kind == "transformer" and env.max_episode_steps:
            assert cell.network.context >= env.max_episode_steps, cell.name


BUDGETED = (
    VALID
    + """budgets:
  big:
    seeds: [5, 6]
    steps: 65536
    ppo: {num_envs: 32}
    envs:
      n_back:
        options: {episode_length: 32}
        ppo: {rollout_length: 32}
      n_back_long: {steps: 131072}
    agents:
      tiny_wide:
        network: {width: 64}
        ppo: {gamma: 0.25}
"""
)


def test_budget_values_win_over_the_suite_as_written(write):
    loaded = load_suite(write(BUDGETED), budget="big")
    assert loaded.suite.name == "s-big"  # its own results folder
    cells = {c.name: c for c in loaded.cells}
    c = cells["n_back/tiny"]
    assert c.suite == "s-big" and c.seeds == (5, 6)
    assert c.env_options == {"episode_length": 32}
    assert c.ppo.num_envs == 32 and c.ppo.rollout_length == 32  # over the env entry's 16
    assert c.ppo.gamma == 0.97 and c.ppo.num_epochs == 2  # not in the budget: as written
    assert c.ppo.total_env_steps == 65536
    assert cells["n_back_long/tiny"].ppo.total_env_steps == 131072
    assert cells["n_back_long/tiny"].ppo.rollout_length == 32  # as written
    wide = cells["n_back/tiny_wide"]
    assert wide.network.width == 64 and wide.ppo.gamma == 0.25
    default = load_suite(write(BUDGETED))
    assert default.suite.name == "s" and default.cells[0].ppo.num_envs == 16
    assert load_suite(write(BUDGETED), budget="default").suite.name == "s"
    # the CLI still wins over a budget
    assert load_suite(write(BUDGETED), budget="big", seeds=1).cells[0].seeds == (0,)


def test_shipped_baselines_load():
    paths = sorted((ROOT / "baselines").glob("*.yaml"))
    assert {p.stem for p in paths} >= {
        "mlp",
        "gru",
        "transformer",
        "transformer-medium",
        "lstm",
        "lru",
        "mingru",
    }
    for path in paths:
        baseline, network, _ = load_baseline(path)
        assert baseline.name == path.stem and network.kind in path.stem


def test_expansion_and_override_order(write):
    loaded = load_suite(write(VALID))
    cells = {c.name: c for c in loaded.cells}
    assert list(cells) == [
        "n_back/tiny",
        "n_back/tiny_wide",
        "n_back_long/tiny",
        "n_back_long/tiny_wide",
    ]
    c = cells["n_back/tiny"]
    assert c.seeds == (0, 1, 2)
    assert c.ppo.lr == 0.001  # baseline
    assert c.ppo.num_epochs == 2  # suite beats baseline
    assert c.ppo.gamma == 0.97  # env beats suite
    assert cells["n_back/tiny_wide"].ppo.gamma == 0.5  # agent entry beats env
    assert cells["n_back/tiny_wide"].network.width == 32
    assert c.network.width == 8
    assert c.ppo.total_env_steps == 4096 and cells["n_back_long/tiny"].ppo.total_env_steps == 8192
    assert c.env_params == {"p_match": 0.25}
    env, params, _, train = c.build()
    assert float(params.p_match) == 0.25 and env.options.episode_length == 16
    assert train.num_updates == 4096 // (16 * 16)


def test_cli_overrides_and_only(write):
    loaded = load_suite(write(VALID), seeds=2, steps=2048, only="n_back_long/*")
    assert [c.name for c in loaded.cells] == ["n_back_long/tiny", "n_back_long/tiny_wide"]
    assert all(c.seeds == (0, 1) and c.ppo.total_env_steps == 2048 for c in loaded.cells)


def test_config_hash_is_stable_and_sensitive(write):
    path = write(VALID)
    a = load_suite(path).cells[0]
    assert a.config_hash() == load_suite(path).cells[0].config_hash()
    b = load_suite(path, seeds=4).cells[0]
    c = load_suite(write(VALID.replace("p_match: 0.25", "p_match: 0.3"))).cells[0]
    assert len({a.config_hash(), b.config_hash(), c.config_hash()}) == 3


def test_a_cell_is_a_value_built_with_keywords_and_hashed_once(write, monkeypatch):
    import dataclasses

    from pmarl_bench.suites import cell as cell_module

    cell = load_suite(write(VALID)).cells[0]
    with pytest.raises(TypeError):
        cell_module.Cell(*[getattr(cell, f.name) for f in dataclasses.fields(cell)])
    with pytest.raises(dataclasses.FrozenInstanceError):
        cell.seeds = (9,)  # type: ignore[misc]
    made = []
    make = cell_module.envs.make
    monkeypatch.setattr(cell_module.envs, "make", lambda *a, **k: made.append(a) or make(*a, **k))
    first = cell.config_hash()  # builds the env once, to resolve its options
    assert [cell.config_hash() for _ in range(5)] == [first] * 5 and len(made) == 1
    config = cell.resolved_config()
    config["seeds"].append(99)  # a caller's copy: the cell's own config stays as it was
    assert cell.resolved_config()["seeds"] != config["seeds"] and cell.config_hash() == first
    assert len(made) == 1
    other = dataclasses.replace(cell, seeds=(5,))  # another value: hashed afresh
    assert other.config_hash() != first and len(made) == 2


ENVS_OK = "envs:\n  - id: n_back-v0\n"
AGENTS_OK = "agents:\n  - baseline: tiny\n"
BAD = {
    "malformed yaml": ("name: x\nsteps: 10\nenvs: [\n  - id: n", "line 4: malformed YAML"),
    "top-level list": ("- a\n- b\n", "expected a mapping"),
    "unknown top key": (
        "name: x\nsteps: 99999\nseed: 1\n" + ENVS_OK + AGENTS_OK,
        "s.yaml: seed: unknown key; did you mean 'seeds'? allowed: name",
    ),
    "missing steps": ("name: x\n" + ENVS_OK + AGENTS_OK, "s.yaml: steps: missing"),
    "wrong type": ("name: x\nsteps: lots\n" + ENVS_OK + AGENTS_OK, "s.yaml: steps: "),
    "bad name": ("name: a/b\nsteps: 99999\n" + ENVS_OK + AGENTS_OK, "s.yaml: name: "),
    "no seeds": ("name: x\nseeds: 0\nsteps: 99999\n" + ENVS_OK + AGENTS_OK, "s.yaml: seeds"),
    "unknown env": (
        "name: x\nsteps: 99999\nenvs:\n  - id: nope-v0\n" + AGENTS_OK,
        f"s.yaml: envs[0].id: unknown env 'nope-v0'; registered: {', '.join(registered())}",
    ),
    "unknown gymnax env": (
        "name: x\nsteps: 99999\nenvs:\n  - id: gymnax:Nope\n" + AGENTS_OK,
        "s.yaml: envs[0].id: unknown gymnax env 'Nope'",
    ),
    "unknown option": (
        "name: x\nsteps: 99999\nenvs:\n  - id: n_back-v0\n    options: {k: 3}\n" + AGENTS_OK,
        "s.yaml: envs[0].options.k: unknown key; allowed: ",
    ),
    "bad option value": (
        "name: x\nsteps: 99999\nenvs:\n  - id: n_back-v0\n"
        "    options: {num_symbols: 1}\n" + AGENTS_OK,
        "s.yaml: envs[0].options.num_symbols: Input should be greater",
    ),
    "unknown param": (
        "name: x\nsteps: 99999\nenvs:\n  - id: n_back-v0\n    params: {p: 1}\n" + AGENTS_OK,
        "s.yaml: envs[0].params.p: unknown env param",
    ),
    "unknown baseline": (
        "name: x\nsteps: 99999\n" + ENVS_OK + "agents:\n  - baseline: mamba\n",
        "s.yaml: agents[0].baseline: no baseline 'mamba'; available: ",
    ),
    "bad network value": (
        "name: x\nsteps: 99999\n"
        + ENVS_OK
        + "agents:\n  - baseline: tiny\n    network: {width: -4}\n",
        "s.yaml: agents[0].network.width: Input should be greater than 0",
    ),
    "unknown network key": (
        "name: x\nsteps: 99999\n"
        + ENVS_OK
        + "agents:\n  - baseline: tiny\n    network: {heads: 4}\n",
        "s.yaml: agents[0].network.heads: unknown key; allowed: kind",
    ),
    "unknown ppo key": (
        "name: x\nsteps: 99999\nppo: {learning_rate: 1}\n" + ENVS_OK + AGENTS_OK,
        "s.yaml: ppo.learning_rate: unknown key; allowed: num_envs",
    ),
    "budget under ppo": (
        "name: x\nsteps: 99999\nppo: {total_env_steps: 5}\n" + ENVS_OK + AGENTS_OK,
        "s.yaml: ppo.total_env_steps: set the budget with `steps`",
    ),
    "bad ppo value": (
        "name: x\nsteps: 99999\n"
        + ENVS_OK
        + "agents:\n  - baseline: tiny\n    ppo: {mode: sometimes}\n",
        "s.yaml: agents[0].ppo.mode: Input should be 'episodic' or 'continuing'",
    ),
    "impossible minibatches": (
        "name: x\nsteps: 99999\nenvs:\n  - id: n_back-v0\n"
        "    ppo: {num_envs: 6, num_minibatches: 4}\n" + AGENTS_OK,
        "cell n_back/tiny: ppo.num_minibatches: num_envs x num_agents",
    ),
    "budget below one update": (
        "name: x\nsteps: 10\n" + ENVS_OK + AGENTS_OK,
        "cell n_back/tiny: steps: 10 env steps are fewer than one",
    ),
    "duplicate env names": (
        "name: x\nsteps: 99999\nenvs:\n  - id: n_back-v0\n  - id: n_back-v0\n" + AGENTS_OK,
        "duplicate env name 'n_back'",
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_suites_fail_with_located_one_line_errors(write, case):
    text, expected = BAD[case]
    path = write(text)
    with pytest.raises(ConfigError) as info:
        load_suite(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(path)), message
    assert expected in message, message


BAD_NETWORKS = {
    "unknown activation": (
        "{kind: mlp, activation: swish}",
        "network.activation: Input should be 'relu', 'tanh', 'gelu' or 'silu'",
    ),
    "unknown kind": ("{kind: mamba}", "network.kind: unknown agent kind"),
    "LRU decay ring upside down": (
        "{kind: lru, r_min: 0.9, r_max: 0.5}",
        "network.r_max: Value error, r_max (0.5) must not be below r_min (0.9)",
    ),
    "negative size": ("{kind: gru, width: -8}", "network.width: Input should be greater than 0"),
    "heads not dividing width": (
        "{kind: transformer, width: 64, num_heads: 3}",
        "network.num_heads: Value error, num_heads (3) must divide width (64)",
    ),
    "kv heads not dividing heads": (
        "{kind: transformer, num_heads: 4, num_kv_heads: 3}",
        "network.num_kv_heads: Value error, num_kv_heads (3) must divide num_heads (4)",
    ),
    "odd head dim": (
        "{kind: transformer, head_dim: 15}",
        "network.head_dim: Value error, head_dim (15) must be even",
    ),
    "negative context": (
        "{kind: transformer, context: -1}",
        "network.context: Input should be greater than 0",
    ),
    "unknown value head": (
        "{kind: mlp, value_head: {kind: c51}}",
        "network.value_head: Input tag 'c51' found using 'kind' does not match",
    ),
    "empty value range": (
        "{kind: gru, value_head: {kind: hl_gauss, min: 1, max: 0}}",
        "network.value_head.hl_gauss: Value error, max (0.0) must be above min (1.0)",
    ),
}


@pytest.mark.parametrize("case", list(BAD_NETWORKS))
def test_bad_baseline_value_names_the_baseline_file_and_field(project, write, case):
    network, expected = BAD_NETWORKS[case]
    baseline = project / "baselines" / "broken.yaml"
    baseline.write_text(f"name: broken\nnetwork: {network}\n")
    path = write("name: x\nsteps: 99999\n" + ENVS_OK + "agents:\n  - baseline: broken\n")
    with pytest.raises(ConfigError) as info:
        load_suite(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{baseline}: {expected}"), message


def test_value_clipping_needs_the_mse_value_head(project, write):
    (project / "baselines" / "hl.yaml").write_text(
        "name: hl\nnetwork: {kind: mlp, value_head: {kind: hl_gauss}}\nppo: {clip_value: true}\n"
    )
    path = write("name: x\nsteps: 99999\n" + ENVS_OK + "agents:\n  - baseline: hl\n")
    with pytest.raises(ConfigError, match=r"ppo\.clip_value: value clipping applies to the mse"):
        load_suite(path)


def test_missing_file_and_cli_override_errors(project, write):
    with pytest.raises(ConfigError, match=r"nope\.yaml: no such file"):
        load_suite(project / "nope.yaml")
    path = write(VALID)
    with pytest.raises(ConfigError, match=r"--only: no cell matches .zzz/\*.; cells: n_back/tiny"):
        load_suite(path, only="zzz/*")
    with pytest.raises(ConfigError, match="--seeds"):
        load_suite(path, seeds=0)


BAD_BUDGETS = {
    "unknown budget": ("big", "", "--budget: unknown budget 'bog'; "),
    "unknown env name": (
        "big",
        "    envs: {nback: {steps: 5}}\n",
        "s.yaml: budgets.big.envs.nback: no env named 'nback'; envs: n_back, n_back_long",
    ),
    "unknown agent name": (
        "big",
        "    agents: {wide: {}}\n",
        "s.yaml: budgets.big.agents.wide: no agent named 'wide'; agents: tiny, tiny_wide",
    ),
    "bad option": (
        "big",
        "    envs: {n_back: {options: {max_n: 0}}}\n",
        "s.yaml: budgets.big.envs.n_back.options.max_n: Input should be greater",
    ),
    "bad ppo value": (
        "big",
        "    ppo: {gamma: 2}\n",
        "s.yaml: budgets.big.ppo.gamma: Input should be less than or equal to 1",
    ),
    "bad network value": (
        "big",
        "    agents: {tiny: {network: {width: 0}}}\n",
        "s.yaml: budgets.big.agents.tiny.network.width: Input should be greater than 0",
    ),
    "unknown budget key": ("big", "    stesp: 5\n", "s.yaml: budgets.big.stesp: unknown key"),
    "reserved name": ("default", "", "s.yaml: budgets: Value error, 'default' is the suite"),
}


@pytest.mark.parametrize("case", list(BAD_BUDGETS))
def test_bad_budgets_fail_with_located_one_line_errors(write, case):
    name, body, expected = BAD_BUDGETS[case]
    text = VALID + f"budgets:\n  {name}:\n    description: x\n{body}"
    path = write(text)
    with pytest.raises(ConfigError) as info:
        load_suite(path, budget="bog" if case == "unknown budget" else name)
    message = str(info.value)
    assert "\n" not in message
    assert expected in message, message
