"""points.gpkg written from arrays (no geopandas) is the file geopandas writes."""

from __future__ import annotations

import re
import sqlite3

import numpy as np
import pytest
import shapely

from geodigitize.io import point_wkb, write_point_arrays, write_points
from geodigitize.points import FIELDS, PointTable


def _table(n: int, crs: str) -> PointTable:
    rng = np.random.default_rng(n)
    return PointTable(
        rng.random(n),
        rng.random(n) * 100,
        rng.random(n) * 100,
        rng.integers(1, 1000, n).astype(np.int64),
        rng.random(n) * 360 - 180,
        rng.random(n) * 180 - 90,
        crs,
    )


def _dump(path) -> list[str]:
    """The GeoPackage's SQL, its timestamps (the time of writing) blanked."""
    with sqlite3.connect(path) as con:
        lines = list(con.iterdump())
    return [re.sub(r"'\d{4}-\d\d-\d\dT[\d:.]+Z'", "'T'", line) for line in lines]


@pytest.mark.parametrize(
    ("n", "crs"),
    [
        (0, "EPSG:4326"),
        (1, "EPSG:4326"),
        (37, "EPSG:4326"),
        (5, "EPSG:3857"),
        (4, "+proj=robin +lon_0=0 +datum=WGS84"),
    ],
)
def test_array_writer_writes_what_geopandas_writes(tmp_path, n, crs):
    table = _table(n, crs)
    by_frame, by_arrays = tmp_path / "frame.gpkg", tmp_path / "arrays.gpkg"
    write_points(by_frame, table.to_frame())
    write_point_arrays(by_arrays, table.x, table.y, table.fields(), table.crs)
    assert _dump(by_arrays) == _dump(by_frame)  # tables, schema, CRS, rows, rtree


def test_point_wkb_is_shapelys():
    x = np.array([1.5, -170.25, np.nan, 0.0, -0.0, 1e300])
    y = np.array([2.5, 89.9, np.nan, -0.0, 0.0, -1e-300])
    ours = point_wkb(x, y)
    assert ours.dtype == object and ours.shape == (6,)
    assert list(ours) == list(shapely.to_wkb(shapely.points(x, y)))
    assert point_wkb(np.zeros(0), np.zeros(0)).shape == (0,)


def test_table_frame_columns():
    frame = _table(3, "EPSG:4326").to_frame()
    assert list(frame.columns) == [*FIELDS, "geometry"]
    assert frame["n_pixels"].dtype == np.int64 and frame["value"].dtype == np.float64
    assert frame.crs.to_epsg() == 4326
