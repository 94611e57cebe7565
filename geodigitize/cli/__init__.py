"""The ``geodigitize`` command line: a thin typer layer over the Python API."""

from __future__ import annotations

import signal
import sys

import typer

from . import batch as _batch  # noqa: F401  (registers the command)
from . import colorbar as _colorbar  # noqa: F401  (registers the command)
from . import colormaps as _colormaps  # noqa: F401  (registers the command)
from . import gcps as _gcps  # noqa: F401  (registers the command)
from . import regrid as _regrid  # noqa: F401  (registers the command)
from . import run as _run  # noqa: F401  (registers the command)
from ._app import app
from ._common import err_console, on_sigterm

try:  # typer >= 0.24 carries its own copy of click
    from typer._click import exceptions as click_exceptions
except ImportError:  # pragma: no cover
    from click import exceptions as click_exceptions

__all__ = ["app", "main", "usage_line"]


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``geodigitize`` console script.

    Usage errors print one line and exit 2; SIGTERM cleans up like Ctrl-C; text that the
    terminal's encoding cannot show is escaped (``\\u00e9``) instead of crashing.
    """
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")
    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        code = app(args=argv, prog_name="geodigitize", standalone_mode=False)
    except click_exceptions.NoArgsIsHelpError as exc:
        exc.show()
        code = 2
    except click_exceptions.UsageError as exc:
        err_console.print(usage_line(exc), markup=False, highlight=False, soft_wrap=True)
        code = exc.exit_code
    except click_exceptions.ClickException as exc:
        err_console.print(
            f"error: {exc.format_message()}", markup=False, highlight=False, soft_wrap=True
        )
        code = exc.exit_code
    except (click_exceptions.Abort, typer.Abort):
        err_console.print("error: aborted", markup=False, highlight=False)
        code = 130
    sys.exit(code if isinstance(code, int) else 0)


def usage_line(exc: click_exceptions.UsageError) -> str:
    """One line for a usage error: the problem, and the help to read.

    Examples
    --------
    ``error: Invalid value for '--vmin': 'zero' is not a valid float. See 'geodigitize
    run --help'.``
    """
    message = " ".join(exc.format_message().split()).rstrip(".")
    name = getattr(exc, "option_name", "")
    if isinstance(exc, click_exceptions.NoSuchOption) and not name.startswith("--"):
        message += " (a file name starting with '-' goes after '--', or as ./-name)"
    where = f" See '{exc.ctx.command_path} --help'." if exc.ctx is not None else ""
    return f"error: {message}.{where}"
