"""End to end through the CLI: run the smoke suite, skip finished cells, rerun with --force,
determinism across runs, and one-line errors (exit 2, nothing written) for bad input."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from pmarl_bench.cli import app
from pmarl_bench.errors import TrainingDivergedError
from pmarl_bench.results import reading, store
from pmarl_bench.runner.manifest import COUNT_FLOPS_ENV
from pmarl_bench.trainer.loop import _check_finite

ROOT = Path(__file__).resolve().parents[1]
SMOKE = str(ROOT / "suites" / "smoke.yaml")
runner = CliRunner()


def invoke(*args):
    result = runner.invoke(app, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


@pytest.fixture(scope="module")
def smoke_results(tmp_path_factory):
    out = tmp_path_factory.mktemp("results")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(COUNT_FLOPS_ENV, "1")  # the manifests' efficiency, checked below
        result = invoke("run", SMOKE, "--results-dir", str(out))
    assert result.exit_code == 0, result.output
    return out


@pytest.mark.slow
def test_run_writes_tidy_tables_and_manifest(smoke_results):
    for agent in ("mlp", "mlp_tanh"):
        cell = smoke_results / "smoke" / "n_back" / agent
        df = pd.read_parquet(cell / "metrics.parquet")
        assert list(df.columns) == store.COLUMNS
        assert set(df.seed) == {0, 1}
        assert {"episode_return", "value_loss", "entropy"} <= set(df.metric)
        assert (df.suite == "smoke").all() and (df.agent == agent).all()
        manifest = json.loads((cell / "manifest.json").read_text())
        for key in (
            "config",
            "config_hash",
            "package_version",
            "git_commit",
            "jax_version",
            "device",
            "compile_seconds",
            "run_seconds",
            "agent_steps_per_second",
            "score_levels",
            "peak_host_memory_bytes",
        ):
            assert key in manifest, key
        assert manifest["status"] == "complete"
        assert manifest["config"]["agent"]["network"]["width"] == 16
        assert manifest["agent_steps_per_second"] > 0
        assert manifest["control"] is None  # the smoke suite asks for no controls
        final = manifest["evaluation"]  # the final policy, each seed on its own episodes
        assert len(final["eval/return_stochastic"]) == len(final["eval/return_greedy"]) == 2
        protocol = final["final_policy"]  # the smoke suite never grows them (max 64)
        assert (protocol["episodes"], protocol["seed"], protocol["keys"]) == (64, 2026, "per seed")
        assert protocol["tried"] == [64] and len(protocol["sem"]["eval/return_stochastic"]) == 2
        assert manifest["config"]["evaluation"] == {
            "episodes": 64,
            "seed": 2026,
            "max_episodes": 64,
        }
        assert {"eval/return_stochastic", "eval/return_greedy"} <= set(df.metric)
        assert manifest["task_card"]["tests"] == ["sequential recall"]
        assert manifest["task_card"]["horizon_steps"] == 2  # max_n
        random = manifest["random_return"]  # 16-step episodes, half right by chance
        assert random["episodes"] == 64 and abs(random["mean"] - 8) < 4 * random["sem"]
        eff = manifest["efficiency"]  # model FLOPs and the share of this CPU's peak
        assert eff["learning_flops_per_agent_step"] > eff["acting_flops_per_agent_step"] > 0
        assert eff["peak_source"] == "calibration kernel" and 0 < eff["peak_share"] < 1
        assert eff["achieved_flops_per_second"] == pytest.approx(
            manifest["agent_steps_per_second"]
            * (eff["acting_flops_per_agent_step"] + eff["learning_flops_per_agent_step"])
        )
    both = reading.load_results(smoke_results / "smoke")
    assert set(both.agent) == {"mlp", "mlp_tanh"}


@pytest.mark.slow
def test_different_seeds_give_different_curves(smoke_results):
    df = pd.read_parquet(smoke_results / "smoke" / "n_back" / "mlp" / "metrics.parquet")
    loss = df[df.metric == "value_loss"].pivot(index="update", columns="seed", values="value")
    assert not np.allclose(loss[0], loss[1])


@pytest.mark.slow
def test_rerun_skips_finished_cells(smoke_results):
    manifest = smoke_results / "smoke" / "n_back" / "mlp" / "manifest.json"
    before = manifest.stat().st_mtime_ns
    result = invoke("run", SMOKE, "--results-dir", str(smoke_results))
    assert result.exit_code == 0
    assert "0 cell(s) trained, 2 skipped" in result.output
    assert manifest.stat().st_mtime_ns == before


@pytest.mark.slow
def test_dry_run_shows_each_cell_and_what_the_results_hold_and_writes_nothing(smoke_results):
    def files():
        return sorted((p, p.stat().st_mtime_ns) for p in smoke_results.rglob("*"))

    before = files()
    args = ("run", SMOKE, "--results-dir", str(smoke_results), "--dry-run")
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.count("[finished (skipped)]") == 2, out
    assert "n_back/mlp_tanh" in out and "activation=tanh" in out
    assert "4 updates x 256 = 1,024 env steps per seed" in out
    assert "num_envs=16 rollout_length=16" in out and " per device (state " in out
    # an override makes the mlp cell another config: it would train; mlp_tanh is untouched
    result = invoke(*args, "--set", "agents.mlp.network.width=8", "--only", "*/mlp")
    assert result.exit_code == 0, result.output
    assert "n_back/mlp  [trains]" in result.stdout and "width=8" in result.stdout
    assert "mlp_tanh" not in result.stdout
    # an override equal to PPO's default is shown too (every value the cell trains with)
    result = invoke(*args, "--set", "ppo.lr=3e-4", "--only", "*/mlp")
    assert "  default  " in result.stdout and " lr=0.0003 " in result.stdout + " "
    assert files() == before


@pytest.mark.slow
def test_force_reruns_and_same_seed_gives_identical_metrics(smoke_results, tmp_path):
    cell = smoke_results / "smoke" / "n_back" / "mlp"
    before = pd.read_parquet(cell / "metrics.parquet")
    result = invoke("run", SMOKE, "--results-dir", str(smoke_results), "--only", "*/mlp", "--force")
    assert result.exit_code == 0
    assert "1 cell(s) trained, 0 skipped" in result.output
    pd.testing.assert_frame_equal(pd.read_parquet(cell / "metrics.parquet"), before)


def test_list_shows_envs_baselines_suites_and_bench_matrices_apart(monkeypatch):
    monkeypatch.chdir(ROOT)
    result = invoke("list")  # not a terminal: plain rows, nothing cut
    assert result.exit_code == 0
    lines = result.output.splitlines()
    for env_id in ("traveling_salesman-v0", "king_of_the_hill-v0", "n_back-v0"):
        assert any(line.startswith(env_id + " ") for line in lines), env_id
    suites, rest = result.output.split("# benchmark matrices")
    matrices, chosen = rest.split("# tuned settings")
    assert "suites/memory.yaml" in suites and "suites/smoke.yaml" in suites
    assert "bench.yaml" not in suites and "benchmarks/bench.yaml" in matrices
    # a chosen-settings file is not listed as a runnable suite
    assert "tuned.yaml" not in suites and "suites/memory.tuned.yaml" in chosen


def test_list_on_a_narrow_terminal_wraps_other_columns_not_ids():
    from io import StringIO

    from rich.console import Console

    from pmarl_bench.cli.tools import print_table

    out = StringIO()
    console = Console(file=out, width=60, force_terminal=True, color_system=None)
    rows = [("traveling_salesman-v0", "2", "a long description " * 4)]
    print_table(console, "environments", ("id", "agents", "description"), rows)
    assert "traveling_salesman-v0" in out.getvalue()


def test_run_on_a_bench_matrix_says_to_use_bench(tmp_path):
    result = invoke("run", str(ROOT / "benchmarks" / "bench.yaml"), "--results-dir", str(tmp_path))
    assert result.exit_code == 2
    assert "is a benchmark matrix, not a suite" in " ".join(result.output.split())
    assert "pmarl-bench bench" in result.output


def test_help_names_the_arguments_as_the_readme_does():
    readme = (ROOT / "README.md").read_text()
    usage = runner.invoke(app, ["bench", "--help"], env={"COLUMNS": "200"}).output
    assert "pmarl-bench bench [OPTIONS] [MATRIX]" in usage
    synopsis = readme[readme.index("### Command line") :]
    for command, options in {
        "report": ["--videos"],
        "enjoy": ["--fps", "--results-dir"],
        "play": ["--seed", "--results-dir"],
        "bench": ["[MATRIX]"],
        "run": ["--keep-previous", "--snapshot-every", "--log", "--set", "--dry-run"],
        "tune": ["--per", "--out", "--set", "--force"],
        "rate": ["--task", "--matches", "--episodes", "--seed"],
        "crossplay": ["--env", "--episodes", "--seed"],
        "status": ["[RESULTS_DIR]"],
    }.items():
        line = synopsis[synopsis.index(f"pmarl-bench {command} ") :].split("\npmarl-bench ")[0]
        for option in options:
            assert option in line, (command, option)
    import re

    for line in readme[: readme.index("### Command line")].splitlines():
        # a shell command line (perhaps after VAR=value settings) works without activating
        assert not re.match(r"\s*([A-Z_]+=\S+\s+)*pmarl-bench ", line), line


@pytest.mark.slow
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path):
    suite = tmp_path / "bad.yaml"
    suite.write_text(
        "name: bad\nsteps: 1000\nenvs:\n  - id: n_back-v0\n    options: {max_n: 99}"
        "\nagents:\n  - baseline: mlp\n"
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pmarl_bench.cli",
            "run",
            str(suite),
            "--results-dir",
            str(tmp_path / "res"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "bad.yaml: envs[0].options" in lines[0] and "max_n" in lines[0]
    assert "Traceback" not in proc.stderr + proc.stdout
    assert not (tmp_path / "res").exists()


def test_nan_losses_stop_training_with_a_clear_error():
    metrics = {k: np.zeros((2, 3)) for k in ("policy_loss", "value_loss", "entropy", "grad_norm")}
    _check_finite(metrics, "n_back/mlp", [4, 7], 30)  # finite: no error
    metrics["value_loss"][1, 2] = np.nan
    with pytest.raises(
        TrainingDivergedError,
        match=r"n_back/mlp: value_loss became nan for "
        r"seed 7 at update 32",
    ):
        _check_finite(metrics, "n_back/mlp", [4, 7], 30)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--device-memory", "lots"], "--device-memory: not a size: 'lots'"),
        (["--device-memory", "0GiB"], "--device-memory: a positive, finite size"),
        (["--device-memory", "1e999"], "--device-memory: a positive, finite size"),
        (["--device-memory", "1KB"], "n_back/mlp: needs at least"),  # the preflight's bound
        (
            ["--device-memory", "1KB", "--no-preflight"],  # then the compiled program's own
            "n_back/mlp: even one seed at a time needs about",
        ),
        (["--address", "auto"], "--address: only applies with --executor ray"),
        (["--distributed", "--executor", "ray"], "use one of --distributed and --executor ray"),
    ],
)
def test_bad_scale_out_options_are_one_line_errors(tmp_path, args, message):
    result = invoke("run", SMOKE, "--results-dir", str(tmp_path / "res"), *args)
    assert result.exit_code == 2
    assert message in " ".join(result.output.split()), result.output
    assert not [p for p in (tmp_path / "res").rglob("*") if p.is_file()]  # nothing written


def test_sizes_parse_in_decimal_and_binary_units():
    from pmarl_bench.cli.train import parse_bytes

    assert parse_bytes("20GiB", "x") == 20 * 2**30
    assert parse_bytes("512 MB", "x") == 512 * 10**6
    assert parse_bytes("1e9", "x") == 10**9


@pytest.mark.slow
def test_ctrl_c_while_compiling_exits_130_promptly_and_leaves_no_cell(tmp_path):
    # Interrupt while the transformer cell compiles, as an impatient user (and uv, which
    # forwards the signal) does: SIGINT repeated until the process ends.
    import signal
    import threading
    import time

    res = tmp_path / "res"
    # --no-compile-cache: with the test session's cache warm (an earlier test compiled this
    # cell) the run would be training by now, and training stops at the end of its chunk
    proc = subprocess.Popen(
        [sys.executable, "-m", "pmarl_bench.cli", "--no-compile-cache", "run",
         str(ROOT / "suites" / "memory.yaml"), "--only", "n_back/transformer", "--seeds", "1",
         "--results-dir", str(res)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip
    lines: list[str] = []
    compiling = threading.Event()

    def read() -> None:
        for line in proc.stderr:
            lines.append(line)
            if "compiling" in line:
                compiling.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    # start-up takes seconds, more on a loaded machine: wait until the cell compiles (its
    # progress line), then a little, so the signal lands in XLA's compile (about 20 s here)
    assert compiling.wait(120), "".join(lines)
    time.sleep(2)
    assert proc.poll() is None and not any("compiled in" in x for x in lines), "".join(lines)
    t0 = time.monotonic()
    while proc.poll() is None and time.monotonic() - t0 < 30:
        proc.send_signal(signal.SIGINT)
        time.sleep(0.3)
    elapsed = time.monotonic() - t0
    proc.wait(timeout=60)
    reader.join(10)
    err = "".join(lines)
    assert proc.returncode == 130, err
    assert elapsed < 5, (elapsed, err)
    assert "interrupted" in err and "Traceback" not in err
    assert not [p for p in res.rglob("*") if p.is_file()]


@pytest.mark.slow
def test_enjoy_records_an_n_back_cell(smoke_results, tmp_path):
    import imageio.v3 as iio

    out = tmp_path / "n_back.gif"
    result = invoke("enjoy", "smoke/n_back/mlp", "--results-dir", str(smoke_results),
                    "--video-path", str(out))  # fmt: skip
    assert result.exit_code == 0, result.output
    frames = iio.imread(out, index=None)
    assert frames.shape[0] == 16  # one frame per step of the 16-step episode


def test_status_shows_one_unit_for_running_and_finished_cells(tmp_path):
    """agent-steps/s of all seeds together, from a running cell's status and a finished
    cell's manifest alike (a cell does not seem to change speed as it finishes)."""
    import numpy as np

    from pmarl_bench.results import metrics_frame, staging, store, write_cell

    frame = metrics_frame({"episode_return": np.ones((2, 3))}, suite="s", env="e", agent="done",
                          seeds=[0, 1], env_steps_per_update=10)  # fmt: skip
    write_cell(tmp_path / "s" / "e" / "done", frame,
               {"suite": "s", "env": "e", "agent": "done", "seeds": [0, 1],
                "agent_steps_per_second": 12_300.0, "env_steps_per_second": 6_150.0})  # fmt: skip
    stage = store.stage_dir(tmp_path / "s" / "e" / "busy")
    staging.write_status(stage, {"state": "running", "suite": "s", "env": "e", "agent": "busy",
                                 "agent_steps_per_second": 45_600.0,
                                 "env_steps_per_second": 22_800.0})  # fmt: skip
    out = invoke("status", str(tmp_path)).output
    assert "agent-steps/s (all seeds)" in " ".join(out.split())
    assert "12.3k" in out and "45.6k" in out and "6.15k" not in out and "22.8k" not in out


