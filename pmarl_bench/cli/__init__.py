"""``pmarl-bench``: the command line. Commands are thin layers over the library.

``app`` and the error handling live here; the commands register themselves from their
modules: ``train`` (run), ``inspection`` (report, enjoy, play), ``tools`` (bench, list)."""

from __future__ import annotations

import errno
import functools
import os
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from pmarl_bench.errors import CellLostError, ConfigError, TrainingDivergedError

app = typer.Typer(
    name="pmarl-bench",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err_console = Console(stderr=True, soft_wrap=True)  # never cut paths or names

#: environment variable naming the compilation cache folder ("off" turns the cache off)
CACHE_ENV = "PMARL_BENCH_COMPILE_CACHE"


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/pmarl-bench/jax`` (``~/.cache/...`` by default)."""
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "pmarl-bench" / "jax"


@app.callback()
def main_options(
    compile_cache: Annotated[
        Path | None,
        typer.Option(
            help=f"folder of JAX's persistent compilation cache (default: ${CACHE_ENV}, else "
            "~/.cache/pmarl-bench/jax), so reruns, enjoy, play and report videos reuse "
            "compiled programs"
        ),
    ] = None,
    no_compile_cache: Annotated[
        bool, typer.Option("--no-compile-cache", help="compile everything afresh")
    ] = False,
) -> None:
    """Benchmark agents on memory and coordination tasks.

    Example: pmarl-bench run suites/memory.yaml --seeds 2 --steps 200000
    """
    use_compile_cache(compile_cache, off=no_compile_cache)


def warn(lines: list[str]) -> None:
    """Warnings a command found before its work (e.g. a ``--set`` some cells do not see)."""
    from rich.markup import escape

    for line in lines:
        err_console.print(f"[yellow]warning:[/] {escape(line)}", highlight=False)


def announce_backend() -> None:
    """The backend and device a command computes on, and a warning when a GPU sits unused."""
    from pmarl_bench.provenance import backend_line, unused_gpu_warning

    err_console.print(backend_line(), highlight=False)
    if warning := unused_gpu_warning():
        err_console.print(f"[yellow]{warning}[/]")


def use_compile_cache(folder: Path | None, off: bool = False) -> Path | None:
    """Turn on JAX's persistent compilation cache in ``folder`` (default: ``$CACHE_ENV``,
    else ``default_cache_dir()``), or off (``off``, or ``$CACHE_ENV=off`` without a
    ``folder``). Programs that compile in under a second are not stored. Returns the folder
    in use, or None. JAX is not imported for it (a command refused on its input never loads
    JAX): before JAX loads, its settings go in the environment it reads them from."""
    setting = os.environ.get(CACHE_ENV, "")
    if off or (folder is None and setting.lower() == "off"):
        _jax_config(jax_enable_compilation_cache=False)
        return None
    folder = folder or Path(setting or default_cache_dir())
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:  # a read-only home: run without the cache
        _jax_config(jax_enable_compilation_cache=False)
        return None
    _jax_config(jax_enable_compilation_cache=True, jax_compilation_cache_dir=str(folder),
                jax_persistent_cache_min_compile_time_secs=1.0)  # fmt: skip
    return folder


def _jax_config(**values) -> None:
    """JAX settings: updated where JAX is loaded, else set as the variables it reads when it
    loads (``JAX_<NAME>``)."""
    jax = sys.modules.get("jax")
    for name, value in values.items():
        if jax is not None:
            jax.config.update(name, value)
        else:
            os.environ[name.upper()] = str(value).lower() if isinstance(value, bool) else str(value)


def user_errors(fn):
    """Bad input -> one line on stderr and exit code 2, no traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ConfigError as err:
            # (escaped: a message may hold brackets, e.g. 'pmarl-bench[cluster]')
            err_console.print(f"[red]error:[/] {escape(str(err))}", highlight=False,
                              soft_wrap=True)  # fmt: skip
            raise typer.Exit(2) from None
        except TrainingDivergedError as err:
            kept = getattr(err, "kept", None)
            where = f"; its metrics and last snapshot are kept in {kept}" if kept else ""
            err_console.print(
                f"[red]training diverged:[/] {escape(str(err))}{escape(where)}",
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(1) from None
        except CellLostError as err:
            err_console.print(
                f"[red]cell lost:[/] {escape(str(err))}; finished cells are kept, run again to "
                "retry",
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(1) from None
        except KeyboardInterrupt as err:  # Ctrl-C or SIGTERM (``interrupts``)
            interrupted(fn.__name__, getattr(err, "exit_code", 130))
        except Exception as err:
            cause = storage_error(err)
            if cause is None:
                raise
            file = f" writing {cause.filename}" if cause.filename else ""
            kept = "; finished cells are kept, rerun to resume" if fn.__name__ == "run" else ""
            err_console.print(
                f"[red]error:[/] {escape(str(cause.strerror or cause))}{escape(file)}{kept}",
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(1) from None

    return wrapper


#: errors of the storage, not of the program: a full disk or quota, a read-only file system
STORAGE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS}


def storage_error(err: BaseException) -> OSError | None:
    """The full-disk (or quota, or read-only) ``OSError`` behind ``err``, if that is what
    it is: libraries such as orbax wrap it in their own exceptions."""
    seen: set[int] = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, OSError) and err.errno in STORAGE_ERRNOS:
            return err
        if any(s in str(err) for s in ("No space left on device", "Disk quota exceeded")):
            return OSError(errno.ENOSPC, "No space left on device")
        err = err.__cause__ or err.__context__
    return None


def interrupted(command: str, code: int = 130) -> None:
    """Say what was kept and exit at once (130 after Ctrl-C, 143 after SIGTERM). Skipping
    the interpreter's teardown matters: JAX's exit hook clears its backends while XLA may
    still be compiling, and a second Ctrl-C (uv forwards one too) there crashes the process
    (exit 139)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if command in ("run", "tune"):
        err_console.print(
            "interrupted: finished cells are kept, the running one saved its latest "
            "snapshot; rerun the same command to resume"
        )
    else:
        err_console.print("interrupted")
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def main() -> None:
    from pmarl_bench import interrupts

    interrupts.install()
    app(prog_name="pmarl-bench")


# The commands, imported last (they register on ``app``) and in the order --help lists them.
# isort: off
from pmarl_bench.cli import train  # noqa: E402, F401
from pmarl_bench.cli import tune  # noqa: E402, F401
from pmarl_bench.cli import matches  # noqa: E402, F401
from pmarl_bench.cli import status  # noqa: E402, F401
from pmarl_bench.cli import inspection  # noqa: E402, F401
from pmarl_bench.cli import tools  # noqa: E402, F401
# isort: on
