"""A cell over several devices (4 simulated CPU devices in a subprocess) trains as on one:
seeds spread over devices, and each seed's env batch split over the data axis, within
floating-point tolerance (sums compiled for another batch or run in another order); resumed
from a snapshot of its sharded state, it ends bit for bit where it would have."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from pmarl_bench.trainer import mesh

# A GRU, so the agent's memory (the carry) is sharded with the env batch too.
SCRIPT = """
import json, jax, numpy as np
from pmarl_bench import agents, envs
from pmarl_bench.agents.gru import GRUConfig
from pmarl_bench.trainer.config import PPOConfig
from pmarl_bench.trainer.loop import Resume, train_seeds
from pmarl_bench.trainer.ppo import Train
from pmarl_bench.trainer.programs import ProgramCache, SeedProgram
env = envs.make("n_back-v0", episode_length=16, max_n=2)
agent = agents.make_agent(GRUConfig(width=16), env.observation_space, env.action_space)
cfg = PPOConfig(num_envs=16, rollout_length=16, num_minibatches=2, num_epochs=2,
                total_env_steps=16 * 16 * 4)
train = Train(env, agent, cfg)
# temporaries per device of one seed's program (split over the data axis on 4 devices)
out = {"devices": jax.device_count(), "runs": {}, "temp": SeedProgram(train, 1).memory().temp}
class Stop(Exception):
    pass
def stop_after_2(chunk):  # what a snapshot holds, then a kill
    if chunk.updates == 2:
        taken.update(leaves=chunk.state_leaves(), metrics=chunk.metrics())
        raise Stop
for seeds in SEEDS:
    programs = ProgramCache(train)
    result = train_seeds(train, seeds, programs=programs)
    params = jax.tree.leaves(result.params)[0].addressable_shards
    envs = jax.tree.leaves(result.states[0].rollout)[0]
    taken = {}
    try:
        train_seeds(train, seeds, programs=programs, on_chunk=stop_after_2)
    except Stop:
        pass
    resumed = train_seeds(train, seeds, programs=programs,
                          resume=Resume(2, taken["leaves"], taken["metrics"]))
    out["runs"][str(seeds)] = {
        "param_shards": [list(s.index[0].indices(len(seeds))) for s in params],
        "env_shards": sorted({s.index[1].indices(16)[:2] for s in envs.addressable_shards}),
        "metrics": {k: np.asarray(v).tolist() for k, v in result.metrics.items()},
        # resumed on the same layout: bit for bit
        "resumed_exact": all(np.array_equal(resumed.metrics[k], v)
                             for k, v in result.metrics.items())
        and all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in
                zip(jax.tree.leaves(result.params), jax.tree.leaves(resumed.params))),
    }
print(json.dumps(out))
"""


def run(devices: int, seeds: list[list[int]]) -> dict:
    env = dict(os.environ, JAX_NUM_CPU_DEVICES=str(devices), JAX_PLATFORMS="cpu")
    code = f"SEEDS = {seeds!r}\n" + SCRIPT
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def one_device():
    return run(1, [[0, 1, 2, 3]])


@pytest.fixture(scope="module")
def four_devices():
    return run(4, [[0, 1, 2, 3], [0, 1], [0]])


def rows(result: dict, n: int) -> dict:
    return {k: np.asarray(v)[:n] for k, v in result["runs"]["[0, 1, 2, 3]"]["metrics"].items()}


@pytest.mark.slow
def test_seed_sharded_training_matches_one_device(one_device, four_devices):
    assert one_device["devices"] == 1 and four_devices["devices"] == 4
    run4 = four_devices["runs"]["[0, 1, 2, 3]"]
    # one seed per device, and no device holds part of a seed's envs
    assert sorted(s[0] for s in run4["param_shards"]) == [0, 1, 2, 3]
    assert one_device["runs"]["[0, 1, 2, 3]"]["resumed_exact"]
    assert all(r["resumed_exact"] for r in four_devices["runs"].values())  # from a snapshot
    assert run4["env_shards"] == [[0, 16]]
    for name, values in rows(one_device, 4).items():
        np.testing.assert_allclose(run4["metrics"][name], values, rtol=1e-5, atol=1e-6,
                                   err_msg=name)  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize(("seeds", "env_shards"), [("[0, 1]", 2), ("[0]", 4)])
def test_data_sharded_training_matches_one_device(one_device, four_devices, seeds, env_shards):
    """2 seeds x 2 env shards, and 1 seed x 4 env shards: the gradient is averaged across
    the shards, so learning follows the single-device run."""
    run4 = four_devices["runs"][seeds]
    quarter = 16 // env_shards
    if env_shards == 4:  # the rollout and the learning are split, not repeated on each device
        assert four_devices["temp"] < 0.5 * one_device["temp"]
    assert run4["env_shards"] == [[i * quarter, (i + 1) * quarter] for i in range(env_shards)]
    n = len(json.loads(seeds))
    for name, values in rows(one_device, n).items():
        np.testing.assert_allclose(run4["metrics"][name], values, rtol=1e-4, atol=1e-5,
                                   err_msg=name)  # fmt: skip


@pytest.mark.parametrize(
    ("seeds", "devices", "rows", "shape"),
    [
        (4, 1, [16], (1, 1)),  # one device: no mesh
        (4, 4, [16], (4, 1)),  # a seed per device
        (8, 4, [16], (4, 1)),  # two seeds per device
        (2, 4, [16, 8], (2, 2)),  # spare devices split each seed's envs
        (1, 4, [16, 8], (1, 4)),
        (5, 4, [16, 8], (1, 4)),  # 5 seeds do not split over 4 devices; envs do
        (1, 8, [12, 6], (1, 2)),  # the data axis divides every row count (3 would not)
        (2, 4, [3, 6], (2, 1)),  # odd env count: seeds only
    ],
)
def test_mesh_shape(seeds, devices, rows, shape):
    assert mesh.mesh_shape(seeds, devices, rows) == shape
