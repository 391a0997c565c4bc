"""From result folders to the report's tidy inputs: tasks, learning curves, final scores,
reference levels, evaluations, throughput, and what is missing.

A *task* is what agents are compared on: an env of a suite, or one task of a multi-task
env (``multitask/scouts``, from the per-task metrics). With several suites in one report,
tasks are prefixed by their suite (``memory:n_back``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from pmarl_bench.errors import ConfigError
from pmarl_bench.results import load_cells
from pmarl_bench.results.store import COLUMNS, CROSS_PLAY_FOLDER, RATINGS_FOLDER

RETURN = "episode_return"
#: a seed's final score: its final policy's return on the evaluation episodes (sampled
#: actions, the policy PPO trained), ``eval/return_stochastic``; for cells from before that
#: evaluation existed, the mean training return over its last ``FINAL_FRACTION`` of updates
SCORE_METRIC = "return_stochastic"
FINAL_FRACTION = 0.1


#: the controls that set the "memory gap closed" scale: 0 at the first, 1 at the second
GAP_ENDS = ("memoryless", "oracle")
CONTROLS = ("memoryless", "frame_stack", "oracle")


@dataclass
class ReportData:
    curves: pd.DataFrame  # task, agent, seed, env_steps, value (episode return)
    final: pd.DataFrame  # task, agent, seed, score
    #: task; the env's chance, memoryless, optimal (None where unknown); random (measured) and
    #: its sem; each control's mean final score (NaN where the suite has no such control);
    #: low / high: the gap scale's ends (the memoryless and oracle controls' means, or NaN)
    levels: pd.DataFrame
    evaluations: pd.DataFrame  # task, agent, seed, env_steps (when measured), metric, value
    throughput: pd.DataFrame  # task, agent, seeds, agent_steps_per_second, compile_seconds, ...
    sources: list[str]
    notes: list[str] = field(default_factory=list)  # what is missing or partial
    cells: dict[tuple[str, str], Path] = field(default_factory=dict)  # (task, agent) -> folder
    controls: dict[str, dict[str, str]] = field(default_factory=dict)  # task -> control -> agent
    cards: dict[str, dict] = field(default_factory=dict)  # task -> its task card
    #: (task, agent) -> how many steps back the agent can remember (None: no limit)
    reach: dict[tuple[str, str], int | None] = field(default_factory=dict)
    #: (task, agent) -> how its PPO settings were tuned (``pmarl-bench tune``'s protocol)
    tuning: dict[tuple[str, str], dict] = field(default_factory=dict)
    #: the sweeps' results folders (``results/<suite>-tune``): those read, and those beside
    #: the folders read that tuned the cells' settings
    sweeps: list[Path] = field(default_factory=list)
    #: (task, agent) -> (seeds, cross-play matrix [seeds, seeds]: row i's seed on the focal
    #: side, column j's as its partners; ``trainer.crossplay``)
    cross_play: dict[tuple[str, str], tuple[list[int], np.ndarray]] = field(default_factory=dict)
    #: OpenSkill ratings (``pmarl-bench rate``): task, agent, seed, checkpoint, update,
    #: env_steps, mu, sigma, ordinal, matches, wins, draws
    ratings: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: cross-play between cells (``pmarl-bench crossplay``): task, focal_agent, focal_seed,
    #: partner_agent, partner_seed, return_stochastic
    cross_agents: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def tasks(self) -> list[str]:
        return sorted(self.final.task.unique())

    @property
    def agents(self) -> list[str]:
        return sorted(self.final.agent.unique())


def load(results_dirs: list[str | Path]) -> ReportData:
    """Read every finished cell under the given folders (suite folders or results roots)."""
    if not results_dirs:
        raise ConfigError("give at least one results folder, e.g. results/memory", "RESULTS_DIR")
    frames, manifests, folders, damaged, sweeps = [], [], {}, [], []
    for d in results_dirs:
        found = load_cells(d)  # a one-line ConfigError for a missing or empty dir
        metrics = found.metrics
        if "trial" in metrics.columns:  # sweep cells (`tune`): trials.csv sums them up
            metrics = metrics[metrics.trial.isna()].drop(columns=_sweep_columns(metrics))
        frames.append(metrics)
        for m in found.manifests:
            if m.get("trials"):
                sweeps.append(m["path"])
                continue
            manifests.append(m)
            if m.get("checkpoints"):  # saved parameters: the cell can be replayed
                folders[(m["suite"], m["env"], m["agent"])] = Path(m["path"])
        damaged += found.damaged
    if not manifests:
        raise ConfigError(
            "only sweep results (from `pmarl-bench tune`: see their trials.csv); report the "
            "run that evaluates the chosen settings",
            ", ".join(str(d) for d in results_dirs),
        )
    df = pd.concat(frames, ignore_index=True).drop_duplicates(
        ["suite", "env", "agent", "seed", "update", "metric"]
    )
    multi_suite = df.suite.nunique() > 1
    name = (lambda s, e: f"{s}:{e}") if multi_suite else (lambda s, e: e)

    returns = df[df.metric.str.startswith(RETURN)].copy()
    per_task = returns.metric.str.startswith(RETURN + "/")
    cells_with_tasks = set(map(tuple, returns.loc[per_task, ["suite", "env"]].to_numpy()))
    keep = per_task | ~returns.set_index(["suite", "env"]).index.isin(list(cells_with_tasks))
    returns = returns[keep]
    sub = returns.metric.str.removeprefix(RETURN).str.removeprefix("/")
    returns["task"] = [
        name(s, e if not t else f"{e}/{t}")
        for s, e, t in zip(returns.suite, returns.env, sub, strict=True)
    ]
    curves = returns[["task", "agent", "seed", "update", "env_steps", "value"]]
    curves = curves.sort_values(["task", "agent", "seed", "update"]).reset_index(drop=True)

    evals = df[df.metric.str.startswith("eval/")].copy()
    evals["task"] = [
        name(s, e if m.count("/") == 1 else f"{e}/{m.split('/')[1]}")
        for s, e, m in zip(evals.suite, evals.env, evals.metric, strict=True)
    ]
    evals["metric"] = evals.metric.str.split("/").str[-1]

    final, from_training = scores(final_scores(curves), evals)
    controls, cards, reach = _controls_cards_reach(manifests, name)
    data = ReportData(
        curves=curves,
        final=final,
        levels=reference_levels(final, manifests, name, controls),
        evaluations=evals[["task", "agent", "seed", "env_steps", "metric", "value"]].reset_index(
            drop=True
        ),
        throughput=_throughput(manifests, name),
        sources=[str(d) for d in results_dirs],
        cells={(name(s, e), a): p for (s, e, a), p in folders.items()},
        controls=controls,
        cards=cards,
        reach=reach,
        tuning={
            (name(m["suite"], m["env"]), m["agent"]): m["config"]["tuning"]
            for m in manifests
            if (m.get("config") or {}).get("tuning")
        },
    )
    data.sweeps = _sweep_folders(results_dirs, sweeps, data.tuning.values())
    data.cross_play = _cross_play(manifests, name)
    data.ratings = _tables(results_dirs, RATINGS_FOLDER, name)
    data.cross_agents = _tables(results_dirs, CROSS_PLAY_FOLDER, name)
    data.notes = [f"{path}: skipped, damaged: {reason}" for path, reason in damaged]
    data.notes += [
        f"{path}: a sweep cell (tuning results): under Tuning, not among the compared cells"
        for path in sweeps
    ]
    data.notes += missing(data) + [
        f"{task}/{agent}: no final-policy evaluation (a run from before it existed); its score "
        f"is its training return over the last {FINAL_FRACTION:.0%} of updates"
        for task, agent in from_training
    ]
    return data


def _tables(results_dirs, folder: str, name) -> pd.DataFrame:
    """The CSV tables a suite folder keeps in ``folder`` (``ratings/<task>.csv``, a
    multi-task env's task as ``env+task``; ``cross_play/<env>.csv``), of the suite folders
    read or of the suites under a results root; ``task`` named as the report names it."""
    frames = []
    for d in map(Path, results_dirs):
        for file in sorted({*d.glob(f"{folder}/*.csv"), *d.glob(f"*/{folder}/*.csv")}):
            if file.name.endswith(".matches.csv"):
                continue
            table = pd.read_csv(file)
            suite = file.parent.parent.name
            if "task" in table:
                table["task"] = [name(suite, t) for t in table.task]
            else:
                table["task"] = name(suite, file.stem.replace("+", "/", 1))
            frames.append(table)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _cross_play(manifests: list[dict], name) -> dict:
    found = {}
    for m in manifests:
        cross = m.get("cross_play") or {}
        for key, matrix in (cross.get("matrices") or {}).items():
            task = name(m["suite"], m["env"] if not m.get("tasks") else f"{m['env']}/{key}")
            found[(task, m["agent"])] = (list(cross["seeds"]), np.asarray(matrix, float))
    return found


def _sweep_folders(results_dirs, sweep_cells: list[str], protocols) -> list[Path]:
    """Suite folders of the sweep cells read, and of the sweeps named by the tuned cells'
    protocols where they lie beside (or inside) a folder read."""
    found = {Path(cell).parent.parent for cell in sweep_cells}
    for p in protocols:
        for d in map(Path, results_dirs):
            for folder in (d / str(p.get("sweep")), d.parent / str(p.get("sweep"))):
                if p.get("sweep") and (folder / "chosen.yaml").is_file():
                    found.add(folder)
    return sorted(found)


def _sweep_columns(metrics: pd.DataFrame) -> list[str]:
    """A sweep cell's extra columns: ``trial`` and its swept settings."""
    return [c for c in metrics.columns if c not in COLUMNS]


def scores(training: pd.DataFrame, evals: pd.DataFrame) -> tuple[pd.DataFrame, list]:
    """Final scores (task, agent, seed, score) from the final-policy evaluation where a cell
    has it, else from training; and the (task, agent) pairs scored from training."""
    ev = evals[evals.metric == SCORE_METRIC].rename(columns={"value": "score"})
    ev = ev[["task", "agent", "seed", "score"]]
    have = set(map(tuple, ev[["task", "agent"]].drop_duplicates().to_numpy()))
    pairs = training[["task", "agent"]].apply(tuple, axis=1)
    rest = training[~pairs.isin(have)]
    from_training = sorted(set(map(tuple, rest[["task", "agent"]].to_numpy())))
    out = pd.concat([ev, rest], ignore_index=True)
    out["seed"] = out.seed.astype(int)
    return out.sort_values(["task", "agent", "seed"]).reset_index(drop=True), from_training


def final_scores(curves: pd.DataFrame) -> pd.DataFrame:
    """Each seed's mean return over its last ``FINAL_FRACTION`` of recorded updates."""

    def last(g: pd.DataFrame) -> float:
        n = max(1, round(len(g) * FINAL_FRACTION))
        return float(g.value.iloc[-n:].mean())

    groups = curves.groupby(["task", "agent", "seed"], sort=True)
    out = groups.apply(last, include_groups=False).rename("score").reset_index()
    return out


def _task_names(m: dict, name) -> list[tuple[str, str | None]]:
    """(report task name, the multi-task env's task or None) of a cell's manifest."""
    suite, env = m.get("suite"), m.get("env")
    tasks = list((m.get("tasks") or {}).keys())
    if tasks:
        return [(name(suite, f"{env}/{t}"), t) for t in tasks]
    return [(name(suite, env), None)]


def _controls_cards_reach(manifests: list[dict], name):
    controls: dict[str, dict[str, str]] = {}
    cards: dict[str, dict] = {}
    reach: dict[tuple[str, str], int | None] = {}
    for m in manifests:
        card = m.get("task_card") or {}
        network = ((m.get("config") or {}).get("agent") or {}).get("network") or {}
        for task, sub in _task_names(m, name):
            if m.get("control"):
                controls.setdefault(task, {})[m["control"]] = m["agent"]
            found = (card.get("tasks") or {}).get(sub) if sub else card
            if found:
                cards[task] = found
            reach[(task, m["agent"])] = memory_reach(network)
    return controls, cards, reach


def memory_reach(network: dict) -> int | None:
    """How many steps back an agent of this network config can remember (None: no limit,
    e.g. a recurrent core; -1: unknown)."""
    kind = network.get("kind")
    if kind == "mlp":
        return 0
    if kind == "frame_stack":
        return int(network.get("frames", 4)) - 1
    if kind == "transformer":
        return int(network.get("context", 64)) - 1
    if kind in ("gru", "lstm", "lru", "mingru"):  # recurrent: no fixed limit
        return None
    return -1


def reference_levels(final, manifests, name, controls) -> pd.DataFrame:
    """Per task: the env's chance / memoryless / optimal levels (where it knows them), the
    random policy's measured return, each control's mean final score, and the ends of the
    "memory gap closed" scale (the memoryless and the oracle control; NaN without them)."""
    known: dict[str, dict] = {}
    random: dict[str, dict] = {}
    for m in manifests:
        suite, env = m.get("suite"), m.get("env")
        known[name(suite, env)] = m.get("score_levels") or {}
        for task, info in (m.get("tasks") or {}).items():
            known[name(suite, f"{env}/{task}")] = info.get("score_levels") or {}
        measured = m.get("random_return") or {}
        for task, sub in _task_names(m, name):
            level = (measured.get("tasks") or {}).get(sub) if sub else measured
            if level and "mean" in level:
                random[task] = level
    rows = []
    for task, g in final.groupby("task"):
        lv = {k: known.get(task, {}).get(k) for k in ("chance", "memoryless", "optimal")}
        means = g.groupby("agent").score.mean()
        ctl = {
            f"{c}_control": float(means[agent]) if agent in means else np.nan
            for c in CONTROLS
            for agent in [controls.get(task, {}).get(c)]
        }
        rand = random.get(task, {})
        rows.append({"task": task, **lv, "random": rand.get("mean", np.nan),
                     "random_sem": rand.get("sem", np.nan), **ctl,
                     "low": ctl[f"{GAP_ENDS[0]}_control"],
                     "high": ctl[f"{GAP_ENDS[1]}_control"]})  # fmt: skip
    return pd.DataFrame(rows)


def gap_samples(data: ReportData, task: str) -> tuple[np.ndarray, np.ndarray] | None:
    """The memoryless and oracle controls' final scores (runs) on ``task``, or None when the
    suite lacks either."""
    ctl = data.controls.get(task, {})
    if not all(c in ctl for c in GAP_ENDS):
        return None
    f = data.final[data.final.task == task]
    lo, hi = (f[f.agent == ctl[c]].score.to_numpy() for c in GAP_ENDS)
    return (lo, hi) if len(lo) and len(hi) else None


def normalised(data: ReportData) -> pd.DataFrame:
    """Final scores as "memory gap closed": 0 at the memoryless control's mean, 1 at the
    oracle control's, on the tasks that have both (the others are left out)."""
    lv = data.levels.set_index("task")
    f = data.final[data.final.task.map(lv.low).notna() & data.final.task.map(lv.high).notna()]
    f = f.copy()
    low, high = f.task.map(lv.low), f.task.map(lv.high)
    span = (high - low).where((high - low).abs() > 1e-12, np.nan)
    f["score"] = (f.score - low) / span
    return f


def _efficiency(e: dict) -> dict[str, float]:
    """A manifest's model FLOPs per agent-step (acting + learning), achieved GFLOP/s and share
    of the device's peak; NaN where it has none (cells from before they were recorded)."""

    def number(key: str) -> float:
        value = e.get(key)
        return float(value) if isinstance(value, int | float) else np.nan

    return {
        "flops_per_agent_step": number("acting_flops_per_agent_step")
        + number("learning_flops_per_agent_step"),
        "achieved_gflops": number("achieved_flops_per_second") / 1e9,
        "peak_share": number("peak_share"),
    }


def _throughput(manifests: list[dict], name) -> pd.DataFrame:
    rows = [
        {
            "task": name(m.get("suite"), m.get("env")),
            "agent": m.get("agent"),
            "seeds": len(m.get("seeds") or []),
            "agent_steps_per_second": m.get("agent_steps_per_second"),
            "compile_seconds": m.get("compile_seconds"),
            "run_seconds": m.get("run_seconds"),
            "peak_host_memory_gb": (m.get("peak_host_memory_bytes") or np.nan) / 1e9,
            **_efficiency(m.get("efficiency") or {}),
            "device": m.get("device"),
        }
        for m in manifests
    ]
    cols = ["task", "agent", "seeds", "agent_steps_per_second", "compile_seconds",
            "run_seconds", "peak_host_memory_gb", "flops_per_agent_step", "achieved_gflops",
            "peak_share", "device"]  # fmt: skip
    table = pd.DataFrame(rows, columns=cols)
    measured = ["agent_steps_per_second", "compile_seconds", "run_seconds",
                "flops_per_agent_step", "achieved_gflops", "peak_share"]  # fmt: skip
    table[measured] = table[measured].astype(float)  # NaN where a manifest lacks a figure
    return table.sort_values(["task", "agent"]).reset_index(drop=True)


def missing(data: ReportData) -> list[str]:
    """Plain-language notes on what the results lack: cells, seeds, comparisons."""
    notes = []
    agents = data.agents
    seeds = data.final.groupby(["task", "agent"]).seed.nunique()
    most = int(seeds.max())
    for task in data.tasks:
        have = sorted(data.final[data.final.task == task].agent.unique())
        lacking = [a for a in agents if a not in have]
        if lacking:
            notes.append(f"{task}: no results for {', '.join(lacking)}")
        if len(have) == 1:
            notes.append(f"{task}: only {have[0]}, nothing to compare it with")
        for agent in have:
            n = int(seeds[(task, agent)])
            if n < most:
                notes.append(f"{task}/{agent}: {n} seed{'s' * (n != 1)} (others have {most})")
    return notes
