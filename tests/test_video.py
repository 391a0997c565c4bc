"""Rollout videos and ``enjoy``: recorded files decode to the expected frames and size; no
display gives a one-line hint; a window plays under SDL's dummy driver."""

from __future__ import annotations

import imageio.v2 as iio2
import imageio.v3 as iio
import jax
import numpy as np
import pytest
from typer.testing import CliRunner

from pmarl_bench import agents, envs, video
from pmarl_bench.agents.mlp import MLPConfig
from pmarl_bench.cli import app
from pmarl_bench.runner import run_suite
from pmarl_bench.suites import load_suite

# compiles and trains whole programs: the slow tier (CI runs it)
pytestmark = pytest.mark.slow

SUITE = """\
name: vid
seeds: [0, 1]
steps: 512
evaluation: {max_episodes: 64}   # the videos' policies: no need to grow the evaluation
envs:
  - id: grid_return-v0
    options: {width: 7, height: 7, episode_length: 16}
    ppo: {num_envs: 16, rollout_length: 16, num_minibatches: 2, num_epochs: 1}
agents:
  - baseline: mlp
    network: {width: 16}
"""
LENGTH, PX = 16, 24  # a 7x7 map gets the largest cells (about 320 pixels across, at most 24)
MAP_PX, POV_PX = 7 * PX, 5 * 2 * PX


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    root = tmp_path_factory.mktemp("vid")
    (root / "suites").mkdir()
    (root / "suites" / "vid.yaml").write_text(SUITE)
    run_suite(load_suite(root / "suites" / "vid.yaml"), root / "results")
    return root / "results"


def enjoy(results, *args, env=None):
    return CliRunner().invoke(
        app, ["enjoy", "vid/grid_return/mlp", "--results-dir", str(results), *args], env=env
    )


def test_enjoy_writes_an_mp4_with_one_frame_per_step_and_prints_returns(results, tmp_path):
    out = tmp_path / "run.mp4"
    res = enjoy(results, "--seed", "1", "--episodes", "2", "--video-path", str(out))
    assert res.exit_code == 0, res.output
    assert res.output.count("episode ") == 2 and "return per agent" in res.output
    reader = iio2.get_reader(out)
    assert reader.count_frames() == 2 * LENGTH
    assert reader.get_data(0).shape == (MAP_PX + video.HEADER_PX, MAP_PX, 3)


def test_gif_with_point_of_view_panel(results, tmp_path):
    out = tmp_path / "run.gif"
    res = enjoy(results, "--pov", "0", "--deterministic", "--video-path", str(out))
    assert res.exit_code == 0, res.output
    frames = iio.imread(out, index=None)
    assert frames.shape[:3] == (LENGTH, POV_PX + video.HEADER_PX, MAP_PX + 4 + POV_PX)


def test_without_a_display_enjoy_says_so_in_one_line(results, monkeypatch):
    for var in ("DISPLAY", "WAYLAND_DISPLAY", "SDL_VIDEODRIVER"):
        monkeypatch.delenv(var, raising=False)
    res = enjoy(results)
    assert res.exit_code == 2
    assert res.output.strip().count("\n") == 0 and "--video-path out.mp4" in res.output


def test_window_plays_under_the_dummy_video_driver(results, monkeypatch):
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    res = enjoy(results, "--fps", "500")
    assert res.exit_code == 0, res.output


def test_missing_seed_and_bad_format_list_what_exists(results, tmp_path):
    res = enjoy(results, "--seed", "7", "--video-path", str(tmp_path / "x.mp4"))
    assert res.exit_code == 2 and "seeds: 0, 1" in res.output
    res = enjoy(results, "--video-path", str(tmp_path / "x.avi"))
    assert res.exit_code == 2 and "use .mp4 or .gif" in res.output


def test_record_counts_episode_returns_and_resets_the_running_reward():
    env = envs.make("grid_return-v0", width=7, height=7, episode_length=8, num_agents=2)
    agent = agents.make_agent(MLPConfig(width=8), env.observation_space, env.action_space)
    rec = video.record(env, None, agent, agent.init(jax.random.key(0)), jax.random.key(1), 3)
    assert video.cell_size(env) == PX
    assert rec.frames.shape == (24, 7 * PX, 7 * PX, 3) and rec.positions.shape == (24, 2, 2)
    assert len(rec.episode_returns) == 3
    np.testing.assert_array_equal(rec.step, np.tile(np.arange(8), 3))
    assert (rec.reward_so_far[::8] == 0).all()  # each episode starts from zero


def test_report_embeds_gifs_of_the_best_and_the_median_seed(results, tmp_path):
    from pmarl_bench import rollouts
    from pmarl_bench.report import build_report

    out = tmp_path / "report"
    build_report([results / "vid"], out, reps=200, extra=[rollouts])
    gifs = sorted(p.name for p in out.glob("rollout_*.gif"))
    assert gifs == ["rollout_grid_return_mlp_best.gif", "rollout_grid_return_mlp_median.gif"]
    frames = iio.imread(out / gifs[0], index=None)
    assert frames.shape[0] == 64
    html = (out / "index.html").read_text()
    assert 'src="rollout_grid_return_mlp_best.gif"' in html and "median seed" in html
    build_report([results / "vid"], tmp_path / "plain", reps=200)
    assert not list((tmp_path / "plain").glob("*.gif"))
