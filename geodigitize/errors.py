"""The exceptions geodigitize raises.

Every error a user can cause derives from :class:`GeodigitizeError`, and also from the
matching builtin (as rasterio does), so ``except ValueError`` still works. The command
line turns any :class:`GeodigitizeError` into one line and a non-zero exit code; messages
therefore say what is wrong *and* how to fix it, in one sentence.
"""

from __future__ import annotations


class GeodigitizeError(Exception):
    """Root of every error geodigitize raises on purpose."""

    exit_code = 1


class OptionError(GeodigitizeError, ValueError):
    """An option's value is of the wrong kind or outside its range (NaN, negative ...)."""

    exit_code = 2


class ImageError(GeodigitizeError, ValueError):
    """The input image is missing, unreadable, not an image, truncated or too large."""

    exit_code = 2


class ColorScaleError(GeodigitizeError, ValueError):
    """A colour scale cannot be built from what was given (unknown colormap, bad range)."""

    exit_code = 2


class GCPError(GeodigitizeError, ValueError):
    """Ground control points are missing, malformed, too few or degenerate."""

    exit_code = 2


class TransformError(GeodigitizeError, ValueError):
    """A transform cannot be fitted or applied (unknown kind, singular system)."""

    exit_code = 2


class CRSError(GeodigitizeError, ValueError):
    """A coordinate reference system is unknown to pyproj."""

    exit_code = 2


class RegionError(GeodigitizeError, ValueError):
    """A pixel region (``x0,y0,x1,y1``) is malformed or lies outside the image."""

    exit_code = 2


class NoDataError(GeodigitizeError, ValueError):
    """No pixel survived decoding and masking: nothing to write."""

    exit_code = 3


class OutputError(GeodigitizeError, OSError):
    """An output cannot be written, or would overwrite a file without ``overwrite``."""

    exit_code = 4


class OCRUnavailableError(GeodigitizeError, ImportError):
    """Reading the figure's labels needs the OCR engine, which is not installed."""

    exit_code = 2


class InputTypeError(GeodigitizeError, TypeError):
    """An image or GCPs given as a Python object of a type geodigitize cannot use."""

    exit_code = 2


class OutputExistsError(OutputError):
    """An output exists and the parameter allowing its replacement was not given.

    `parameter` names that parameter as Python spells it (``overwrite``); the message
    says ``overwrite=True``, and the command line shows its flag (``--overwrite``) instead
    through :meth:`for_cli`.
    """

    def __init__(self, what: str, *, parameter: str = "overwrite", hint: str = "") -> None:
        self.what, self.parameter, self.hint = what, parameter, hint
        super().__init__(self._message(f"{parameter}=True"))

    def _message(self, how: str) -> str:
        return f"{self.what}: pass {how} to replace {self.hint or 'it'}"

    def for_cli(self, flag: str | None = None) -> str:
        """The message naming the command-line flag (default ``--<parameter>``)."""
        return self._message(flag or "--" + self.parameter.replace("_", "-"))


class OutputBusyError(OutputError):
    """Another run holds the lock of the same output folder."""

    exit_code = 4


class BatchError(GeodigitizeError, ValueError):
    """A batch cannot start (no images, clashing names, unreachable scheduler)."""

    exit_code = 2


class RegridError(GeodigitizeError, ValueError):
    """Points, grid or method given to :func:`geodigitize.regrid.regrid` cannot be used as
    they are."""

    exit_code = 2