def test_status_lists_the_cells_a_run_has_not_started(tmp_path):
    from pmarl_bench.results import store

    store.write_plan(tmp_path / "s", [{"env": "e", "agent": "a", "control": None},
                                      {"env": "e", "agent": "b", "control": None}])  # fmt: skip
    staging_dir = store.stage_dir(tmp_path / "s" / "e" / "a")
    from pmarl_bench.results import staging

    staging.write_status(staging_dir, {"state": "running", "suite": "s", "env": "e", "agent": "a"})
    for root, prefix in ((tmp_path / "s", ""), (tmp_path, "s/")):
        out = invoke("status", str(root)).output
        rows = [" ".join(line.split()) for line in out.splitlines()]
        assert any(f"{prefix}e/b" in r and "not started" in r for r in rows), out
        assert not any(f"{prefix}e/a " in r and "not started" in r for r in rows), out


def test_the_suite_eta_scales_the_time_so_far_by_the_env_steps_left(monkeypatch):
    from types import SimpleNamespace

    from pmarl_bench import runner

    def cell(steps, seeds):
        return SimpleNamespace(ppo=SimpleNamespace(total_env_steps=steps), seeds=[0] * seeds,
                               trials=())  # fmt: skip

    now = {"t": 1000.0}
    monkeypatch.setattr(runner.time, "monotonic", lambda: now["t"])
    eta = runner.SuiteClock("memory", [cell(100, 2), cell(100, 2), cell(300, 2)])
    now["t"] += 60.0  # the first cell (200 of 1,000 env steps) took a minute
    assert eta.line(1) == ("suite memory: 1 of 3 cells in 1:00; about 4:00 left (at the rate "
                           "of the cells so far)")  # fmt: skip
