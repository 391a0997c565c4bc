"""Progress of long work, one line per cell: live bars on a terminal, plain lines elsewhere
(a pipe, a batch job's log): one when a cell enters a new phase (queued, compiling, training,
evaluating, done), one when its steps first move, then one at most every ``PLAIN_EVERY``
seconds."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Protocol

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Column
from rich.text import Text

#: phases of a cell; a plain log gets a line whenever the phase changes
QUEUED, COMPILE, TRAIN, EVALUATE, DONE = "queued", "compile", "train", "evaluate", "done"

#: a plain log gets at most one line per cell this often (seconds) within a phase
PLAIN_EVERY = 30.0


class Report(Protocol):
    """``report(env_steps_done, info, total_env_steps, phase)``: a cell's progress."""

    def __call__(self, env_steps: int, info: str, total: int, phase: str = TRAIN) -> None: ...


class _PhaseClock(ProgressColumn):
    """How long the current phase has run, e.g. 'compiling 0:42' (compilation blocks the
    training loop, so nothing else moves meanwhile)."""

    def render(self, task: Task) -> Text:
        since = task.fields.get("since")
        if task.fields.get("phase") != COMPILE or since is None:
            return Text("")
        return Text(f"compiling {clock(time.monotonic() - since)}", style="yellow")


class ProgressDisplay:
    """One progress line per name (hidden with ``visible=False``). Names are never cut: on a
    terminal the info column wraps instead."""

    def __init__(self, console: Console, names: Iterable[str] = (), visible: bool = True):
        self.console, self.visible = console, visible
        self.live = visible and console.is_terminal
        width = max((len(n) for n in names), default=0)
        columns = (
            SpinnerColumn(),
            TextColumn("[bold]{task.description}", table_column=Column(no_wrap=True,
                                                                        min_width=width)),
            BarColumn(bar_width=20),
            TextColumn("{task.fields[info]}", table_column=Column(overflow="fold")),
            _PhaseClock(),
            TimeElapsedColumn(),
        )  # fmt: skip
        self.progress = Progress(*columns, console=console, disable=not self.live)

    def __enter__(self) -> ProgressDisplay:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.__exit__(*exc)

    def reporter(self, name: str, info: str = "") -> Report:
        if self.live:
            task = self.progress.add_task(name, total=None, info=info, phase=QUEUED, since=None)
            last = {"phase": QUEUED}

            def report(env_steps: int, info: str, total: int, phase: str = TRAIN) -> None:
                since = {}
                if phase != last["phase"]:
                    last["phase"] = phase
                    since = {"since": time.monotonic()}
                self.progress.update(
                    task, completed=env_steps, total=total, info=info, phase=phase, **since
                )

            return report
        return self._plain(name, info)

    def _plain(self, name: str, info: str) -> Report:
        last = {"at": -float("inf"), "phase": QUEUED, "steps": 0, "moved": False}
        if self.visible and info:
            self._line(name, info)

        def report(env_steps: int, info: str, total: int, phase: str = TRAIN) -> None:
            now = time.monotonic()
            # the first line of a phase, the first that shows its steps moving, then every
            # PLAIN_EVERY seconds
            first_move = not last["moved"] and env_steps != last["steps"]
            if phase != last["phase"] or first_move or now - last["at"] >= PLAIN_EVERY:
                moved = phase == last["phase"] and env_steps != last["steps"]
                last.update(at=now, phase=phase, steps=env_steps, moved=moved)
                if self.visible:
                    self._line(name, info)

        return report

    def _line(self, name: str, info: str) -> None:
        self.console.print(f"{name}: {info}", highlight=False, soft_wrap=True, markup=False)


def human(x: float) -> str:
    """1234567 -> '1.23M'."""
    for unit, size in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= size:
            return f"{x / size:.3g}{unit}"
    return f"{x:.3g}"


def clock(seconds: float) -> str:
    """95 -> '1:35', 3725 -> '1:02:05'."""
    s = max(int(seconds), 0)
    h, rest = divmod(s, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"
