"""The final-policy evaluation of every cell: the final policy's episode return, greedy and
stochastic. Each seed plays its own evaluation episodes (env resets and action samples from
the evaluation key and the seed's number, the same for every agent), so seeds' scores are
independent and the spread between them already holds the episode noise: a bootstrap over
seeds carries it into every interval. The number of episodes grows (from ``episodes``, in
powers of two, up to ``MAX_EVAL_EPISODES``) until the standard error of a seed's score is
under ``NOISE_SHARE`` of the spread between seeds, and both are recorded; reports score
agents by this evaluation, not by training returns."""

from __future__ import annotations

import collections
import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from pmarl_bench.agents.base import Agent
from pmarl_bench.evaluation.episodes import (
    EVAL_EPISODES,
    FINAL_EVAL_SEED,
    UNBOUNDED_STEPS,
    first_episode_return,
)
from pmarl_bench.trainer.rollout import EnvBatch

#: final-policy metrics: the greedy policy (most likely action) and the trained one (sampled)
FINAL_RETURNS = {True: "return_greedy", False: "return_stochastic"}
#: the metric whose noise sets the number of episodes (the score reports use)
SCORED = "return_stochastic"
#: the aim: a seed's standard error under this share of the standard deviation between seeds
NOISE_SHARE = 0.1
#: the most evaluation episodes per seed
MAX_EVAL_EPISODES = 1024


@dataclass
class FinalReturns:
    """``means[metric]``, ``sems[metric]``: per seed, the mean over its episodes and the
    standard error of that mean; ``episodes``: per seed; ``tried``: the counts played."""

    means: dict[str, np.ndarray]
    sems: dict[str, np.ndarray]
    episodes: int
    tried: list[int]

    def noise(self) -> dict[str, dict[str, float]]:
        """Per scored metric: the mean standard error of a seed's score, the standard
        deviation between seeds, and their ratio (NaN with one seed)."""
        out = {}
        for name, means in self.means.items():
            if not name.endswith(SCORED):
                continue
            sem = float(np.nanmean(self.sems[name]))
            spread = float(np.nanstd(means, ddof=1)) if len(means) > 1 else math.nan
            out[name] = {"sem": sem, "spread": spread,
                         "ratio": sem / spread if spread > 0 else math.inf}  # fmt: skip
        return out


def final_policy_returns(
    env, env_params, agent: Agent, params, episodes: int = EVAL_EPISODES,
    seed: int = FINAL_EVAL_SEED, seeds: list[int] | None = None,
    max_episodes: int = MAX_EVAL_EPISODES,
) -> FinalReturns:  # fmt: skip
    """The final policy's mean per-agent return per seed (``eval/<metric>``, or
    ``eval/<task>/<metric>`` per task of a multi-task env), greedy and stochastic. ``params``
    are stacked over ``seeds`` (their numbers draw each seed's episodes; default 0, 1, ...).
    Starts at ``episodes`` per seed; while the standard error of a seed's score exceeds
    ``NOISE_SHARE`` of the spread between seeds, plays again with as many episodes as that
    shortfall asks for (the standard error falls as one over their square root), rounded up
    to a power-of-two multiple, up to ``max_episodes``: each count is a program of its own,
    so a cell compiles two or three, not one per doubling."""
    members = jax.tree.leaves(params)[0].shape[0]
    seeds = list(range(members)) if seeds is None else list(seeds)
    keys = jnp.stack([jax.random.fold_in(jax.random.key(seed), s) for s in seeds])
    tried: list[int] = []
    while True:
        means, sems = _play(env, env_params, agent, params, keys, episodes)
        tried.append(episodes)
        result = FinalReturns(means, sems, episodes, tried)
        ratios = [n["ratio"] for n in result.noise().values()]
        if episodes * 2 > max_episodes or not ratios or max(ratios) <= NOISE_SHARE:
            return result
        wanted = episodes * min(max(ratios) / NOISE_SHARE, max_episodes) ** 2
        factor = 2 ** max(1, math.ceil(math.log2(wanted / episodes)))
        episodes = min(episodes * factor, max_episodes)


#: the evaluation programs compiled lately, by the objects they close over (a new jax.jit
#: wrapper compiles again: an evaluation curve plays the same program at every point)
_PROGRAMS: collections.OrderedDict[tuple, tuple] = collections.OrderedDict()
_KEEP = 8


def _program(env, env_params, agent: Agent, episodes: int):
    key = (id(env), id(env_params), id(agent), episodes)
    found = _PROGRAMS.get(key)
    if found is None:  # (kept with their program, the objects' ids are not reused meanwhile)
        run = _compile(env, env_params, agent, episodes)
        found = _PROGRAMS[key] = (env, env_params, agent, run)
        while len(_PROGRAMS) > _KEEP:
            _PROGRAMS.popitem(last=False)
    _PROGRAMS.move_to_end(key)
    return found[3]


def _compile(env, env_params, agent: Agent, episodes: int):
    runs = []  # (metric prefix, batch, steps) per task: one program plays them all
    for g in env.groups(episodes, env_params):
        batch = EnvBatch(env, env_params, episodes, auto_reset=True, groups=[g])
        prefix = "eval/" if g.name is None else f"eval/{g.name}/"
        runs.append((prefix, batch, g.env.max_episode_steps or UNBOUNDED_STEPS))

    def play(p, key, greedy):
        return {
            prefix: first_episode_return(agent, batch, p, greedy, key, steps, per_episode=True)
            for prefix, batch, steps in runs
        }

    return jax.jit(jax.vmap(play, in_axes=(0, 0, None)))


def _play(env, env_params, agent: Agent, params, keys, episodes: int):
    run = _program(env, env_params, agent, episodes)
    means: dict[str, np.ndarray] = {}
    sems: dict[str, np.ndarray] = {}
    for greedy, name in FINAL_RETURNS.items():
        values = jax.device_get(run(params, keys, jnp.asarray(greedy)))
        for prefix, totals in values.items():
            totals = np.asarray(totals, np.float64)  # [seeds, episodes], NaN: none ended
            count = np.sum(~np.isnan(totals), axis=1)
            means[prefix + name] = np.nanmean(totals, axis=1).astype(np.float32)
            sd = np.nanstd(totals, axis=1, ddof=1) if totals.shape[1] > 1 else np.nan
            sems[prefix + name] = sd / np.sqrt(np.maximum(count, 1))
    return means, sems
