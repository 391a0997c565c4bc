"""Looking at results: ``report``, ``enjoy`` (a trained cell) and ``play`` (as an agent)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from pmarl_bench.cli import app, err_console, user_errors
from pmarl_bench.errors import ConfigError


class ReportFormat(StrEnum):
    html = "html"
    md = "md"


@app.command()
@user_errors
def report(
    results: Annotated[
        list[Path] | None,
        typer.Argument(help="result folders (a suite's, e.g. results/memory); several compare"),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="report folder (default: reports/<suite>)")
    ] = None,
    format: Annotated[
        ReportFormat, typer.Option("--format", help="html (with a Markdown twin) or md")
    ] = ReportFormat.html,
    videos: Annotated[
        bool, typer.Option(help="GIFs of the best and median seed of cells with checkpoints")
    ] = True,
) -> None:
    """Turn result tables into a report: learning curves, final scores with bootstrap
    confidence intervals, aggregates, probability of improvement, throughput, CSVs.

    Example: pmarl-bench report results/memory   (writes reports/memory/index.html)
    """
    from pmarl_bench.report import build_report

    if not results:
        found = sorted(str(p) for p in Path("results").glob("*") if p.is_dir())
        raise ConfigError(
            f"give a results folder; found: {', '.join(found) or '(none under results/)'}",
            "RESULTS",
        )
    out = out or Path("reports") / "+".join(p.resolve().name for p in results)
    with err_console.status("building the report…"):
        page = build_report(results, out, format.value, extra=_videos() if videos else ())
    err_console.print(f"report written: {page}")


def _videos() -> tuple:
    """The rollout section (GIFs), which plays trained policies: JAX is loaded for it."""
    from pmarl_bench import rollouts

    return (rollouts,)


@app.command()
@user_errors
def enjoy(
    cell: Annotated[str, typer.Argument(help="suite/env/agent, or a cell's results folder")],
    seed: Annotated[int | None, typer.Option(help="which seed (default: the first)")] = None,
    episodes: Annotated[int, typer.Option(min=1, help="episodes to play")] = 1,
    video_path: Annotated[
        Path | None, typer.Option(help="write an .mp4 or .gif instead of opening a window")
    ] = None,
    pov: Annotated[
        int | None, typer.Option(help="show this agent's point of view beside the map")
    ] = None,
    checkpoint: Annotated[
        str, typer.Option(help="latest, final, or an update number with a saved checkpoint")
    ] = "latest",
    deterministic: Annotated[bool, typer.Option(help="take the most likely action")] = False,
    fps: Annotated[int, typer.Option(min=1, help="frames per second")] = 12,
    task: Annotated[
        str | None, typer.Option(help="a multi-task cell's task to play (default: the first)")
    ] = None,
    results_dir: Annotated[Path, typer.Option(help="where results/<suite>/ is")] = Path("results"),
) -> None:
    """Watch or record one trained seed of a cell, and print its episode returns.

    Example: pmarl-bench enjoy memory/grid_return/gru --seed 1 --video-path grid_return.mp4
    """
    import jax

    from pmarl_bench import video, viewer
    from pmarl_bench.checkpoints import load_cell
    from pmarl_bench.envs.multitask import one_task

    if video_path is None:
        viewer.require_display()
    else:
        video.check_path(video_path)
    trained = load_cell(cell, results_dir)
    env, env_params, _ = one_task(trained.env, trained.env_params, task)
    seed = trained.seeds[0] if seed is None else seed
    params = trained.params(seed, checkpoint)
    with err_console.status(f"playing {episodes} episode(s)…"):
        rec = video.record(
            env, env_params, trained.agent, params,
            jax.random.key(seed), episodes, deterministic, pov,
        )  # fmt: skip
        frames = video.annotate(rec)
    for i, ret in enumerate(rec.episode_returns):
        per_agent = ", ".join(f"{r:.3g}" for r in ret)
        print(f"episode {i}: return per agent {per_agent} (mean {ret.mean():.3g})")
    if video_path is None:
        viewer.show(frames, fps, title=f"{trained.manifest['cell']} seed {seed}")
    else:
        err_console.print(f"video written: {video.write_video(video_path, frames, fps)}")


@app.command()
@user_errors
def play(
    target: Annotated[
        str, typer.Argument(help="an env id (grid_return-v0) or a cell (suite/env/agent)")
    ],
    agent: Annotated[int, typer.Option(help="the agent you control")] = 0,
    pov: Annotated[
        bool, typer.Option(help="with --inspect: your agent's view beside the whole scene")
    ] = False,
    inspect: Annotated[
        bool,
        typer.Option(
            help="show the whole scene, hidden state included (n-back: the symbols before and "
            "the hidden n), instead of only what your agent observes; gives memory tasks away"
        ),
    ] = False,
    video_path: Annotated[
        Path | None, typer.Option(help="also save what you played as .mp4 or .gif")
    ] = None,
    option: Annotated[
        list[str] | None, typer.Option(help="env option for an env id, e.g. width=13")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="the cell's seed for the others")] = None,
    task: Annotated[
        str | None, typer.Option(help="a multi-task env's task to play (default: the first)")
    ] = None,
    results_dir: Annotated[Path, typer.Option(help="where results/<suite>/ is")] = Path("results"),
) -> None:
    """Play one agent yourself, seeing what it observes: arrows/WASD move, space attacks, E
    digs, . stays; in n-back M answers match and N no match; R restarts, Esc quits. The
    others follow a trained policy (given a cell) or act at random. The keys of the env are
    printed when the window opens.

    Examples: pmarl-bench play n_back-v0            (remember the symbols yourself)

              pmarl-bench play king_of_the_hill-v0 --option width=13 --inspect --pov
    """
    from pmarl_bench import envs, video
    from pmarl_bench.checkpoints import load_cell
    from pmarl_bench.envs.multitask import one_task
    from pmarl_bench.play import Game, run_window
    from pmarl_bench.viewer import require_display

    if video_path is not None:
        video.check_path(video_path)  # before the game, not after it
    if "/" not in target and target not in envs.registered():
        raise ConfigError(
            f"unknown env {target!r}; registered: {', '.join(envs.registered())} (or a cell: "
            "suite/env/agent)",
            "TARGET",
        )
    require_display("play")
    err_console.print(f"play: loading {target} and compiling its step and renderer (up to a "
                      "minute the first time)…", highlight=False)  # fmt: skip
    if target in envs.registered():
        options = dict(_option(o) for o in option or [])
        env = envs.make(target, **options)
        env, env_params, _ = one_task(env, env.default_params, task)
        game = Game(env, env_params, agent, pov=pov, seed=seed or 0, inspect=inspect)
    else:
        trained = load_cell(target, results_dir)
        env, env_params, _ = one_task(trained.env, trained.env_params, task)
        seed = trained.seeds[0] if seed is None else seed
        game = Game(env, env_params, agent, trained.agent,
                    trained.params(seed), seed=seed, pov=pov, inspect=inspect)  # fmt: skip
    seen = "the whole scene (--inspect)" if inspect else f"what agent {agent} observes"
    err_console.print(f"play: showing {seen}; keys: {game.key_help()}", highlight=False)
    run_window(game)
    err_console.print(f"your return this episode: {game.episode_return:.3g}")
    if video_path is not None:
        import numpy as np

        frames = np.stack(game.frames)
        err_console.print(f"video written: {video.write_video(video_path, frames)}")


def _option(text: str) -> tuple[str, object]:
    from pmarl_bench.suites.overrides import parse_value

    key, sep, value = text.partition("=")
    if not sep or not key:
        raise ConfigError(f"expected key=value, got {text!r}", "--option")
    return key, parse_value(value, f"--option {key}")
