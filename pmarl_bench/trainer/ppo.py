"""``Train(env, agent, cfg)``: PPO with everything static closed over.

``train(key)`` runs the whole budget as one program; ``train.init`` and ``train.chunk`` split
it into jitted chunks of updates so a host loop can show progress and check for NaN between
them (see ``trainer.loop``). All three are pure and get vmapped over seeds by the caller.

The PPO settings that change no array shape (``Hyper``: learning rate, loss coefficients,
discounting, clipping) are read as values, not constants: ``chunk(state, hyper)`` takes them as
an argument, so one compiled program trains several settings side by side, vmapped with the
seeds (a sweep), and a setting trained alone runs the very same program.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from pmarl_bench.agents.base import Agent, AgentConfig
from pmarl_bench.errors import ConfigError
from pmarl_bench.trainer.config import PPOConfig
from pmarl_bench.trainer.gae import gae
from pmarl_bench.trainer.losses import Batch, ppo_loss
from pmarl_bench.trainer.mesh import shard_rows
from pmarl_bench.trainer.rollout import EnvBatch, RolloutState, Transition, collect
from pmarl_bench.types import EnvLike

LOSS_METRICS = ("policy_loss", "value_loss", "entropy", "grad_norm")


class Hyper(NamedTuple):
    """The PPO settings a sweep varies inside one program (float32 scalars, or ``[n]`` arrays
    vmapped with the seeds; host arrays or shape structs outside the program); the rest of
    ``PPOConfig`` shapes the program."""

    lr: Any
    ent_coef: Any
    vf_coef: Any
    clip_eps: Any
    gamma: Any
    gae_lambda: Any
    max_grad_norm: Any


#: the ``PPOConfig`` fields a sweep can vary without a new program
TRACED = Hyper._fields


def hyper(cfg: PPOConfig, **values: float) -> Hyper:
    """``cfg``'s traced settings as float32 scalars, ``values`` replacing some of them."""
    unknown = set(values) - set(TRACED)
    if unknown:
        raise ValueError(f"not traced settings: {', '.join(sorted(unknown))}")
    merged = {k: values.get(k, getattr(cfg, k)) for k in TRACED}
    return Hyper(**{k: jnp.float32(v) for k, v in merged.items()})


class RunnerState(NamedTuple):
    params: Any
    opt_state: Any
    rollout: RolloutState
    key: jax.Array
    update: jax.Array


def validate(env: EnvLike, cfg: PPOConfig, network: AgentConfig | None = None) -> None:
    """Reject batch shapes and settings the trainer cannot run, naming the field."""
    if network is not None and cfg.clip_value and network.value_head.kind != "mse":
        raise ConfigError(
            f"value clipping applies to the mse value head, not {network.value_head.kind}",
            "ppo.clip_value",
        )
    groups = env.groups(cfg.num_envs)
    batch = sum(g.num_envs * g.env.num_agents for g in groups)
    if batch % cfg.num_minibatches:
        sizes = " + ".join(f"{g.num_envs} x {g.env.num_agents}" for g in groups)
        raise ConfigError(
            f"num_envs x num_agents = {sizes} = {batch} sequences "
            f"cannot be split into {cfg.num_minibatches} equal minibatches; "
            "choose a divisor of it",
            "ppo.num_minibatches",
        )
    per_update = cfg.num_envs * cfg.rollout_length
    if cfg.total_env_steps < per_update:
        raise ConfigError(
            f"{cfg.total_env_steps} env steps are fewer than one update "
            f"(num_envs x rollout_length = {per_update})",
            "steps",
        )


