"""``pmarl-bench tune``: train a suite's sweep, then choose each agent's settings."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from pmarl_bench.cli import announce_backend, app, err_console, user_errors, warn
from pmarl_bench.cli.paths import writable_dir
from pmarl_bench.errors import import_extra


class Per(StrEnum):
    task = "task"
    agent = "agent"


@app.command()
@user_errors
def tune(
    suite: Annotated[Path, typer.Argument(help="suite file with a `sweep:` section")],
    per: Annotated[
        Per,
        typer.Option(
            help="task: the best settings of every (env, agent); agent: one setting per agent "
            "for all its envs"
        ),
    ] = Per.task,
    out: Annotated[
        Path | None,
        typer.Option(
            help="also write the chosen settings here (e.g. suites/memory.tuned.yaml, for the "
            "suite's `tuned:`); always written to results/<suite>-tune/chosen.yaml"
        ),
    ] = None,
    only: Annotated[
        str | None, typer.Option(help="only cells whose env/agent matches this glob")
    ] = None,
    budget: Annotated[
        str | None, typer.Option(help="a named size profile of the suite (as for run)")
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            metavar="PATH=VALUE",
            help="override a value of the suite file (as for run), e.g. sweep.seeds=5",
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option(help="train the sweep afresh, replacing its finished results")
    ] = False,
    results_dir: Annotated[Path, typer.Option(help="where results/<suite>-tune/ goes")] = Path(
        "results"
    ),
    preflight: Annotated[
        bool, typer.Option(help="refuse cells whose sizes cannot run, before any work (as run)")
    ] = True,
) -> None:
    """Train every trial of a suite's sweep on its tuning seeds, then choose each agent's
    PPO settings by the IQM of their final scores, and write them where a suite can use them.

    The sweep's settings (lr, ent_coef, vf_coef, clip_eps, gamma, gae_lambda, max_grad_norm)
    are traced values: a cell's trials and seeds train side by side in one compiled program.
    The trials: every combination of `sweep.grid`, or `sweep.trials` random draws from
    `sweep.sample` (by an Optuna study with `sweep.optuna`, asked, trained and told in
    batches); an agent under `sweep.per_agent` has its own grid or sample. Results go
    to results/<suite>-tune/ (one row set per trial, with its settings as columns),
    resumable and skipped when finished, like a run, beside trials.csv (every trial's
    score), chosen.yaml and sensitivity.png/.csv (the score against each swept setting).
    The tuning seeds are never the suite's evaluation seeds: `run` then trains the chosen
    settings on fresh seeds; the suite's `tuned:` is ignored while tuning.

    Example: pmarl-bench tune suites/memory.yaml --out suites/memory.tuned.yaml

             (then `tuned: memory.tuned.yaml` in the suite, and pmarl-bench run suites/memory.yaml)
    """
    from pmarl_bench.cli.train import check_suite_file

    check_suite_file(suite, set_)  # a malformed suite costs no JAX import
    from pmarl_bench.report import grid_edges, tuning
    from pmarl_bench.runner import run_suite
    from pmarl_bench.suites import load_suite

    loaded = load_suite(suite, only=only, budget=budget, overrides=set_ or [], tune=True)
    warn(loaded.warnings)
    if preflight:  # before the results folder, the journal or a compile
        _preflight(loaded)
    writable_dir(results_dir, "--results-dir")
    announce_backend()
    if loaded.suite.sweep and loaded.suite.sweep.optuna:
        import_extra("optuna", "tune", "sweep.optuna")
        from pmarl_bench.study import run_studies

        ran, skipped = run_studies(loaded, results_dir, err_console, force=force)
    else:
        summary = run_suite(loaded, results_dir, force=force, console=err_console,
                            preflight=False)  # fmt: skip
        ran, skipped = len(summary.ran), len(summary.skipped)
    folder = results_dir / loaded.suite.name
    err_console.print(f"{ran} sweep cell(s) trained, {skipped} skipped; results in {folder}")
    made = loaded.suite.sweep.described if loaded.suite.sweep else {}
    grown: list[dict] = []
    if "grid" in made and "optuna" not in made:
        grown = _grow_at_edges(loaded, folder, per.value, results_dir, force)
    sweep = tuning.read_sweep(folder)
    chosen = tuning.choose(sweep, per.value)
    margins = grid_edges.neighbours(sweep, chosen)
    made = {
        **made,
        **({"grown": grown} if grown else {}),
        "not_distinguishable": {
            f"{r.env}/{r.agent}": r.neighbours
            for r in margins.itertuples()
            if not r.distinguishable
        },
    }
    document = tuning.chosen_document(sweep, chosen, per.value, made)
    for path in [folder / "chosen.yaml", *([out] if out else [])]:
        tuning.write_chosen(document, path)
    tuning.write_trials(tuning.trial_table(sweep), folder / "trials.csv")
    tuning.write_sensitivity(sweep, folder, "sensitivity")
    close = made["not_distinguishable"]
    for row in chosen.itertuples():
        values = document["settings"][row.env][row.agent]
        settings = ", ".join(f"{k}={v:g}" for k, v in values.items())
        margin = close.get(f"{row.env}/{row.agent}")
        note = f"; not distinguishable from {margin}" if margin else ""
        typer.echo(f"{row.env}/{row.agent}: {settings} (IQM {row.iqm:.4g}{note})")
    where = f"{folder / 'chosen.yaml'}" + (f" and {out}" if out else "")
    err_console.print(f"chosen per {per.value} by {tuning.CRITERION}; written to {where}")


def _preflight(loaded) -> None:
    """The sweep's cells checked as ``run`` checks a suite's; an Optuna study's as the
    batches it trains (``batch`` trials each)."""
    import dataclasses

    from pmarl_bench.runner.preflight import check_cells

    study = loaded.suite.sweep.optuna if loaded.suite.sweep else None
    cells = loaded.cells
    if study is not None:
        cells = [dataclasses.replace(c, trials=({},) * study.batch) for c in cells]
    check_cells(cells)


def _grow_at_edges(loaded, folder: Path, per: str, results_dir: Path, force: bool) -> list[dict]:
    """Where a choice sits at its grid's edge, grow the grid by one step on that side (a
    cell of the new trials, pooled with the agent's) and choose again, up to
    ``grid_edges.MAX_GROWTH`` times; returns each growth, and warns of edges left."""
    import dataclasses

    from pmarl_bench.report import grid_edges, tuning
    from pmarl_bench.runner import run_suite
    from pmarl_bench.trainer.ppo import TRACED

    def edges_now():
        sweep = tuning.read_sweep(folder)
        chosen = tuning.choose(sweep, per)
        grids = {
            key: {k: sorted({t[k] for t in trials if k in t})
                  for k in sorted({k for t in trials for k in t}) if k in TRACED}
            for key, trials in sweep.settings.items()
        }  # fmt: skip
        return sweep, chosen, grids, grid_edges.edges(sweep, chosen, grids)

    grown: list[dict] = []
    known = {c.name: c for c in loaded.cells}  # the grown cells join: a choice may be theirs
    for _ in range(grid_edges.MAX_GROWTH):
        sweep, chosen, grids, found = edges_now()
        if not found:
            return grown
        cells = []
        for e in found:
            at = (chosen.env == e["env"]) & (chosen.agent == e["agent"])
            trained_in = sweep.cells[(e["env"], e["agent"])][int(chosen[at].trial.iloc[0])]
            base = known[trained_in]
            shape = {k: v for k, v in base.trials[0].items() if k not in TRACED}
            trials = grid_edges.grown_trials(grids[(e["env"], e["agent"])], e["setting"],
                                             e["beyond"])  # fmt: skip
            cells.append(dataclasses.replace(
                base, agent_name=f"{base.agent_name}.{e['setting']}-{e['beyond']:g}",
                swept_agent=e["agent"], trials=tuple({**t, **shape} for t in trials),
            ))  # fmt: skip
            grown.append({"cell": f"{e['env']}/{e['agent']}", "setting": e["setting"],
                          "side": e["side"], "added": e["beyond"]})  # fmt: skip
            err_console.print(
                f"{e['env']}/{e['agent']}: {e['setting']}={e['value']:g} is at the grid's "
                f"{e['side']} edge; trying {e['beyond']:g}"
            )
        known |= {c.name: c for c in cells}
        run_suite(dataclasses.replace(loaded, cells=cells), results_dir, force=force,
                  console=err_console, preflight=False)  # fmt: skip
    for e in edges_now()[3]:
        warn([f"{e['env']}/{e['agent']}: {e['setting']}={e['value']:g} is still at the "
              f"grid's {e['side']} edge after growing it; widen sweep.grid"])  # fmt: skip
    return grown
