"""The regression check's side-by-side confirmation: a case still slower than the baseline
is measured beside a reference commit's code on this machine (``bench.side_by_side``)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from pmarl_bench.bench import compare as cmp
from pmarl_bench.bench import regression, side_by_side

ROOT = Path(__file__).resolve().parents[1]
TINY = """\
name: tiny
repeats: 2
env_cases:
  - {id: n_back-v0, num_envs: 16, steps: 8}
"""
# the reference commit's code marks what it saves, so a test can tell whose code ran
MARK = """

_unmarked_save = save


def save(result, path):
    _unmarked_save({**result, "measured_by": "reference"}, path)
"""


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, check=True, text=True
    ).stdout.strip()


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    """A git repository whose one commit holds a marked copy of the package, the agent
    baselines and a tiny benchmark matrix."""
    repo = tmp_path_factory.mktemp("repo")
    for part in ("pmarl_bench", "baselines"):
        shutil.copytree(ROOT / part, repo / part, ignore=shutil.ignore_patterns("__pycache__"))
    with open(repo / "pmarl_bench/bench/matrix.py", "a") as f:
        f.write(MARK)
    (repo / "benchmarks").mkdir()
    (repo / "benchmarks/tiny.yaml").write_text(TINY)
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "reference")
    return repo


@pytest.mark.slow
def test_side_by_side_runs_the_reference_commits_code_and_this_code(repo, tmp_path):
    commit = git(repo, "rev-parse", "HEAD")
    matrix = repo / "benchmarks/tiny.yaml"
    said: list[str] = []
    changes = side_by_side.confirm(["env:n_back"], commit, matrix, rounds=1, say=said.append)
    assert [(c.case, c.figure) for c in changes] == [
        ("env:n_back", "agent_steps_per_second"),
        ("env:n_back", "reset_seconds"),
    ]
    assert all(c.baseline > 0 and c.current > 0 for c in changes)
    assert all(c.against == f"{commit[:12]} side by side" for c in changes)
    assert f"than {commit[:12]} side by side" in str(changes[0])
    assert said == [f"env:n_back: side by side with {commit[:12]}, round 1/1"]
    # whose code ran: the archive's (marked) on its path, else this environment's
    ref = side_by_side.checkout(commit, repo, tmp_path / "ref")
    side_by_side.measure("env:n_back", matrix, tmp_path / "r.json", ref)
    assert json.loads((tmp_path / "r.json").read_text())["measured_by"] == "reference"
    side_by_side.measure("env:n_back", matrix, tmp_path / "c.json")
    assert "measured_by" not in json.loads((tmp_path / "c.json").read_text())


def test_a_commit_git_does_not_have_or_a_matrix_outside_git_is_unavailable(repo, tmp_path):
    with pytest.raises(side_by_side.Unavailable, match="git has no commit 0123abc here"):
        side_by_side.checkout("0123abc", repo, tmp_path)
    outside = tmp_path / "m.yaml"
    outside.write_text(TINY)
    with pytest.raises(side_by_side.Unavailable, match="not inside a git repository"):
        side_by_side.confirm(["env:n_back"], "HEAD", outside)
    # the commit lacks the matrix that is measured now
    (repo / "benchmarks/new.yaml").write_text(TINY)
    try:
        with pytest.raises(side_by_side.Unavailable, match=r"has no benchmarks/new\.yaml"):
            side_by_side.confirm(["env:n_back"], "HEAD", repo / "benchmarks/new.yaml")
    finally:
        (repo / "benchmarks/new.yaml").unlink()


def test_the_same_case_is_the_same_work_whatever_its_labels_or_newer_settings():
    a = {"id": "n_back-v0", "num_envs": 16, "name": None, "reference": {}}
    assert side_by_side._same_case(a, {**a, "name": "x", "reference": {"gpu": 1.0}})
    assert side_by_side._same_case(a, {**a, "added_later": 3})  # a setting one version lacks
    assert not side_by_side._same_case(a, {**a, "num_envs": 32})


def test_the_check_passes_a_case_only_when_side_by_side_clears_it(monkeypatch):
    flagged = [cmp.Change("train:x", "agent_steps_per_second", 100.0, 70.0)]  # 43% slower
    matrix = ROOT / "benchmarks/bench.yaml"
    policy = regression.Policy(0.2, None, confirm=2, reference="abc")

    def measured(rate):
        def confirm(cases, commit, matrix, rounds, say):
            assert (cases, commit, rounds) == (["train:x"], "abc", 2)
            return [cmp.Change("train:x", "agent_steps_per_second", 100.0, rate, "ref")]

        return confirm

    said: list[str] = []
    monkeypatch.setattr(side_by_side, "confirm", measured(95.0))  # 5% slower: noise
    assert regression._beside(flagged, policy, matrix, said.append) == []
    monkeypatch.setattr(side_by_side, "confirm", measured(60.0))  # 67% slower: real
    (still,) = regression._beside(flagged, policy, matrix, said.append)
    assert str(still) == "train:x agent_steps_per_second: 67% slower than ref"

    def unavailable(*args):
        raise side_by_side.Unavailable("git has no commit abc here")

    monkeypatch.setattr(side_by_side, "confirm", unavailable)
    assert regression._beside(flagged, policy, matrix, said.append) == flagged
    assert "unavailable:[/] git has no commit abc here; the calibrated comparison" in said[-1]
