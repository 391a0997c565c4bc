"""Ctrl-C (SIGINT) and SIGTERM (a scheduler's preemption): stop at once, or, while a cell
trains, at the end of the running chunk, once its state is saved.

The first signal counts; later ones are ignored (``uv run`` forwards the same Ctrl-C again,
and a second one must not land in the middle of the clean-up)."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator

_pending: int | None = None
_deferring = False


class Interrupted(KeyboardInterrupt):
    """A stop asked for by a signal; ``exit_code`` is 128 + its number (130 for SIGINT)."""

    def __init__(self, signum: int = signal.SIGINT):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def _handler(signum, frame) -> None:
    global _pending
    if _pending is not None:
        return
    _pending = signum
    if not _deferring:
        raise Interrupted(signum)


def install(extra: tuple[int, ...] = ()) -> None:
    """Handle SIGINT, SIGTERM and the ``extra`` signals (a SLURM job's time-limit warning) as
    described above (call once, in the main thread)."""
    for signum in (signal.SIGINT, signal.SIGTERM, *extra):
        signal.signal(signum, _handler)


def defer(on: bool) -> None:
    """While on, a signal only sets ``pending()``: whoever deferred it must ``check()``."""
    global _deferring
    _deferring = on


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """A write that a signal must not cut in half (a checkpoint: orbax writes from threads):
    a signal during it waits for its end, then stops as usual."""
    global _deferring
    before = _deferring
    _deferring = True
    try:
        yield
    finally:
        _deferring = before
    if not before:
        check()


def check() -> None:
    """Raise ``Interrupted`` if a signal asked to stop."""
    if _pending is not None:
        raise Interrupted(_pending)


def pending() -> int | None:
    """The signal that asked to stop, if one did."""
    return _pending


def reset() -> None:
    """Forget a handled signal (tests, and a process that goes on after one)."""
    global _pending, _deferring
    _pending, _deferring = None, False
