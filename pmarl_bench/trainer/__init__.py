"""The shared PPO trainer."""

from pmarl_bench.trainer.config import PPOConfig
from pmarl_bench.trainer.ppo import RunnerState, Train

__all__ = ["PPOConfig", "RunnerState", "Train"]
