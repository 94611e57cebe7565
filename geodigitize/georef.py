"""Georeference pixel positions: fit a transform to GCPs, report residuals, place pixels.

The fitted :class:`Georeference` maps pixel positions (GDAL convention) to map positions
in its CRS, the CRS the map is drawn in. GCPs are read in their own CRS (normally lon/lat,
EPSG:4326, off the graticule) and projected into the map's CRS before fitting: on a
Mercator or Lambert conformal figure the transform is then affine, where in lon/lat it is
not.

A least-squares fit leaves tiny rotation terms even for a north-up map; QGIS then warps
such a layer on the fly, so when a north-up fit places every pixel of the image within
reading error of the full fit (the larger of 0.1 pixel and the GCP RMSE), the north-up fit
is used and its rotation terms are exactly zero.

Residuals follow QGIS's Georeferencer: a GCP's residual is its pixel position minus the
pixel position the transform's inverse gives its map position; QGIS's "mean error" is
``sqrt(sum(dx^2 + dy^2) / (n - minimum))``. Because residuals hide bad points under
flexible transforms (TPS residuals are always zero), each GCP's leave-one-out error (the
transform fitted without it) is reported too, and the worst GCP is flagged when it stands
out.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyproj
from affine import Affine

from ._threads import serial_blas
from .errors import CRSError, GCPError, TransformError
from .gcps import GCP, GCPSet, check_map_crs, crs_text, parse_crs
from .store import PixelStore
from .transforms import (
    AUTO_TOLERANCE_PX,
    AffineTransform,
    AutoTransform,
    HelmertTransform,
    PolynomialTransform,
    Transform,
    make_transform,
)

__all__ = [
    "Georeference",
    "NorthUpGrid",
    "from_georeferenced_image",
    "georeference",
    "north_up",
    "north_up_grid",
    "parse_crs",
    "same_crs",
    "transformer",
    "warp_store",
]

log = logging.getLogger(__name__)

#: Smallest tolerance, in pixels, for writing rotation terms as exactly zero.
SNAP_MIN_PIXELS = 0.1
#: A GCP "stands out" when its leave-one-out error exceeds this many times the median
#: of the others' (and is above the reading error, :data:`AUTO_TOLERANCE_PX`).
WORST_FACTOR = 4.0
#: RMSE (leave-one-out RMSE for TPS), in pixels, beyond which a fit is far outside reading
#: error and :attr:`Georeference.warnings` says so.
WARN_RMSE_PX = 5.0


def _finite_or_none(value) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


@dataclass(frozen=True, eq=False)
class Georeference:
    """A transform fitted to GCPs, with its residuals.

    Attributes
    ----------
    transform : Transform
        The fitted pixel -> map transform actually used for points and grid.
    gcps : GCPSet
        The enabled GCPs it was fitted to, map positions in :attr:`crs`.
    crs : str
        CRS of the transform's map side (the CRS the map is drawn in).
    residuals : ndarray of shape (n, 2)
        Per GCP, its pixel position minus the pixel position the transform gives its map
        position (col, row), in pixels.
    snapped : bool
        True when rotation terms were set to exactly zero (see module notes).
    loo : ndarray of shape (n, 2) or None
        Leave-one-out pixel error of each GCP (NaN where the others cannot determine a
        transform).
    selection : dict or None
        With ``kind="auto"``: ``chosen``, ``reason`` and the leave-one-out RMSE of each
        kind tried (``candidates``).
    roundtrip_px : float or None
        Largest ``inverse(forward(p)) - p`` over the image, in pixels, when the inverse is
        itself fitted (polynomials, TPS); None when it is exact.
    shape : (H, W) or None
        Image shape the fit belongs to.
    source_crs : str or None
        CRS the GCPs were given in, before projection into :attr:`crs`.
    origin : str
        ``"gcps"``, ``"world file"``, ``"geotransform"`` or ``"embedded gcps"``.
    warnings : tuple of str
        One sentence each, with the fix: residuals far beyond reading error, an RMSE that
        is zero by construction (TPS), the map projection detected for an affine fit.
        The library does not print them; the command line shows them.
    notes : tuple of str
        What was done to the GCPs before fitting, one sentence each: exact duplicate rows
        merged, longitudes read on one continuous branch across the antimeridian.
    """

    transform: Transform
    gcps: GCPSet
    crs: str
    residuals: np.ndarray
    snapped: bool = False
    loo: np.ndarray | None = None
    selection: dict | None = None
    roundtrip_px: float | None = None
    shape: tuple[int, int] | None = None
    source_crs: str | None = None
    origin: str = "gcps"
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    # --- residuals -------------------------------------------------------------------
    @property
    def residual_norms(self) -> np.ndarray:
        """Length of each GCP's residual, in pixels; shape (n,)."""
        return np.hypot(self.residuals[:, 0], self.residuals[:, 1])

    @property
    def rmse(self) -> float:
        """Root-mean-square residual, in pixels (NaN without GCPs)."""
        if len(self.gcps) == 0:
            return float("nan")
        return float(np.sqrt(np.mean(self.residual_norms**2)))

    @property
    def residuals_map(self) -> np.ndarray:
        """Per GCP, ``forward(col, row)`` minus its map position, in map units; (n, 2)."""
        x, y = self.transform.forward(self.gcps.col, self.gcps.row)
        return np.column_stack([x - self.gcps.x, y - self.gcps.y]).reshape(-1, 2)

    @property
    def mean_error(self) -> float:
        """QGIS's mean error ``sqrt(sum(dx^2 + dy^2) / (n - minimum))`` in pixels.

        NaN when there are no more GCPs than the transform's minimum (QGIS shows n/a).
        """
        n, m = len(self.gcps), self.transform.min_points
        if n <= m:
            return float("nan")
        return float(np.sqrt(np.sum(self.residual_norms**2) / (n - m)))

    @property
    def loo_norms(self) -> np.ndarray:
        """Length of each GCP's leave-one-out error, in pixels; shape (n,)."""
        if self.loo is None:
            return np.full(len(self.gcps), np.nan)
        return np.hypot(self.loo[:, 0], self.loo[:, 1])

    @property
    def loo_rmse(self) -> float:
        """Root-mean-square leave-one-out error, in pixels (NaN when not computable)."""
        norms = self.loo_norms
        if norms.size == 0 or not np.all(np.isfinite(norms)):
            return float("nan")
        return float(np.sqrt(np.mean(norms**2)))

    @property
    def rmse_by_construction(self) -> bool:
        """True when the transform passes through every GCP (TPS): its RMSE proves nothing."""
        return self.transform.kind == "tps"

    @property
    def fit_error(self) -> tuple[float, str]:
        """The honest error of the fit in pixels and its name: the leave-one-out RMSE
        when the RMSE is zero by construction (TPS), else the RMSE."""
        if self.rmse_by_construction:
            return self.loo_rmse, "leave-one-out RMSE"
        return self.rmse, "RMSE"

    def summary(self) -> str:
        """One line for the command line, e.g. ``12 GCPs (affine), RMSE 0.31 px``."""
        if len(self.gcps) == 0:
            return f"georeference from the image's {self.origin}"
        value, name = self.fit_error
        text = f"{len(self.gcps)} GCPs ({self.transform.kind}"
        if self.selection and self.selection.get("chosen") == "affine-in-projection":
            text += f" in {self.selection['projection']}"
        text += f"), {name} {value:.3f} px"
        if self.rmse_by_construction:
            text += " (its RMSE is 0 by construction)"
        return text

    def worst_gcp(self) -> dict | None:
        """The GCP with the largest leave-one-out error (residual where LOO is unknown).

        Returns
        -------
        dict or None
            ``id``, ``index``, ``error_px``, ``measure`` and ``stands_out`` (its error is
            above the reading error and :data:`WORST_FACTOR` times the others' median).
        """
        if len(self.gcps) == 0:
            return None
        err, measure = self.loo_norms, "leave-one-out"
        if not np.all(np.isfinite(err)):
            err, measure = self.residual_norms, "residual"
        i = int(np.argmax(err))
        others = np.delete(err, i)
        typical = float(np.median(others)) if others.size else 0.0
        stands_out = bool(err[i] > max(WORST_FACTOR * typical, AUTO_TOLERANCE_PX))
        return {
            "id": self.gcps.ids[i],
            "index": i,
            "error_px": float(err[i]),
            "measure": measure,
            "others_median_px": typical,
            "stands_out": stands_out,
        }

    def pixel_residuals(self, gcpset: GCPSet) -> np.ndarray:
        """Pixel position minus the fit's pixel position of each point of `gcpset`.

        `gcpset` may hold disabled points and be in another CRS; shape (n, 2).
        """
        x, y = _project(gcpset, self.crs)
        col, row = self.transform.inverse(x, y)
        return np.column_stack([gcpset.col - col, gcpset.row - row]).reshape(-1, 2)

    # --- placing pixels --------------------------------------------------------------
    def pixel_to_map(self, col, row) -> tuple[np.ndarray, np.ndarray]:
        """Map positions of pixel positions (GDAL convention), in :attr:`crs`."""
        return self.transform.forward(col, row)

    def map_to_pixel(self, x, y) -> tuple[np.ndarray, np.ndarray]:
        """Pixel positions (GDAL convention) of map positions in :attr:`crs`."""
        return self.transform.inverse(x, y)

    def pixel_to_crs(self, col, row, out_crs="EPSG:4326") -> tuple[np.ndarray, np.ndarray]:
        """Positions of pixel positions in `out_crs` (x, y order: lon, lat for EPSG:4326).

        Raises
        ------
        CRSError
            If pyproj does not know `out_crs`.
        """
        x, y = self.pixel_to_map(col, row)
        if same_crs(self.crs, out_crs):
            return x, y
        return transformer(str(self.crs), str(out_crs)).transform(x, y)

    def geotransform(self) -> Affine | None:
        """The grid's geotransform when the transform is affine, else None."""
        if isinstance(self.transform, AffineTransform):
            return self.transform.to_affine()
        return None

    def grid_placement(
        self, values: np.ndarray, offset: tuple[int, int] = (0, 0)
    ) -> tuple[np.ndarray, Affine, str]:
        """A grid of `values` with a geotransform in :attr:`crs`, for a GeoTIFF.

        Parameters
        ----------
        values : ndarray of shape (H, W), float
            One value per image pixel, NaN where masked; or a window of the image.
        offset : (col, row)
            Image pixel of ``values[0, 0]`` when `values` is a window (a crop to the
            decoded pixels, say).

        Returns
        -------
        grid : ndarray of shape (h, w), float
            `values` itself when the fit is affine; otherwise `values` resampled
            (nearest pixel) to a north-up grid of about the image's resolution, NaN
            outside the image.
        transform : affine.Affine
            The grid's geotransform.
        crs : str

        Notes
        -----
        The resampling inverts this fit's own transform at every grid cell centre, so
        the grid agrees exactly with :meth:`pixel_to_map` for every kind, projective
        included (which GDAL's warper does not offer).
        """
        values = np.asarray(values)
        gt = self.geotransform()
        if gt is not None:
            return values, gt @ Affine.translation(*offset), self.crs
        return (*_warp_north_up(self.transform, values, offset), self.crs)

    def grid_blocks(
        self, store: PixelStore, window: tuple[int, int, int, int]
    ) -> tuple[tuple[int, int], Affine, str, Iterator[tuple[int, np.ndarray]]]:
        """:meth:`grid_placement` of the store's pixels in `window`, a band of rows at a
        time (what :class:`geodigitize.io.GridWriter` writes).

        Parameters
        ----------
        store : PixelStore
        window : (col0, row0, col1, row1)
            The image pixels gridded (the crop to the decoded pixels).

        Returns
        -------
        shape : (rows, cols)
            The grid's.
        transform : Affine
        crs : str
        bands : iterator of (row0, ndarray of shape (h, cols) and dtype float64)
            The grid's rows in order, NaN where masked: together, exactly the grid of
            :meth:`grid_placement` (see :func:`warp_store` for a non-affine fit).
        """
        c0, r0, c1, r1 = window
        gt = self.geotransform()
        if gt is None:
            grid, bands = warp_store(self.transform, store, window)
            return grid.shape, grid.transform, self.crs, bands

        def crop() -> Iterator[tuple[int, np.ndarray]]:
            for a, b in store.blocks():
                if b <= r0 or a >= r1:
                    continue
                a, b = max(a, r0), min(b, r1)
                values, valid = store.rows(a, b)
                yield a - r0, np.where(valid, values, np.nan)[:, c0:c1]

        return (r1 - r0, c1 - c0), gt @ Affine.translation(c0, r0), self.crs, crop()

    # --- report ----------------------------------------------------------------------
    def to_dict(self) -> dict:
        """Fit summary and per-GCP residuals for ``report.json`` (JSON-safe)."""
        gt = self.geotransform()
        res_map = self.residuals_map
        loo = self.loo if self.loo is not None else np.full((len(self.gcps), 2), np.nan)
        per_gcp = [
            {
                "id": pid,
                "enabled": True,
                "col": p.col,
                "row": p.row,
                "x": p.x,
                "y": p.y,
                "dcol": float(r[0]),
                "drow": float(r[1]),
                "residual_px": float(np.hypot(*r)),
                "dx_map": float(m[0]),
                "dy_map": float(m[1]),
                "residual_map": float(np.hypot(*m)),
                "loo_px": _finite_or_none(np.hypot(*lo)),
            }
            for pid, p, r, m, lo in zip(
                self.gcps.ids, self.gcps, self.residuals, res_map, loo, strict=True
            )
        ]
        return {
            "transform": self.transform.kind,
            "auto": self.selection,
            "origin": self.origin,
            "crs": self.crs,
            "gcp_crs": self.source_crs,
            "n_gcps": len(self.gcps),
            "min_gcps": self.transform.min_points,
            "rmse_px": _finite_or_none(self.rmse),
            "rmse_by_construction": self.rmse_by_construction,
            "mean_error_px": _finite_or_none(self.mean_error),
            "loo_rmse_px": _finite_or_none(self.loo_rmse),
            "roundtrip_error_px": self.roundtrip_px,
            "north_up_snapped": self.snapped,
            "geotransform": list(gt.to_gdal()) if gt is not None else None,
            "worst_gcp": self.worst_gcp(),
            "warnings": list(self.warnings),
            "notes": list(self.notes),
            "residuals": per_gcp,
        }


