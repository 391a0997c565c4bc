"""Progress in a batch log (plain lines: phases, the first moving line, then at most one per
30 s) and on a terminal (ETA in the info, compilation with its own clock); the signal rules
of a long run."""

from __future__ import annotations

import io
import signal

import pytest
from rich.console import Console

from pmarl_bench import interrupts, progress
from pmarl_bench.progress import COMPILE, DONE, TRAIN, ProgressDisplay


def test_a_log_gets_phases_the_first_move_then_a_line_per_interval(monkeypatch):
    now = {"t": 0.0}
    monkeypatch.setattr(progress.time, "monotonic", lambda: now["t"])
    out = io.StringIO()
    console = Console(file=out, width=80, force_terminal=False)
    with ProgressDisplay(console, ["env/agent"]) as bars:
        report = bars.reporter("env/agent")
        report(0, "compiling…", 100, COMPILE)
        now["t"] = 40.0
        report(0, "compiled in 40s", 100, TRAIN)
        for step in range(1, 100):  # a report a second
            now["t"] += 1.0
            report(step, f"{step}/100", 100, TRAIN)
        report(100, "100 env steps · return 3", 100, DONE)
    lines = out.getvalue().splitlines()
    assert lines == [
        "env/agent: compiling…",
        "env/agent: compiled in 40s",
        "env/agent: 1/100",  # the first line that shows the steps moving
        "env/agent: 31/100",
        "env/agent: 61/100",
        "env/agent: 91/100",
        "env/agent: 100 env steps · return 3",
    ]


def test_a_terminal_shows_a_compile_clock_and_keeps_names_whole():
    out = io.StringIO()
    console = Console(file=out, width=120, force_terminal=True)
    with ProgressDisplay(console, ["n_back/transformer"]) as bars:
        report = bars.reporter("n_back/transformer")
        report(0, "compiling…", 100, COMPILE)
        bars.progress.refresh()
    text = out.getvalue()
    assert "n_back/transformer" in text and "compiling 0:0" in text


def test_clock_and_human():
    assert progress.clock(95) == "1:35" and progress.clock(3725) == "1:02:05"
    assert progress.human(1_234_567) == "1.23M"


def test_a_deferred_signal_waits_for_a_check_and_later_ones_are_ignored():
    interrupts.reset()
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        interrupts.install()
        interrupts.defer(True)
        signal.raise_signal(signal.SIGTERM)  # while a chunk runs: noted, not raised
        signal.raise_signal(signal.SIGINT)  # a second one (uv forwards Ctrl-C again): ignored
        assert interrupts.pending() == signal.SIGTERM
        interrupts.defer(False)
        with pytest.raises(interrupts.Interrupted) as err:
            interrupts.check()
        assert err.value.exit_code == 143
        interrupts.reset()
        with pytest.raises(interrupts.Interrupted) as err:  # not deferred: at once
            signal.raise_signal(signal.SIGINT)
        assert err.value.exit_code == 130 and isinstance(err.value, KeyboardInterrupt)
    finally:
        interrupts.reset()
        for s, handler in previous.items():
            signal.signal(s, handler)
