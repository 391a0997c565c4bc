"""The Python API: train and evaluate from a notebook or a script, with the CLI's trainer,
folders and tables.

    from pmarl_bench import api

    results = api.train("n_back-v0", "gru", seeds=3, steps=200_000, ppo={"lr": 3e-3})
    results.metrics          # the tidy long table the CLI writes (metrics.parquet)
    results.scores()         # each seed's final-policy return
    api.evaluate(results, episodes=256)   # more episodes, on fresh keys

``train`` writes the suite it builds beside its results (``<results_dir>/<name>.yaml``) and
runs it as ``pmarl-bench run`` would: a finished cell of the same config is reused, an
interrupted one resumes, the same seeds give the same numbers. ``run`` takes a suite file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from pmarl_bench.errors import ConfigError
from pmarl_bench.results import load_cells

#: the metric a seed's final score is (its final policy's return, actions sampled)
SCORE = "eval/return_stochastic"


@dataclass
class Results:
    """What a run wrote: the suite folder, its cells' tidy metrics and their manifests."""

    path: Path
    metrics: pd.DataFrame  # suite, env, agent, seed, update, env_steps, metric, value
    manifests: list[dict]

    @classmethod
    def read(cls, path: str | Path) -> Results:
        """The finished cells under a suite folder (or a results folder)."""
        tables = load_cells(path)
        return cls(Path(path), tables.metrics, tables.manifests)

    def scores(self) -> pd.DataFrame:
        """One row per (env, agent, seed): its final policy's mean return (``score``)."""
        rows = self.metrics[self.metrics.metric == SCORE]
        out = rows[["env", "agent", "seed", "value"]].rename(columns={"value": "score"})
        return out.sort_values(["env", "agent", "seed"]).reset_index(drop=True)

    def curves(self, metric: str = "episode_return") -> pd.DataFrame:
        """A training metric per (env, agent, seed) against env steps (wide: one column per
        seed), for plotting."""
        rows = self.metrics[self.metrics.metric == metric]
        return rows.pivot_table(index=["env", "agent", "env_steps"], columns="seed",
                                values="value").reset_index()  # fmt: skip


def train(
    env: str | dict,
    agent: str | dict = "mlp",
    *,
    seeds: int | list[int] = 3,
    steps: int = 100_000,
    ppo: dict | None = None,
    controls: list[str] | None = None,
    name: str = "api",
    results_dir: str | Path = "results",
    force: bool = False,
    **suite: Any,
) -> Results:
    """Train ``agent`` on ``env`` over ``seeds`` (a count: 0..N-1, or a list) for ``steps``
    env steps each, and return the results.

    ``env``: an env id (``"n_back-v0"``, ``"gymnax:CartPole-v1"``) or a suite's env entry
    (``{"id": ..., "options": {...}, "ppo": {...}}``); ``agent``: a baseline name
    (``"gru"``) or an agent entry (``{"baseline": "gru", "network": {"width": 32}}``);
    ``ppo``: PPO settings for every cell; ``controls``: the control agents to train beside it
    (``memoryless``, ``frame_stack``, ``oracle_memory``, ``oracle_state``); further keywords
    are suite keys (``evaluation={"max_episodes": 64}``, ``checkpoint_every=...``). The
    suite is written to ``<results_dir>/<name>.yaml`` and trained into
    ``<results_dir>/<name>/``; ``force`` replaces its finished results."""
    data = {
        "name": name,
        "seeds": seeds,
        "steps": steps,
        "envs": [env if isinstance(env, dict) else {"id": env}],
        "agents": [agent if isinstance(agent, dict) else {"baseline": agent}],
        **({"ppo": ppo} if ppo else {}),
        **({"controls": list(controls)} if controls else {}),
        **suite,
    }
    folder = Path(results_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return run(path, results_dir=results_dir, force=force)


def run(suite: str | Path, *, results_dir: str | Path = "results", force: bool = False,
        **options: Any) -> Results:  # fmt: skip
    """Train every cell of a suite file not already finished (``pmarl-bench run SUITE``);
    ``options`` go to ``suites.load_suite`` (``seeds``, ``steps``, ``only``, ``budget``,
    ``overrides``) and ``runner.run_suite`` (``keep_previous``, ``snapshot_every``, ...)."""
    from pmarl_bench.runner import run_suite
    from pmarl_bench.suites import load_suite

    load_keys = {"seeds", "steps", "only", "budget", "overrides"}
    loaded = load_suite(suite, **{k: v for k, v in options.items() if k in load_keys})
    run_suite(loaded, results_dir, force=force,
              **{k: v for k, v in options.items() if k not in load_keys})  # fmt: skip
    return Results.read(Path(results_dir) / loaded.suite.name)


def evaluate(
    cell: Results | str | Path,
    *,
    episodes: int = 256,
    seed: int = 1,
    greedy: bool = False,
    results_dir: str | Path = "results",
) -> pd.DataFrame:
    """Play the final policy of every seed of a cell (or of each cell of ``Results``) for
    ``episodes`` episodes each on keys from ``seed`` (other episodes than the training's own
    final evaluation, whose key is the suite's ``evaluation.seed``, 2026 by default): one
    row per (env, agent, seed) with its mean return and standard error (actions sampled, as
    trained, or the most likely with ``greedy``)."""
    from pmarl_bench.checkpoints import FINAL, load_cell
    from pmarl_bench.evaluation.final import final_policy_returns

    paths = [Path(m["path"]) for m in cell.manifests] if isinstance(cell, Results) else [cell]
    if not paths:
        raise ConfigError("no finished cell to evaluate")
    metric = "eval/return_greedy" if greedy else SCORE
    rows = []
    for path in paths:
        trained = load_cell(path, results_dir)
        found = final_policy_returns(trained.env, trained.env_params, trained.agent,
                                     trained.stacked(FINAL), episodes, seed, trained.seeds,
                                     max_episodes=episodes)  # fmt: skip
        m = trained.manifest
        for i, s in enumerate(trained.seeds):
            mean, sem = float(found.means[metric][i]), float(found.sems[metric][i])
            rows.append({"env": m["env"], "agent": m["agent"], "seed": s, "return": mean,
                         "sem": sem, "episodes": found.episodes})  # fmt: skip
    return pd.DataFrame(rows)
