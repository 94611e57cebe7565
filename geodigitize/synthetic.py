"""Synthetic colour-mapped map figures whose every pixel's truth is known.

:func:`render_figure` draws a realistic map figure with matplotlib (Agg): a smooth
field painted through a colormap, grey land, black coastlines, a graticule, place
names, tick labels, a title and a colorbar. It returns the image together with the
truth for each pixel: the value painted there, its lon/lat, which overlay touched it,
and the ground control points (GCPs) at the graticule intersections.

How the truth is kept exact
---------------------------
* The figure is ``width x height`` pixels at a fixed dpi and saved without
  ``bbox_inches="tight"``; the map axes and the colorbar axes sit on whole pixels.
* The field is colour-mapped up front with ``ScalarMappable.to_rgba(bytes=True)`` and
  drawn with ``imshow(interpolation="nearest")`` as an opaque RGBA uint8 array holding
  exactly one cell per frame pixel, so Agg copies the colours unchanged (matplotlib's
  ``bytes=True`` truncates ``lut * 255``; drawing pre-mapped colours keeps the result
  independent of how a matplotlib version resamples scalar data).
* Overlay masks come from rendering the overlays again, alone, on a transparent
  canvas with the identical layout: a pixel belongs to a mask when its alpha is > 0,
  antialiasing included.
* The frame's pixel grid is linear in the projected coordinates of ``crs``; lon/lat
  of each pixel centre come from pyproj, and every overlay is generated in lon/lat,
  projected and drawn in pixel coordinates (with snapping off).

Pixel positions follow ``docs/conventions.md`` (GDAL's convention).
"""

from __future__ import annotations

import csv
import io
import itertools
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import contourpy  # a hard dependency of matplotlib
import matplotlib as mpl
import matplotlib.style
import numpy as np
from matplotlib import colors as mcolors
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.patches import PathPatch
from matplotlib.path import Path as MplPath
from PIL import Image
from pyproj import Transformer

from geodigitize.errors import ColorScaleError, CRSError

__all__ = ["PROJECTIONS", "SyntheticFigure", "render_figure"]

Box = tuple[float, float, float, float]

_DPI = 100.0
_LAND_GREY = 0.75
_LAYERS = ("field", "land", "lines", "text")
_PLACE_NAMES = (
    "Port Aurel", "Mare Tenebris", "Cape Halden", "Isla Verde", "Nordhaven",
    "Bay of Sorrel", "Kestrel Is.", "Gulf of Arn", "Vessa", "Lowmarch",
)  # fmt: skip
_TITLES = {"sst": "Sea surface temperature", "elevation": "Elevation", "smooth": "Field"}
_UNITS = {"sst": "SST (°C)", "elevation": "Elevation (km)", "smooth": "Value"}


@dataclass(frozen=True)
class _Projection:
    crs: str
    extent: Box  # default lon0, lon1, lat0, lat1
    lat_limit: float  # |lat| beyond which the projection is not drawn
    separable: bool  # lon depends on x only and lat on y only


PROJECTIONS: dict[str, _Projection] = {
    "platecarree": _Projection("EPSG:4326", (-180.0, 180.0, -80.0, 80.0), 90.0, True),
    "mercator": _Projection("EPSG:3857", (-180.0, 180.0, -60.0, 60.0), 85.0, True),
    "lcc": _Projection(
        "+proj=lcc +lat_1=30 +lat_2=60 +lat_0=45 +lon_0=-100 +datum=WGS84 +units=m +no_defs",
        (-130.0, -65.0, 20.0, 55.0),
        89.0,
        False,
    ),
    "polar": _Projection("EPSG:3413", (-180.0, 180.0, 50.0, 90.0), 90.0, False),
}
"""Supported projections: PROJ string, default lon/lat extent, drawable |lat|, separable."""


