"""The functional multi-agent environment contract.

An environment is a set of pure functions over explicit state (gymnax style), with a leading
agent axis on every per-agent array. Static, shape-setting options are constructor keywords
validated by the env's ``Options`` model (hashable, closed over by jit); traced options live
in the ``Params`` pytree, which can be vmapped.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Literal, TypeVar

import jax
import jax.numpy as jnp
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_serializer, model_validator

from pmarl_bench.envs.spaces import Box, Dict, Discrete
from pmarl_bench.types import NO_ACTION, Array, Group, PRNGKey, TeamEvaluation, TimeStep

#: the ``observe`` values of the full-state oracle ("oracle": its name before oracle_memory)
STATE_ORACLE = ("oracle_state", "oracle")

State = TypeVar("State")
Params = TypeVar("Params")


class HostArray:
    """An env attribute kept as a host (NumPy) array and read as a JAX array: building an
    env makes no device array (so checking a suite, or ``list``, starts no JAX backend), and
    every read inside a trace is a constant of the program. Assign NumPy-computed values."""

    def __set_name__(self, owner, name: str) -> None:
        self.name = f"_host_{name}"

    def __get__(self, obj, objtype=None):
        if obj is None:
            return self
        return jnp.asarray(getattr(obj, self.name))

    def __set__(self, obj, value) -> None:
        setattr(obj, self.name, np.asarray(value))


#: the longest episode a task may be asked for: its step counter is an int32 inside
#: training, and some tables of a task are built per step on the host (n-back's levels)
MAX_EPISODE_LENGTH = 1_000_000


class EnvOptions(BaseModel):
    """Base for an env's static options: strict, immutable, hashable."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=False, allow_inf_nan=False)

    observe: Literal["plain", "oracle_memory", "oracle_state", "oracle"] = Field(
        "plain",
        description="oracle_memory: add everything the agent has observed earlier in the "
        "episode (perfect memory); oracle_state: add what is hidden, seen or not (full state; "
        "'oracle' is its name from before oracle_memory existed); dynamics are the same",
    )

    @model_validator(mode="after")
    def _episode_fits(self):
        n = getattr(self, "episode_length", None)
        if isinstance(n, int) and n > MAX_EPISODE_LENGTH:
            raise ValueError(
                f"episode_length {n:,} is over {MAX_EPISODE_LENGTH:,} steps (an int32 step "
                "counter, and per-step tables)"
            )
        return self

    @model_serializer(mode="wrap")
    def _plain_left_out(self, handler):
        # the default is not written, so configs (and their hashes) from before the option
        # existed are unchanged
        data = handler(self)
        if isinstance(data, dict) and data.get("observe") == "plain":
            del data["observe"]
        return data


@dataclass(frozen=True)
class ScoreLevels:
    """Reference levels of the mean per-agent episode return, drawn in reports.

    ``chance``: uniform random actions. ``memoryless``: the best policy that sees only the
    current observation (None where unknown). ``optimal``: the best achievable (None where
    unknown).
    """

    chance: float | None = None
    memoryless: float | None = None
    optimal: float | None = None


@dataclass(frozen=True)
class TaskCard:
    """What a task tests, shown by ``pmarl-bench list`` and reports.

    ``tests``: from sequential recall, spatial memory, object tracking, roles, teams,
    competition. ``horizon_steps``: how far back an observation can still matter to acting
    well, in steps (None: unknown); ``horizon``: the same in words."""

    tests: tuple[str, ...] = ()
    horizon_steps: int | None = None
    horizon: str = "unknown"


