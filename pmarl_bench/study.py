"""``sweep.optuna``: an Optuna study per (env, agent) searches the sweep's ``sample`` space.

Each round asks every study for a batch of trials and trains each batch as one sweep cell:
its trials are traced settings, so every batch of a cell is the same compiled program. The
batch cells are variants of the agent (``mlp.optuna-000``, ``mlp.optuna-001``, ...), so the
choice, ``trials.csv`` and the sensitivity pool them like any variants, and a trial's number
in those tables is its number in the study. Each trial's score (the IQM over the tuning
seeds of the final policy's return) is told back before the next round.

The studies live in ``results/<suite>-tune/optuna.journal`` (Optuna's journal storage). A
run cut short resumes: finished batch cells are skipped, a batch that was asked but not
told trains again from its snapshot with the same trials, and the studies go on from there
(a resumed sampler draws from its seed afresh, so the later trials differ from an
uninterrupted run's).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState
from rich.console import Console

from pmarl_bench.errors import ConfigError
from pmarl_bench.report import tuning
from pmarl_bench.results import store
from pmarl_bench.runner import run_suite
from pmarl_bench.suites import LoadedSuite
from pmarl_bench.suites.schema import Range, Sweep, SweepSpace

#: the studies' storage, in the sweep's results folder
JOURNAL = "optuna.journal"


def distributions(space: SweepSpace) -> dict:
    """Optuna's distributions for a ``sample`` space: a range is a float (log) distribution,
    a list of values a categorical one."""
    assert space.sample is not None  # the schema ensures it
    return {
        name: FloatDistribution(d.low, d.high, log=d.log)
        if isinstance(d, Range)
        else CategoricalDistribution([float(v) for v in d])
        for name, d in space.sample.items()
    }


def run_studies(
    loaded: LoadedSuite, results_dir: Path, console: Console, force: bool = False
) -> tuple[int, int]:
    """Ask, train and tell in rounds until every study has its ``trials``; returns how many
    batch cells were trained and skipped (finished already)."""
    sweep = loaded.suite.sweep
    assert sweep is not None and sweep.optuna is not None  # `tune` calls it only then
    folder = Path(results_dir) / loaded.suite.name
    folder.mkdir(parents=True, exist_ok=True)
    journal = store.refuse_link(folder / JOURNAL, levels=1)
    if force:
        journal.unlink(missing_ok=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        storage = JournalStorage(JournalFileBackend(str(journal)))
        studies = [_study(cell, sweep, storage) for cell in loaded.cells]
    except Exception as err:  # optuna raises several kinds for a damaged journal
        raise ConfigError(
            f"the Optuna journal is damaged ({type(err).__name__}); move it aside, or tune "
            "afresh with --force (which deletes it)",
            str(journal),
        ) from None
    batch = sweep.optuna.batch
    # batches told by an earlier run: their cells are finished
    skipped = sum(-(-_told(study) // batch) for _, _, study in studies)
    ran = rounds = 0
    while batches := [b for b in (_next_batch(*s, batch) for s in studies) if b]:
        rounds += 1
        console.print(f"optuna round {rounds}: {len(batches)} batch cell(s)", highlight=False)
        cells = [cell for cell, _, _ in batches]
        summary = run_suite(
            LoadedSuite(loaded.suite, loaded.path, cells), results_dir, force=force,
            console=console, preflight=False,  # `tune` checked the batches' sizes
        )  # fmt: skip
        ran, skipped = ran + len(summary.ran), skipped + len(summary.skipped)
        scores = trial_scores(folder)
        for cell, study, asked in batches:
            for trial, score in zip(asked, scores[cell.name], strict=True):
                study.tell(trial.number, score)
    return ran, skipped


def _told(study) -> int:
    return sum(t.state == TrialState.COMPLETE for t in study.get_trials(deepcopy=False))


def _study(cell, sweep: Sweep, storage):
    space = sweep.space_for(cell.agent_name)
    assert space is not None and space.trials is not None
    spec = sweep.optuna
    assert spec is not None
    sampler = (
        optuna.samplers.TPESampler(
            seed=space.sample_seed, n_startup_trials=spec.batch, constant_liar=True
        )
        if spec.sampler == "tpe"
        else optuna.samplers.RandomSampler(seed=space.sample_seed)
    )
    study = optuna.create_study(
        study_name=cell.name, storage=storage, sampler=sampler, direction="maximize",
        load_if_exists=True,
    )  # fmt: skip
    return cell, space, study


def _next_batch(cell, space: SweepSpace, study, batch: int):
    """The next batch of ``study`` as ``(batch cell, study, trials)``: the trials asked and
    not yet told (an interrupted round), else new ones; None when the study is done."""
    trials = study.get_trials(deepcopy=False)
    asked = [t for t in trials if t.state == TrialState.RUNNING]
    if not asked:
        done = len(trials)
        if done >= space.trials:
            return None
        dists = distributions(space)
        asked = [study.ask(dists) for _ in range(min(batch, space.trials - done))]
    names = list(space.sample or {})
    values = tuple({k: float(t.params[k]) for k in names} for t in asked)
    first = asked[0].number // batch
    variant = dataclasses.replace(
        cell,
        agent_name=f"{cell.agent_name}.optuna-{first:03d}",
        trials=values,
        swept_agent=cell.agent_name,
    )
    return variant, study, asked


def trial_scores(folder: Path) -> dict[str, list[float]]:
    """Every sweep cell's trial scores in its trials' order: the IQM over the tuning seeds."""
    sweep = tuning.read_sweep(folder)
    iqms = tuning.trial_table(sweep).set_index(["env", "agent", "trial"]).iqm
    out: dict[str, list[float]] = {}
    for (env, agent), names in sweep.cells.items():
        for trial, name in enumerate(names):
            out.setdefault(name, []).append(float(iqms[(env, agent, trial)]))
    return out
