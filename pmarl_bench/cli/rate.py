"""``pmarl-bench rate``: OpenSkill ratings of a suite's competitive cells and checkpoints."""

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
    from pmarl_bench import ratings

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
