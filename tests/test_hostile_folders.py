"""Careless or hostile folders and commands: names in a results folder never run as markup in
a report, clean-up never leaves the results folder or follows a link, a second run on a
busy folder stops, a replaced cell survives a kill, a signal never cuts a checkpoint write in
half, and a full disk is one line."""

from __future__ import annotations

import os
import signal
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from pmarl_bench import interrupts
from pmarl_bench.cli import app, user_errors
from pmarl_bench.report import build_report
from pmarl_bench.report.pages import Section, html_page, markdown_page
from pmarl_bench.results import durable, lock, metrics_frame, reading, store, write_cell

ROOT = Path(__file__).resolve().parents[1]
HOSTILE = "mlp\" onerror=\"document.title='X';x="


class Elements(HTMLParser):
    """Every start tag's attributes, as a browser's parser reads them."""

    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def parse(page: str) -> list[tuple[str, dict]]:
    parser = Elements()
    parser.feed(page)
    return parser.tags


def test_a_hostile_file_name_is_an_attribute_value_never_markup():
    name = f"rollout_task_{HOSTILE}_best.gif"
    section = Section("Rollouts", gifs=((f"task / {HOSTILE}", name),), figures=(HOSTILE,))
    tags = parse(html_page([section]))
    assert not [a for _, attrs in tags for a in attrs if a.startswith("on")]
    sources = [attrs["src"] for tag, attrs in tags if tag == "img"]
    assert len(sources) == 2 and all('"' not in s and " " not in s for s in sources)
    assert f"({name})" not in markdown_page([section])  # the Markdown link is quoted too


@pytest.mark.slow
def test_a_report_of_a_hostile_results_folder_renders_names_as_text(tmp_path):
    returns = np.linspace(0, 1, 8)[None].repeat(2, 0)
    for agent in (HOSTILE, "<script>alert(1)</script>"):
        frame = metrics_frame({"episode_return": returns}, suite="s", env="e", agent=agent,
                              seeds=[0, 1], env_steps_per_update=10)  # fmt: skip
        write_cell(tmp_path / "res" / "s" / "e" / agent, frame,
                   {"suite": "s", "env": "e", "agent": agent, "seeds": [0, 1]})  # fmt: skip
    page = build_report([tmp_path / "res" / "s"], tmp_path / "out", reps=50)
    tags = parse(page.read_text())
    assert not [a for _, attrs in tags for a in attrs if a.startswith("on")]
    assert "script" not in [tag for tag, _ in tags]
    assert "&lt;script&gt;" in page.read_text()  # shown, as text


def test_clean_up_never_follows_a_link_out_of_the_results_folder(tmp_path):
    outside = tmp_path / "elsewhere"
    (outside / "work.tmp-1").mkdir(parents=True)
    (outside / "work.tmp-1" / "data.txt").write_text("keep me")
    suite = tmp_path / "results" / "s"
    (suite / "env").mkdir(parents=True)
    (suite / "linked_env").symlink_to(outside)  # a whole env folder that is a link
    (suite / "env" / "a.tmp-2").symlink_to(outside / "work.tmp-1")  # a link named like a temp
    (suite / "env" / "b.tmp-3").mkdir()  # a real leftover: removed
    assert store.remove_stale_tmp(tmp_path / "results", "s") == 1
    assert (outside / "work.tmp-1" / "data.txt").read_text() == "keep me"
    assert (suite / "env" / "a.tmp-2").is_symlink() and not (suite / "env" / "b.tmp-3").exists()


def test_a_replaced_cell_survives_a_kill_between_moving_it_aside_and_installing(tmp_path):
    frame = metrics_frame({"episode_return": np.ones((1, 3))}, suite="s", env="e", agent="a",
                          seeds=[0], env_steps_per_update=1)  # fmt: skip
    path = tmp_path / "s" / "e" / "a"
    write_cell(path, frame, {"suite": "s", "env": "e", "agent": "a"})
    path.rename(path.with_name("a.tmp-old-1234"))  # the kill came right after this rename
    assert store.remove_stale_tmp(tmp_path, "s") == 0
    assert reading.finished_cells(tmp_path) == [path]


def test_results_are_on_disk_before_the_rename_that_publishes_them(tmp_path, monkeypatch):
    flushed = []

    def spy(folder):
        flushed.append(sorted(p.name for p in Path(folder).iterdir()))
        assert not (tmp_path / "s" / "e" / "a").exists()  # not published yet

    monkeypatch.setattr(durable, "fsync_tree", spy)
    frame = metrics_frame({"episode_return": np.ones((1, 3))}, suite="s", env="e", agent="a",
                          seeds=[0], env_steps_per_update=1)  # fmt: skip
    write_cell(tmp_path / "s" / "e" / "a", frame, {"suite": "s", "env": "e", "agent": "a"})
    assert flushed == [["manifest.json", "metrics.parquet"]]


