"""Progress of long work, one line per cell: live bars on a terminal, plain lines elsewhere
(a pipe, a batch job's log), where a bar would only be drawn once, cut at 80 columns."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Column

#: ``report(env_steps_done, info, total_env_steps)``: a cell's progress
Report = Callable[[int, str, int], None]

#: a plain log gets a line each time a cell passes another tenth of its steps
PLAIN_STEPS = 10


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
            task = self.progress.add_task(name, total=None, info=info)

            def report(env_steps: int, info: str, total: int) -> None:
                self.progress.update(task, completed=env_steps, total=total, info=info)

            return report
        return self._plain(name, info)

    def _plain(self, name: str, info: str) -> Report:
        last = {"step": -1, "info": None}
        if self.visible and info:
            self._line(name, info)

        def report(env_steps: int, info: str, total: int) -> None:
            step = env_steps * PLAIN_STEPS // total if total else 0
            stage_changed = env_steps in (0, total) and info != last["info"]
            if step > last["step"] or stage_changed:
                last.update(step=step, info=info)
                if self.visible:
                    self._line(name, info)

        return report

    def _line(self, name: str, info: str) -> None:
        self.console.print(f"{name}: {info}", highlight=False, soft_wrap=True, markup=False)


def human(x: float) -> str:
    """1234567 -> '1.23M'."""
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= size:
            return f"{x / size:.3g}{unit}"
    return f"{x:.3g}"
