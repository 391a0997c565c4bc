"""The regression policy of ``bench --compare``: a run's normalised figures against a saved
baseline, a case that looks slower re-measured (noise only ever slows a run down), and a
case still slower measured side by side with the baseline's reference commit on this
machine (``side_by_side``), which has the last word."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pmarl_bench.bench import compare as cmp


@dataclass(frozen=True)
class Policy:
    """How much slower a figure may get (``reset_tolerance``: a reset's, default the same),
    how often a flagged case is re-measured, and the commit to measure beside (None: the
    calibrated verdict stands)."""

    tolerance: float
    reset_tolerance: float | None = None
    confirm: int = 1
    reference: str | None = None

    def tolerance_of(self, figure: str) -> float:
        if figure == "reset_seconds" and self.reset_tolerance is not None:
            return self.reset_tolerance
        return self.tolerance

    def describe(self) -> str:
        """'20%', or '20% (resets 50%)'."""
        resets = self.tolerance_of("reset_seconds")
        return f"{self.tolerance:.0%}" + (
            f" (resets {resets:.0%})" if resets != self.tolerance else ""
        )


@dataclass
class Verdict:
    result: dict  # the run, with re-measured cases at their fastest
    changes: list[cmp.Change]
    missing: list[str]  # the baseline's cases this run did not measure
    regressions: list[cmp.Change] = field(default_factory=list)
    cleared: list[str] = field(default_factory=list)  # flagged, then no slower side by side

    def summary(self, policy: Policy, against: str) -> list[str]:
        """The verdict in lines: each regression with its tolerance, or that there is none."""
        if self.regressions:
            return [
                f"[red]regression:[/] {c} (tolerance {policy.tolerance_of(c.figure):.0%})"
                for c in self.regressions
            ]
        cleared = ""
        if self.cleared:
            cleared = (f"; {', '.join(self.cleared)} no slower than "
                       f"{str(policy.reference)[:12]} side by side")  # fmt: skip
        return [f"no regression beyond {policy.describe()} against {against}{cleared}"]


def check(
    result: dict, baseline: dict, policy: Policy, remeasure: Callable[[str], dict],
    matrix: Path, say: Callable[[str], None] = lambda _: None, side_by_side: bool = True,
) -> Verdict:  # fmt: skip
    """Compare ``result`` with ``baseline``, saying each figure's change and what it does.
    ``remeasure(case)`` measures one case again (a run's result); ``matrix``: the
    benchmark file, for the reference commit's run; ``side_by_side``: False for a dry run
    (tiny sizes compare nothing)."""
    changes, missing = cmp.compare(result, baseline)
    for attempt in range(policy.confirm):
        flagged = sorted({c.case for c in _slower(changes, policy)})
        if not flagged:
            break
        say(f"re-measuring {', '.join(flagged)} ({attempt + 1}/{policy.confirm})")
        for case in flagged:
            result = cmp.best_of(result, remeasure(case))
        changes, missing = cmp.compare(result, baseline)
    for c in changes:
        say(f"  {c}")
    if missing:
        say(f"not measured here: {', '.join(missing)}")
    verdict = Verdict(result, changes, missing, _slower(changes, policy))
    if verdict.regressions and policy.reference and side_by_side:
        flagged = sorted({c.case for c in verdict.regressions})
        verdict.regressions = _beside(verdict.regressions, policy, matrix, say)
        if not verdict.regressions:
            verdict.cleared = flagged
    return verdict


def _slower(changes: list[cmp.Change], policy: Policy) -> list[cmp.Change]:
    return cmp.regressions(changes, policy.tolerance, policy.reset_tolerance)


def _beside(bad: list[cmp.Change], policy: Policy, matrix: Path, say) -> list[cmp.Change]:
    """The flagged changes that remain when their cases are measured beside the reference
    commit's code (``side_by_side``); all of them if that code cannot run here."""
    from pmarl_bench.bench import side_by_side

    commit = str(policy.reference)
    cases = sorted({c.case for c in bad})
    say(f"still slower than the baseline: {', '.join(cases)}; measuring side by side "
        f"with the baseline's reference commit {commit[:12]} on this machine")  # fmt: skip
    try:
        changes = side_by_side.confirm(cases, commit, matrix, max(policy.confirm, 1), say)
    except side_by_side.Unavailable as why:
        say(f"[red]side by side unavailable:[/] {why}; the calibrated comparison stands")
        return bad
    for c in changes:
        say(f"  {c}")
    return _slower(changes, policy)
