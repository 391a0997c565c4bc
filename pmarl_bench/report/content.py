"""The contract of a report section: a module with

    load(results: Results) -> data or None     # what it needs (None: nothing to show)
    section(data, context: Context) -> Content # its page sections, figures and tables

``report.build`` calls the registered sections in page order and alone writes files, so a
new analysis is one module and one line in ``report.sections.SECTIONS``."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
from matplotlib.figure import Figure

from pmarl_bench.report import plots, stats
from pmarl_bench.report.pages import Section


@dataclass
class Content:
    """What a section adds to the report: its parts of the page, figures (written as PNG and
    SVG under their names), CSV tables (6 significant digits) and other files (text or
    bytes), by file name."""

    sections: list[Section] = field(default_factory=list)
    figures: dict[str, Figure] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    files: dict[str, str | bytes] = field(default_factory=dict)

    def figure(self, name: str, fig: Figure) -> str:
        """Add ``fig`` as ``name`` (PNG + SVG); returns the name, for a ``Section``."""
        self.figures[name] = fig
        return name


@dataclass(frozen=True)
class Context:
    """What every section shares: the bootstrap's resamples and each agent's colour."""

    reps: int = stats.REPS
    colors: dict[str, tuple] = field(default_factory=dict)

    @classmethod
    def of(cls, agents: list[str], reps: int) -> Context:
        return cls(reps, plots.palette(agents))
