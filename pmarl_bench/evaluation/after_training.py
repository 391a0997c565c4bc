"""Everything a cell measures after training, as manifest entries and metric rows: the
final-policy evaluation, the team evaluations (against random agents and earlier
checkpoints), cross-play between its seeds and the random policy's return. The runner
writes what it gets; a new measurement is added here, not in the runner or the manifest."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pmarl_bench.agents.base import Agent
from pmarl_bench.evaluation import crossplay, levels, teams
from pmarl_bench.evaluation.episodes import EVAL_EPISODES
from pmarl_bench.evaluation.final import MAX_EVAL_EPISODES, FinalReturns, final_policy_returns


@dataclass(frozen=True)
class EnvConfig:
    """What identifies a cell's env for sharing measurements: its id, static options and
    traced overrides, and its name in results."""

    id: str
    options: dict
    params: dict
    name: str


@dataclass
class Measurements:
    """Manifest entries by key, and metrics ``{name: [members, updates]}`` for the cell's
    table (NaN at the updates a metric was not measured at)."""

    entries: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, np.ndarray] = field(default_factory=dict)


def has_team_evaluation(env, env_params, agent: Agent) -> bool:
    """Whether a cell evaluates against random agents and its own checkpoints (then the
    runner keeps its checkpoints' parameters)."""
    return bool(teams.evaluations(env, env_params, agent))


def after_training(
    env, env_params, agent: Agent, params, config: EnvConfig, *, seeds: list[int],
    cross_play_seeds: list[int] | None, episodes: int, seed: int,
    max_episodes: int = MAX_EVAL_EPISODES, kept: dict[str, Any],
    saved: list[dict], num_updates: int, curve: dict[int, Any] | None = None,
    curve_known: dict[int, dict] | None = None, say: Callable[[str], None] = lambda _: None,
) -> Measurements:  # fmt: skip
    """Measure a trained cell. ``params``: stacked over ``seeds`` (each member's seed);
    ``cross_play_seeds``: the seeds whose policies cross-play (None: no cross-play, e.g. a
    sweep cell or a single seed); ``episodes``, ``seed``: the final-policy evaluation's;
    ``kept``: checkpoint label -> parameters the final policy plays against (team
    evaluations); ``saved``: every saved checkpoint (label, update); ``curve``: update ->
    parameters of each point of an evaluation curve (``CURVE`` metrics); ``curve_known``:
    its points measured during training (``evaluation_curve``'s ``known``)."""
    if has_team_evaluation(env, env_params, agent):
        say(f"evaluating (against random agents and {len(kept)} checkpoint(s))…")
    vs_random, vs_checkpoints = teams.evaluate_seeds(env, env_params, agent, params, seeds, kept)
    say("evaluating the final policy (greedy and stochastic)…")
    finals = final_policy_returns(env, env_params, agent, params, episodes, seed, seeds,
                                  max_episodes)  # fmt: skip
    vs_random = finals.means | vs_random
    cross = None
    if cross_play_seeds is not None and crossplay.has_partners(env, env_params):
        say("cross-play: every seed with every other seed's partners…")
        cross = crossplay.cross_play_returns(env, env_params, agent, params, episodes, seed)
    curve_metrics = {}
    if curve:
        say(f"evaluation curve: {len(curve)} point(s) of {episodes} episodes per seed…")
        curve_metrics = evaluation_curve(env, env_params, agent, curve, episodes, seed, seeds,
                                         num_updates, curve_known)  # fmt: skip
    say("measuring the random policy's return…")
    random = levels.random_levels(config.id, config.options, config.params, env, env_params)
    return Measurements(
        entries={
            "random_return": random,  # mean per-agent episode return of uniform random actions
            "evaluation": _evaluation(vs_random, vs_checkpoints, finals, seed),
            "cross_play": _cross_play(config.name, cross_play_seeds, cross),
        },
        metrics=_at_updates(vs_random, vs_checkpoints, saved, num_updates, len(seeds))
        | curve_metrics,
    )


#: the evaluation curve's metrics: ``eval/...`` of the final-policy evaluation, renamed
CURVE = "eval_curve/"


def curve_point(
    env, env_params, agent: Agent, params, episodes: int, seed: int, seeds: list[int]
) -> dict[str, np.ndarray]:
    """One point of the evaluation curve: the policy ``params`` (stacked over ``seeds``) on
    the final-policy evaluation's ``episodes`` episodes per seed (its keys, never grown),
    greedy and stochastic, ``eval_curve/<metric> -> [seeds]``. Also run during training, to
    stream the curve to live logs."""
    found = final_policy_returns(env, env_params, agent, params, episodes, seed, seeds,
                                 max_episodes=episodes)  # fmt: skip
    return {CURVE + name.removeprefix("eval/"): values for name, values in found.means.items()}


def evaluation_curve(
    env, env_params, agent: Agent, points: dict[int, Any], episodes: int, seed: int,
    seeds: list[int], num_updates: int, known: dict[int, dict] | None = None,
) -> dict[str, np.ndarray]:  # fmt: skip
    """``curve_point`` of each point's policy (``update -> params``) as
    ``eval_curve/<metric>`` ``[seeds, updates]``, NaN between points; ``known``: points
    already measured during training (``update -> curve_point``), not measured again."""
    known = known or {}
    found = {
        update: known[update]
        if update in known
        else curve_point(env, env_params, agent, params, episodes, seed, seeds)
        for update, params in sorted(points.items())
    }
    return curve_arrays(found, len(seeds), num_updates)


def curve_arrays(points: dict[int, dict], seeds: int, num_updates: int) -> dict[str, np.ndarray]:
    """Curve points (``update -> metric -> [seeds]``) as ``metric -> [seeds, updates]``, NaN
    between points."""
    out: dict[str, np.ndarray] = {}
    for update, point in sorted(points.items()):
        for key, values in point.items():
            out.setdefault(key, np.full((seeds, num_updates), np.nan))[:, update - 1] = values
    return out


def _evaluation(
    vs_random: dict, vs_checkpoints: dict, finals: FinalReturns, seed: int
) -> dict | None:
    if not vs_random:
        return None
    return {
        **{name: values.tolist() for name, values in vs_random.items()},
        "against_checkpoints": {
            label: {name: values.tolist() for name, values in metrics.items()}
            for label, metrics in vs_checkpoints.items()
        },
        "episodes_per_seed": EVAL_EPISODES,
        # the final-policy returns: one episode per env; each seed's resets and samples from
        # the key and its seed number; episodes grown until a seed's standard error was
        # under a tenth of the spread between seeds (or the most allowed)
        "final_policy": {
            "episodes": finals.episodes,
            "seed": seed,
            "keys": "per seed",
            "tried": finals.tried,
            "sem": {name: values.tolist() for name, values in finals.sems.items()},
            "noise": finals.noise(),
        },
    }


def _cross_play(env_name: str, seeds: list[int] | None, cross: dict | None) -> dict | None:
    """Row i, column j: the focal side follows seed i's final policy, its partners seed j's."""
    if not cross:
        return None
    return {
        "metric": crossplay.METRIC,
        "seeds": list(seeds or []),
        # per task of a multi-task env, else under the env's name
        "matrices": {env_name if t is None else t: m.tolist() for t, m in cross.items()},
    }


def _at_updates(
    vs_random: dict, vs_checkpoints: dict, saved: list[dict], num_updates: int, num_seeds: int
) -> dict[str, np.ndarray]:
    """Evaluations as ``[seeds, updates]`` metrics: against random agents at the last update,
    against a checkpoint at that checkpoint's update (NaN elsewhere)."""
    at = {c["label"]: c["update"] for c in saved}
    points = [(vs_random, num_updates)] + [(m, at[label]) for label, m in vs_checkpoints.items()]
    out: dict[str, np.ndarray] = {}
    for metrics, update in points:
        for name, v in metrics.items():
            out.setdefault(name, np.full((num_seeds, num_updates), np.nan))[:, update - 1] = v
    return out
