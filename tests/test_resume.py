"""Long runs lose nothing: a suite killed (SIGKILL, also inside a snapshot write) or stopped
(SIGTERM) at random chunks resumes on rerun and ends bit for bit where an unbroken run ends;
a run of another config never silently replaces a finished cell; TensorBoard holds what
``metrics.parquet`` holds; a batch log has plain progress lines."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from pmarl_bench.checkpoints import load_cell
from pmarl_bench.cli import app
from pmarl_bench.results import reading, staging, store

pytestmark = pytest.mark.slow  # trains whole (tiny) suites in child processes

ROOT = Path(__file__).resolve().parents[1]
SMOKE = str(ROOT / "suites" / "smoke.yaml")
#: 5 seeds, 7 updates of one chunk each per cell (2,000 steps rounded down to whole
#: updates of 256), a snapshot after every chunk, an evaluation curve point every 512 steps
#: (so the kills below also cover the checkpoints it is played from)
RUN = ["run", SMOKE, "--seeds", "5", "--steps", "2000", "--snapshot-every", "0",
       "--set", "evaluation.every=512"]  # fmt: skip
CELLS = ("mlp", "mlp_tanh")


def pmarl(args: list[str], log: Path, *, kill: tuple[int, str] | None = None):
    """Run the CLI in a child process (output to ``log``, as a batch job); ``kill``: (chunk,
    where) for ``resume_child.py``."""
    child = ["-m", "pmarl_bench.cli"]
    if kill is not None:
        child = [str(ROOT / "tests" / "resume_child.py"), str(kill[0]), kill[1], "--"]
    with log.open("w") as f:
        return subprocess.run(
            [sys.executable, *child, *args], stdout=f, stderr=subprocess.STDOUT, cwd=ROOT,
            timeout=300,
        )  # fmt: skip


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """An unbroken run of the smoke suite, streaming to TensorBoard."""
    out = tmp_path_factory.mktemp("reference")
    proc = pmarl([*RUN, "--log", "tensorboard", "--results-dir", str(out)], out / "run.log")
    assert proc.returncode == 0, (out / "run.log").read_text()
    return out


def test_a_batch_log_has_plain_progress_lines(reference):
    text = (reference / "run.log").read_text()
    assert "\x1b" not in text and "\r" not in text  # no terminal codes, no redrawn bars
    backend, *lines = text.splitlines()
    assert backend == f"backend: cpu (cpu x1), jax {jax.__version__}", text  # what it runs on
    for k, agent in enumerate(CELLS, 1):
        mine = [line for line in lines if line.startswith(f"n_back/{agent} ({k} of 2): ")]
        assert "compiling…" in mine[0]  # and how the steps became whole updates
        assert "7 updates x 256 = 1,792 env steps (2,000 asked; rounded down" in mine[0]
        assert any("/1.79k env steps" in line and "ETA" in line for line in mine), text
        assert "1.79k env steps · return " in mine[-1], text  # the finished line keeps it
        manifest = store.read_manifest(reference / "smoke" / "n_back" / agent)
        assert manifest["env_steps_requested"] == 2000
        assert manifest["env_steps_per_seed"] == 1792 and "rounded down" in manifest[
            "env_steps_note"]  # fmt: skip
        # the evaluation curve: every 512 env steps and at the end, greedy and stochastic
        metrics = pd.read_parquet(reference / "smoke" / "n_back" / agent / store.METRICS_FILE)
        curve = metrics[metrics.metric.str.startswith("eval_curve/")]
        assert sorted(curve.metric.unique()) == ["eval_curve/return_greedy",
                                                 "eval_curve/return_stochastic"]  # fmt: skip
        assert sorted(curve.env_steps.unique()) == [512, 1024, 1536, 1792]
        assert len(curve) == 2 * 4 * 5  # modes x points x seeds
        # streamed to TensorBoard as training went (test_tensorboard_holds_the_metrics_table)
        live = [line for line in mine if "evaluation curve at update" in line]
        assert [line.split("update ")[-1] for line in live] == ["2…", "4…", "6…"], text
    suite_eta = "suite smoke: 1 of 2 cells in "
    assert all(line.startswith(("n_back/", suite_eta)) for line in lines[:-1]), text
    assert sum(line.startswith(suite_eta) for line in lines) == 1, text
    assert lines[-1].startswith("2 cell(s) trained"), text


def test_killed_and_stopped_runs_resume_bit_for_bit(reference, tmp_path):
    out = tmp_path / "res"
    run = [*RUN, "--results-dir", str(out)]
    rng = random.Random(2026)
    stops = ["chunk", "snapshot", "term"]
    rng.shuffle(stops)
    for i, where in enumerate(stops):
        log = tmp_path / f"stop{i}.log"
        proc = pmarl(run, log, kill=(rng.randint(1, 5), where))
        text = log.read_text()
        if where == "term":
            assert proc.returncode == 143, text
            assert "rerun the same command to resume" in text
        else:
            assert proc.returncode == -9, text
        # nothing corrupted: each folder is a finished cell or a resumable staging folder
        for path in (out / "smoke" / "n_back").iterdir():
            if store.is_cell_name(path.name):
                assert store.is_complete(path)
                pd.read_parquet(path / store.METRICS_FILE)
            else:
                assert path.name.endswith("@running"), path
                snapshot = staging.latest_snapshot(path)
                status = staging.read_status(path)
                assert status is not None
                if snapshot is not None:  # a torn snapshot write is never taken for one
                    assert (snapshot.folder / "info.json").is_file()
                if where == "term":
                    assert status["state"] == "interrupted" and snapshot is not None
    proc = pmarl(run, tmp_path / "final.log")
    assert proc.returncode == 0, (tmp_path / "final.log").read_text()
    for agent in CELLS:
        ref, got = (d / "smoke" / "n_back" / agent for d in (reference, out))
        pd.testing.assert_frame_equal(
            pd.read_parquet(got / store.METRICS_FILE),
            pd.read_parquet(ref / store.METRICS_FILE),
            check_exact=True,
        )
        a, b = load_cell(ref), load_cell(got)
        for seed in a.seeds:
            for x, y in zip(jax.tree.leaves(a.params(seed)), jax.tree.leaves(b.params(seed)),
                            strict=True):  # fmt: skip
                np.testing.assert_array_equal(x, y)
        assert not (got / "snapshots").exists() and not store.running_dir(got).exists()
    resumed = [json.loads((out / "smoke" / "n_back" / a / "manifest.json").read_text())
               ["resumed_at_updates"] for a in CELLS]  # fmt: skip
    assert any(resumed), resumed


def test_tensorboard_holds_the_metrics_table(reference):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    cell = reference / "smoke" / "n_back" / "mlp"
    df = pd.read_parquet(cell / store.METRICS_FILE)
    for seed in range(5):
        events = EventAccumulator(str(cell / "tensorboard" / f"seed_{seed}"), size_guidance={
            "scalars": 0}).Reload()  # fmt: skip
        mine = df[df.seed == seed]
        assert set(events.Tags()["scalars"]) == set(mine.metric)
        for metric, rows in mine.groupby("metric"):
            logged = events.Scalars(metric)
            assert [e.step for e in logged] == rows.env_steps.tolist()
            np.testing.assert_array_equal(
                np.float32([e.value for e in logged]), rows.value.to_numpy(np.float32)
            )


def test_another_config_never_replaces_a_finished_cell(reference, tmp_path):
    results = tmp_path / "res"
    shutil.copytree(reference, results)
    cell = results / "smoke" / "n_back" / "mlp"
    before = pd.read_parquet(cell / store.METRICS_FILE)
    # the README's example after a 5-seed run
    args = [
        "run",
        SMOKE,
        "--only",
        "n_back/*",
        "--seeds",
        "2",
        "--steps",
        "2000",
        "--set",
        "evaluation.every=512",
    ]  # (as the reference: only the seeds differ)
    result = CliRunner().invoke(app, [*args, "--results-dir", str(results)])
    assert result.exit_code == 2, result.output
    line = " ".join(result.output.split())
    assert "n_back/mlp (seeds [0, 1, 2, 3, 4] -> [0, 1]);" in line, line
    assert "n_back/mlp_tanh (seeds [0, 1, 2, 3, 4] -> [0, 1])." in line, line
    assert "--results-dir" in line and "--force" in line and "--keep-previous" in line
    assert store.read_manifest(cell)["seeds"] == [0, 1, 2, 3, 4]
    pd.testing.assert_frame_equal(pd.read_parquet(cell / store.METRICS_FILE), before)
    assert sorted(p.name for p in cell.parent.iterdir()) == ["mlp", "mlp_tanh"]

    # keeping both: the 5-seed result moves aside, untouched, and reports ignore it
    result = CliRunner().invoke(app, ["run", SMOKE, "--only", "n_back/mlp", "--seeds", "2",
                                      "--steps", "512", "--keep-previous",
                                      "--results-dir", str(results)])  # fmt: skip
    assert result.exit_code == 0, result.output
    (previous,) = cell.parent.glob("mlp@previous-*")
    pd.testing.assert_frame_equal(pd.read_parquet(previous / store.METRICS_FILE), before)
    assert store.read_manifest(cell)["seeds"] == [0, 1]
    assert len(reading.finished_cells(results)) == 2


def test_a_diverged_cell_keeps_its_curve_and_reason_and_reports_list_it(
    reference, tmp_path, monkeypatch
):
    from pmarl_bench.errors import TrainingDivergedError
    from pmarl_bench.report import build_report
    from pmarl_bench.runner import run_suite
    from pmarl_bench.suites import load_suite
    from pmarl_bench.trainer import loop

    results = tmp_path / "res"
    shutil.copytree(reference / "smoke" / "n_back" / "mlp", results / "smoke/n_back/mlp")
    check = loop._check_finite

    def diverge_at_update_4(metrics, name, seeds, first):
        if first >= 4:
            metrics = {k: np.array(v) for k, v in metrics.items()}
            metrics["value_loss"][1, 0] = np.nan
        return check(metrics, name, seeds, first)

    monkeypatch.setattr(loop, "_check_finite", diverge_at_update_4)
    loaded = load_suite(SMOKE, seeds=5, steps=2000, only="n_back/mlp_tanh")
    with pytest.raises(TrainingDivergedError, match="seed 1 at update 4") as err:
        run_suite(loaded, results, snapshot_every=0)
    failed = results / "smoke" / "n_back" / "mlp_tanh@failed"
    assert err.value.kept == str(failed)
    status = staging.read_status(failed)
    assert status["state"] == "failed" and "value_loss became nan" in status["reason"]
    live = staging.read_live(failed)  # the metrics up to and including the failing update
    assert sorted(live["update"].unique()) == [0, 1, 2, 3, 4]
    assert staging.latest_snapshot(failed).updates == 4  # its last snapshot
    assert not store.running_dir(results / "smoke" / "n_back" / "mlp_tanh").exists()
    assert [p.name for p in reading.finished_cells(results)] == ["mlp"]  # never taken as done

    out = CliRunner().invoke(app, ["status", str(results)]).output
    assert "failed" in out and "value_loss became nan" in out and "finished" in out, out
    page = build_report([results / "smoke"], tmp_path / "report", "md", reps=50)
    text = page.read_text()
    assert "## Unfinished cells" in text and "failed at 57%" in text, text  # 4 of 7 updates
    assert "unfinished_curves.png" in text
