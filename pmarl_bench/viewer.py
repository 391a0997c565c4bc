"""A pygame window for watching frames (``enjoy``) and, later, for playing (``play``)."""

from __future__ import annotations

import os
import sys

import numpy as np

from pmarl_bench.errors import ConfigError


def has_display() -> bool:
    """Whether a window can open: a desktop session, or an explicit SDL video driver."""
    if os.environ.get("SDL_VIDEODRIVER"):
        return True
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


#: what to do without a display, by command
NO_DISPLAY_HINTS = {
    "enjoy": ("write a file instead with --video-path out.mp4", "--video-path"),
    "play": (
        "play needs a window for your key presses (--video-path only saves a copy of what you "
        "played); run it in a desktop session, or record a trained cell with "
        "`pmarl-bench enjoy SUITE/ENV/AGENT --video-path out.mp4`",
        None,
    ),
}


def require_display(command: str = "enjoy") -> None:
    if not has_display():
        hint, where = NO_DISPLAY_HINTS[command]
        raise ConfigError(f"no display to open a window on; {hint}", where)


def show(frames: np.ndarray, fps: int = 12, title: str = "pmarl-bench", scale: int = 2) -> None:
    """Play ``frames [N, H, W, 3]`` in a window; Esc or closing the window stops."""
    require_display()
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    import pygame

    pygame.display.init()
    try:
        _, h, w, _ = frames.shape
        screen = pygame.display.set_mode((w * scale, h * scale))
        pygame.display.set_caption(title)
        clock = pygame.time.Clock()
        for frame in frames:
            for event in pygame.event.get():
                if event.type == pygame.QUIT or (
                    event.type == pygame.KEYDOWN and event.key == pygame.K_ESCAPE
                ):
                    return
            surface = pygame.surfarray.make_surface(np.swapaxes(frame, 0, 1))
            screen.blit(pygame.transform.scale(surface, (w * scale, h * scale)), (0, 0))
            pygame.display.flip()
            clock.tick(fps)
    finally:
        pygame.display.quit()