def same_crs(a, b) -> bool:
    """True when two CRS descriptions are the same CRS."""
    return a == b or parse_crs(a) == parse_crs(b)


@functools.lru_cache(maxsize=64)
def transformer(src: str, dst: str) -> pyproj.Transformer:
    """A cached pyproj transformer in x, y order (``always_xy=True``)."""
    return pyproj.Transformer.from_crs(parse_crs(src), parse_crs(dst), always_xy=True)


def north_up(gcps: GCPSet, like: AffineTransform | None = None) -> AffineTransform:
    """Least-squares fit of `like`'s model with its rotation terms held at zero.

    An affine becomes ``x = a col + c``, ``y = e row + f``; a helmert (one scale) becomes
    ``x = s col + c``, ``y = -s row + f`` (the sign of its row scale kept), so snapping
    zeroes the rotation without changing the model.
    """
    col, row, x, y = gcps.col, gcps.row, gcps.x, gcps.y
    if isinstance(like, HelmertTransform):
        sign = -1.0 if like.to_affine().e < 0 else 1.0
        n = col.size
        design = np.zeros((2 * n, 3))
        design[:n, 0], design[:n, 1] = col, 1.0
        design[n:, 0], design[n:, 2] = sign * row, 1.0
        (scale, c, f), *_ = np.linalg.lstsq(design, np.concatenate([x, y]), rcond=None)
        fitted = HelmertTransform()
        fitted.coef_ = np.array([[scale, 0.0, c], [0.0, sign * scale, f]])
        fitted.scale_, fitted.rotation_ = abs(float(scale)), 0.0
        return fitted
    a, c = np.polyfit(col, x, 1)
    e, f = np.polyfit(row, y, 1)
    return AffineTransform.from_affine(Affine(a, 0.0, c, 0.0, e, f))


