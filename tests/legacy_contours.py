"""The one-piece contour tracing as it was before it read a PixelStore (commit daff090), kept
verbatim as the reference the block-by-block tracing must equal."""
# ruff: noqa

from __future__ import annotations

from collections.abc import Sequence

import contourpy
import numpy as np

from geodigitize.colormap import ColorScale

__all__ = ["ContourLines", "contour_levels", "trace", "write_lines"]


class ContourLines:
    """Traced lines in pixel coordinates.

    Attributes
    ----------
    lines : list of ndarray of shape (n, 2)
        ``(col, row)`` vertices of each line (pixel convention, GDAL).
    values : ndarray of shape (len(lines),) and dtype float64
        The value each line separates at (the class edge, or the contour level).
    """

    def __init__(self, lines: list[np.ndarray], values: np.ndarray) -> None:
        self.lines = lines
        self.values = np.asarray(values, dtype=np.float64)

    def __len__(self) -> int:
        return len(self.lines)

    def to_frame(self, georef, out_crs: str):
        """The lines as a GeoDataFrame (column ``value``, LineString geometries in `out_crs`).

        Parameters
        ----------
        georef : Georeference
            Places pixel positions (its ``pixel_to_crs``).
        out_crs : str
        """
        import geopandas as gpd
        import shapely

        if not self.lines:
            return gpd.GeoDataFrame({"value": np.zeros(0)}, geometry=[], crs=out_crs)
        sizes = np.array([len(line) for line in self.lines])
        xy = np.concatenate(self.lines)
        x, y = georef.pixel_to_crs(xy[:, 0], xy[:, 1], out_crs)
        coords = np.column_stack([np.asarray(x, float), np.asarray(y, float)])
        geoms = shapely.linestrings(coords, indices=np.repeat(np.arange(sizes.size), sizes))
        return gpd.GeoDataFrame({"value": self.values}, geometry=geoms, crs=out_crs)


def contour_levels(
    scale: ColorScale, values: np.ndarray, levels: Sequence[float] | None = None, n: int = 10
) -> np.ndarray:
    """Levels to trace: given `levels`, the class edges of a class map, or round levels.

    Parameters
    ----------
    scale : ColorScale
    values : ndarray of shape (H, W)
        Decoded values, NaN where masked.
    levels : sequence of float, optional
        Explicit levels.
    n : int
        About how many round levels for a continuous scale.

    Returns
    -------
    ndarray of dtype float64, increasing
    """
    if levels is not None:
        return np.unique(np.asarray(levels, dtype=np.float64))
    if scale.is_discrete:
        return np.asarray(scale.levels[1:-1], dtype=np.float64)
    from matplotlib.ticker import MaxNLocator

    lo, hi = float(np.nanmin(values)), float(np.nanmax(values))
    if not hi > lo:
        return np.zeros(0)
    ticks = MaxNLocator(n).tick_values(lo, hi)
    return ticks[(ticks > lo) & (ticks < hi)]


def trace(
    values: np.ndarray,
    valid: np.ndarray,
    scale: ColorScale,
    levels: Sequence[float] | None = None,
) -> ContourLines:
    """Trace isolines of the decoded grid in pixel coordinates.

    Parameters
    ----------
    values : ndarray of shape (H, W)
        Decoded values.
    valid : ndarray of shape (H, W) and dtype bool
        Data pixels; lines never cross other pixels.
    scale : ColorScale
        Its ``levels`` make a class map (traced at the class edges).
    levels : sequence of float, optional
        Trace these levels instead.

    Returns
    -------
    ContourLines
    """
    height, width = values.shape
    field = np.where(valid, values, np.nan)
    if not valid.any():
        return ContourLines([], np.zeros(0))
    at = contour_levels(scale, field, levels)
    edges = np.asarray(scale.levels, dtype=np.float64) if scale.is_discrete else None
    if edges is not None and levels is None:
        # trace the class index at k + 0.5: exactly between neighbouring classes
        index = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, edges.size - 2)
        field = np.where(valid, index.astype(np.float64), np.nan)
        trace_at = np.arange(1, edges.size - 1) - 0.5
    else:
        trace_at = at
    gen = contourpy.contour_generator(
        np.arange(width) + 0.5,
        np.arange(height) + 0.5,
        np.ma.masked_invalid(field),
        line_type=contourpy.LineType.Separate,
        name="serial",
        corner_mask=True,
    )
    lines, out_values = [], []
    for level, value in zip(trace_at, at, strict=True):
        for line in gen.lines(float(level)):
            if len(line) >= 2:
                lines.append(np.asarray(line, dtype=np.float64))
                out_values.append(value)
    return ContourLines(lines, np.asarray(out_values))


def write_lines(path, frame, layer: str = "contours") -> None:
    """Add a LineString layer to a GeoPackage (created if missing), even when empty."""
    import pyogrio

    pyogrio.write_dataframe(
        frame,
        path,
        layer=layer,
        driver="GPKG",
        geometry_type="LineString",
        append=False,
        promote_to_multi=False,
    )
