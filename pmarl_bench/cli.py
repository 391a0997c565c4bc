"""``pmarl-bench``: the command line. Commands are thin layers over the library."""

from __future__ import annotations

import functools
import re
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from pmarl_bench.errors import CellLostError, ConfigError, TrainingDivergedError

app = typer.Typer(
    name="pmarl-bench",
    help="Benchmark agents on memory and coordination tasks.\n\n"
    "Example: pmarl-bench run suites/memory.yaml --seeds 2 --steps 200000",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err_console = Console(stderr=True)


def user_errors(fn):
    """Bad input -> one line on stderr and exit code 2, no traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ConfigError as err:
            err_console.print(f"[red]error:[/] {err}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except TrainingDivergedError as err:
            err_console.print(f"[red]training diverged:[/] {err}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None
        except CellLostError as err:
            err_console.print(
                f"[red]cell lost:[/] {err}; finished cells are kept, run again to retry",
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            err_console.print(
                "interrupted: finished cells are kept, the unfinished one is "
                "discarded; run the same command to continue"
            )
            raise typer.Exit(130) from None

    return wrapper


class Executor(StrEnum):
    local = "local"
    ray = "ray"


@app.command()
@user_errors
def run(
    suite: Annotated[Path, typer.Argument(help="suite file, e.g. suites/memory.yaml")],
    seeds: Annotated[int | None, typer.Option(help="number of seeds (0..N-1)")] = None,
    steps: Annotated[int | None, typer.Option(help="env steps per seed and cell")] = None,
    only: Annotated[
        str | None, typer.Option(help="only cells whose env/agent matches this glob")
    ] = None,
    budget: Annotated[
        str | None,
        typer.Option(
            help="a named size profile of the suite, e.g. full (GPU size); results go to "
            "results/<suite>-<budget>/"
        ),
    ] = None,
    force: Annotated[bool, typer.Option(help="rerun cells that already finished")] = False,
    results_dir: Annotated[Path, typer.Option(help="where results/<suite>/ goes")] = Path(
        "results"
    ),
    executor: Annotated[
        Executor,
        typer.Option(help="local: cells one after the other here; ray: one Ray task per cell"),
    ] = Executor.local,
    address: Annotated[
        str | None,
        typer.Option(
            help="Ray cluster to use with --executor ray (e.g. auto, ray://head:10001); "
            "default: start a local one"
        ),
    ] = None,
    gpus_per_cell: Annotated[
        float | None,
        typer.Option(min=0, help="GPUs a Ray task asks for (default: 1 if the cluster has GPUs)"),
    ] = None,
    distributed: Annotated[
        bool,
        typer.Option(
            help="join a multi-host jax.distributed job (JAX_COORDINATOR_ADDRESS, "
            "JAX_NUM_PROCESSES, JAX_PROCESS_ID; or SLURM/Open MPI): each cell spans every "
            "process's devices, process 0 writes results"
        ),
    ] = False,
    device_memory: Annotated[
        str | None,
        typer.Option(
            help="memory per device to fit a cell's seeds in, e.g. 20GiB (default: what the "
            "device reports; none on the CPU); seeds that do not fit train in groups"
        ),
    ] = None,
) -> None:
    """Train every (env, agent) cell of a suite over its seeds and store tidy results.

    Finished cells whose config is unchanged are skipped; an interrupted run continues where
    it stopped. A cell's seeds spread over all local devices (then each seed's envs).

    Examples: pmarl-bench run suites/memory.yaml --only 'n_back/*' --seeds 2

              pmarl-bench run suites/coordination.yaml --budget full   (on a GPU)

              pmarl-bench run suites/memory.yaml --executor ray --address auto
    """
    if distributed and executor is Executor.ray:
        raise ConfigError("use one of --distributed and --executor ray", "--distributed")
    if distributed:  # first: importing the envs already creates arrays on a device
        from pmarl_bench.scale import distributed as multihost

        multihost.initialize()
    from pmarl_bench.runner import run_suite
    from pmarl_bench.suites import load_suite

    pool = None
    if executor is Executor.ray:
        from pmarl_bench.scale.ray_executor import RayExecutor

        pool = RayExecutor(address=address, gpus_per_cell=gpus_per_cell)
    elif address is not None or gpus_per_cell is not None:
        raise ConfigError("only applies with --executor ray", "--address/--gpus-per-cell")
    limit = "device" if device_memory is None else parse_bytes(device_memory, "--device-memory")
    loaded = load_suite(suite, seeds=seeds, steps=steps, only=only, budget=budget)
    summary = run_suite(
        loaded, results_dir, force=force, console=err_console, memory_limit=limit, executor=pool
    )
    out = results_dir / loaded.suite.name
    where = f"results in {out}"
    if distributed:
        import jax

        if jax.process_index() > 0:
            where = f"process {jax.process_index()} of {jax.process_count()}: process 0 writes"
    err_console.print(
        f"{len(summary.ran)} cell(s) trained, {len(summary.skipped)} skipped; {where}"
    )


def parse_bytes(text: str, where: str) -> int:
    """'20GiB', '512MB', '1e9' -> bytes."""
    units = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
             "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}  # fmt: skip
    match = re.fullmatch(r"\s*([0-9.e+]+)\s*([a-zA-Z]*)\s*", text)
    try:
        value = float(match.group(1)) * units[match.group(2).lower()]
    except (AttributeError, KeyError, ValueError):
        raise ConfigError(
            f"not a size: {text!r}; e.g. 20GiB, 512MB or a number of bytes", where
        ) from None
    if value <= 0:
        raise ConfigError(f"must be positive (got {text!r})", where)
    return int(value)


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
        page = build_report(results, out, format.value, videos=videos)
    err_console.print(f"report written: {page}")


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
    results_dir: Annotated[Path, typer.Option(help="where results/<suite>/ is")] = Path("results"),
) -> None:
    """Watch or record one trained seed of a cell, and print its episode returns.

    Example: pmarl-bench enjoy memory/grid_return/gru --seed 1 --video-path grid_return.mp4
    """
    import jax

    from pmarl_bench import video, viewer
    from pmarl_bench.checkpoints import load_cell

    if video_path is None:
        viewer.require_display()
    trained = load_cell(cell, results_dir)
    seed = trained.seeds[0] if seed is None else seed
    params = trained.params(seed, checkpoint)
    with err_console.status(f"playing {episodes} episode(s)…"):
        rec = video.record(
            trained.env, trained.env_params, trained.agent, params,
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
    pov: Annotated[bool, typer.Option(help="show your agent's view beside the map")] = False,
    video_path: Annotated[
        Path | None, typer.Option(help="also save what you played as .mp4 or .gif")
    ] = None,
    option: Annotated[
        list[str] | None, typer.Option(help="env option for an env id, e.g. width=13")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="the cell's seed for the others")] = None,
    results_dir: Annotated[Path, typer.Option(help="where results/<suite>/ is")] = Path("results"),
) -> None:
    """Play one agent yourself: arrows/WASD move, space attacks, E digs, . stays, R restarts,
    Esc quits. The others follow a trained policy (given a cell) or act at random.

    Example: pmarl-bench play king_of_the_hill-v0 --option width=13 --option height=13 --pov
    """
    from pmarl_bench import envs, video
    from pmarl_bench.checkpoints import load_cell
    from pmarl_bench.play import Game, run_window
    from pmarl_bench.viewer import require_display

    require_display()
    if target in envs.registered():
        options = dict(_option(o) for o in option or [])
        env = envs.make(target, **options)
        game = Game(env, env.default_params, agent, pov=pov, seed=seed or 0)
    else:
        trained = load_cell(target, results_dir)
        seed = trained.seeds[0] if seed is None else seed
        game = Game(trained.env, trained.env_params, agent, trained.agent,
                    trained.params(seed), seed=seed, pov=pov)  # fmt: skip
    run_window(game)
    err_console.print(f"your return this episode: {game.episode_return:.3g}")
    if video_path is not None:
        frames = np.stack(game.frames)
        err_console.print(f"video written: {video.write_video(video_path, frames)}")


def _option(text: str) -> tuple[str, object]:
    import yaml

    key, sep, value = text.partition("=")
    if not sep or not key:
        raise ConfigError(f"expected key=value, got {text!r}", "--option")
    return key, yaml.safe_load(value)


@app.command()
@user_errors
def bench(
    suite: Annotated[Path, typer.Argument(help="benchmark matrix file")] = Path(
        "suites/bench.yaml"
    ),
    save: Annotated[Path | None, typer.Option(help="write the results as JSON")] = None,
    compare: Annotated[
        Path | None, typer.Option(help="a saved baseline: exit 1 on a regression")
    ] = None,
    max_regression: Annotated[
        float, typer.Option(min=0.0, help="tolerated slowdown of a normalised figure")
    ] = 0.15,
    repeats: Annotated[int | None, typer.Option(min=1, help="timed repeats per case")] = None,
    budget: Annotated[
        str | None, typer.Option(help="a named profile of the matrix, e.g. gpu")
    ] = None,
    only: Annotated[str | None, typer.Option(help="only cases matching this glob")] = None,
    profile: Annotated[
        Path | None, typer.Option(help="write a JAX profiler trace of the first case here")
    ] = None,
) -> None:
    """Measure env stepping and training throughput, compile and reset times and memory for
    a fixed matrix of cases; compare with a saved baseline.

    Figures are medians of timed repeats after a warm-up, also divided by a calibration
    workload timed in the same process, so a baseline from one machine works on another.

    Example: pmarl-bench bench --compare benchmarks/baseline-cpu.json
    """
    from pmarl_bench.bench import compare as cmp
    from pmarl_bench.bench import matrix

    spec = matrix.load_bench(suite)
    baseline = matrix.load_result(compare) if compare else None
    table = Table(title=f"{spec.name} ({budget or 'default'})")
    for col in ("case", "agent-steps/s", "reset", "compile", "peak host RSS"):
        table.add_column(col, justify="left" if col == "case" else "right")

    def on_case(name: str, r: dict) -> None:
        f = r["figures"]
        reset = f.get("reset_seconds")
        err_console.print(
            f"{name}: {f['agent_steps_per_second']:.4g} agent-steps/s", highlight=False
        )
        table.add_row(
            name,
            f"{f['agent_steps_per_second']:.4g}",
            "" if reset is None else f"{reset * 1e3:.2f} ms",
            f"{f['compile_seconds']:.1f} s",
            f"{f['peak_host_bytes'] / 1e9:.2f} GB",
        )

    result = matrix.run_matrix(
        spec, suite.parent, profile=budget, only=only, repeats=repeats, trace_dir=profile,
        on_case=on_case,
    )  # fmt: skip
    Console(width=max(Console().width, 120)).print(table)
    if save:
        matrix.save(result, save)
        err_console.print(f"saved: {save}")
    if profile:
        err_console.print(f"profiler trace of the first case: {profile}")
    if baseline is not None:
        changes, missing = cmp.compare(result, baseline)
        for c in changes:
            err_console.print(f"  {c}", highlight=False)
        if missing:
            err_console.print(f"not measured here: {', '.join(missing)}")
        bad = cmp.regressions(changes, max_regression)
        if bad:
            for c in bad:
                err_console.print(f"[red]regression:[/] {c} (tolerance {max_regression:.0%})")
            raise typer.Exit(1)
        err_console.print(f"no regression beyond {max_regression:.0%} against {compare}")


@app.command("list")
@user_errors
def list_(
    baselines_dir: Annotated[Path, typer.Option(help="folder of baseline files")] = Path(
        "baselines"
    ),
    suites_dir: Annotated[Path, typer.Option(help="folder of suite files")] = Path("suites"),
) -> None:
    """List registered environments, agent baselines and suites.

    Example: pmarl-bench list
    """
    from pmarl_bench import envs
    from pmarl_bench.envs.spaces import Dict
    from pmarl_bench.suites.loader import load_baseline, read_yaml

    console = Console()
    table = Table(title="environments (or gymnax:<EnvName>)")
    for col in ("id", "agents", "observation", "actions", "chance / memoryless / optimal"):
        table.add_column(col)
    for env_id in envs.registered():
        env = envs.make(env_id)
        lv = env.score_levels()
        levels = " / ".join(
            "–" if v is None else f"{v:g}" for v in (lv.chance, lv.memoryless, lv.optimal)
        )
        space = env.observation_space
        parts = space.spaces if isinstance(space, Dict) else (("", space),)
        table.add_row(
            env_id,
            "per task" if env.num_agents is None else str(env.num_agents),
            " ".join(f"{k}{':' if k else ''}{b.dtype}{list(b.shape)}" for k, b in parts),
            ", ".join(env.action_names),
            levels,
        )
    console.print(table)

    table = Table(title=f"baselines ({baselines_dir}/)")
    table.add_column("name")
    table.add_column("kind")
    table.add_column("description")
    for path in sorted(baselines_dir.glob("*.yaml")):
        try:
            baseline, network, _ = load_baseline(path)
            table.add_row(path.stem, network.kind, baseline.description)
        except ConfigError as err:
            table.add_row(path.stem, "[red]invalid[/]", str(err))
    console.print(table)

    table = Table(title=f"suites ({suites_dir}/)")
    table.add_column("file")
    table.add_column("description")
    for path in sorted(suites_dir.glob("*.yaml")):
        try:
            data = read_yaml(path)
            desc = data.get("description", "") if isinstance(data, dict) else ""
        except ConfigError as err:
            desc = f"[red]{err}[/]"
        table.add_row(str(path), desc)
    console.print(table)


def main() -> None:
    app(prog_name="pmarl-bench")


if __name__ == "__main__":
    sys.exit(main())
