"""geodigitize: turn a colour-mapped map image into georeferenced data.

The pipeline's stages are modules of their own (``image``, ``colormap``, ``decode``,
``mask``, ``reduce``, ``gcps``, ``transforms``, ``georef``, ``reconstruct``, ``io``);
:func:`extract` runs them all.

The names below are imported when first used (PEP 562), so that importing one module
(``from geodigitize.pipeline import run``, the command line) does not import every
other one with its dependencies.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING

from .version import __version__


class _Package(types.ModuleType):
    """This package's module type, for one name: ``decode`` is a function and its module.

    Importing a submodule binds it on its package (``geodigitize.decode = <module>``); the
    setter below keeps the name the function, so neither has to be imported up front (the
    module brings scipy.spatial: a third of the command line's start-up).
    """

    @property
    def decode(self):
        from .decode import decode

        return decode

    @decode.setter
    def decode(self, value) -> None:
        pass  # the import system binding the submodule: the name stays the function


sys.modules[__name__].__class__ = _Package

if TYPE_CHECKING:  # what the names are, for readers and type checkers
    from .colormap import ColorScale, from_cmap
    from .decode import Decoded
    from .errors import GeodigitizeError
    from .gcps import GCP, GCPSet, read_gcps
    from .georef import Georeference, georeference
    from .image import MapImage, read_image
    from .options import Options
    from .panels import PanelRun, extract_panels, run_panels
    from .pipeline import Extraction, extract, run
    from .scale import build_scale

#: Each public name and the module it comes from.
_HOME = {
    "ColorScale": "colormap",
    "from_cmap": "colormap",
    "Decoded": "decode",
    "GeodigitizeError": "errors",
    "GCP": "gcps",
    "GCPSet": "gcps",
    "read_gcps": "gcps",
    "Georeference": "georef",
    "georeference": "georef",
    "MapImage": "image",
    "read_image": "image",
    "Options": "options",
    "PanelRun": "panels",
    "extract_panels": "panels",
    "run_panels": "panels",
    "Extraction": "pipeline",
    "extract": "pipeline",
    "run": "pipeline",
    "build_scale": "scale",
}

__all__ = [
    "GCP",
    "ColorScale",
    "Decoded",
    "Extraction",
    "GCPSet",
    "GeodigitizeError",
    "Georeference",
    "MapImage",
    "Options",
    "PanelRun",
    "__version__",
    "build_scale",
    "decode",
    "extract",
    "extract_panels",
    "from_cmap",
    "georeference",
    "read_gcps",
    "read_image",
    "run",
    "run_panels",
]


def __getattr__(name: str):
    """A public name, or a submodule (``geodigitize.mask``), imported on first use."""
    home = _HOME.get(name)
    if home is not None:
        value = getattr(importlib.import_module(f".{home}", __name__), name)
    else:
        try:
            value = importlib.import_module(f".{name}", __name__)
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOME, "decode"})
