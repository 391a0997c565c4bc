"""Variable n-back (``n_back-v0``): a single-agent memory task.

Each step shows one of ``K`` symbols as a one-hot vector. A hidden ``n`` in ``1..max_n`` is
drawn per episode and never shown. For ``t >= n`` the correct answer is ``match`` when the
symbol equals the one ``n`` steps earlier (a match is generated with probability
``p_match``), before that it is ``no_match``. Reward 1 for a correct answer, else 0. The
agent has to infer ``n`` from its rewards.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from flax import struct
from pydantic import Field, model_validator

from pmarl_bench.envs.base import Environment, EnvOptions, ScoreLevels
from pmarl_bench.envs.spaces import Box, Discrete

NO_MATCH, MATCH = 0, 1


class NBackOptions(EnvOptions):
    num_symbols: int = Field(8, ge=2, description="alphabet size K")
    max_n: int = Field(4, ge=1, description="n is drawn uniformly from 1..max_n per episode")
    episode_length: int = Field(64, ge=1)

    @model_validator(mode="after")
    def _n_fits(self):
        if self.max_n >= self.episode_length:
            raise ValueError("max_n must be smaller than episode_length")
        return self


@struct.dataclass
class NBackParams:
    p_match: jax.Array = struct.field(default_factory=lambda: jnp.float32(0.5))


class NBackState(NamedTuple):
    history: jax.Array  # [max_n] int32 ring buffer: symbol of step s sits at s % max_n
    symbol: jax.Array  # int32, the symbol shown now
    label: jax.Array  # bool, whether the correct answer now is `match`
    n: jax.Array  # int32, hidden lag of this episode
    t: jax.Array  # int32, step index within the episode


class NBack(Environment[NBackState, NBackParams]):
    Options = NBackOptions
    action_names = ("no_match", "match")

    def __init__(self, **options):
        super().__init__(**options)
        o = self.options
        self.num_agents = 1
        self.observation_space = Box(0.0, 1.0, (o.num_symbols,), "float32")
        self.action_space = Discrete(2)
        self.max_episode_steps = o.episode_length

    @property
    def default_params(self) -> NBackParams:
        return NBackParams()

    def score_levels(self, params: NBackParams | None = None) -> ScoreLevels:
        """Chance: 1/2 per step. Memoryless: per step, the better of the two answers for a
        policy that knows the step index but not the past symbols (exact for p_match <= 1/2,
        an upper bound above). Optimal: every answer right."""
        p = float((params or self.default_params).p_match)
        o = self.options
        memoryless = 0.0
        for t in range(o.episode_length):
            p_after_n = min(t, o.max_n) / o.max_n  # P(t >= n), n ~ U{1..max_n}
            p_label_match = p_after_n * p
            memoryless += max(p_label_match, 1.0 - p_label_match)
        return ScoreLevels(0.5 * o.episode_length, memoryless, float(o.episode_length))

    def _next_symbol(self, u: jax.Array, t, n, history, p_match):
        """Draw the symbol of step ``t`` from two uniforms; returns (symbol, label).

        ``u[1]`` picks either a symbol other than the one ``n`` steps back (t >= n) or any
        symbol (t < n); only one of the two is ever used, so they share it."""
        k = self.options.num_symbols
        earlier = history[(t - n) % self.options.max_n]
        other = jnp.minimum((u[1] * (k - 1)).astype(jnp.int32), k - 2)
        other = other + (other >= earlier)  # any symbol but `earlier`, uniformly
        anything = jnp.minimum((u[1] * k).astype(jnp.int32), k - 1)
        label = (t >= n) & (u[0] < p_match)
        symbol = jnp.where(t >= n, jnp.where(label, earlier, other), anything)
        return symbol, label

    def _obs(self, symbol):
        return jax.nn.one_hot(symbol, self.options.num_symbols, dtype=jnp.float32)[None]

    def reset_env(self, key, params):
        return self._reset(jax.random.uniform(key, (2,)), params)

    def step_env(self, key, state, actions, params):
        return self._step(jax.random.uniform(key, (2,)), state, actions, params)

    def step_and_reset(self, key, state, actions, params):
        u = jax.random.uniform(key, (4,))  # one draw for both: the step is cheap, RNG is not
        return self._step(u[:2], state, actions, params), self._reset(u[2:], params)

    def _reset(self, u, params):
        o = self.options
        # At t = 0 < n the match coin u[0] is never read, so it can draw n.
        n = 1 + jnp.minimum((u[0] * o.max_n).astype(jnp.int32), o.max_n - 1)
        history = jnp.zeros((o.max_n,), jnp.int32)
        t = jnp.int32(0)
        symbol, label = self._next_symbol(u, t, n, history, params.p_match)
        state = NBackState(history.at[0].set(symbol), symbol, label, n, t)
        return state, self._obs(symbol)

    def _step(self, u, state, actions, params):
        reward = (actions[0] == state.label.astype(jnp.int32)).astype(jnp.float32)[None]
        t = state.t + 1
        symbol, label = self._next_symbol(u, t, state.n, state.history, params.p_match)
        history = state.history.at[t % self.options.max_n].set(symbol)
        new_state = NBackState(history, symbol, label, state.n, t)
        truncated = t >= self.options.episode_length
        return new_state, self._obs(symbol), reward, jnp.array(False), truncated