@dataclass(frozen=True, eq=False)
class SyntheticFigure:
    """A rendered figure and the truth of each of its pixels.

    Attributes
    ----------
    image : numpy.ndarray
        ``(H, W, 3)`` uint8, exactly the pixels of the saved file (after the JPEG round
        trip when ``jpeg_quality`` was set).
    truth : numpy.ndarray
        ``(H, W)`` float64, the field value painted at each frame pixel; NaN outside.
        With ``levels`` it is still the continuous value; the painted class is
        ``clip(np.digitize(truth, levels) - 1, 0, len(levels) - 2)``.
    data : numpy.ndarray
        ``(H, W)`` bool, inside the frame and untouched by any overlay: before JPEG its
        colour is exactly :meth:`colors_for` of ``truth``.
    lines : numpy.ndarray
        ``(H, W)`` bool, touched (alpha > 0) by coastlines, graticule, spines, ticks,
        and the colorbar's outline and ticks.
    text : numpy.ndarray
        ``(H, W)`` bool, touched by any text.
    land : numpy.ndarray
        ``(H, W)`` bool, touched by the land fill, inside the frame.
    page : numpy.ndarray
        ``(H, W)`` bool, outside the map frame.
    frame, colorbar : tuple of float
        ``x0, y0, x1, y1`` of the map's data area and of the colorbar's coloured area,
        in pixel-corner coordinates (whole numbers). ``colorbar`` is all NaN when no
        colorbar was drawn.
    gcps : numpy.ndarray
        ``(n, 4)`` float64 columns ``col, row, lon, lat``: graticule intersections
        strictly inside the frame, at their exact projected positions.
    lon, lat : numpy.ndarray
        ``(H, W)`` float64 lon/lat (degrees, EPSG:4326) of each pixel centre; NaN
        outside the frame.
    cmap, vmin, vmax, norm, levels
        The colour scale: colormap name, value range, ``"linear"``, ``"log"`` or
        ``"sqrt"``, and class boundaries (``BoundaryNorm(levels, cmap.N)``) or None.
    crs : str
        The projection the frame is linear in, for :class:`pyproj.CRS`.
    extent : tuple of float
        ``lon0, lon1, lat0, lat1`` the frame was fitted around.
    jpeg_quality : int or None
        Quality of the JPEG round trip, if any.
    encoded : bytes or None
        The JPEG file's bytes when ``jpeg_quality`` was set.
    """

    image: np.ndarray
    truth: np.ndarray
    data: np.ndarray
    lines: np.ndarray
    text: np.ndarray
    land: np.ndarray
    page: np.ndarray
    frame: Box
    colorbar: Box
    gcps: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    cmap: str
    vmin: float
    vmax: float
    norm: str
    levels: tuple[float, ...] | None
    crs: str
    extent: Box
    jpeg_quality: int | None = None
    encoded: bytes | None = field(default=None, repr=False)

    def colors_for(self, values: np.ndarray) -> np.ndarray:
        """Return the exact RGB matplotlib paints for ``values`` with this colour scale.

        Parameters
        ----------
        values : numpy.ndarray
            Any shape ``S``, float.

        Returns
        -------
        numpy.ndarray
            ``S + (3,)`` uint8, ``ScalarMappable.to_rgba(values, bytes=True)[..., :3]``
            (matplotlib truncates ``lut * 255`` to uint8; it does not round).
        """
        mappable = _mappable(self.cmap, self.vmin, self.vmax, self.norm, self.levels)
        return mappable.to_rgba(np.asarray(values, dtype=float), bytes=True)[..., :3]

    def save(
        self,
        path: str | Path,
        *,
        gcps_path: str | Path | None = None,
        quality: int | None = None,
    ) -> None:
        """Write the image, the format following the suffix, and optionally the GCPs.

        Parameters
        ----------
        path : str or Path
            Image file. ``.png``/``.tif`` are lossless (exactly ``image``). A ``.jpg``
            of a figure rendered with ``jpeg_quality`` gets the very bytes behind
            ``image`` unless another ``quality`` is asked for; any other JPEG is a new
            encoding of ``image`` (quality ``quality`` or 95), whose pixels differ.
        gcps_path : str or Path, optional
            CSV with header ``col,row,lon,lat`` and one GCP per line.
        quality : int, optional
            JPEG/WebP quality.
        """
        path = Path(path)
        jpeg = path.suffix.lower() in (".jpg", ".jpeg")
        if jpeg and self.encoded is not None and quality in (None, self.jpeg_quality):
            path.write_bytes(self.encoded)
        elif jpeg or path.suffix.lower() == ".webp":
            Image.fromarray(self.image).save(path, quality=quality or 95)
        else:
            Image.fromarray(self.image).save(path)
        if gcps_path is not None:
            _write_gcps(Path(gcps_path), self.gcps)


def _write_gcps(path: Path, gcps: np.ndarray) -> None:
    """Write ``(n, 4)`` GCPs as CSV ``col,row,lon,lat`` with full float precision."""
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["col", "row", "lon", "lat"])
        writer.writerows([[repr(float(v)) for v in row] for row in gcps])


# ----------------------------------------------------------------------------- colour


def _value_norm(norm: str, vmin: float, vmax: float) -> mcolors.Normalize:
    """Return the continuous matplotlib norm named ``norm`` over ``[vmin, vmax]``."""
    if not vmax > vmin:
        raise ColorScaleError(f"vmax ({vmax}) must exceed vmin ({vmin}); swap or fix them.")
    if norm == "linear":
        return mcolors.Normalize(vmin, vmax)
    if norm == "log":
        if vmin <= 0:
            raise ColorScaleError(f"norm='log' needs vmin > 0, got {vmin}; raise vmin.")
        return mcolors.LogNorm(vmin, vmax)
    if norm == "sqrt":
        return mcolors.PowerNorm(0.5, vmin, vmax)
    raise ColorScaleError(f"Unknown norm {norm!r}; use 'linear', 'log' or 'sqrt'.")


def _inverse_norm(norm: str, vmin: float, vmax: float, u: np.ndarray) -> np.ndarray:
    """Values whose normalised position is ``u`` (in place on float64 ``u``; returned).

    The closed forms of ``Normalize``/``LogNorm``/``PowerNorm(0.5)``'s ``inverse``,
    without their masked-array overhead.
    """
    if norm == "log":
        u *= np.log(vmax / vmin)
        np.exp(u, out=u)
        u *= vmin
        return u
    if norm == "sqrt":
        u *= u
    u *= vmax - vmin
    u += vmin
    return u


def _mappable(
    cmap: str, vmin: float, vmax: float, norm: str, levels: tuple[float, ...] | None
) -> ScalarMappable:
    """Return the ScalarMappable that colours values (``BoundaryNorm`` with levels)."""
    try:
        colormap = mpl.colormaps[cmap]
    except KeyError:
        raise ColorScaleError(f"Unknown colormap {cmap!r}; use a matplotlib name.") from None
    color_norm = _value_norm(norm, vmin, vmax)
    if levels is not None:
        if len(levels) < 2 or np.any(np.diff(levels) <= 0):
            raise ColorScaleError("levels must be at least two strictly increasing values.")
        color_norm = mcolors.BoundaryNorm(levels, colormap.N)
    return ScalarMappable(norm=color_norm, cmap=colormap)


# ------------------------------------------------------------------------ geometry


