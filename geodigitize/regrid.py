"""Regrid scattered (lon, lat, value) points onto a regular grid.

The points are projected into a *metric* CRS before interpolating, never interpolated
in raw degrees: by default a local Lambert azimuthal equal-area projection centred on
the points' spherical centroid (the mean of their unit vectors, so it is safe across
the antimeridian and at the poles); ``crs=`` overrides it. The output grid is defined in
``out_crs`` (EPSG:4326 by default) and its cell centres are projected into the same
metric CRS, where the interpolator is evaluated.

No method extrapolates: a cell whose centre is outside the convex hull of the points
(in the metric CRS) is NaN, and so is a cell farther than ``max_distance`` metres (in the
metric CRS) from the nearest point.

Geographic output grids
-----------------------
``bounds=(W, S, E, N)`` with ``W > E`` crosses the antimeridian: the grid runs east
from ``W`` to ``E + 360``, exactly as GDAL writes such a GeoTIFF. For
``(170, -10, -170, 10)`` the transform starts at x = 170 and the cell-centre longitudes
of :meth:`RegridResult.to_xarray` run from 170.125 to 189.875 (past 180, never wrapped,
so they stay monotonic). The default bounds do the same when the points straddle the
antimeridian (the smallest longitude interval holding every point is used), and span
all longitudes up to +/-90 latitude when a pole lies inside the points' hull.

Method notes
------------
``nearest``
    Value of the nearest point (scipy cKDTree); exact at the data locations.
``linear``, ``cubic``
    scipy ``LinearNDInterpolator`` / ``CloughTocher2DInterpolator`` on the Delaunay
    triangulation of the projected points.
``idw``
    Inverse distance weighting (power :data:`IDW_POWER`) over the
    :data:`IDW_NEIGHBOURS` nearest points; exact at the data locations.
``spline``
    ``verde.Chain([Trend(degree=1), Spline(damping=SPLINE_DAMPING)])`` (a biharmonic
    spline on the residuals of a plane, so linear fields are reproduced). verde fits by
    damped least squares, so this is a near-interpolant: it misfits smooth data by
    ~1e-3 of their range at most and smooths rough (noisy) data more. The dense spline
    system grows as n**2 and its evaluation as n * cells, so with more than
    :data:`SPLINE_MAX_POINTS` points they are first averaged in square blocks
    (``verde.BlockReduce``) whose size is grown until at most that many blocks remain;
    the spline then honours the block means, not every point.
``kriging``
    ``pykrige.OrdinaryKriging`` with a fitted :data:`KRIGING_VARIOGRAM` variogram,
    evaluated with a moving window of the :data:`KRIGING_NEIGHBOURS` nearest points.
    pykrige builds dense n x n matrices, so with more than :data:`KRIGING_MAX_POINTS`
    points the points are block-averaged first as for ``spline``. The kriging variance
    (in value units squared) is returned in :attr:`RegridResult.variance`.

``spline`` and ``kriging`` need the optional extras (``pip install geodigitize[regrid]``).
Points with a non-finite longitude, latitude or value are dropped with a logged
warning; points at identical projected positions are merged (their values averaged).
"""

from __future__ import annotations

import importlib
import logging
import os
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyproj
from affine import Affine
from scipy.linalg import LinAlgWarning
from scipy.spatial import Delaunay, QhullError, cKDTree

from geodigitize._threads import serial_blas
from geodigitize.errors import (
    CRSError,
    OutputError,
    OutputExistsError,
    RegridError,
)

if TYPE_CHECKING:
    import xarray

__all__ = [
    "METHODS",
    "RegridError",
    "RegridResult",
    "local_metric_crs",
    "read_points",
    "regrid",
]


logger = logging.getLogger(__name__)

