"""Test-wide settings."""

import atexit
import os
import shutil
import tempfile

from pmarl_bench.cli import CACHE_ENV

# Commands run by the tests (in-process or as subprocesses) share one compilation cache,
# fresh for each test session, instead of the user's.
if CACHE_ENV not in os.environ:
    _cache = tempfile.mkdtemp(prefix="pmarl-bench-test-compile-cache-")
    os.environ[CACHE_ENV] = _cache
    atexit.register(shutil.rmtree, _cache, ignore_errors=True)
