"""Agent baselines behind one interface (see ``agents.base``)."""

from pmarl_bench.agents import mlp as _mlp  # noqa: F401  (registers "mlp")
from pmarl_bench.agents.base import (
    Agent,
    AgentConfig,
    agent_class,
    agent_kinds,
    make_agent,
    register_agent,
)
from pmarl_bench.agents.mlp import MLPConfig

__all__ = [
    "Agent",
    "AgentConfig",
    "MLPConfig",
    "agent_class",
    "agent_kinds",
    "make_agent",
    "register_agent",
]