def _resolve_auto(
    auto: AutoTransform, used: GCPSet, fit_crs: str, tolerance: float, *, search: bool
) -> tuple[Transform, GCPSet, str, dict]:
    """The transform `auto` chose, or an affine in a projection that fits better.

    With no map CRS given (`search`), GCPs that no affine or helmert fits in their own CRS
    are tried for being affine in a common projection (see :func:`_projection_search`).
    Returns the transform, the GCPs in the CRS it was fitted in, that CRS, and the
    selection record for the report.
    """
    selection = {
        "chosen": auto.best_.kind,
        "reason": auto.reason_,
        "tolerance_px": tolerance,
        "candidates_loo_rmse_px": auto.candidates_,
        "crs": fit_crs,
    }
    transform: Transform = auto.best_
    if search and auto.best_.kind not in ("helmert", "affine"):
        found = _projection_search(used, tolerance, auto.best_.kind, auto.candidates_)
        if found is not None:
            fit_crs, used, selection = found
            transform = AffineTransform().fit(used.col, used.row, used.x, used.y)
    log.info("auto transform: %s", selection["reason"])
    return transform, used, fit_crs, selection


def _snap_north_up(
    transform: AffineTransform, used: GCPSet, shape: tuple[int, int]
) -> tuple[AffineTransform, bool]:
    """The same model with rotation terms exactly zero, when that moves no pixel of the
    image by more than reading error (the larger of 0.1 px and the fit's RMSE)."""
    upright = north_up(used, like=transform)
    rmse = float(np.sqrt(np.mean(np.sum(_residuals(transform, used) ** 2, axis=1))))
    if _corner_discrepancy(transform, upright, shape) <= max(SNAP_MIN_PIXELS, rmse):
        return upright, True
    return transform, False


