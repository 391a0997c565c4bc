"""``pmarl-bench run``: train a suite's cells, here or spread out."""

from __future__ import annotations

import math
import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from pmarl_bench.cli import announce_backend, app, err_console, user_errors, warn
from pmarl_bench.cli.paths import writable_dir
from pmarl_bench.errors import ConfigError


class Logger(StrEnum):
    tensorboard = "tensorboard"
    wandb = "wandb"


class Executor(StrEnum):
    local = "local"
    ray = "ray"
    slurm = "slurm"


class SubmititCluster(StrEnum):
    slurm = "slurm"
    local = "local"


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
    force: Annotated[
        bool,
        typer.Option(
            help="train the selected cells afresh: replace finished results (even of another "
            "config) and drop interrupted runs' snapshots"
        ),
    ] = False,
    keep_previous: Annotated[
        bool,
        typer.Option(
            help="a finished cell of another config (other seeds, steps or settings) is moved "
            "aside as <agent>@previous-<date>-<hash> instead of stopping the run"
        ),
    ] = False,
    snapshot_every: Annotated[
        str | None,
        typer.Option(
            help="how often a training cell saves its whole state for resuming, e.g. 90s, "
            "5m, 1h (default: the suite's snapshot_every, else 5m; 0: every chunk)"
        ),
    ] = None,
    log: Annotated[
        list[Logger] | None,
        typer.Option(
            help="also stream metrics to tensorboard (event files in the cell folder) or "
            "wandb (offline unless WANDB_MODE=online; needs the wandb extra); repeatable"
        ),
    ] = None,
    results_dir: Annotated[Path, typer.Option(help="where results/<suite>/ goes")] = Path(
        "results"
    ),
    executor: Annotated[
        Executor,
        typer.Option(
            "--executor",
            "--launcher",
            help="local: cells one after the other here; ray: one Ray task per cell; slurm: "
            "one SLURM job per cell (a job array, through submitit)",
        ),
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
        typer.Option(
            min=0,
            help="GPUs a Ray task or SLURM job asks for (default: Ray 1 if the cluster has "
            "GPUs; SLURM 0)",
        ),
    ] = None,
    partition: Annotated[
        str | None, typer.Option(help="SLURM partition for --executor slurm")
    ] = None,
    time: Annotated[
        str,
        typer.Option(
            help="each SLURM job's time limit, e.g. 30m, 4h; a job warned of its limit saves a "
            "snapshot and is requeued, resuming there"
        ),
    ] = "4h",
    slurm_option: Annotated[
        list[str] | None,
        typer.Option(
            metavar="KEY=VALUE",
            help="another sbatch setting by submitit's name, e.g. account=abc, qos=high, "
            "constraint=a100, mem_gb=32, cpus_per_task=8; repeatable",
        ),
    ] = None,
    slurm_logs: Annotated[
        Path,
        typer.Option(help="where submitit keeps each SLURM job's files and logs (shared disk)"),
    ] = Path("slurm-logs"),
    submitit_cluster: Annotated[
        SubmititCluster,
        typer.Option(
            help="local: run the SLURM jobs as processes on this machine through submitit, "
            "to try the launcher before a cluster"
        ),
    ] = SubmititCluster.slurm,
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
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            metavar="PATH=VALUE",
            help="override a value of the suite file, checked as the file's own: dotted keys, "
            "envs and agents by name, e.g. ppo.lr=1e-3, agents.gru.network.width=128, "
            "envs.n_back.steps=2e6; repeatable",
        ),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            help="print every cell's resolved settings, updates, env steps and what the "
            "results hold for it, and compile each to report its memory per device; train "
            "nothing, write nothing"
        ),
    ] = False,
    preflight: Annotated[
        bool,
        typer.Option(
            help="before anything is written or compiled, refuse a cell whose sizes cannot "
            "run: over 10,000 seeds x trials in one program, a batch past int32, or a memory "
            "estimate (parameters, optimizer state, rollout) over the device's (the host's "
            "on the CPU); --no-preflight for those who know better"
        ),
    ] = True,
) -> None:
    """Train every (env, agent) cell of a suite over its seeds and store tidy results.

    Finished cells whose config is unchanged are skipped. A training cell saves its whole
    state every few minutes: after Ctrl-C, SIGTERM, a kill or a crash, rerunning the same
    command resumes it from there (the result is bit for bit that of an unbroken run on the
    CPU). A finished result of another config is never replaced silently: the run stops and
    says so (see --force, --keep-previous). Watch runs with `pmarl-bench status`. A cell's
    seeds spread over all local devices (then each seed's envs).

    Examples: pmarl-bench run suites/memory.yaml --only 'n_back/*' --seeds 2 --results-dir r2

              pmarl-bench run suites/memory.yaml --log tensorboard > run.log 2>&1

              pmarl-bench run suites/coordination.yaml --budget full   (on a GPU)

              pmarl-bench run suites/memory.yaml --executor ray --address auto

              pmarl-bench run suites/memory.yaml --launcher slurm --partition gpu --time 2h
              --gpus-per-cell 1 --slurm-option account=abc

              pmarl-bench run suites/memory.yaml --set envs.n_back.ppo.lr=3e-4 --dry-run
    """
    if distributed and executor is Executor.ray:
        raise ConfigError("use one of --distributed and --executor ray", "--distributed")
    if executor is not Executor.ray and address is not None:
        raise ConfigError("only applies with --executor ray", "--address")
    if executor is Executor.local and gpus_per_cell is not None:
        raise ConfigError("only applies with --executor ray or slurm", "--gpus-per-cell")
    if executor is not Executor.slurm and (partition is not None or slurm_option):
        raise ConfigError("only applies with --executor slurm", "--partition/--slurm-option")
    if executor is Executor.slurm and distributed:
        raise ConfigError("use one of --distributed and --executor slurm", "--distributed")
    limit = "device" if device_memory is None else parse_bytes(device_memory, "--device-memory")
    every = None if snapshot_every is None else parse_seconds(snapshot_every, "--snapshot-every")
    if force and keep_previous:
        raise ConfigError("use one of --force and --keep-previous", "--force")
    check_suite_file(suite, set_)  # a malformed suite costs no JAX import
    slurm = None
    if executor is Executor.slurm:
        slurm = slurm_launcher(
            suite, partition, time, gpus_per_cell, slurm_option, slurm_logs, submitit_cluster
        )
    if distributed:  # before the imports below: importing the envs creates device arrays
        from pmarl_bench.scale import distributed as multihost

        multihost.initialize()
    from pmarl_bench.runner import run_suite
    from pmarl_bench.suites import load_suite

    pool = None
    if executor is Executor.ray:
        from pmarl_bench.executors.ray import RayExecutor

        pool = RayExecutor(address=address, gpus_per_cell=gpus_per_cell)
    elif slurm is not None:
        pool = slurm
    loaded = load_suite(
        suite, seeds=seeds, steps=steps, only=only, budget=budget, overrides=set_ or []
    )
    warn(loaded.warnings)
    if dry_run:
        announce_backend()
        if preflight:
            from pmarl_bench.runner.preflight import check_cells

            check_cells(loaded.cells, limit)
        _print_plan(loaded, results_dir)
        return
    from pmarl_bench.scale.distributed import is_primary

    if is_primary():  # the other processes of a distributed job write nothing
        writable_dir(results_dir, "--results-dir")
    announce_backend()
    summary = run_suite(
        loaded,
        results_dir,
        force=force,
        keep_previous=keep_previous,
        console=err_console,
        memory_limit=limit,
        executor=pool,
        snapshot_every=every,
        loggers=tuple(dict.fromkeys(str(k) for k in log or ())),
        preflight=preflight,
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


def slurm_launcher(suite, partition, time, gpus, options, logs, cluster):
    """The SLURM executor from ``run``'s options, each checked (one line naming the flag)."""
    from pmarl_bench.suites.overrides import parse_value

    if gpus is not None and gpus != int(gpus):
        raise ConfigError(f"a whole number of GPUs for a SLURM job (got {gpus:g})",
                          "--gpus-per-cell")  # fmt: skip
    settings = {}
    for item in options or []:
        key, sep, value = item.partition("=")
        if not sep or not re.fullmatch(r"[a-z][a-z0-9_]*", key.strip()):
            raise ConfigError(f"not KEY=VALUE: {item!r}; e.g. account=abc", "--slurm-option")
        settings[key.strip()] = parse_value(value, f"--slurm-option {key.strip()}")
    name = Path(suite).stem
    from pmarl_bench.executors.slurm import SlurmExecutor

    return SlurmExecutor(
        folder=writable_dir(logs, "--slurm-logs") / name,
        partition=partition,
        time_s=parse_seconds(time, "--time"),
        gpus_per_cell=int(gpus or 0),
        options=settings,
        cluster=str(cluster),
    )


def _print_plan(loaded, results_dir: Path) -> None:
    """The dry run's report: one block per cell on stdout, progress on stderr."""
    from pmarl_bench.runner.plan import plan_cell

    print(f"suite {loaded.suite.name} ({loaded.path}): {len(loaded.cells)} cell(s), "
          f"results in {results_dir / loaded.suite.name}")  # fmt: skip
    for cell in loaded.cells:
        err_console.print(f"{cell.name}: compiling to measure its memory…", highlight=False)
        plan = plan_cell(cell, results_dir, compile_program=True)
        m = plan.memory
        memory = "not reported by this backend" if m is None else (
            f"{_size(m.state + m.temp + m.extra_out)} per device (state {_size(m.state)}, "
            f"temporaries {_size(m.temp)}, outputs {_size(m.extra_out)})"
        )  # fmt: skip
        print(f"\n{plan.name}  [{plan.state}]  config {plan.config_hash}")
        print(f"  seeds    {', '.join(map(str, plan.seeds))}")
        print(f"  budget   {plan.budget} per seed")
        print(f"  network  {_settings(plan.network)}")
        print(f"  ppo      {_settings(plan.ppo)}")
        print(f"  default  {_settings(plan.ppo_defaults or {})}")
        print(f"  memory   {memory}")


def _size(n: int) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:,.1f} {unit}"
    return f"{n} B"