@dataclass(frozen=True)
class _Grid:
    """The frame: integer pixel box and the projected box it spans linearly."""

    frame: tuple[int, int, int, int]  # x0, y0, x1, y1 pixel corners
    bounds: Box  # xmin, ymin, xmax, ymax projected
    projection: _Projection

    @property
    def shape(self) -> tuple[int, int]:
        """``(rows, cols)`` of the frame."""
        x0, y0, x1, y1 = self.frame
        return y1 - y0, x1 - x0

    def to_pixel(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Projected ``x, y`` (any shape) to pixel ``col, row`` (same shape, float)."""
        x0, y0, x1, y1 = self.frame
        xmin, ymin, xmax, ymax = self.bounds
        col = x0 + (np.asarray(x) - xmin) * ((x1 - x0) / (xmax - xmin))
        row = y0 + (ymax - np.asarray(y)) * ((y1 - y0) / (ymax - ymin))
        return col, row

    def centres(self) -> tuple[np.ndarray, np.ndarray]:
        """Projected ``x`` ``(cols,)`` and ``y`` ``(rows,)`` of the frame's pixel centres."""
        rows, cols = self.shape
        xmin, ymin, xmax, ymax = self.bounds
        x = xmin + (np.arange(cols) + 0.5) * ((xmax - xmin) / cols)
        y = ymax - (np.arange(rows) + 0.5) * ((ymax - ymin) / rows)
        return x, y


def _transformers(crs: str) -> tuple[Transformer, Transformer]:
    """Return (lon/lat -> crs, crs -> lon/lat) transformers, ``always_xy``."""
    try:
        forward = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    except Exception as exc:  # pyproj raises its own CRSError
        raise CRSError(f"pyproj does not understand {crs!r}: {exc}") from exc
    return forward, Transformer.from_crs(crs, "EPSG:4326", always_xy=True)


def _projected_bounds(forward: Transformer, extent: Box, lat_limit: float) -> Box:
    """Bounding box, in projected units, of the densified lon/lat box ``extent``."""
    lon0, lon1, lat0, lat1 = extent
    lat0, lat1 = max(lat0, -lat_limit), min(lat1, lat_limit)
    t = np.linspace(0.0, 1.0, 721)
    lon = np.concatenate(
        [
            lon0 + (lon1 - lon0) * t,
            np.full_like(t, lon1),
            lon1 - (lon1 - lon0) * t,
            np.full_like(t, lon0),
        ]
    )
    lat = np.concatenate(
        [
            np.full_like(t, lat0),
            lat0 + (lat1 - lat0) * t,
            np.full_like(t, lat1),
            lat1 - (lat1 - lat0) * t,
        ]
    )
    x, y = forward.transform(lon, lat)
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise CRSError(f"extent {extent} does not project to finite coordinates.")
    return float(x.min()), float(y.min()), float(x.max()), float(y.max())


def _block_lonlat(
    grid: _Grid, inverse: Transformer, r0: int, r1: int
) -> tuple[np.ndarray, np.ndarray]:
    """lon, lat ``(r1 - r0, cols)`` float64 of the pixel centres of frame rows ``r0:r1``."""
    x, y = grid.centres()
    y = y[r0:r1]
    shape = (y.size, x.size)
    if grid.projection.separable:
        lon, _ = inverse.transform(x, np.zeros_like(x))
        _, lat = inverse.transform(np.zeros_like(y), y)
        lon = np.broadcast_to(np.asarray(lon)[None, :], shape)
        return np.array(lon), np.array(np.broadcast_to(np.asarray(lat)[:, None], shape))
    xx = np.broadcast_to(x[None, :], shape).ravel()
    yy = np.broadcast_to(y[:, None], shape).ravel()
    lon, lat = inverse.transform(xx, yy)
    return np.reshape(lon, shape), np.reshape(lat, shape)


# ------------------------------------------------------------------------- fields


def _unit_vectors(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, ...]:
    """Cartesian unit vectors ``(x, y, z)`` of lon/lat in degrees (same shapes)."""
    lam, phi = np.radians(lon), np.radians(lat)
    cphi = np.cos(phi)
    return cphi * np.cos(lam), cphi * np.sin(lam), np.sin(phi)


@dataclass(frozen=True, eq=False)
class _Bumps:
    """A sum of Gaussian bumps on the unit sphere: ``sum a exp((c . p - 1) / s**2)``."""

    centres: np.ndarray  # (n, 3) unit vectors
    amps: np.ndarray  # (n,)
    inv_s2: np.ndarray  # (n,) 1 / width**2, width in radians

    @classmethod
    def draw(
        cls,
        rng: np.random.Generator,
        n: int,
        amp: tuple[float, float],
        width: tuple[float, float],
        signed: bool,
    ) -> _Bumps:
        """``n`` bumps, amplitudes uniform in ``amp`` (random signs if ``signed``)."""
        centres = rng.normal(size=(n, 3))
        centres /= np.linalg.norm(centres, axis=1, keepdims=True)
        amps = rng.uniform(*amp, size=n) * (rng.choice((-1.0, 1.0), size=n) if signed else 1.0)
        return cls(centres, amps, rng.uniform(*width, size=n) ** -2.0)

    def __call__(self, xyz: tuple[np.ndarray, ...]) -> np.ndarray:
        """Evaluate at unit vectors ``xyz`` (three arrays of one shape); same shape."""
        out = np.zeros_like(xyz[0])
        work = np.empty_like(out)
        for c, a, k in zip(self.centres, self.amps, self.inv_s2, strict=True):
            np.multiply(xyz[0], c[0] * k, out=work)
            work += xyz[1] * (c[1] * k)
            work += xyz[2] * (c[2] * k)
            work -= k
            np.exp(work, out=work)
            work *= a
            out += work
        return out


@dataclass(frozen=True, eq=False)
class _FieldModel:
    """A seeded smooth field on the sphere; calling it gives values in ``(0.01, 0.99)``."""

    kind: str
    bumps: tuple[_Bumps, ...]
    waves: np.ndarray  # (4,) wave numbers and phases

    @classmethod
    def draw(cls, kind: str, seed: int) -> _FieldModel:
        """The model of ``kind`` (``"sst"``, ``"elevation"`` or ``"smooth"``) for ``seed``."""
        rng = np.random.default_rng([seed, 1])
        waves = np.concatenate([rng.uniform(2.0, 7.0, 2), rng.uniform(0.0, 2 * np.pi, 2)])
        if kind == "sst":
            bumps = (_Bumps.draw(rng, 16, (0.3, 0.8), (0.04, 0.12), signed=True),)
        elif kind == "elevation":
            bumps = (
                _Bumps.draw(rng, 9, (0.4, 1.2), (0.08, 0.3), signed=False),
                _Bumps.draw(rng, 4, (-0.7, -0.3), (0.1, 0.3), signed=False),
            )
        elif kind == "smooth":
            bumps = ()
        else:
            raise ValueError(f"Unknown field {kind!r}; use 'sst', 'elevation' or 'smooth'.")
        return cls(kind, bumps, waves)

    def raw(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """Unbounded field at lon/lat in degrees (any shape, same shape out)."""
        lam, phi = np.radians(lon), np.radians(lat)
        if self.kind == "smooth":
            return 1.2 * np.cos(phi) * np.sin(lam + 0.3) + 0.5 * np.sin(2.0 * phi)
        xyz = _unit_vectors(lon, lat)
        k1, k2, p1, p2 = self.waves
        out = sum((b(xyz) for b in self.bumps), start=np.zeros_like(xyz[0]))
        if self.kind == "sst":  # warm equator, cold poles, a meandering front
            out += -1.1 + 2.2 * np.cos(phi) ** 2 + 0.15 * xyz[2]
            out += 0.25 * np.cos(phi) * np.sin(round(k1) * lam + 5.0 * np.sin(2 * phi) + p1)
        else:  # terrain: ranges and basins plus smooth ridges
            out += -0.6 + 0.35 * np.sin(k1 * xyz[0] + p1) ** 2 * np.sin(k2 * xyz[1] + p2) ** 2
        return out

    def __call__(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """The field squashed smoothly into ``(0.01, 0.99)``: ``0.5 + 0.49 tanh(raw)``."""
        raw = self.raw(lon, lat)
        np.tanh(raw, out=raw)
        raw *= 0.49
        raw += 0.5
        return raw


# --------------------------------------------------------------------------- land


def _land_grid(lon_range: Box, res: float) -> tuple[np.ndarray, np.ndarray]:
    """Regular lon ``(n,)`` and lat ``(m,)`` axes covering ``lon0, lon1, lat0, lat1``."""
    lon0, lon1, lat0, lat1 = lon_range
    lon = np.arange(lon0, lon1 + res, res)
    lat = np.arange(lat0, lat1 + res, res)
    return lon, np.clip(lat, -90.0, 90.0)


def _land_function(lon: np.ndarray, lat: np.ndarray, seed: int) -> np.ndarray:
    """Smooth seeded noise ``(len(lat), len(lon))`` whose positive part is land."""
    rng = np.random.default_rng([seed, 2])
    xyz = _unit_vectors(lon[None, :], lat[:, None])
    xyz = tuple(np.broadcast_to(c, (lat.size, lon.size)) for c in xyz)
    g = -0.5 + _Bumps.draw(rng, 12, (0.5, 1.0), (0.12, 0.35), signed=False)(xyz)
    g += _Bumps.draw(rng, 90, (0.2, 0.4), (0.03, 0.07), signed=True)(xyz)
    return g


def _land_shapes(
    lonlat_box: Box, res: float, seed: int
) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """Land polygons (vertices, path codes) and coastlines, all in lon/lat ``(n, 2)``."""
    lon, lat = _land_grid(lonlat_box, res)
    g = _land_function(lon, lat, seed)
    gen = contourpy.contour_generator(
        lon,
        lat,
        g,
        line_type=contourpy.LineType.Separate,
        fill_type=contourpy.FillType.OuterCode,
    )
    points, codes = gen.filled(0.0, np.inf)
    return list(points), list(codes), list(gen.lines(0.0))


# ---------------------------------------------------------------------- graticule


def _graticule_values(lo: float, hi: float, step: float, limit: float) -> np.ndarray:
    """Multiples of ``step`` within ``[lo - step, hi + step]`` and ``[-limit, limit]``."""
    k0, k1 = np.floor((lo - step) / step), np.ceil((hi + step) / step)
    values = np.arange(k0, k1 + 1) * step
    return values[(values >= -limit) & (values <= limit)]


def _densify(a: float, b: float, step: float, max_gap: float = 0.25) -> np.ndarray:
    """Points from ``a`` to ``b`` including every multiple of ``step``, ``<= max_gap`` apart."""
    knots = np.unique(np.concatenate([[a, b], _graticule_values(a, b, step, np.inf)]))
    knots = knots[(knots >= a) & (knots <= b)]
    pieces = [
        np.linspace(p, q, max(2, int(np.ceil((q - p) / max_gap)) + 1))[:-1]
        for p, q in itertools.pairwise(knots)
    ]
    return np.concatenate([*pieces, [b]])


@dataclass(frozen=True)
class _Graticule:
    meridians: list[tuple[float, np.ndarray]]  # lon, (n, 2) col,row polyline
    parallels: list[tuple[float, np.ndarray]]  # lat, (n, 2) col,row polyline
    gcps: np.ndarray  # (n, 4) col, row, lon, lat


def _graticule(grid: _Grid, forward: Transformer, box: Box, step: float) -> _Graticule:
    """Meridians and parallels every ``step`` degrees over lon/lat ``box``, in pixels."""
    lon0, lon1, lat0, lat1 = box
    limit = grid.projection.lat_limit
    lons = _graticule_values(lon0, lon1, step, 180.0)
    lons = lons[lons < 180.0] if lon1 - lon0 >= 359.0 else lons
    lats = _graticule_values(lat0, lat1, step, limit)
    lat_span = (max(-limit, lats.min(initial=lat0)), min(limit, lats.max(initial=lat1)))
    lon_span = (lons.min(initial=lon0), lons.max(initial=lon1))

    def polyline(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        return np.column_stack(grid.to_pixel(*forward.transform(lon, lat)))

    t_lat, t_lon = _densify(*lat_span, step), _densify(*lon_span, step)
    meridians = [(float(v), polyline(np.full_like(t_lat, v), t_lat)) for v in lons]
    parallels = [(float(v), polyline(t_lon, np.full_like(t_lon, v))) for v in lats]
    return _Graticule(meridians, parallels, _gcps(grid, forward, lons, lats[np.abs(lats) < 90]))


def _gcps(grid: _Grid, forward: Transformer, lons: np.ndarray, lats: np.ndarray) -> np.ndarray:
    """``(n, 4)`` col, row, lon, lat of graticule intersections strictly inside the frame."""
    lon, lat = (a.ravel() for a in np.meshgrid(lons, lats))
    col, row = grid.to_pixel(*forward.transform(lon, lat))
    x0, y0, x1, y1 = grid.frame
    inside = (col > x0) & (col < x1) & (row > y0) & (row < y1)
    gcps = np.column_stack([col, row, lon, lat])[inside]
    return gcps[np.lexsort((gcps[:, 0], gcps[:, 1]))]


def _edge_crossings(line: np.ndarray, axis: int, edge: float, span: Box) -> list[float]:
    """Where polyline ``(n, 2)`` crosses coordinate ``axis == edge``, within ``span``."""
    d = line[:, axis] - edge
    hits = np.flatnonzero((d[:-1] * d[1:] <= 0) & ((d[:-1] != 0) | (d[1:] != 0)))
    out = []
    for k in hits:
        t = d[k] / (d[k] - d[k + 1])
        v = line[k, 1 - axis] + t * (line[k + 1, 1 - axis] - line[k, 1 - axis])
        if span[0] - 1e-6 <= v <= span[1] + 1e-6:
            out.append(float(v))
    return out


def _ticks(
    lines: list[tuple[float, np.ndarray]], axis: int, edge: float, span: Box, gap: float
) -> tuple[list[float], list[float]]:
    """Tick positions (pixels, sorted, at least ``gap`` apart) and their degree values."""
    found = sorted((p, v) for v, line in lines for p in _edge_crossings(line, axis, edge, span))
    kept: list[tuple[float, float]] = []
    for p, v in found:
        if not kept or p - kept[-1][0] >= gap:
            kept.append((p, v))
    return [p for p, _ in kept], [v for _, v in kept]


def _degrees(value: float, hemispheres: str) -> str:
    """Format a lon (``hemispheres="EW"``) or lat (``"NS"``) like ``30°W``."""
    v = ((value + 180.0) % 360.0) - 180.0 if hemispheres == "EW" and abs(value) != 180 else value
    if v == 0 or abs(v) == 180:
        return f"{abs(v):g}°"
    return f"{abs(v):g}°{hemispheres[0] if v > 0 else hemispheres[1]}"


# ------------------------------------------------------------------------- layout


@dataclass(frozen=True)
class _Layout:
    width: int
    height: int
    fontsize: float  # points
    scale: float  # 1 at 1000 x 800
    frame: tuple[int, int, int, int]
    colorbar: tuple[int, int, int, int] | None
    orientation: str


def _layout(
    width: int, height: int, ratio: float | None, colorbar: bool, orientation: str, title: bool
) -> _Layout:
    """Place the map frame and colorbar on whole pixels (``ratio`` = frame w/h or None)."""
    scale = min(width / 1000.0, height / 800.0)
    fontsize = max(3.0, 10.0 * scale)
    em = fontsize * _DPI / 72.0
    left, right, bottom = round(5.0 * em), round(1.5 * em), round(2.5 * em)
    top = round(3.0 * em) if title else round(1.2 * em)
    gap, thick = round(1.2 * em), max(3, round(1.3 * em))
    if colorbar and orientation == "vertical":
        right = gap + thick + round(6.5 * em)
    elif colorbar:
        bottom += gap + thick + round(3.0 * em)
    avail_w, avail_h = width - left - right, height - top - bottom
    if avail_w < 8 or avail_h < 8:
        raise ValueError(f"{width}x{height} is too small for the margins; use >= 200x150.")
    fw, fh = avail_w, avail_h
    if ratio is not None:
        fw, fh = min(avail_w, round(avail_h * ratio)), min(avail_h, round(avail_w / ratio))
    x0, y0 = left + (avail_w - fw) // 2, top + (avail_h - fh) // 2
    frame = (x0, y0, x0 + fw, y0 + fh)
    cbar = None
    if colorbar and orientation == "vertical":
        cbar = (frame[2] + gap, y0, frame[2] + gap + thick, y0 + fh)
    elif colorbar:
        cy0 = frame[3] + round(2.5 * em) + gap // 2
        cbar = (x0, cy0, x0 + fw, cy0 + thick)
    return _Layout(width, height, fontsize, scale, frame, cbar, orientation)


# -------------------------------------------------------------------------- scene


@dataclass(frozen=True)
class _Label:
    col: float
    row: float
    text: str
    size: float
    style: str


@dataclass(frozen=True, eq=False)
class _Scene:
    """Everything to draw, in pixel coordinates; drawn once per layer selection."""

    layout: _Layout
    rgba: np.ndarray | None  # (fh, fw, 4) uint8 field colours, opaque
    mappable: ScalarMappable
    land: MplPath | None
    coast: list[np.ndarray]
    graticule: list[np.ndarray]
    xticks: tuple[list[float], list[str]]
    yticks: tuple[list[float], list[str]]
    labels: list[_Label]
    title: str | None
    cbar_label: str


def _place_labels(layout: _Layout, seed: int) -> list[_Label]:
    """A few seeded place names well inside the frame, in different sizes."""
    rng = np.random.default_rng([seed, 3])
    x0, y0, x1, y1 = layout.frame
    n = int(rng.integers(3, 7))
    names = rng.choice(len(_PLACE_NAMES), size=n, replace=False)
    out = []
    for k in names:
        size = layout.fontsize * float(rng.choice((0.8, 1.0, 1.25, 1.6)))
        col = x0 + (x1 - x0) * rng.uniform(0.15, 0.75)
        row = y0 + (y1 - y0) * rng.uniform(0.15, 0.85)
        style = "italic" if _PLACE_NAMES[k].split()[0] in ("Mare", "Bay", "Gulf") else "normal"
        out.append(_Label(col, row, _PLACE_NAMES[k], size, style))
    return out


def _axes_rect(box: tuple[int, int, int, int], layout: _Layout) -> list[float]:
    """Figure-fraction ``[left, bottom, width, height]`` of a pixel box (y down)."""
    x0, y0, x1, y1 = box
    w, h = layout.width, layout.height
    return [x0 / w, (h - y1) / h, (x1 - x0) / w, (y1 - y0) / h]


def _new_figure(layout: _Layout, background: bool) -> Figure:
    """A ``width x height`` pixel Agg figure, white or transparent."""
    fig = Figure(
        figsize=(layout.width / _DPI, layout.height / _DPI),
        dpi=_DPI,
        facecolor="white" if background else "none",
    )
    FigureCanvasAgg(fig)
    return fig


def _draw_map(ax: mpl.axes.Axes, scene: _Scene, layers: frozenset[str]) -> None:
    """Draw the field, land, lines and texts that ``layers`` selects, in pixel coords."""
    s = scene.layout.scale
    x0, y0, x1, y1 = scene.layout.frame
    if "field" in layers and scene.rgba is not None:
        ax.imshow(
            scene.rgba,
            interpolation="nearest",
            extent=(x0, x1, y1, y0),
            origin="upper",
            aspect="auto",
            zorder=0,
        )
    if "land" in layers and scene.land is not None:
        ax.add_patch(
            PathPatch(
                scene.land,
                facecolor=str(_LAND_GREY),
                edgecolor="none",
                linewidth=0,
                zorder=1,
                snap=False,
            )
        )
    if "lines" in layers:
        px = 72.0 / _DPI  # one pixel in points
        ax.add_collection(
            LineCollection(
                scene.graticule,
                colors="0.35",
                zorder=2,
                snap=False,
                linewidths=max(0.6, 0.8 * s) * px,
            ),
            autolim=False,
        )
        ax.add_collection(
            LineCollection(
                scene.coast, colors="black", zorder=3, snap=False, linewidths=max(1.0, 1.2 * s) * px
            ),
            autolim=False,
        )
    if "text" in layers:
        for lab in scene.labels:
            ax.text(
                lab.col,
                lab.row,
                lab.text,
                fontsize=lab.size,
                style=lab.style,
                ha="center",
                va="center",
                color="black",
                zorder=4,
                clip_on=True,
            )
    ax.set_xlim(x0, x1)
    ax.set_ylim(y1, y0)


def _style_axes(ax: mpl.axes.Axes, scene: _Scene, layers: frozenset[str]) -> None:
    """Ticks, tick labels and spines of the map axes, shown per layer."""
    lines, text = "lines" in layers, "text" in layers
    ax.set_xticks(scene.xticks[0], scene.xticks[1])
    ax.set_yticks(scene.yticks[0], scene.yticks[1])
    s = scene.layout.scale
    ax.tick_params(
        length=3.5 * s,
        width=0.8 * s,
        pad=3.0 * s,
        labelsize=0.9 * scene.layout.fontsize,
        bottom=lines,
        left=lines,
        labelbottom=text,
        labelleft=text,
    )
    for spine in ax.spines.values():
        spine.set_linewidth(0.8 * s)
        spine.set_visible(lines)
    if text and scene.title:
        ax.set_title(scene.title, fontsize=1.2 * scene.layout.fontsize, pad=6.0 * s)


def _draw_colorbar(fig: Figure, scene: _Scene, layers: frozenset[str]) -> None:
    """The colorbar: colours with ``field``, outline/ticks with ``lines``, text with ``text``."""
    layout = scene.layout
    assert layout.colorbar is not None
    cax = fig.add_axes(_axes_rect(layout.colorbar, layout))
    cax.patch.set_visible(False)
    cb = fig.colorbar(scene.mappable, cax=cax, orientation=layout.orientation)
    cb.solids.set_visible("field" in layers)
    cb.outline.set_visible("lines" in layers)
    cb.outline.set_linewidth(0.8 * layout.scale)
    vertical = layout.orientation == "vertical"
    lines, text = "lines" in layers, "text" in layers
    cax.tick_params(
        which="both",
        length=3.5 * layout.scale,
        width=0.8 * layout.scale,
        pad=3.0 * layout.scale,
        labelsize=0.9 * layout.fontsize,
        right=lines and vertical,
        bottom=lines and not vertical,
        labelright=text and vertical,
        labelbottom=text and not vertical,
    )
    if text:
        cb.set_label(scene.cbar_label, fontsize=layout.fontsize)


def _draw(scene: _Scene, layers: frozenset[str]) -> np.ndarray:
    """Render the layers ``layers`` (white page iff ``"field"`` is one) to ``(H, W, 4)`` uint8."""
    layout = scene.layout
    background = "field" in layers
    with mpl.style.context("default"):
        fig = _new_figure(layout, background)
        ax = fig.add_axes(_axes_rect(layout.frame, layout))
        ax.patch.set_visible(False)
        _draw_map(ax, scene, layers)
        _style_axes(ax, scene, layers)
        if layout.colorbar is not None:
            _draw_colorbar(fig, scene, layers)
        fig.canvas.draw()
        rgba = np.array(fig.canvas.buffer_rgba())
    if rgba.shape[:2] != (layout.height, layout.width):
        expected = (layout.height, layout.width)
        raise RuntimeError(f"Agg canvas is {rgba.shape[:2]}, expected {expected}.")
    return rgba


# ------------------------------------------------------------------------ render


def _evaluate(
    grid: _Grid,
    inverse: Transformer,
    model: _FieldModel,
    scale: tuple[str, float, float],
    mappable: ScalarMappable,
    layout: _Layout,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """lon, lat, truth ``(H, W)`` float64 (NaN off the frame) and the frame's RGBA colours.

    Works on blocks of rows in a few threads (pyproj and numpy release the GIL); every
    value depends on its own pixel only, so blocks change nothing but speed and memory.
    """
    lon, lat, truth = (np.full((layout.height, layout.width), np.nan) for _ in range(3))
    rows, cols = grid.shape
    rgba = np.empty((rows, cols, 4), np.uint8)
    x0, y0 = grid.frame[:2]
    norm, vmin, vmax = scale
    mappable.to_rgba(np.zeros(1), bytes=True)  # build the colormap's LUT once, up front

    def block(r0: int) -> None:
        r1 = min(rows, r0 + step)
        blon, blat = _block_lonlat(grid, inverse, r0, r1)
        values = _inverse_norm(norm, vmin, vmax, model(blon, blat))
        for full, part in ((lon, blon), (lat, blat), (truth, values)):
            full[y0 + r0 : y0 + r1, x0 : x0 + cols] = part
        rgba[r0:r1] = mappable.to_rgba(values, bytes=True)

    step = max(1, 2**19 // cols)
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        list(pool.map(block, range(0, rows, step)))
    return lon, lat, truth, rgba


def _frame_box(lon: np.ndarray, lat: np.ndarray) -> Box:
    """lon0, lon1, lat0, lat1 spanned by the frame's pixel centres (pole aware)."""
    lon0, lon1 = float(np.nanmin(lon)), float(np.nanmax(lon))
    if lon1 - lon0 > 350.0:
        lon0, lon1 = -180.0, 180.0
    return lon0, lon1, float(np.nanmin(lat)), float(np.nanmax(lat))


def _to_pixels(grid: _Grid, forward: Transformer, lonlat: np.ndarray) -> np.ndarray:
    """Project ``(n, 2)`` lon/lat to ``(n, 2)`` col/row."""
    col, row = grid.to_pixel(*forward.transform(lonlat[:, 0], lonlat[:, 1]))
    return np.column_stack([col, row])


def _land_layer(
    grid: _Grid, forward: Transformer, box: Box, seed: int, land: bool, coast: bool
) -> tuple[MplPath | None, list[np.ndarray]]:
    """Land fill as one compound pixel-space Path, and coastline polylines in pixels."""
    if not (land or coast):
        return None, []
    limit = grid.projection.lat_limit
    lon0, lon1, lat0, lat1 = box
    res = max(0.05, min(1.0, max(lon1 - lon0, lat1 - lat0) / max(200, max(grid.shape) / 5)))
    pad = 2 * res
    lon0, lon1 = lon0 - pad, lon1 + pad
    if grid.projection.separable:  # cylindrical: x wraps at +-180, so never pad across it
        lon0, lon1 = max(lon0, -180.0), min(lon1, 180.0)
    lonlat_box = (lon0, lon1, max(lat0 - pad, -limit), min(lat1 + pad, limit))
    points, codes, coastlines = _land_shapes(lonlat_box, res, seed)
    path = None
    if land and points:
        verts = _to_pixels(grid, forward, np.concatenate(points))
        path = MplPath(verts, np.concatenate(codes))
    lines = [_to_pixels(grid, forward, c) for c in coastlines] if coast else []
    return path, lines


def _scene(
    grid: _Grid,
    forward: Transformer,
    layout: _Layout,
    rgba: np.ndarray,
    mappable: ScalarMappable,
    box: Box,
    opts: dict,
) -> tuple[_Scene, np.ndarray]:
    """Assemble what to draw; also return the GCPs ``(n, 4)``."""
    land, coast = _land_layer(grid, forward, box, opts["seed"], opts["land"], opts["coastlines"])
    grat = _graticule(grid, forward, box, opts["gcp_step"])
    x0, y0, x1, y1 = layout.frame
    em = layout.fontsize * _DPI / 72.0
    xt = _ticks(grat.meridians, 1, y1, (x0, x1), 4.5 * em)
    yt = _ticks(grat.parallels, 0, x0, (y0, y1), 1.6 * em)
    scene = _Scene(
        layout=layout,
        rgba=rgba,
        mappable=mappable,
        land=land,
        coast=coast,
        graticule=[p for _, p in grat.meridians + grat.parallels] if opts["graticule"] else [],
        xticks=(xt[0], [_degrees(v, "EW") for v in xt[1]]),
        yticks=(yt[0], [_degrees(v, "NS") for v in yt[1]]),
        labels=_place_labels(layout, opts["seed"]) if opts["labels"] else [],
        title=_TITLES[opts["field"]] if opts["title"] else None,
        cbar_label=_UNITS[opts["field"]],
    )
    return scene, grat.gcps


def _masks(scene: _Scene) -> dict[str, np.ndarray]:
    """``(H, W)`` bool masks: per overlay layer (alpha > 0 when drawn alone), page, data."""
    layout = scene.layout
    rows, cols = layout.frame[3] - layout.frame[1], layout.frame[2] - layout.frame[0]
    inside = _full(np.ones((rows, cols), bool), layout, False)
    out = {name: _draw(scene, frozenset({name}))[..., 3] > 0 for name in ("land", "lines", "text")}
    out["land"] &= inside
    out["page"] = ~inside
    out["data"] = inside & ~(out["lines"] | out["text"] | out["land"])
    return out


def _render_all(
    scene: _Scene, jpeg_quality: int | None
) -> tuple[np.ndarray, bytes | None, dict[str, np.ndarray]]:
    """The figure ``(H, W, 3)`` uint8 (JPEG round-tripped if asked), its JPEG bytes, masks."""
    image = np.ascontiguousarray(_draw(scene, frozenset(_LAYERS))[..., :3])
    encoded = None
    if jpeg_quality is not None:
        image, encoded = _jpeg_round_trip(image, int(jpeg_quality))
    return image, encoded, _masks(scene)


def _jpeg_round_trip(rgb: np.ndarray, quality: int) -> tuple[np.ndarray, bytes]:
    """Encode ``(H, W, 3)`` uint8 as JPEG with Pillow (default subsampling) and decode it."""
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="JPEG", quality=quality)
    encoded = buffer.getvalue()
    with Image.open(io.BytesIO(encoded)) as im:
        return np.asarray(im.convert("RGB")).copy(), encoded


def _full(frame_values: np.ndarray, layout: _Layout, fill: float = np.nan) -> np.ndarray:
    """Embed frame-shaped values in an ``(H, W)`` array filled with ``fill``."""
    out = np.full((layout.height, layout.width), fill, dtype=frame_values.dtype)
    x0, y0, x1, y1 = layout.frame
    out[y0:y1, x0:x1] = frame_values
    return out


def _readonly(*arrays: np.ndarray) -> None:
    """Mark arrays read-only, so the frozen figure's truth stays the truth."""
    for a in arrays:
        a.setflags(write=False)


def render_figure(
    width: int = 1000,
    height: int = 800,
    *,
    cmap: str = "jet_r",
    vmin: float = 0.0,
    vmax: float = 0.7,
    norm: Literal["linear", "log", "sqrt"] = "linear",
    levels: Sequence[float] | None = None,
    field: Literal["sst", "elevation", "smooth"] = "sst",
    projection: Literal["platecarree", "mercator", "lcc", "polar"] = "platecarree",
    extent: Box | None = None,
    aspect: Literal["equal", "auto"] = "equal",
    land: bool = True,
    coastlines: bool = True,
    labels: bool = True,
    graticule: bool = True,
    colorbar: bool = True,
    colorbar_orientation: Literal["vertical", "horizontal"] = "vertical",
    title: bool = True,
    jpeg_quality: int | None = None,
    gcp_step: float = 30.0,
    seed: int = 0,
) -> SyntheticFigure:
    """Render a synthetic colour-mapped map figure and return it with its truth.

    Parameters
    ----------
    width, height : int
        Image size in pixels (about 200 x 150 up to 4000 x 3000).
    cmap, vmin, vmax, norm : str, float, float, str
        Colour scale: matplotlib colormap name, value range and ``"linear"``,
        ``"log"`` (``vmin > 0``) or ``"sqrt"`` (``PowerNorm(0.5)``). Field values span
        the whole range: ``truth = norm.inverse(u)`` with ``u`` in ``(0.01, 0.99)``.
    levels : sequence of float, optional
        Class boundaries: pixels are painted with ``BoundaryNorm(levels, cmap.N)``
        like ``contourf``; ``truth`` keeps the continuous value.
    field : {"sst", "elevation", "smooth"}
        Field type: SST-like (warm equator, eddies, fronts), terrain-like, or a simple
        analytic field that ignores ``seed``.
    projection : {"platecarree", "mercator", "lcc", "polar"}
        See :data:`PROJECTIONS`; the frame is linear in the projected coordinates.
    extent : tuple of float, optional
        ``lon0, lon1, lat0, lat1``; the frame is the projected bounding box of this
        lon/lat box (exactly the box for plate carree and Mercator). Default: the
        projection's (``PROJECTIONS[projection].extent``).
    aspect : {"equal", "auto"}
        ``"equal"`` keeps projected units square (as ``imshow`` does), leaving white
        page around the frame; ``"auto"`` fills the space.
    land, coastlines, labels, graticule, colorbar, title : bool
        Which overlays to draw. The graticule lines are drawn only if ``graticule``,
        but GCPs and tick labels are always at its intersections.
    colorbar_orientation : {"vertical", "horizontal"}
        Colorbar at the right or below.
    jpeg_quality : int, optional
        If given, ``image`` is the result of a Pillow JPEG round trip at that quality.
    gcp_step : float
        Graticule and GCP spacing in degrees.
    seed : int
        Seeds the field, the continents and the labels.

    Returns
    -------
    SyntheticFigure
    """
    spec = PROJECTIONS.get(projection)
    if spec is None:
        raise CRSError(f"Unknown projection {projection!r}; use one of {sorted(PROJECTIONS)}.")
    extent = tuple(float(v) for v in (extent or spec.extent))
    levels_t = None if levels is None else tuple(float(v) for v in levels)
    mappable = _mappable(cmap, vmin, vmax, norm, levels_t)
    forward, inverse = _transformers(spec.crs)
    bounds = _projected_bounds(forward, extent, spec.lat_limit)
    ratio = (bounds[2] - bounds[0]) / (bounds[3] - bounds[1]) if aspect == "equal" else None
    layout = _layout(width, height, ratio, colorbar, colorbar_orientation, title)
    grid = _Grid(layout.frame, bounds, spec)
    model = _FieldModel.draw(field, seed)
    scale = (norm, float(vmin), float(vmax))
    lon, lat, values, rgba = _evaluate(grid, inverse, model, scale, mappable, layout)
    opts = {
        "seed": seed,
        "land": land,
        "coastlines": coastlines,
        "gcp_step": float(gcp_step),
        "graticule": graticule,
        "labels": labels,
        "title": title,
        "field": field,
    }
    scene, gcps = _scene(grid, forward, layout, rgba, mappable, _frame_box(lon, lat), opts)
    image, encoded, masks = _render_all(scene, jpeg_quality)
    result = SyntheticFigure(
        image=image,
        truth=values,
        data=masks["data"],
        lines=masks["lines"],
        text=masks["text"],
        land=masks["land"],
        page=masks["page"],
        frame=tuple(float(v) for v in layout.frame),
        colorbar=tuple(float(v) for v in layout.colorbar) if layout.colorbar else (np.nan,) * 4,
        gcps=gcps,
        lon=lon,
        lat=lat,
        cmap=cmap,
        vmin=float(vmin),
        vmax=float(vmax),
        norm=norm,
        levels=levels_t,
        crs=spec.crs,
        extent=extent,
        jpeg_quality=jpeg_quality,
        encoded=encoded,
    )
    _readonly(
        result.image,
        result.truth,
        result.data,
        result.lines,
        result.text,
        result.land,
        result.page,
        result.gcps,
        result.lon,
        result.lat,
    )
    return result