def _corner_discrepancy(full: AffineTransform, other: AffineTransform, shape) -> float:
    """Largest pixel distance between two affine placements over the image corners."""
    height, width = shape
    cc = np.array([0, width, 0, width], dtype=np.float64)
    rr = np.array([0, 0, height, height], dtype=np.float64)
    c2, r2 = full.inverse(*other.forward(cc, rr))
    return float(np.max(np.hypot(c2 - cc, r2 - rr)))


def _residuals(transform: Transform, gcps: GCPSet) -> np.ndarray:
    col, row = transform.inverse(gcps.x, gcps.y)
    return np.column_stack([gcps.col - col, gcps.row - row]).reshape(-1, 2)


def _project(gcps: GCPSet, crs: str) -> tuple[np.ndarray, np.ndarray]:
    """Map positions of `gcps` in `crs` (pyproj, always_xy)."""
    src, dst = parse_crs(gcps.crs), parse_crs(crs)
    if src == dst:
        return gcps.x, gcps.y
    x, y = transformer(str(gcps.crs), str(crs)).transform(gcps.x, gcps.y)
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    bad = ~(np.isfinite(x) & np.isfinite(y)) | _singular(dst, src, gcps.x, gcps.y)
    if np.any(bad):
        i = int(np.argmax(bad))
        p = gcps.points[i]
        raise GCPError(
            f"GCP {gcps.ids[i]} at ({p.x:g}, {p.y:g}) cannot be projected into the map's "
            f"CRS: it lies outside that projection's domain (a pole on Mercator?); "
            f"remove it or check --crs"
        )
    return x, y


#: Largest map scale factor a GCP may sit at: beyond it (a pole on Mercator) the
#: projection is singular there and PROJ returns huge but finite numbers.
MAX_SCALE_FACTOR = 1e4


def _singular(dst: pyproj.CRS, src: pyproj.CRS, lon, lat) -> np.ndarray:
    """True where geographic (lon, lat) sit at a singularity of projected `dst`."""
    if not (dst.is_projected and src.is_geographic):
        return np.zeros(np.shape(lon), dtype=bool)
    try:
        f = pyproj.Proj(dst).get_factors(lon, lat, errcheck=False)
    except (pyproj.exceptions.ProjError, RuntimeError):
        return np.zeros(np.shape(lon), dtype=bool)
    scales = np.column_stack([np.atleast_1d(f.meridional_scale), np.atleast_1d(f.parallel_scale)])
    with np.errstate(invalid="ignore"):
        return ~np.all(np.isfinite(scales) & (scales < MAX_SCALE_FACTOR), axis=1)


def _projected_set(gcps: GCPSet, crs: str) -> GCPSet:
    x, y = _project(gcps, crs)
    pts = tuple(
        GCP(p.col, p.row, float(a), float(b), pid, p.enabled)
        for p, pid, a, b in zip(gcps.points, gcps.ids, x, y, strict=True)
    )
    return GCPSet(pts, crs, gcps.source)


def _image_grid(shape, n: int = 21) -> tuple[np.ndarray, np.ndarray]:
    height, width = shape
    cc, rr = np.meshgrid(np.linspace(0, width, n), np.linspace(0, height, n))
    return cc.ravel(), rr.ravel()


