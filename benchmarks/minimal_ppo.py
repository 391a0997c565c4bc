"""Minimal single-file PPO for gymnax CartPole-v1: one jitted ``train(key)``, vmapped over seeds.

A reference point for the shared trainer: plain-jax MLP actor-critic (separate or shared torso),
GAE, clipped surrogate, minibatch scan over shuffled transitions (or whole sequences).

    uv run python benchmarks/minimal_ppo.py --num-envs 4 --rollout-length 128 --steps 500000
"""

import argparse
import time
from collections import namedtuple
from dataclasses import dataclass, replace

import gymnax
import jax
import jax.numpy as jnp
import numpy as np
import optax


@dataclass(frozen=True)
class Config:
    num_envs: int = 4
    rollout_length: int = 128
    steps: int = 500_000
    epochs: int = 4
    minibatches: int = 4
    width: int = 64
    depth: int = 2
    shared: bool = False  # one torso for policy and value (as pmarl-bench's MLP agent)
    seq_minibatches: bool = False  # minibatches of whole env sequences (as pmarl-bench)
    lr: float = 2.5e-4
    gamma: float = 0.99
    lam: float = 0.95
    clip_eps: float = 0.2
    clip_value: bool = True
    ent_coef: float = 0.01
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5

    @property
    def num_updates(self) -> int:
        return self.steps // (self.num_envs * self.rollout_length)


# ep_return: the return of an episode that ended on this step, else 0
Transition = namedtuple("Transition", "obs action log_prob value reward done ep_return")


def init_net(cfg: Config, key, obs_dim: int, num_actions: int):
    """Layer lists: a tanh torso (shared only), then policy and value MLPs (tanh hidden layers).
    Variance-scaling init: no QR (orthogonal init) under vmap, which can deadlock XLA on CPU."""
    keys = iter(jax.random.split(key, 3 * cfg.depth + 2))

    def stack(sizes, out_gain):
        gains = [np.sqrt(2.0)] * (len(sizes) - 2) + [out_gain]
        return [
            {"w": jax.random.normal(next(keys), (i, o)) * g / np.sqrt(i), "b": jnp.zeros(o)}
            for i, o, g in zip(sizes[:-1], sizes[1:], gains, strict=True)
        ]

    hidden = [obs_dim] + [cfg.width] * cfg.depth
    torso = stack(hidden, np.sqrt(2.0)) if cfg.shared else []
    hidden = [cfg.width] if cfg.shared else hidden
    return {
        "torso": torso,
        "pi": stack([*hidden, num_actions], 0.01),
        "v": stack([*hidden, 1], 1.0),
    }


def apply_net(params, x):
    for layer in params["torso"]:
        x = jnp.tanh(x @ layer["w"] + layer["b"])

    def mlp(layers, h):
        for layer in layers[:-1]:
            h = jnp.tanh(h @ layer["w"] + layer["b"])
        return h @ layers[-1]["w"] + layers[-1]["b"]

    return mlp(params["pi"], x), mlp(params["v"], x)[..., 0]


