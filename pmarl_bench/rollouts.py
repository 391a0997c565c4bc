"""The report's rollout section: GIFs of the best and the median seed (by final score) of
each cell with saved parameters, played from its checkpoint. It runs policies (JAX), so it
lives above the report, which reads tables only; ``pmarl-bench report`` adds it
(``build_report(..., extra=[rollouts])``) unless ``--no-videos``."""

from __future__ import annotations

import re
from pathlib import Path

import jax

from pmarl_bench import video
from pmarl_bench.checkpoints import UnplayableCheckpoint, load_cell
from pmarl_bench.envs.multitask import one_task
from pmarl_bench.errors import ConfigError
from pmarl_bench.report.content import Content, Context
from pmarl_bench.report.pages import Section
from pmarl_bench.report.results import Results

ROLLOUT_STEPS = 64


def load(results: Results) -> tuple[Results, dict[tuple[str, str], Path]] | None:
    """The cells that can be replayed: (task name of their env, agent) -> folder."""
    cells = {
        (results.name(m["suite"], m["env"]), m["agent"]): Path(m["path"])
        for m in results.manifests
        if m.get("checkpoints")  # saved parameters
    }
    return (results, cells) if cells else None


def section(data: tuple[Results, dict[tuple[str, str], Path]], context: Context) -> Content:
    """GIFs of the best and the median seed (by final score) of each cell; of each task, in
    a multi-task cell."""
    results, cells = data
    out = Content()
    gifs, skipped = [], []
    final = results.final
    tasks = sorted(final.task.unique())
    for (env_name, agent), path in sorted(cells.items()):
        for task in [t for t in tasks if t == env_name or t.startswith(f"{env_name}/")]:
            scores = final[(final.task == task) & (final.agent == agent)]
            ranked = scores.sort_values(["score", "seed"], ascending=[False, True])
            if ranked.empty:
                continue
            picks = {
                "best": int(ranked.seed.iloc[0]),
                "median": int(ranked.seed.iloc[len(ranked) // 2]),
            }
            try:
                cell = load_cell(path)
                sub = task.removeprefix(env_name).removeprefix("/") or None
                env, env_params, _ = one_task(cell.env, cell.env_params, sub)
                for which, seed in picks.items():
                    rec = video.record(
                        env, env_params, cell.agent, cell.params(seed),
                        jax.random.key(seed), steps=ROLLOUT_STEPS, cell_px=video.CELL_PX,
                    )  # fmt: skip
                    name = re.sub(r"[^A-Za-z0-9_.-]", "-", f"rollout_{task}_{agent}_{which}")
                    out.files[f"{name}.gif"] = video.gif_bytes(video.annotate(rec), fps=8)
                    gifs.append((f"{task} / {agent}: {which} seed ({seed})", f"{name}.gif"))
            except UnplayableCheckpoint as err:
                skipped.append(f"{task}/{agent} ({err.reason})")
            except ConfigError as err:  # e.g. the env draws no frames
                skipped.append(f"{task}/{agent} ({err.message.split(';')[0][:100]})")
    text = (
        f"The first {ROLLOUT_STEPS} steps of one episode of the best and the median seed of "
        "each cell (by final score), from its saved parameters."
    )
    if skipped:
        text += f" No rollout for {'; '.join(skipped)}."
    out.sections.append(Section("Rollouts", text, gifs=tuple(gifs)))
    return out
