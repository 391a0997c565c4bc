"""``pmarl-bench``: the command line. Commands are thin layers over the library.

``app`` and the error handling live here; the commands register themselves from their
modules: ``train`` (run), ``inspection`` (report, enjoy, play), ``tools`` (bench, list)."""

from __future__ import annotations

import functools
import os
import signal
import sys

import typer
from rich.console import Console

from pmarl_bench.errors import CellLostError, ConfigError, TrainingDivergedError

app = typer.Typer(
    name="pmarl-bench",
    help="Benchmark agents on memory and coordination tasks.\n\n"
    "Example: pmarl-bench run suites/memory.yaml --seeds 2 --steps 200000",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err_console = Console(stderr=True, soft_wrap=True)  # never cut paths or names


def user_errors(fn):
    """Bad input -> one line on stderr and exit code 2, no traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ConfigError as err:
            err_console.print(f"[red]error:[/] {err}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except TrainingDivergedError as err:
            err_console.print(f"[red]training diverged:[/] {err}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None
        except CellLostError as err:
            err_console.print(
                f"[red]cell lost:[/] {err}; finished cells are kept, run again to retry",
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            interrupted()

    return wrapper


def interrupted() -> None:
    """Say what was kept and exit 130 at once. Skipping the interpreter's teardown matters:
    JAX's exit hook clears its backends while XLA may still be compiling, and a second
    Ctrl-C (uv forwards one too) there crashes the process (exit 139)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    err_console.print(
        "interrupted: finished cells are kept, the unfinished one is "
        "discarded; run the same command to continue"
    )
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(130)


def main() -> None:
    app(prog_name="pmarl-bench")


# The commands, imported last (they register on ``app``) and in the order --help lists them.
# isort: off
from pmarl_bench.cli import train  # noqa: E402, F401
from pmarl_bench.cli import inspection  # noqa: E402, F401
from pmarl_bench.cli import tools  # noqa: E402, F401
from pmarl_bench.cli.train import parse_bytes  # noqa: E402, F401
# isort: on
