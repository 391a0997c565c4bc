"""JaxMARL's multi-agent environments through the pmarl-bench API (``jaxmarl:<env>`` in a
suite, e.g. ``jaxmarl:MPE_simple_spread_v3`` or ``jaxmarl:overcooked``).

JaxMARL keys observations, rewards and dones by agent name; the adapter stacks them on a
leading agent axis in ``env.agents`` order, steps through ``step_env`` (the base class
auto-resets, keeping the final observation) and splits JaxMARL's ``done`` into
``terminated`` and ``truncated`` by the env's clock: an episode that ends at ``max_steps``
is truncated, so the trainer bootstraps it. Every agent must share one observation shape
and one discrete action space; ``get_avail_actions`` gives the action masks where the env
has it. Overcooked's ``layout`` may be a layout name (``cramped_room``, ...).

One option is the adapter's own: ``shaped_reward: c`` adds ``c`` times the env's shaped
reward (``info["shaped_reward"]``, Overcooked's reward for steps towards a soup) to every
reward, so short CPU runs learn; returns then include it.
"""

from __future__ import annotations

import inspect
import os
import sys
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from pmarl_bench.envs.base import Environment, EnvOptions
from pmarl_bench.envs.flat_oracle import FlatStateOracle
from pmarl_bench.envs.spaces import Box, Discrete
from pmarl_bench.errors import ConfigError, import_extra
from pmarl_bench.types import Array, PRNGKey

#: fully cooperative JaxMARL envs (one team, a shared goal): cross-play pairs agent 0 of one
#: seed with the others of another (``evaluation.crossplay``)
COOPERATIVE = ("MPE_simple_spread", "overcooked")


def _jaxmarl():
    """``jaxmarl``, imported without the lines it prints (its MaBrax module resets
    ``sys.stdout`` on import, so the file descriptor is silenced instead)."""
    if sys.modules.get("jaxmarl") is not None:
        return sys.modules["jaxmarl"]
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            jaxmarl = import_extra("jaxmarl", "jaxmarl", "a jaxmarl:<env> environment")
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    return jaxmarl


