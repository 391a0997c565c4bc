"""The CLI keeps JAX's persistent compilation cache in a user folder (overridable, or off), so
a rerun, ``enjoy`` or ``play`` reuses compiled programs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import jax
import pytest

from pmarl_bench.cli import CACHE_ENV, default_cache_dir, use_compile_cache

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def restore_jax_cache_config():
    before = jax.config.jax_compilation_cache_dir
    yield
    jax.config.update("jax_compilation_cache_dir", before)


def test_the_folder_comes_from_the_option_the_variable_or_the_user_cache(
    tmp_path, monkeypatch, restore_jax_cache_config
):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv(CACHE_ENV, raising=False)
    assert default_cache_dir() == tmp_path / "xdg" / "pmarl-bench" / "jax"
    assert use_compile_cache(None) == default_cache_dir()
    assert jax.config.jax_compilation_cache_dir == str(default_cache_dir())
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "env"))
    assert use_compile_cache(None) == tmp_path / "env"
    assert use_compile_cache(tmp_path / "opt") == tmp_path / "opt"  # the option wins
    monkeypatch.setenv(CACHE_ENV, "off")
    assert use_compile_cache(None) is None


@pytest.mark.slow
def test_a_run_fills_the_cache_and_no_compile_cache_leaves_it_alone(tmp_path):
    def run(*options):
        cmd = [sys.executable, "-m", "pmarl_bench.cli", *options, "run",
               str(ROOT / "suites" / "smoke.yaml"), "--only", "*/mlp", "--force",
               "--results-dir", str(tmp_path / "res")]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=300)
        assert proc.returncode == 0, proc.stderr

    cache = tmp_path / "cache"
    run("--compile-cache", str(cache), "--no-compile-cache")
    assert not cache.exists() or not any(cache.iterdir())
    run("--compile-cache", str(cache))
    assert any(cache.iterdir())  # the chunk program compiles for over a second
