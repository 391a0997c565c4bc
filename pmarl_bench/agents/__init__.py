"""Agent baselines behind one interface (see ``agents.base``)."""

from pmarl_bench.agents import frame_stack as _frame_stack  # noqa: F401  (registers it)
from pmarl_bench.agents import gru as _gru  # noqa: F401  (registers "gru")
from pmarl_bench.agents import lru as _lru  # noqa: F401  (registers "lru")
from pmarl_bench.agents import lstm as _lstm  # noqa: F401  (registers "lstm")
from pmarl_bench.agents import mingru as _mingru  # noqa: F401  (registers "mingru")
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
from pmarl_bench.agents.lru import LRUConfig
from pmarl_bench.agents.lstm import LSTMConfig
from pmarl_bench.agents.mingru import MinGRUConfig
from pmarl_bench.agents.mlp import MLPConfig
from pmarl_bench.agents.transformer import TransformerConfig

__all__ = [
    "Agent",
    "AgentConfig",
    "FrameStackConfig",
    "GRUConfig",
    "HLGaussValue",
    "LRUConfig",
    "LSTMConfig",
    "MLPConfig",
    "MSEValue",
    "MinGRUConfig",
    "TransformerConfig",
    "agent_class",
    "agent_kinds",
    "make_agent",
    "register_agent",
]
