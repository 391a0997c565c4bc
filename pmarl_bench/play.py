"""``play``: a person controls one agent with the keyboard; the others follow a trained
policy (when a cell is given) or act at random. One env step per key press. The window shows
what the person's agent observes (``inspect``: the whole scene, hidden state included, which
on a memory task gives the answer away).

Keys: arrows or WASD move, space attacks, E digs, ``.`` stays (where the env has the action);
in n-back M answers match and N no match; R starts a new episode, Esc or Q quits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

from pmarl_bench import video, viewer
from pmarl_bench.agents import policy
from pmarl_bench.errors import ConfigError
from pmarl_bench.types import AgentInput

#: pygame key name -> action name
KEYS = {
    "up": "up", "w": "up", "right": "right", "d": "right", "down": "down", "s": "down",
    "left": "left", "a": "left", "space": "attack", "e": "dig", ".": "stay",
    "m": "match", "n": "no_match",
}  # fmt: skip


_KEY_NAMES = {"up": "↑", "right": "→", "down": "↓", "left": "←", "space": "Space", ".": "."}


@dataclass
class Game:
    """The host side of play: one env, the person's agent and everyone else's policy."""

    env: object
    env_params: object
    player: int
    agent: object = None  # the others' policy (None: uniform random actions)
    params: object = None
    seed: int = 0
    pov: bool = False
    inspect: bool = False  # the whole scene (hidden state too), not only what the agent sees
    frames: list = field(default_factory=list)
    episode_return: float = 0.0

    def __post_init__(self):
        env = self.env
        video.require_renderer(env, self.env_params)
        if not 0 <= self.player < env.num_agents:
            raise ConfigError(
                f"agent {self.player} does not exist; agents: 0..{env.num_agents - 1}", "--agent"
            )
        self._key = jax.random.key(self.seed)
        self._step = jax.jit(self._step_fn)
        self._draw = jax.jit(self._draw_fn)
        self._reset = jax.jit(lambda k: env.reset(k, self.env_params))
        self.new_episode()

    def action_index(self, key_name: str) -> int | None:
        name = KEYS.get(key_name)
        names = list(self.env.action_names)
        return names.index(name) if name in names else None

    def new_episode(self) -> None:
        self._key, k = jax.random.split(self._key)
        self.state, self.ts = self._reset(k)
        A = self.env.num_agents
        self.memory = self.agent.initial_carry(A) if self.agent is not None else None
        self.start = jnp.ones((A,), bool)
        self.t, self.episode_return, self.last_return = 0, 0.0, None
        self.frames.append(self.frame())

    def act(self, action: int) -> float:
        """One env step with the person's ``action``; returns the person's reward."""
        self._key, k = jax.random.split(self._key)
        self.state, self.ts, self.memory, self.start = self._step(
            self.state, self.ts, self.memory, self.start, k, jnp.int32(action)
        )
        reward = float(self.ts.reward[self.player])
        self.episode_return += reward
        self.t += 1
        if bool(self.ts.terminated | self.ts.truncated):  # the env already began the next one
            self.last_return, self.t, self.episode_return = self.episode_return, 0, 0.0
        self.frames.append(self.frame())
        return reward

    def _step_fn(self, state, ts, memory, start, key, action):
        env, A = self.env, self.env.num_agents
        key_act, key_env = jax.random.split(key)
        if self.agent is not None:
            inputs = AgentInput(ts.obs, ts.prev_action, ts.prev_reward, start)
            memory, others, _, _ = policy.act(
                self.agent, self.params, memory, inputs, ts.action_mask, key_act
            )
        else:
            others = policy.choose(key_act, policy.uniform_logits(ts.action_mask))
        allowed = ts.action_mask[self.player, action]
        mine = jnp.where(allowed, action, others[self.player])  # a masked action: as the policy
        actions = others.at[self.player].set(mine)
        state, ts = env.step(key_env, state, actions, self.env_params)
        return state, ts, memory, jnp.full((A,), ts.terminated | ts.truncated)

    def _draw_fn(self, state):
        px = video.cell_size(self.env)
        if not self.inspect:  # what the agent observes, and nothing it does not
            return self.env.render_pov(state, self.player, cell_px=2 * px), None, None
        img = self.env.render(state, self.env_params, cell_px=px)
        pov = self.env.render_pov(state, self.player, cell_px=2 * px) if self.pov else None
        positions = self.env.positions(state)
        return img, pov, positions

    def frame(self) -> np.ndarray:
        img, pov, positions = jax.device_get(self._draw(self.state))  # one compiled program
        rec = video.Recording(
            img[None],
            None if pov is None else pov[None],
            None if positions is None else positions[None],
            np.zeros((1, self.env.num_agents)),
            np.array([self.t]),
            [],
            video.cell_size(self.env),
        )
        last = "" if self.last_return is None else f"  last episode {self.last_return:.2f}"
        header = f"t={self.t}  you (agent {self.player}): {self.episode_return:.2f}{last}"
        return video.annotate(rec, headers=[header])[0]

    def key_help(self) -> str:
        """The keys this env's actions have, e.g. 'M match, N no_match, R new episode, ...'."""
        names = list(self.env.action_names)
        keys: dict[str, list[str]] = {}
        for key, action in KEYS.items():
            if action in names:
                keys.setdefault(action, []).append(_KEY_NAMES.get(key, key.upper()))
        shown = [
            f"{'/'.join(k)} {a}" for a, k in sorted(keys.items(), key=lambda x: names.index(x[0]))
        ]
        return ", ".join([*shown, "R new episode", "Esc or Q quit"])

    @property
    def position(self) -> tuple[int, int]:  # grid tasks
        return tuple(int(v) for v in np.asarray(self.env.positions(self.state))[self.player])


def run_window(game: Game, on_ready: Callable[[], None] | None = None, scale: int = 2) -> None:
    """Show the game and step it on key presses until Esc, Q or the window closes."""

    def on_key(name: str) -> bool:
        if name == "q":
            return False
        if name == "r":
            game.new_episode()
        elif (action := game.action_index(name)) is not None:
            game.act(action)
        return True

    viewer.window(lambda: game.frames[-1], f"pmarl-bench play: agent {game.player}",
                  on_key=on_key, on_ready=on_ready, scale=scale, command="play")  # fmt: skip
