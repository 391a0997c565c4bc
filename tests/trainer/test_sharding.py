"""Seeds spread over several devices (4 simulated CPU devices in a subprocess) train exactly as
on one device."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

SCRIPT = """
import json, jax, numpy as np
from pmarl_bench import agents, envs
from pmarl_bench.agents.mlp import MLPConfig
from pmarl_bench.trainer.config import PPOConfig
from pmarl_bench.trainer.loop import train_seeds
from pmarl_bench.trainer.ppo import Train
env = envs.make("n_back-v0", episode_length=16, max_n=2)
agent = agents.make_agent(MLPConfig(width=16), env.observation_space, env.action_space)
cfg = PPOConfig(num_envs=16, rollout_length=16, num_minibatches=2, num_epochs=2,
                total_env_steps=16 * 16 * 4)
result = train_seeds(Train(env, agent, cfg), [0, 1, 2, 3])
leaf = jax.tree.leaves(result.state.params)[0]
print(json.dumps({
    "devices": jax.device_count(),
    "param_devices": len(leaf.sharding.device_set),
    "metrics": {k: np.asarray(v).tolist() for k, v in result.metrics.items()},
}))
"""


def run(devices: int) -> dict:
    env = dict(os.environ, JAX_NUM_CPU_DEVICES=str(devices), JAX_PLATFORMS="cpu")
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_seed_sharded_training_matches_one_device():
    one, four = run(1), run(4)
    assert one["devices"] == 1 and one["param_devices"] == 1
    assert four["devices"] == 4 and four["param_devices"] == 4  # one seed per device
    for name, values in one["metrics"].items():
        np.testing.assert_allclose(four["metrics"][name], values, rtol=1e-5, atol=1e-6,
                                   err_msg=name)  # fmt: skip
