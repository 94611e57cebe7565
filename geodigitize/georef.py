"""Georeference pixel positions: fit a transform to GCPs, report residuals, place pixels.

The fitted :class:`Georeference` maps pixel positions (GDAL convention) to map positions
in its CRS and gives the geotransform of the decoded grid. A least-squares fit leaves tiny
rotation terms even for a north-up map; QGIS then warps such a layer on the fly, so when a
north-up fit places every pixel of the image within reading error of the full fit (the
larger of 0.1 pixel and the GCP RMSE), the north-up fit is used and its rotation terms are
exactly zero.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace

import numpy as np
from affine import Affine
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError as PyprojCRSError

from .errors import CRSError, TransformError
from .gcps import GCPSet
from .transforms import AffineTransform, Transform, make_transform

__all__ = ["Georeference", "georeference", "north_up", "parse_crs", "same_crs", "transformer"]

#: Smallest tolerance, in pixels, for writing rotation terms as exactly zero.
SNAP_MIN_PIXELS = 0.1


@dataclass(frozen=True, eq=False)
class Georeference:
    """A transform fitted to GCPs, with its residuals.

    Attributes
    ----------
    transform : Transform
        The fitted pixel -> map transform actually used for points and grid.
    gcps : GCPSet
        The enabled GCPs it was fitted to.
    crs : str
        CRS of the transform's map side.
    residuals : ndarray of shape (n, 2)
        Per GCP, its pixel position minus the pixel position the transform gives its map
        position (col, row), in pixels.
    snapped : bool
        True when rotation terms were set to exactly zero (see module notes).
    """

    transform: Transform
    gcps: GCPSet
    crs: str
    residuals: np.ndarray
    snapped: bool = False

    @property
    def residual_norms(self) -> np.ndarray:
        """Length of each GCP's residual, in pixels; shape (n,)."""
        return np.hypot(self.residuals[:, 0], self.residuals[:, 1])

    @property
    def rmse(self) -> float:
        """Root-mean-square residual, in pixels."""
        return float(np.sqrt(np.mean(self.residual_norms**2)))

    def pixel_to_map(self, col, row) -> tuple[np.ndarray, np.ndarray]:
        """Map positions of pixel positions (GDAL convention), in :attr:`crs`."""
        return self.transform.forward(col, row)

    def pixel_to_crs(
        self, col, row, out_crs: str = "EPSG:4326"
    ) -> tuple[np.ndarray, np.ndarray]:
        """Positions of pixels in `out_crs` (x, y order: lon, lat for EPSG:4326)."""
        x, y = self.pixel_to_map(col, row)
        if same_crs(self.crs, out_crs):
            return x, y
        return transformer(self.crs, out_crs).transform(x, y)

    def grid_placement(self, values: np.ndarray) -> tuple[np.ndarray, Affine, str]:
        """The decoded grid ready to write: (array, north-up geotransform, CRS).

        Raises
        ------
        TransformError
            If the transform is not affine (warping is not available for it).
        """
        gt = self.geotransform()
        if gt is None:
            raise TransformError(
                f"the {self.transform.kind} transform cannot be written as a geotransform"
            )
        return values, gt, self.crs

    def geotransform(self) -> Affine | None:
        """The grid's geotransform when the transform is affine, else None."""
        if isinstance(self.transform, AffineTransform):
            return self.transform.to_affine()
        return None

    def to_dict(self) -> dict:
        """Residuals and fit summary for ``report.json``."""
        gt = self.geotransform()
        return {
            "transform": self.transform.kind,
            "crs": self.crs,
            "n_gcps": len(self.gcps),
            "rmse_px": self.rmse,
            "north_up_snapped": self.snapped,
            "geotransform": list(gt.to_gdal()) if gt is not None else None,
            "residuals": [
                {"id": pid, "col": p.col, "row": p.row, "x": p.x, "y": p.y,
                 "dcol": float(r[0]), "drow": float(r[1]), "residual_px": float(np.hypot(*r))}
                for pid, p, r in zip(self.gcps.ids, self.gcps, self.residuals, strict=True)
            ],
        }


