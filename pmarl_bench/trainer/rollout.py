"""Acting: a batch of envs stepped together, agents folded into the batch axis.

Agent-major layout: env ``e``'s agent ``a`` is batch row ``e * A + a`` (within its group, see
``EnvBatch``); per-env flags are repeated over its agents.
"""

from __future__ import annotations

import itertools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from pmarl_bench.agents import policy
from pmarl_bench.agents.base import Agent
from pmarl_bench.types import AgentInput, Group, TimeStep, with_task_id


class RolloutState(NamedTuple):
    env_state: tuple  # per group: [E_g, ...]
    timestep: tuple  # per group: TimeStep [E_g, A_g, ...]
    carry: Any  # [B, ...] agent memory
    start: jax.Array  # [B] bool: the current timestep begins an episode
    episode_return: jax.Array  # [B] running return of the current episode
    episode_length: jax.Array  # [B] running length


class Transition(NamedTuple):
    inputs: AgentInput
    action_mask: jax.Array
    action: jax.Array
    log_prob: jax.Array
    value: jax.Array
    reward: jax.Array
    terminated: jax.Array
    done: jax.Array
    final_value: jax.Array  # value of the final obs on truncated steps (mid-rollout), else 0
    completed_return: jax.Array  # return of an episode that ended on this step, else 0
    completed_length: jax.Array


def fold_agents(x: jax.Array) -> jax.Array:
    """[E, A, ...] -> [E * A, ...]"""
    return x.reshape(x.shape[0] * x.shape[1], *x.shape[2:])


class EnvBatch:
    """``num_envs`` envs stepped together, agents folded into one batch axis of ``batch``
    rows. The envs form groups (one per task of a multi-task env), each vmapped on its own;
    rows are the groups' rows in order, and states and TimeSteps are tuples over groups.

    ``auto_reset=False`` steps without the auto-reset (``Environment.step_no_reset``): only
    for rollouts that start from a reset and never outlive an episode."""

    def __init__(
        self,
        env,
        params: Any,
        num_envs: int,
        auto_reset: bool = True,
        groups: list[Group] | None = None,
    ):
        """``groups``: a chosen part of the batch (e.g. one task of a multi-task env)."""
        self.env, self.auto_reset = env, auto_reset
        self.groups = groups or env.groups(num_envs, params)
        self.num_envs = sum(g.num_envs for g in self.groups)
        self.num_actions = env.action_space.n
        sizes = [g.num_envs * g.env.num_agents for g in self.groups]
        self.batch = sum(sizes)
        bounds = itertools.pairwise(np.cumsum([0, *sizes]).tolist())
        self.rows = [slice(a, b) for a, b in bounds]

    def _keys(self, key) -> list[jax.Array]:
        # a single group uses the key as it is, so single-env results do not depend on groups
        if len(self.groups) == 1:
            return [key]
        return list(jax.random.split(key, len(self.groups)))

    def _cat(self, parts: list) -> Any:
        if len(parts) == 1:
            return parts[0]
        return jax.tree.map(lambda *xs: jnp.concatenate(xs, axis=0), *parts)

    def reset(self, key):
        states, steps = [], []
        for g, k in zip(self.groups, self._keys(key), strict=True):
            keys = jax.random.split(k, g.num_envs)
            state, ts = jax.vmap(g.env.reset, in_axes=(0, None))(keys, g.params)
            states.append(state)
            steps.append(ts)
        return tuple(states), tuple(steps)

    def step(self, key, env_state, actions):
        states, steps = [], []
        for g, k, rows, state in zip(
            self.groups, self._keys(key), self.rows, env_state, strict=True
        ):
            keys = jax.random.split(k, g.num_envs)
            acts = actions[rows].reshape(g.num_envs, g.env.num_agents)
            step = g.env.step if self.auto_reset else g.env.step_no_reset
            state, ts = jax.vmap(step, in_axes=(0, 0, 0, None))(keys, state, acts, g.params)
            states.append(state)
            steps.append(ts)
        return tuple(states), tuple(steps)

    def _obs(self, g: Group, obs) -> Any:
        obs = jax.tree.map(fold_agents, obs)
        return obs if g.task_id is None else with_task_id(obs, g.task_id)

    def obs(self, steps: tuple[TimeStep, ...], final: bool = False) -> Any:
        """The folded observations ``[B, ...]`` (``final``: of ended episodes)."""
        return self._cat(
            [
                self._obs(g, ts.info["final_obs"] if final else ts.obs)
                for g, ts in zip(self.groups, steps, strict=True)
            ]
        )

    def action_mask(self, steps: tuple[TimeStep, ...]) -> jax.Array:
        """``[B, n]``: a task's actions outside its own action space are masked out."""
        parts = []
        for ts in steps:
            mask = fold_agents(ts.action_mask)
            pad = self.num_actions - mask.shape[-1]
            parts.append(jnp.pad(mask, ((0, 0), (0, pad))) if pad else mask)
        return self._cat(parts)

    def per_agent(self, steps: tuple[TimeStep, ...], field: str) -> jax.Array:
        """``[B]``: a per-agent field folded, or a per-env flag repeated over its agents."""
        parts = []
        for g, ts in zip(self.groups, steps, strict=True):
            x = getattr(ts, field)
            parts.append(fold_agents(x) if x.ndim == 2 else jnp.repeat(x, g.env.num_agents))
        return self._cat(parts)

    def agent_input(self, steps: tuple[TimeStep, ...], start: jax.Array) -> AgentInput:
        return AgentInput(
            obs=self.obs(steps),
            prev_action=self.per_agent(steps, "prev_action"),
            prev_reward=self.per_agent(steps, "prev_reward"),
            start=start,
        )

    def final_input(self, steps: tuple[TimeStep, ...], actions: jax.Array) -> AgentInput:
        """The input for the last observation of an episode that just ended."""
        return AgentInput(
            obs=self.obs(steps, final=True),
            prev_action=actions,
            prev_reward=self.per_agent(steps, "reward"),
            start=jnp.zeros((self.batch,), bool),
        )

    def fresh(self, key, agent: Agent) -> RolloutState:
        env_state, ts = self.reset(key)
        zeros = jnp.zeros((self.batch,), jnp.float32)
        return RolloutState(
            env_state,
            ts,
            agent.initial_carry(self.batch),
            jnp.ones((self.batch,), bool),
            zeros,
            zeros,
        )


