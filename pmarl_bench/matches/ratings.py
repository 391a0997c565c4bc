"""Ratings for competitive tasks (``pmarl-bench rate``): an OpenSkill rating for every
(agent, seed, checkpoint) of a suite's env whose task declares a team evaluation (King of the
Hill), from matches the harness plays.

Every player (a saved checkpoint of one seed of one cell, ``final`` included) plays
``matches`` others drawn at random, as the policy team; a match is ``episodes`` episodes, half
on each side, and the team holding the larger share of the score (King of the Hill: of the
point-steps) wins it (equal shares: a draw). The matches of one pair of cells run in one
compiled program, vmapped; the ratings (Plackett-Luce, ``openskill``) then take the matches
in the schedule's order. ``ordinal`` (mu - 3 sigma) ranks players conservatively.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import jax
import numpy as np
import pandas as pd

from pmarl_bench import checkpoints
from pmarl_bench.errors import ConfigError, import_extra
from pmarl_bench.evaluation import EVAL_EPISODES, teams
from pmarl_bench.matches import league
from pmarl_bench.results import store

MATCHES = 8  # per player, as the policy team
EPISODES = 16  # per match, half on each side


@dataclass(frozen=True)
class Player:
    cell: int  # index into the rated cells
    agent: str
    seed: int
    checkpoint: str
    update: int
    env_steps: int


def competitive_tasks(path: Path) -> dict[str, list[checkpoints.TrainedCell]]:
    """``{task: cells}`` for the cells under a suite folder whose env (or a task of it)
    declares a team evaluation: task ``env``, or ``env/task`` in a multi-task env."""
    found: dict[str, list[checkpoints.TrainedCell]] = {}
    for cell in league.playing_cells(path):
        for g in cell.env.groups(EVAL_EPISODES, cell.env_params):  # one env per task
            if g.env.evaluation is not None:
                task = cell.manifest["env"] + ("" if g.name is None else f"/{g.name}")
                found.setdefault(task, []).append(cell)
    return found


def players_of(cells: list[checkpoints.TrainedCell]) -> list[Player]:
    return [
        Player(i, cell.manifest["agent"], seed, c["label"], int(c["update"]), int(c["env_steps"]))
        for i, cell in enumerate(cells)
        for seed in cell.seeds
        for c in cell.checkpoints
    ]


def schedule(n_players: int, matches: int, seed: int) -> np.ndarray:
    """``[n_players * matches, 2]`` (policy, opponent): each player against ``matches``
    others drawn uniformly, in a shuffled order."""
    if n_players < 2:
        raise ConfigError("one player only: nothing to rate (train more seeds or checkpoints)")
    rng = np.random.default_rng(seed)
    first = np.repeat(np.arange(n_players), matches)
    other = rng.integers(n_players - 1, size=first.shape)
    other = other + (other >= first)  # never oneself
    order = rng.permutation(len(first))
    return np.stack([first[order], other[order]], axis=1)


def play(
    cells: list[checkpoints.TrainedCell], task: str, players: list[Player], pairs: np.ndarray,
    episodes: int = EPISODES, seed: int = 0,
) -> pd.DataFrame:  # fmt: skip
    """Every scheduled match: its players and each team's share of the score."""
    sub = task.split("/", 1)[1] if "/" in task else None
    prefix = "eval/" if sub is None else f"eval/{sub}/"
    stacked = {}  # (cell, checkpoint) -> params stacked over the cell's seeds
    for p in players:
        key = (p.cell, p.checkpoint)
        if key not in stacked:
            cell = cells[p.cell]
            stacked[key] = cell.stacked(p.checkpoint)
    rows = []
    keys = jax.random.split(jax.random.key(seed), len(pairs))
    for a, b in sorted({(players[i].cell, players[j].cell) for i, j in pairs}):
        which = np.flatnonzero([players[i].cell == a and players[j].cell == b for i, j in pairs])
        sides = [
            jax.tree.map(lambda *xs: np.stack(xs),
                         *[_one(stacked, cells[c], players[pairs[k, side]]) for k in which])
            for side, c in ((0, a), (1, b))
        ]  # fmt: skip
        env, env_params = cells[a].env, cells[a].env_params
        fns = teams.evaluations(env, env_params, cells[a].agent, cells[b].agent, episodes)
        _, fn = fns[prefix]
        out = jax.device_get(jax.jit(jax.vmap(fn))(*sides, keys[which]))
        for n, k in enumerate(which):
            rows.append({"match": int(k), "policy": int(pairs[k, 0]), "opponent": int(pairs[k, 1]),
                         "policy_share": float(out["policy"][n]),
                         "opponent_share": float(out["other"][n])})  # fmt: skip
    return pd.DataFrame(rows).sort_values("match").reset_index(drop=True)


