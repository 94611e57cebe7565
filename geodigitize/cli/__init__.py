"""The ``geodigitize`` command line: a thin typer layer over the Python API."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading

import typer

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
    _small_pages()
    decoding = _decode_ahead(sys.argv[1:] if argv is None else argv)
    try:
        app = _commands()
        if decoding:
            _import_late()
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
    finally:
        from ..sources import release_prefetched

        release_prefetched()
    sys.exit(code if isinstance(code, int) else 0)


def _import_late() -> None:
    """Start importing, on a thread of its own, what a run needs only near its end
    (:func:`geodigitize.pipeline.import_late`, about 0.25 s): the run's first passes
    spend most of their time in numpy with the GIL released, so the imports go on
    beside them instead of before them. Measured at 16 MP: 5 % of the run's time; at
    100 MP the same time and a peak 150 MB lower (the first pass starts sooner and
    fewer decoded rows wait). A failure is left for the run, which imports the same
    modules and reports it."""
    from ..pipeline import import_late

    def imports() -> None:
        with contextlib.suppress(Exception):
            import_late()

    threading.Thread(target=imports, name="geodigitize-imports").start()


def _small_pages() -> bool:
    """Stop numpy asking Linux for transparent huge pages (its default for arrays of 4
    MB and more), unless ``NUMPY_MADVISE_HUGEPAGE`` is set: then that setting stands.
    True when the request was turned off.

    A run makes and drops many multi-megabyte arrays per strip, and each new one is
    faulted in afresh. In huge pages each fault clears 2 MB, and on virtual machines
    that hand freed memory back to the host (virtio-balloon free page reporting, as in
    Firecracker and many clouds) a freed huge page is exactly what goes back, so nearly
    every new one costs the host a fault too. Measured on such a 2-core VM: a 16 MP
    JPEG ran in 18 s instead of 34 s (kernel time 5.5 s instead of 21 s). Only the
    command line's own process is changed: the Python API leaves numpy as it finds it.
    """
    if "NUMPY_MADVISE_HUGEPAGE" in os.environ:
        return False
    try:  # numpy's own switch for its environment variable (numpy >= 1.20)
        from numpy._core.multiarray import _set_madvise_hugepage
    except ImportError:  # pragma: no cover - numpy 1.x
        try:
            from numpy.core.multiarray import _set_madvise_hugepage
        except ImportError:
            return False
    _set_madvise_hugepage(False)
    os.environ["NUMPY_MADVISE_HUGEPAGE"] = "0"  # for the processes `batch` starts
    return True


def _commands():
    """The typer application with every command registered (importing the commands
    imports the pipeline and its dependencies: about 0.6 s)."""
    from . import batch, colorbar, colormaps, gcps, regrid, run  # noqa: F401  (register)
    from ._app import app

    return app


def __getattr__(name: str):
    """``app``, with its commands, imported on first use (see :func:`main`)."""
    if name == "app":
        return _commands()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: Image files the ``run`` command may stream (decoded ahead while it starts).
_STREAMED_SUFFIXES = (".png", ".tif", ".tiff")


def _decode_ahead(args: list[str]) -> bool:
    """For ``geodigitize run IMAGE ...`` with a large PNG or TIFF, start decoding the
    image (:func:`geodigitize.sources.prefetch`) before the commands are imported: GDAL
    decodes on a second core while Python imports the pipeline (at 100 MP, 0.4 s of a
    ~5 s run). The image is the first argument after ``run`` naming such a file; a
    wrong guess costs only that core's time, and the image is read as usual. True when
    the decoding started."""
    if not args or args[0] != "run":
        return False
    for arg in args[1:]:
        if arg.lower().endswith(_STREAMED_SUFFIXES) and os.path.isfile(arg):
            from ..sources import IN_MEMORY_PIXELS, prefetch

            return prefetch(arg, IN_MEMORY_PIXELS)
    return False


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