def test_a_second_run_on_a_busy_results_folder_stops_with_one_line(tmp_path):
    folder = tmp_path / "res" / "smoke"
    with lock.suite_lock(folder):
        smoke = str(ROOT / "suites" / "smoke.yaml")
        result = CliRunner().invoke(app, ["run", smoke, "--results-dir", str(tmp_path / "res")])
    lines = [ln for ln in result.output.splitlines() if ln and not ln.startswith("backend:")]
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and "is in use by another pmarl-bench run" in lines[0]
    assert [p.name for p in folder.iterdir()] == []  # nothing written
    with lock.suite_lock(folder):  # released with its holder
        pass


def test_a_signal_during_a_checkpoint_write_waits_for_its_end():
    interrupts.install()
    interrupts.reset()
    written = []
    try:
        with pytest.raises(interrupts.Interrupted), interrupts.deferred():
            os.kill(os.getpid(), signal.SIGTERM)
            written.append("all of it")  # the signal did not cut the write
        assert written == ["all of it"]
    finally:
        interrupts.reset()
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def test_a_full_disk_is_one_line(tmp_path, capfd):
    @user_errors
    def run():
        try:
            with open("/dev/full", "w") as f:  # a real ENOSPC from the kernel
                f.write("x" * 100_000)
                f.flush()
        except OSError as err:
            raise RuntimeError("orbax: could not save") from err  # as libraries wrap it

    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full here")
    with pytest.raises(typer.Exit) as exit_:
        run()
    err = capfd.readouterr().err.strip().splitlines()
    assert exit_.value.exit_code == 1
    assert len(err) == 1 and "No space left on device" in err[0], err
    assert "finished cells are kept" in err[0]


def test_a_damaged_cell_is_skipped_and_named_beside_readable_ones(tmp_path):
    from pmarl_bench.report.results import load
    from pmarl_bench.report.sections import missing

    returns = np.linspace(0, 1, 8)[None].repeat(2, 0)
    for agent in ("good", "broken"):
        frame = metrics_frame({"episode_return": returns}, suite="s", env="e", agent=agent,
                              seeds=[0, 1], env_steps_per_update=10)  # fmt: skip
        write_cell(tmp_path / "s" / "e" / agent, frame,
                   {"suite": "s", "env": "e", "agent": agent, "seeds": [0, 1]})  # fmt: skip
    (tmp_path / "s" / "e" / "broken" / "metrics.parquet").write_bytes(b"")
    data = load([tmp_path / "s"])
    assert data.agents == ["good"]
    assert [n for n in missing.load(data) if "broken: skipped, damaged: metrics.parquet" in n]
    status = CliRunner().invoke(app, ["status", str(tmp_path / "s")])
    assert status.exit_code == 0 and "damaged" in status.output


def _outside(tmp_path: Path) -> Path:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "thesis.tex").write_text("years of work")
    return outside


@pytest.mark.parametrize("folder", [store.CROSS_PLAY_FOLDER, store.RATINGS_FOLDER])
def test_a_linked_cross_play_or_ratings_folder_is_refused_not_written_through(tmp_path, folder):
    from pmarl_bench.errors import ConfigError
    from pmarl_bench.matches import partners, ratings

    outside = _outside(tmp_path)
    suite = tmp_path / "results" / "s"
    suite.mkdir(parents=True)
    (suite / folder).symlink_to(outside)
    table = pd.DataFrame({"a": [1.0]})
    with pytest.raises(ConfigError, match="is a symbolic link"):
        if folder == store.CROSS_PLAY_FOLDER:
            partners.write(suite, "env", table)
        else:
            ratings.write(suite, "task", table, table)
    assert sorted(p.name for p in outside.iterdir()) == ["thesis.tex"]


def test_a_linked_snapshot_folder_or_status_file_is_refused(tmp_path):
    from pmarl_bench.errors import ConfigError
    from pmarl_bench.results import staging

    outside = _outside(tmp_path)
    stage = store.stage_dir(tmp_path / "s" / "e" / "a")
    (stage / staging.SNAPSHOTS).symlink_to(outside)
    with pytest.raises(ConfigError, match="snapshots is a symbolic link"):
        staging.write_snapshot(stage, 1, [np.zeros(2)], {}, {})
    (stage / staging.SNAPSHOTS).unlink()
    stage.rename(stage.with_name("moved"))
    stage.symlink_to(outside)  # the staging folder itself, after it was checked once
    with pytest.raises(ConfigError, match="a@running is a symbolic link"):
        staging.write_status(stage, {"state": "running"})
    assert sorted(p.name for p in outside.iterdir()) == ["thesis.tex"]


