"""``pmarl-bench status``: every cell of a results folder and where it stands."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from pmarl_bench.cli import app, user_errors
from pmarl_bench.errors import ConfigError


@app.command()
@user_errors
def status(
    results_dir: Annotated[
        Path, typer.Argument(help="a results folder, or one suite's (e.g. results/memory)")
    ] = Path("results"),
) -> None:
    """List every cell: finished, running, interrupted (rerun the command that started it
    to resume) or failed (with the reason), its env steps, speed, ETA and latest return.

    Example: pmarl-bench status results/memory
    """
    from pmarl_bench.progress import clock, human
    from pmarl_bench.results import reading, staging, store

    if not results_dir.is_dir():
        raise ConfigError("no such results folder", str(results_dir))
    rows = []
    for manifest in reading.load_manifests(results_dir):
        total = manifest.get("env_steps_per_seed")
        rows.append(
            (
                _name(manifest, results_dir, Path(manifest["path"])),
                "finished",
                _steps(total, total, human),
                human(manifest.get("agent_steps_per_second") or math.nan),
                "",
                _mean(manifest.get("evaluation", {}) or {}),
                f"finished {manifest.get('created', '?')}",
            )
        )
    for path, reason in reading.scan_cells(results_dir)[1]:
        rows.append((_name({}, results_dir, path), "damaged", "–", "–", "", "–", reason))
    for s in staging.unfinished_cells(results_dir):
        eta = s.get("eta_seconds")
        running = s["state"] == staging.RUNNING
        note = s.get("reason") or (
            f"resumes at update {s['snapshot_update']}"
            if s.get("snapshot_update") and not running
            else ("starts afresh when rerun" if not running else s.get("phase", ""))
        )
        rate = s.get("agent_steps_per_second")  # (a status from before it: none shown)
        ret = s.get("latest_return")
        rows.append(
            (
                _name(s, results_dir, Path(s["cell_path"])),
                s["state"],
                _steps(s.get("env_steps", 0), s.get("env_steps_per_seed"), human),
                "–" if rate is None else human(rate),
                clock(eta) if running and eta is not None and math.isfinite(eta) else "",
                "–" if ret is None else f"{ret:.3g}",
                note,
            )
        )
    listed = {row[0] for row in rows}
    own_plan = (results_dir / store.PLAN_FILE).is_file()  # a suite folder's own
    for c in store.read_plans(results_dir):  # the last run's cells that have not started
        mine = own_plan and c["suite"] == results_dir.name
        suite = results_dir if mine else results_dir / c["suite"]
        name = _name({}, results_dir, suite / str(c.get("env")) / str(c.get("agent")))
        if name not in listed:
            rows.append((name, "not started", "–", "–", "", "–", "planned by the last run"))
    if not rows:
        raise ConfigError("no cells here (finished, running or failed)", str(results_dir))
    table = Table(title=f"cells in {results_dir}")
    columns = ("cell", "state", "env steps/seed", "agent-steps/s (all seeds)", "ETA", "return",
               "note")  # fmt: skip
    for column in columns:
        table.add_column(column, overflow="fold")
    colour = {"finished": "green", "running": "cyan", "interrupted": "yellow", "failed": "red",
              "damaged": "red", "not started": "dim"}  # fmt: skip
    for row in sorted(rows):
        table.add_row(row[0], f"[{colour.get(row[1], 'white')}]{row[1]}[/]", *row[2:])
    console = Console()
    if not console.is_terminal:  # a log or a pipe: no need to fold cells into 80 columns
        console = Console(width=200)
    console.print(table)


def _name(info: dict, root: Path, path: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return f"{info.get('suite')}/{info.get('env')}/{info.get('agent')}"


def _steps(done, total, human) -> str:
    if not total:
        return "–"
    return f"{human(done or 0)}/{human(total)} ({100 * (done or 0) / total:.0f}%)"


def _mean(evaluation: dict) -> str:
    values = evaluation.get("eval/return_stochastic")
    try:
        return f"{sum(values) / len(values):.3g}"
    except (TypeError, ZeroDivisionError):  # none recorded (or not numbers)
        return "–"
