"""Rollout videos of a trained policy.

One jitted program plays the episodes and renders every frame on the device (the env's
``render`` and, optionally, one agent's point of view); the host then adds the overlays (step,
each agent's reward so far, agent ids) and encodes MP4 (imageio-ffmpeg) or GIF (Pillow).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import imageio.v3 as iio
import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from pmarl_bench.agents import policy
from pmarl_bench.envs.base import Environment
from pmarl_bench.errors import ConfigError
from pmarl_bench.types import AgentInput

CELL_PX = 8  # the smallest map cell, in pixels


def cell_size(env) -> int:
    """Pixels per map cell: about 320 pixels across the map, 8 to 24 per cell (16 for an env
    without a map, such as n-back)."""
    o = env.options
    side = max(getattr(o, "height", 0), getattr(o, "width", 0))
    return int(min(24, max(CELL_PX, 320 // side))) if side else 16


HEADER_PX = 16
FORMATS = (".mp4", ".gif")


@dataclass
class Recording:
    frames: np.ndarray  # uint8 [N, H, W, 3]: the map before each step, then after the last
    pov: np.ndarray | None  # uint8 [N, h, w, 3]: one agent's view, if asked for
    positions: np.ndarray | None  # int [N, A, 2] agent cells (grid envs)
    reward_so_far: np.ndarray  # float [N, A] within the current episode
    step: np.ndarray  # int [N] step within the current episode
    episode_returns: list[np.ndarray]  # per episode: [A] return of each agent
    cell_px: int = CELL_PX  # pixels per map cell in ``frames``


def record(
    env,
    env_params,
    agent,
    params,
    key: jax.Array,
    episodes: int = 1,
    deterministic: bool = False,
    pov: int | None = None,
    cell_px: int | None = None,
    steps: int | None = None,
) -> Recording:
    """Play ``episodes`` episodes with every agent acting from ``params`` and render them
    (only the first ``steps`` steps, if given)."""
    require_renderer(env, env_params)
    if env.max_episode_steps is None:
        raise ConfigError(f"{env!r} cannot be recorded (episodes have no fixed length)")
    if pov is not None and not 0 <= pov < env.num_agents:
        raise ConfigError(f"agent {pov} does not exist; agents: 0..{env.num_agents - 1}", "--pov")
    length = env.max_episode_steps
    A = env.num_agents
    cell_px = cell_px or cell_size(env)

    def frame(state):
        img = env.render(state, env_params, cell_px=cell_px)
        view = env.render_pov(state, pov, cell_px=2 * cell_px) if pov is not None else None
        positions = env.positions(state)
        return img, view, positions

    def play(params, key):
        key_reset, key_scan = jax.random.split(key)
        state, ts = env.reset(key_reset, env_params)

        def body(carry, key):
            state, ts, memory, start, so_far, t = carry
            key_act, key_env = jax.random.split(key)
            shown = frame(state)
            inputs = AgentInput(ts.obs, ts.prev_action, ts.prev_reward, start)
            memory, action, _, _ = policy.act(
                agent, params, memory, inputs, ts.action_mask, key_act, deterministic
            )
            state, ts = env.step(key_env, state, action, env_params)
            done = ts.terminated | ts.truncated
            so_far_before, t_before = so_far, t
            so_far = so_far + ts.reward
            out = (shown, so_far_before, t_before, jnp.where(done, so_far, jnp.nan))
            so_far = jnp.where(done, 0.0, so_far)
            t = jnp.where(done, 0, t + 1)
            return (state, ts, memory, jnp.full((A,), done), so_far, t), out

        carry = (state, ts, agent.initial_carry(A), jnp.ones((A,), bool),
                 jnp.zeros((A,), jnp.float32), jnp.int32(0))  # fmt: skip
        carry, (shown, so_far, t, ended) = jax.lax.scan(
            body, carry, jax.random.split(key_scan, steps or episodes * length)
        )
        return shown, so_far, t, ended

    shown, so_far, t, ended = jax.device_get(jax.jit(play)(params, key))
    frames, views, positions = shown
    ended = np.asarray(ended)
    returns = [row for row in ended if np.isfinite(row).all()]
    return Recording(
        np.asarray(frames),
        None if views is None else np.asarray(views),
        None if positions is None else np.asarray(positions),
        np.asarray(so_far),
        np.asarray(t),
        returns,
        cell_px,
    )


def require_renderer(env, env_params) -> None:
    """A one-line error unless ``env`` renders (traced only, nothing is compiled)."""
    if not isinstance(env, Environment):  # a multi-task batch renders one task at a time
        raise ConfigError(f"{env!r} has no renderer; record one of its tasks (--task)")
    try:
        jax.eval_shape(lambda s: env.render(s, env_params), _abstract_state(env, env_params))
    except NotImplementedError as err:
        raise ConfigError(str(err)) from None


def _abstract_state(env, env_params):
    return jax.eval_shape(lambda k: env.reset(k, env_params)[0], jax.random.key(0))


def annotate(rec: Recording, headers: list[str] | None = None) -> np.ndarray:
    """Frames with a header (step, each agent's reward so far, or ``headers``), agent ids on
    the map, and the point-of-view panel beside it: ``uint8 [N, H', W', 3]``."""
    font = ImageFont.load_default()
    cell_px = rec.cell_px
    out = []
    for i, img in enumerate(rec.frames):
        h, w, _ = img.shape
        pov = rec.pov[i] if rec.pov is not None else None
        width = w + (pov.shape[1] + 4 if pov is not None else 0)
        height = max(h, pov.shape[0] if pov is not None else 0) + HEADER_PX
        canvas = Image.new("RGB", (width, height), (20, 20, 20))
        canvas.paste(Image.fromarray(img), (0, HEADER_PX))
        if pov is not None:
            canvas.paste(Image.fromarray(pov), (w + 4, HEADER_PX))
        draw = ImageDraw.Draw(canvas)
        rewards = " ".join(f"{a}:{r:.2f}" for a, r in enumerate(rec.reward_so_far[i]))
        header = headers[i] if headers else f"t={int(rec.step[i])}  reward {rewards}"
        draw.text((2, 2), header, fill=(240, 240, 240), font=font)
        if rec.positions is not None:
            for a, (row, col) in enumerate(rec.positions[i]):
                draw.text((col * cell_px + 1, HEADER_PX + row * cell_px - 3), str(a),
                          fill=(255, 255, 255), font=font)  # fmt: skip
        out.append(np.asarray(canvas))
    return np.stack(out)


def check_path(path: str | Path) -> Path:
    """``path`` as a video file to write: a known extension, not a folder, and a folder
    that can take it; a one-line ``ConfigError`` otherwise (before any recording)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ConfigError(f"unsupported video format {suffix!r}; use {' or '.join(FORMATS)}",
                          "--video-path")  # fmt: skip
    if path.is_dir():
        raise ConfigError(f"{path} is a folder; give a file name", "--video-path")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(f"cannot create {path.parent}: {err.strerror}", "--video-path") from None
    return path


def write_video(path: str | Path, frames: np.ndarray, fps: int = 12) -> Path:
    """Encode ``frames [N, H, W, 3]`` as MP4 or GIF (by the file's extension)."""
    path = check_path(path)
    suffix = path.suffix.lower()
    if suffix == ".gif":
        path.write_bytes(gif_bytes(frames, fps))
    else:
        _write_mp4(path, _even(frames), fps)  # H.264 in yuv420p needs even sides
    return path


def gif_bytes(frames: np.ndarray, fps: int = 12) -> bytes:
    """``frames [N, H, W, 3]`` as an endlessly looping GIF file's bytes."""
    return iio.imwrite("<bytes>", frames, extension=".gif", duration=1000 / fps, loop=0)


def _write_mp4(path: Path, frames: np.ndarray, fps: int) -> None:
    import imageio.v2 as iio2

    with iio2.get_writer(path, format="FFMPEG", fps=fps, codec="libx264", quality=7,
                         macro_block_size=1, pixelformat="yuv420p") as writer:  # fmt: skip
        for f in frames:
            writer.append_data(f)


def _even(frames: np.ndarray) -> np.ndarray:
    _, h, w, _ = frames.shape
    return np.pad(frames, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)))
