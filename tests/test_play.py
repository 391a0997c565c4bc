"""``play`` driven by scripted key events under SDL's dummy video driver: the agent moves as
the keys say, the score updates, and a recording decodes."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from pmarl_bench import envs
from pmarl_bench.errors import ConfigError
from pmarl_bench.play import Game, run_window


@pytest.fixture
def dummy_display(monkeypatch):
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    monkeypatch.setenv("PYGAME_HIDE_SUPPORT_PROMPT", "1")


def press(*names):
    import pygame

    def post():
        for name in names:
            pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=pygame.key.key_code(name)))

    return post


@pytest.mark.slow
def test_keys_move_the_players_agent(dummy_display):
    env = envs.make("traveling_salesman-v0", width=9, height=9, num_agents=2, num_flags=1)
    game = Game(env, None, player=1, seed=3)
    # the player at the centre, the flag in a corner: no move is blocked or collects
    game.state = game.state._replace(
        pos=game.state.pos.at[1].set(jnp.array([4, 4])),
        flags=jnp.array([[1, 1]], jnp.int32),
    )
    run_window(game, on_ready=press("right", "d", "down", "a", "w", "x", "escape"))
    assert game.position == (4, 5)  # (4,6) -> (5,6) -> (5,5) -> (4,5); x is no action
    assert game.t == 5 and len(game.frames) == 6


@pytest.mark.slow
def test_score_counts_the_players_reward_and_masked_keys_are_ignored(dummy_display):
    env = envs.make("grid_return-v0", width=7, height=7, wall_density=0.0)
    game = Game(env, None, player=0, seed=0)
    goal = np.argwhere(np.asarray(game.state.tiles) == 3)[0]
    game.state = game.state._replace(pos=jnp.array([[goal[0], goal[1] - 1]], jnp.int32))
    assert game.action_index("space") is None  # grid_return has no attack
    run_window(game, on_ready=press("space", "right", "escape"))
    assert game.t == 1 and game.episode_return == 1.0  # entered the goal


@pytest.mark.slow
def test_n_back_is_played_with_m_and_n(dummy_display):
    env = envs.make("n_back-v0", max_n=2, episode_length=8)
    game = Game(env, None, player=0, seed=1)
    # one right answer, then one wrong one, through the keys' actions
    game.act(game.action_index("m" if bool(game.state.label) else "n"))
    game.act(game.action_index("n" if bool(game.state.label) else "m"))
    assert game.t == 2 and game.episode_return == 1.0
    run_window(game, on_ready=press("m", "escape"))
    assert game.t == 3
    assert game.frames[-1].ndim == 3 and game.frames[-1].dtype == np.uint8


def test_watching_shows_every_frame_in_order_and_closes_after_the_last(dummy_display):
    from pmarl_bench import viewer

    frames = np.arange(4, dtype=np.uint8)[:, None, None, None] * np.ones((4, 6, 8, 3), np.uint8)
    shown = []
    remaining = iter(frames)

    def draw():
        frame = next(remaining, None)
        if frame is not None:
            shown.append(int(frame[0, 0, 0]))
        return frame

    viewer.window(draw, fps=100)  # the loop `enjoy` plays frames with (viewer.show)
    assert shown == [0, 1, 2, 3]


def test_playing_needs_a_renderer_and_an_existing_agent():
    with pytest.raises(ConfigError, match="has no renderer"):
        Game(envs.make("gymnax:CartPole-v1"), None, player=0)
    with pytest.raises(ConfigError, match=r"--agent: agent 5 does not exist; agents: 0..1"):
        Game(envs.make("scouts-v0", width=7, height=7), None, player=5)


def test_without_a_display_play_explains_that_it_needs_one(monkeypatch, tmp_path):
    from typer.testing import CliRunner

    from pmarl_bench.cli import app

    for var in ("DISPLAY", "WAYLAND_DISPLAY", "SDL_VIDEODRIVER"):
        monkeypatch.delenv(var, raising=False)
    res = CliRunner().invoke(app, ["play", "n_back-v0", "--video-path", str(tmp_path / "out.mp4")])
    assert res.exit_code == 2
    line = " ".join(res.output.split())
    assert "play needs a window" in line and "enjoy" in line
    assert "instead with --video-path" not in line  # the old hint contradicted the command
    assert not (tmp_path / "out.mp4").exists()


def test_play_shows_what_the_agent_observes_unless_asked_to_inspect():
    """n-back's window is the current symbol alone (the person must remember, as the agent
    must); --inspect shows the whole scene, the past symbols and the hidden n included."""
    env = envs.make("n_back-v0", max_n=2, episode_length=8)
    plain = Game(env, None, player=0, seed=1)
    inspected = Game(env, None, player=0, seed=1, inspect=True)
    pov = np.asarray(env.render_pov(plain.state, 0, cell_px=2 * 16))
    assert plain.frames[-1].shape[1] == pov.shape[1]  # one column: this step's symbol
    assert inspected.frames[-1].shape[1] > 2 * pov.shape[1]  # the history, n framed
    assert "M match" in plain.key_help() and "N no_match" in plain.key_help()
    assert "attack" not in plain.key_help()
