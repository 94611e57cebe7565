"""The ``geodigitize`` command line: a thin typer layer over the Python API."""

from __future__ import annotations

from . import batch as _batch  # noqa: F401  (registers the command)
from . import colorbar as _colorbar  # noqa: F401  (registers the command)
from . import colormaps as _colormaps  # noqa: F401  (registers the command)
from . import gcps as _gcps  # noqa: F401  (registers the command)
from . import regrid as _regrid  # noqa: F401  (registers the command)
from . import run as _run  # noqa: F401  (registers the command)
from ._app import app

__all__ = ["app", "main"]


def main() -> None:
    """Entry point of the ``geodigitize`` console script."""
    app()
