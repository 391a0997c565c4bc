"""Env stepping side by side with the origin (gabe00122/jaxrl at c94b03a): each grid task at
its defaults (40x40 maps, view 5, 512-step episodes), N envs, one jitted 512-step scan of
uniform random actions from a reset, every observation consumed; agent-steps per second.

Each side is a worker process of its own Python (the origin needs Python 3.13): both
compile and warm up, then time one whole scan per round in turns (ABBA order). The origin
steps through its own ``VectorWrapper``, as its ``benchmark.py`` does; pmarl-bench steps as
its training does (a fixed-length env without the auto-reset when the scan fits in one
episode), as ``bench`` measures it.

    git clone https://github.com/gabe00122/jaxrl /tmp/jaxrl && git -C /tmp/jaxrl checkout c94b03a
    uv venv -p 3.13 /tmp/ojr && uv pip install -p /tmp/ojr/bin/python jax==0.10.2 \\
        flax==0.12.8 optax==0.2.8 numpy einops pydantic chex rich typer tfp-nightly \\
        pygame-ce fsspec python-ffmpeg pyyaml
    uv run python benchmarks/origin_env_side_by_side.py --origin /tmp/jaxrl \\
        --python /tmp/ojr/bin/python --envs 256,2048

The origin's modules import optuna, wandb, tensorboardX and craftax, unused here: the worker
puts stand-ins for them in ``sys.modules``, and sets ``FLAX_PYTREE_MODULE=false`` (flax
0.11's module semantics under flax 0.12).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import types
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from worker_protocol import Worker, serve

STEPS = 512
#: ours, the origin's config class and the agents per env (the origin's defaults)
TASKS = {
    "grid_return": ("grid_return-v0", "grid_return.ReturnDiggingConfig"),
    "scouts": ("scouts-v1", "scouts.ScoutsConfig"),
    "traveling_salesman": ("traveling_salesman-v1", "traveling_salesman.TravelingSalesmanConfig"),
    "king_of_the_hill": ("king_of_the_hill-v1", "king_hill.KingHillConfig"),
}


def origin_rollout(path: str, task: str, num_envs: int):
    import importlib

    import jax
    import jax.numpy as jnp

    os.environ.setdefault("FLAX_PYTREE_MODULE", "false")  # flax 0.11's module semantics
    for name in ("optuna", "wandb", "tensorboardX", "craftax", "craftax.craftax_env"):
        sys.modules.setdefault(name, types.ModuleType(name))
    sys.modules["craftax.craftax_env"].make_craftax_env_from_name = None  # type: ignore[attr-defined]
    sys.path.insert(0, path)
    from jaxrl.envs.env_config import create_env

    module, cls = TASKS[task][1].rsplit(".", 1)
    config = getattr(importlib.import_module(f"jaxrl.envs.gridworld.{module}"), cls)()
    env = create_env(config, STEPS, vec_count=num_envs)
    n_actions = env.action_spec.num_actions

    def run(key):
        state, _ = env.reset(key)

        def body(carry, key):
            state, acc = carry
            key_act, key_step = jax.random.split(key)
            actions = jax.random.randint(key_act, (env.num_agents,), 0, n_actions)
            state, ts = env.step(state, actions, key_step)
            obs = sum(jnp.sum(x.astype(jnp.float32)) for x in jax.tree.leaves(ts.obs))
            return (state, acc + obs + ts.last_reward.sum()), None

        keys = jax.random.split(key, STEPS)
        return jax.lax.scan(body, (state, jnp.float32(0)), keys)[0][1]

    return run, env.num_agents


def our_rollout(task: str, num_envs: int):
    import jax
    import jax.numpy as jnp

    from pmarl_bench import envs

    env = envs.make(TASKS[task][0])
    params = env.default_params
    step = env.step if env.needs_auto_reset(STEPS) else env.step_no_reset

    def run(key):
        keys = jax.random.split(key, num_envs)
        state, _ = jax.vmap(env.reset, in_axes=(0, None))(keys, params)

        def body(carry, key):
            state, acc = carry
            key_act, key_step = jax.random.split(key)
            actions = jax.random.randint(key_act, (num_envs, env.num_agents), 0, env.action_space.n)
            keys = jax.random.split(key_step, num_envs)
            state, ts = jax.vmap(step, in_axes=(0, 0, 0, None))(keys, state, actions, params)
            obs = sum(jnp.sum(x.astype(jnp.float32)) for x in jax.tree.leaves(ts.obs))
            return (state, acc + obs + ts.reward.sum()), None

        return jax.lax.scan(body, (state, jnp.float32(0)), jax.random.split(key, STEPS))[0][1]

    return run, num_envs * env.num_agents


def worker(args) -> None:
    import jax

    if args.worker == "origin":
        run, agents = origin_rollout(args.origin, args.task, args.num_envs)
    else:
        run, agents = our_rollout(args.task, args.num_envs)
    key = jax.random.key(0)
    compiled = jax.jit(run).lower(key).compile()
    serve(lambda: jax.block_until_ready(compiled(key)), {"agents": agents})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--origin", help="the origin's source tree (holding jaxrl/)")
    ap.add_argument("--python", help="a Python with the origin's packages")
    ap.add_argument("--envs", default="256,2048", help="env counts, comma-separated")
    ap.add_argument("--tasks", default=",".join(TASKS), help=",".join(TASKS))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--worker", choices=["ours", "origin"], help=argparse.SUPPRESS)
    ap.add_argument("--task", help=argparse.SUPPRESS)
    ap.add_argument("--num-envs", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args)
    if not (args.origin and args.python):
        ap.error("--origin and --python are required (see the module docstring)")
    me = str(Path(__file__).resolve())
    print("| task | envs | agents | ours agent-steps/s | origin agent-steps/s | ours / origin |")
    print("|---|---|---|---|---|---|")
    for task in args.tasks.split(","):
        for num_envs in map(int, args.envs.split(",")):
            tail = ["--task", task, "--num-envs", str(num_envs)]
            ours = Worker([sys.executable, me, *tail, "--worker", "ours"])
            peer = [args.python, me, *tail, "--worker", "origin", "--origin", args.origin]
            theirs = Worker(peer)
            info, their_info = ours.ready, theirs.ready
            times: dict[str, list[float]] = {"ours": [], "origin": []}
            for r in range(args.rounds):
                pair = [("ours", ours), ("origin", theirs)]
                for name, w in pair if r % 2 == 0 else pair[::-1]:
                    times[name].append(w.run())
            ours.close()
            theirs.close()
            ratios = [o / s for s, o in zip(times["ours"], times["origin"], strict=True)]
            ours_rate = STEPS * info["agents"] / statistics.median(times["ours"])
            their_rate = STEPS * their_info["agents"] / statistics.median(times["origin"])
            print(
                f"| {task} | {num_envs} | {info['agents']} / {their_info['agents']} "
                f"| {ours_rate:,.0f} | {their_rate:,.0f} "
                f"| {statistics.median(ratios):.2f} [{min(ratios):.2f}, {max(ratios):.2f}] |",
                flush=True,
            )


if __name__ == "__main__":
    main()
