"""Georeference: map CRS, residual report, auto, grid placement, georeferenced images."""

import json

import numpy as np
import pyproj
import pytest
import rasterio
from affine import Affine
from rasterio.control import GroundControlPoint

from geodigitize.errors import CRSError, GCPError
from geodigitize.gcps import GCPSet, read_gcps, write_points
from geodigitize.georef import from_georeferenced_image, georeference

SHAPE = (300, 400)  # H, W
MERC = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True)


def _mercator_gcps(step=10, jitter=0.0, seed=0):
    """Graticule GCPs of a Mercator map of 60W-60E, 60S-60N drawn over the image."""
    (x0, x1), (y0, y1) = MERC.transform([-60, 60], [-60, 60])
    lon, lat = np.meshgrid(np.arange(-60, 61, step), np.arange(-60, 61, step))
    lon, lat = lon.ravel().astype(float), lat.ravel().astype(float)
    mx, my = MERC.transform(lon, lat)
    col = 10 + (np.asarray(mx) - x0) / (x1 - x0) * 380
    row = 10 + (y1 - np.asarray(my)) / (y1 - y0) * 280
    rng = np.random.default_rng(seed)
    col = col + rng.normal(0, jitter, col.size)
    row = row + rng.normal(0, jitter, col.size)
    return GCPSet.from_arrays(col, row, lon, lat)


def test_map_crs_makes_mercator_exactly_affine():
    gcps = _mercator_gcps()
    geo = georeference(gcps, SHAPE, kind="affine", crs="EPSG:3857")
    assert geo.crs == "EPSG:3857" and geo.source_crs == "EPSG:4326"
    assert geo.rmse < 1e-6
    assert geo.snapped  # north-up within reading error: rotation written as exactly 0
    gt = geo.geotransform()
    assert gt.b == 0 and gt.d == 0
    lon, lat = geo.pixel_to_crs(gcps.col, gcps.row)
    np.testing.assert_allclose(lon, gcps.x, atol=1e-6)
    np.testing.assert_allclose(lat, gcps.y, atol=1e-6)


def test_affine_in_lon_lat_is_many_pixels_off_on_mercator():
    # asked to fit in lon/lat, it is off and says so; left to itself it finds Mercator
    geo = georeference(_mercator_gcps(), SHAPE, kind="affine", crs="EPSG:4326")
    assert geo.rmse > 3 and "--transform auto" in geo.warnings[0]
    found = georeference(_mercator_gcps(), SHAPE, kind="affine")
    assert found.rmse < 1e-6 and found.crs == "EPSG:3857"


def test_qgis_mean_error_and_map_units():
    gcps = _mercator_gcps(step=30, jitter=0.3)
    geo = georeference(gcps, SHAPE, kind="affine", crs="EPSG:3857", snap=False)
    n = len(gcps)
    expected = np.sqrt(np.sum(geo.residual_norms**2) / (n - 3))
    assert geo.mean_error == pytest.approx(expected)
    # map-unit residuals are the pixel residuals scaled by the pixel size on each axis
    gt = geo.geotransform()
    np.testing.assert_allclose(geo.residuals_map[:, 0] / gt.a, geo.residuals[:, 0], atol=1e-3)
    np.testing.assert_allclose(geo.residuals_map[:, 1] / gt.e, geo.residuals[:, 1], atol=1e-3)


def test_mean_error_undefined_at_the_minimum():
    gcps = GCPSet.from_arrays([0, 100, 0], [0, 0, 50], [-10, 10, -10], [5, 5, -5])
    geo = georeference(gcps, (50, 100))
    assert np.isnan(geo.mean_error)
    assert geo.to_dict()["mean_error_px"] is None


