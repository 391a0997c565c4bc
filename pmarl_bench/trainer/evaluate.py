"""Evaluations run after training, beside the training returns.

Every cell: the final policy's episode return, greedy and stochastic, on evaluation episodes
whose env resets and action samples come from one fixed key, the same for every agent and
seed (``final_policy_returns``); reports score agents by it, not by training returns.

Envs that declare one (``env.evaluation``, a ``TeamEvaluation``; e.g. King of the Hill):

The trained policy plays one team against a team of uniformly random agents, and against each
of its own earlier checkpoints; a cell records the share of the score each team holds over
the episode (for King of the Hill: point-steps). Half the episodes give the policy team 0
and half team 1, so neither side's spawn edge favours it.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from pmarl_bench.agents import policy
from pmarl_bench.agents.base import Agent
from pmarl_bench.trainer.rollout import EnvBatch
from pmarl_bench.types import Group, TeamEvaluation

#: episodes per seed (an even number: half with the policy on each team)
EVAL_EPISODES = 64
#: the key of the final-policy evaluation's episodes, shared by every agent and seed
FINAL_EVAL_SEED = 2026
#: the longest evaluation episode of an env without a time limit (longer ones are left out)
UNBOUNDED_STEPS = 1000
#: final-policy metrics: the greedy policy (most likely action) and the trained one (sampled)
FINAL_RETURNS = {True: "return_greedy", False: "return_stochastic"}


def first_episode_return(
    agent: Agent, envs: EnvBatch, params, greedy, key, steps: int, partner=None, focal=None,
    partner_agent: Agent | None = None,
):  # fmt: skip
    """The mean per-agent return of the first episode of every env of ``envs`` (NaN when
    none ends within ``steps``), acting greedily or by sampling (``greedy``: a traced bool).
    With ``partner`` (parameters of ``partner_agent``, by default the same agent), the rows
    where ``focal [B]`` is False follow it instead: both policies act on every row with the
    same key, each keeping its own memory, so a partner equal to ``params`` plays exactly as
    ``params`` alone."""
    key_reset, key_scan = jax.random.split(key)
    rs = envs.fresh(key_reset, agent)
    other = agent if partner_agent is None else partner_agent
    partner_carry = rs.carry if partner_agent is None else envs.fresh(key_reset, other).carry
    zeros = jnp.zeros((envs.batch,), jnp.float32)

    def act(carry, key):
        rs, partner_memory, total, running = carry
        key_act, key_env = jax.random.split(key)
        inputs = envs.agent_input(rs.timestep, rs.start)
        mask = envs.action_mask(rs.timestep)
        memory, sampled, logits, _ = policy.act(agent, params, rs.carry, inputs, mask, key_act)
        if partner is not None:
            partner_memory, theirs, other_logits, _ = policy.act(
                other, partner, partner_memory, inputs, mask, key_act
            )
            sampled = jnp.where(focal, sampled, theirs)
            logits = jnp.where(focal[:, None], logits, other_logits)
        action = jnp.where(greedy, jnp.argmax(logits, -1).astype(jnp.int32), sampled)
        env_state, ts = envs.step(key_env, rs.env_state, action)
        done = envs.per_agent(ts, "terminated") | envs.per_agent(ts, "truncated")
        running = jnp.where(jnp.isnan(total), running + envs.per_agent(ts, "reward"), running)
        total = jnp.where(jnp.isnan(total) & done, running, total)
        new = rs._replace(env_state=env_state, timestep=ts, carry=memory, start=done)
        return (new, partner_memory, total, running), None

    init = (rs, partner_carry, jnp.full((envs.batch,), jnp.nan), zeros)
    total = jax.lax.scan(act, init, jax.random.split(key_scan, steps))[0][2]
    return jnp.nanmean(total)


def final_policy_returns(
    env, env_params, agent: Agent, params, episodes: int = EVAL_EPISODES,
    seed: int = FINAL_EVAL_SEED,
) -> dict[str, np.ndarray]:  # fmt: skip
    """``{metric: [seeds]}``: the final policy's mean per-agent return over ``episodes``
    evaluation episodes (split among the tasks of a multi-task env), greedy and stochastic;
    ``eval/<metric>``, or ``eval/<task>/<metric>`` per task. ``params`` are stacked over
    seeds; every seed plays the same episodes with the same sampling key."""
    key = jax.random.key(seed)
    runs = []  # (metric prefix, batch, steps) per task: one program plays them all
    for g in env.groups(episodes, env_params):
        batch = EnvBatch(env, env_params, episodes, auto_reset=True, groups=[g])
        prefix = "eval/" if g.name is None else f"eval/{g.name}/"
        runs.append((prefix, batch, g.env.max_episode_steps or UNBOUNDED_STEPS))

    def play(p, greedy):
        return {
            prefix: first_episode_return(agent, batch, p, greedy, key, steps)
            for prefix, batch, steps in runs
        }

    run = jax.jit(jax.vmap(play, in_axes=(0, None)))
    out: dict[str, np.ndarray] = {}
    for greedy, name in FINAL_RETURNS.items():
        values = jax.device_get(run(params, jnp.asarray(greedy)))
        out |= {prefix + name: np.asarray(v) for prefix, v in values.items()}
    return out


def team_shares(
    agent: Agent, envs: EnvBatch, evaluation: TeamEvaluation, params, opponent, key: jax.Array,
    opponent_agent: Agent | None = None,
) -> dict[str, jax.Array]:  # fmt: skip
    """One episode per env of a two-team batch (one group): the share of the score held by
    the policy's team and by the other team (the rest is neutral). The other team plays
    ``opponent`` (parameters of ``opponent_agent``, by default the same agent), or uniformly
    random actions when it is None."""
    other_agent = agent if opponent_agent is None else opponent_agent
    (group,) = envs.groups
    env = group.env
    E, A = group.num_envs, env.num_agents
    policy_team = jnp.arange(E) % 2  # [E]
    teams = jnp.asarray(env.teams, jnp.int32)
    is_policy = jnp.repeat(policy_team, A) == jnp.tile(teams, E)  # [B] agent-major rows
    key_reset, key_scan = jax.random.split(key)
    rs = envs.fresh(key_reset, agent)
    opponent_memory = (
        rs.carry if opponent_agent is None else envs.fresh(key_reset, other_agent).carry
    )

    def act(carry, key):
        rs, opponent_memory = carry
        key_policy, key_other, key_env = jax.random.split(key, 3)
        mask = envs.action_mask(rs.timestep)
        inputs = envs.agent_input(rs.timestep, rs.start)
        memory, mine, _, _ = policy.act(agent, params, rs.carry, inputs, mask, key_policy)
        if opponent is None:
            other = policy.choose(key_other, policy.uniform_logits(mask))
        else:  # both policies act for every row; each team keeps its own's actions
            opponent_memory, other, _, _ = policy.act(
                other_agent, opponent, opponent_memory, inputs, mask, key_other
            )
        action = jnp.where(is_policy, mine, other)
        env_state, ts = envs.step(key_env, rs.env_state, action)
        shares = jax.vmap(evaluation.held)(env_state[0])  # [E, 2]
        rows = jnp.arange(E)
        held = (shares[rows, policy_team], shares[rows, 1 - policy_team])
        new = rs._replace(
            env_state=env_state, timestep=ts, carry=memory, start=jnp.zeros_like(rs.start)
        )
        return (new, opponent_memory), held

    steps = jax.random.split(key_scan, env.max_episode_steps)
    _, (policy_held, other_held) = jax.lax.scan(act, (rs, opponent_memory), steps)
    return {"policy": policy_held.mean(), "other": other_held.mean()}


def evaluations(
    env, env_params, agent: Agent, opponent_agent: Agent | None = None,
    episodes: int = EVAL_EPISODES,
) -> dict[str, tuple[str, Callable]]:  # fmt: skip
    """``{metric prefix: (metric, fn(params, opponent, key) -> {"policy", "other": scalar})}``
    for a cell's env: one per task that declares an evaluation (``eval/`` for a single env,
    ``eval/<task>/`` within a multi-task env), ``episodes`` (even) a call. The opponent is
    ``opponent_agent``'s (default: the same agent's)."""
    out = {}
    for g in env.groups(episodes, env_params):
        evaluation = g.env.evaluation
        if evaluation is None:
            continue
        group = Group(g.name, g.env, g.params, episodes, g.task_id)
        # episodes are exactly episode_length long: no auto-reset needed
        batch = EnvBatch(env, env_params, episodes, auto_reset=False, groups=[group])
        prefix = "eval/" if g.name is None else f"eval/{g.name}/"
        fn = lambda params, opponent, key, batch=batch, ev=evaluation: team_shares(
            agent, batch, ev, params, opponent, key, opponent_agent
        )
        out[prefix] = (evaluation.metric, fn)
    return out


#: final policy against an earlier checkpoint (recorded at the checkpoint's update)
VS_CHECKPOINT = {"policy": "final_vs_checkpoint", "other": "checkpoint_vs_final"}


def vs_random_names(metric: str) -> dict[str, str]:
    """Names against random agents: the policy team's share and the random team's."""
    return {"policy": metric, "other": f"random_{metric}"}


def evaluate_seeds(
    env, env_params, agent: Agent, params, seeds: list[int], checkpoints: dict | None = None
) -> tuple[dict[str, np.ndarray], dict[str, dict[str, np.ndarray]]]:
    """Run a cell's evaluations for every seed (params stacked over seeds, vmapped; each seed
    against its own checkpoints). Returns ``{metric: [seeds]}`` against random agents and
    ``{checkpoint label: {metric: [seeds]}}`` for each of ``checkpoints`` (label: params
    stacked over seeds); both empty when the env has no evaluation."""
    vs_random: dict[str, np.ndarray] = {}
    vs_checkpoints: dict[str, dict[str, np.ndarray]] = {}
    keys = jnp.stack([jax.random.fold_in(jax.random.key(s), 1) for s in seeds])
    for prefix, (metric, fn) in evaluations(env, env_params, agent).items():
        random_play = jax.jit(jax.vmap(lambda p, k, fn=fn: fn(p, None, k)))
        values = jax.device_get(random_play(params, keys))
        names = vs_random_names(metric)
        vs_random |= {prefix + names[k]: np.asarray(v) for k, v in values.items()}
        self_play = jax.jit(jax.vmap(fn))  # compiled once for every checkpoint
        for label, opponent in (checkpoints or {}).items():
            values = jax.device_get(self_play(params, opponent, keys))
            vs_checkpoints.setdefault(label, {}).update(
                {prefix + VS_CHECKPOINT[k]: np.asarray(v) for k, v in values.items()}
            )
    return vs_random, vs_checkpoints
