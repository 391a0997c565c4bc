"""Agent baselines behind one interface (see ``agents.base``)."""

from pmarl_bench.agents import frame_stack as _frame_stack  # noqa: F401  (registers it)
from pmarl_bench.agents import gru as _gru  # noqa: F401  (registers "gru")
from pmarl_bench.agents import mlp as _mlp  # noqa: F401  (registers "mlp")
from pmarl_bench.agents import transformer as _transformer  # noqa: F401  (registers it)
from pmarl_bench.agents.base import (
    Agent,
    AgentConfig,
    agent_class,
    agent_kinds,
    make_agent,
    register_agent,
)
from pmarl_bench.agents.frame_stack import FrameStackConfig
from pmarl_bench.agents.gru import GRUConfig
from pmarl_bench.agents.heads import HLGaussValue, MSEValue
from pmarl_bench.agents.mlp import MLPConfig
from pmarl_bench.agents.transformer import TransformerConfig

__all__ = [
    "Agent",
    "AgentConfig",
    "FrameStackConfig",
    "GRUConfig",
    "HLGaussValue",
    "MLPConfig",
    "MSEValue",
    "TransformerConfig",
    "agent_class",
    "agent_kinds",
    "make_agent",
    "register_agent",
]
