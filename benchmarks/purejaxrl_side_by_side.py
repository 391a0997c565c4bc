"""Seeds in one program, side by side with PureJaxRL itself: CartPole-v1 MLP PPO at
PureJaxRL's settings (its ``ppo.py`` ``__main__`` config: 4 envs x 128 steps, 4 epochs x 4
minibatches, lr 2.5e-4 annealed, separate 64 x 2 tanh actor and critic), ``jax.jit(jax.vmap(
train))`` over 1, 4 and 16 seeds on each side.

PureJaxRL needs packages pmarl-bench does not lock (distrax, gymnax 0.0.9's API), so each side
runs in a worker process of its own Python; both compile and warm up first, then the driver
asks them to run in turns (ABBA order), so a noisy machine slows both alike. The ratio of each
round is pmarl-bench / PureJaxRL in env steps per second (compile excluded).

    git clone https://github.com/luchris429/purejaxrl /tmp/purejaxrl   # commit 31756b1
    uv venv -p 3.11 /tmp/pjr && uv pip install -p /tmp/pjr/bin/python jax==0.10.2 \\
        flax optax distrax tfp-nightly gymnax==0.0.9
    uv run python benchmarks/purejaxrl_side_by_side.py \\
        --purejaxrl /tmp/purejaxrl/purejaxrl --python /tmp/pjr/bin/python --seeds 1,4,16

PureJaxRL's timed loop runs unmodified. Two things outside it: its ``wrappers.py`` imports brax
and navix (not used by CartPole), so empty stand-ins are installed when they are missing; and
its network init runs one seed at a time (``jax.custom_batching.sequential_vmap``), because on
JAX 0.10.2 the whole vmapped program hangs (idle, a deadlock) at more than one seed when the
init is vmapped with the rest. The init runs once per call, before the training scan.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import types
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from worker_protocol import Worker, serve

#: PureJaxRL's ``ppo.py`` ``__main__`` config (DEBUG off: its host callback is not timed work)
PUREJAXRL_CONFIG = {
    "LR": 2.5e-4,
    "NUM_ENVS": 4,
    "NUM_STEPS": 128,
    "UPDATE_EPOCHS": 4,
    "NUM_MINIBATCHES": 4,
    "GAMMA": 0.99,
    "GAE_LAMBDA": 0.95,
    "CLIP_EPS": 0.2,
    "ENT_COEF": 0.01,
    "VF_COEF": 0.5,
    "MAX_GRAD_NORM": 0.5,
    "ACTIVATION": "tanh",
    "ENV_NAME": "CartPole-v1",
    "ANNEAL_LR": True,
}


def purejaxrl_train(path: str, steps: int):
    import jax

    for name in ("brax", "brax.envs", "brax.envs.wrappers", "brax.envs.wrappers.training"):
        sys.modules.setdefault(name, types.ModuleType(name))
    training = sys.modules["brax.envs.wrappers.training"]
    for name in ("EpisodeWrapper", "AutoResetWrapper"):
        if not hasattr(training, name):
            setattr(training, name, object)
    if not hasattr(sys.modules["brax"], "envs"):
        sys.modules["brax"].envs = sys.modules["brax.envs"]  # type: ignore[attr-defined]
    try:
        import navix  # noqa: F401
    except ImportError:
        sys.modules["navix"] = types.ModuleType("navix")
    sys.path.insert(0, path)
    import ppo  # PureJaxRL's purejaxrl/ppo.py

    init = ppo.ActorCritic.init

    def init_one_seed_at_a_time(self, rng, *args, **kwargs):
        one = lambda r: init(self, r, *args, **kwargs)
        return jax.custom_batching.sequential_vmap(one)(rng)

    ppo.ActorCritic.init = init_one_seed_at_a_time
    return ppo.make_train({**PUREJAXRL_CONFIG, "TOTAL_TIMESTEPS": steps})


def pmarl_train(steps: int):
    from pmarl_bench import envs
    from pmarl_bench.agents import MLPConfig, make_agent
    from pmarl_bench.trainer import PPOConfig, Train

    c = PUREJAXRL_CONFIG
    env = envs.make("gymnax:CartPole-v1")
    net = MLPConfig(width=64, depth=2, activation="tanh", separate_value=True, inputs=("obs",))
    agent = make_agent(net, env.observation_space, env.action_space)
    cfg = PPOConfig(
        total_env_steps=steps,
        num_envs=c["NUM_ENVS"],
        rollout_length=c["NUM_STEPS"],
        mode="continuing",
        num_epochs=c["UPDATE_EPOCHS"],
        num_minibatches=c["NUM_MINIBATCHES"],
        gamma=c["GAMMA"],
        gae_lambda=c["GAE_LAMBDA"],
        clip_eps=c["CLIP_EPS"],
        clip_value=True,  # as PureJaxRL
        vf_coef=c["VF_COEF"],
        ent_coef=c["ENT_COEF"],
        max_grad_norm=c["MAX_GRAD_NORM"],
        lr=c["LR"],
        lr_schedule="linear",
    )
    return Train(env, agent, cfg).__call__


def worker(args) -> None:
    """Compile, warm up, say ``ready``, then time one run per ``run`` line on stdin."""
    import math

    import jax
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    if args.worker == "purejaxrl":
        train = purejaxrl_train(args.purejaxrl, args.steps)
        key = jax.random.PRNGKey(0)  # raw uint32 keys, as its ppo.py
    else:
        train = pmarl_train(args.steps)
        key = jax.random.key(0)
    keys = jax.random.split(key, int(args.seeds))
    program = jax.jit(jax.vmap(train))
    # several CPU devices (JAX_NUM_CPU_DEVICES): seeds spread over as many as divide their
    # count, as pmarl-bench's runner lays them out (each device runs its own seeds)
    spread = math.gcd(len(keys), jax.device_count())
    if spread > 1:
        mesh = Mesh(jax.devices()[:spread], ("seed",))
        seeds = NamedSharding(mesh, PartitionSpec("seed"))
        keys = jax.device_put(keys, seeds)
        program = jax.jit(jax.vmap(train), in_shardings=seeds, out_shardings=seeds)
    t0 = time.perf_counter()
    compiled = program.lower(keys).compile()
    ready = {"ready": time.perf_counter() - t0, "spread": spread}
    serve(lambda: jax.block_until_ready(compiled(keys)), ready)


def cpu_devices(n: int) -> dict[str, str]:
    return {"JAX_NUM_CPU_DEVICES": str(n)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--purejaxrl", help="PureJaxRL's purejaxrl/ folder (holding ppo.py)")
    ap.add_argument("--python", help="a Python with PureJaxRL's packages")
    ap.add_argument("--seeds", default="1,4,16", help="seed counts, comma-separated")
    ap.add_argument("--steps", type=int, default=2**18, help="env steps per seed per run")
    ap.add_argument("--rounds", type=int, default=5, help="timed runs per side (interleaved)")
    ap.add_argument(
        "--cpu-devices",
        default="1,2",
        help="pmarl-bench's JAX_NUM_CPU_DEVICES, comma-separated (PureJaxRL runs on one)",
    )
    ap.add_argument("--worker", choices=["pmarl", "purejaxrl"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args)
    if not (args.purejaxrl and args.python):
        ap.error("--purejaxrl and --python are required (see the module docstring)")
    me = [str(Path(__file__).resolve()), "--steps", str(args.steps)]
    print(
        "| seeds | pmarl-bench CPU devices (used) | pmarl-bench steps/s | PureJaxRL steps/s "
        "| ratio median [min, max] | compile pmarl / PureJaxRL s |"
    )
    print("|---|---|---|---|---|---|")
    devices = [int(d) for d in args.cpu_devices.split(",")]
    for seeds in map(int, args.seeds.split(",")):
        tail = [*me, "--seeds", str(seeds)]
        peer = [args.python, *tail, "--worker", "purejaxrl", "--purejaxrl", args.purejaxrl]
        workers: dict[str | int, Worker] = {
            "theirs": Worker(peer, cpu_devices(1)),
            **{
                d: Worker([sys.executable, *tail, "--worker", "pmarl"], cpu_devices(d))
                for d in devices
            },
        }
        times: dict = {name: [] for name in workers}
        for r in range(args.rounds):  # each round in another order: rotated
            names = list(workers)
            for name in names[r % len(names) :] + names[: r % len(names)]:
                times[name].append(workers[name].run())
        for w in workers.values():
            w.close()
        steps = (args.steps // (4 * 128)) * 4 * 128 * seeds
        theirs = workers["theirs"]
        their_rate = steps / statistics.median(times["theirs"])
        for d in devices:
            ratios = [t / o for o, t in zip(times[d], times["theirs"], strict=True)]
            print(
                f"| {seeds} | {d} ({workers[d].ready['spread']}) "
                f"| {steps / statistics.median(times[d]):,.0f} | {their_rate:,.0f} "
                f"| {statistics.median(ratios):.2f} [{min(ratios):.2f}, {max(ratios):.2f}] "
                f"| {workers[d].ready['ready']:.1f} / {theirs.ready['ready']:.1f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