def _settings(values: dict) -> str:
    return " ".join(f"{k}={v}" for k, v in values.items())


def check_suite_file(path: Path, overrides: list[str] | None) -> None:
    """The suite file's format and overrides checked before anything heavy loads (under a
    second); a benchmark matrix given by mistake is named as one."""
    from pmarl_bench.suites.suite_file import read_suite

    try:
        read_suite(path, overrides)
    except ConfigError:
        _not_a_bench_matrix(path)
        raise


def _not_a_bench_matrix(path: Path) -> None:
    """A benchmark matrix or a chosen-settings file given for a suite, named as what it is."""
    from pmarl_bench.bench.schema import is_bench_matrix
    from pmarl_bench.suites.yaml_files import read_yaml

    data = read_yaml(path) if path.is_file() else None
    if is_bench_matrix(data):
        raise ConfigError(
            f"{path} is a benchmark matrix, not a suite; run it with `pmarl-bench bench {path}`"
        )
    if isinstance(data, dict) and {"protocol", "settings"} <= set(data):
        raise ConfigError(
            f"{path} holds settings chosen by `pmarl-bench tune`, not a suite; a suite reads "
            f"it with `tuned: {path.name}`"
        )


def parse_seconds(text: str, where: str) -> float:
    """'90', '90s', '5m', '1.5h' -> seconds."""
    units = {"": 1, "s": 1, "m": 60, "min": 60, "h": 3600}
    match = re.fullmatch(r"\s*([0-9.]+)\s*([a-z]*)\s*", text.lower())
    try:
        seconds = float(match.group(1)) * units[match.group(2)]
    except (AttributeError, KeyError, ValueError):
        raise ConfigError(f"not a duration: {text!r}; e.g. 90s, 5m, 1h or 0", where) from None
    if not math.isfinite(seconds):
        raise ConfigError(f"a finite duration (got {text!r})", where)
    return seconds


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
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"a positive, finite size (got {text!r})", where)
    return int(value)
