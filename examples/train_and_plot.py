"""Train from Python, evaluate and plot: a GRU on n-back beside the memoryless control.

    uv run python examples/train_and_plot.py            # about a minute on a laptop CPU
    uv run python examples/train_and_plot.py --quick    # seconds: an MLP alone (the test suite)

Writes results/example/ (the same folders and tables as `pmarl-bench run`; the suite it ran is
results/example.yaml, so `pmarl-bench run results/example.yaml` trains the same numbers) and
results/example.png (each agent's training return against env steps, mean over seeds).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # a file, no window
import matplotlib.pyplot as plt

from pmarl_bench import api

FULL = {"seeds": 3, "steps": 300_000, "options": {}, "ppo": {"num_envs": 64}}
QUICK = {
    "seeds": 2,
    "steps": 1024,
    "options": {"episode_length": 16, "max_n": 2},
    "ppo": {"num_envs": 16, "rollout_length": 16, "num_minibatches": 2, "num_epochs": 2},
}


def main(quick: bool = False, results_dir: str = "results") -> api.Results:
    size = QUICK if quick else FULL
    results = api.train(
        {"id": "n_back-v0", "options": size["options"]},
        {"baseline": "mlp", "network": {"width": 8}} if quick else "gru",  # quick: compiles fast
        seeds=size["seeds"],
        steps=size["steps"],
        ppo={"mode": "episodic", "gamma": 0.5, **size["ppo"]},
        controls=[] if quick else ["memoryless"],  # (quick: one cell, for the test suite)
        name="example",
        results_dir=results_dir,
        evaluation={"episodes": 16, "max_episodes": 16} if quick else {"max_episodes": 256},
    )
    print(results.scores().groupby("agent").score.describe()[["count", "mean", "std"]])
    fresh = api.evaluate(results, episodes=16 if quick else 256)  # fresh episodes, other keys
    print(fresh.groupby("agent")[["return", "sem"]].mean())

    curves = results.curves()
    seeds = [c for c in curves.columns if isinstance(c, int)]
    fig, ax = plt.subplots(figsize=(6, 3.5), layout="constrained")
    for agent, rows in curves.groupby("agent"):
        ax.plot(rows.env_steps, rows[seeds].mean(axis=1), label=agent)
    ax.set(xlabel="env steps (per seed)", ylabel="episode return", title="n-back")
    ax.legend()
    out = Path(results_dir) / "example.png"
    fig.savefig(out, dpi=110)
    print(f"figure: {out}")
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: seconds, not a minute")
    parser.add_argument("--results-dir", default="results")
    args = parser.parse_args()
    main(args.quick, args.results_dir)