#: Accepted values of ``regrid(method=...)``.
METHODS = ("nearest", "linear", "cubic", "spline", "idw", "kriging")
#: Number of nearest points inverse distance weighting averages.
IDW_NEIGHBOURS = 12
#: Power of the distance in the inverse distance weights.
IDW_POWER = 2.0
#: Most points the spline is fitted to; more are block-averaged down to this.
SPLINE_MAX_POINTS = 1000
#: verde's damping (relative: verde scales the Jacobian columns to unit variance).
#: Without it verde's least-squares solve truncates the ill-conditioned spline system
#: and misfits the data by up to ~1e-2 of their range; 1e-8 keeps the misfit ~1e-3 at most.
SPLINE_DAMPING = 1e-8
#: Most points kriging uses; more are block-averaged down to this.
KRIGING_MAX_POINTS = 2000
#: Size of the kriging moving window (nearest points used for each cell).
KRIGING_NEIGHBOURS = 24
#: pykrige variogram model fitted to the points.
KRIGING_VARIOGRAM = "spherical"
#: Largest grid regrid() builds (cells), to fail early instead of exhausting memory.
MAX_CELLS = 100_000_000
_EXTRA_HINT = "install the optional extras with `pip install geodigitize[regrid]`"
_MIN_POINTS = 3
_CHUNK = 262_144


# --------------------------------------------------------------------------- result