def test_tps_outlier_hidden_by_residuals_is_flagged_by_leave_one_out():
    gcps = _mercator_gcps(step=20)
    pts = list(gcps.points)
    bad = pts[24]
    pts[24] = type(bad)(bad.col + 6, bad.row - 4, bad.x, bad.y, bad.id)
    gcps = GCPSet(tuple(pts), gcps.crs)
    geo = georeference(gcps, SHAPE, kind="tps", crs="EPSG:3857")
    assert geo.rmse < 1e-6  # TPS passes through every GCP, the bad one included
    worst = geo.worst_gcp()
    assert worst["id"] == bad.id and worst["stands_out"]
    assert worst["error_px"] > 5
    assert geo.roundtrip_px is not None


def test_no_outlier_no_flag():
    geo = georeference(_mercator_gcps(jitter=0.2), SHAPE, kind="affine", crs="EPSG:3857")
    assert not geo.worst_gcp()["stands_out"]


def test_auto_without_crs_finds_the_projection():
    geo = georeference(_mercator_gcps(), SHAPE, kind="auto")
    assert geo.selection["chosen"] == "affine-in-projection"
    assert geo.selection["projection"] == "Web Mercator" and geo.crs == "EPSG:3857"
    assert "leave-one-out" in geo.selection["reason"]
    assert geo.rmse < 1e-6
    report = geo.to_dict()
    assert report["auto"]["crs"] == "EPSG:3857"
    json.dumps(report, allow_nan=False)


def test_auto_without_projection_falls_back_to_a_flexible_kind():
    # a rubber-sheet warp no map projection explains
    rng = np.random.default_rng(0)
    col, row = rng.uniform(0, 400, 60), rng.uniform(0, 300, 60)
    lon = -20 + 0.1 * col + 0.02 * np.sin(col / 40) * 10
    lat = 40 - 0.1 * row + 0.02 * np.cos(row / 30) * 10
    geo = georeference(GCPSet.from_arrays(col, row, lon, lat), SHAPE, kind="auto")
    assert geo.selection["chosen"] == geo.transform.kind
    assert geo.transform.kind in ("poly3", "tps") and geo.crs == "EPSG:4326"


def test_auto_with_crs_picks_affine_or_simpler():
    geo = georeference(_mercator_gcps(jitter=0.1), SHAPE, kind="auto", crs="EPSG:3857")
    assert geo.transform.kind in ("helmert", "affine")


def test_report_is_json_and_complete():
    geo = georeference(_mercator_gcps(step=30), SHAPE, kind="poly2")
    report = geo.to_dict()
    json.dumps(report, allow_nan=False)
    assert {
        "rmse_px",
        "mean_error_px",
        "loo_rmse_px",
        "roundtrip_error_px",
        "worst_gcp",
        "residuals",
    } <= set(report)
    assert {"residual_px", "residual_map", "loo_px", "dcol", "drow"} <= set(report["residuals"][0])


def test_unknown_crs_is_one_line():
    with pytest.raises(CRSError, match="unknown CRS 'EPSG:12345678'"):
        georeference(_mercator_gcps(), SHAPE, crs="EPSG:12345678")


def test_gcp_outside_image():
    gcps = GCPSet.from_arrays([0, 100, 0, 500], [0, 0, 50, 10], [0, 1, 0, 2], [0, 0, 1, 3])
    with pytest.raises(GCPError, match="outside the 400x300 image"):
        georeference(gcps, SHAPE)


def test_gcp_at_the_pole_cannot_be_mercator():
    gcps = GCPSet.from_arrays([0, 100, 0, 50], [0, 0, 50, 10], [0, 10, 0, 5], [0, 0, 10, 90])
    with pytest.raises(GCPError, match="cannot be projected"):
        georeference(gcps, SHAPE, crs="+proj=merc +datum=WGS84")


def test_grid_placement_affine_is_unchanged():
    geo = georeference(_mercator_gcps(), SHAPE, crs="EPSG:3857")
    values = np.random.default_rng(0).random(SHAPE)
    grid, gt, crs = geo.grid_placement(values)
    assert grid is values and gt == geo.geotransform() and crs == "EPSG:3857"


