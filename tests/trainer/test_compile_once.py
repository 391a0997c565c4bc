"""One jit boundary per job: the training chunk is traced and compiled once per cell, and
running it again (more chunks, other seeds of the same count, a resume) compiles nothing."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from pmarl_bench import agents, envs
from pmarl_bench.agents.mlp import MLPConfig
from pmarl_bench.trainer import loop
from pmarl_bench.trainer.config import PPOConfig
from pmarl_bench.trainer.loop import Resume, train_seeds
from pmarl_bench.trainer.ppo import Train
from pmarl_bench.trainer.programs import ProgramCache

pytestmark = pytest.mark.slow  # compiles a (tiny) training program

COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"


class Counted:
    """Counts the traces of a Train's chunk, and XLA compiles while ``counting``."""

    def __init__(self, train: Train):
        self.traces, self.compiles, self.counting = 0, 0, False
        chunk = train.chunk

        def traced(*args):
            self.traces += 1  # runs once per trace, never when the compiled program runs
            return chunk(*args)

        train.chunk = traced  # type: ignore[method-assign]
        jax.monitoring.register_event_duration_secs_listener(self._event)

    def _event(self, event: str, duration: float, **kwargs) -> None:
        if self.counting and event == COMPILE_EVENT:
            self.compiles += 1


def test_the_chunk_is_traced_once_and_nothing_compiles_while_training():
    env = envs.make("n_back-v0", episode_length=8, max_n=2)
    agent = agents.make_agent(MLPConfig(width=8, depth=1), env.observation_space,
                              env.action_space)  # fmt: skip
    cfg = PPOConfig(num_envs=8, rollout_length=8, num_minibatches=1, num_epochs=1,
                    total_env_steps=8 * 8 * 4, updates_per_chunk=1)  # fmt: skip
    train = Train(env, agent, cfg)
    counted = Counted(train)
    programs = ProgramCache(train)
    snapshots = {}

    def start(_seconds):
        counted.counting = True  # from the first chunk on

    def keep(chunk):
        if chunk.updates == 2:
            snapshots["leaves"], snapshots["metrics"] = chunk.state_leaves(), chunk.metrics()

    first = train_seeds(train, [0, 1, 2], programs=programs, on_compiled=start, on_chunk=keep)
    assert train.num_chunks == 4 and first.metrics["episode_return"].shape == (3, 4)
    assert counted.traces == 1
    assert counted.compiles == 0, "something compiled between chunks"
    # other seeds of the same count, and a resume halfway, reuse the compiled programs; the
    # progress rate leaves out the first chunk's first-run costs: it "takes" 100 s here and
    # every later one 2 s, so from the second chunk on the rate is that of 2 s a chunk
    clock = {"t": 0.0, "chunk": 0}

    def tick(done):
        clock["chunk"] += 1
        clock["t"] += 100.0 if clock["chunk"] == 1 else 2.0

    rates = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(loop.time, "perf_counter", lambda: clock["t"])
        other = train_seeds(
            train,
            [7, 8, 9],
            programs=programs,
            on_chunk=tick,
            on_progress=lambda p: rates.append(p.agent_steps_per_second),
        )
    per_chunk = 3 * train.agent_steps_per_update  # 3 seeds x 1 update a chunk
    assert rates[0] == pytest.approx(per_chunk / 100.0)
    assert rates[1:] == pytest.approx([per_chunk / 2.0] * 3)
    resumed = train_seeds(train, [0, 1, 2], programs=programs,
                          resume=Resume(2, snapshots["leaves"], snapshots["metrics"]))  # fmt: skip
    assert counted.traces == 1  # so the chunk compiled once: a compile follows a trace
    assert not np.array_equal(other.metrics["episode_return"], first.metrics["episode_return"])
    np.testing.assert_array_equal(resumed.metrics["episode_return"],
                                  first.metrics["episode_return"])  # fmt: skip
