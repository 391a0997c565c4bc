"""Cross-play across agents (``pmarl-bench crossplay``): every seed of every agent on the
focal side of a cooperative task (Scouts: the scouts) with every seed of every agent as its
partners (the harvesters), from the cells' final parameters.

A cell's own matrix (its seeds with each other) is in its manifest already
(``evaluation.crossplay``, recorded after training); this pairs cells, e.g. transformer scouts
with GRU harvesters. Every pair plays the final-policy evaluation's episodes, so a cell
paired with itself reproduces its own matrix.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pmarl_bench import checkpoints
from pmarl_bench.evaluation import crossplay
from pmarl_bench.matches import league
from pmarl_bench.results import store


def cooperative_cells(path: Path) -> dict[str, list[checkpoints.TrainedCell]]:
    """``{env name: cells}`` of a suite folder whose env (or a task of it) declares
    partners."""
    found: dict[str, list[checkpoints.TrainedCell]] = {}
    for cell in league.playing_cells(path):
        if crossplay.has_partners(cell.env, cell.env_params):
            found.setdefault(cell.manifest["env"], []).append(cell)
    return found


def cross_play_table(cells: list[checkpoints.TrainedCell], episodes: int, seed: int,
                     progress=None) -> pd.DataFrame:  # fmt: skip
    """Every (focal agent, seed) x (partner agent, seed) return of the cells of one env:
    task, focal_agent, focal_seed, partner_agent, partner_seed, return_stochastic."""
    final = {i: c.stacked(checkpoints.FINAL) for i, c in enumerate(cells)}
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
    envs = league.only(
        cooperative_cells(path), only, "cooperative env", "--env", path,
        "no finished cell of a cooperative multi-agent task (Scouts, Traveling Salesman, "
        "JaxMARL's MPE simple spread or Overcooked)",
    )  # fmt: skip
    return {env: cross_play_table(cells, episodes, seed, progress) for env, cells in envs.items()}


def write(path: Path, env: str, table: pd.DataFrame) -> Path:
    # full precision: a cell with itself matches its manifest
    return league.write_table(Path(path) / store.CROSS_PLAY_FOLDER, f"{env}.csv", table)
