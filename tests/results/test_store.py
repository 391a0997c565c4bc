"""Result tables: long format, atomic cell writes, the finished-cell cache, loaders."""

import json

import numpy as np
import pandas as pd
import pytest

from pmarl_bench.errors import ConfigError
from pmarl_bench.results import reading, store

#: what a finished cell's manifest says it is (the rows of ``frame()`` say the same)
IDS = {"suite": "s", "env": "e", "agent": "a"}


def frame(env="e", agent="a", seeds=(3, 5)):
    metrics = {
        "episode_return": np.array([[1.0, np.nan, 3.0], [4.0, 5.0, 6.0]]),
        "entropy": np.array([[0.5, 0.4, 0.3], [0.6, 0.5, 0.4]]),
    }
    return store.metrics_frame(
        metrics, suite="s", env=env, agent=agent, seeds=list(seeds), env_steps_per_update=100
    )


def test_metrics_frame_is_long_and_drops_missing_episode_stats():
    df = frame()
    assert list(df.columns) == store.COLUMNS
    assert len(df) == 2 * 3 * 2 - 1  # one NaN episode_return dropped
    row = df[(df.metric == "episode_return") & (df.seed == 5) & (df["update"] == 2)]
    assert row.value.item() == 6.0 and row.env_steps.item() == 300
    assert not df[(df.metric == "episode_return") & (df.seed == 3)]["update"].isin([1]).any()
    assert df.seed.dtype == np.int64 and df.env_steps.dtype == np.int64


def test_write_and_reload_and_finished_check(tmp_path):
    path = store.cell_dir(tmp_path, "s", "e", "a")
    store.write_cell(path, frame(), {**IDS, "config_hash": "abc"})
    assert store.is_finished(path, "abc")
    assert not store.is_finished(path, "other")
    assert store.read_manifest(path)["status"] == "complete"
    store.write_cell(
        store.cell_dir(tmp_path, "s", "e", "b"),
        frame(agent="b"),
        {**IDS, "agent": "b", "config_hash": "x"},
    )
    df = reading.load_results(tmp_path / "s")
    assert sorted(df.agent.unique()) == ["a", "b"]
    pd.testing.assert_frame_equal(
        df[df.agent == "a"].reset_index(drop=True), frame().reset_index(drop=True)
    )
    assert len(reading.load_manifests(tmp_path / "s")) == 2


def test_rewrite_replaces_atomically(tmp_path):
    path = store.cell_dir(tmp_path, "s", "e", "a")
    store.write_cell(path, frame(), {**IDS, "config_hash": "one"})
    store.write_cell(path, frame(seeds=(7, 8)), {**IDS, "config_hash": "two"})
    assert store.is_finished(path, "two")
    assert set(pd.read_parquet(path / store.METRICS_FILE).seed) == {7, 8}
    assert [p.name for p in path.parent.iterdir()] == ["a"]  # no temporary folders left


def test_failed_write_leaves_nothing_and_keeps_old_result(tmp_path, monkeypatch):
    path = store.cell_dir(tmp_path, "s", "e", "a")
    store.write_cell(path, frame(), {**IDS, "config_hash": "old"})

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(json, "dump", boom)
    with pytest.raises(KeyboardInterrupt):
        store.write_cell(path, frame(seeds=(9, 10)), {**IDS, "config_hash": "new"})
    assert store.is_finished(path, "old")
    assert [p.name for p in path.parent.iterdir()] == ["a"]
    new = store.cell_dir(tmp_path, "s", "e", "fresh")
    with pytest.raises(KeyboardInterrupt):
        store.write_cell(new, frame(), {**IDS, "config_hash": "new"})
    assert not new.exists()
    assert sorted(p.name for p in new.parent.iterdir()) == ["a"]


def test_half_written_cells_are_ignored_and_cleaned(tmp_path):
    store.write_cell(store.cell_dir(tmp_path, "s", "e", "a"), frame(), {**IDS, "config_hash": "h"})
    half = tmp_path / "s" / "e" / "b.tmp-1234"
    half.mkdir()
    frame(agent="b").to_parquet(half / store.METRICS_FILE)
    assert set(reading.load_results(tmp_path / "s").agent) == {"a"}
    assert store.remove_stale_tmp(tmp_path, "s") == 1
    assert not half.exists()


