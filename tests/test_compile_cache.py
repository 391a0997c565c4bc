"""The CLI keeps JAX's persistent compilation cache in a user folder (overridable, or off), so
a rerun, ``enjoy`` or ``play`` reuses compiled programs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import jax
import pytest

from pmarl_bench.cli import CACHE_ENV, default_cache_dir, use_compile_cache

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def restore_jax_cache_config():
    before = jax.config.jax_compilation_cache_dir, jax.config.jax_enable_compilation_cache
    yield
    jax.config.update("jax_compilation_cache_dir", before[0])
    jax.config.update("jax_enable_compilation_cache", before[1])


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
    assert jax.config.jax_enable_compilation_cache
    monkeypatch.setenv(CACHE_ENV, "off")
    assert use_compile_cache(None) is None
    assert not jax.config.jax_enable_compilation_cache
    assert use_compile_cache(tmp_path / "opt") == tmp_path / "opt"  # an option still wins
    assert use_compile_cache(tmp_path / "opt", off=True) is None  # --no-compile-cache
    assert not jax.config.jax_enable_compilation_cache


@pytest.mark.slow
def test_a_run_fills_the_cache_and_no_compile_cache_leaves_it_alone(tmp_path):
    def run(*options, cache_env):
        cmd = [sys.executable, "-m", "pmarl_bench.cli", *options, "run",
               str(ROOT / "suites" / "smoke.yaml"), "--only", "*/mlp", "--force",
               "--results-dir", str(tmp_path / "res")]  # fmt: skip
        env = dict(os.environ, **{CACHE_ENV: str(cache_env)})
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=300,
                              env=env)  # fmt: skip
        assert proc.returncode == 0, proc.stderr

    def used(folder):
        return folder.exists() and any(folder.iterdir())

    cache, default = tmp_path / "cache", tmp_path / "default"
    # neither the folder asked for nor the default one (here $PMARL_BENCH_COMPILE_CACHE)
    run("--compile-cache", str(cache), "--no-compile-cache", cache_env=default)
    assert not used(cache) and not used(default)
    run("--compile-cache", str(cache), cache_env=default)
    assert used(cache) and not used(default)  # the chunk program compiles for over a second
