"""King of the Hill evaluation against a random team and against earlier checkpoints, and how
a cell records them."""

from __future__ import annotations

import json
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

from pmarl_bench import agents, envs
from pmarl_bench.agents.mlp import MLPConfig
from pmarl_bench.envs.grid.core import STAY
from pmarl_bench.evaluation import final, teams
from pmarl_bench.runner import run_suite
from pmarl_bench.suites import load_suite

KOTH = {"width": 9, "height": 9, "episode_length": 32, "num_agents": 4, "knights_per_team": 1}


def fixed_policy(agent, key, action: int):
    """Parameters whose policy always picks ``action``."""
    params = agent.init(key)
    policy = params["heads"]["policy"]
    policy["kernel"][...] = jnp.zeros_like(policy["kernel"][...])
    policy["bias"][...] = jnp.zeros_like(policy["bias"][...]).at[action].set(50.0)
    return params


def staying_policy(agent, key):
    """Parameters whose policy always picks ``stay``."""
    return fixed_policy(agent, key, STAY)


@pytest.mark.slow
def test_a_policy_that_never_moves_holds_no_point():
    """Spawns are on the edges and points in the middle: a team that stays holds nothing,
    while the random team reaches points."""
    env = envs.make("king_of_the_hill-v0", **KOTH)
    agent = agents.make_agent(MLPConfig(width=8), env.observation_space, env.action_space)
    ((_, fn),) = teams.evaluations(env, None, agent).values()
    keys = jax.random.split(jax.random.key(0), 2)
    params = jax.vmap(lambda k: staying_policy(agent, k))(keys)
    out = jax.device_get(jax.jit(jax.vmap(lambda p, k: fn(p, None, k)))(params, keys))
    assert (out["policy"] == 0.0).all()
    assert (out["other"] > 0.02).all()
    assert (out["other"] <= 1.0).all()


@pytest.mark.slow
def test_against_a_checkpoint_each_team_plays_its_own_parameters():
    """A staying policy against a moving one (a fresh network: near-uniform moves), and the
    other way round: the team that moves holds the points."""
    env = envs.make("king_of_the_hill-v0", **KOTH)
    agent = agents.make_agent(MLPConfig(width=8), env.observation_space, env.action_space)
    ((_, fn),) = teams.evaluations(env, None, agent).values()
    keys = jax.random.split(jax.random.key(0), 2)
    staying = jax.vmap(lambda k: staying_policy(agent, k))(keys)
    moving = jax.vmap(agent.init)(keys)
    play = jax.jit(jax.vmap(fn))
    out = jax.device_get(play(staying, moving, keys))
    assert (out["policy"] == 0.0).all() and (out["other"] > 0.02).all()
    out = jax.device_get(play(moving, staying, keys))
    assert (out["policy"] > 0.02).all() and (out["other"] == 0.0).all()


def test_envs_without_an_evaluation_have_none():
    env = envs.make("scouts-v0")
    agent = agents.make_agent(MLPConfig(width=8), env.observation_space, env.action_space)
    assert teams.evaluations(env, None, agent) == {}


@pytest.fixture(scope="module")
def multitask_cell(tmp_path_factory):
    root = tmp_path_factory.mktemp("mt")
    suite = root / "mt.yaml"
    suite.write_text(
        f"""
name: mt
seeds: 2
steps: 256
checkpoint_every: 128
evaluation: {{max_episodes: 64}}
envs:
  - id: multitask-v0
    name: mixed
    options:
      tasks:
        - {{id: scouts-v0, options: {{width: 9, height: 9, episode_length: 32}}}}
        - {{id: king_of_the_hill-v0, name: koth, options: {json.dumps(KOTH)}}}
    ppo: {{num_envs: 4, rollout_length: 32, num_minibatches: 2, mode: episodic}}
agents:
  - baseline: mlp
    network: {{width: 16}}
"""
    )
    run_suite(load_suite(suite), root / "results")
    cell = root / "results" / "mt" / "mixed" / "mlp"
    manifest = json.loads((cell / "manifest.json").read_text())
    return pd.read_parquet(cell / "metrics.parquet"), manifest, cell