@pytest.mark.parametrize("kind", ["tps", "poly3", "projective"])
def test_grid_placement_warps_consistently_with_points(kind):
    geo = georeference(_mercator_gcps(), SHAPE, kind=kind)
    # each pixel holds its own flat index: the grid tells where every cell came from
    values = np.arange(SHAPE[0] * SHAPE[1], dtype=float).reshape(SHAPE)
    grid, gt, crs = geo.grid_placement(values)
    assert crs == "EPSG:4326" and gt.b == 0 and gt.d == 0 and gt.e < 0
    assert 0.5 < grid.size / values.size < 2
    assert np.isnan(grid).any() or kind == "projective"
    rows, cols = np.nonzero(np.isfinite(grid))
    pick = np.linspace(0, rows.size - 1, 500).astype(int)
    xc, yc = gt @ (cols[pick] + 0.5, rows[pick] + 0.5)
    src = grid[rows[pick], cols[pick]].astype(int)
    # every cell holds the value of the pixel its centre falls in, through the same fit
    col, row = geo.map_to_pixel(xc, yc)
    np.testing.assert_array_equal(np.floor(col).astype(int), src % SHAPE[1])
    np.testing.assert_array_equal(np.floor(row).astype(int), src // SHAPE[1])


def test_write_points_with_residuals_round_trip(tmp_path):
    gcps = _mercator_gcps(step=30, jitter=0.5)
    geo = georeference(gcps, SHAPE, crs="EPSG:3857")
    path = write_points(gcps, tmp_path / "m.points", georef=geo)
    lines = path.read_text().splitlines()
    d = [float(v) for v in lines[2].split(",")[5:8]]
    assert d[2] == pytest.approx(geo.residual_norms[0], rel=1e-9)
    back = read_gcps(path)
    geo2 = georeference(back, SHAPE, crs="EPSG:3857")
    assert geo2.rmse == pytest.approx(geo.rmse, rel=1e-12)


def _tiff(path, **kw):
    with rasterio.open(
        path, "w", driver="GTiff", width=40, height=30, count=1, dtype="uint8", **kw
    ) as ds:
        ds.write(np.zeros((1, 30, 40), np.uint8))


def test_geotiff_geotransform(tmp_path):
    gt = Affine(0.5, 0, -20, 0, -0.5, 15)
    _tiff(tmp_path / "a.tif", transform=gt, crs="EPSG:4326")
    geo = from_georeferenced_image(tmp_path / "a.tif")
    assert geo.geotransform() == gt and geo.crs == "EPSG:4326" and geo.origin == "geotransform"
    assert geo.pixel_to_map(0, 0) == (-20, 15)
    json.dumps(geo.to_dict(), allow_nan=False)


def test_geotiff_embedded_gcps(tmp_path):
    gcps = [
        GroundControlPoint(row=r, col=c, x=-20 + 0.5 * c, y=15 - 0.5 * r)
        for c, r in [(0, 0), (40, 0), (0, 30), (40, 30), (20, 15)]
    ]
    _tiff(tmp_path / "g.tif", gcps=gcps, crs="EPSG:4326")
    geo = from_georeferenced_image(tmp_path / "g.tif")
    assert geo.origin == "embedded gcps" and geo.rmse < 1e-9
    np.testing.assert_allclose(geo.pixel_to_map(10, 10), (-15, 10))


def test_world_file_needs_a_crs(tmp_path):
    from PIL import Image

    Image.new("RGB", (40, 30)).save(tmp_path / "m.png")
    assert from_georeferenced_image(tmp_path / "m.png") is None
    # world file: A, D, B, E, C, F with C, F the centre of the top-left pixel
    (tmp_path / "m.pgw").write_text("0.5\n0\n0\n-0.5\n-19.75\n14.75\n")
    with pytest.raises(CRSError, match="pass --crs"):
        from_georeferenced_image(tmp_path / "m.png")
    geo = from_georeferenced_image(tmp_path / "m.png", crs="EPSG:4326")
    assert geo.origin == "world file"
    assert geo.geotransform() == Affine(0.5, 0, -20, 0, -0.5, 15)