def georeference(
    gcps: GCPSet,
    shape: tuple[int, int],
    *,
    kind: str = "affine",
    crs: str | None = None,
    snap: bool = True,
    tolerance: float = AUTO_TOLERANCE_PX,
    inside: bool = True,
) -> Georeference:
    """Fit a pixel -> map transform to the enabled GCPs.

    Parameters
    ----------
    gcps : GCPSet
        Control points; their pixel positions must lie inside the image.
    shape : (H, W)
        Image shape, to check the GCPs and measure the north-up snap over the image.
    kind : str
        ``helmert``, ``affine``, ``projective``, ``poly2``, ``poly3``, ``tps`` or
        ``auto`` (the simplest kind whose leave-one-out RMSE is within `tolerance`).
    crs : str, optional
        The CRS the map is drawn in (anything pyproj understands). The GCPs are projected
        from ``gcps.crs`` into it before fitting. None: fit in ``gcps.crs``, except that
        lon/lat GCPs no ``affine`` (or ``helmert``) fits within reading error are fitted
        in the common projection (Mercator, polar stereographic, Lambert conformal ...)
        that makes them affine, when one clearly does (recorded in ``selection`` and
        ``warnings``).
    snap : bool
        Allow writing rotation terms as exactly zero when within reading error.
    tolerance : float
        Reading error of the GCPs in pixels, used by ``auto`` and the projection search.
    inside : bool
        Refuse GCPs outside the image. False for an image cut from a larger page (a PDF's
        embedded map), where GCPs measured on the page may lie beyond its edges.

    Returns
    -------
    Georeference
        Its ``warnings`` flag a fit far beyond reading error (:data:`WARN_RMSE_PX`) and a
        TPS's RMSE of 0 by construction; its ``notes`` say which exact duplicate rows were
        merged and whether longitudes were read on one continuous branch (0..360 mixed
        with -180..180, or across the antimeridian).

    Raises
    ------
    GCPError
        Too few, degenerate or out-of-image GCPs, conflicting duplicates, latitudes
        outside [-90, 90] (swapped lon and lat?), or GCPs the map CRS cannot hold.
    CRSError
        A CRS pyproj does not know, or one that is not a 2-D map CRS (geocentric).
    TransformError
        An unknown `kind`.

    Examples
    --------
    >>> from geodigitize.gcps import GCPSet
    >>> g = GCPSet.from_arrays([0, 100, 0], [0, 0, 50], [-10, 10, -10], [5, 5, -5])
    >>> georeference(g, (50, 100)).pixel_to_map(50, 25)
    (np.float64(0.0), np.float64(0.0))
    """
    check_map_crs(gcps.crs, "GCPs' CRS")
    if crs is not None:
        check_map_crs(crs, "map CRS")
    used, notes = _prepare(gcps, shape, inside)
    source_crs = crs_text(gcps.crs)
    fit_crs = crs_text(crs) if crs is not None else source_crs
    used = _projected_set(used, fit_crs)
    col, row, x, y = used.col, used.row, used.x, used.y
    transform = make_transform(kind)
    if isinstance(transform, AutoTransform):
        transform.tolerance = tolerance
    transform.fit(col, row, x, y)
    selection = None
    if isinstance(transform, AutoTransform):
        transform, used, fit_crs, selection = _resolve_auto(
            transform, used, fit_crs, tolerance, search=crs is None
        )
    elif crs is None and isinstance(transform, AffineTransform):
        found = _detect_projection(transform, used, tolerance)
        if found is not None:
            fit_crs, used, selection = found
            transform = type(transform)().fit(used.col, used.row, used.x, used.y)
    col, row, x, y = used.col, used.row, used.x, used.y
    loo = _leave_one_out(transform, col, row, x, y)
    snapped = False
    if snap and isinstance(transform, AffineTransform):  # helmert included
        transform, snapped = _snap_north_up(transform, used, shape)
    roundtrip = None
    if not transform.exact_inverse:
        roundtrip = transform.roundtrip_error(*_image_grid(shape))
    residuals = _residuals(transform, used)
    return Georeference(
        transform,
        used,
        fit_crs,
        residuals,
        snapped,
        loo,
        selection,
        roundtrip,
        tuple(shape),
        source_crs,
        "gcps",
        _fit_warnings(transform, residuals, loo, selection, given_crs=crs is not None),
        notes,
    )


def _prepare(
    gcps: GCPSet, shape: tuple[int, int], inside: bool = True
) -> tuple[GCPSet, tuple[str, ...]]:
    """The enabled GCPs, checked (latitudes, inside the image unless not `inside`), exact
    duplicates merged and longitudes on one branch, with a note for each change."""
    used, merged = gcps.enabled().deduplicated()
    used.check_latitudes()
    if inside:
        used.check_inside(shape)
    used, branch = _continuous_longitudes(used)
    dups = f"{merged} exact duplicate GCP row{'s' * (merged > 1)} merged" if merged else ""
    return used, tuple(n for n in (dups, branch) if n)


def _continuous_longitudes(gcps: GCPSet) -> tuple[GCPSet, str]:
    """Geographic GCPs with their longitudes on one continuous branch, and a note.

    Longitudes that mix -180..180 and 0..360, or jump at the antimeridian, are rewritten
    on the shortest interval holding them all (east of 180 written above 180, as GDAL
    writes a grid crossing it), when that makes lon an affine function of the pixel
    position where the given values are not. A global map's -180 and 180 stay apart.
    """
    if len(gcps) < 3 or not parse_crs(gcps.crs).is_geographic:
        return gcps, ""
    lon = gcps.x
    wrapped = (lon + 180.0) % 360.0 - 180.0
    order = np.unique(wrapped)
    gaps = np.diff(np.concatenate([order, order[:1] + 360.0]))
    start = order[(int(np.argmax(gaps)) + 1) % order.size]
    branch = start + (wrapped - start) % 360.0
    if np.ptp(branch) >= np.ptp(lon) - 1e-9:
        return gcps, ""
    if np.unique(branch).size < np.unique(lon).size:  # -180 and 180 of a global map
        return gcps, ""
    design = np.column_stack([gcps.col, gcps.row, np.ones(len(gcps))])

    def misfit(values: np.ndarray) -> float:
        coef, *_ = np.linalg.lstsq(design, values, rcond=None)
        return float(np.sqrt(np.mean((design @ coef - values) ** 2)))

    if not misfit(branch) < 0.5 * misfit(lon):
        return gcps, ""
    pts = tuple(
        GCP(p.col, p.row, float(b), p.y, pid, p.enabled)
        for p, pid, b in zip(gcps.points, gcps.ids, branch, strict=True)
    )
    note = (
        f"GCP longitudes jumped by 360 degrees (0..360 mixed with -180..180, or across the "
        f"antimeridian): read as one continuous range {branch.min():g}..{branch.max():g}"
    )
    return GCPSet(pts, gcps.crs, gcps.source), note


