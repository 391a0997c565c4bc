"""The perfect-memory observation (``observe: oracle_memory``, ENVIRONMENTS.md "Controls").

``PerfectMemory`` wraps an env and carries, beside its state, a record of what each agent has
observed earlier in the episode; the agents see their plain observation plus that record,
laid out so a memoryless policy can use it, and nothing they have not observed. Dynamics,
rewards and randomness are the inner env's: the same key gives the same states and rewards
with and without the record.

The layout is the env's (``Environment.memory_layout``):

- ``StackMemory`` (the default, external envs): the last ``cap`` steps' observations,
  actions and rewards, capped at ``STACK_CAP`` steps (``record``, in the cell's manifest,
  states the layout and its cap);
- ``MapMemory`` (grid tasks): a map of every tile the agent has seen this episode, how long
  ago, and its own cell; a task may add marks it knows for certain (Traveling Salesman: the
  flags in its own record);
- n-back has its own (the last ``max_n`` symbols and which ``n`` are still consistent with
  its rewards).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple, Protocol

import jax
import jax.numpy as jnp

from pmarl_bench.envs.base import Environment
from pmarl_bench.envs.spaces import Box, Dict
from pmarl_bench.types import Array, PRNGKey, TeamEvaluation

#: the most past steps ``StackMemory`` keeps
STACK_CAP = 16


class Memory(Protocol):
    """An env's layout of what its agents have observed."""

    #: how far back the record reaches, in steps (None: the whole episode)
    cap: int | None

    def spaces(self) -> dict[str, Box]:
        """The record's parts, per agent."""
        ...

    def init(self, obs: Any, state: Any, params: Any) -> Any:
        """The record after a reset, from the first observation."""
        ...

    def update(self, memory: Any, obs: Any, actions: Array, reward: Array, state: Any) -> Any:
        """The record after a step: ``actions`` and ``reward`` of the step, ``obs`` and
        ``state`` after it."""
        ...

    def observe(self, memory: Any, state: Any) -> dict[str, Array]:
        """The record's parts as the agents see them, ``[A, ...]`` each."""
        ...


class Remembered(NamedTuple):
    """A ``PerfectMemory`` env's state: the inner env's and the record."""

    inner: Any
    memory: Any


class PerfectMemory(Environment):
    """``env`` with ``observe: oracle_memory``. Everything but the observation is ``env``'s;
    methods that read a state are given the inner one."""

    def __init__(self, env: Environment):
        self.env = env
        self.options = env.options
        self.layout: Memory = env.memory_layout()
        for name in ("env_id", "num_agents", "action_space", "action_names", "fixed_length",
                     "max_episode_steps", "teams", "partners"):  # fmt: skip
            setattr(self, name, getattr(env, name))
        held = env.evaluation
        self.evaluation = held and TeamEvaluation(lambda s: held.held(s.inner), held.metric)

    def __getattr__(self, name: str) -> Any:
        # anything else (options-derived sizes, helpers) is the inner env's
        if name == "env":
            raise AttributeError(name)
        return getattr(self.env, name)

    @property
    def record(self) -> dict[str, Any]:
        """The record's layout and how far back it reaches (steps; None: the episode), for
        manifests."""
        return {"layout": type(self.layout).__name__, "cap": self.layout.cap}

    @property  # type: ignore[misc]  # derived from the inner env's, never set
    def observation_space(self) -> Dict:
        plain = self.env.observation_space
        parts = dict(plain.spaces) if isinstance(plain, Dict) else {"obs": plain}
        return Dict.of(**parts, **self.layout.spaces())

    @property
    def observes_oracle(self) -> bool:
        return False

    @property
    def default_params(self) -> Any:
        return self.env.default_params

    def score_levels(self, params: Any = None) -> Any:
        return self.env.score_levels(params)

    def card(self) -> Any:
        return self.env.card()

    def with_oracle(self, obs: Any, state: Remembered, params: Any) -> Any:
        parts = obs if isinstance(obs, dict) else {"obs": obs}
        return {**parts, **self.layout.observe(state.memory, state.inner)}

    def reset_env(self, key: PRNGKey, params: Any) -> tuple[Remembered, Any]:
        state, obs = self.env.reset_env(key, params)
        return Remembered(state, self.layout.init(obs, state, params)), obs

    def _after(self, memory: Any, actions: Array, step: tuple) -> tuple:
        state, obs, reward, terminated, truncated = step
        memory = self.layout.update(memory, obs, actions, reward, state)
        return Remembered(state, memory), obs, reward, terminated, truncated

    def step_env(self, key: PRNGKey, state: Remembered, actions: Array, params: Any):
        step = self.env.step_env(key, state.inner, actions, params)
        return self._after(state.memory, actions, step)

    def step_and_reset(self, key: PRNGKey, state: Remembered, actions: Array, params: Any):
        step, (reset_state, reset_obs) = self.env.step_and_reset(key, state.inner, actions, params)
        reset = Remembered(reset_state, self.layout.init(reset_obs, reset_state, params))
        return self._after(state.memory, actions, step), (reset, reset_obs)

    def action_mask(self, state: Remembered, params: Any) -> Array:
        return self.env.action_mask(state.inner, params)

    def render(self, state: Remembered, params: Any = None, **kwargs: Any) -> Array:
        return self.env.render(state.inner, params, **kwargs)

    def render_pov(self, state: Remembered, agent: int, **kwargs: Any) -> Array:
        return getattr(self.env, "render_pov")(state.inner, agent, **kwargs)  # noqa: B009

    def positions(self, state: Remembered) -> Array | None:
        return self.env.positions(state.inner)


