"""The regression check's last word: a case still slower than the saved baseline after its
re-measurements is measured side by side with the code of the baseline's reference commit,
on this machine, in alternating processes.

A baseline's figures are divided by a calibration workload (a compute-bound matmul scan), so
that one machine's figures compare with another's. Small training cases are bound by
per-op overhead more than by FLOPs, and hosts differ in the ratio of the two: on a host with
faster matmuls, the MLP and GRU cases look 20-30% slower than the baseline though their code
did not change (BENCHMARKS.md, issue 21). Measuring the reference commit's code beside this
code, interleaved, on the same host is the comparison the machine cannot distort.

The reference code runs from a ``git archive`` of the commit (its ``pmarl_bench``,
``benchmarks`` and ``baselines``) with this environment's packages, through its own
``pmarl-bench bench --only CASE --save``: each side is a fresh process, the sides alternate,
and each side keeps its fastest measurement (noise only ever slows a run down).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path

from pmarl_bench.bench.compare import Change
from pmarl_bench.bench.matrix import GATED, RATES

#: what a reference checkout needs: the package, its benchmark matrix and agent baselines
ARCHIVED = ("pmarl_bench", "benchmarks", "baselines")


class Unavailable(Exception):
    """The reference commit's code cannot be run here (no git, a shallow clone, a matrix
    whose case differs); the message says why."""


def checkout(commit: str, repo: Path, dest: Path) -> Path:
    """Extract ``commit``'s package, benchmark matrices and baselines from the git repository
    at ``repo`` into ``dest``; returns ``dest``."""
    try:
        tar = subprocess.run(
            ["git", "-C", str(repo), "archive", "--format=tar", commit, *ARCHIVED],
            capture_output=True, check=True,
        ).stdout  # fmt: skip
    except FileNotFoundError:
        raise Unavailable("git is not installed") from None
    except subprocess.CalledProcessError as err:
        why = err.stderr.decode(errors="replace").strip().splitlines()
        raise Unavailable(f"git has no commit {commit} here ({why[-1] if why else ''})") from None
    with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
        archive.extractall(dest, filter="data")
    return dest


def measure(case: str, matrix: Path, out: Path, pythonpath: Path | None = None) -> dict:
    """One case of ``matrix`` measured by a fresh ``pmarl-bench bench`` process: the code on
    ``pythonpath`` if given (a reference checkout), else this environment's. Returns the
    case's result."""
    env = dict(os.environ)
    if pythonpath is not None:
        paths = [str(pythonpath), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
        env["PYTHONPATH"] = os.pathsep.join(paths)  # no empty entry: it would mean "."
    # -P: not the working directory first on the path, where a checkout's package may be
    cmd = [sys.executable, "-P", "-m", "pmarl_bench.cli", "bench", str(matrix), "--only", case]
    done = subprocess.run([*cmd, "--save", str(out)], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()
        who = "the reference commit's" if pythonpath else "this code's"
        raise Unavailable(f"{who} bench failed on {case}: {tail[-1] if tail else done.returncode}")
    result = json.loads(out.read_text())["cases"][case]
    if "error" in result:
        raise Unavailable(f"{case} failed: {result['error']}")
    return result


def _fastest(a: dict | None, b: dict) -> dict:
    if a is None:
        return dict(b)
    out = dict(a)
    for figure, value in b.items():
        if figure in out:
            faster = value > out[figure] if figure in RATES else value < out[figure]
            out[figure] = value if faster else out[figure]
    return out


def confirm(
    cases: list[str], commit: str, matrix: Path, rounds: int = 2,
    say: Callable[[str], None] = lambda _: None,
) -> list[Change]:  # fmt: skip
    """Each case measured ``rounds`` times by the reference ``commit``'s code and by this
    code, alternating (reference first); the change of each gated figure from the
    reference's fastest measurement to this code's (raw figures: one machine). Raises
    ``Unavailable`` when the reference cannot run or its case is not this matrix's case."""

    repo = _repo_root(matrix)
    changes = []
    against = f"{commit[:12]} side by side"
    with tempfile.TemporaryDirectory(prefix="pmarl-bench-reference-") as tmp:
        ref = checkout(commit, repo, Path(tmp) / "reference")
        ref_matrix = ref / matrix.resolve().relative_to(repo)
        if not ref_matrix.is_file():
            raise Unavailable(f"commit {commit} has no {ref_matrix.relative_to(ref)}")
        for case in cases:
            best: dict[str, dict | None] = {"reference": None, "current": None}
            for r in range(rounds):
                say(f"{case}: side by side with {commit[:12]}, round {r + 1}/{rounds}")
                a = measure(case, ref_matrix, Path(tmp) / "reference.json", ref)
                b = measure(case, matrix, Path(tmp) / "current.json")
                if not _same_case(a["config"], b["config"]):
                    raise Unavailable(f"{case} is not the same case at {commit[:12]}")
                best["reference"] = _fastest(best["reference"], a["figures"])
                best["current"] = _fastest(best["current"], b["figures"])
            ref_figures, cur_figures = best["reference"] or {}, best["current"] or {}
            changes += [
                Change(case, f, ref_figures[f], cur_figures[f], against)
                for f in GATED
                if f in ref_figures and f in cur_figures
            ]
    return changes


def _same_case(a: dict, b: dict) -> bool:
    """Whether two versions' configs of a case ask for the same work: the settings both
    versions know agree (a name or a reference figure is a label, not work)."""
    shared = (a.keys() & b.keys()) - {"name", "reference"}
    return all(a[k] == b[k] for k in shared)


def _repo_root(path: Path) -> Path:
    try:
        top = subprocess.run(
            ["git", "-C", str(path.resolve().parent), "rev-parse", "--show-toplevel"],
            capture_output=True, check=True, text=True,
        ).stdout.strip()  # fmt: skip
    except (FileNotFoundError, subprocess.CalledProcessError):
        raise Unavailable(f"{path} is not inside a git repository") from None
    return Path(top)
