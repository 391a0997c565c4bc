"""Pytrees shared by environments, agents and the trainer.

Every per-agent array carries a leading agent axis ``[A, ...]``; episode flags are per env.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax

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
