"""PPO hyperparameters and the rollout shape (pydantic, strict)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class PPOConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    total_env_steps: int = Field(
        1_000_000, gt=0, description="env steps per seed (x num_agents = agent steps)"
    )
    num_envs: int = Field(64, gt=0, description="parallel env instances per seed")
    rollout_length: int = Field(64, gt=0, description="steps collected per env per update (T)")
    mode: Literal["episodic", "continuing"] = Field(
        "episodic",
        description="episodic: every update starts fresh episodes (no memory spans updates); "
        "continuing: envs and agent memory persist across updates",
    )
    num_epochs: int = Field(4, gt=0)
    num_minibatches: int = Field(4, gt=0, description="minibatches of whole sequences")
    gamma: float = Field(0.99, ge=0.0, le=1.0)
    gae_lambda: float = Field(0.95, ge=0.0, le=1.0)
    clip_eps: float = Field(0.2, gt=0.0)
    clip_value: bool = Field(False, description="PPO2-style value clipping with clip_eps")
    vf_coef: float = Field(0.5, ge=0.0)
    ent_coef: float = Field(0.01, ge=0.0)
    max_grad_norm: float = Field(0.5, gt=0.0, description="clip the gradient's global norm")
    lr: float = Field(3e-4, gt=0.0)
    lr_schedule: Literal["constant", "linear", "cosine"] = "linear"
    adam_eps: float = Field(1e-5, gt=0.0)
    normalize_advantages: bool = True
    bootstrap_truncated: bool = Field(
        True,
        description="bootstrap from the value of the final observation when an episode is "
        "truncated by its time limit (False treats truncation as termination)",
    )
    updates_per_chunk: int | None = Field(
        None, gt=0, description="updates per jitted call (progress granularity); auto if unset"
    )