def _detect_projection(
    transform: AffineTransform, used: GCPSet, tolerance: float
) -> tuple[str, GCPSet, dict] | None:
    """A common projection in which lon/lat GCPs that an affine (or helmert) does not fit
    are affine, or None; see :func:`_projection_search` (``strict``)."""
    if len(used) <= transform.min_points or not parse_crs(used.crs).is_geographic:
        return None
    loo = _leave_one_out(transform, used.col, used.row, used.x, used.y)
    norms = np.hypot(loo[:, 0], loo[:, 1])
    lonlat = float(np.sqrt(np.mean(norms**2))) if np.all(np.isfinite(norms)) else float("inf")
    if lonlat <= tolerance:
        return None
    found = _projection_search(
        used, tolerance, transform.kind, {transform.kind: lonlat}, strict=True
    )
    if found is not None:
        log.info("map projection detected: %s", found[2]["reason"])
    return found


def _fit_warnings(
    transform: Transform,
    residuals: np.ndarray,
    loo: np.ndarray | None,
    selection: dict | None,
    *,
    given_crs: bool,
) -> tuple[str, ...]:
    """Sentences, each with its fix, about a fit a user should not trust blindly."""
    out = []
    n = residuals.shape[0]
    norms = np.hypot(residuals[:, 0], residuals[:, 1])
    rmse = float(np.sqrt(np.mean(norms**2))) if n else float("nan")
    loo_norms = np.hypot(loo[:, 0], loo[:, 1]) if loo is not None else np.full(n, np.nan)
    loo_rmse = float(np.sqrt(np.mean(loo_norms**2))) if n else float("nan")
    fix = (
        "check the GCPs and --crs, or try --transform auto"
        if given_crs
        else ("give --crs (the map's projection) or --transform auto")
    )
    if transform.kind == "tps":
        out.append(
            f"tps passes through every GCP, so its RMSE is 0 by construction; judge it by its "
            f"leave-one-out RMSE ({loo_rmse:.3g} px)"
        )
        if loo_rmse > WARN_RMSE_PX:
            out.append(
                f"the tps fit's leave-one-out RMSE is {loo_rmse:.3g} px, far beyond reading "
                f"error: {fix}"
            )
    elif n > transform.min_points and rmse > WARN_RMSE_PX:
        out.append(
            f"the {transform.kind} fit's RMSE is {rmse:.3g} px, far beyond reading error "
            f"(the GCPs do not fit this transform): {fix}"
        )
    if (
        selection
        and selection.get("chosen") == "affine-in-projection"
        and transform.kind != ("auto")
    ):
        out.append(
            f"the GCPs are not {transform.kind} in lon/lat but are in a "
            f"{selection['projection']} projection, so the map was fitted in "
            f"{selection.get('proj', selection['crs'])}: give --crs to choose the projection "
            f"yourself"
        )
    return tuple(out)


def _projection_candidates(lon: np.ndarray, lat: np.ndarray) -> list[tuple[str, object]]:
    """Common map projections, as PROJ strings or functions of one shape parameter."""
    lon0 = round(float((lon.min() + lon.max()) / 2), 6)
    base = f"+lon_0={lon0:g} +datum=WGS84 +units=m +no_defs"
    cands: list[tuple[str, object]] = [
        ("Mercator", f"+proj=merc {base}"),
        ("Web Mercator", "EPSG:3857"),
        ("Robinson", f"+proj=robin {base}"),
        ("Equal Earth", f"+proj=eqearth {base}"),
        ("Mollweide", f"+proj=moll {base}"),
    ]
    if lat.min() > 0 or lat.max() < 0:
        # a conic's shape depends on its cone constant only (rotation and scale are affine),
        # so a tangent cone at one fitted latitude stands for every secant pair
        sign = 1 if lat.min() > 0 else -1
        cands.append(
            (
                "Lambert conformal",
                lambda phi: f"+proj=lcc +lat_1={phi:.8f} +lat_2={phi:.8f} +lat_0={phi:.8f} {base}",
            )
        )
        cands.append(
            ("polar stereographic", f"+proj=stere +lat_0={90 * sign} +lat_ts={71 * sign} {base}")
        )
    return cands


def _affine_loo_rmse(gcps: GCPSet, crs_str: str) -> float:
    try:
        proj = _projected_set(gcps, crs_str)
        # the hat-matrix leave-one-out of an order-1 polynomial: exact and fast
        err = PolynomialTransform(1).leave_one_out(proj.col, proj.row, proj.x, proj.y)
    except (GCPError, CRSError, TransformError, pyproj.exceptions.ProjError):
        return float("inf")
    norms = np.hypot(err[:, 0], err[:, 1])
    return float(np.sqrt(np.mean(norms**2))) if np.all(np.isfinite(norms)) else float("inf")


