"""Variable n-back (``n_back-v0``): a single-agent memory task.

Each step shows one of ``K`` symbols as a one-hot vector. A hidden ``n`` in ``1..max_n`` is
drawn per episode and never shown. For ``t >= n`` the correct answer is ``match`` when the
symbol equals the one ``n`` steps earlier (a match is generated with probability
``p_match``), before that it is ``no_match``. Reward 1 for a correct answer, else 0. The
agent has to infer ``n`` from its rewards.
"""

from __future__ import annotations

import colorsys
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from pydantic import Field, model_validator

from pmarl_bench.envs.base import Environment, EnvOptions, ScoreLevels, TaskCard
from pmarl_bench.envs.spaces import Box, Discrete
from pmarl_bench.types import Array, PRNGKey

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
    #: the probability that a step's symbol repeats the one n steps back
    p_match: jax.Array = struct.field(
        default_factory=lambda: np.float32(0.5), metadata={"range": (0.0, 1.0)}
    )


class NBackState(NamedTuple):
    history: jax.Array  # [max_n + SHOWN] ring buffer: symbol of step s at s % its size
    symbol: jax.Array  # int32, the symbol shown now
    label: jax.Array  # bool, whether the correct answer now is `match`
    n: jax.Array  # int32, hidden lag of this episode
    t: jax.Array  # int32, step index within the episode
    answers: jax.Array  # [max_n + SHOWN] int8 ring: step s's answer + 2 * correct (-1: none)


#: past steps a rendered frame shows beside the last ``max_n`` (the history ring keeps them;
#: the dynamics read only the symbol ``n`` steps back)
SHOWN = 8


class NBack(Environment[NBackState, NBackParams]):
    Options = NBackOptions
    options: NBackOptions
    action_names = ("no_match", "match")

    def __init__(self, **options):
        super().__init__(**options)
        o = self.options
        self.num_agents = 1
        self.observation_space = Box(0.0, 1.0, (o.num_symbols,), "float32")
        self.action_space = Discrete(2)
        self.max_episode_steps = o.episode_length
        self.ring = o.max_n + SHOWN
        # small rings of small ints: resetting thousands of envs is memory-bound
        self.symbol_dtype = jnp.uint8 if o.num_symbols <= 256 else jnp.int32

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
        earlier = history[(t - n) % self.ring].astype(jnp.int32)
        other = jnp.minimum((u[1] * (k - 1)).astype(jnp.int32), k - 2)
        other = other + (other >= earlier)  # any symbol but `earlier`, uniformly
        anything = jnp.minimum((u[1] * k).astype(jnp.int32), k - 1)
        label = (t >= n) & (u[0] < p_match)
        symbol = jnp.where(t >= n, jnp.where(label, earlier, other), anything)
        return symbol, label

    def _obs(self, symbol):
        return jax.nn.one_hot(symbol, self.options.num_symbols, dtype=jnp.float32)[None]

    def reset_env(self, key: PRNGKey, params: NBackParams) -> tuple[NBackState, Array]:
        return self._reset(jax.random.uniform(key, (2,)), params)

    def step_env(
        self, key: PRNGKey, state: NBackState, actions: Array, params: NBackParams
    ) -> tuple[NBackState, Array, Array, Array, Array]:
        return self._step(jax.random.uniform(key, (2,)), state, actions, params)

    def step_and_reset(self, key: PRNGKey, state: NBackState, actions: Array, params: NBackParams):
        u = jax.random.uniform(key, (4,))  # one draw for both: the step is cheap, RNG is not
        return self._step(u[:2], state, actions, params), self._reset(u[2:], params)

    def _reset(self, u, params):
        o = self.options
        # At t = 0 < n the match coin u[0] is never read, so it can draw n.
        n = 1 + jnp.minimum((u[0] * o.max_n).astype(jnp.int32), o.max_n - 1)
        history = jnp.zeros((self.ring,), self.symbol_dtype)
        t = jnp.int32(0)
        symbol, label = self._next_symbol(u, t, n, history, params.p_match)
        answers = jnp.full((self.ring,), -1, jnp.int8)
        history = history.at[0].set(symbol.astype(self.symbol_dtype))
        state = NBackState(history, symbol, label, n, t, answers)
        return state, self._obs(symbol)

    def _step(self, u, state, actions, params):
        correct = actions[0] == state.label.astype(jnp.int32)
        reward = correct.astype(jnp.float32)[None]
        answer = (actions[0] + 2 * correct).astype(jnp.int8)
        answers = state.answers.at[state.t % self.ring].set(answer)
        t = state.t + 1
        symbol, label = self._next_symbol(u, t, state.n, state.history, params.p_match)
        history = state.history.at[t % self.ring].set(symbol.astype(self.symbol_dtype))
        new_state = NBackState(history, symbol, label, state.n, t, answers)
        truncated = t >= self.options.episode_length
        return new_state, self._obs(symbol), reward, jnp.array(False), truncated

    def memory_layout(self) -> NBackMemory:
        return NBackMemory(self.options.num_symbols, self.options.max_n)

    def card(self) -> TaskCard:
        n = self.options.max_n
        return TaskCard(("sequential recall",), n, f"{n} steps (the hidden n, 1..{n})")

    @property
    def oracle_size(self) -> int:
        return self.options.num_symbols + 1 + self.options.max_n

    def oracle(self, state: NBackState, params: NBackParams) -> Array:
        """One-hot of the symbol shown ``n`` steps ago (the last slot: none yet, ``t < n``),
        then one-hot of ``n``."""
        o = self.options
        back = state.history[(state.t - state.n) % self.ring].astype(jnp.int32)
        back = jnp.where(state.t >= state.n, back, o.num_symbols)
        return jnp.concatenate(
            [jax.nn.one_hot(back, o.num_symbols + 1), jax.nn.one_hot(state.n - 1, o.max_n)]
        )[None]

    # -- rendering -----------------------------------------------------------------------
    def render(self, state: NBackState, params=None, cell_px: int = 16) -> jax.Array:
        """The last ``max_n + SHOWN`` steps, oldest left, the current one right:

        - a piano roll: one row per symbol, the shown symbol's cell lit in its colour;
        - the agent's answers below (filled bar: match, thin bar: no match; green when
          correct, red when wrong; the current step is not answered yet);
        - the hidden ``n`` revealed: the column ``n`` steps before the current one is framed
          in gold, and the bottom row fills ``n`` of ``max_n`` blocks.
        """
        return render_n_back(state, self.options.num_symbols, self.options.max_n, cell_px)

    def render_pov(self, state: NBackState, agent: int = 0, cell_px: int = 16) -> jax.Array:
        """What the agent sees: the current symbol's row lit in one column."""
        k = self.options.num_symbols
        lit = jnp.arange(k) == state.symbol
        return _cells(jnp.where(lit, state.symbol, -1)[:, None], _palette(k), cell_px)