class JaxMarlEnv(FlatStateOracle, Environment):
    Options = EnvOptions  # JaxMARL env kwargs are passed through, checked by JaxMARL

    def __init__(self, name: str, **options: Any):
        jaxmarl = _jaxmarl()
        known = list(jaxmarl.registered_envs)
        if name not in known:
            raise ConfigError(f"unknown JaxMARL env {name!r}; JaxMARL has: {', '.join(known)}")
        self.name = name
        self.options = EnvOptions(observe=options.pop("observe", "plain"))
        self.shaped_reward = float(options.pop("shaped_reward", 0.0))
        self.jaxmarl_options = dict(options)
        _check_option_names(name, jaxmarl.registration, options)
        if isinstance(options.get("layout"), str) and name.startswith("overcooked"):
            options["layout"] = _overcooked_layout(options["layout"])
        try:
            self._env = jaxmarl.make(name, **options)
        except (TypeError, ValueError, KeyError) as err:
            raise ConfigError(f"JaxMARL {name} rejected its options: {err}", "options") from None
        self.agents = tuple(self._env.agents)
        self.num_agents = len(self.agents)
        spaces = [self._env.action_space(a) for a in self.agents]
        if not all(hasattr(s, "n") for s in spaces) or len({int(s.n) for s in spaces}) != 1:
            raise ConfigError(
                f"JaxMARL env {name!r} needs one discrete action space shared by its agents "
                "(set action_type: Discrete where it has one)",
                "options",
            )
        self.action_space = Discrete(int(spaces[0].n))
        self.action_names = tuple(str(i) for i in range(self.action_space.n))
        # the shapes the env produces (a declared space may disagree with them)
        obs, _ = jax.eval_shape(self._env.reset, jax.random.key(0))
        shapes = {tuple(obs[a].shape) for a in self.agents}
        if len(shapes) != 1:
            raise ConfigError(
                f"JaxMARL env {name!r} gives its agents observations of different shapes "
                f"({sorted(shapes)}); the agents here share one policy input",
                "options",
            )
        space = self._env.observation_space(self.agents[0])
        low = float(np.min(getattr(space, "low", -np.inf)))
        high = float(np.max(getattr(space, "high", np.inf)))
        self.observation_space = Box(low, high, shapes.pop(), "float32")
        self._masks = _has_masks(self._env)
        self.max_episode_steps, self._clock_at_limit = self._time_limit()
        if name.startswith(COOPERATIVE) and self.num_agents > 1:  # cross-play: agent 0 focal
            self.partners = (0,) + (1,) * (self.num_agents - 1)

    @property
    def default_params(self):
        return None

    def _state_shape(self):
        return jax.eval_shape(self._env.reset, jax.random.key(0))[1]

    def _stack(self, values: dict, dtype=jnp.float32) -> jax.Array:
        return jnp.stack([jnp.asarray(values[a], dtype) for a in self.agents])

    def reset_env(self, key: PRNGKey, params: Any) -> tuple[Any, Array]:
        obs, state = self._env.reset(key)
        return state, self._stack(obs)

    def step_env(
        self, key: PRNGKey, state: Any, actions: Array, params: Any
    ) -> tuple[Any, Array, Array, Array, Array]:
        acts = {a: actions[i] for i, a in enumerate(self.agents)}
        obs, new, reward, done, info = self._env.step_env(key, state, acts)
        reward = self._stack(reward)
        if self.shaped_reward:
            reward = reward + self.shaped_reward * self._stack(info["shaped_reward"])
        over = jnp.asarray(done["__all__"])
        clock = _clock(new)
        if self._clock_at_limit is not None and clock is not None:
            truncated = over & (clock >= self._clock_at_limit)
        else:
            truncated = jnp.array(False)
        return new, self._stack(obs), reward, over & ~truncated, truncated

    def _time_limit(self) -> tuple[int | None, Any]:
        """(steps an episode lasts at the time limit, the env's clock after that step).
        JaxMARL envs count differently (MPE ends after ``max_steps + 1`` steps, Overcooked
        after ``max_steps``), so one episode of no-ops is played to see."""
        limit = getattr(self._env, "max_steps", None)
        if limit is None or _clock(self._state_shape()) is None:
            return None, None

        def play(key):
            _, state = self._env.reset(key)
            noop = {a: jnp.int32(0) for a in self.agents}

            def body(carry):
                state, n, _, _ = carry
                _, state, _, done, _ = self._env.step_env(key, state, noop)
                return state, n + 1, jnp.asarray(done["__all__"]), _clock(state)

            start = (state, jnp.int32(0), jnp.array(False), _clock(state))
            last = jax.lax.while_loop(lambda c: ~c[2] & (c[1] <= limit + 1), body, start)
            return last[1], last[3]

        steps, clock = jax.device_get(jax.jit(play)(jax.random.key(0)))
        return int(steps), int(clock)

    def action_mask(self, state: Any, params: Any) -> Array:
        if not self._masks:
            return super().action_mask(state, params)
        masks = self._env.get_avail_actions(state)
        return self._stack(masks, bool)

    def __repr__(self) -> str:
        return f"jaxmarl:{self.name}"


def _clock(state):
    """The env's step counter (``step`` in MPE and Overcooked, else ``time``), or None."""
    return getattr(state, "step", getattr(state, "time", None))


def _check_option_names(name: str, registration, options: dict) -> None:
    """JaxMARL envs pass unknown keyword arguments on and ignore them; refuse them here, by
    the named parameters of the env class's constructors."""
    if not options:
        return
    cls = type(registration.make(name))  # the env's class, built with its defaults
    names: set[str] = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is not None:
            names |= {p for p in inspect.signature(init).parameters if p != "self"}
    names -= {"args", "kwargs"}
    for key in options:
        if key not in names:
            raise ConfigError(
                f"unknown option for JaxMARL {name}; it takes: {', '.join(sorted(names))}",
                f"options.{key}",
            )


def _has_masks(env) -> bool:
    try:
        jax.eval_shape(env.get_avail_actions, jax.eval_shape(env.reset, jax.random.key(0))[1])
    except NotImplementedError:
        return False
    return True


def _overcooked_layout(name: str):
    from jaxmarl.environments.overcooked import overcooked_layouts

    if name not in overcooked_layouts:
        raise ConfigError(
            f"unknown Overcooked layout {name!r}; layouts: {', '.join(overcooked_layouts)}",
            "options.layout",
        )
    return overcooked_layouts[name]


def make_jaxmarl(name: str, **options: Any) -> JaxMarlEnv:
    return JaxMarlEnv(name, **options)
