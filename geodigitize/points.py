"""The kept points of a run: one point per cluster, on the map, as plain arrays
(:class:`PointTable`, what ``points.gpkg`` is written from) or a GeoDataFrame."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .georef import Georeference
from .reduce import Clusters

__all__ = ["FIELDS", "PointTable", "point_table", "points_frame"]

#: The attribute columns of the points, in order (the geometry comes after them).
FIELDS = ("value", "col", "row", "n_pixels")


@dataclass(frozen=True, eq=False)
class PointTable:
    """One point per cluster, as arrays (no geopandas needed to hold or write them).

    Attributes
    ----------
    value, col, row : ndarray of shape (N,) and dtype float64
        The cluster's value and its representative's pixel centre (GDAL convention).
    n_pixels : ndarray of shape (N,) and dtype int64
    x, y : ndarray of shape (N,) and dtype float64
        The point in `crs`.
    crs : str
        As the user gave it (``out_crs``).
    """

    value: np.ndarray
    col: np.ndarray
    row: np.ndarray
    n_pixels: np.ndarray
    x: np.ndarray
    y: np.ndarray
    crs: str

    def __len__(self) -> int:
        return int(self.value.size)

    def fields(self) -> dict[str, np.ndarray]:
        """The attribute columns (:data:`FIELDS`), name to array."""
        return {name: getattr(self, name) for name in FIELDS}

    def to_frame(self):
        """The points as a GeoDataFrame: columns :data:`FIELDS`, Point geometry in
        :attr:`crs`."""
        import geopandas as gpd

        return gpd.GeoDataFrame(
            self.fields(), geometry=gpd.points_from_xy(self.x, self.y), crs=self.crs
        )


def point_table(clusters: Clusters, geo: Georeference, out_crs: str) -> PointTable:
    """One point per cluster, placed by `geo` in `out_crs`."""
    x, y = geo.pixel_to_crs(clusters.col, clusters.row, out_crs)
    return PointTable(
        clusters.value.astype(np.float64),
        clusters.col.astype(np.float64),
        clusters.row.astype(np.float64),
        clusters.n_pixels.astype(np.int64),
        np.asarray(x, dtype=np.float64),
        np.asarray(y, dtype=np.float64),
        out_crs,
    )


def points_frame(clusters: Clusters, geo: Georeference, out_crs: str):
    """One point per cluster, placed by `geo` in `out_crs`.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``value`` (float64), ``col``, ``row`` (pixel centre of the cluster's
        representative, GDAL convention), ``n_pixels`` (int64), Point geometry.
    """
    return point_table(clusters, geo, out_crs).to_frame()