def test_a_linked_tune_journal_is_refused_before_any_training(tmp_path):
    from test_study import SUITE

    outside = _outside(tmp_path)
    folder = tmp_path / "results" / "o-tune"
    folder.mkdir(parents=True)
    (folder / "optuna.journal").symlink_to(outside / "thesis.tex")
    (tmp_path / "o.yaml").write_text(SUITE)
    args = ["tune", str(tmp_path / "o.yaml"), "--results-dir", str(tmp_path / "results")]
    result = CliRunner().invoke(app, args)
    lines = [ln for ln in result.output.splitlines() if ln and not ln.startswith("backend:")]
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and "optuna.journal is a symbolic link" in lines[0], result.output
    assert (outside / "thesis.tex").read_text() == "years of work"
    assert sorted(p.name for p in folder.iterdir()) == ["optuna.journal"]


def _finished_cell(root: Path, agent: str = "good") -> Path:
    returns = np.linspace(0, 1, 8)[None].repeat(2, 0)
    frame = metrics_frame({"episode_return": returns}, suite="s", env="e", agent=agent,
                          seeds=[0, 1], env_steps_per_update=10)  # fmt: skip
    path = root / "s" / "e" / agent
    write_cell(path, frame, {"suite": "s", "env": "e", "agent": agent, "seeds": [0, 1]})
    return path


DAMAGED_TABLES = {
    "garbage.csv": b"\x00\xff\xfe garbage \x00\n\x01",
    "empty.csv": b"",
    "header_only.csv": b"agent,seed,checkpoint,env_steps,mu,sigma,ordinal,matches,wins,draws\n",
    "wrong_columns.csv": b"a,b\n1,2\n",
    "words_for_numbers.csv": b"agent,seed,checkpoint,env_steps,mu,sigma,ordinal,matches,wins,"
    b"draws\nmlp,0,final,x,y,1,1,1,1,1\n",
}


@pytest.mark.slow
def test_a_report_skips_and_names_damaged_ratings_and_cross_play_tables(tmp_path):
    _finished_cell(tmp_path)
    for folder in (store.RATINGS_FOLDER, store.CROSS_PLAY_FOLDER):
        (tmp_path / "s" / folder).mkdir()
        for name, data in DAMAGED_TABLES.items():
            (tmp_path / "s" / folder / name).write_bytes(data)
    args = ["report", str(tmp_path / "s"), "--out", str(tmp_path / "out"), "--no-videos"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    page = (tmp_path / "out" / "report.md").read_text()
    for folder in (store.RATINGS_FOLDER, store.CROSS_PLAY_FOLDER):
        for name in DAMAGED_TABLES:
            assert f"{folder}/{name}: skipped" in page, (folder, name)
    assert "## Ratings" not in page and "## Cross-play" not in page


def _status_rows(root: Path) -> str:
    result = CliRunner().invoke(app, ["status", str(root)])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    return result.output


@pytest.mark.parametrize("content", ["[1, 2]", "{not json", ""])
def test_status_lists_a_staging_folder_whose_status_is_damaged(tmp_path, content):
    _finished_cell(tmp_path)
    stage = store.stage_dir(tmp_path / "s" / "e" / "broken")
    (stage / "status.json").write_text(content)
    out = _status_rows(tmp_path)
    assert "broken" in out
    assert "damaged" in out and "status.json is unreadable" in " ".join(out.split())


def test_a_status_whose_pid_now_belongs_to_another_process_is_not_running(tmp_path):
    from pmarl_bench.results import staging

    stage = store.stage_dir(tmp_path / "s" / "e" / "a")
    staging.write_status(stage, {"state": staging.RUNNING})
    status = staging.read_status(stage)
    assert staging.effective_state(status) == staging.RUNNING  # this process: alive
    if status["started"] is None:
        pytest.skip("the OS does not say when a process started")
    reused = {**status, "started": str(int(status["started"]) - 1)}  # same PID, another start
    assert staging.effective_state(reused) == staging.INTERRUPTED


def test_a_full_disk_during_a_snapshot_leaves_no_temporary_file_and_no_logged_traceback(
    tmp_path, monkeypatch, capfd
):
    """As orbax fails on ENOSPC: it logs the error with its traceback (absl's logger) from
    its thread and raises; the snapshot's temporary folder and a status file half written
    are removed, the log stays quiet, and the error reaches the caller."""
    import errno
    import logging

    from pmarl_bench.results import staging

    class Full:
        def save(self, *args, **kwargs):
            try:
                raise OSError(errno.ENOSPC, "No space left on device")
            except OSError:
                logging.getLogger("absl").exception("Failed to run Handler Commit operations")
                raise

    monkeypatch.setattr(staging, "local_checkpointer", Full)
    stage = store.stage_dir(tmp_path / "s" / "e" / "a")
    with pytest.raises(OSError, match="No space left"):
        staging.write_snapshot(stage, 1, [np.zeros(2)], {}, {})
    assert list((stage / staging.SNAPSHOTS).iterdir()) == []
    assert "Traceback" not in capfd.readouterr().err

    def full_fsync(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_fsync)
    with pytest.raises(OSError, match="No space left"):
        staging.write_status(stage, {"state": "running"})
    assert sorted(p.name for p in stage.iterdir()) == [staging.SNAPSHOTS]