@dataclass(frozen=True, eq=False)
class RegridResult:
    """A regridded field.

    Attributes
    ----------
    data : numpy.ndarray
        ``(ny, nx)`` float64 values; NaN is nodata. Row 0 is the north edge.
    variance : numpy.ndarray or None
        ``(ny, nx)`` float64 kriging variance (value units squared), or None.
    transform : affine.Affine
        North-up geotransform (GDAL corner convention) in ``crs`` units.
    crs : str
        CRS of the grid, e.g. ``"EPSG:4326"``.
    method : str
        Interpolation method that produced ``data``.
    """

    data: np.ndarray
    variance: np.ndarray | None
    transform: Affine
    crs: str
    method: str

    def cell_centres(self) -> tuple[np.ndarray, np.ndarray]:
        """Return the cell-centre coordinates along each axis.

        Returns
        -------
        x : numpy.ndarray
            ``(nx,)`` float64 x (longitude) of column centres, in ``crs`` units;
            may exceed 180 for a grid crossing the antimeridian.
        y : numpy.ndarray
            ``(ny,)`` float64 y (latitude) of row centres, north first.
        """
        ny, nx = self.data.shape
        t = self.transform
        return t.c + t.a * (np.arange(nx) + 0.5), t.f + t.e * (np.arange(ny) + 0.5)

    def to_xarray(self) -> xarray.DataArray:
        """Return the grid as an ``xarray.DataArray`` named ``"value"``.

        Dims are ``("lat", "lon")`` for a geographic ``crs``, else ``("y", "x")``, with
        cell-centre coordinates; attrs hold ``crs``, ``transform`` (rasterio/Affine
        order ``a, b, c, d, e, f``) and ``method``. A kriging variance is attached as
        the 2-D coordinate ``"variance"``.

        Raises
        ------
        RegridError
            If xarray is not installed.
        """
        xr = _optional_import("xarray", "to_xarray()")
        dims = ("lat", "lon") if pyproj.CRS.from_user_input(self.crs).is_geographic else ("y", "x")
        x, y = self.cell_centres()
        coords: dict[str, Any] = {dims[0]: y, dims[1]: x}
        if self.variance is not None:
            coords["variance"] = (dims, self.variance)
        attrs = {"crs": self.crs, "transform": tuple(self.transform)[:6], "method": self.method}
        return xr.DataArray(self.data, dims=dims, coords=coords, name="value", attrs=attrs)

    def write(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> None:
        """Write the grid as a float32 GeoTIFF, atomically.

        Band 1 is ``value``; band 2 ``variance`` when there is one. NaN is the nodata
        value; the file is tiled, deflate-compressed with floating-point predictor.
        The file is written next to ``path`` under a temporary name, then renamed.

        Parameters
        ----------
        path : str or os.PathLike
            Destination ``.tif``.
        overwrite : bool
            Replace an existing file at ``path``.

        Raises
        ------
        OutputError
            If ``path`` exists and ``overwrite`` is false, or it cannot be written.
        """
        path = Path(path)
        if path.exists() and not overwrite:
            raise OutputExistsError(f"{path} already exists")
        if not path.parent.is_dir():
            raise OutputError(f"cannot write {path}: folder {path.parent} does not exist")
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        try:
            self._write_tiff(tmp)
            os.replace(tmp, path)
        except OSError as exc:  # rasterio's RasterioIOError is an OSError
            raise OutputError(f"cannot write {path}: {exc}") from exc
        finally:
            tmp.unlink(missing_ok=True)

    def _write_tiff(self, path: Path) -> None:
        """Write the GeoTIFF at ``path`` (no atomicity, no overwrite check)."""
        import rasterio

        bands = [("value", self.data)]
        if self.variance is not None:
            bands.append(("variance", self.variance))
        ny, nx = self.data.shape
        profile = {
            "driver": "GTiff",
            "width": nx,
            "height": ny,
            "count": len(bands),
            "dtype": "float32",
            "nodata": np.nan,
            "crs": self.crs,
            "transform": self.transform,
            "compress": "deflate",
            "predictor": 3,
            "tiled": True,
            "blockxsize": 256,
            "blockysize": 256,
        }
        with rasterio.open(path, "w", **profile) as dst:
            for index, (name, array) in enumerate(bands, start=1):
                dst.write(array.astype(np.float32), index)
                dst.set_band_description(index, name)


# --------------------------------------------------------------------------- public API


def regrid(
    lon: np.ndarray,
    lat: np.ndarray,
    values: np.ndarray,
    *,
    res: float,
    bounds: tuple[float, float, float, float] | None = None,
    method: str = "linear",
    crs: str | pyproj.CRS | None = None,
    max_distance: float | None = None,
    out_crs: str | pyproj.CRS = "EPSG:4326",
) -> RegridResult:
    """Interpolate scattered points onto a regular north-up grid.

    Parameters
    ----------
    lon, lat : array_like
        ``(n,)`` point coordinates in degrees (EPSG:4326). Longitudes may use any
        convention (they are wrapped); latitudes must lie in [-90, 90].
    values : array_like
        ``(n,)`` values at the points (converted to float64).
    res : float
        Cell size in ``out_crs`` units (degrees for EPSG:4326), > 0.
    bounds : tuple of 4 floats, optional
        ``(W, S, E, N)`` of the grid in ``out_crs`` units. ``W > E`` (geographic
        ``out_crs`` only) crosses the antimeridian. The grid is anchored at the
        ``(W, N)`` corner; if the extent is not a whole number of cells the last
        column/row extends past ``E``/``S``. Default: the points' extent snapped
        outward to multiples of ``res``.
    method : str
        One of :data:`METHODS` (see the module notes).
    crs : str or pyproj.CRS, optional
        Projected CRS in metres to interpolate in. Default:
        :func:`local_metric_crs` of the points.
    max_distance : float, optional
        Cells farther than this many metres (in the metric CRS) from the nearest
        point are NaN.
    out_crs : str or pyproj.CRS
        CRS of the output grid.

    Returns
    -------
    RegridResult

    Raises
    ------
    RegridError
        Unknown method, ``res``/``max_distance`` not > 0, bad bounds, arrays of
        different lengths, too few or collinear points, missing optional extra.
    CRSError
        ``crs`` or ``out_crs`` unknown, or ``crs`` not projected in metres.
    """
    _check_options(method, res, max_distance)
    lon, lat, values = _clean_points(lon, lat, values)
    out = _parse_crs(out_crs, "out_crs")
    metric = _metric_crs(crs, lon, lat)
    points = _project_points(lon, lat, values, metric)
    if bounds is None:
        bounds = _default_bounds(lon, lat, points, metric, out, res)
    transform, shape = _grid(_check_bounds(bounds, out), res, out)
    cells = _cell_xy(transform, shape, out, metric, points.offset)
    valid = _valid_cells(cells, points, max_distance)
    estimate, variance = _INTERPOLATORS[method](points, cells[valid])
    data = _fill(shape, valid, estimate)
    var = None if variance is None else _fill(shape, valid, variance)
    logger.info("regridded %d points to %s grid with %s", points.values.size, shape, method)
    return RegridResult(data, var, transform, out.to_string(), method)


def local_metric_crs(lon: np.ndarray, lat: np.ndarray) -> str:
    """Return the default metric CRS for points: LAEA centred on their centroid.

    The centre is the spherical centroid (normalised mean of the points' unit
    vectors), so points straddling the antimeridian or surrounding a pole get a
    centre among them.

    Parameters
    ----------
    lon, lat : array_like
        ``(n,)`` finite coordinates in degrees.

    Returns
    -------
    str
        PROJ string of a WGS84 Lambert azimuthal equal-area projection in metres.
    """
    unit = _unit_vectors(np.asarray(lon, float), np.asarray(lat, float))
    mean = unit.mean(axis=0)
    if np.linalg.norm(mean) < 1e-9:
        logger.warning("points are spread evenly over the globe; centring the projection on 0, 0")
        mean = np.array([1.0, 0.0, 0.0])
    lon0 = np.degrees(np.arctan2(mean[1], mean[0]))
    lat0 = np.degrees(np.arctan2(mean[2], np.hypot(mean[0], mean[1])))
    spread = np.degrees(np.arccos(np.clip(unit @ (mean / np.linalg.norm(mean)), -1, 1))).max()
    if spread > 90:
        logger.warning(
            "points reach %.0f degrees from the projection centre (%.2f, %.2f); distortion "
            "grows far from it: pass crs= or regrid smaller areas",
            spread,
            lon0,
            lat0,
        )
    return f"+proj=laea +lat_0={lat0:.9f} +lon_0={lon0:.9f} +datum=WGS84 +units=m +no_defs"


def read_points(
    path: str | os.PathLike[str], *, layer: str = "points", column: str = "value"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Read point values from a GeoPackage (or any vector file pyogrio reads).

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    layer : str
        Layer holding point geometries.
    column : str
        Numeric attribute holding the values.

    Returns
    -------
    lon, lat, values : numpy.ndarray
        ``(n,)`` float64 arrays in EPSG:4326 (reprojected if the layer is in another
        CRS; a layer without a CRS is taken to be EPSG:4326). Empty or missing
        geometries give NaN coordinates, which :func:`regrid` drops.

    Raises
    ------
    RegridError
        Missing file, layer or column, non-point geometries or non-numeric values.
    """
    import geopandas as gpd

    gdf = _read_layer(gpd, Path(path), layer)
    if column not in gdf.columns:
        names = ", ".join(c for c in gdf.columns if c != gdf.geometry.name)
        raise RegridError(f"layer {layer!r} of {path} has no column {column!r}; columns: {names}")
    types = set(gdf.geometry.dropna().geom_type) - {"Point"}
    if types:
        raise RegridError(f"layer {layer!r} of {path} must hold points, not {sorted(types)}")
    if gdf.crs is None:
        logger.warning("layer %r of %s has no CRS; assuming EPSG:4326", layer, path)
    elif not gdf.crs.equals(pyproj.CRS.from_epsg(4326)):
        gdf = gdf.to_crs("EPSG:4326")
    try:
        values = gdf[column].to_numpy(dtype=float, na_value=np.nan)
    except (TypeError, ValueError) as exc:
        raise RegridError(f"column {column!r} of {path} must be numeric: {exc}") from exc
    empty = gdf.geometry.isna() | gdf.geometry.is_empty
    lon = np.where(empty, np.nan, gdf.geometry.x.to_numpy(dtype=float, na_value=np.nan))
    lat = np.where(empty, np.nan, gdf.geometry.y.to_numpy(dtype=float, na_value=np.nan))
    return lon, lat, values


def _read_layer(gpd: Any, path: Path, layer: str) -> Any:
    """Read ``layer`` of ``path`` as a GeoDataFrame, with one-line errors."""
    import pyogrio

    if not path.is_file():
        raise RegridError(f"points file {path} does not exist; check the path")
    try:
        layers = [row[0] for row in pyogrio.list_layers(path)]
    except (pyogrio.errors.DataSourceError, RuntimeError) as exc:
        raise RegridError(
            f"{path} is not a vector file GDAL can read: give the points.gpkg of "
            f"`geodigitize run` ({' '.join(str(exc).split('.;')[0].split())})"
        ) from None
    if layer not in layers:
        raise RegridError(f"{path} has no layer {layer!r}; layers: {', '.join(layers)}")
    return gpd.read_file(path, layer=layer, engine="pyogrio")


# --------------------------------------------------------------------------- validation


def _check_options(method: str, res: float, max_distance: float | None) -> None:
    """Validate the scalar options of :func:`regrid`."""
    if method not in METHODS:
        raise RegridError(f"unknown method {method!r}; use one of: {', '.join(METHODS)}")
    if not (np.isscalar(res) and np.isfinite(res) and res > 0):
        raise RegridError(f"res must be a number > 0 (cell size in out_crs units), got {res!r}")
    if max_distance is not None and not (np.isfinite(max_distance) and max_distance > 0):
        raise RegridError(f"max_distance must be > 0 metres or None, got {max_distance!r}")


def _clean_points(
    lon: np.ndarray, lat: np.ndarray, values: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return float64 1-D copies with non-finite rows dropped; check sizes and latitudes."""
    arrays = [np.asarray(a, dtype=float).ravel() for a in (lon, lat, values)]
    sizes = {a.size for a in arrays}
    if len(sizes) != 1:
        raise RegridError(
            f"lon, lat and values must have the same length, got {[a.size for a in arrays]}"
        )
    keep = np.logical_and.reduce([np.isfinite(a) for a in arrays])
    if not keep.all():
        logger.warning(
            "dropping %d of %d points with a NaN/inf lon, lat or value", (~keep).sum(), keep.size
        )
    lon, lat, values = (a[keep] for a in arrays)
    if np.any(np.abs(lat) > 90):
        raise RegridError("latitudes must lie in [-90, 90]; are lon and lat swapped?")
    if values.size < _MIN_POINTS:
        raise RegridError(
            f"need at least {_MIN_POINTS} points with finite lon, lat and value, got {values.size}"
        )
    return (lon + 180.0) % 360.0 - 180.0, lat, values


def _parse_crs(crs: str | pyproj.CRS, name: str) -> pyproj.CRS:
    """Return ``crs`` as a pyproj CRS, raising CRSError if pyproj does not know it."""
    try:
        return pyproj.CRS.from_user_input(crs)
    except pyproj.exceptions.CRSError as exc:
        raise CRSError(f"{name}={crs!r} is not a CRS pyproj knows; use e.g. 'EPSG:4326'") from exc


def _metric_crs(crs: str | pyproj.CRS | None, lon: np.ndarray, lat: np.ndarray) -> pyproj.CRS:
    """Return the CRS to interpolate in: ``crs`` checked, or the local default."""
    if crs is None:
        return pyproj.CRS.from_proj4(local_metric_crs(lon, lat))
    metric = _parse_crs(crs, "crs")
    units = {axis.unit_name for axis in metric.axis_info}
    if not metric.is_projected or not units <= {"metre", "meter"}:
        raise CRSError(
            f"crs={crs!r} must be a projected CRS in metres, e.g. 'EPSG:3035', "
            "or None for a local equal-area one"
        )
    return metric


def _check_bounds(
    bounds: tuple[float, float, float, float], out: pyproj.CRS
) -> tuple[float, float, float, float]:
    """Validate ``(W, S, E, N)``; return it with ``E`` unwrapped past ``W`` if crossing."""
    try:
        west, south, east, north = (float(b) for b in bounds)
    except (TypeError, ValueError) as exc:
        raise RegridError(f"bounds must be 4 numbers (W, S, E, N), got {bounds!r}") from exc
    if not np.all(np.isfinite([west, south, east, north])) or south >= north:
        raise RegridError(f"bounds (W, S, E, N) need finite values and S < N, got {bounds!r}")
    if out.is_geographic:
        if south < -90 or north > 90:
            raise RegridError(f"bounds latitudes must lie in [-90, 90], got {bounds!r}")
        if west > east:  # crosses the antimeridian
            east += 360.0
        if west == east or east - west > 360 + 1e-9:
            raise RegridError(f"bounds must span 0 < E - W <= 360 degrees, got {bounds!r}")
    elif west >= east:
        raise RegridError(f"bounds need W < E in a projected out_crs, got {bounds!r}")
    return west, south, east, north


# --------------------------------------------------------------------------- points


@dataclass(frozen=True, eq=False)
class _Points:
    """Points projected into the metric CRS, shifted by ``-offset`` for conditioning."""

    xy: np.ndarray  # (n, 2) float64 metres
    values: np.ndarray  # (n,) float64
    offset: np.ndarray  # (2,) float64 metres
    tri: Delaunay
    tree: cKDTree


def _project_points(
    lon: np.ndarray, lat: np.ndarray, values: np.ndarray, metric: pyproj.CRS
) -> _Points:
    """Project points to ``metric``, merge duplicates and triangulate them."""
    to_metric = pyproj.Transformer.from_crs("EPSG:4326", metric, always_xy=True)
    xy = np.column_stack(to_metric.transform(lon, lat))
    finite = np.isfinite(xy).all(axis=1)
    if not finite.all():
        logger.warning("dropping %d points the metric CRS cannot represent", (~finite).sum())
    xy, values = _merge_duplicates(xy[finite], values[finite])
    offset = xy.mean(axis=0)
    xy = xy - offset
    return _Points(xy, values, offset, _triangulate(xy), cKDTree(xy))


def _merge_duplicates(xy: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Average the values of points at identical projected positions."""
    unique, inverse = np.unique(xy, axis=0, return_inverse=True)
    if unique.shape[0] == xy.shape[0]:
        return xy, values
    logger.info("merged %d duplicate point positions", xy.shape[0] - unique.shape[0])
    inverse = inverse.ravel()
    sums = np.bincount(inverse, weights=values, minlength=unique.shape[0])
    return unique, sums / np.bincount(inverse, minlength=unique.shape[0])


def _triangulate(xy: np.ndarray) -> Delaunay:
    """Delaunay-triangulate the points, refusing too few or collinear ones."""
    if xy.shape[0] < _MIN_POINTS:
        raise RegridError(
            f"need at least {_MIN_POINTS} distinct point positions, got {xy.shape[0]}"
        )
    try:
        return Delaunay(xy)
    except QhullError as exc:
        raise RegridError(
            "the points are collinear; regridding needs points spanning an "
            "area (at least 3 not on one line)"
        ) from exc


# --------------------------------------------------------------------------- grid


def _default_bounds(
    lon: np.ndarray,
    lat: np.ndarray,
    points: _Points,
    metric: pyproj.CRS,
    out: pyproj.CRS,
    res: float,
) -> tuple[float, float, float, float]:
    """Return the points' extent in ``out`` snapped outward to ``res``."""
    x, y = pyproj.Transformer.from_crs("EPSG:4326", out, always_xy=True).transform(lon, lat)
    if not out.is_geographic:
        return (
            _snap(np.min(x), res, np.floor),
            _snap(np.min(y), res, np.floor),
            _snap(np.max(x), res, np.ceil),
            _snap(np.max(y), res, np.ceil),
        )
    south = max(-90.0, _snap(np.min(y), res, np.floor))
    north = min(90.0, _snap(np.max(y), res, np.ceil))
    north_pole, south_pole = _poles_inside(points, metric)
    north = 90.0 if north_pole else north
    south = -90.0 if south_pole else south
    if north_pole or south_pole:
        return -180.0, south, 180.0, north
    west, east = _lon_extent(np.asarray(x))
    west, east = _snap(west, res, np.floor), _snap(east, res, np.ceil)
    if east - west >= 360:
        return -180.0, south, 180.0, north
    return west, south, (east + 180.0) % 360.0 - 180.0 if east > 180 else east, north


def _snap(value: float, res: float, rounding: Callable[[float], float]) -> float:
    """Round ``value`` to a multiple of ``res`` (ignoring float noise)."""
    nudge = 1e-9 if rounding is np.floor else -1e-9
    return float(rounding(value / res + nudge) * res)


def _lon_extent(lon: np.ndarray) -> tuple[float, float]:
    """Return the shortest (west, east) interval holding all longitudes; east may be > 180."""
    ordered = np.sort((lon + 180.0) % 360.0 - 180.0)
    gaps = np.diff(np.append(ordered, ordered[0] + 360.0))
    widest = int(np.argmax(gaps))
    if widest == ordered.size - 1:
        return float(ordered[0]), float(ordered[-1])
    return float(ordered[widest + 1]), float(ordered[widest] + 360.0)


def _poles_inside(points: _Points, metric: pyproj.CRS) -> tuple[bool, bool]:
    """Tell whether the north and the south pole lie inside the points' hull."""
    to_metric = pyproj.Transformer.from_crs("EPSG:4326", metric, always_xy=True)
    x, y = to_metric.transform([0.0, 0.0], [90.0, -90.0])
    xy = np.column_stack([x, y]) - points.offset
    inside = np.isfinite(xy).all(axis=1)
    inside[inside] = points.tri.find_simplex(xy[inside]) >= 0
    return bool(inside[0]), bool(inside[1])


def _grid(
    bounds: tuple[float, float, float, float], res: float, out: pyproj.CRS
) -> tuple[Affine, tuple[int, int]]:
    """Return the north-up transform and ``(ny, nx)`` of the grid covering ``bounds``."""
    west, south, east, north = bounds
    nx, ny = _cell_count(east - west, res), _cell_count(north - south, res)
    if nx * ny > MAX_CELLS:
        raise RegridError(
            f"a {ny} x {nx} grid is too large (> {MAX_CELLS} cells); increase res or shrink bounds"
        )
    return Affine(res, 0.0, west, 0.0, -res, north), (ny, nx)


def _cell_count(extent: float, res: float) -> int:
    """Number of cells of size ``res`` covering ``extent`` (a whole number if close)."""
    count = extent / res
    nearest = round(count)
    return max(1, int(nearest if abs(count - nearest) < 1e-6 else np.ceil(count)))


def _cell_xy(
    transform: Affine,
    shape: tuple[int, int],
    out: pyproj.CRS,
    metric: pyproj.CRS,
    offset: np.ndarray,
) -> np.ndarray:
    """Return ``(ny * nx, 2)`` cell centres in the shifted metric CRS (inf if unprojectable)."""
    ny, nx = shape
    x = transform.c + transform.a * (np.arange(nx) + 0.5)
    y = transform.f + transform.e * (np.arange(ny) + 0.5)
    if out.is_geographic:
        x = (x + 180.0) % 360.0 - 180.0
    xx, yy = np.meshgrid(x, y)
    to_metric = pyproj.Transformer.from_crs(out, metric, always_xy=True)
    mx, my = to_metric.transform(xx.ravel(), yy.ravel(), errcheck=False)
    cells = np.column_stack([mx, my]) - offset
    cells[~np.isfinite(cells).all(axis=1)] = np.inf
    return cells


def _valid_cells(cells: np.ndarray, points: _Points, max_distance: float | None) -> np.ndarray:
    """Return the ``(ncells,)`` mask of cells inside the hull and near enough a point."""
    valid = np.isfinite(cells).all(axis=1)
    valid[valid] = points.tri.find_simplex(cells[valid]) >= 0
    if max_distance is not None:
        distance, _ = points.tree.query(cells[valid], distance_upper_bound=max_distance, workers=-1)
        valid[valid] = np.isfinite(distance)
    if not valid.any():
        logger.warning("no grid cell lies inside the points' hull (and max_distance)")
    return valid


def _fill(shape: tuple[int, int], valid: np.ndarray, estimate: np.ndarray) -> np.ndarray:
    """Return a ``shape`` float64 array, NaN except ``estimate`` at ``valid`` cells."""
    out = np.full(shape[0] * shape[1], np.nan)
    out[valid] = estimate
    return out.reshape(shape)


# --------------------------------------------------------------------------- methods

_Estimate = tuple[np.ndarray, np.ndarray | None]


def _nearest(points: _Points, cells: np.ndarray) -> _Estimate:
    """Value of the nearest point at each cell."""
    _, index = points.tree.query(cells, workers=-1)
    return points.values[index], None


def _linear(points: _Points, cells: np.ndarray) -> _Estimate:
    """Barycentric interpolation on the Delaunay triangulation."""
    # scipy.interpolate is imported where it is used: the command line registers this
    # module's command at start-up, and a run imports it on a thread of its own
    from scipy.interpolate import LinearNDInterpolator

    with serial_blas():  # one LAPACK call per triangle: see serial_blas
        return LinearNDInterpolator(points.tri, points.values)(cells), None


def _cubic(points: _Points, cells: np.ndarray) -> _Estimate:
    """Clough-Tocher C1 cubic interpolation on the Delaunay triangulation.

    scipy's gradient estimation stops at an absolute tolerance, so coordinates and
    values are scaled to order one first (a uniform scaling keeps the triangulation).
    """
    from scipy.interpolate import CloughTocher2DInterpolator  # see _linear

    length = float(np.ptp(points.xy, axis=0).max())
    centre, spread = points.values.mean(), float(np.ptp(points.values)) or 1.0
    scaled = (points.values - centre) / spread
    with serial_blas():
        model = CloughTocher2DInterpolator(points.xy / length, scaled)
        return model(cells / length) * spread + centre, None


def _idw(points: _Points, cells: np.ndarray) -> _Estimate:
    """Inverse distance weighting over the nearest :data:`IDW_NEIGHBOURS` points."""
    k = min(IDW_NEIGHBOURS, points.values.size)
    out = np.empty(cells.shape[0])
    for start in range(0, cells.shape[0], _CHUNK):
        distance, index = points.tree.query(cells[start : start + _CHUNK], k=k, workers=-1)
        distance, index = distance.reshape(-1, k), index.reshape(-1, k)
        with np.errstate(divide="ignore"):
            weights = distance**-IDW_POWER
        hit = distance[:, 0] == 0
        weights[hit] = 0.0
        weights[hit, 0] = 1.0
        out[start : start + _CHUNK] = (weights * points.values[index]).sum(1) / weights.sum(1)
    return out, None


def _spline(points: _Points, cells: np.ndarray) -> _Estimate:
    """verde plane + biharmonic spline, on at most :data:`SPLINE_MAX_POINTS` points."""
    vd = _optional_import("verde", "method='spline'")
    xy, values = _thin(points, SPLINE_MAX_POINTS)
    model = vd.Chain([("trend", vd.Trend(degree=1)), ("spline", vd.Spline(damping=SPLINE_DAMPING))])
    with warnings.catch_warnings():  # the damping is what handles the ill-conditioning
        warnings.simplefilter("ignore", LinAlgWarning)
        model.fit((xy[:, 0], xy[:, 1]), values)
    out = np.empty(cells.shape[0])
    step = max(1, 50_000_000 // max(1, values.size))
    for start in range(0, cells.shape[0], step):
        chunk = cells[start : start + step]
        out[start : start + step] = model.predict((chunk[:, 0], chunk[:, 1]))
    return out, None


def _kriging(points: _Points, cells: np.ndarray) -> _Estimate:
    """Ordinary kriging with a moving window of :data:`KRIGING_NEIGHBOURS` points."""
    pk = _optional_import("pykrige.ok", "method='kriging'")
    xy, values = _thin(points, KRIGING_MAX_POINTS)
    if np.ptp(values) == 0:  # no variogram can be fitted; the field is a constant
        return np.full(cells.shape[0], values[0]), np.zeros(cells.shape[0])
    model = pk.OrdinaryKriging(xy[:, 0], xy[:, 1], values, variogram_model=KRIGING_VARIOGRAM)
    window = min(KRIGING_NEIGHBOURS, values.size)
    estimate, variance = model.execute(
        "points", cells[:, 0], cells[:, 1], n_closest_points=window, backend=_kriging_backend()
    )
    return np.asarray(estimate, dtype=float), np.clip(np.asarray(variance, dtype=float), 0, None)


def _kriging_backend() -> str:
    """Use pykrige's compiled moving-window loop when it is built (it prints otherwise)."""
    try:
        importlib.import_module("pykrige.lib.cok")
    except ImportError:
        return "loop"
    return "C"


def _thin(points: _Points, cap: int) -> tuple[np.ndarray, np.ndarray]:
    """Return at most ``cap`` points, block-averaging with verde if there are more."""
    if points.values.size <= cap:
        return points.xy, points.values
    vd = _optional_import("verde", "block-averaging the points")
    extent = np.ptp(points.xy, axis=0)
    spacing = float(np.sqrt(extent[0] * extent[1] / cap)) or float(extent.max() / cap)
    while True:
        reducer = vd.BlockReduce(np.mean, spacing=spacing, drop_coords=False)
        (x, y), values = reducer.filter((points.xy[:, 0], points.xy[:, 1]), points.values)
        if values.size <= cap:
            break
        spacing *= 1.2
    logger.info(
        "block-averaged %d points to %d (block %.0f m)", points.values.size, values.size, spacing
    )
    return np.column_stack([x, y]), np.asarray(values, dtype=float)


_INTERPOLATORS: dict[str, Callable[[_Points, np.ndarray], _Estimate]] = {
    "nearest": _nearest,
    "linear": _linear,
    "cubic": _cubic,
    "idw": _idw,
    "spline": _spline,
    "kriging": _kriging,
}


# --------------------------------------------------------------------------- helpers


def _unit_vectors(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Return ``(n, 3)`` unit vectors (spherical) of lon/lat in degrees."""
    lon, lat = np.radians(lon), np.radians(lat)
    return np.column_stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)])


def _optional_import(module: str, feature: str) -> Any:
    """Import an optional-extra module or raise a RegridError saying how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        raise RegridError(f"{feature} needs {top}, which is not installed; {_EXTRA_HINT}") from exc
