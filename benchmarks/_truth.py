"""The truth kept beside every benchmark figure, and the field the figures are drawn from.

A figure is an image file plus ``<name>.npz`` holding :class:`Truth`. Pixel positions
follow ``docs/conventions.md`` (GDAL: pixel ``(col, row)`` covers ``[col, col + 1)``, its
centre is ``col + 0.5``).

Kinds of pixel (``Truth.kind``):

====  ==========================================================================
0     data: a pure data pixel whose colour is the value's colour
1     line: coastline, graticule, frame, tick mark, colorbar outline
2     text: tick labels, title, colorbar labels
3     land fill
4     page: outside the frame (margins)
5     colorbar (its colour ramp, extend triangles included)
6     mixed: inside the frame and not covered by an overlay, but its colour blends
      neighbours (cell or class edges antialiased, resampling near an overlay); its
      value is NaN
====  ==========================================================================
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pyproj

DATA, LINE, TEXT, LAND, PAGE, COLORBAR, MIXED = range(7)
KIND_NAMES = ("data", "line", "text", "land", "page", "colorbar", "mixed")

Box = tuple[float, float, float, float]


@dataclass(frozen=True, eq=False)
class Truth:
    """Everything known about one benchmark figure.

    Attributes
    ----------
    name : str
        Figure name; the image is ``<name>.png`` or ``<name>.jpg`` beside the ``.npz``.
    image : str
        Image file name (no folder).
    renderer : str
        ``mpl``, ``mpl-pdf``, ``gmt``, ``resized`` or ``jpeg``.
    value : ndarray of shape (H, W) and dtype float64
        The value painted at each data pixel, NaN where ``kind != 0``.
    kind : ndarray of shape (H, W) and dtype uint8
        Pixel kind (see the module table).
    frame : (x0, y0, x1, y1)
        The map frame in pixel corners.
    colorbar : (x0, y0, x1, y1)
        The colorbar ramp in pixel corners (without extend triangles).
    gcps : ndarray of shape (n, 4)
        ``col, row, lon, lat`` of graticule intersections, exact.
    cmap : str
        Matplotlib colormap name (GMT figures: the CPT's master name, see `cmap_file`).
    vmin, vmax : float
    crs : str
        The CRS the map is drawn in (``EPSG:4326`` or ``EPSG:3395``).
    px_affine : (a0, a1, b0, b1)
        ``col = a0 + a1 * x``, ``row = b0 + b1 * y`` with ``x, y`` in `crs`.
    projection : str
        ``platecarree`` or ``mercator``.
    levels : ndarray of shape (k + 1,)
        Class edges of a ``contourf`` figure, empty otherwise.
    class_index : ndarray of shape (H, W) and dtype int16
        Class of each data pixel of a ``contourf`` figure, -1 elsewhere.
    cmap_file : str
        A CPT file name beside the image (GMT), empty otherwise.
    tick_text : ndarray of str, shape (m,)
    tick_box : ndarray of shape (m, 4)
        The tick labels drawn and their pixel boxes (x0, y0, x1, y1), for OCR work.
    meta : dict
        How the figure was made (spec, parent figure, checks).
    """

    name: str
    image: str
    renderer: str
    value: np.ndarray
    kind: np.ndarray
    frame: Box
    colorbar: Box
    gcps: np.ndarray
    cmap: str
    vmin: float
    vmax: float
    crs: str
    px_affine: tuple[float, float, float, float]
    projection: str
    levels: np.ndarray = field(default_factory=lambda: np.zeros(0))
    class_index: np.ndarray | None = None
    cmap_file: str = ""
    tick_text: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=str))
    tick_box: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))
    meta: dict = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int]:
        return self.kind.shape

    def save(self, folder: Path) -> Path:
        """Write ``<folder>/<name>.npz``; return its path."""
        data = asdict(self)
        data["meta"] = np.array(repr(data["meta"]))
        if data["class_index"] is None:
            data["class_index"] = np.full(self.shape, -1, np.int16)
        path = Path(folder) / f"{self.name}.npz"
        np.savez_compressed(path, **{k: np.asarray(v) for k, v in data.items()})
        return path

    @classmethod
    def load(cls, path: Path) -> Truth:
        """Read a truth written by :meth:`save`."""
        import ast

        with np.load(path, allow_pickle=False) as z:
            d = {k: z[k] for k in z.files}
        out = {}
        for k, v in d.items():
            if k in ("name", "image", "renderer", "cmap", "crs", "projection", "cmap_file"):
                out[k] = str(v)
            elif k in ("vmin", "vmax"):
                out[k] = float(v)
            elif k in ("frame", "colorbar", "px_affine"):
                out[k] = tuple(float(x) for x in v)
            elif k == "meta":
                out[k] = ast.literal_eval(str(v))
            else:
                out[k] = v
        return cls(**out)

    # --- geometry ---------------------------------------------------------------------
    def lonlat_to_pixel(self, lon, lat) -> tuple[np.ndarray, np.ndarray]:
        """Pixel position (GDAL convention) of lon/lat."""
        x, y = _from_lonlat(self.crs).transform(np.asarray(lon, float), np.asarray(lat, float))
        a0, a1, b0, b1 = self.px_affine
        return a0 + a1 * np.asarray(x), b0 + b1 * np.asarray(y)

    def pixel_to_lonlat(self, col, row) -> tuple[np.ndarray, np.ndarray]:
        """lon/lat of pixel positions (GDAL convention)."""
        a0, a1, b0, b1 = self.px_affine
        x = (np.asarray(col, float) - a0) / a1
        y = (np.asarray(row, float) - b0) / b1
        return _from_lonlat(self.crs).transform(x, y, direction="INVERSE")

    def write_gcps(self, path: Path) -> Path:
        """The GCPs as a ``col,row,lon,lat`` CSV."""
        lines = ["col,row,lon,lat"] + [",".join(f"{v:.6f}" for v in g) for g in self.gcps]
        Path(path).write_text("\n".join(lines) + "\n")
        return Path(path)


def _from_lonlat(crs: str) -> pyproj.Transformer:
    return pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True)


def affine_from_box(frame: Box, bounds: Box) -> tuple[float, float, float, float]:
    """``px_affine`` of a frame box spanning projected `bounds` (xmin, xmax, ymin, ymax)."""
    x0, y0, x1, y1 = frame
    xmin, xmax, ymin, ymax = bounds
    a1 = (x1 - x0) / (xmax - xmin)
    b1 = -(y1 - y0) / (ymax - ymin)
    return (x0 - a1 * xmin, a1, y0 - b1 * ymax, b1)


# --- the field ------------------------------------------------------------------------
@dataclass(frozen=True)
class Field:
    """A smooth seeded field over lon/lat: a few Gaussians plus two sinusoids, scaled so
    that its values over ``extent`` span ``lo .. hi``."""

    seed: int
    lo: float
    hi: float
    extent: Box = (-180.0, 180.0, -80.0, 80.0)

    def _raw(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        rng = np.random.default_rng(self.seed)
        w, e, s, n = self.extent
        out = 0.6 * np.cos(np.deg2rad(lat)) ** 2
        for _ in range(5):
            cx, cy = rng.uniform(w, e), rng.uniform(s, n)
            sx, sy = rng.uniform(15, 50), rng.uniform(10, 30)
            amp = rng.uniform(-0.6, 0.6)
            out = out + amp * np.exp(-(((lon - cx) / sx) ** 2) - ((lat - cy) / sy) ** 2)
        k1, k2 = rng.integers(1, 4, 2)
        ph = rng.uniform(0, 2 * np.pi, 2)
        out = out + 0.15 * np.sin(np.deg2rad(k1 * lon) + ph[0]) * np.cos(
            np.deg2rad(k2 * lat) + ph[1]
        )
        return out

    def __call__(self, lon, lat) -> np.ndarray:
        w, e, s, n = self.extent
        glon, glat = np.meshgrid(np.linspace(w, e, 181), np.linspace(s, n, 91))
        ref = self._raw(glon, glat)
        a, b = ref.min(), ref.max()
        u = (self._raw(np.asarray(lon, float), np.asarray(lat, float)) - a) / (b - a)
        return self.lo + (self.hi - self.lo) * np.clip(u, 0.0, 1.0)


def classify(kind_masks: dict[int, np.ndarray], shape: tuple[int, int]) -> np.ndarray:
    """Kinds from masks, later kinds winning: page < data < colorbar < land < line < text."""
    kind = np.full(shape, PAGE, np.uint8)
    for k in (DATA, COLORBAR, LAND, LINE, TEXT):
        if k in kind_masks:
            kind[kind_masks[k]] = k
    return kind


def colour_consistent(rgb: np.ndarray, expected: np.ndarray, tolerance: int = 2) -> np.ndarray:
    """Pixels whose colour is within `tolerance` (per channel) of any expected colour.

    Parameters
    ----------
    rgb : ndarray of shape (n, 3) and dtype uint8
    expected : ndarray of shape (k, n, 3) and dtype uint8
        Candidate colours per pixel (the value's colour and its neighbours one colour
        step away).
    """
    diff = np.abs(expected.astype(np.int16) - rgb[None].astype(np.int16)).max(axis=2)
    return (diff <= tolerance).any(axis=0)
