"""Test-wide settings."""

import atexit
import os
import shutil
import tempfile

from pmarl_bench.cli import CACHE_ENV
from pmarl_bench.runner.manifest import COUNT_FLOPS_ENV

# Commands run by the tests (in-process or as subprocesses) share one compilation cache,
# fresh for each test session, instead of the user's.
if CACHE_ENV not in os.environ:
    _cache = tempfile.mkdtemp(prefix="pmarl-bench-test-compile-cache-")
    os.environ[CACHE_ENV] = _cache
    atexit.register(shutil.rmtree, _cache, ignore_errors=True)

# Counting a cell's FLOPs for its manifest costs 2-5 s a cell, over a hundred cells here; the
# smoke run of tests/test_cli.py counts them and checks the result (so do test_cost, test_bench).
os.environ[COUNT_FLOPS_ENV] = "0"


def pytest_collection_modifyitems(config, items):
    """pytest-benchmark timings (``bench``) run only when asked for (``-m bench``), whatever
    else ``-m`` selects (``-m "not slow"`` keeps them out too)."""
    if "bench" in (config.option.markexpr or ""):
        return
    timed = [item for item in items if item.get_closest_marker("bench")]
    if timed:
        config.hook.pytest_deselected(items=timed)
        items[:] = [item for item in items if not item.get_closest_marker("bench")]
