"""Suite files: schema, loading and expansion into cells."""

from pmarl_bench.suites.cell import Cell
from pmarl_bench.suites.loader import LoadedSuite, load_baseline, load_suite
from pmarl_bench.suites.schema import AgentEntry, Baseline, EnvEntry, Suite

__all__ = [
    "AgentEntry",
    "Baseline",
    "Cell",
    "EnvEntry",
    "LoadedSuite",
    "Suite",
    "load_baseline",
    "load_suite",
]
