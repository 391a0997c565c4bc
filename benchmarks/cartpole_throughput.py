"""Training throughput on gymnax CartPole-v1: pmarl-bench's shared trainer beside the minimal
single-file PPO (benchmarks/minimal_ppo.py) at the same batch shapes, epochs, minibatches and
network (MLP 64 x 2, tanh, shared actor-critic torso). Ratios are against the first variant.

Each program is AOT-compiled as ``jax.jit(jax.vmap(train))`` over seeds, run once to warm up,
then timed over ``--repeats`` runs; the median is reported as agent-steps/s (compile excluded).

    uv run python benchmarks/cartpole_throughput.py --shapes 4x128,64x128,256x128 --seeds 1,4
"""

import argparse
import importlib
import platform
import statistics
import sys
import time
from pathlib import Path

import jax

from pmarl_bench import envs
from pmarl_bench.agents import MLPConfig, make_agent
from pmarl_bench.trainer import PPOConfig, Train

sys.path.insert(0, str(Path(__file__).resolve().parent))
minimal_ppo = importlib.import_module("minimal_ppo")

EPOCHS, MINIBATCHES, WIDTH, DEPTH = 4, 4, 64, 2


def minimal(num_envs: int, length: int, steps: int, seq_minibatches: bool = False):
    cfg = minimal_ppo.Config(
        num_envs, length, steps, EPOCHS, MINIBATCHES, WIDTH, DEPTH, True, seq_minibatches
    )
    return minimal_ppo.make_train(cfg)


def pmarl(num_envs: int, length: int, steps: int, **overrides):
    env = envs.make("gymnax:CartPole-v1")
    net = MLPConfig(width=WIDTH, depth=DEPTH, activation="tanh")
    agent = make_agent(net, env.observation_space, env.action_space)
    cfg = PPOConfig(
        total_env_steps=steps,
        num_envs=num_envs,
        rollout_length=length,
        mode="continuing",
        num_epochs=EPOCHS,
        num_minibatches=MINIBATCHES,
        lr=2.5e-4,
        clip_value=True,  # as the minimal PPO (PureJaxRL) does
        **overrides,
    )
    return Train(env, agent, cfg).__call__


# minimal_seq: minibatches of whole env sequences, as pmarl-bench (the same work);
# minimal: shuffled single transitions, as PureJaxRL (a sort-based permutation of E*T per epoch).
VARIANTS = {
    "minimal_seq": lambda e, t, s: minimal(e, t, s, seq_minibatches=True),
    "minimal": minimal,
    "pmarl": pmarl,
    "pmarl_nobt": lambda e, t, s: pmarl(e, t, s, bootstrap_truncated=False),
}


def measure(train, seeds: int, repeats: int) -> tuple[float, float]:
    """(compile seconds, median run seconds)."""
    keys = jax.random.split(jax.random.key(0), seeds)
    t0 = time.perf_counter()
    compiled = jax.jit(jax.vmap(train)).lower(keys).compile()
    compile_s = time.perf_counter() - t0
    jax.block_until_ready(compiled(keys))  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(compiled(keys))
        times.append(time.perf_counter() - t0)
    return compile_s, statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shapes", default="4x128,64x128,256x128", help="ENVSxLENGTH,...")
    ap.add_argument("--seeds", default="1,4", help="seed counts, comma-separated")
    ap.add_argument("--steps", type=int, default=2**18, help="env steps per seed per run")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--variants", default=",".join(VARIANTS), help=",".join(VARIANTS))
    args = ap.parse_args()
    names = args.variants.split(",")
    cpu = platform.processor() or platform.machine()
    print(f"# JAX {jax.__version__} on {jax.devices()[0].platform} ({cpu}); agent-steps/s")
    head = ["envs x T", "seeds", *names, *(f"{n}/{names[0]}" for n in names[1:])]
    head += [f"compile {n} s" for n in names]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for shape in args.shapes.split(","):
        num_envs, length = map(int, shape.split("x"))
        for seeds in map(int, args.seeds.split(",")):
            rates, compiles = [], []
            for name in names:
                train = VARIANTS[name](num_envs, length, args.steps)
                compile_s, run_s = measure(train, seeds, args.repeats)
                steps = (args.steps // (num_envs * length)) * num_envs * length * seeds
                rates.append(steps / run_s)
                compiles.append(compile_s)
            row = [shape, str(seeds), *(f"{r:,.0f}" for r in rates)]
            row += [f"{r / rates[0]:.2f}" for r in rates[1:]]
            row += [f"{c:.1f}" for c in compiles]
            print("| " + " | ".join(row) + " |", flush=True)


if __name__ == "__main__":
    main()
