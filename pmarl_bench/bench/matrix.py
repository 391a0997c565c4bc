"""Run the benchmark matrix: each case's figures as the median of timed repeats after a
warm-up, raw and divided by a calibration workload timed in the same process (so figures from
one machine compare with another's)."""

from __future__ import annotations

import contextlib
import fnmatch
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import jax
from pydantic import ValidationError

from pmarl_bench import envs
from pmarl_bench.bench.measure import env_throughput
from pmarl_bench.bench.schema import BenchSuite, Cases, EnvCase, TrainCase
from pmarl_bench.errors import ConfigError, from_validation
from pmarl_bench.provenance import environment_info, host_peak_bytes, reset_host_peak
from pmarl_bench.suites.cell import Cell, network_config
from pmarl_bench.suites.expand import ppo_config
from pmarl_bench.suites.files import find_baseline, load_baseline
from pmarl_bench.suites.yaml_files import read_yaml
from pmarl_bench.trainer.cost import (
    calibration_flops,
    calibration_seconds,
    known_peak,
    update_flops,
)
from pmarl_bench.trainer.programs import SeedProgram

#: figures where higher is better; every other figure is a time or a size (lower is better)
RATES = ("agent_steps_per_second",)
#: figures that ``compare`` checks; compile times and memory are reported only (their
#: run-to-run spread on a shared 2-core machine is far above any useful tolerance)
GATED = ("agent_steps_per_second", "reset_seconds")


def load_bench(path: str | Path) -> BenchSuite:
    path = Path(path)
    data = read_yaml(path)
    try:
        return BenchSuite(**(data or {}))
    except ValidationError as err:
        raise from_validation(err, f"{path}: ", BenchSuite) from None


def select(suite: BenchSuite, profile: str | None, only: str | None) -> Cases:
    if profile is None:
        cases = Cases(env_cases=suite.env_cases, train_cases=suite.train_cases)
    elif profile not in suite.profiles:
        have = ", ".join(suite.profiles) or "(none)"
        raise ConfigError(f"unknown profile {profile!r}; this file has: {have}", "--budget")
    else:
        cases = suite.profiles[profile]
    if only:
        pick = lambda cs: [c for c in cs if fnmatch.fnmatch(c.case, only)]
        cases = Cases(env_cases=pick(cases.env_cases), train_cases=pick(cases.train_cases))
        if not cases.env_cases and not cases.train_cases:
            raise ConfigError(f"no case matches {only!r}", "--only")
    return cases


def tiny(cases: Cases) -> Cases:
    """Every case at a size that compiles and runs in seconds on a CPU (``--dry-run``): a
    few envs and steps, one seed and update, a short context; cuDNN attention becomes XLA's
    where there is no GPU. Env options, agents and layer shapes stay as they are."""
    no_gpu = jax.default_backend() != "gpu"
    env_cases = [
        c.model_copy(update={"num_envs": min(c.num_envs, 8), "steps": min(c.steps, 4)})
        for c in cases.env_cases
    ]
    train_cases = []
    for c in cases.train_cases:
        network = dict(c.network)
        if "context" in network:
            network["context"] = min(network["context"], 8)
        if no_gpu and network.get("attention") == "cudnn":
            network["attention"] = "xla"
        ppo = {**c.ppo, "num_envs": 4, "rollout_length": 8, "num_minibatches": 1}
        update = {"seeds": 1, "updates": 1, "network": network, "ppo": ppo}
        train_cases.append(c.model_copy(update=update))
    return Cases(env_cases=env_cases, train_cases=train_cases)


def run_env_case(case: EnvCase, repeats: int) -> dict[str, float]:
    env = envs.make(case.id, **case.options)
    reset_host_peak()
    r = env_throughput(env, case.num_envs, case.steps, repeats)
    return {
        "agent_steps_per_second": r.agent_steps_per_second,
        "reset_seconds": r.reset_seconds,
        "compile_seconds": r.compile_seconds,
        "peak_host_bytes": float(host_peak_bytes()),
    }


