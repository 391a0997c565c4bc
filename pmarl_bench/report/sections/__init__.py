"""The report's sections, one module per analysis (``report.content``'s contract), in the
order the page shows them. A new analysis is a module here and a line in ``SECTIONS``."""

from pmarl_bench.report.sections import (
    aggregate,
    cross_play,
    curves,
    evaluation_curve,
    evaluations,
    final_scores,
    gap_closed,
    improvement,
    memory_test,
    missing,
    overview,
    ratings,
    throughput,
    tuning,
    unfinished,
)

SECTIONS = (
    overview,
    unfinished,
    missing,
    curves,
    evaluation_curve,
    final_scores,
    memory_test,
    gap_closed,
    aggregate,
    improvement,
    evaluations,
    cross_play,
    ratings,
    tuning,
    throughput,
)

__all__ = ["SECTIONS"]
