"""The package's layering, as ``docs/architecture.md`` draws it: imports point down only
(imports inside functions included), the trainer knows no task, the report reads tables only
and never switches on agent kinds, and bench and executors do not reach into the runner."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "pmarl_bench"

#: the layer of each top-level module or package of pmarl_bench (higher may import lower);
#: docs/architecture.md's table says the same (checked below)
LAYERS = {
    "types": 0, "errors": 0, "interrupts": 0, "controls": 0, "names": 0, "lazy": 0,
    "provenance": 1, "progress": 1, "viewer": 1, "scale": 1, "results": 1,
    "envs": 2,
    "agents": 3,
    "trainer": 4,
    "evaluation": 5,
    "suites": 6,
    "executor": 7, "checkpoints": 7, "video": 7,
    "runner": 8, "play": 8,
    "matches": 9, "report": 9, "bench": 9, "executors": 9,
    "rollouts": 10, "study": 10, "api": 10,
    "cli": 11,
}  # fmt: skip
#: what the report may import of the package (it reads result tables, nothing else)
REPORT_MAY_IMPORT = {"types", "errors", "controls", "names", "lazy", "results", "report"}
#: libraries that would make the report run or load models
NO_MODELS = {"jax", "flax", "optax", "orbax"}


def imports(path: Path, package: str = "pmarl_bench") -> set[str]:
    """Every ``<package>.<top>`` that ``path`` imports (anywhere in the file); with
    ``package=""`` the top-level names of every absolute import."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] if node.module != package else []
            if node.module == package:
                names = [f"{package}.{a.name}" for a in node.names]
        if not package:
            out |= {n.split(".")[0] for n in names}
        else:
            out |= {n.split(".")[1] for n in names if n.startswith(f"{package}.")}
    return out


def top(path: Path) -> str:
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if top(p) not in ("__init__", "__main__"))
REPORT = sorted((PACKAGE / "report").rglob("*.py"))


def test_every_module_has_a_layer():
    assert {top(p) for p in MODULES} == set(LAYERS)


def test_the_architecture_page_numbers_the_layers_as_this_test_does():
    page = (ROOT / "docs" / "architecture.md").read_text()
    documented = {}
    for layer, names in re.findall(r"^\| (\d+) \| ([^|]+) \|", page, re.MULTILINE):
        for name in re.findall(r"`([a-z_]+)`", names):
            documented[name] = int(layer)
    assert documented == LAYERS


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_down(path):
    here = top(path)
    up = sorted(t for t in imports(path) - {here} if LAYERS[t] >= LAYERS[here])
    assert not up, f"{here} (layer {LAYERS[here]}) imports {up}"


def test_the_trainer_imports_no_env_module_and_holds_no_evaluation():
    for path in (PACKAGE / "trainer").glob("*.py"):
        assert "envs" not in imports(path), path.name
        text = path.read_text()
        for word in ("first_episode_return", "cross_play", "team_shares", "openskill"):
            assert word not in text, f"trainer/{path.name} holds {word}"


@pytest.mark.parametrize("path", REPORT, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_the_report_reads_tables_only(path):
    assert imports(path) <= REPORT_MAY_IMPORT, path
    assert not imports(path, "") & NO_MODELS, path
    text = path.read_text()
    # an agent's reach and inputs come from its manifest: no report code reads its network
    assert '"kind"' not in text and '"network"' not in text and "agent_kinds" not in text


@pytest.mark.slow
def test_building_a_report_loads_no_jax():
    code = (
        "import sys, pmarl_bench.report.build\n"
        f"print(sorted(m for m in {sorted(NO_MODELS)!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_bench_and_executors_do_not_reach_into_the_runner():
    for path in [*(PACKAGE / "bench").glob("*.py"), *(PACKAGE / "executors").glob("*.py")]:
        assert "runner" not in imports(path), path