def _one(stacked: dict, cell: checkpoints.TrainedCell, p: Player):
    i = cell.seeds.index(p.seed)
    return jax.tree.map(lambda x: x[i], stacked[(p.cell, p.checkpoint)])


def rate(players: list[Player], matches: pd.DataFrame) -> pd.DataFrame:
    """OpenSkill (Plackett-Luce) ratings from the matches in their order, one row per player:
    agent, seed, checkpoint, update, env_steps, mu, sigma, ordinal, matches, wins, draws."""
    model = import_extra("openskill.models", "ratings", "pmarl-bench rate").PlackettLuce()
    ratings = [model.rating() for _ in players]
    wins, draws, played = np.zeros(len(players)), np.zeros(len(players)), np.zeros(len(players))
    for m in matches.itertuples():
        a, b = m.policy, m.opponent
        diff = m.policy_share - m.opponent_share
        ranks = [0, 0] if abs(diff) < 1e-9 else ([0, 1] if diff > 0 else [1, 0])
        [[ratings[a]], [ratings[b]]] = model.rate([[ratings[a]], [ratings[b]]], ranks=ranks)
        played[[a, b]] += 1
        if ranks == [0, 0]:
            draws[[a, b]] += 1
        else:
            wins[a if diff > 0 else b] += 1
    return pd.DataFrame(
        {
            "agent": [p.agent for p in players],
            "seed": [p.seed for p in players],
            "checkpoint": [p.checkpoint for p in players],
            "update": [p.update for p in players],
            "env_steps": [p.env_steps for p in players],
            "mu": [r.mu for r in ratings],
            "sigma": [r.sigma for r in ratings],
            "ordinal": [r.ordinal() for r in ratings],
            "matches": played.astype(int),
            "wins": wins.astype(int),
            "draws": draws.astype(int),
        }
    )


def rate_suite(
    path: Path, matches: int = MATCHES, episodes: int = EPISODES, seed: int = 0,
    only: str | None = None,
) -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:  # fmt: skip
    """``{task: (ratings, matches)}`` for every competitive task of the suite folder
    ``path`` (or only ``only``)."""
    tasks = league.only(
        competitive_tasks(path), only, "competitive task", "--task", path,
        "no finished cell of a competitive task with saved checkpoints (King of the Hill with "
        "checkpoint_every)",
    )  # fmt: skip
    out = {}
    for task, cells in tasks.items():
        players = players_of(cells)
        pairs = schedule(len(players), matches, seed)
        played = play(cells, task, players, pairs, episodes, seed)
        named = played.assign(
            policy_player=[_name(players[i]) for i in played.policy],
            opponent_player=[_name(players[i]) for i in played.opponent],
        )
        out[task] = (rate(players, played), named)
    return out


def _name(p: Player) -> str:
    return f"{p.agent}/{p.seed}/{p.checkpoint}"


def write(path: Path, task: str, ratings: pd.DataFrame, matches: pd.DataFrame) -> Path:
    """``ratings/<task>.csv`` (and ``.matches.csv``) in the suite folder, each written whole."""
    folder = Path(path) / store.RATINGS_FOLDER
    name = task.replace("/", "+")  # "+" is in no env or task name
    league.write_table(folder, f"{name}.matches.csv", matches, "%.6g")
    return league.write_table(folder, f"{name}.csv", ratings, "%.6g")
