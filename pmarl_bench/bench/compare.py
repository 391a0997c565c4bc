"""The regression check: normalised figures of a run against a saved baseline."""

from __future__ import annotations

from dataclasses import dataclass

from pmarl_bench.bench.matrix import GATED, RATES


@dataclass(frozen=True)
class Change:
    case: str
    figure: str
    baseline: float
    current: float
    against: str = "the baseline"

    @property
    def slower(self) -> float:
        """How much more time the same work takes than in the baseline (0.3 = 30% slower:
        1.3x the time, i.e. a rate of 1/1.3; negative = faster)."""
        if self.figure in RATES:
            return self.baseline / self.current - 1.0
        return self.current / self.baseline - 1.0

    def __str__(self) -> str:
        verb = "slower" if self.slower >= 0 else "faster"
        return f"{self.case} {self.figure}: {abs(self.slower):.0%} {verb} than {self.against}"


def compare(current: dict, baseline: dict) -> tuple[list[Change], list[str]]:
    """Changes of every gated figure of the cases both runs have, and the baseline's cases
    that this run did not measure."""
    changes, missing = [], []
    for case, base in sorted(baseline["cases"].items()):
        now = current["cases"].get(case)
        if now is None or "error" in now:
            missing.append(case if now is None else f"{case} ({now['error']})")
            continue
        base_figures, now_figures = base.get("normalised", {}), now["normalised"]
        for figure in GATED:
            if figure in base_figures and figure in now_figures:
                changes.append(Change(case, figure, base_figures[figure], now_figures[figure]))
    return changes, missing


def regressions(
    changes: list[Change], tolerance: float, reset_tolerance: float | None = None
) -> list[Change]:
    """The changes slower than ``tolerance`` (``reset_tolerance`` for reset times, default
    the same): a reset of a few milliseconds varies more between runs than a scan does."""
    reset_tolerance = tolerance if reset_tolerance is None else reset_tolerance
    return [
        c
        for c in changes
        if c.slower > (reset_tolerance if c.figure == "reset_seconds" else tolerance)
    ]


def best_of(current: dict, again: dict) -> dict:
    """``current`` with each case that ``again`` re-measured replaced by its faster
    measurement, figure by figure. On a shared machine noise only ever slows a run down, so a
    real regression shows in every measurement and a passing one was merely unlucky."""
    cases = dict(current["cases"])
    for case, new in again["cases"].items():
        old = cases.get(case)
        if old is None or "normalised" not in old or "normalised" not in new:
            cases[case] = new
            continue
        best = dict(old["normalised"])
        for figure, value in new["normalised"].items():
            if figure in best:
                faster = value > best[figure] if figure in RATES else value < best[figure]
                best[figure] = value if faster else best[figure]
        cases[case] = {**old, "normalised": best}
    return {**current, "cases": cases}
