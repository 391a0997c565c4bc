"""Pytrees shared by environments, agents and the trainer.

Every per-agent array carries a leading agent axis ``[A, ...]``; episode flags are per env.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol, runtime_checkable

import jax
import jax.numpy as jnp

Array = jax.Array
PRNGKey = jax.Array

#: ``prev_action`` value at the first step of an episode ("no previous action").
NO_ACTION = -1


class TimeStep(NamedTuple):
    """What an environment returns from ``reset`` and ``step``.

    ``reward`` belongs to the transition that produced this step (the learning signal), while
    ``prev_action``/``prev_reward`` are the agent's inputs for ``obs``: on the first step of an
    episode (also right after an auto-reset) they are ``NO_ACTION`` and ``0``.
    """

    obs: Any  # [A, *obs_shape]
    reward: Array  # [A] float32
    terminated: Array  # [] bool: the episode that produced this step ended in a terminal state
    truncated: Array  # [] bool: ... ended because of its time limit
    action_mask: Array  # [A, n_actions] bool
    prev_action: Array  # [A] int32
    prev_reward: Array  # [A] float32
    info: dict[str, Any]  # always holds "final_obs" (the last obs of an ended episode)


class AgentInput(NamedTuple):
    """One step of agent input for a batch ``[B, ...]`` (or a sequence ``[T, B, ...]``)."""

    obs: Any
    prev_action: Array  # int32, NO_ACTION at episode start
    prev_reward: Array  # float32
    start: Array  # bool: this step begins an episode, so memory is cleared before it


class AgentOutput(NamedTuple):
    logits: Array  # [..., n_actions] float32 (unmasked)
    value: Array  # [...] float32
    value_logits: Array | None = None  # [..., bins] for a histogram (HL-Gauss) value head


def with_task_id(obs: Any, task_id: int) -> dict[str, Any]:
    """A task's observations ``[B, ...]`` as a multi-task agent sees them:
    ``{"view": obs, "task": int32 [B]}`` (and ``"oracle"`` with ``observe: oracle``)."""
    rows = jax.tree.leaves(obs)[0].shape[0]
    task = jnp.full((rows,), task_id, jnp.int32)
    if isinstance(obs, dict) and "oracle" in obs:  # ``observe: oracle``: one flat dict
        return {"view": obs["obs"], "oracle": obs["oracle"], "task": task}
    return {"view": obs, "task": task}


class Group(NamedTuple):
    """``num_envs`` copies of one env, stepped together under one vmap. A batch of envs is
    one group, or one per task of a multi-task env (``env.groups``)."""

    name: str | None  # task name in metrics (None: a single-task batch)
    env: Any  # Environment
    params: Any
    num_envs: int
    task_id: int | None  # given to the agent with each observation (None: no task id)


@dataclass(frozen=True)
class TeamEvaluation:
    """A two-team env's evaluation after training: the policy plays one team against random
    agents and against its own earlier checkpoints (half the episodes on each side).

    ``held(state) -> float32 [2]``: the share of the step's score each team holds (the rest is
    neutral), averaged over the episode. ``metric``: the name of the policy team's share."""

    held: Callable[[Any], Array]
    metric: str


@runtime_checkable
class EnvLike(Protocol):
    """What the trainer, the evaluations and the runner use of an env: an
    ``envs.Environment``, or a multi-task batch (``envs.MultiTask``), which is stepped
    through its ``groups``. Both declare all of it, so no caller asks which it has."""

    env_id: str
    options: Any  # the env's ``EnvOptions`` model
    num_agents: int | None  # None: differs by task (see ``groups``)
    observation_space: Any
    action_space: Any
    action_names: tuple[str, ...]
    max_episode_steps: int | None
    teams: tuple[int, ...] | None
    partners: tuple[int, ...] | None
    evaluation: TeamEvaluation | None

    @property
    def default_params(self) -> Any: ...

    def groups(self, num_envs: int, params: Any = None) -> list[Group]: ...

    def needs_auto_reset(self, steps: int) -> bool: ...

    def score_levels(self, params: Any = None) -> Any:
        """The env's ``ScoreLevels`` (empty for a multi-task batch: each task has its own)."""
        ...

    def task_cards(self) -> dict[str | None, Any]:
        """What each task tests (``TaskCard``), by task name (None: a single-task env)."""
        ...
