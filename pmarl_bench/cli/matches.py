"""Matches between trained cells: ``pmarl-bench rate`` (OpenSkill ratings of the competitive
tasks' checkpoints) and ``pmarl-bench crossplay`` (cooperative partners across agents)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pmarl_bench.cli import announce_backend, app, err_console, user_errors


@app.command()
@user_errors
def rate(
    results: Annotated[
        Path, typer.Argument(help="a suite's results folder, e.g. results/coordination")
    ],
    task: Annotated[
        str | None,
        typer.Option(help="only this task (king_of_the_hill, or multitask/king_of_the_hill)"),
    ] = None,
    matches: Annotated[
        int, typer.Option(min=1, max=1000, help="matches each player starts (as policy team)")
    ] = 8,
    episodes: Annotated[
        int, typer.Option(min=2, max=4096, help="episodes a match (even: half on each side)")
    ] = 16,
    seed: Annotated[int, typer.Option(min=0, help="the schedule's and the episodes' key")] = 0,
) -> None:
    """Rate every (agent, seed, checkpoint) of the suite's competitive tasks (King of the
    Hill, also inside a multi-task env) with OpenSkill, from matches played now: each player
    meets MATCHES others drawn at random, EPISODES episodes a match, and the team holding more
    of the score wins. Needs cells trained with `checkpoint_every` (their final parameters
    count as one more checkpoint). Writes <results>/ratings/<task>.csv (mu, sigma, ordinal =
    mu - 3 sigma, wins, draws) and <task>.matches.csv; `report` draws them.

    Example: pmarl-bench rate results/coordination --matches 16
    """
    from pmarl_bench.matches import ratings

    if episodes % 2:
        raise typer.BadParameter(
            "an even number: half the episodes on each side", param_hint="--episodes"
        )
    announce_backend()
    with err_console.status("playing the matches…"):
        found = ratings.rate_suite(results, matches, episodes, seed, task)
    for name, (table, played) in found.items():
        path = ratings.write(results, name, table, played)
        top = table.sort_values("ordinal", ascending=False).head(5)
        err_console.print(f"{name}: {len(table)} players, {len(played)} matches -> {path}")
        for row in top.itertuples():
            typer.echo(f"  {row.agent} seed {row.seed} {row.checkpoint}: ordinal "
                       f"{row.ordinal:.2f} (mu {row.mu:.2f}, sigma {row.sigma:.2f})")  # fmt: skip


@app.command()
@user_errors
def crossplay(
    results: Annotated[
        Path, typer.Argument(help="a suite's results folder, e.g. results/coordination")
    ],
    env: Annotated[
        str | None, typer.Option(help="only this env of the suite (e.g. scouts)")
    ] = None,
    episodes: Annotated[
        int, typer.Option(min=1, max=4096, help="evaluation episodes per pair of seeds")
    ] = 64,
    seed: Annotated[int, typer.Option(min=0, help="the episodes' key")] = 2026,
) -> None:
    """Cross-play across agents in the suite's cooperative tasks (Scouts, Traveling Salesman,
    also inside a multi-task env): every seed of every agent on the focal side (the scouts;
    agent 0) with every seed of every agent as its partners, from the cells' final
    parameters, on the final-policy evaluation's episodes (the defaults are its own, so a
    cell with itself reproduces its manifest's matrix). Writes
    <results>/cross_play/<env>.csv (one row per pair of seeds); `report` draws the agent x
    agent means.

    Example: pmarl-bench crossplay results/coordination --env scouts
    """
    from pmarl_bench.matches import partners

    announce_backend()
    with err_console.status("cross-play…") as status:
        found = partners.cross_play_suite(
            results, episodes, seed, env,
            lambda a, b: status.update(f"cross-play: {a} with {b} as partners…"),
        )  # fmt: skip
    for name, table in found.items():
        path = partners.write(results, name, table)
        err_console.print(f"{name}: {len(table)} pairs of seeds -> {path}")
        means = table.groupby(["task", "focal_agent", "partner_agent"]).return_stochastic.mean()
        for (task, a, b), value in means.items():
            typer.echo(f"  {task}: {a} with {b} partners: {value:.3g}")
