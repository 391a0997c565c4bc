"""Where a number came from: package, commit, JAX and device versions, and peak memory
probes. Low-level, so the runner and the benchmarks share it."""

from __future__ import annotations

import functools
import importlib.metadata
import platform
import resource
import subprocess
from pathlib import Path

import jax


def reset_host_peak() -> bool:
    """Restart the process's peak-RSS counter (Linux: ``clear_refs`` mode 5), so the next
    ``host_peak_bytes`` covers only what runs from here. False where that is not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def host_peak_bytes() -> int:
    """Peak resident memory of this process since start or the last ``reset_host_peak``."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # since start (KiB)


@functools.cache
def environment_info() -> dict:
    device = jax.devices()[0]
    return {
        "package_version": _version("pmarl-bench"),
        "git_commit": _git_commit(),
        "jax_version": jax.__version__,
        "jaxlib_version": _version("jaxlib"),
        "python_version": platform.python_version(),
        "backend": jax.default_backend(),
        "device": f"{device.platform}: {device.device_kind} x{jax.device_count()}",
        "host": f"{platform.machine()} {platform.processor() or ''}".strip(),
    }


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:  # run from a source tree, not installed
        return None


def backend_line() -> str:
    """What a run computes on, for the first line of ``run`` and ``bench``."""
    device = jax.devices()[0]
    return (
        f"backend: {jax.default_backend()} ({device.device_kind} x{jax.device_count()}), "
        f"jax {jax.__version__}"
    )


def unused_gpu_warning() -> str | None:
    """One line when this machine has an NVIDIA GPU but JAX computes on the CPU (a CPU-only
    jaxlib, the usual result of installing without the ``cuda`` extra)."""
    if jax.default_backend() != "cpu" or not Path("/proc/driver/nvidia/gpus").is_dir():
        return None
    return (
        "warning: this machine has an NVIDIA GPU but JAX runs on the CPU; "
        "install the CUDA build with `uv sync --extra cuda` (README: GPU)"
    )


def _git_commit() -> str | None:
    repo = Path(__file__).resolve().parent.parent
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=repo,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=repo,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout
        return sha + ("-dirty" if dirty.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def device_peak_bytes() -> int | None:
    stats = jax.devices()[0].memory_stats()  # None on the CPU backend
    return int(stats["peak_bytes_in_use"]) if stats and "peak_bytes_in_use" in stats else None