class Environment(abc.ABC, Generic[State, Params]):
    """Base class. Subclasses implement ``reset_env`` and ``step_env``; ``step`` auto-resets.

    Subclasses define:
      Options: an ``EnvOptions`` model of static options;
      num_agents, observation_space (per agent), action_space, action_names;
      max_episode_steps (None when episodes can be unbounded), teams (or None).
    """

    Options: ClassVar[type[EnvOptions]] = EnvOptions
    action_names: tuple[str, ...] = ()
    #: Every episode lasts exactly ``max_episode_steps`` (truncated, never terminated), so a
    #: rollout of at most that many steps from a reset never needs an auto-reset.
    fixed_length: bool = False
    teams: tuple[int, ...] | None = None
    #: cross-play sides of a cooperative task, per agent: 0 the focal side (one seed's
    #: policy), 1 its partners (another seed's); None: no cross-play (``evaluation.crossplay``)
    partners: tuple[int, ...] | None = None
    env_id: str = ""

    def __init__(self, **options: Any):
        self.options = self.Options(**options)

    # -- static description -------------------------------------------------------------
    num_agents: int = 1
    action_space: Discrete
    max_episode_steps: int | None = None
    #: the oracle part's length when it is padded for a multi-task batch (None: its own)
    oracle_width: int | None = None

    @property
    def observation_space(self) -> Box | Dict:
        """Per agent; a ``Dict`` has named parts (e.g. a view and a task id). With ``observe:
        oracle`` it is ``{"obs": the plain observation, "oracle": float32 [D]}`` (a plain
        ``Dict`` gets the ``oracle`` part beside its own)."""
        plain = self.plain_observation_space
        if not self.observes_oracle:
            return plain
        oracle = Box(*self.oracle_bounds, (self.oracle_width or self.oracle_size,), "float32")
        parts = dict(plain.spaces) if isinstance(plain, Dict) else {"obs": plain}
        return Dict.of(**parts, oracle=oracle)

    @observation_space.setter
    def observation_space(self, space: Box | Dict) -> None:
        self.plain_observation_space = space

    @property
    def observes_oracle(self) -> bool:
        """Whether the agents see the full-state oracle part (``observe: oracle_state``)."""
        return getattr(self.options, "observe", "plain") in STATE_ORACLE

    def memory_layout(self) -> Any:
        """How ``observe: oracle_memory`` lays out what this env's agent has observed (an
        ``envs.perfect_memory.Memory``): by default the episode's stacked observations,
        actions and rewards, capped. Tasks with a better layout (a map) override it."""
        from pmarl_bench.envs.perfect_memory import StackMemory

        return StackMemory(self)

    # -- the perfect-memory observation (ENVIRONMENTS.md, "Controls") ---------------------
    oracle_bounds: tuple[float, float] = (-1.0, 1.0)

    @property
    def oracle_size(self) -> int:
        """``D``, the length of ``oracle``'s vectors."""
        raise NotImplementedError(f"{self.env_id or type(self).__name__} has no oracle")

    def oracle(self, state: State, params: Params) -> Array:
        """``float32 [A, D]`` in [-1, 1]: what each agent's memory would have to hold to act
        well, read from the state (offsets are divided by the map's larger side)."""
        raise NotImplementedError(f"{self.env_id or type(self).__name__} has no oracle")

    def with_oracle(self, obs: Any, state: State, params: Params) -> Any:
        """``obs`` as the agents see it: plain, or with the oracle part (``observe: oracle``),
        padded to ``oracle_width`` where a multi-task batch set one."""
        if not self.observes_oracle:
            return obs
        part = self.oracle(state, params).astype(jnp.float32)
        pad = (self.oracle_width or self.oracle_size) - part.shape[-1]
        part = jnp.pad(part, ((0, 0), (0, pad))) if pad else part
        return {**obs, "oracle": part} if isinstance(obs, dict) else {"obs": obs, "oracle": part}

    @property
    @abc.abstractmethod
    def default_params(self) -> Params: ...

    def score_levels(self, params: Params | None = None) -> ScoreLevels:
        return ScoreLevels()

    def card(self) -> TaskCard:
        return TaskCard()

    def task_cards(self) -> dict[str | None, TaskCard]:
        """What each task tests, by task name: one task, unnamed (``None``)."""
        return {None: self.card()}

    def groups(self, num_envs: int, params: Params | None = None) -> list[Group]:
        """The vmapped groups a batch of ``num_envs`` of this env is made of: one (a
        multi-task env has one per task)."""
        params = self.default_params if params is None else params
        return [Group(None, self, params, num_envs, None)]

    #: the evaluation after training, for envs that declare one (see ``TeamEvaluation``)
    evaluation: TeamEvaluation | None = None

    # -- dynamics ------------------------------------------------------------------------
    @abc.abstractmethod
    def reset_env(self, key: PRNGKey, params: Params) -> tuple[State, Any]:
        """Start an episode: (state, obs [A, ...])."""

    @abc.abstractmethod
    def step_env(
        self, key: PRNGKey, state: State, actions: Array, params: Params
    ) -> tuple[State, Any, Array, Array, Array]:
        """One transition without auto-reset: (state, obs, reward [A], terminated, truncated)."""

    def action_mask(self, state: State, params: Params) -> Array:
        return jnp.ones((self.num_agents, self.action_space.n), dtype=bool)

    def step_and_reset(self, key: PRNGKey, state: State, actions: Array, params: Params):
        """``(step_env(...), reset_env(...))`` with independent randomness; ``step`` keeps the
        reset where the episode ended. Under vmap both are always computed, so an env whose
        per-step work is tiny may override this to draw the randomness of both at once."""
        key_step, key_reset = jax.random.split(key)
        return (
            self.step_env(key_step, state, actions, params),
            self.reset_env(key_reset, params),
        )

    def reset(self, key: PRNGKey, params: Params | None = None) -> tuple[State, TimeStep]:
        params = self.default_params if params is None else params
        state, obs = self.reset_env(key, params)
        obs = self.with_oracle(obs, state, params)
        zeros = jnp.zeros((self.num_agents,), jnp.float32)
        ts = TimeStep(
            obs=obs,
            reward=zeros,
            terminated=jnp.array(False),
            truncated=jnp.array(False),
            action_mask=self.action_mask(state, params),
            prev_action=jnp.full((self.num_agents,), NO_ACTION, jnp.int32),
            prev_reward=zeros,
            info={"final_obs": obs},
        )
        return state, ts

    def step(
        self, key: PRNGKey, state: State, actions: Array, params: Params | None = None
    ) -> tuple[State, TimeStep]:
        """Advance one step; on the step that ends an episode, return the next episode's first
        TimeStep with the ending flags and reward, and the final observation in
        ``info["final_obs"]``."""
        params = self.default_params if params is None else params
        actions = jnp.asarray(actions, jnp.int32)
        (next_state, obs, reward, terminated, truncated), (reset_state, reset_obs) = (
            self.step_and_reset(key, state, actions, params)
        )
        obs = self.with_oracle(obs, next_state, params)
        reset_obs = self.with_oracle(reset_obs, reset_state, params)
        done = terminated | truncated
        pick = lambda a, b: jax.tree.map(lambda x, y: jnp.where(done, x, y), a, b)
        new_state = pick(reset_state, next_state)
        reward = reward.astype(jnp.float32)
        ts = TimeStep(
            obs=pick(reset_obs, obs),
            reward=reward,
            terminated=terminated,
            truncated=truncated,
            action_mask=self.action_mask(new_state, params),
            prev_action=jnp.where(done, NO_ACTION, actions),
            prev_reward=jnp.where(done, 0.0, reward),
            info={"final_obs": obs},
        )
        return new_state, ts

    def needs_auto_reset(self, steps: int) -> bool:
        """Whether ``steps`` steps from a reset can reach an episode's end before the last
        step (then ``step`` is needed; otherwise ``step_no_reset`` suffices)."""
        limit = self.max_episode_steps
        return not (self.fixed_length and limit is not None and steps <= limit)

    def step_no_reset(
        self, key: PRNGKey, state: State, actions: Array, params: Params | None = None
    ) -> tuple[State, TimeStep]:
        """``step`` without the auto-reset, for rollouts that never outlive an episode (see
        ``fixed_length``): under vmap a reset would be computed at every step and dropped."""
        params = self.default_params if params is None else params
        actions = jnp.asarray(actions, jnp.int32)
        state, obs, reward, terminated, truncated = self.step_env(key, state, actions, params)
        obs = self.with_oracle(obs, state, params)
        reward = reward.astype(jnp.float32)
        ts = TimeStep(
            obs=obs,
            reward=reward,
            terminated=terminated,
            truncated=truncated,
            action_mask=self.action_mask(state, params),
            prev_action=actions,
            prev_reward=reward,
            info={"final_obs": obs},
        )
        return state, ts

    def render(self, state: State, params: Params | None = None) -> Array:
        raise NotImplementedError(f"{self.env_id or type(self).__name__} has no renderer yet")

    def positions(self, state: State) -> Array | None:
        """``int32 [A, 2]`` each agent's (row, column) on a map, drawn beside its id in videos;
        None for an env without a map."""
        return None

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options.model_dump().items())
        return f"{self.env_id or type(self).__name__}({opts})"