def test_loading_nothing_is_a_one_line_error(tmp_path):
    with pytest.raises(ConfigError, match="no such results folder"):
        reading.load_results(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no finished cells"):
        reading.load_results(tmp_path / "empty")


def test_a_packed_cell_unpacks_elsewhere_atomically(tmp_path):
    """How a cluster worker's cell reaches the results folder."""
    worker = store.cell_dir(tmp_path / "worker", "s", "e", "a")
    store.write_cell(worker, frame(), {**IDS, "config_hash": "new"})
    (worker / "checkpoints" / "final").mkdir(parents=True)
    (worker / "checkpoints" / "final" / "params").write_bytes(b"\x00\x01")
    archive = store.pack_cell(worker)

    path = store.cell_dir(tmp_path / "results", "s", "e", "a")
    store.write_cell(path, frame(seeds=(7, 8)), {**IDS, "config_hash": "old"})
    store.unpack_cell(path, archive)
    assert store.is_finished(path, "new")
    assert (path / "checkpoints" / "final" / "params").read_bytes() == b"\x00\x01"
    pd.testing.assert_frame_equal(pd.read_parquet(path / store.METRICS_FILE), frame())
    assert [p.name for p in path.parent.iterdir()] == ["a"]

    # an archive without a complete cell changes nothing
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no complete cell"):
        store.unpack_cell(path, store.pack_cell(tmp_path / "empty"))
    assert store.is_finished(path, "new") and [p.name for p in path.parent.iterdir()] == ["a"]


def test_staging_failed_and_previous_folders_are_never_taken_for_results(tmp_path):
    path = store.cell_dir(tmp_path, "s", "e", "a")
    store.write_cell(path, frame(), {**IDS, "config_hash": "h", "created": "2026-11-26T10:00:00"})
    for side in ("a@running", "a@failed"):  # a stage just before it is installed looks done
        store.write_cell(path.with_name(side), frame(), {**IDS, "config_hash": "h"})
    moved = store.keep_previous(path)
    assert moved.name == "a@previous-20261126T1000-h"
    store.write_cell(path, frame(seeds=(7, 8)), {**IDS, "config_hash": "new"})
    assert reading.finished_cells(tmp_path) == [path]
    assert set(reading.load_results(tmp_path).seed) == {7, 8}
    pd.testing.assert_frame_equal(pd.read_parquet(moved / store.METRICS_FILE), frame())


def test_installing_a_stage_drops_its_snapshots_and_an_older_failure(tmp_path):
    path = store.cell_dir(tmp_path, "s", "e", "a")
    store.failed_dir(path).mkdir(parents=True)
    stage = store.stage_dir(path)
    (stage / "snapshots" / "update_00000004").mkdir(parents=True)
    (stage / "status.json").write_text("{}")
    (stage / "checkpoints").mkdir()
    store.write_cell(path, frame(), {**IDS, "config_hash": "h"}, stage=stage)
    assert sorted(p.name for p in path.iterdir()) == [
        "checkpoints", store.MANIFEST_FILE, store.METRICS_FILE]  # fmt: skip
    assert [p.name for p in path.parent.iterdir()] == ["a"]


def test_snapshots_are_whole_or_absent_and_only_the_latest_is_kept(tmp_path):
    from pmarl_bench.results import staging

    leaves = [np.arange(6, dtype=np.float32).reshape(2, 3), np.zeros((2, 0)), np.uint32([7, 9])]
    metrics = {"episode_return": np.float32([[1.0, np.nan], [3.0, 4.0]])}
    staging.write_snapshot(tmp_path, 2, leaves, metrics, {"config_hash": "h"})
    staging.write_snapshot(tmp_path, 4, [x + 1 for x in leaves], metrics, {"config_hash": "h"})
    torn = tmp_path / "snapshots" / ".tmp-dead"  # a kill during a write leaves this
    (torn / "state").mkdir(parents=True)
    found = staging.latest_snapshot(tmp_path)
    assert found.updates == 4 and found.info["config_hash"] == "h"
    assert sorted(p.name for p in (tmp_path / "snapshots").iterdir()) == [
        ".tmp-dead", "update_00000004"]  # fmt: skip
    like = [jax_like(x) for x in leaves]
    got, got_metrics = staging.read_snapshot(found, like, num_seeds=2)
    for a, b in zip(got, [x + 1 for x in leaves], strict=True):
        np.testing.assert_array_equal(a, b)
        assert a.dtype == b.dtype
    np.testing.assert_array_equal(got_metrics["episode_return"], metrics["episode_return"])
    assert got_metrics["episode_return"].dtype == np.float32
    # a state laid out otherwise (another version's) is refused, not handed to the program
    # (orbax itself restores the stored shape whatever the target's)
    other = [jax_like(np.zeros((3, 2), np.float32)), *like[1:]]
    with pytest.raises(staging.StaleSnapshot, match=r"leaf 0 is float32\[2, 3\], expected"):
        staging.read_snapshot(found, other, num_seeds=2)
    with pytest.raises(staging.StaleSnapshot, match="3 leaves, expected 2"):
        staging.read_snapshot(found, like[:2], num_seeds=2)


def jax_like(x):
    import jax

    return jax.ShapeDtypeStruct(x.shape, x.dtype)


def test_a_stage_sent_home_replaces_the_older_one(tmp_path):
    worker = tmp_path / "worker" / "a@running"
    (worker / "snapshots").mkdir(parents=True)
    (worker / "status.json").write_text('{"state": "running"}')
    path = store.cell_dir(tmp_path / "results", "s", "e", "a")
    old = store.stage_dir(path)
    (old / "stale").write_text("x")
    store.unpack_stage(path, store.pack_cell(worker))
    assert sorted(p.name for p in store.running_dir(path).iterdir()) == ["snapshots",
                                                                        "status.json"]  # fmt: skip
    assert [p.name for p in path.parent.iterdir()] == ["a@running"]


def test_a_snapshot_laid_out_otherwise_is_dropped_and_the_cell_trains_afresh(tmp_path, monkeypatch):
    """A snapshot written by a version with another state layout (the transformer's rings
    changed shape) cannot be resumed: the cell starts over with a warning, no crash."""
    import types

    from pmarl_bench.results import staging
    from pmarl_bench.runner import resume

    stored = [np.arange(6, dtype=np.float32).reshape(2, 3)]
    metrics = {"episode_return": np.float32([[1.0, 2.0]])}
    staging.write_snapshot(tmp_path, 2, stored, metrics, {"config_hash": "h"})
    cell = types.SimpleNamespace(config_hash=lambda: "h")
    layout = {"now": [jax_like(stored[0])]}
    monkeypatch.setattr(resume, "state_leaf_specs", lambda train, n: layout["now"])
    found = resume.latest(tmp_path, cell, None, [0])  # the same layout resumes
    assert found is not None and found.resume.updates == 2
    np.testing.assert_array_equal(found.resume.leaves[0], stored[0])
    layout["now"] = [jax_like(np.zeros((3, 2), np.float32))]
    with pytest.warns(UserWarning, match="training afresh"):
        assert resume.latest(tmp_path, cell, None, [0]) is None
    assert staging.latest_snapshot(tmp_path) is None  # cleared
