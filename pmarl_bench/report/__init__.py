"""``pmarl-bench report``: comparison plots and statistics from the result tables."""

from pmarl_bench.report.build import build_report

__all__ = ["build_report"]
