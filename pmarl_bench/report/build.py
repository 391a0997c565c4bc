"""Build a report folder from result tables: each registered section (``report.sections``)
loads what it needs and returns its page parts, figures and tables; this module alone writes
files: figures (PNG + SVG), CSV summaries, the scores in marl-eval's JSON layout, and an
``index.html`` with a Markdown twin. The same tables give the same report, byte for byte
(fixed bootstrap seeds, no timestamps in files)."""

from __future__ import annotations

import shutil
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path

import matplotlib
from scipy.stats import DegenerateDataWarning

from pmarl_bench.errors import ConfigError
from pmarl_bench.report import stats
from pmarl_bench.report.content import Content, Context
from pmarl_bench.report.files import REPORT_MARK, check_out_folder, save
from pmarl_bench.report.pages import Section, html_page, markdown_page
from pmarl_bench.report.results import Results, load
from pmarl_bench.report.sections import SECTIONS
from pmarl_bench.report.sections.unfinished import unfinished


def build_report(
    results_dirs: list[str | Path],
    out: str | Path,
    fmt: str = "html",
    reps: int = stats.REPS,
    extra: Sequence = (),
) -> Path:
    """Write the report for ``results_dirs`` into ``out`` (replaced if it exists); returns the
    main page (``index.html``, or ``report.md`` for ``fmt="md"``). ``extra``: sections
    after the registered ones, from layers above the report (``pmarl_bench.rollouts``: GIFs
    of trained policies). ``out`` may only be new, empty or an earlier report, and never in
    or around a results folder read (a ``ConfigError`` otherwise)."""
    check_out_folder(Path(out), [Path(d) for d in results_dirs])
    try:
        results = load(results_dirs)
    except ConfigError as err:
        pending = unfinished(results_dirs)
        if "no finished cells" in str(err) and not pending.empty:
            raise ConfigError(
                f"no finished cells yet; {len(pending)} running, interrupted or failed (see "
                "pmarl-bench status)",
                err.where,
            ) from None
        raise
    warnings.simplefilter("ignore", DegenerateDataWarning)  # flat samples: the CI is the point
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.tmp-"))
    tmp.chmod(0o755)  # mkdtemp's folder is private; a report is meant to be shared
    try:
        (tmp / REPORT_MARK).write_text("written by pmarl-bench report; replaced by the next\n")
        sections = write_sections([*SECTIONS, *extra], results, tmp, reps)
        (tmp / "report.md").write_text(markdown_page(sections))
        if fmt == "html":
            (tmp / "index.html").write_text(html_page(sections))
        shutil.rmtree(out, ignore_errors=True)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out / ("index.html" if fmt == "html" else "report.md")


def write_sections(modules: Sequence, results: Results, folder: Path, reps: int) -> list[Section]:
    """Each section module's content for ``results``, its files written into ``folder``;
    returns the page's sections in order. A module whose ``load`` finds nothing adds
    nothing."""
    context = Context.of(results.agents, reps)
    sections: list[Section] = []
    # a section may hold a figure per task until it is written
    with matplotlib.rc_context({"figure.max_open_warning": 0}):
        for module in modules:
            data = module.load(results)
            if data is not None:
                sections += _write(module.section(data, context), folder)
    return sections


def _write(content: Content, folder: Path) -> list[Section]:
    for name, fig in content.figures.items():
        save(fig, folder, name)
    for name, table in content.tables.items():
        table.to_csv(folder / name, index=False, float_format="%.6g")
    for name, data in content.files.items():
        if isinstance(data, bytes):
            (folder / name).write_bytes(data)
        else:
            (folder / name).write_text(data)
    return content.sections
