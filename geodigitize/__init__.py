"""geodigitize: turn a colour-mapped map image into georeferenced data.

The pipeline's stages are modules of their own (``image``, ``colormap``, ``decode``,
``mask``, ``reduce``, ``gcps``, ``transforms``, ``georef``, ``reconstruct``, ``io``);
:func:`extract` runs them all.
"""

from .colormap import ColorScale, from_cmap
from .decode import Decoded, decode
from .errors import GeodigitizeError
from .gcps import GCP, GCPSet, read_gcps
from .georef import Georeference, georeference
from .image import MapImage, read_image
from .options import Options
from .panels import PanelRun, extract_panels, run_panels
from .pipeline import Extraction, extract, run
from .scale import build_scale
from .version import __version__

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
