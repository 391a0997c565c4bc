"""Acting: a batch of envs stepped together, agents folded into the batch axis.

Agent-major layout: env ``e``'s agent ``a`` is batch row ``e * A + a``; per-env flags are
repeated over its agents.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from pmarl_bench.agents.base import Agent
from pmarl_bench.envs.base import Environment
from pmarl_bench.trainer.losses import masked_logits
from pmarl_bench.types import AgentInput, TimeStep


class RolloutState(NamedTuple):
    env_state: Any  # [E, ...]
    timestep: TimeStep  # [E, A, ...]
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
    """``num_envs`` copies of one env under vmap, with agents folded into the batch.

    ``auto_reset=False`` steps without the auto-reset (``Environment.step_no_reset``): only
    for rollouts that start from a reset and never outlive an episode."""

    def __init__(self, env: Environment, params: Any, num_envs: int, auto_reset: bool = True):
        self.env, self.params, self.num_envs = env, params, num_envs
        self.auto_reset = auto_reset
        self.num_agents = env.num_agents
        self.batch = num_envs * env.num_agents

    def reset(self, key):
        keys = jax.random.split(key, self.num_envs)
        return jax.vmap(self.env.reset, in_axes=(0, None))(keys, self.params)

    def step(self, key, env_state, actions):
        keys = jax.random.split(key, self.num_envs)
        actions = actions.reshape(self.num_envs, self.num_agents)
        step = self.env.step if self.auto_reset else self.env.step_no_reset
        return jax.vmap(step, in_axes=(0, 0, 0, None))(keys, env_state, actions, self.params)

    def per_agent(self, flag: jax.Array) -> jax.Array:
        """[E] -> [B]"""
        return jnp.repeat(flag, self.num_agents)

    def agent_input(self, ts: TimeStep, start: jax.Array) -> AgentInput:
        return AgentInput(
            obs=jax.tree.map(fold_agents, ts.obs),
            prev_action=fold_agents(ts.prev_action),
            prev_reward=fold_agents(ts.prev_reward),
            start=start,
        )

    def final_input(self, ts: TimeStep, actions: jax.Array) -> AgentInput:
        """The input for the last observation of an episode that just ended."""
        return AgentInput(
            obs=jax.tree.map(fold_agents, ts.info["final_obs"]),
            prev_action=actions,
            prev_reward=fold_agents(ts.reward),
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

    def act(rs: RolloutState, key):
        key_act, key_env = jax.random.split(key)
        inputs = envs.agent_input(rs.timestep, rs.start)
        mask = fold_agents(rs.timestep.action_mask)
        carry, out = agent.step(params, rs.carry, inputs)
        logits = masked_logits(out.logits, mask)
        action = jax.random.categorical(key_act, logits)
        log_prob = jnp.take_along_axis(jax.nn.log_softmax(logits), action[:, None], axis=-1)[:, 0]
        env_state, ts = envs.step(key_env, rs.env_state, action)
        reward = fold_agents(ts.reward)
        terminated = envs.per_agent(ts.terminated)
        done = envs.per_agent(ts.terminated | ts.truncated)
        if value_truncated_midway:
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
        return new_rs, (transition, action)

    rs, (traj, actions) = jax.lax.scan(act, rs, jax.random.split(key, length))
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
