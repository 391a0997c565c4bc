"""Suite files: schema, loading and expansion into cells.

The names below load on first use (PEP 562): a light submodule (``suite_file``, ``schema``,
``yaml_files``) is imported without the env, agent and trainer modules, so a suite file is
checked before JAX loads."""

from typing import TYPE_CHECKING

from pmarl_bench.lazy import exports

_HOMES = {
    "AgentEntry": "schema",
    "Baseline": "schema",
    "Cell": "cell",
    "EnvEntry": "schema",
    "LoadedSuite": "loader",
    "Suite": "schema",
    "load_baseline": "loader",
    "load_suite": "loader",
    "read_suite": "suite_file",
}

if TYPE_CHECKING:
    from pmarl_bench.suites.cell import Cell
    from pmarl_bench.suites.loader import LoadedSuite, load_baseline, load_suite
    from pmarl_bench.suites.schema import AgentEntry, Baseline, EnvEntry, Suite
    from pmarl_bench.suites.suite_file import read_suite


__getattr__ = exports(__name__, _HOMES)

__all__ = [
    "AgentEntry",
    "Baseline",
    "Cell",
    "EnvEntry",
    "LoadedSuite",
    "Suite",
    "load_baseline",
    "load_suite",
    "read_suite",
]
