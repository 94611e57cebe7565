"""Projected maps given lon/lat GCPs and no CRS: placed within 1 px by default, and fits
far beyond reading error say so (issue 15, input side)."""

import numpy as np
import pyproj
import pytest

from geodigitize.gcps import GCPSet
from geodigitize.georef import WARN_RMSE_PX, georeference

SIZE = 800  # square image, pixels


def _projected_map(crs: str, lon, lat, margin: int = 40):
    """Exact GCPs of a map drawn in `crs` (graticule intersections projected by pyproj, then
    scaled to pixels), and the function lon/lat -> true pixel."""
    fwd = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    lon, lat = np.meshgrid(lon, lat)
    lon, lat = lon.ravel().astype(float), lat.ravel().astype(float)
    mx, my = (np.asarray(a) for a in fwd.transform(lon, lat))
    x0, y1 = mx.min(), my.max()
    scale = (SIZE - 2 * margin) / max(np.ptp(mx), np.ptp(my))  # pixels per metre

    def to_pixel(lon_, lat_):
        px, py = fwd.transform(lon_, lat_)
        return margin + (np.asarray(px) - x0) * scale, margin + (y1 - np.asarray(py)) * scale

    col, row = to_pixel(lon, lat)
    return GCPSet.from_arrays(col, row, lon, lat), to_pixel


MAPS = {
    "mercator": ("EPSG:3395", np.arange(-60, 61, 10), np.arange(-70, 71, 10)),
    "polar stereographic": ("EPSG:3413", np.arange(-180, 180, 10), np.arange(50, 81, 10)),
}


@pytest.mark.parametrize("name", list(MAPS))
def test_projected_map_is_placed_within_a_pixel_by_default(name):
    crs, lon, lat = MAPS[name]
    gcps, to_pixel = _projected_map(crs, lon, lat)
    geo = georeference(gcps, (SIZE, SIZE))  # the default transform, no crs
    cc, rr = np.meshgrid(np.linspace(60, SIZE - 60, 25), np.linspace(60, SIZE - 60, 25))
    glon, glat = geo.pixel_to_crs(cc.ravel(), rr.ravel())
    c2, r2 = to_pixel(glon, glat)  # where the truth draws what we placed at (cc, rr)
    err = np.hypot(c2 - cc.ravel(), r2 - rr.ravel())
    assert err.max() < 1.0
    assert geo.rmse < 1e-3
    assert geo.selection["chosen"] == "affine-in-projection"
    assert any("give --crs" in w for w in geo.warnings)
    # without detection the same GCPs were tens of pixels (or far more) off
    plain = georeference(gcps, (SIZE, SIZE), crs="EPSG:4326")
    assert plain.rmse > WARN_RMSE_PX
    assert any("give --crs" not in w and "--transform auto" in w for w in plain.warnings)


def test_plate_carree_stays_in_lon_lat():
    lon, lat = np.meshgrid(np.arange(-30, 31, 10.0), np.arange(-20, 21, 10.0))
    col, row = 100 + 5 * (lon + 30), 100 + 5 * (20 - lat)
    rng = np.random.default_rng(1)
    gcps = GCPSet.from_arrays(
        col.ravel() + rng.normal(0, 0.8, lon.size),
        row.ravel() + rng.normal(0, 0.8, lon.size),
        lon.ravel(),
        lat.ravel(),
    )
    geo = georeference(gcps, (400, 500))
    assert geo.crs == "EPSG:4326" and geo.selection is None and geo.warnings == ()


def test_affine_far_beyond_reading_error_warns_with_the_fix():
    lon, lat = np.meshgrid(np.arange(0, 41, 10.0), np.arange(0, 41, 10.0))
    lon, lat = lon.ravel(), lat.ravel()
    col = 50 + 8 * lon + 0.08 * lon * lat  # a bent scan no map projection explains
    row = 50 + 8 * (40 - lat) + 0.05 * lon**2
    geo = georeference(GCPSet.from_arrays(col, row, lon, lat), (500, 500))
    assert geo.rmse > WARN_RMSE_PX
    assert len(geo.warnings) == 1
    assert "RMSE" in geo.warnings[0] and "--crs" in geo.warnings[0]
    assert "--transform auto" in geo.warnings[0]
    assert geo.to_dict()["warnings"] == list(geo.warnings)


def test_tps_does_not_pass_off_rmse_zero_as_accuracy():
    lon, lat = np.meshgrid(np.arange(0, 41, 10.0), np.arange(0, 41, 10.0))
    rng = np.random.default_rng(2)
    col = 50 + 8 * lon.ravel() + rng.normal(0, 2, lon.size)
    row = 50 + 8 * (40 - lat.ravel()) + rng.normal(0, 2, lon.size)
    geo = georeference(
        GCPSet.from_arrays(col, row, lon.ravel(), lat.ravel()), (500, 500), kind="tps"
    )
    assert geo.rmse < 1e-6
    value, name = geo.fit_error
    assert name == "leave-one-out RMSE" and value == pytest.approx(geo.loo_rmse) and value > 1
    assert "leave-one-out RMSE" in geo.summary() and "by construction" in geo.summary()
    assert geo.to_dict()["rmse_by_construction"] is True
    assert any("0 by construction" in w for w in geo.warnings)