def parse_crs(text: str) -> CRS:
    """A pyproj CRS from anything pyproj understands (EPSG code, PROJ string, WKT).

    Raises
    ------
    CRSError
        If pyproj does not know it.
    """
    try:
        return CRS.from_user_input(text)
    except PyprojCRSError:
        raise CRSError(
            f"unknown CRS {text!r}: give an EPSG code (EPSG:3857), a PROJ string or WKT"
        ) from None


def same_crs(a: str, b: str) -> bool:
    """True when two CRS descriptions are the same CRS."""
    return a == b or parse_crs(a) == parse_crs(b)


@functools.lru_cache(maxsize=64)
def transformer(src: str, dst: str) -> Transformer:
    """A cached pyproj transformer in x, y order (``always_xy=True``)."""
    return Transformer.from_crs(parse_crs(src), parse_crs(dst), always_xy=True)


def north_up(gcps: GCPSet) -> AffineTransform:
    """Least-squares fit of ``x = a col + c``, ``y = e row + f`` (no rotation terms)."""
    col, row, x, y = gcps.col, gcps.row, gcps.x, gcps.y
    a, c = np.polyfit(col, x, 1)
    e, f = np.polyfit(row, y, 1)
    return AffineTransform.from_affine(Affine(a, 0.0, c, 0.0, e, f))


def _corner_discrepancy(full: AffineTransform, other: AffineTransform, shape) -> float:
    """Largest pixel distance between two affine placements over the image corners."""
    height, width = shape
    cc = np.array([0, width, 0, width], dtype=np.float64)
    rr = np.array([0, 0, height, height], dtype=np.float64)
    c2, r2 = full.inverse(*other.forward(cc, rr))
    return float(np.max(np.hypot(c2 - cc, r2 - rr)))


def _residuals(transform: Transform, gcps: GCPSet) -> np.ndarray:
    col, row = transform.inverse(gcps.x, gcps.y)
    return np.column_stack([gcps.col - col, gcps.row - row])


def georeference(
    gcps: GCPSet,
    shape: tuple[int, int],
    *,
    kind: str = "affine",
    crs: str | None = None,
    snap: bool = True,
) -> Georeference:
    """Fit a pixel -> map transform to the enabled GCPs.

    Parameters
    ----------
    gcps : GCPSet
        Control points; their pixel positions must lie inside the image.
    shape : (H, W)
        Image shape, to check the GCPs and measure the north-up snap over the image.
    kind : str
        Transform kind (see :data:`geodigitize.transforms.KINDS`).
    crs : str, optional
        The CRS the map is drawn in; the GCPs are projected into it and the transform is
        fitted there. None fits in the GCPs' own CRS.
    snap : bool
        Allow writing rotation terms as exactly zero when within reading error.

    Returns
    -------
    Georeference

    Raises
    ------
    GCPError
        Too few, degenerate or out-of-image GCPs.
    """
    used = gcps.enabled()
    used.check_inside(shape)
    if crs is not None and not same_crs(used.crs, crs):
        x, y = transformer(used.crs, crs).transform(used.x, used.y)
        used = GCPSet(
            tuple(replace(p, x=float(a), y=float(b)) for p, a, b in zip(used, x, y, strict=True)),
            crs,
            used.source,
        )
    transform = make_transform(kind).fit(used.col, used.row, used.x, used.y)
    residuals = _residuals(transform, used)
    result = Georeference(transform, used, used.crs, residuals)
    if snap and isinstance(transform, AffineTransform):
        upright = north_up(used)
        tol = max(SNAP_MIN_PIXELS, result.rmse)
        if _corner_discrepancy(transform, upright, shape) <= tol:
            result = Georeference(upright, used, used.crs, _residuals(upright, used), True)
    return result
