"""The installed version of geodigitize."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("geodigitize")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.1.0+unknown"

__all__ = ["__version__"]
