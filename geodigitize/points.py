"""The kept points of a run as a GeoDataFrame: one point per cluster, on the map."""

from __future__ import annotations

import numpy as np

from .georef import Georeference
from .reduce import Clusters

__all__ = ["points_frame"]


def points_frame(clusters: Clusters, geo: Georeference, out_crs: str):
    """One point per cluster, placed by `geo` in `out_crs`.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``value`` (float64), ``col``, ``row`` (pixel centre of the cluster's
        representative, GDAL convention), ``n_pixels`` (int64), Point geometry.
    """
    import geopandas as gpd

    x, y = geo.pixel_to_crs(clusters.col, clusters.row, out_crs)
    return gpd.GeoDataFrame(
        {
            "value": clusters.value.astype(np.float64),
            "col": clusters.col.astype(np.float64),
            "row": clusters.row.astype(np.float64),
            "n_pixels": clusters.n_pixels.astype(np.int64),
        },
        geometry=gpd.points_from_xy(x, y),
        crs=out_crs,
    )
