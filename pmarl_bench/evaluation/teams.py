"""Team evaluations after training, for envs that declare one (``env.evaluation``, a
``TeamEvaluation``; e.g. King of the Hill).

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
from pmarl_bench.evaluation.episodes import EVAL_EPISODES
from pmarl_bench.trainer.rollout import EnvBatch
from pmarl_bench.types import Group, TeamEvaluation


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