@pytest.mark.slow
def test_multitask_cell_records_metrics_per_task(multitask_cell):
    df, manifest, _ = multitask_cell
    metrics = set(df.metric)
    assert {"episode_return/scouts", "episode_return/koth", "episodes/koth"} <= metrics
    assert manifest["num_agents"] is None
    tasks = manifest["tasks"]
    assert tasks["scouts"]["num_envs"] == 2 and tasks["scouts"]["num_agents"] == 2
    assert tasks["koth"]["env_id"] == "king_of_the_hill-v0" and tasks["koth"]["num_agents"] == 4
    # 2 scouts envs x 2 agents + 2 koth envs x 4 agents per step
    assert manifest["agent_steps"] == 2 * 2 * (2 * 2 + 2 * 4) * 32
    assert manifest["env_steps_per_second"] == pytest.approx(
        manifest["agent_steps_per_second"] * 4 / 12
    )


@pytest.mark.slow
def test_cell_records_the_koth_evaluation_at_the_last_update(multitask_cell):
    df, manifest, _ = multitask_cell
    last = df["update"].max()
    for name in ("eval/koth/point_share", "eval/koth/random_point_share"):
        rows = df[df.metric == name]
        assert sorted(rows.seed) == [0, 1] and (rows["update"] == last).all()
        assert ((rows.value >= 0) & (rows.value <= 1)).all()
        assert manifest["evaluation"][name] == pytest.approx(list(rows.sort_values("seed").value))
    assert manifest["evaluation"]["episodes_per_seed"] == teams.EVAL_EPISODES


@pytest.mark.slow
def test_cell_records_the_final_policy_against_each_checkpoint(multitask_cell):
    df, manifest, _ = multitask_cell
    (checkpoint,) = [c for c in manifest["checkpoints"] if c["label"] != "final"]
    against = manifest["evaluation"]["against_checkpoints"][checkpoint["label"]]
    for name in ("eval/koth/final_vs_checkpoint", "eval/koth/checkpoint_vs_final"):
        rows = df[df.metric == name]
        # recorded at the checkpoint's update, not the last one
        assert sorted(rows.seed) == [0, 1] and (rows["update"] == checkpoint["update"] - 1).all()
        assert (rows.env_steps == checkpoint["env_steps"]).all()
        assert ((rows.value >= 0) & (rows.value <= 1)).all()
        assert against[name] == pytest.approx(list(rows.sort_values("seed").value))


@pytest.mark.slow
def test_enjoy_and_report_videos_play_each_task_of_a_multitask_cell(multitask_cell, tmp_path):
    from typer.testing import CliRunner

    from pmarl_bench import rollouts
    from pmarl_bench.cli import app
    from pmarl_bench.report import build_report

    _, _, cell = multitask_cell
    out = tmp_path / "koth.gif"
    res = CliRunner().invoke(app, ["enjoy", str(cell), "--task", "koth", "--video-path", str(out)])
    assert res.exit_code == 0, res.output
    assert res.output.count("return per agent") == 1 and out.is_file()
    res = CliRunner().invoke(app, ["enjoy", str(cell), "--task", "nope", "--video-path", str(out)])
    assert res.exit_code == 2 and "tasks: scouts, koth" in res.output
    report = tmp_path / "report"
    build_report([cell.parents[1]], report, extra=[rollouts])
    gifs = sorted(p.name for p in report.glob("rollout_*.gif"))
    assert gifs == [f"rollout_mixed-{t}_mlp_{w}.gif" for t in ("koth", "scouts")
                    for w in ("best", "median")]  # fmt: skip