def _chunk_size(num_updates: int, requested: int | None) -> int:
    """Updates per jitted call: a divisor of ``num_updates`` (so every call has one shape),
    about 1/25 of the run unless requested."""
    target = requested or max(1, num_updates // 25)
    target = min(target, num_updates)
    return max(d for d in range(1, target + 1) if num_updates % d == 0)


class Train:
    """The compiled-once training program of one (env, agent, config) cell."""

    def __init__(self, env: EnvLike, agent: Agent, cfg: PPOConfig, env_params=None):
        validate(env, cfg, agent.config)
        self.env, self.agent, self.cfg = env, agent, cfg
        self.env_params = env.default_params if env_params is None else env_params
        # fresh fixed-length episodes at least T long never reach an auto-reset
        auto_reset = cfg.mode == "continuing" or env.needs_auto_reset(cfg.rollout_length)
        self.envs = EnvBatch(env, self.env_params, cfg.num_envs, auto_reset=auto_reset)
        self.env_steps_per_update = cfg.num_envs * cfg.rollout_length
        self.agent_steps_per_update = cfg.rollout_length * self.envs.batch
        self.num_updates = cfg.total_env_steps // self.env_steps_per_update
        self.updates_per_chunk = _chunk_size(self.num_updates, cfg.updates_per_chunk)
        self.num_chunks = self.num_updates // self.updates_per_chunk
        # A truncation inside the rollout needs the final obs's value at that step; when
        # episodes are fresh each update and no longer than T, only the last step can truncate
        # and the bootstrap step after the loop covers it.
        limit = env.max_episode_steps
        self.value_truncated_midway = cfg.bootstrap_truncated and not (
            cfg.mode == "episodic" and limit is not None and cfg.rollout_length <= limit
        )
        total_opt_steps = self.num_updates * cfg.num_epochs * cfg.num_minibatches
        # the schedule's shape, times the (traced) learning rate
        self.decay = {
            "constant": optax.constant_schedule(1.0),
            "linear": optax.linear_schedule(1.0, 0.0, total_opt_steps),
            "cosine": optax.cosine_decay_schedule(1.0, total_opt_steps),
        }[cfg.lr_schedule]
        self.defaults = hyper(cfg)

    def schedule(self, count, lr=None) -> jax.Array:
        """The learning rate at optimizer step ``count`` (``lr``: the traced peak rate)."""
        lr = self.defaults.lr if lr is None else lr
        return lr * jnp.asarray(self.decay(count), jnp.float32)

    def optimizer(self, h: Hyper | None = None) -> optax.GradientTransformation:
        """Adam after clipping the gradient's global norm; its state's structure does not
        depend on ``h``, so one ``init`` serves every setting of a sweep."""
        h = self.defaults if h is None else h
        return optax.chain(
            optax.clip_by_global_norm(h.max_grad_norm),  # the gradient, before Adam
            optax.adam(lambda count: self.schedule(count, h.lr), eps=self.cfg.adam_eps),
        )

    # -- public, pure --------------------------------------------------------------------
    def init(self, key: jax.Array) -> RunnerState:
        key_params, key_env, key = jax.random.split(key, 3)
        params = self.agent.init(key_params)
        return RunnerState(
            params,
            self.optimizer().init(params),
            self.envs.fresh(key_env, self.agent),
            key,
            jnp.int32(0),
        )

    def chunk(
        self, state: RunnerState, h: Hyper | None = None
    ) -> tuple[RunnerState, dict[str, jax.Array]]:
        """``updates_per_chunk`` updates; metrics ``[updates_per_chunk]``. ``h``: the traced
        settings (default: the config's, as constants)."""
        return jax.lax.scan(lambda s, _: self.update(s, h), state, length=self.updates_per_chunk)

    def __call__(
        self, key: jax.Array, h: Hyper | None = None
    ) -> tuple[RunnerState, dict[str, jax.Array]]:
        """The whole budget in one program; metrics ``[num_updates]``."""
        state = self.init(key)
        return jax.lax.scan(lambda s, _: self.update(s, h), state, length=self.num_updates)

    # -- one PPO update ------------------------------------------------------------------
    def update(
        self, state: RunnerState, h: Hyper | None = None
    ) -> tuple[RunnerState, dict[str, jax.Array]]:
        h = self.defaults if h is None else h
        key, key_roll, key_learn = jax.random.split(state.key, 3)
        rollout, traj, data = self.collect_batch(state.params, state.rollout, key_roll, h)
        params, opt_state, learn_metrics = self._learn(
            state.params, state.opt_state, data, key_learn, h
        )
        cfg = self.cfg
        metrics = {
            **self._episode_metrics(traj),
            **learn_metrics,
            "learning_rate": self.schedule(
                state.update * cfg.num_epochs * cfg.num_minibatches, h.lr
            ),
            "explained_variance": _explained_variance(traj.value, data.target),
        }
        return RunnerState(params, opt_state, rollout, key, state.update + 1), metrics

    def collect_batch(
        self, params, rollout: RolloutState, key: jax.Array, h: Hyper | None = None
    ) -> tuple[RolloutState, Transition, Batch]:
        """Act for one rollout (from fresh episodes in episodic mode) and turn it into the
        learner's batch: GAE advantages and targets, and the memory the sequences start from."""
        cfg = self.cfg
        h = self.defaults if h is None else h
        key_reset, key_roll = jax.random.split(key)
        if cfg.mode == "episodic":
            rollout = self.envs.fresh(key_reset, self.agent)
        carry0 = rollout.carry
        rollout, traj, last_value = collect(
            self.agent,
            params,
            self.envs,
            rollout,
            key_roll,
            cfg.rollout_length,
            self.value_truncated_midway,
        )
        next_values = jnp.concatenate([traj.value[1:], last_value[None]], axis=0)
        truncated = traj.done & ~traj.terminated
        if self.value_truncated_midway:
            next_values = next_values.at[:-1].set(
                jnp.where(truncated[:-1], traj.final_value[:-1], next_values[:-1])
            )
        terminated = traj.terminated if cfg.bootstrap_truncated else traj.done
        advantages, targets = gae(
            traj.reward,
            traj.value,
            next_values,
            terminated,
            traj.done,
            h.gamma,
            h.gae_lambda,
        )
        data = Batch(
            carry0 if cfg.mode == "continuing" else None,  # episodic: memory starts empty
            traj.inputs,
            traj.action_mask,
            traj.action,
            traj.log_prob,
            traj.value,
            advantages,
            targets,
        )
        return rollout, traj, data

    def _learn(self, params, opt_state, data: Batch, key, h: Hyper | None = None):
        cfg = self.cfg
        h = self.defaults if h is None else h
        optimizer = self.optimizer(h)
        batch = self.envs.batch
        mb = batch // cfg.num_minibatches
        grad_fn = jax.value_and_grad(ppo_loss, has_aux=True)

        def minibatches(perm):
            def take(x, axis):
                x = jnp.take(x, perm, axis=axis)
                shape = (*x.shape[:axis], cfg.num_minibatches, mb, *x.shape[axis + 1 :])
                return jnp.moveaxis(x.reshape(shape), axis, 0)

            carry = jax.tree.map(lambda x: take(x, 0), data.carry)
            rest = jax.tree.map(lambda x: take(x, 1), data._replace(carry=None))
            # with a data axis, each device learns on its slice of every minibatch
            return shard_rows(rest, 2)._replace(carry=shard_rows(carry, 1))

        def sgd_step(carry, minibatch):
            params, opt_state = carry
            (_, aux), grads = grad_fn(params, self.agent, minibatch, cfg, h)
            updates, opt_state = optimizer.update(grads, opt_state, params)
            params = optax.apply_updates(params, updates)
            aux["grad_norm"] = optax.tree.norm(grads)
            return (params, opt_state), aux

        def epoch(carry, key):
            return jax.lax.scan(sgd_step, carry, minibatches(jax.random.permutation(key, batch)))

        (params, opt_state), aux = jax.lax.scan(
            epoch, (params, opt_state), jax.random.split(key, cfg.num_epochs)
        )
        return params, opt_state, jax.tree.map(jnp.mean, aux)

    def _episode_metrics(self, traj) -> dict[str, jax.Array]:
        """Over all rows, and per task (``episode_return/<task>``) for a multi-task env."""
        groups = self.envs.groups
        per_group = [
            _episodes(traj, rows, g.env.num_agents)
            for g, rows in zip(groups, self.envs.rows, strict=True)
        ]
        totals = jax.tree.map(lambda *xs: sum(xs), *per_group)
        metrics = _episode_means(*totals)
        if len(groups) > 1:
            for g, counts in zip(groups, per_group, strict=True):
                metrics |= {f"{k}/{g.name}": v for k, v in _episode_means(*counts).items()}
        return metrics


def _episodes(traj: Transition, rows: slice, num_agents: int):
    """(agent episodes, their summed return and length, env episodes) ended in ``rows``."""
    count = traj.done[:, rows].sum()
    return (
        count,
        traj.completed_return[:, rows].sum(),
        traj.completed_length[:, rows].sum(),
        count // num_agents,
    )


def _episode_means(count, return_sum, length_sum, env_episodes) -> dict[str, jax.Array]:
    safe = jnp.maximum(count, 1)
    nan = jnp.float32(jnp.nan)
    return {
        "episode_return": jnp.where(count > 0, return_sum / safe, nan),
        "episode_length": jnp.where(count > 0, length_sum / safe, nan),
        "episodes": env_episodes.astype(jnp.float32),
    }


def _explained_variance(values: jax.Array, targets: jax.Array) -> jax.Array:
    var = jnp.var(targets)
    return jnp.where(var > 0, 1.0 - jnp.var(targets - values) / var, jnp.nan)


__all__ = ["LOSS_METRICS", "TRACED", "Hyper", "RunnerState", "Train", "hyper"]
