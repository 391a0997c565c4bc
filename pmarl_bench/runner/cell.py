"""Training one cell into its folder, so that nothing is lost: its staging folder
(``<agent>@running``) holds its status and metrics so far after every chunk and a snapshot of
its whole state every ``snapshot_every`` seconds; a rerun resumes from the latest snapshot
and ends bit for bit where an uninterrupted run would (on the CPU). A signal stops it after
the running chunk with a snapshot; a crash or divergence keeps the folder as ``<agent>@failed``
with its reason."""

from __future__ import annotations

import datetime as dt
import shutil
import signal
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from pmarl_bench import checkpoints, evaluation, interrupts, provenance
from pmarl_bench.errors import TrainingDivergedError
from pmarl_bench.executor import MemoryLimit
from pmarl_bench.progress import COMPILE, DONE, EVALUATE, TRAIN, Report, clock, human
from pmarl_bench.results import staging, store
from pmarl_bench.runner import manifest as manifests
from pmarl_bench.runner import resume
from pmarl_bench.runner.loggers import Loggers
from pmarl_bench.scale import distributed
from pmarl_bench.suites.cell import Cell
from pmarl_bench.trainer import loop

#: seconds between snapshots of a training cell's state, unless a suite or ``--snapshot-every``
#: says otherwise (0: after every chunk)
SNAPSHOT_EVERY = 300.0


def run_cell(
    cell: Cell,
    path: Path,
    report: Report | None = None,
    *,
    memory_limit: MemoryLimit = loop.DEVICE,
    snapshot_every: float | None = None,
    loggers: tuple[str, ...] = (),
    on_snapshot: Callable[[Path], None] | None = None,
) -> dict | None:
    """Train one cell (resuming it from its staging folder's snapshot if it has one) and
    write its folder; only process 0 of a distributed job writes (the others return None).
    ``snapshot_every``: seconds (default: the cell's, else ``SNAPSHOT_EVERY``).
    ``loggers``: ``tensorboard``, ``wandb``. ``on_snapshot(stage)`` runs after each snapshot
    (a cluster worker sends its staging folder home)."""
    every = snapshot_every if snapshot_every is not None else cell.snapshot_every
    run = _CellRun(cell, path, report, SNAPSHOT_EVERY if every is None else every, on_snapshot)
    return run.train(memory_limit, loggers)