def _palette(k: int) -> np.ndarray:
    """``k`` distinct symbol colours (hues around the wheel) plus a dark background last."""
    hues = np.arange(k) / k
    rgb = [colorsys.hsv_to_rgb(h, 0.65, 0.95) for h in hues]
    return np.array([*rgb, (0.12, 0.12, 0.14)]) * 255


def _cells(ids: jax.Array, palette: np.ndarray, cell_px: int) -> jax.Array:
    """``int [R, C]`` palette indices (-1: background) -> ``uint8 [R * px, C * px, 3]`` with a
    one-pixel grid line."""
    colours = jnp.asarray(palette, jnp.float32)[ids]  # -1 picks the background, last
    img = jnp.repeat(jnp.repeat(colours, cell_px, 0), cell_px, 1)
    edge = (jnp.arange(img.shape[0]) % cell_px == 0)[:, None] | (
        jnp.arange(img.shape[1]) % cell_px == 0
    )[None, :]
    return jnp.where(edge[..., None], 60.0, img).astype(jnp.uint8)


def render_n_back(state: NBackState, k: int, max_n: int, cell_px: int) -> jax.Array:
    ring = state.history.shape[0]
    cols = jnp.arange(ring)
    step = state.t - (ring - 1) + cols  # the step shown in each column
    valid = step >= 0
    slot = step % ring
    symbols = jnp.where(valid, state.history[slot].astype(jnp.int32), -1)
    roll = jnp.where(jnp.arange(k)[:, None] == symbols[None, :], symbols[None, :], -1)
    # answer row: palette entries after the symbols: wrong-no, wrong-match, right-no, right-match
    answer = jnp.where(valid & (step < state.t), state.answers[slot].astype(jnp.int32), -1)
    extra = np.array([(150, 60, 60), (220, 60, 60), (60, 140, 70), (70, 210, 90), (236, 178, 28)])
    palette = np.concatenate([_palette(k)[:-1], extra, _palette(k)[-1:]])
    answer_ids = jnp.where(answer >= 0, k + answer, -1)
    n_row = jnp.where((cols < max_n) & (cols < state.n), k + 4, -1)
    ids = jnp.concatenate([roll, jnp.full((1, ring), -1), answer_ids[None], n_row[None]])
    img = _cells(ids, palette, cell_px)
    # a thin bar for "no match" answers: blank the upper part of their cells
    y = jnp.arange(img.shape[0])[:, None]
    x_col = (jnp.arange(img.shape[1]) // cell_px)[None, :]
    answer_top = (k + 1) * cell_px
    thin = (answer[x_col] % 2 == 0) & (y >= answer_top) & (y < answer_top + cell_px * 2 // 3)
    img = jnp.where(thin[..., None], jnp.uint8(31), img)
    # the hidden n revealed: frame the column n steps before the current one in gold
    back = jnp.int32(ring - 1) - state.n
    x = jnp.arange(img.shape[1])[None, :]
    inside = (x >= back * cell_px) & (x < (back + 1) * cell_px) & (y < k * cell_px)
    border = inside & (
        (x % cell_px < 2) | (x % cell_px >= cell_px - 2) | (y < 2) | (y >= k * cell_px - 2)
    )
    dark = img.astype(jnp.int32).sum(-1) < 100
    now = (x_col == ring - 1) & (y < k * cell_px) & dark
    img = jnp.where(now[..., None], jnp.uint8(70), img)  # the current column, lightened
    return jnp.where(border[..., None], jnp.asarray([236, 178, 28], jnp.uint8), img)


class NBackRecord(NamedTuple):
    past: jax.Array  # int32 [1, max_n] the symbols 1..max_n steps back (-1: none yet)
    consistent: jax.Array  # bool [1, max_n] whether each n agrees with every reward so far
    symbol: jax.Array  # int32 [1] the symbol the next answer is about
    t: jax.Array  # int32 [1] steps answered


class NBackMemory:
    """n-back's perfect-memory record (``observe: oracle_memory``): the last ``max_n``
    symbols, and, for each candidate ``n``, whether every answer's reward so far agrees with
    it (all an agent that remembered its symbols, answers and rewards could know of ``n``,
    which is never shown)."""

    def __init__(self, num_symbols: int, max_n: int):
        self.k, self.max_n = num_symbols, max_n
        self.cap = max_n

    def spaces(self) -> dict[str, Box]:
        return {
            "memory_symbols": Box(0.0, 1.0, (self.max_n, self.k + 1), "float32"),
            "memory_consistent": Box(0.0, 1.0, (self.max_n,), "float32"),
        }

    def init(self, obs, state, params) -> NBackRecord:
        return NBackRecord(
            jnp.full((1, self.max_n), -1, jnp.int32),
            jnp.ones((1, self.max_n), bool),
            jnp.argmax(obs, -1).astype(jnp.int32),
            jnp.zeros((1,), jnp.int32),
        )

    def update(self, memory: NBackRecord, obs, actions, reward, state) -> NBackRecord:
        lags = jnp.arange(1, self.max_n + 1)
        # the right answer under each n: match iff t >= n and the symbol repeats n back
        match = (memory.t[:, None] >= lags) & (memory.past == memory.symbol[:, None])
        rewarded = reward[:, None] > 0
        agrees = (match == (actions[:, None] == MATCH)) == rewarded
        past = jnp.concatenate([memory.symbol[:, None], memory.past[:, :-1]], -1)
        symbol = jnp.argmax(obs, -1).astype(jnp.int32)
        return NBackRecord(past, memory.consistent & agrees, symbol, memory.t + 1)

    def observe(self, memory: NBackRecord, state) -> dict[str, jax.Array]:
        symbols = jax.nn.one_hot(jnp.where(memory.past < 0, self.k, memory.past), self.k + 1)
        return {
            "memory_symbols": symbols.astype(jnp.float32),
            "memory_consistent": memory.consistent.astype(jnp.float32),
        }
