"""The darkdev command line: parses, calls the library, reports.

Typer and rich live only in this package and in terminal.py (help formatting, progress display).
This module holds the Typer `app`, `main()` and what every command shares (the `errors` console,
exit codes, `_fail`); the commands live in develop.py (develop), inspection.py (models, info,
compare, rimef-plot) and tools.py (calibrate, finetune and the train/evaluate pass-throughs).
"""

from __future__ import annotations

import errno
import io
import os
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from darkdev.errors import ParameterError
from darkdev.report import printable
from darkdev.terminal import PlainHelpGroup

app = typer.Typer(
    name="darkdev",
    help="Develop night and extreme low-light raw photos (RMCN/DMCN networks + RIMEF).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=PlainHelpGroup,
)


def _reserve_closed_standard_fds() -> None:
    """A closed fd 0, 1 or 2 (`2>&-`) gets /dev/null, so no file opened later takes its number
    (LibRaw's messages would land in an image). sys.stdin and sys.stdout stay None, so a closed
    one is still refused; a closed stderr behaves as 2>/dev/null."""
    for descriptor in (0, 1, 2):
        try:
            os.fstat(descriptor)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)
            if null != descriptor:
                os.dup2(null, descriptor)
                os.close(null)
            if descriptor == 2:
                sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115


class _ClosedStdout(io.TextIOBase):
    """sys.stdout for a closed fd 1: printing fails (a table, --help) instead of vanishing."""

    encoding = "utf-8"

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        raise OSError(errno.EBADF, "it is closed")

    def fileno(self) -> int:
        return 1  # /dev/null since _reserve_closed_standard_fds


def _stderr_copy():
    """Our own handle on stderr, so LibRaw's silenced fd 2 (raw.py) never swallows our reports."""
    try:
        return os.fdopen(os.dup(2), "w", buffering=1, errors="backslashreplace")
    except OSError:
        return sys.stderr


_reserve_closed_standard_fds()
errors = Console(file=_stderr_copy(), highlight=False)

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

# develop's and compare's --white-balance (white_balance.parse_white_balance reads it).
WhiteBalanceOption = Annotated[
    str,
    typer.Option(
        "--white-balance",
        "--wb",
        metavar="as-shot|auto|daylight|R,G,B",
        help="as-shot (the file's; grey world where it records none), auto (grey world), "
        "daylight (the camera's), or R,G,B gains such as 2.1,1,1.6.",
    ),
]


def _fail(message: str, code: int = EXIT_USAGE) -> typer.Exit:
    errors.print(f"[bold red]darkdev:[/] {escape(printable(message))}", soft_wrap=True)
    return typer.Exit(code)


def _terminate_as_interrupt(signum, frame) -> None:  # noqa: ARG001
    raise KeyboardInterrupt


def _show_version(value: bool) -> None:
    if value:
        from darkdev import __version__

        print(f"darkdev {__version__}")
        raise typer.Exit(EXIT_OK)


@app.callback()
def darkdev_options(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_show_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Develop night and extreme low-light raw photos (RMCN/DMCN networks + RIMEF)."""


def discard_progress_if_stdout_closed() -> None:
    """For commands that run for minutes (train, evaluate, calibrate, finetune): with a closed
    stdout their progress lines go nowhere, as before, rather than stopping the work."""
    if isinstance(sys.stdout, _ClosedStdout):
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (the process's stdout from now on)


def _stdout_failed(error: OSError) -> None:
    """A full (/dev/full) or broken stdout is one line and exit 1, not a traceback."""
    if sys.stdout is not None:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # the interpreter's own flush at exit goes here
        os.close(devnull)
    errors.print(f"darkdev: cannot write to standard output ({error.strerror or error})")
    sys.exit(EXIT_FAILED)


def main() -> None:
    if sys.stdout is None:  # fd 1 was closed (`>&-`); develop -o - still sees None via .buffer
        sys.stdout = _ClosedStdout()
    try:
        app()
    except ParameterError as error:
        errors.print(f"[bold red]darkdev:[/] {escape(printable(str(error)))}")
        sys.exit(EXIT_USAGE)
    except OSError as error:  # the commands catch their own file errors: this is stdout
        _stdout_failed(error)
    except SystemExit:
        try:
            if sys.stdout is not None:
                sys.stdout.flush()
        except OSError as error:
            _stdout_failed(error)
        raise


# The commands register themselves on `app` when imported; this order is `darkdev --help`'s.
from darkdev.cli import develop, inspection, tools  # noqa: E402, F401