def make_train(cfg: Config):
    env, env_params = gymnax.make("CartPole-v1")
    num_actions = env.action_space(env_params).n
    batch = cfg.num_envs * cfg.rollout_length
    total_opt_steps = cfg.num_updates * cfg.epochs * cfg.minibatches
    tx = optax.chain(
        optax.clip_by_global_norm(cfg.max_grad_norm),
        optax.adam(optax.linear_schedule(cfg.lr, 0.0, total_opt_steps), eps=1e-5),
    )
    v_reset = jax.vmap(env.reset, in_axes=(0, None))
    v_step = jax.vmap(env.step, in_axes=(0, 0, 0, None))

    def loss_fn(params, mb: Transition, adv, target):
        logits, value = apply_net(params, mb.obs)
        logp_all = jax.nn.log_softmax(logits)
        logp = jnp.take_along_axis(logp_all, mb.action[:, None], axis=-1)[:, 0]
        ratio = jnp.exp(logp - mb.log_prob)
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
        clipped = jnp.clip(ratio, 1.0 - cfg.clip_eps, 1.0 + cfg.clip_eps)
        pg_loss = -jnp.minimum(ratio * adv, clipped * adv).mean()
        v_err = jnp.square(value - target)
        if cfg.clip_value:
            v_clip = mb.value + jnp.clip(value - mb.value, -cfg.clip_eps, cfg.clip_eps)
            v_err = jnp.maximum(v_err, jnp.square(v_clip - target))
        entropy = -jnp.sum(jnp.exp(logp_all) * logp_all, axis=-1).mean()
        return pg_loss + cfg.vf_coef * 0.5 * v_err.mean() - cfg.ent_coef * entropy

    def rollout_step(carry, key):
        params, env_state, obs, ep_ret = carry
        k_act, k_env = jax.random.split(key)
        logits, value = apply_net(params, obs)
        action = jax.random.categorical(k_act, logits)
        logp = jnp.take_along_axis(jax.nn.log_softmax(logits), action[:, None], axis=-1)[:, 0]
        keys = jax.random.split(k_env, cfg.num_envs)
        next_obs, env_state, reward, term, trunc, _ = v_step(keys, env_state, action, env_params)
        done = term | trunc  # PureJaxRL semantics: a time limit ends the bootstrap too
        ep_ret = ep_ret + reward
        tr = Transition(obs, action, logp, value, reward, done, jnp.where(done, ep_ret, 0.0))
        return (params, env_state, next_obs, jnp.where(done, 0.0, ep_ret)), tr

    def gae(traj: Transition, last_value):
        def back(carry, x):
            (adv, next_value), (reward, value, done) = carry, x
            not_done = 1.0 - done.astype(jnp.float32)
            delta = reward + cfg.gamma * next_value * not_done - value
            adv = delta + cfg.gamma * cfg.lam * not_done * adv
            return (adv, value), adv

        init = (jnp.zeros_like(last_value), last_value)
        _, adv = jax.lax.scan(back, init, (traj.reward, traj.value, traj.done), reverse=True)
        return adv, adv + traj.value

    def update(runner, _):
        params, opt_state, env_state, obs, ep_ret, key = runner
        key, k_roll, k_perm = jax.random.split(key, 3)
        keys = jax.random.split(k_roll, cfg.rollout_length)
        (_, env_state, obs, ep_ret), traj = jax.lax.scan(
            rollout_step, (params, env_state, obs, ep_ret), keys
        )
        adv, target = gae(traj, apply_net(params, obs)[1])
        flat = jax.tree.map(lambda x: x.reshape(batch, *x.shape[2:]), (traj, adv, target))

        def epoch(state, key):
            if cfg.seq_minibatches:  # flat index t * E + e; keep each env's T steps together
                envs = jax.random.permutation(key, cfg.num_envs)
                perm = (envs[:, None] + cfg.num_envs * jnp.arange(cfg.rollout_length)).ravel()
            else:
                perm = jax.random.permutation(key, batch)
            shuffle = lambda x: jnp.take(x, perm, axis=0)
            mbs = jax.tree.map(
                lambda x: shuffle(x).reshape(cfg.minibatches, -1, *x.shape[1:]), flat
            )

            def sgd_step(state, mb):
                params, opt_state = state
                grads = jax.grad(loss_fn)(params, *mb)
                updates, opt_state = tx.update(grads, opt_state, params)
                return (optax.apply_updates(params, updates), opt_state), None

            return jax.lax.scan(sgd_step, state, mbs)[0], None

        (params, opt_state), _ = jax.lax.scan(
            epoch, (params, opt_state), jax.random.split(k_perm, cfg.epochs)
        )
        n_done = traj.done.sum()
        ret = jnp.where(n_done > 0, traj.ep_return.sum() / jnp.maximum(n_done, 1), jnp.nan)
        return (params, opt_state, env_state, obs, ep_ret, key), ret

    def train(key):
        k_net, k_env, key = jax.random.split(key, 3)
        params = init_net(cfg, k_net, env.observation_space(env_params).shape[0], num_actions)
        obs, env_state = v_reset(jax.random.split(k_env, cfg.num_envs), env_params)
        runner = (params, tx.init(params), env_state, obs, jnp.zeros(cfg.num_envs), key)
        runner, returns = jax.lax.scan(update, runner, length=cfg.num_updates)
        return runner[0], returns

    return train


def final_return(returns: np.ndarray) -> np.ndarray:
    """Per seed: mean episode return over the last ~5% of updates."""
    return np.nanmean(returns[..., -max(1, returns.shape[-1] // 20) :], axis=-1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--num-envs", type=int, default=4)
    ap.add_argument("--rollout-length", type=int, default=128)
    ap.add_argument("--steps", type=int, default=500_000, help="env steps per seed")
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--shared", action="store_true", help="shared actor-critic torso")
    ap.add_argument("--seq-minibatches", action="store_true", help="shuffle whole sequences")
    args = ap.parse_args()
    cfg = Config(args.num_envs, args.rollout_length, args.steps, shared=args.shared)
    cfg = replace(cfg, seq_minibatches=args.seq_minibatches)
    keys = jax.random.split(jax.random.key(0), args.seeds)
    t0 = time.perf_counter()
    compiled = jax.jit(jax.vmap(make_train(cfg))).lower(keys).compile()
    t1 = time.perf_counter()
    _, returns = jax.block_until_ready(compiled(keys))
    run_s = time.perf_counter() - t1
    steps = cfg.num_updates * cfg.num_envs * cfg.rollout_length * args.seeds
    final = final_return(np.asarray(returns))
    print(f"compile {t1 - t0:.2f} s  run {run_s:.2f} s  {steps / run_s:,.0f} agent-steps/s")
    print(f"final mean return per seed: {np.round(final, 1).tolist()}  mean {final.mean():.1f}")


if __name__ == "__main__":
    main()
