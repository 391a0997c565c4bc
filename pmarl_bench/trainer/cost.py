"""FLOPs of the training program, from XLA's cost analysis: what an update computes per
agent-step, acting (env and policy over the rollout) and learning (every epoch and minibatch)
apart, so that a measured speed becomes an achieved FLOP/s and a share of the device's peak:
its data sheet's on a known accelerator, else the rate a fixed calibration kernel reaches.

XLA's analysis counts the body of a loop once, whatever its trip count. ``program_flops``
multiplies every ``scan`` out: it walks the program's jaxpr and, for each scan, adds its body's
FLOPs times its length less the one time XLA already counted (nested scans alike). Loops whose
trip count is not static (``while``) stay counted once; the trainer has none in an update."""

from __future__ import annotations

import functools
import statistics
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax.extend import core

#: per scan body (by id): its full FLOPs and what XLA's count of it misses; each body is
#: lowered once however often it appears
_Flops = dict[int, tuple[float, float]]


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
            if id(body) not in memo:
                missed = _loop_correction(body.jaxpr, memo)
                memo[id(body)] = (_xla_flops(body) + missed, missed)
            full, missed = memo[id(body)]
            # XLA counted the body's own operations once, its nested loops' bodies once each
            extra += (eqn.params["length"] - 1) * full + missed
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
    opt_state = jax.eval_shape(train.optimizer().init, params)
    rollout = jax.eval_shape(lambda k: train.envs.fresh(k, train.agent), jax.random.key(0))
    _, _, data = jax.eval_shape(train.collect_batch, params, rollout, jax.random.key(0))
    acting = program_flops(train.collect_batch, params, rollout, key)
    learning = program_flops(train._learn, params, opt_state, data, key)
    steps = train.agent_steps_per_update
    return {"acting": acting / steps, "learning": learning / steps}


def efficiency(train, agent_steps_per_second: float, dtype: str = "float32") -> dict:
    """A training run's model FLOPs per agent-step, achieved FLOP/s and share of the device's
    peak (``device_peak``), JSON-able (a manifest's ``efficiency``)."""
    flops = update_flops(train)
    achieved = agent_steps_per_second * (flops["acting"] + flops["learning"])
    peak, source = device_peak(dtype)
    return {
        "acting_flops_per_agent_step": flops["acting"],
        "learning_flops_per_agent_step": flops["learning"],
        "achieved_flops_per_second": achieved,
        "peak_flops_per_second": peak,
        "peak_source": source,
        "peak_share": achieved / peak,
    }


# -- the device's peak ---------------------------------------------------------------------
#: (device-kind substring, dense bf16 FLOP/s, fp32 FLOP/s without tensor cores), from the
#: vendors' data sheets (no sparsity); the first match wins. float32 matmuls may run on
#: tensor cores (TF32) and beat the fp32 figure.
KNOWN_PEAKS: tuple[tuple[str, float, float], ...] = (
    ("H100 PCIe", 756e12, 51.2e12),
    ("H100", 989e12, 66.9e12),  # SXM (the "80GB HBM3" card)
    ("H200", 989e12, 66.9e12),
    ("A100", 312e12, 19.5e12),
    ("L4", 121e12, 30.3e12),
)


def known_peak(device_kind: str, dtype: str) -> float | None:
    """The data-sheet peak of ``device_kind`` (``jax.devices()[0].device_kind``) for compute
    in ``dtype`` (bfloat16 or float32), or None for a device not in the table."""
    for name, bf16, fp32 in KNOWN_PEAKS:
        if name.lower() in device_kind.lower():
            return bf16 if dtype in ("bfloat16", "float16") else fp32
    return None


@functools.cache
def device_peak(dtype: str = "float32") -> tuple[float, str]:
    """(peak FLOP/s, where it comes from) of this process's first device: the data sheet's,
    else the calibration kernel's measured rate (once per process, about 1 s)."""
    kind = jax.devices()[0].device_kind
    peak = known_peak(kind, dtype)
    if peak is not None:
        return peak, f"data sheet: {kind}, {dtype}"
    return calibration_flops() / calibration_seconds(), "calibration kernel"


def _calibration_work(x, w):
    def body(x, _):
        return jnp.tanh(x @ w) * 0.5 + x * 0.5, None

    return jax.lax.scan(body, x, None, length=320)[0].sum()


def _calibration_inputs() -> tuple[jax.Array, jax.Array]:
    x = jax.random.normal(jax.random.key(0), (256, 256))
    return x, jax.random.normal(jax.random.key(1), (256, 256)) / 16


@functools.cache
def calibration_flops() -> float:
    """The FLOPs of one calibration call (about 10.8 G)."""
    return program_flops(_calibration_work, *_calibration_inputs())


def calibration_seconds(repeats: int = 11) -> float:
    """Median time of a fixed jitted workload (matmuls and element-wise work on the scale of
    a small network's, about 50-70 ms on a 2-core CPU): the unit of ``bench``'s normalised
    figures, and the practical peak of a device without a data-sheet figure."""
    x, w = _calibration_inputs()
    fn = jax.jit(_calibration_work).lower(x, w).compile()
    jax.block_until_ready(fn(x, w))
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        jax.block_until_ready(fn(x, w))
        times.append(time.perf_counter() - t)
    return statistics.median(times)
