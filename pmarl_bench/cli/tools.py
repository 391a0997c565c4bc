"""``bench`` (throughput and the regression check) and ``list`` (what is registered)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from pmarl_bench.cli import announce_backend, app, err_console, user_errors
from pmarl_bench.cli.paths import writable_dir, writable_file
from pmarl_bench.errors import ConfigError


@app.command()
@user_errors
def bench(
    matrix: Annotated[Path, typer.Argument(help="benchmark matrix file", metavar="MATRIX")] = Path(
        "benchmarks/bench.yaml"
    ),
    save: Annotated[Path | None, typer.Option(help="write the results as JSON")] = None,
    compare: Annotated[
        Path | None, typer.Option(help="a saved baseline: exit 1 on a regression")
    ] = None,
    max_regression: Annotated[
        float, typer.Option(min=0.0, help="tolerated slowdown of a normalised figure")
    ] = 0.15,
    max_reset_regression: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            help="tolerated slowdown of a reset time (default: --max-regression); a reset "
            "takes milliseconds and varies more between runs than a scan",
        ),
    ] = None,
    repeats: Annotated[int | None, typer.Option(min=1, help="timed repeats per case")] = None,
    budget: Annotated[
        str | None, typer.Option(help="a named profile of the matrix, e.g. gpu")
    ] = None,
    only: Annotated[str | None, typer.Option(help="only cases matching this glob")] = None,
    profile: Annotated[
        Path | None, typer.Option(help="write a JAX profiler trace of the first case here")
    ] = None,
    confirm: Annotated[
        int,
        typer.Option(
            min=0,
            help="with --compare: re-measure a case that looks slower up to this many times; "
            "it fails only if every measurement is (noise only ever slows a run down)",
        ),
    ] = 1,
    reference_commit: Annotated[
        str | None,
        typer.Option(
            help="with --compare: a case still slower after --confirm is measured side by "
            "side with this commit's code on this machine, alternating processes, and fails "
            "only if slower than it (default: the baseline's reference_commit, if any)",
        ),
    ] = None,
    keep_going: Annotated[
        bool,
        typer.Option(
            help="a case that fails (out of memory, an attention kernel missing) is recorded "
            "with its error and the others still run; exit 1 at the end"
        ),
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option(help="run every case once at a tiny size: checks they all compile"),
    ] = False,
) -> None:
    """Measure env stepping and training throughput, compile and reset times and memory for
    a fixed matrix of cases; compare with a saved baseline.

    Figures are medians of timed repeats after a warm-up, also divided by a calibration
    workload timed in the same process, so a baseline from one machine works on another.

    With --save, the file is rewritten after every case, so a run cut short keeps what it
    measured. A dry run never saves over a measured result (only over another dry run's).

    Examples: pmarl-bench bench --compare benchmarks/baseline-cpu.json

              pmarl-bench bench --budget gpu --keep-going --save benchmarks/baseline-h100.json
    """
    from pmarl_bench.bench import matrix as matrices
    from pmarl_bench.bench import regression

    spec = matrices.load_bench(matrix)
    baseline = matrices.load_result(compare) if compare else None
    if save is not None:  # before minutes of measuring, not after
        writable_file(save, "--save")
        if dry_run:
            matrices.refuse_dry_run_over(save)
    if profile is not None:
        writable_dir(profile, "--profile")
    table = Table(title=f"{spec.name} ({budget or 'default'}{', dry run' if dry_run else ''})")
    columns = ("case", "agent-steps/s", "vs reference", "reset", "compile", "params",
               "peak host RSS", "FLOPs/step act+learn", "FLOP/s (of peak)")  # fmt: skip
    for col in columns:
        table.add_column(col, justify="left" if col == "case" else "right", no_wrap=True)
    announce_backend()
    done: dict[str, dict] = {}

    def on_case(name: str, r: dict) -> None:
        done[name] = r
        if save:  # so that a run cut short keeps what it measured
            matrices.save({"suite": spec.name, "profile": budget or "default",
                           "partial": True, "dry_run": dry_run, "cases": done}, save)  # fmt: skip
        if "error" in r:
            err_console.print(f"[red]{name} failed:[/] {r['error']}", highlight=False)
            table.add_row(name, "[red]failed[/]", *[""] * (len(columns) - 2))
            return
        f = r["figures"]
        reset = f.get("reset_seconds")
        rate = f["agent_steps_per_second"]
        twin = f" (the program of {r['same_as']} on this backend)" if "same_as" in r else ""
        err_console.print(f"{name}: {rate:.4g} agent-steps/s{twin}", highlight=False)
        refs = {} if dry_run else r["config"].get("reference") or {}
        table.add_row(
            name,
            f"{rate:.4g}",
            ", ".join(f"{rate / v:.2f}x {k}" for k, v in refs.items()),
            "" if reset is None else f"{reset * 1e3:.2f} ms",
            f"{f['compile_seconds']:.1f} s",
            f"{f['params']:,.0f}" if "params" in f else "",
            f"{f['peak_host_bytes'] / 1e9:.2f} GB",
            *_efficiency(f),
        )

    result = matrices.run_matrix(
        spec, matrix.parent, profile=budget, only=only, repeats=repeats, trace_dir=profile,
        on_case=on_case, keep_going=keep_going, dry_run=dry_run,
    )  # fmt: skip
    Console(width=max(Console().width, 160)).print(table)
    if save:
        matrices.save(result, save)
        err_console.print(f"saved: {save}")
    failed = [name for name, r in result["cases"].items() if "error" in r]
    if profile:
        err_console.print(f"profiler trace of the first case: {profile}")
    if baseline is not None:
        reference = reference_commit or baseline.get("reference_commit")
        policy = regression.Policy(max_regression, max_reset_regression, confirm, reference)
        say = lambda line: err_console.print(line, highlight=False)
        verdict = regression.check(
            result, baseline, policy, lambda case: matrices.run_matrix(
                spec, matrix.parent, profile=budget, only=case, repeats=repeats),
            matrix, say, side_by_side=not dry_run,
        )  # fmt: skip
        for line in verdict.summary(policy, str(compare)):
            say(line)
        if verdict.regressions:
            raise typer.Exit(1)
    if failed:
        err_console.print(f"[red]{len(failed)} case(s) failed:[/] {', '.join(failed)}")
        raise typer.Exit(1)


def _efficiency(f: dict) -> tuple[str, str]:
    """A training case's model FLOPs per agent-step and achieved rate (its share of peak)."""
    if "achieved_flops_per_second" not in f:
        return "", ""
    from pmarl_bench.progress import human

    act, learn = f["acting_flops_per_agent_step"], f["learning_flops_per_agent_step"]
    rate = f"{human(f['achieved_flops_per_second'])} ({f['peak_share']:.1%})"
    return f"{human(act)} + {human(learn)}", rate


@app.command("list")
@user_errors
def list_(
    baselines_dir: Annotated[Path, typer.Option(help="folder of baseline files")] = Path(
        "baselines"
    ),
    suites_dir: Annotated[Path, typer.Option(help="folder of suite files")] = Path("suites"),
    matrices_dir: Annotated[
        Path, typer.Option(help="folder of benchmark matrices (for `bench`)")
    ] = Path("benchmarks"),
) -> None:
    """List registered environments, agent baselines, suites (for `run`) and benchmark
    matrices (for `bench`). Ids, names and paths are printed whole: piped to a file, the
    tables are plain aligned rows.

    Example: pmarl-bench list | grep traveling_salesman
    """
    from pmarl_bench import envs
    from pmarl_bench.bench.schema import is_bench_matrix
    from pmarl_bench.envs.spaces import Dict
    from pmarl_bench.suites.files import load_baseline
    from pmarl_bench.suites.yaml_files import read_yaml

    for folder, option in ((baselines_dir, "--baselines-dir"), (suites_dir, "--suites-dir")):
        if not folder.is_dir():
            raise ConfigError(f"no such folder {folder} (run from the project folder)", option)
    console = Console()
    rows = []
    for env_id in envs.registered():
        env = envs.make(env_id)
        lv = env.score_levels()
        levels = " / ".join(
            "–" if v is None else f"{v:g}" for v in (lv.chance, lv.memoryless, lv.optimal)
        )
        space = env.observation_space
        parts = space.spaces if isinstance(space, Dict) else (("", space),)
        card = env.task_cards().get(None)  # a multi-task env's are per task
        rows.append((
            env_id,
            "per task" if env.num_agents is None else str(env.num_agents),
            " ".join(f"{k}{':' if k else ''}{b.dtype}{list(b.shape)}" for k, b in parts),
            ", ".join(env.action_names),
            ", ".join(card.tests) if card else "per task",
            card.horizon if card else "per task",
            levels,
        ))  # fmt: skip
    columns = (
        "id",
        "agents",
        "observation",
        "actions",
        "tests",
        "memory horizon",
        "chance / memoryless / optimal",
    )
    print_table(console, "environments (or gymnax:<EnvName>)", columns, rows)

    rows = []
    for path in sorted(baselines_dir.glob("*.yaml")):
        try:
            baseline, network, _ = load_baseline(path)
            rows.append((path.stem, network.kind, baseline.description))
        except ConfigError as err:
            rows.append((path.stem, "invalid", str(err)))
    print_table(console, f"baselines ({baselines_dir}/)", ("name", "kind", "description"), rows)

    suites, matrices, chosen = [], [], []
    for path in sorted({*suites_dir.glob("*.yaml"), *matrices_dir.glob("*.yaml")}):
        try:
            data = read_yaml(path)
        except ConfigError as err:
            suites.append((str(path), f"unreadable: {err}"))
            continue
        data = data if isinstance(data, dict) else {}
        if {"protocol", "settings"} <= set(data):  # `tune`'s output, read by a suite
            sweep = (data.get("protocol") or {}).get("sweep", "?")
            chosen.append((str(path), f"chosen by pmarl-bench tune (sweep {sweep})"))
            continue
        kind = matrices if is_bench_matrix(data) else suites
        kind.append((str(path), data.get("description", "")))
    print_table(console, "suites (pmarl-bench run FILE)", ("file", "description"), suites)
    print_table(
        console, "benchmark matrices (pmarl-bench bench FILE)", ("file", "description"), matrices
    )
    if chosen:
        print_table(console, "tuned settings (a suite's `tuned: FILE`; not runnable)",
                    ("file", "what"), chosen)  # fmt: skip


def print_table(console: Console, title: str, columns: tuple, rows: list[tuple]) -> None:
    """The first column (an id, name or path) is never cut: on a terminal the other columns
    wrap; elsewhere (a pipe, a file) the rows are printed plain, aligned, at full width."""
    if not console.is_terminal:
        widths = [max(len(str(x)) for x in col) for col in zip(columns, *rows, strict=True)]
        print(f"# {title}")
        for row in (columns, *rows):
            print("  ".join(str(x).ljust(w) for x, w in zip(row, widths, strict=True)).rstrip())
        print()
        return
    table = Table(title=title)
    first = max((len(str(r[0])) for r in rows), default=0)
    table.add_column(columns[0], no_wrap=True, min_width=max(first, len(columns[0])))
    for col in columns[1:]:
        table.add_column(col, overflow="fold")
    for row in rows:
        table.add_row(*(str(x) for x in row))
    console.print(table)
