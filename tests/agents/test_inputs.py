"""Agent inputs are explicit (``inputs: [obs, prev_action, prev_reward]``): an agent that does
not read its previous action or reward has no path from them to its output, and its reach is
derived from its core and its inputs (a fed-back action is a memory channel)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from pydantic import ValidationError

from pmarl_bench import agents, envs
from pmarl_bench.types import AgentInput

ENV = envs.make("n_back-v0", num_symbols=4, max_n=2, episode_length=8)
OBS_ONLY = ("obs",)


def inputs(prev_action: int, prev_reward: float, steps: int = 5, batch: int = 3) -> AgentInput:
    obs = jax.nn.one_hot(jnp.arange(steps * batch).reshape(steps, batch) % 4, 4)
    start = jnp.zeros((steps, batch), bool).at[0].set(True)
    return AgentInput(
        obs,
        jnp.full((steps, batch), prev_action, jnp.int32),
        jnp.full((steps, batch), prev_reward, jnp.float32),
        start,
    )


CONFIGS = {
    "mlp": agents.MLPConfig(width=16, inputs=OBS_ONLY),
    "frame_stack": agents.FrameStackConfig(frames=3, frame_width=8, width=16, inputs=OBS_ONLY),
    "gru": agents.GRUConfig(width=16, inputs=OBS_ONLY),
    "transformer": agents.TransformerConfig(width=16, ffn_width=32, context=8, inputs=OBS_ONLY),
}


@pytest.mark.parametrize("kind", sorted(CONFIGS))
def test_an_agent_reading_the_observation_only_ignores_its_past_actions_and_rewards(kind):
    agent = agents.make_agent(CONFIGS[kind], ENV.observation_space, ENV.action_space)
    params = agent.init(jax.random.key(0))
    names = {"/".join(map(str, p)) for p, _ in jax.tree_util.tree_leaves_with_path(params)}
    assert not any("action_embed" in n or "reward_proj" in n for n in names)
    outs = [
        agent.unroll(params, agent.initial_carry(3), inputs(a, r))[1].logits
        for a, r in [(0, 0.0), (1, 1.0), (-1, -3.0)]
    ]
    for other in outs[1:]:
        np.testing.assert_array_equal(outs[0], other)


def test_the_default_reads_all_three_and_a_fed_back_input_changes_the_output():
    agent = agents.make_agent(agents.MLPConfig(width=16), ENV.observation_space, ENV.action_space)
    params = agent.init(jax.random.key(0))
    a, b = (agent.unroll(params, None, inputs(x, 0.0))[1].logits for x in (0, 1))
    assert not np.allclose(a, b)
    # the default is not written: configs (and result hashes) from before inputs existed hold
    assert "inputs" not in agents.MLPConfig().model_dump()
    assert agents.MLPConfig(inputs=OBS_ONLY).model_dump()["inputs"] == ["obs"]  # as in JSON


@pytest.mark.parametrize(
    ("config", "reach"),
    [
        (agents.MLPConfig(inputs=OBS_ONLY), 0),
        (agents.MLPConfig(), None),  # its actions carry what its policy writes into them
        (agents.MLPConfig(inputs=("obs", "prev_reward")), None),
        (agents.FrameStackConfig(frames=4, inputs=OBS_ONLY), 3),
        (agents.FrameStackConfig(frames=4), None),
        (agents.TransformerConfig(context=16, inputs=OBS_ONLY), 15),
        (agents.GRUConfig(inputs=OBS_ONLY), None),
    ],
)
def test_reach_is_derived_from_the_core_and_the_inputs(config, reach):
    agent = agents.make_agent(config, ENV.observation_space, ENV.action_space)
    memory = agent.memory()
    assert memory["reach"] == reach and memory["inputs"] == list(config.inputs)


@pytest.mark.parametrize(
    ("value", "message"),
    [(["prev_action"], "must include obs"), (["obs", "obs"], "twice"), (["obs", "clock"], "")],
)
def test_bad_inputs_are_refused(value, message):
    with pytest.raises(ValidationError, match=message):
        agents.MLPConfig(inputs=value)


def test_inputs_are_kept_in_one_order():
    config = agents.MLPConfig(inputs=["prev_reward", "obs"])
    assert config.inputs == ("obs", "prev_reward")