class _CellRun:
    def __init__(self, cell, path, report, snapshot_every, on_snapshot):
        self.cell, self.path, self.report = cell, Path(path), report
        self.snapshot_every, self.on_snapshot = snapshot_every, on_snapshot
        self.primary = distributed.is_primary()
        self.stage: Path | None = None  # made once the cell is built
        self.seeds = cell.member_seeds  # a sweep cell: its seeds once per trial
        self.started = _now()

    # --- progress and status -------------------------------------------------------------

    def say(self, env_steps: int, info: str, phase: str = TRAIN) -> None:
        if self.report is not None:
            cell = self.cell
            who = f"{len(cell.trials)} trials x " if cell.trials else ""
            self.report(env_steps, f"{who}{len(cell.seeds)} seeds · {info}", self.total, phase)

    def status(self, state: str, **fields: Any) -> None:
        if self.stage is None:
            return
        self.progress.update(fields)
        staging.write_status(
            self.stage,
            {
                "state": state,
                "suite": self.cell.suite,
                "env": self.cell.env_name,
                "agent": self.cell.agent_name,
                "cell": self.cell.name,
                "control": self.cell.control,
                "config_hash": self.cell.config_hash(),
                "seeds": list(self.cell.seeds),
                **({"trials": len(self.cell.trials)} if self.cell.trials else {}),
                "num_updates": self.train_.num_updates,
                "env_steps_per_seed": self.total,
                "started": self.started,
                "updated": _now(),
                **self.progress,
            },
        )

    # --- the run -------------------------------------------------------------------------

    def train(self, memory_limit: MemoryLimit, logger_kinds: tuple[str, ...]) -> dict | None:
        provenance.reset_host_peak()  # so the manifest's peak covers this cell, not earlier ones
        cell = self.cell
        self.built = cell.build()
        env, env_params, agent, train = self.built
        self.train_ = train
        self.total = train.num_updates * train.env_steps_per_update
        self.stage = store.stage_dir(self.path) if self.primary else None
        self.progress: dict[str, Any] = {"updates": 0, "env_steps": 0}
        self.saved: list[dict] = []
        self.kept: dict[str, Any] = {}  # label -> parameters the final policy plays against
        self.curve: dict[int, dict] = {}  # update -> evaluation-curve point measured live
        self.history: dict[str, Any] = {
            "run_seconds": 0.0,
            "agent_steps": 0,
            "resumed": [],
            "snapshots": 0,
            "snapshot_seconds": 0.0,
        }
        # a team evaluation plays the final policy against its earlier checkpoints
        self.evaluated = evaluation.has_team_evaluation(env, env_params, agent)
        self.loggers: Loggers | None = None
        try:
            snapshot = self._resume_point()
            start = 0 if snapshot is None else snapshot.updates
            self.progress.update(updates=start, env_steps=start * train.env_steps_per_update)
            self.loggers = Loggers.open(logger_kinds, self.stage, cell, start, train)
            self.status(staging.RUNNING, phase=COMPILE)
            resumed = f"resuming at update {start}/{train.num_updates}; " if start else ""
            self.say(start * train.env_steps_per_update,
                     f"{resumed}compiling… ({manifests.budget_note(train)})", COMPILE)  # fmt: skip
            self.last_snapshot = time.monotonic()  # restarted once compiled
            self.session_start = time.perf_counter()
            try:
                result = loop.train_seeds(
                    train,
                    self.seeds,
                    name=cell.name,
                    on_progress=self._on_progress,
                    on_chunk=self._on_chunk,
                    on_compiled=self._on_compiled,
                    memory_limit=memory_limit,
                    resume=snapshot,
                    settings=cell.member_settings(),
                )
            finally:
                interrupts.defer(False)
            interrupts.check()  # a signal after the last chunk's check
            params = result.params  # gathered from every process in a distributed job
            if not self.primary:
                return None
            manifest = self._finish(result, params)
        except KeyboardInterrupt:  # a signal (``interrupts.Interrupted``) or Ctrl-C
            self._interrupted()
            raise
        except BaseException as err:
            self._failed(err)
            raise
        finally:
            if self.loggers is not None:
                self.loggers.close()
        return manifest

    def _resume_point(self) -> loop.Resume | None:
        found = resume.latest(self.stage, self.cell, self.train_, self.seeds)
        if found is None:
            return None
        if self.primary:
            self.saved, self.history = found.saved, found.history
            if self.evaluated:
                self.kept = resume.kept_checkpoints(self.stage, self.saved, self.built[2],
                                                    self.seeds)  # fmt: skip
        return found.resume

    def _on_progress(self, p: loop.Progress) -> None:
        # one unit everywhere (log, status, manifest): steps of all seeds together per second
        env_rate = p.agent_steps_per_second * self.train_.env_steps_per_update
        env_rate /= self.train_.agent_steps_per_update
        per_seed = env_rate / len(self.seeds)
        eta = (self.total - p.env_steps) / per_seed if per_seed > 0 else float("nan")
        ret = "–" if np.isnan(p.latest_return) else f"{p.latest_return:.3g}"
        self.say(p.env_steps, f"{human(p.env_steps)}/{human(self.total)} env steps · "
                 f"{human(p.agent_steps_per_second)} agent-steps/s · return {ret} · "
                 f"ETA {clock(eta) if np.isfinite(eta) else '–'}")  # fmt: skip
        self.status(
            staging.RUNNING,
            phase=TRAIN,
            updates=p.updates,
            env_steps=p.env_steps,
            agent_steps_per_second=p.agent_steps_per_second,
            env_steps_per_second=env_rate,
            eta_seconds=eta if np.isfinite(eta) else None,
            latest_return=None if np.isnan(p.latest_return) else p.latest_return,
        )

    def _on_compiled(self, seconds: float) -> None:
        interrupts.defer(True)  # from now on a signal waits for the end of a chunk
        self.session_start = time.perf_counter()  # training time, as the loop counts it
        self.last_snapshot = time.monotonic()  # snapshots every snapshot_every of training
        start = self.progress["updates"] * self.train_.env_steps_per_update
        self.say(start, f"compiled in {seconds:.0f}s; training…", TRAIN)
        self.status(staging.RUNNING, phase=TRAIN)

    def _on_chunk(self, chunk: loop.ChunkDone) -> float:
        """Save, log and snapshot after a chunk; returns the seconds spent evaluating the
        policy (left out of the training rate)."""
        train, cell = self.train_, self.cell
        per = train.env_steps_per_update
        steps, previous = chunk.updates * per, (chunk.updates - train.updates_per_chunk) * per
        every = cell.save_every
        point = None
        if every and steps // every > previous // every and chunk.updates < train.num_updates:
            label = checkpoints.update_label(chunk.updates)
            params = chunk.params()
            if self.primary:
                checkpoints.save(self.stage, label, params)
                if self.evaluated:
                    self.kept[label] = distributed.to_host(params)
            self.saved.append({"label": label, "update": chunk.updates, "env_steps": steps})
            point = params
        metrics = chunk.metrics() if self.primary else None
        measuring = 0.0
        if self.primary:
            staging.write_live(self.stage, self._frame(metrics))
            if self.loggers is not None:
                first = chunk.updates - train.updates_per_chunk
                self.loggers.log(self._frame(metrics, since=first))
                if point is not None and cell.evaluate_every:
                    measuring = self._live_curve_point(chunk.updates, point)
        stop = interrupts.pending() is not None
        due = time.monotonic() - self.last_snapshot >= self.snapshot_every
        # the last chunk's too: an interruption while evaluating loses no training
        last = chunk.updates == train.num_updates
        # in a distributed job process 0 decides for all (they gather the state together)
        stop, snap = distributed.broadcast(np.array([stop, stop or due or last]))
        if snap:
            self._snapshot(chunk, metrics)
        if stop:
            raise interrupts.Interrupted(interrupts.pending() or signal.SIGTERM)
        return measuring

    def _live_curve_point(self, update: int, params) -> float:
        """The evaluation curve's point at ``update``, measured now for the live logs (and
        kept, so the curve after training does not measure it again); its seconds."""
        t0 = time.perf_counter()
        env, env_params, agent, _ = self.built
        episodes, key, _ = self.cell.evaluation
        steps = update * self.train_.env_steps_per_update
        self.say(steps, f"evaluation curve at update {update}…", EVALUATE)
        point = evaluation.curve_point(env, env_params, agent, distributed.to_host(params),
                                       episodes, key, self.seeds)  # fmt: skip
        self.curve[update] = point
        arrays = evaluation.curve_arrays({update: point}, len(self.seeds), self.train_.num_updates)
        self.loggers.log(self._frame(arrays))  # type: ignore[union-attr]
        return time.perf_counter() - t0

    def _snapshot(self, chunk: loop.ChunkDone, metrics) -> None:
        leaves = chunk.state_leaves()  # every process takes part in gathering them
        self.last_snapshot = time.monotonic()
        if not self.primary:
            return
        run_seconds = time.perf_counter() - self.session_start
        done = chunk.updates - (self.history["resumed"][-1] if self.history["resumed"] else 0)
        info = {
            "config_hash": self.cell.config_hash(),
            "saved": self.saved,
            "resumed": self.history["resumed"],
            "run_seconds": self.history["run_seconds"] + run_seconds,
            "agent_steps": self.history["agent_steps"]
            + done * self.train_.agent_steps_per_update * len(self.seeds),
            "written": _now(),
        }
        t0 = time.perf_counter()
        # this snapshot's own cost is counted in the next one (and in the manifest)
        info |= {k: self.history[k] for k in ("snapshots", "snapshot_seconds")}
        staging.write_snapshot(self.stage, chunk.updates, leaves, metrics, info)
        self.history["snapshots"] += 1
        self.history["snapshot_seconds"] += time.perf_counter() - t0
        self.progress["snapshot_update"] = self.progress["updates"] = chunk.updates
        self.progress["env_steps"] = chunk.updates * self.train_.env_steps_per_update
        self.progress["snapshot_seconds"] = time.perf_counter() - t0
        if self.on_snapshot is not None:
            self.on_snapshot(self.stage)

    def _finish(self, result: loop.TrainResult, params) -> dict:
        cell, (env, env_params, agent, train) = self.cell, self.built
        total = self.total
        self.status(staging.RUNNING, phase=EVALUATE, updates=train.num_updates, env_steps=total)
        checkpoints.save(self.stage, checkpoints.FINAL, params)
        self.saved.append({"label": checkpoints.FINAL, "update": train.num_updates,
                           "env_steps": total})  # fmt: skip
        # seeds cross-play where there are several, and not across a sweep's trials
        crossing = list(cell.seeds) if len(self.seeds) > 1 and not cell.trials else None
        episodes, key, most = cell.evaluation
        # the evaluation curve's points: every saved checkpoint (read back from the staging
        # folder, so a resumed run has them all) and the final parameters
        points = None
        if cell.evaluate_every:
            points = {c["update"]: checkpoints.load(self.stage, c["label"], agent, self.seeds)
                      for c in self.saved if c["label"] != checkpoints.FINAL}  # fmt: skip
            points[train.num_updates] = params
        measured = evaluation.after_training(
            env, env_params, agent, params, cell.env_config(), seeds=self.seeds,
            cross_play_seeds=crossing, episodes=episodes, seed=key, max_episodes=most,
            kept=self.kept,
            saved=self.saved, num_updates=train.num_updates, curve=points,
            curve_known=self.curve,
            say=lambda line: self.say(total, line, EVALUATE),
        )  # fmt: skip
        manifest = manifests.write(
            cell, self.path, self.stage, self.built, result, self.history,
            {**measured.entries, "checkpoints": self.saved}, measured.metrics,
        )  # fmt: skip
        if self.loggers is not None:  # (the curve's points logged live are not sent twice)
            frame = manifests.evaluation_frame(cell, train, measured.metrics)
            logged = [update - 1 for update in self.curve]  # (the table's updates count from 0)
            live = frame["metric"].str.startswith(evaluation.CURVE) & frame["update"].isin(logged)
            self.loggers.log(frame[~live])
        rate, ret = manifest["agent_steps_per_second"], _final_return(result.metrics)
        times = f"compile {result.compile_seconds:.0f}s, run {result.run_seconds:.0f}s"
        self.say(total, f"{human(total)} env steps · return {ret} · {human(rate)} agent-steps/s "
                 f"· {times}", DONE)  # fmt: skip
        return manifest

    def _frame(self, metrics: dict[str, np.ndarray], since: int = 0):
        """Metrics ``[seeds, updates]`` from update ``since`` on, in the long format."""
        return store.metrics_frame(
            {k: v[:, since:] for k, v in metrics.items()},
            suite=self.cell.suite,
            env=self.cell.env_name,
            agent=self.cell.agent_name,
            seeds=self.seeds,
            env_steps_per_update=self.train_.env_steps_per_update,
            first_update=since,
            columns=self.cell.member_columns(),
        )

    def _interrupted(self) -> None:
        if self.stage is None or not self.stage.exists():
            return
        if staging.latest_snapshot(self.stage) is None and staging.read_live(self.stage) is None:
            shutil.rmtree(self.stage, ignore_errors=True)  # nothing worth keeping yet
            return
        self.status(staging.INTERRUPTED)

    def _failed(self, err: BaseException) -> None:
        if self.stage is None or not self.stage.exists():
            return
        diverged = getattr(err, "metrics", None)
        if isinstance(err, TrainingDivergedError) and diverged is not None:
            staging.write_live(self.stage, self._frame(diverged))
        if staging.latest_snapshot(self.stage) is None and staging.read_live(self.stage) is None:
            shutil.rmtree(self.stage, ignore_errors=True)  # failed before training: nothing to keep
            return
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        self.status(
            staging.FAILED,
            reason=f"{type(err).__name__}: {reason}",
            traceback=traceback.format_exception(err)[-3:],
        )
        err.kept = str(store.mark_failed(self.path))  # type: ignore[union-attr]


def _final_return(metrics: dict[str, np.ndarray]) -> str:
    values = metrics.get("episode_return")
    if values is None or not np.isfinite(values[:, -1]).any():
        return "–"
    return f"{float(np.nanmean(values[:, -1])):.3g}"


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
