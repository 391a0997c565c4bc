"""Expose any single-agent gymnax environment with a discrete action space through the
pmarl-bench API (``gymnax:<EnvName>`` in a suite), so users can bench envs of their own.

gymnax folds the time limit into ``done``; the adapter splits it back into ``terminated`` and
``truncated`` from the env's clock, so the trainer bootstraps truncated episodes correctly.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from pmarl_bench.envs.base import Environment, EnvOptions
from pmarl_bench.envs.flat_oracle import FlatStateOracle
from pmarl_bench.envs.spaces import Box, Discrete
from pmarl_bench.errors import ConfigError
from pmarl_bench.types import Array, PRNGKey


class GymnaxEnv(FlatStateOracle, Environment):
    Options = EnvOptions  # gymnax env kwargs are passed through unvalidated

    def __init__(self, name: str, **options: Any):
        import gymnax

        if name not in gymnax.registered_envs:
            raise ConfigError(
                f"unknown gymnax env {name!r}; gymnax has: {', '.join(gymnax.registered_envs)}"
            )
        self.name = name
        self.options = EnvOptions(observe=options.pop("observe", "plain"))
        self.gymnax_options = dict(options)
        try:
            self._env, self._params = gymnax.make(name, **options)
        except TypeError as err:
            raise ConfigError(f"gymnax {name} rejected its options: {err}", "options") from None
        action_space = self._env.action_space(self._params)
        if not hasattr(action_space, "n"):
            raise ConfigError(
                f"gymnax env {name!r} has a continuous action space; only discrete ones work"
            )
        obs_space = self._env.observation_space(self._params)
        self.num_agents = 1
        self.action_space = Discrete(int(action_space.n))
        self.action_names = tuple(str(i) for i in range(self.action_space.n))
        self.observation_space = Box(
            float(np.min(obs_space.low)),
            float(np.max(obs_space.high)),
            tuple(obs_space.shape),
            str(jnp.dtype(obs_space.dtype)),
        )
        self.max_episode_steps = getattr(self._params, "max_steps_in_episode", None)

    @property
    def default_params(self):
        return self._params

    def _state_shape(self):
        return jax.eval_shape(self._env.reset_env, jax.random.key(0), self._params)[1]

    def reset_env(self, key: PRNGKey, params: Any) -> tuple[Any, Array]:
        obs, state = self._env.reset_env(key, params)
        return state, jnp.asarray(obs)[None]

    def step_env(
        self, key: PRNGKey, state: Any, actions: Array, params: Any
    ) -> tuple[Any, Array, Array, Array, Array]:
        obs, state, reward, done, _ = self._env.step_env(key, state, actions[0], params)
        limit = getattr(params, "max_steps_in_episode", None)
        if hasattr(self._env, "is_truncated"):
            # gymnax >= 1.0: step_env reports natural termination only; the time limit is
            # applied by gymnax's own step(), which the adapter bypasses.
            terminated = jnp.asarray(done)
            truncated = jnp.asarray(self._env.is_truncated(state, params)) & ~terminated
        elif limit is not None and hasattr(state, "time"):
            truncated = done & (state.time >= limit)
            terminated = done & ~truncated
        else:
            truncated = jnp.array(False)
            terminated = done
        reward = jnp.asarray(reward, jnp.float32)[None]
        return state, jnp.asarray(obs)[None], reward, terminated, truncated

    def __repr__(self) -> str:
        return f"gymnax:{self.name}"


def make_gymnax(name: str, **options: Any) -> GymnaxEnv:
    return GymnaxEnv(name, **options)
