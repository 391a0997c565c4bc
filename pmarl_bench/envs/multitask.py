"""Multi-task (``multitask-v0``): several grid tasks side by side in one batch.

Each task gets a fixed share of the env batch and keeps its own agent count; agents are
folded into the batch, so one shared policy acts for all of them. Observations are
``{"view": tiles, "task": task id}``, the action space is the union of the tasks' actions
(they share the grid action naming, so each task's actions are a prefix of the union) with
the rest masked out, and the trainer reports episode metrics per task
(``episode_return/<task>``).

A multi-task env is not one ``Environment``: its tasks have different states and agent
counts. It describes the batch (``groups``) that the trainer steps, one vmapped group per
task, so no env computes another task's dynamics.
"""

from __future__ import annotations

import re
from typing import Any

import jax.numpy as jnp
from pydantic import BaseModel, ConfigDict, Field, field_validator

from pmarl_bench.envs.base import STATE_ORACLE, Environment, EnvOptions, ScoreLevels, TaskCard
from pmarl_bench.envs.registry import default_name, make
from pmarl_bench.envs.spaces import Box, Dict, Discrete
from pmarl_bench.errors import ConfigError
from pmarl_bench.types import Array, Group, PRNGKey, with_task_id


class TaskSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    id: str = Field(description="a registered grid task id, e.g. scouts-v0")
    name: str | None = Field(None, description="name in metrics; default: the id without -vN")
    options: dict[str, Any] = Field(default_factory=dict, description="the task's options")
    share: float = Field(1.0, gt=0, description="relative share of the env batch")

    @field_validator("name")
    @classmethod
    def _plain_name(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", v):
            raise ValueError("use letters, digits, '_', '-' and '.' (it names metrics)")
        return v

    @property
    def resolved_name(self) -> str:
        return self.name or default_name(self.id)


class MultiTaskOptions(EnvOptions):
    tasks: tuple[TaskSpec, ...] = Field(
        default=(
            TaskSpec(id="grid_return-v0"),
            TaskSpec(id="scouts-v0"),
            TaskSpec(id="traveling_salesman-v0"),
            TaskSpec(id="king_of_the_hill-v0"),
        ),
        min_length=1,
        description="the grid tasks and their shares of the env batch",
    )


class MultiTask:
    Options = MultiTaskOptions
    env_id = "multitask-v0"
    teams = partners = None
    evaluation = None  # each task's own, through ``groups``
    num_agents = None  # differs by task; see ``tasks``

    def __init__(self, **options: Any):
        from pmarl_bench.envs.grid.base import GridEnv

        opts = MultiTaskOptions(**options)
        if opts.observe == "oracle_memory":
            raise ConfigError(
                "a multi-task env has no perfect-memory observation yet (its tasks' maps "
                "differ in size); use observe: plain or oracle_state",
                "options.observe",
            )
        built: list[tuple[str, Any]] = []
        for i, spec in enumerate(opts.tasks):
            where = f"options.tasks[{i}]"
            if spec.options.get("observe", opts.observe) != opts.observe:
                raise ConfigError(
                    "set observe on the multi-task env, not on one task",
                    f"{where}.options.observe",
                )
            task_options = {**spec.options, "observe": opts.observe}
            try:
                env = make(spec.id, **task_options)
            except ConfigError as err:
                raise (err.at(where) if err.where else err.at(f"{where}.id")) from None
            if not isinstance(env, GridEnv):
                raise ConfigError(f"{spec.id} is not a grid task", f"{where}.id")
            built.append((spec.resolved_name, env))
        names = [n for n, _ in built]
        for i, name in enumerate(names):
            if name in names[:i]:
                raise ConfigError(
                    f"duplicate task name {name!r}; set `name:` to tell them apart",
                    f"options.tasks[{i}]",
                )
        view = built[0][1].plain_observation_space
        for i, (_, env) in enumerate(built):
            if env.plain_observation_space != view:
                raise ConfigError(
                    f"its view {env.options.view} differs from task 0's "
                    f"({built[0][1].options.view}); all tasks need one observation shape",
                    f"options.tasks[{i}].options.view",
                )
        union = max((env.action_names for _, env in built), key=len)
        for i, (_, env) in enumerate(built):
            if env.action_names != union[: len(env.action_names)]:
                raise ConfigError(
                    f"actions {env.action_names} do not extend to {union}",
                    f"options.tasks[{i}].id",
                )
        # keep every task's options fully resolved, so a default change changes the config
        resolved = tuple(
            spec.model_copy(update={"options": env.options.model_dump()})
            for spec, (_, env) in zip(opts.tasks, built, strict=True)
        )
        self.options = opts.model_copy(update={"tasks": resolved})
        self.tasks: tuple[tuple[str, Any], ...] = tuple(built)  # (name, GridEnv)
        self.shares = tuple(spec.share for spec in opts.tasks)
        self.action_names = union
        self.action_space = Discrete(len(union))
        parts = {"view": view, "task": Box(0, len(built) - 1, (), "int32", len(built))}
        if opts.observe in STATE_ORACLE:
            # one oracle part for every task: each padded to the longest (the task id says
            # how to read it)
            width = max(env.oracle_size for _, env in built)
            for _, env in built:
                env.oracle_width = width
            parts["oracle"] = Box(-1.0, 1.0, (width,), "float32")
        self.observation_space = Dict.of(**parts)
        limits = [env.max_episode_steps for _, env in built]
        self.max_episode_steps = None if None in limits else min(x for x in limits if x)

    @property
    def default_params(self) -> tuple:
        return tuple(env.default_params for _, env in self.tasks)

    def score_levels(self, params=None) -> ScoreLevels:
        return ScoreLevels()  # per task: each group's env

    def task_cards(self) -> dict[str | None, TaskCard]:
        return {name: env.card() for name, env in self.tasks}

    def needs_auto_reset(self, steps: int) -> bool:
        return any(env.needs_auto_reset(steps) for _, env in self.tasks)

    def split(self, num_envs: int) -> list[int]:
        """Envs per task: proportional to the shares (largest remainder), at least one each."""
        if num_envs < len(self.tasks):
            raise ConfigError(
                f"{num_envs} envs cannot give each of the {len(self.tasks)} tasks one",
                "ppo.num_envs",
            )
        total = sum(self.shares)
        exact = [num_envs * s / total for s in self.shares]
        counts = [max(1, int(x)) for x in exact]
        by_remainder = sorted(range(len(exact)), key=lambda i: int(exact[i]) - exact[i])
        i = 0
        while sum(counts) < num_envs:
            counts[by_remainder[i % len(counts)]] += 1
            i += 1
        while sum(counts) > num_envs:  # a task raised to one envs takes from the largest
            counts[counts.index(max(counts))] -= 1
        return counts

    def groups(self, num_envs: int, params=None) -> list[Group]:
        params = self.default_params if params is None else params
        return [
            Group(name, env, p, n, task_id)
            for task_id, ((name, env), p, n) in enumerate(
                zip(self.tasks, params, self.split(num_envs), strict=True)
            )
        ]

    def __repr__(self) -> str:
        parts = ", ".join(
            f"{name}={env!r}x{share:g}"
            for (name, env), share in zip(self.tasks, self.shares, strict=True)
        )
        return f"multitask-v0({parts})"


class TaskEnv(Environment):
    """One task of a multi-task env as its agents see it: observations carry the task id and
    actions are the union's (those the task lacks masked out). Dynamics, rewards and renders
    are the task's own, so videos, ``enjoy`` and ``play`` work on a multi-task cell."""

    def __init__(self, env: Any, task_id: int, multitask: MultiTask):
        super().__init__()
        self.env, self.task_id = env, task_id
        self.options = env.options  # the task's sizes (videos read the map's)
        self.env_id = env.env_id
        self.num_agents, self.teams, self.partners = env.num_agents, env.teams, env.partners
        self.fixed_length, self.max_episode_steps = env.fixed_length, env.max_episode_steps
        self.observation_space = multitask.observation_space
        self.action_space, self.action_names = multitask.action_space, multitask.action_names
        self.evaluation = env.evaluation

    @property
    def default_params(self) -> Any:
        return self.env.default_params

    def score_levels(self, params: Any = None) -> ScoreLevels:
        return self.env.score_levels(params)

    @property
    def observes_oracle(self) -> bool:
        return False  # the task adds its own oracle part (padded) before the task id

    def reset_env(self, key: PRNGKey, params: Any) -> tuple[Any, Any]:
        state, obs = self.env.reset_env(key, params)
        obs = self.env.with_oracle(obs, state, params)
        return state, with_task_id(obs, self.task_id)

    def step_env(
        self, key: PRNGKey, state: Any, actions: Array, params: Any
    ) -> tuple[Any, Any, Array, Array, Array]:
        state, obs, reward, terminated, truncated = self.env.step_env(key, state, actions, params)
        obs = self.env.with_oracle(obs, state, params)
        return state, with_task_id(obs, self.task_id), reward, terminated, truncated

    def action_mask(self, state: Any, params: Any) -> Array:
        mask = self.env.action_mask(state, params)
        return jnp.pad(mask, ((0, 0), (0, self.action_space.n - mask.shape[-1])))

    def render(self, state, params=None, cell_px: int = 8):
        return self.env.render(state, params, cell_px=cell_px)

    def render_pov(self, state, agent: int, cell_px: int = 16):
        return self.env.render_pov(state, agent, cell_px=cell_px)

    def positions(self, state: Any) -> Array:
        return self.env.positions(state)

    def __repr__(self) -> str:
        return f"{self.env!r} (task {self.task_id} of a multi-task env)"


def one_task(env: Any, env_params: Any, task: str | None = None) -> tuple[Any, Any, str | None]:
    """``(env, params, task name)`` of one task of ``env``, as its agents see it: a multi-task
    env's task ``task`` (default: its first), or ``env`` itself (which has no tasks)."""
    if not isinstance(env, MultiTask):
        if task is not None:
            raise ConfigError(f"{env!r} has no tasks; leave it out", "--task")
        return env, env_params, None
    names = [name for name, _ in env.tasks]
    if task is not None and task not in names:
        raise ConfigError(f"no task {task!r}; tasks: {', '.join(names)}", "--task")
    i = names.index(task) if task is not None else 0
    params = env.default_params if env_params is None else env_params
    return TaskEnv(env.tasks[i][1], i, env), params[i], names[i]