def _projection_search(
    gcps: GCPSet, tolerance: float, kind: str, candidates: dict[str, float], *, strict=False
):
    """The common projection in which the GCPs are affine within reading error, if any.

    Returns ``(crs, gcps projected into it, selection)`` or None; tried by ``auto`` and
    by ``affine`` and ``helmert`` (`strict`: only a projection at most half the lon/lat
    leave-one-out RMSE, and within reading error unless lon/lat is far beyond it) when no
    map CRS was given and the GCPs are geographic. `candidates` holds the leave-one-out
    RMSE of the transforms fitted in lon/lat, `kind` the one to beat.
    """
    from scipy.optimize import minimize_scalar

    if len(gcps) < 4 or not parse_crs(gcps.crs).is_geographic:
        return None
    lon, lat = gcps.x, gcps.y
    scores: dict[str, tuple[float, str]] = {}
    for name, spec in _projection_candidates(lon, lat):
        if callable(spec):
            lo, hi = sorted((float(np.sign(lat.mean())), float(np.sign(lat.mean())) * 89.0))
            best = minimize_scalar(
                lambda phi, f=spec: _affine_loo_rmse(gcps, f(phi)),
                bounds=(lo, hi),
                method="bounded",
                options={"xatol": 1e-6},
            )
            spec = spec(float(best.x))
        scores[name] = (_affine_loo_rmse(gcps, spec), spec)
    name = min(scores, key=lambda k: scores[k][0])
    rmse, spec = scores[name]
    lonlat_best = candidates[kind]
    if not (rmse <= tolerance or rmse < lonlat_best):
        return None
    if lonlat_best <= tolerance and rmse > tolerance:
        return None
    clearly = rmse <= lonlat_best / 2 and (rmse <= tolerance or lonlat_best > WARN_RMSE_PX)
    if strict and not clearly:
        return None  # not clearly the map's projection: keep what was asked for
    tried = ", ".join(f"{k} {v[0]:.3g} px" for k, v in scores.items())
    reason = (
        f"the GCPs are affine in a {name} projection (leave-one-out RMSE {rmse:.3g} px"
        f"{' within' if rmse <= tolerance else ', the best, though above'} reading error "
        f"{tolerance:g} px), simpler than {kind} in lon/lat "
        f"({lonlat_best:.3g} px); projections tried: {tried}; give --crs to choose yourself"
    )
    crs_str = crs_text(spec)
    selection = {
        "chosen": "affine-in-projection",
        "projection": name,
        "proj": spec,
        "crs": crs_str,
        "reason": reason,
        "tolerance_px": tolerance,
        "candidates_loo_rmse_px": {
            **candidates,
            **{f"affine in {k}": v[0] for k, v in scores.items()},
        },
    }
    return crs_str, _projected_set(gcps, crs_str), selection


def _leave_one_out(transform: Transform, col, row, x, y) -> np.ndarray:
    try:
        return transform.leave_one_out(col, row, x, y)
    except (GCPError, TransformError):
        return np.full((np.size(col), 2), np.nan)