def train_cell(case: TrainCase, suite_dir: Path) -> Cell:
    """The case as a cell, resolved as a suite's would be (baseline, then the case's values)."""
    bpath = find_baseline(case.agent, suite_dir)
    _, network, base_ppo = load_baseline(bpath)
    if case.network:
        network = network_config({**network.model_dump(), **case.network}, f"{case.case}.network")
    ppo = ppo_config([(base_ppo, f"{bpath}: ppo"), (case.ppo, f"{case.case}.ppo")], 1)
    per_update = ppo.num_envs * ppo.rollout_length
    ppo = ppo.model_copy(
        update={"total_env_steps": case.updates * per_update, "updates_per_chunk": case.updates}
    )
    return Cell(
        suite="bench", env_name=case.env, agent_name=case.agent, env_id=case.env,
        env_options=dict(case.options), env_params={}, baseline=case.agent, network=network,
        ppo=ppo, seeds=tuple(range(case.seeds)),
    )  # fmt: skip


def run_train_case(case: TrainCase, repeats: int, suite_dir: Path, unit: float) -> dict[str, float]:
    """Times the chunk program ``run`` trains with (``trainer.programs``): one chunk holds the
    case's updates. Model FLOPs per agent-step (``trainer.cost``) make the speed an achieved
    FLOP/s, a share of the device's peak (the calibration's rate, ``unit`` seconds per call,
    on a device without a data-sheet figure)."""
    cell = train_cell(case, suite_dir)
    train = cell.build()[-1]
    reset_host_peak()
    t0 = time.perf_counter()
    program = SeedProgram(train, case.seeds)
    state = program.init(list(cell.seeds))
    hyper = program.hyper([train.defaults] * case.seeds)
    compile_seconds = time.perf_counter() - t0
    state, _ = jax.block_until_ready(program.chunk(state, hyper))  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        state, _ = jax.block_until_ready(program.chunk(state, hyper))
        times.append(time.perf_counter() - t)
    steps = case.seeds * case.updates * train.agent_steps_per_update
    flops = update_flops(train)
    rate = steps / statistics.median(times)
    achieved = rate * (flops["acting"] + flops["learning"])
    dtype = str(getattr(cell.network, "dtype", "float32"))
    params = jax.eval_shape(train.agent.init, jax.random.key(0))
    return {
        "agent_steps_per_second": rate,
        "params": float(sum(x.size for x in jax.tree.leaves(params))),
        "compile_seconds": compile_seconds,
        "peak_host_bytes": float(host_peak_bytes()),
        "acting_flops_per_agent_step": flops["acting"],
        "learning_flops_per_agent_step": flops["learning"],
        "achieved_flops_per_second": achieved,
        **_share(achieved, known_peak(jax.devices()[0].device_kind, dtype), unit),
    }


def _share(achieved: float, peak: float | None, unit: float) -> dict[str, float]:
    """The device's peak FLOP/s (``peak``: its data sheet's; None: the rate the calibration
    workload reached, ``unit`` seconds per call) and the share of it ``achieved`` is."""
    peak = peak if peak is not None else calibration_flops() / unit
    return {"peak_flops_per_second": peak, "peak_share": achieved / peak}


def normalise(figures: dict[str, float], unit: float) -> dict[str, float]:
    """Rates times the calibration time (work per calibration unit); times divided by it;
    sizes unchanged."""
    out = {}
    for name, value in figures.items():
        if name in RATES:
            out[name] = value * unit
        elif name.endswith("_seconds"):
            out[name] = value / unit
        else:
            out[name] = value
    return out


