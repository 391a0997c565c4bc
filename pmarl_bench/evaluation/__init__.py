"""Evaluations of trained policies, beside the training returns: the final-policy evaluation
(``final``), team evaluations against random agents and earlier checkpoints (``teams``),
cross-play between seeds (``crossplay``), the random policy's reference level (``levels``),
and all of them after a cell trains (``after_training``). The trainer knows none of them."""

from pmarl_bench.evaluation.after_training import (
    CURVE,
    EnvConfig,
    Measurements,
    after_training,
    curve_arrays,
    curve_point,
    has_team_evaluation,
)
from pmarl_bench.evaluation.episodes import EVAL_EPISODES, FINAL_EVAL_SEED
from pmarl_bench.evaluation.final import MAX_EVAL_EPISODES

__all__ = [
    "CURVE",
    "EVAL_EPISODES",
    "FINAL_EVAL_SEED",
    "MAX_EVAL_EPISODES",
    "EnvConfig",
    "Measurements",
    "after_training",
    "curve_arrays",
    "curve_point",
    "has_team_evaluation",
]
