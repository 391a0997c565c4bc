"""The package's layering (README, Development): imports point down only (cli ->
runner/report/bench -> suites -> trainer -> agents, envs -> types), imports inside functions
included. The trainer knows no task; executors and benchmarks do not reach into the runner."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "pmarl_bench"

#: the layer of each top-level module or package of pmarl_bench (higher may import lower)
LAYERS = {
    "types": 0, "errors": 0, "interrupts": 0, "controls": 0,
    "provenance": 1, "progress": 1, "viewer": 1, "scale": 1, "results": 1,
    "envs": 2, "agents": 3,
    "trainer": 4,
    "evaluation": 5,
    "suites": 6,
    "executor": 7, "checkpoints": 7, "video": 7,
    "runner": 8, "play": 8,
    "matches": 9, "report": 9, "bench": 9, "executors": 9,
    "rollouts": 10, "study": 10,
    "cli": 11,
}  # fmt: skip


def imports(path: Path) -> set[str]:
    """Every ``pmarl_bench.<top>`` that ``path`` imports (anywhere in the file)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] if node.module != "pmarl_bench" else []
            if node.module == "pmarl_bench":
                names = [f"pmarl_bench.{a.name}" for a in node.names]
        out |= {n.split(".")[1] for n in names if n.startswith("pmarl_bench.")}
    return out


def top(path: Path) -> str:
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if top(p) not in ("__init__", "__main__"))


def test_every_module_has_a_layer():
    assert {top(p) for p in MODULES} == set(LAYERS)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_down(path):
    here = top(path)
    up = sorted(t for t in imports(path) - {here} if LAYERS[t] >= LAYERS[here])
    assert not up, f"{here} (layer {LAYERS[here]}) imports {up}"


def test_the_trainer_imports_no_env_module():
    for path in (PACKAGE / "trainer").glob("*.py"):
        assert "envs" not in imports(path), path.name