@dataclass(frozen=True)
class NorthUpGrid:
    """The north-up grid a non-affine fit's values are resampled onto.

    Attributes
    ----------
    shape : (rows, cols)
    transform : Affine
        Its geotransform (``res`` map units a cell, top-left corner ``xmin, ymax``).
    """

    shape: tuple[int, int]
    transform: Affine

    @property
    def res(self) -> float:
        return float(self.transform.a)

    def chunks(self) -> list[tuple[int, int]]:
        """Row ranges of the grid resampled at once (about 262144 cells each)."""
        out_h, out_w = self.shape
        step = max(1, 262144 // out_w)
        return [(r0, min(out_h, r0 + step)) for r0 in range(0, out_h, step)]


def north_up_grid(
    transform: Transform, shape: tuple[int, int], offset: tuple[int, int] = (0, 0)
) -> NorthUpGrid:
    """The north-up grid covering image pixels ``shape`` from `offset` (col, row) through
    `transform`, at about the image's resolution (at most 4 cells per pixel)."""
    height, width = shape
    c_off, r_off = offset
    # footprint: dense edges and an interior grid (TPS and polynomials bulge)
    t = np.linspace(0, 1, 257)
    ec = np.concatenate([t * width, t * width, np.zeros_like(t), np.full_like(t, width)])
    er = np.concatenate([np.zeros_like(t), np.full_like(t, height), t * height, t * height])
    gc, gr = _image_grid((height, width), 33)
    ec, er, gc, gr = ec + c_off, er + r_off, gc + c_off, gr + r_off
    xs, ys = transform.forward(np.concatenate([ec, gc]), np.concatenate([er, gr]))
    ok = np.isfinite(xs) & np.isfinite(ys)
    xmin, xmax, ymin, ymax = xs[ok].min(), xs[ok].max(), ys[ok].min(), ys[ok].max()
    # resolution: the median area one pixel covers, as a square
    x0, y0 = transform.forward(gc, gr)
    x1, y1 = transform.forward(gc + 1, gr)
    x2, y2 = transform.forward(gc, gr + 1)
    area = np.abs((x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0))
    res = float(np.sqrt(np.median(area[np.isfinite(area)])))
    out_w = max(1, math.ceil((xmax - xmin) / res))
    out_h = max(1, math.ceil((ymax - ymin) / res))
    limit = 4 * height * width
    if out_w * out_h > limit:
        res *= math.sqrt(out_w * out_h / limit)
        out_w, out_h = math.ceil((xmax - xmin) / res), math.ceil((ymax - ymin) / res)
    return NorthUpGrid((out_h, out_w), Affine(res, 0.0, xmin, 0.0, -res, ymax))


def _source_pixels(
    transform: Transform,
    grid: NorthUpGrid,
    rows: tuple[int, int],
    shape: tuple[int, int],
    offset: tuple[int, int],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Image pixel (row, col, relative to `offset`) under each cell of grid rows `rows`,
    and which cells have one; arrays of shape (rows, grid cols)."""
    height, width = shape
    c_off, r_off = offset
    res, xmin, ymax = grid.res, grid.transform.c, grid.transform.f
    xc = xmin + (np.arange(grid.shape[1]) + 0.5) * res
    yc = ymax - (np.arange(*rows) + 0.5) * res
    gx, gy = np.meshgrid(xc, yc)
    col, row = transform.inverse(gx, gy)
    j, i = np.floor(col) - c_off, np.floor(row) - r_off
    inside = (j >= 0) & (j < width) & (i >= 0) & (i < height)
    # refuse cells where a fitted inverse folds back (outside the GCPs' reach)
    bx, by = transform.forward(np.where(inside, col, c_off), np.where(inside, row, r_off))
    inside &= np.hypot(bx - gx, by - gy) <= 1.5 * res
    return i, j, inside


def _warp_north_up(
    transform: Transform, values: np.ndarray, offset: tuple[int, int] = (0, 0)
) -> tuple[np.ndarray, Affine]:
    """Nearest-pixel resampling of `values` (image pixels from `offset` on) onto a
    north-up grid through `transform`."""
    grid = north_up_grid(transform, values.shape, offset)
    out = np.full(grid.shape, np.nan, dtype=np.float64)
    with serial_blas():  # skinny products: a busy BLAS pool makes them 10x slower
        for r0, r1 in grid.chunks():
            i, j, inside = _source_pixels(transform, grid, (r0, r1), values.shape, offset)
            block = out[r0:r1]
            block[inside] = values[i[inside].astype(np.intp), j[inside].astype(np.intp)]
    return out, grid.transform


def warp_store(
    transform: Transform,
    store: PixelStore,
    window: tuple[int, int, int, int],
    *,
    band_cells: int = 4_000_000,
) -> tuple[NorthUpGrid, Iterator[tuple[int, np.ndarray]]]:
    """:meth:`Georeference.grid_placement` of a non-affine fit, a band of grid rows at a
    time, reading the image from `store` in bounded memory.

    Parameters
    ----------
    transform : Transform
        The fitted transform (any kind).
    store : PixelStore
    window : (col0, row0, col1, row1)
        The image pixels gridded (the crop to the decoded pixels).
    band_cells : int
        Grid cells resampled per band.

    Returns
    -------
    grid : NorthUpGrid
    bands : iterator of (row0, ndarray of shape (h, grid cols) and dtype float64)
        The grid's rows in order, NaN where no data; equal to the one-piece grid.

    Notes
    -----
    The image pixels under a band of grid rows may span many image rows (a rotated
    map): each band reads the store's blocks between its highest and lowest source row
    that hold a source pixel, so a map turned by an angle ``a`` reads about
    ``1 + W sin(a) / band rows`` times the image. Memory: ``band_cells`` times about 40
    bytes, plus one block of the store.
    """
    c0, r0, c1, r1 = window
    shape, offset = (r1 - r0, c1 - c0), (c0, r0)
    grid = north_up_grid(transform, shape, offset)

    def bands() -> Iterator[tuple[int, np.ndarray]]:
        chunks = grid.chunks()
        per = max(1, band_cells // max(grid.shape[1], 1) // max(chunks[0][1] - chunks[0][0], 1))
        for k in range(0, len(chunks), per):
            group = chunks[k : k + per]
            top, bottom = group[0][0], group[-1][1]
            out = np.full((bottom - top, grid.shape[1]), np.nan)
            src_rows, src_cols, cells = [], [], []
            with serial_blas():  # skinny products: a busy BLAS pool makes them 10x slower
                for a, b in group:
                    i, j, inside = _source_pixels(transform, grid, (a, b), shape, offset)
                    src_rows.append(i[inside].astype(np.int64) + r0)
                    src_cols.append(j[inside].astype(np.int64) + c0)
                    cells.append(np.flatnonzero(inside.ravel()) + (a - top) * grid.shape[1])
            rows, cols, cells = map(np.concatenate, (src_rows, src_cols, cells))
            out.ravel()[cells] = store.values_at(rows, cols)
            yield top, out

    return grid, bands()


def _world_file_origin(path: Path) -> str:
    stem, ext = path.with_suffix(""), path.suffix.lower().lstrip(".")
    candidates = {".wld"}
    if len(ext) >= 2:
        candidates |= {f".{ext[0]}{ext[-1]}w", f".{ext}w"}
    for suffix in candidates:
        for variant in (suffix, suffix.upper()):
            if stem.with_suffix(variant).exists():
                return "world file"
    return "geotransform"


def from_georeferenced_image(
    path, crs: str | None = None, *, kind: str = "affine"
) -> Georeference | None:
    """The georeference an image already carries, or None when it carries none.

    Reads, through GDAL (rasterio), a world file beside the image (``.pgw``, ``.jgw``,
    ``.tfw``, ``.wld``, ...) with its CRS from ``<image>.aux.xml``, or a GeoTIFF's
    geotransform or embedded GCPs.

    Parameters
    ----------
    path : str or Path
    crs : str, optional
        CRS of the georeference; overrides the image's own. Required when the image
        carries a geotransform but no CRS (a world file without ``.aux.xml``).
    kind : str
        Transform fitted to embedded GCPs.

    Returns
    -------
    Georeference or None

    Raises
    ------
    CRSError
        A geotransform without any CRS and no `crs`, or an unknown CRS.
    """
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning, RasterioIOError

    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(path) as ds:
                gt, ds_crs, shape = ds.transform, ds.crs, (ds.height, ds.width)
                gcps, gcp_crs = ds.gcps
    except RasterioIOError:
        return None
    if not gt.is_identity:
        chosen = crs or (ds_crs.to_wkt() if ds_crs else None)
        if chosen is None:
            raise CRSError(
                f"{path.name} has a geotransform (world file) but no CRS: pass --crs, or "
                f"put the CRS in {path.name}.aux.xml"
            )
        fit_crs = crs_text(chosen)
        return Georeference(
            AffineTransform.from_affine(gt),
            GCPSet((), fit_crs, str(path)),
            fit_crs,
            np.empty((0, 2)),
            shape=shape,
            source_crs=fit_crs,
            origin=_world_file_origin(path),
        )
    if gcps:
        chosen = crs or (gcp_crs.to_wkt() if gcp_crs else None)
        if chosen is None:
            raise CRSError(f"{path.name} has GCPs but no CRS for them: pass --crs")
        gset = GCPSet(
            tuple(GCP(g.col, g.row, g.x, g.y, g.id or str(i + 1)) for i, g in enumerate(gcps)),
            crs_text(chosen),
            str(path),
        )
        fitted = georeference(gset, shape, kind=kind)
        return dataclasses.replace(fitted, shape=shape, origin="embedded gcps")
    return None
