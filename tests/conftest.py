"""Small synthetic figures with known truth, shared by the tests.

`make_figure` paints a known field through a known colormap exactly as matplotlib colours
it (8-bit), inside a frame surrounded by white page, with black lines and a text-like
block drawn over it, and returns the GCPs of the frame's corners. Every pixel's value and
position are known, so tests can assert exact answers.
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib
import numpy as np
import pytest
from matplotlib import colors as mcolors
from PIL import Image
from threadpoolctl import threadpool_limits

# One BLAS thread: the suite runs many small solves, which oversubscribed thread pools
# slow down by an order of magnitude on a busy 2-core machine.
threadpool_limits(1)


@dataclass
class Figure:
    image: np.ndarray  # (H, W, 3) uint8
    truth: np.ndarray  # (H, W) value painted, NaN outside the frame
    data: np.ndarray  # (H, W) bool: field colour, not overdrawn
    overlay: np.ndarray  # (H, W) bool: black lines and text
    frame: tuple[int, int, int, int]
    lon: np.ndarray  # (H, W) lon of pixel centres (NaN outside frame)
    lat: np.ndarray
    gcps: np.ndarray  # (4, 4) col, row, lon, lat
    extent: tuple[float, float, float, float]  # W, E, S, N of the frame
    cmap: str
    vmin: float
    vmax: float

    def write(self, folder, name="map.png"):
        """Save the image and gcps.csv into folder; return their paths."""
        img_path = folder / name
        Image.fromarray(self.image).save(img_path)
        gcp_path = folder / "gcps.csv"
        rows = ["col,row,lon,lat"] + [",".join(f"{v:.10g}" for v in g) for g in self.gcps]
        gcp_path.write_text("\n".join(rows) + "\n")
        return img_path, gcp_path


def field(lon: np.ndarray, lat: np.ndarray, vmin: float, vmax: float) -> np.ndarray:
    """A smooth SST-like field of lon/lat, spanning most of [vmin, vmax]."""
    base = np.cos(np.deg2rad(lat)) ** 2
    eddies = 0.15 * np.sin(np.deg2rad(2 * lon)) * np.cos(np.deg2rad(3 * lat))
    t = np.clip(0.05 + 0.85 * base + eddies, 0, 1)
    return vmin + t * (vmax - vmin)


def paint(values: np.ndarray, cmap: str, vmin: float, vmax: float) -> np.ndarray:
    """Colours matplotlib gives `values` (uint8 RGB)."""
    sm = matplotlib.cm.ScalarMappable(mcolors.Normalize(vmin, vmax), matplotlib.colormaps[cmap])
    return sm.to_rgba(values, bytes=True)[..., :3]


def make_figure(
    width: int = 160,
    height: int = 120,
    *,
    margin: int = 10,
    cmap: str = "jet_r",
    vmin: float = 0.0,
    vmax: float = 0.7,
    extent: tuple[float, float, float, float] = (-180.0, 180.0, -80.0, 80.0),
    lines: bool = True,
) -> Figure:
    """A plate carree figure: frame inset by `margin` pixels, white page around it."""
    x0, y0, x1, y1 = margin, margin, width - margin, height - margin
    w, e, s, n = extent
    cols = np.arange(width) + 0.5
    rows = np.arange(height) + 0.5
    lon1 = w + (cols - x0) / (x1 - x0) * (e - w)
    lat1 = n - (rows - y0) / (y1 - y0) * (n - s)
    lon, lat = np.meshgrid(lon1, lat1)
    inside = np.zeros((height, width), bool)
    inside[y0:y1, x0:x1] = True
    lon[~inside] = np.nan
    lat[~inside] = np.nan
    truth = np.where(inside, field(lon, lat, vmin, vmax), np.nan)
    image = np.full((height, width, 3), 255, np.uint8)
    image[inside] = paint(truth[inside], cmap, vmin, vmax)
    overlay = np.zeros((height, width), bool)
    if lines:
        overlay[y0 + 5 : y1 - 5, (x0 + x1) // 2] = True  # a meridian-like line
        overlay[(y0 + y1) // 2, x0 + 5 : x1 - 5] = True  # an equator-like line
        overlay[y0 + 8 : y0 + 14, x0 + 8 : x0 + 30] = True  # a "label"
        image[overlay] = 0
    gcps = np.array([[x0, y0, w, n], [x1, y0, e, n], [x0, y1, w, s], [x1, y1, e, s]], dtype=float)
    return Figure(
        image,
        truth,
        inside & ~overlay,
        overlay,
        (x0, y0, x1, y1),
        lon,
        lat,
        gcps,
        extent,
        cmap,
        vmin,
        vmax,
    )


@pytest.fixture
def figure() -> Figure:
    return make_figure()


@pytest.fixture
def cli(capsys):
    """Run the command line's ``main(argv)`` in-process; returns (exit code, stdout, stderr).

    ``main`` installs a SIGTERM handler; the fixture puts the old one back.
    """
    import signal

    from geodigitize.cli import main

    old = signal.getsignal(signal.SIGTERM)

    def call(*argv):
        with pytest.raises(SystemExit) as stop:
            main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return stop.value.code, out, err

    yield call
    signal.signal(signal.SIGTERM, old)
