"""Writing the report's files: figures as PNG and SVG (byte for byte the same for the same
figure), and the checks that keep a report from replacing anything but an earlier report."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt

from pmarl_bench.errors import ConfigError
from pmarl_bench.results import durable

FIGURE_DPI = 110
#: the file that marks a folder as a report (a later report may replace such a folder)
REPORT_MARK = ".pmarl-bench-report"
SVG_SALT = "pmarl-bench"  # fixed ids in SVG files


def save(fig, folder: Path, name: str) -> str:
    with matplotlib.rc_context({"svg.hashsalt": SVG_SALT}):
        fig.savefig(folder / f"{name}.png", dpi=FIGURE_DPI, metadata={"Software": None})
        fig.savefig(folder / f"{name}.svg", metadata={"Date": None, "Creator": None})
    plt.close(fig)
    return name


def check_out_folder(out: Path, sources: list[Path]) -> None:
    """Writing a report to ``out`` replaces that folder: refuse (one ``ConfigError``) where
    that would lose anything: ``out`` is, holds or lies inside a results folder read, or it
    holds files that are no earlier report; or it cannot be written."""
    target = Path(out).resolve()
    for source in sources:
        src = Path(source).resolve()
        if target == src or src in target.parents or target in src.parents:
            raise ConfigError(
                f"{out} would overwrite the results it reads ({source}); write the report "
                "elsewhere, e.g. reports/<name>",
                "--out",
            )
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out} is a file, not a folder", "--out")
    if out.is_dir() and any(out.iterdir()) and not _is_report(out):
        raise ConfigError(
            f"{out} holds files that are not a pmarl-bench report; a report replaces its "
            "folder, so give a new or empty one",
            "--out",
        )
    problem = durable.cannot_create(target)
    if problem:
        raise ConfigError(problem, "--out")


def _is_report(folder: Path) -> bool:
    if (folder / REPORT_MARK).is_file():
        return True
    # a report from before the mark: report.md and nothing of a results folder
    return (folder / "report.md").is_file() and not any(folder.rglob("manifest.json"))