def collect(
    agent: Agent,
    params,
    envs: EnvBatch,
    rs: RolloutState,
    key: jax.Array,
    length: int,
    value_truncated_midway: bool,
) -> tuple[RolloutState, Transition, jax.Array]:
    """Act for ``length`` steps. Returns the new state, the transitions ``[T, B]`` and the
    bootstrap value ``[B]`` of the state after the last step (of the final observation when
    the last step ended an episode by truncation)."""

    # A memoryless agent's value of a final obs does not depend on its carry, so one batched
    # pass over the whole rollout replaces a second network call in every acting step.
    batched_final_value = agent.core_reach == 0

    def act(rs: RolloutState, key):
        key_act, key_env = jax.random.split(key)
        inputs = envs.agent_input(rs.timestep, rs.start)
        mask = envs.action_mask(rs.timestep)
        carry, action, logits, out = policy.act(agent, params, rs.carry, inputs, mask, key_act)
        log_prob = policy.log_prob(logits, action)
        env_state, ts = envs.step(key_env, rs.env_state, action)
        reward = envs.per_agent(ts, "reward")
        terminated = envs.per_agent(ts, "terminated")
        done = terminated | envs.per_agent(ts, "truncated")
        final_obs = None
        if value_truncated_midway and batched_final_value:
            final_obs = envs.obs(ts, final=True)  # valued after the loop, all steps at once
        if value_truncated_midway and not batched_final_value:
            _, final = agent.step(params, carry, envs.final_input(ts, action))
            final_value = jnp.where(done & ~terminated, final.value, 0.0)
        else:
            final_value = jnp.zeros_like(reward)
        ep_return = rs.episode_return + reward
        ep_length = rs.episode_length + 1.0
        transition = Transition(
            inputs,
            mask,
            action,
            log_prob,
            out.value,
            reward,
            terminated,
            done,
            final_value,
            jnp.where(done, ep_return, 0.0),
            jnp.where(done, ep_length, 0.0),
        )
        new_rs = RolloutState(
            env_state,
            ts,
            carry,
            done,
            jnp.where(done, 0.0, ep_return),
            jnp.where(done, 0.0, ep_length),
        )
        return new_rs, (transition, final_obs)

    rs, (traj, final_obs) = jax.lax.scan(act, rs, jax.random.split(key, length))
    if final_obs is not None:
        final_in = AgentInput(final_obs, traj.action, traj.reward, jnp.zeros_like(traj.done))
        _, final = agent.unroll(params, agent.initial_carry(envs.batch), final_in)
        truncated = traj.done & ~traj.terminated
        traj = traj._replace(final_value=jnp.where(truncated, final.value, 0.0))
    actions = traj.action
    # One more step for the bootstrap value: the final obs (with the carry before any reset)
    # if the last step ended an episode, else the current obs.
    last_done = traj.done[-1]
    bootstrap_in = jax.tree.map(
        lambda f, c: jnp.where(last_done.reshape((-1,) + (1,) * (f.ndim - 1)), f, c),
        envs.final_input(rs.timestep, actions[-1]),
        envs.agent_input(rs.timestep, jnp.zeros_like(rs.start)),
    )
    _, boot = agent.step(params, rs.carry, bootstrap_in)
    return rs, traj, boot.value