@pytest.mark.slow
def test_final_policy_returns_score_each_seed_on_its_own_episodes():
    env = envs.make("n_back-v0")
    agent = agents.make_agent(MLPConfig(width=8), env.observation_space, env.action_space)
    keys = jax.random.split(jax.random.key(0), 3)
    never = jax.vmap(lambda k: fixed_policy(agent, k, 0))(keys[:2])  # n-back: no match
    fresh = jax.vmap(agent.init)(keys[1:])
    params = jax.tree.map(lambda a, b: jnp.concatenate([a, b]), never, fresh)
    out = final.final_policy_returns(env, None, agent, params, seeds=[0, 1, 2, 3], max_episodes=64)
    assert set(out.means) == {"eval/return_greedy", "eval/return_stochastic"}
    assert out.episodes == 64 and out.tried == [64]
    greedy, sampled = out.means["eval/return_greedy"], out.means["eval/return_stochastic"]
    # "never match": each seed on its own 64 episodes, greedy and sampled on the same ones;
    # both near the memoryless level (exact in expectation for p_match 0.5)
    assert greedy[0] == sampled[0] and greedy[1] == sampled[1] and greedy[0] != greedy[1]
    assert (abs(greedy[:2] - env.score_levels().memoryless) < 2.0).all()
    assert (greedy * 64 == jnp.round(greedy * 64)).all()  # whole rewards over 64 episodes
    # a fresh network samples near-uniform answers: about chance, not its greedy answer's
    assert abs(sampled[2] - env.score_levels().chance) < 3.0 and greedy[2] != sampled[2]
    # the standard error of each seed's score, from its episodes (returns are 24-40: a few
    # points of spread over 64 episodes)
    sem = out.sems["eval/return_stochastic"]
    assert ((sem > 0.1) & (sem < 1.0)).all()
    # a seed's episodes are its own: evaluated beside other seeds or alone, the same score
    alone = final.final_policy_returns(
        env, None, agent, jax.tree.map(lambda x: x[1:2], params), seeds=[1], max_episodes=64
    )
    assert alone.means["eval/return_greedy"][0] == greedy[1]


@pytest.mark.slow
def test_final_policy_plays_more_episodes_until_its_noise_is_small():
    """Two copies of one policy differ only by their episodes: the spread between them is
    episode noise, never 10 times a seed's standard error, so the episodes grow to the most
    allowed (in one jump: the shortfall asks for far more); policies far apart stop at the
    first count."""
    env = envs.make("n_back-v0")
    agent = agents.make_agent(MLPConfig(width=8), env.observation_space, env.action_space)
    same = jax.vmap(agent.init)(jnp.stack([jax.random.key(3)] * 3))
    out = final.final_policy_returns(env, None, agent, same, max_episodes=256)
    assert out.tried == [64, 256] and out.episodes == 256
    noise = out.noise()["eval/return_stochastic"]
    assert noise["ratio"] > final.NOISE_SHARE and noise["sem"] < 0.5


def seeds_at(*scores: float):
    """A stand-in for ``final._play``: seeds at ``scores``, each +- 0.5 at 64 episodes."""
    return lambda *a: (
        {"eval/return_stochastic": np.array(scores)},
        {"eval/return_stochastic": np.full(len(scores), 0.5) * np.sqrt(64 / a[-1])},
    )


def test_the_evaluation_stops_at_the_first_count_whose_noise_is_small(monkeypatch):
    """Seeds far apart (scores 10 and 20, each +- 0.5): the spread dwarfs the noise at once."""
    played = []

    def fake_play(env, env_params, agent, params, keys, episodes):
        played.append(episodes)
        means = {"eval/return_stochastic": np.array([10.0, 20.0])}
        return means, {"eval/return_stochastic": np.array([0.5, 0.5]) * np.sqrt(64 / episodes)}

    monkeypatch.setattr(final, "_play", fake_play)
    params = {"w": jnp.zeros((2, 1))}
    out = final.final_policy_returns(None, None, None, params, max_episodes=1024)
    assert played == [64] and out.noise()["eval/return_stochastic"]["ratio"] < final.NOISE_SHARE
    # seeds 4 apart (spread 2.83): noise 0.5 -> ratio 0.18 at 64 episodes; (0.18 / 0.1)^2 =
    # 3.1 times as many: 256 (rounded up to a power of two), where the ratio is 0.088
    monkeypatch.setattr(final, "_play", seeds_at(10.0, 14.0))
    grown = final.final_policy_returns(None, None, None, params, max_episodes=1024)
    assert grown.tried == [64, 256] and grown.episodes == 256
    # seeds 1 apart: ratio 0.71 asks for 50 times as many: capped at 1024
    monkeypatch.setattr(final, "_play", seeds_at(10.0, 11.0))
    capped = final.final_policy_returns(None, None, None, params, max_episodes=1024)
    assert capped.tried == [64, 1024] and capped.episodes == 1024