def run_matrix(
    suite: BenchSuite,
    suite_dir: Path,
    *,
    profile: str | None = None,
    only: str | None = None,
    repeats: int | None = None,
    trace_dir: Path | None = None,
    on_case: Callable[[str, dict], None] | None = None,
    keep_going: bool = False,
    dry_run: bool = False,
) -> dict:
    """Every selected case -> the JSON-able result (``trace_dir``: a JAX profiler trace of
    the first case). Training cases run first (on a GPU check, the figures that matter most
    are in even if time runs out). ``keep_going``: a case that fails is recorded with its
    error and the others still run. ``dry_run``: every case at a tiny size (``tiny``), run
    once, to check that all of them compile."""
    cases = select(suite, profile, only)
    if dry_run:
        cases, repeats = tiny(cases), 1
    repeats = repeats or suite.repeats
    before = calibration_seconds()
    results = {}
    jobs: list[tuple[str, str, EnvCase | TrainCase]] = [
        (c.case, "train", c) for c in cases.train_cases
    ]
    jobs += [(c.case, "env", c) for c in cases.env_cases]
    done: dict[str, str] = {}  # a dry run's case config -> the case that ran it
    for i, (name, kind, case) in enumerate(jobs):
        tracing = jax.profiler.trace(str(trace_dir)) if trace_dir and i == 0 else None
        entry: dict = {"kind": kind, "config": case.model_dump()}
        # at the dry run's tiny sizes without a GPU, cuDNN cases are their XLA twins: once
        same = json.dumps([kind, {**entry["config"], "name": None}], sort_keys=True, default=str)
        if dry_run and same in done:
            results[name] = {**results[done[same]], "config": entry["config"],
                             "same_as": done[same]}  # fmt: skip
            if on_case is not None:
                on_case(name, results[name])
            continue
        done[same] = name
        with tracing or contextlib.nullcontext():
            try:
                if isinstance(case, EnvCase):
                    entry["figures"] = run_env_case(case, repeats)
                else:
                    entry["figures"] = run_train_case(case, repeats, suite_dir, before)
            except ValidationError as err:
                raise from_validation(err, f"{name}: ") from None
            except Exception as err:  # recorded; the other cases still run
                if not keep_going:
                    raise
                first = (str(err).strip().splitlines() or [""])[0][:300]
                entry["error"] = f"{type(err).__name__}: {first}"
        results[name] = entry
        if on_case is not None:
            on_case(name, entry)
    # the unit: calibrated before and after the cases, so a drift in between averages out
    unit = (before + calibration_seconds()) / 2
    measured_peak = known_peak(jax.devices()[0].device_kind, "float32") is None
    for r in results.values():
        if "figures" in r:
            if measured_peak and "achieved_flops_per_second" in r["figures"]:
                r["figures"] |= _share(r["figures"]["achieved_flops_per_second"], None, unit)
            r["normalised"] = normalise(r["figures"], unit)
    info = environment_info()
    return {
        "suite": suite.name,
        "profile": profile or "default",
        "repeats": repeats,
        "dry_run": dry_run,
        "calibration_seconds": unit,
        "machine": {k: info[k] for k in ("host", "device", "backend", "jax_version")},
        "cases": results,
    }


def save(result: dict, path: Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")


def refuse_dry_run_over(path: Path) -> None:
    """A dry run's tiny sizes must never replace a measured result (a committed baseline)."""
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        return
    except (OSError, ValueError):
        data = None
    if not (isinstance(data, dict) and data.get("dry_run") is True):
        raise ConfigError(
            f"{path} holds a measured result (or not a dry run's); a dry run saves only to a "
            "new file or over another dry run's",
            "--save",
        )


def load_result(path: Path) -> dict:
    try:
        data = json.loads(Path(path).read_text())
    except OSError:
        raise ConfigError("no such baseline file", str(path)) from None
    except ValueError as err:
        raise ConfigError(f"not a benchmark result (JSON): {err}", str(path)) from None
    if not isinstance(data, dict) or "cases" not in data:
        raise ConfigError("not a benchmark result (no 'cases')", str(path))
    return data
