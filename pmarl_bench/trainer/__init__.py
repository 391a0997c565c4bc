"""The shared PPO trainer."""

from pmarl_bench.trainer.config import PPOConfig
from pmarl_bench.trainer.ppo import METRICS, RunnerState, Train, make_train

__all__ = ["METRICS", "PPOConfig", "RunnerState", "Train", "make_train"]