@pytest.mark.slow
def test_final_policy_returns_without_a_fixed_length_count_one_episode_each():
    env = envs.make("gymnax:CartPole-v1")
    agent = agents.make_agent(MLPConfig(width=8), env.observation_space, env.action_space)
    params = jax.vmap(agent.init)(jax.random.split(jax.random.key(1), 2))
    out = final.final_policy_returns(env, env.default_params, agent, params, max_episodes=64)
    for values in out.means.values():
        # CartPole pays 1 per step: each episode's return is its length, 8 to 500 steps
        assert ((values >= 8) & (values <= 500)).all()
        assert (values * 64 == jnp.round(values * 64)).all()


@pytest.mark.slow
def test_cross_play_diagonal_is_each_seeds_self_play_evaluation(multitask_cell):
    """The scouts task has partners (scouts with harvesters), King of the Hill competes: one
    matrix, whose diagonal is each seed's self-play: its final-policy evaluation, on other
    episodes (each seed's own there, one shared set here), so within that evaluation's
    noise."""
    df, manifest, _ = multitask_cell
    cross = manifest["cross_play"]
    assert cross["seeds"] == [0, 1] and cross["metric"] == "return_stochastic"
    (matrix,) = cross["matrices"].values()
    assert list(cross["matrices"]) == ["scouts"] and len(matrix) == 2
    own = df[df.metric == "eval/scouts/return_stochastic"].sort_values("seed").value.to_numpy()
    sems = manifest["evaluation"]["final_policy"]["sem"]
    sem = np.asarray(sems["eval/scouts/return_stochastic"])
    diagonal = np.array([matrix[0][0], matrix[1][1]])
    assert (np.abs(diagonal - own) < 5 * np.sqrt(2) * sem + 1e-6).all(), (diagonal, own, sem)


@pytest.mark.slow
def test_crossplay_between_cells_reproduces_a_cells_own_matrix(multitask_cell):
    """`pmarl-bench crossplay` pairs cells; a cell paired with itself plays its manifest's
    matrix again (the same episodes and keys)."""
    from typer.testing import CliRunner

    from pmarl_bench.cli import app

    _, manifest, cell = multitask_cell
    suite = cell.parents[1]
    res = CliRunner().invoke(app, ["crossplay", str(suite)])
    assert res.exit_code == 0, res.output
    table = pd.read_csv(suite / "cross_play" / "mixed.csv")
    assert set(table.task) == {"mixed/scouts"} and len(table) == 4  # 2 x 2 seeds
    mine = table.pivot(index="focal_seed", columns="partner_seed", values="return_stochastic")
    assert mine.to_numpy().tolist() == manifest["cross_play"]["matrices"]["scouts"]


@pytest.mark.slow
def test_a_damaged_checkpoint_is_one_line_for_every_command_that_plays(
    multitask_cell, tmp_path, capfd
):
    """Its data files overwritten: one `error:` line naming the checkpoint, no traceback
    (orbax's reads still in flight print none either), exit 2; `crossplay` and `rate` here,
    `enjoy` in a process of its own (what it prints as it exits counts too)."""
    import shutil

    from typer.testing import CliRunner

    from pmarl_bench.cli import app

    _, _, cell = multitask_cell
    copy = tmp_path / "mt" / "mixed" / "mlp"
    shutil.copytree(cell, copy)
    data = [p for p in (copy / "checkpoints").rglob("*") if p.is_file() and p.parent.name == "d"]
    assert data
    for p in data:
        p.write_bytes(b"\x00garbage" * 16)
    for command in ("crossplay", "rate"):
        res = CliRunner().invoke(app, [command, str(tmp_path / "mt")])
        lines = [ln for ln in res.output.splitlines()
                 if ln.strip() and not ln.startswith("backend:")]  # fmt: skip
        assert res.exit_code == 2, res.output
        assert len(lines) == 1 and "is missing or damaged" in lines[0], lines[:20]
    assert "Traceback" not in capfd.readouterr().err
    enjoy = [sys.executable, "-m", "pmarl_bench.cli", "enjoy", str(copy), "--video-path",
             str(tmp_path / "v.gif")]  # fmt: skip
    res = subprocess.run(enjoy, capture_output=True, text=True, timeout=600)
    lines = [ln for ln in (res.stdout + res.stderr).splitlines()
             if ln.strip() and not ln.startswith("backend:")]  # fmt: skip
    assert res.returncode == 2, res.stdout + res.stderr
    assert len(lines) == 1 and "is missing or damaged" in lines[0], lines[:20]