def _flat(obs: Any, num_agents: int) -> Array:
    """``[A, D]`` float32: every part of an observation, flattened."""
    leaves = jax.tree.leaves(obs)
    return jnp.concatenate([x.reshape(num_agents, -1).astype(jnp.float32) for x in leaves], -1)


class Stack(NamedTuple):
    steps: Array  # [A, cap, D + actions + 1]: observation, one-hot action, reward; newest first
    valid: Array  # [A, cap] float32: 1 where the slot holds a step of this episode
    last_obs: Array  # [A, D] the observation the next action answers


class StackMemory:
    """The last ``cap`` steps: each step's observation, the action taken on it and the reward
    it gave, newest first, with a mask of the slots this episode has filled."""

    def __init__(self, env: Environment):
        self.num_agents = env.num_agents
        self.num_actions = env.action_space.n
        limit = env.max_episode_steps
        self.cap = STACK_CAP if limit is None else min(STACK_CAP, max(limit - 1, 1))
        leaves = jax.tree.leaves(env.observation_space)
        self.obs_size = sum(math.prod(leaf.shape) for leaf in leaves)
        self.width = self.obs_size + self.num_actions + 1

    def spaces(self) -> dict[str, Box]:
        inf = float("inf")
        return {
            "memory_steps": Box(-inf, inf, (self.cap, self.width), "float32"),
            "memory_valid": Box(0.0, 1.0, (self.cap,), "float32"),
        }

    def init(self, obs: Any, state: Any, params: Any) -> Stack:
        a = self.num_agents
        return Stack(
            jnp.zeros((a, self.cap, self.width), jnp.float32),
            jnp.zeros((a, self.cap), jnp.float32),
            _flat(obs, a),
        )

    def update(self, memory: Stack, obs: Any, actions: Array, reward: Array, state: Any):
        step = jnp.concatenate(
            [
                memory.last_obs,
                jax.nn.one_hot(actions, self.num_actions, dtype=jnp.float32),
                reward.astype(jnp.float32)[:, None],
            ],
            -1,
        )
        steps = jnp.concatenate([step[:, None], memory.steps[:, :-1]], 1)
        valid = jnp.concatenate([jnp.ones_like(memory.valid[:, :1]), memory.valid[:, :-1]], 1)
        return Stack(steps, valid, _flat(obs, self.num_agents))

    def observe(self, memory: Stack, state: Any) -> dict[str, Array]:
        return {"memory_steps": memory.steps, "memory_valid": memory.valid}
