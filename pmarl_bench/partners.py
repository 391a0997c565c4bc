"""Cross-play across agents (``pmarl-bench crossplay``): every seed of every agent on the
focal side of a cooperative task (Scouts: the scouts) with every seed of every agent as its
partners (the harvesters), from the cells' final parameters.

A cell's own matrix (its seeds with each other) is in its manifest already
(``trainer.crossplay``, recorded after training); this pairs cells, e.g. transformer scouts
with GRU harvesters. Every pair plays the final-policy evaluation's episodes, so a cell
paired with itself reproduces its own matrix.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pmarl_bench import checkpoints
from pmarl_bench.errors import ConfigError
from pmarl_bench.results import reading, store
from pmarl_bench.trainer import crossplay


def cooperative_cells(path: Path) -> dict[str, list[checkpoints.TrainedCell]]:
    """``{env name: cells}`` of a suite folder whose env (or a task of it) declares partners;
    sweep cells and oracle controls (another observation) left out."""
    found: dict[str, list[checkpoints.TrainedCell]] = {}
    for folder in reading.finished_cells(path):
        manifest = store.read_manifest(folder) or {}
        if manifest.get("trials") or manifest.get("control") == "oracle":
            continue
        cell = checkpoints.load_cell(folder)
        if crossplay.has_partners(cell.env, cell.env_params) and cell.checkpoints:
            found.setdefault(cell.manifest["env"], []).append(cell)
    return found


def cross_play_table(cells: list[checkpoints.TrainedCell], episodes: int, seed: int,
                     progress=None) -> pd.DataFrame:  # fmt: skip
    """Every (focal agent, seed) x (partner agent, seed) return of the cells of one env:
    task, focal_agent, focal_seed, partner_agent, partner_seed, return_stochastic."""
    final = {
        i: checkpoints.load(c.path, checkpoints.FINAL, c.agent, c.seeds)
        for i, c in enumerate(cells)
    }
    rows = []
    for a, focal in enumerate(cells):
        for b, partner in enumerate(cells):
            if progress is not None:
                progress(focal.manifest["agent"], partner.manifest["agent"])
            found = crossplay.cross_play_returns(
                focal.env, focal.env_params, focal.agent, final[a], episodes, seed,
                partner.agent, final[b],
            )  # fmt: skip
            env = focal.manifest["env"]
            for task, matrix in found.items():
                for i, s in enumerate(focal.seeds):
                    for j, t in enumerate(partner.seeds):
                        rows.append({"task": env if task is None else f"{env}/{task}",
                                     "focal_agent": focal.manifest["agent"], "focal_seed": s,
                                     "partner_agent": partner.manifest["agent"],
                                     "partner_seed": t,
                                     crossplay.METRIC: float(matrix[i, j])})  # fmt: skip
    return pd.DataFrame(rows)


def cross_play_suite(path: Path, episodes: int, seed: int, only: str | None = None,
                     progress=None) -> dict[str, pd.DataFrame]:  # fmt: skip
    envs = cooperative_cells(path)
    if only is not None:
        if only not in envs:
            have = ", ".join(envs) or "none"
            raise ConfigError(f"no cooperative env {only!r} here; envs: {have}", "--env")
        envs = {only: envs[only]}
    if not envs:
        raise ConfigError(
            "no finished cell of a cooperative multi-agent task (Scouts, Traveling Salesman)",
            str(path),
        )
    return {env: cross_play_table(cells, episodes, seed, progress) for env, cells in envs.items()}


def write(path: Path, env: str, table: pd.DataFrame) -> Path:
    folder = Path(path) / store.CROSS_PLAY_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    tmp, file = folder / f".{env}.csv.tmp", folder / f"{env}.csv"
    table.to_csv(tmp, index=False)  # full precision: a cell with itself matches its manifest
    tmp.replace(file)
    return file
