"""``run --dry-run``: what a run would do, cell by cell, without training or writing. Each
cell's settings as resolved (every layer applied), its updates and env steps, what the results
folder holds for it, and optionally the memory its compiled program needs per device."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pmarl_bench.results import staging, store
from pmarl_bench.runner.manifest import budget_note
from pmarl_bench.suites.cell import Cell
from pmarl_bench.trainer.config import PPOConfig
from pmarl_bench.trainer.programs import Memory, SeedProgram


@dataclass(frozen=True)
class CellPlan:
    name: str
    seeds: tuple[int, ...]
    budget: str  # '73 updates x 16,384 = 1,196,032 env steps (...)'
    network: dict
    ppo: dict  # the settings that differ from PPO's defaults
    config_hash: str
    state: str  # finished (skipped) | resumes | trains
    memory: Memory | None = None
    # the rest of the settings, at PPO's defaults (set there by a layer or not: every value
    # the cell trains with is shown, an override equal to its default included)
    ppo_defaults: dict | None = None


def plan_cell(cell: Cell, results_dir: Path, compile_program: bool) -> CellPlan:
    """``compile_program``: compile the cell's training chunk to ask XLA its memory (seconds
    per cell; the compilation cache keeps it for the run)."""
    train = cell.build()[-1]
    path = store.cell_dir(results_dir, cell.suite, cell.env_name, cell.agent_name)
    digest = cell.config_hash()
    if store.is_finished(path, digest):
        state = "finished (skipped)"
    elif _snapshot_of(store.running_dir(path), digest):
        state = "resumes from a snapshot"
    else:
        state = "trains"
    defaults = PPOConfig(total_env_steps=1).model_dump()
    values = {k: v for k, v in cell.ppo.model_dump().items() if k != "total_env_steps"}
    ppo = {k: v for k, v in values.items() if v != defaults.get(k)}  # (budget: its own line)
    memory = SeedProgram(train, len(cell.seeds)).memory() if compile_program else None
    return CellPlan(
        cell.name, cell.seeds, budget_note(train), cell.network.model_dump(), ppo, digest,
        state, memory, {k: v for k, v in values.items() if k not in ppo},
    )  # fmt: skip


def _snapshot_of(stage: Path, digest: str) -> bool:
    snapshot = staging.latest_snapshot(stage) if stage.is_dir() else None
    return snapshot is not None and snapshot.info.get("config_hash") == digest
