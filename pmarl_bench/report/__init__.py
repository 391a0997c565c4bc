"""``pmarl-bench report``: comparison plots and statistics from the result tables, one module
per section (``report.sections``); no JAX. Videos of trained policies are a section from the
layer above (``pmarl_bench.rollouts``) that the ``report`` command adds.

``build_report`` is imported on first use, so ``report.stats`` and ``report.results`` load
without matplotlib."""

from __future__ import annotations

from typing import Any

__all__ = ["build_report"]


def __getattr__(name: str) -> Any:
    if name == "build_report":
        from pmarl_bench.report.build import build_report

        return build_report
    raise AttributeError(name)
