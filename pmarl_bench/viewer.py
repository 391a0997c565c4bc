"""The pygame window: watching frames (``enjoy``) and playing (``play``) share one loop."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

import numpy as np

from pmarl_bench.errors import ConfigError, import_extra


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
    remaining = iter(frames)
    window(lambda: next(remaining, None), title, fps=fps, scale=scale)


def window(
    draw: Callable[[], np.ndarray | None],
    title: str = "pmarl-bench",
    *,
    fps: int | None = None,
    on_key: Callable[[str], bool] | None = None,
    on_ready: Callable[[], None] | None = None,
    scale: int = 2,
    command: str = "enjoy",
) -> None:
    """The package's one pygame loop. ``draw()`` gives the frame to show (``uint8 [H, W,
    3]``; None: nothing more, the window closes). With ``fps`` the frames follow each other
    at that rate (``enjoy``); without, the window waits for a key and draws again after each
    (``play``). ``on_key(name)`` handles a key press and returns False to close. Esc or
    closing the window always closes; ``on_ready`` runs once the first frame is up.
    ``command``: whose hint a missing display names."""
    require_display(command)
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    pygame = import_extra("pygame", "play", f"{command}'s window")

    pygame.display.init()
    try:
        frame = draw()
        if frame is None:
            return
        h, w, _ = frame.shape
        screen = pygame.display.set_mode((w * scale, h * scale))
        pygame.display.set_caption(title)

        def blit(frame: np.ndarray) -> None:
            surface = pygame.surfarray.make_surface(np.swapaxes(frame, 0, 1))
            screen.blit(pygame.transform.scale(surface, (w * scale, h * scale)), (0, 0))
            pygame.display.flip()

        blit(frame)
        if on_ready is not None:
            on_ready()
        clock = pygame.time.Clock()
        while True:
            events = pygame.event.get() if fps else [pygame.event.wait()]
            pressed = False
            for event in events:
                if event.type == pygame.QUIT:
                    return
                if event.type == pygame.KEYDOWN:
                    name = pygame.key.name(event.key)
                    if name == "escape" or (on_key is not None and not on_key(name)):
                        return
                    pressed = True
            if fps or pressed:
                frame = draw()
                if frame is None:
                    return
                blit(frame)
            if fps:
                clock.tick(fps)
    finally:
        pygame.display.quit()
