"""FLOPs of the training program, from XLA's cost analysis: what an update computes per
agent-step, acting (env and policy over the rollout) and learning (every epoch and minibatch)
apart, so that a measured speed becomes an achieved FLOP/s and a share of the device's peak.

XLA's analysis counts the body of a loop once, whatever its trip count. ``program_flops``
multiplies every ``scan`` out: it walks the program's jaxpr and, for each scan, adds its body's
FLOPs times its length less the one time XLA already counted (nested scans alike). Loops whose
trip count is not static (``while``) stay counted once; the trainer has none in an update."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
from jax.extend import core

#: ``Lowered.cost_analysis`` of the same program is the same: lower each body once
_Flops = dict[int, float]


def program_flops(fn: Callable, *args: Any) -> float:
    """FLOPs of one call ``fn(*args)`` (arrays or ``jax.ShapeDtypeStruct``s), every ``scan``
    multiplied out. Nothing runs: the program is traced and lowered, not compiled."""
    closed = jax.make_jaxpr(fn)(*args)
    return _xla_flops(closed) + _loop_correction(closed.jaxpr, {})


def _xla_flops(closed: core.ClosedJaxpr) -> float:
    """What XLA's cost analysis counts for ``closed`` (each loop body once)."""
    avals = [v.aval for v in closed.jaxpr.invars]
    args = [jax.ShapeDtypeStruct(a.shape, a.dtype) for a in avals]
    cost = jax.jit(core.jaxpr_as_fun(closed)).lower(*args).cost_analysis()
    if isinstance(cost, list | tuple):  # older JAX: one dict per computation
        cost = cost[0] if cost else {}
    return float((cost or {}).get("flops", 0.0))


def _loop_correction(jaxpr: core.Jaxpr, memo: _Flops) -> float:
    """FLOPs that XLA's once-per-body count misses in ``jaxpr``: for each scan,
    ``(length - 1)`` times its body's FLOPs, and the same inside every nested program."""
    extra = 0.0
    for eqn in jaxpr.eqns:
        if eqn.primitive.name == "scan":
            body = eqn.params["jaxpr"]
            key = id(body)
            if key not in memo:
                memo[key] = _xla_flops(body) + _loop_correction(body.jaxpr, memo)
            # XLA counted the body's own operations once, its nested loops' bodies once each
            extra += (eqn.params["length"] - 1) * memo[key] + _loop_correction(body.jaxpr, memo)
            continue
        for sub in core.jaxprs_in_params(eqn.params):
            extra += _loop_correction(sub, memo)
    return extra


def update_flops(train) -> dict[str, float]:
    """FLOPs per agent-step of one PPO update of ``train`` (a ``trainer.Train``):
    ``acting`` (a rollout of env steps and policy steps, with GAE) and ``learning`` (every
    epoch and minibatch: forward, backward and the optimizer)."""
    key = jax.ShapeDtypeStruct((), jax.random.key(0).dtype)
    params = jax.eval_shape(train.agent.init, jax.random.key(0))
    opt_state = jax.eval_shape(train.optimizer.init, params)
    rollout = jax.eval_shape(lambda k: train.envs.fresh(k, train.agent), jax.random.key(0))
    _, _, data = jax.eval_shape(train.collect_batch, params, rollout, jax.random.key(0))
    acting = program_flops(train.collect_batch, params, rollout, key)
    learning = program_flops(train._learn, params, opt_state, data, key)
    steps = train.agent_steps_per_update
    return {"acting": acting / steps, "learning": learning / steps}
