"""Tests of geodigitize.regrid against analytic fields with known answers.

Two kinds of analytic field are used:

* fields defined in the *metric* CRS the module interpolates in (``local_metric_crs``),
  where interpolation theory gives exact answers or rigorous error bounds;
* ``sphere_field`` = a . u with u the unit vector of (lon, lat) and a = (1, 2, 3): a
  smooth function on the sphere with no seam at the antimeridian and no singularity at
  the poles, so any seam or polar artefact shows up as an error. It is Lipschitz:
  |f(p) - f(q)| <= |a| * chord(p, q) with |a| = sqrt(14).
"""

from __future__ import annotations

import logging
import sys

import numpy as np
import pyproj
import pytest
import rasterio
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial import Delaunay, cKDTree

from geodigitize.errors import CRSError, GeodigitizeError, OutputError
from geodigitize.regrid import (
    IDW_NEIGHBOURS,
    METHODS,
    RegridError,
    RegridResult,
    local_metric_crs,
    read_points,
    regrid,
)

SPHERE_A = np.array([1.0, 2.0, 3.0])
L = 300e3  # length scale (m) of the metric test field: wavelength 2*pi*L ~ 1900 km


def unit(lon, lat):
    """Unit vectors (n, 3) of lon/lat in degrees."""
    lon, lat = np.radians(lon), np.radians(lat)
    return np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)], -1)


def sphere_field(lon, lat):
    """a . u(lon, lat): smooth on the sphere, seamless at 180 and at the poles."""
    return unit(lon, lat) @ SPHERE_A


def centres(result: RegridResult):
    """Meshgrids (ny, nx) of cell-centre x and y, in the result's CRS."""
    x, y = result.cell_centres()
    return np.meshgrid(x, y)


def box_points(n, west, east, south, north, seed=0):
    """n random points in a lon/lat box plus its 4 corners (so the hull is the box)."""
    rng = np.random.default_rng(seed)
    lon = np.concatenate([[west, east, west, east], rng.uniform(west, east, n - 4)])
    lat = np.concatenate([[south, south, north, north], rng.uniform(south, north, n - 4)])
    return lon, lat


@pytest.fixture(scope="module")
def europe():
    """800 points over 0-10E, 40-50N, their metric CRS and projector."""
    lon, lat = box_points(800, 0.0, 10.0, 40.0, 50.0)
    proj = pyproj.Transformer.from_crs("EPSG:4326", local_metric_crs(lon, lat), always_xy=True)
    return lon, lat, proj


def wave(proj, lon, lat):
    """sin(x/L) cos(y/L) in metric coordinates: |grad| <= 1/L, |Hessian| <= 1/L**2."""
    x, y = proj.transform(lon, lat)
    return np.sin(x / L) * np.cos(y / L)


# --------------------------------------------------------------------------- exactness


@pytest.mark.parametrize(("method", "tol"), [("linear", 1e-9), ("spline", 1e-9), ("cubic", 1e-6)])
def test_linear_metric_field_is_reproduced(europe, method, tol):
    # A plane in the metric CRS: barycentric interpolation is exact (float noise only);
    # verde's spline is fitted after a degree-1 trend, which absorbs the plane exactly;
    # Clough-Tocher is exact for planes given exact gradients, and scipy estimates them
    # iteratively to a relative tolerance of 1e-6 (on values scaled to a range of 1).
    lon, lat, proj = europe

    def plane(lo, la):
        x, y = proj.transform(lo, la)
        return 3e-6 * x - 2e-6 * y + 5.0  # spans about 5 units over the box

    result = regrid(lon, lat, plane(lon, lat), res=0.1, method=method)
    xx, yy = centres(result)
    inside = np.isfinite(result.data)
    assert inside.mean() > 0.95
    np.testing.assert_allclose(result.data[inside], plane(xx, yy)[inside], rtol=0, atol=tol)


@pytest.mark.parametrize(
    ("method", "atol"),
    [("nearest", 0), ("idw", 0), ("linear", 1e-12), ("cubic", 1e-9), ("kriging", 1e-6),
     ("spline", 2e-3)],
)  # fmt: skip
def test_exact_at_data_locations(method, atol):
    # Points sit on cell centres, values from a smooth field of amplitude 1: exact
    # interpolators return the data there. Kriging (exact_values=True) solves a linear
    # system, hence 1e-6; verde's spline is damped (SPLINE_DAMPING = 1e-8), which costs
    # an observed misfit of ~6e-4 of the range on smooth data, so 2e-3 (range is 2).
    lon, lat, rows, cols = cell_centre_points(300, seed=3)
    values = np.sin(np.radians(30 * lon)) * np.cos(np.radians(20 * lat))
    result = regrid(lon, lat, values, res=0.25, bounds=(0, 0, 10, 10), method=method)
    got = result.data[rows, cols]
    np.testing.assert_allclose(got, values, rtol=0, atol=atol)


@pytest.mark.parametrize("method", METHODS)
def test_constant_field_is_reproduced(europe, method):
    lon, lat, _ = europe
    result = regrid(lon, lat, np.full(lon.size, 7.5), res=0.25, method=method)
    inside = np.isfinite(result.data)
    assert inside.mean() > 0.9
    np.testing.assert_allclose(result.data[inside], 7.5, rtol=0, atol=1e-9)


# --------------------------------------------------------------------------- smooth field


def test_nearest_and_idw_obey_lipschitz_bound(europe):
    # Both return a convex combination of values at the k nearest points (k = 1 or
    # IDW_NEIGHBOURS), so |error| <= max|grad f| * (distance to the k-th nearest point)
    # with max|grad f| = 1/L. Distances are computed here independently in metres.
    lon, lat, proj = europe
    xy = np.column_stack(proj.transform(lon, lat))
    for method, k in (("nearest", 1), ("idw", IDW_NEIGHBOURS)):
        result = regrid(lon, lat, wave(proj, lon, lat), res=0.1, method=method)
        xx, yy = centres(result)
        inside = np.isfinite(result.data)
        cells = np.column_stack(proj.transform(xx[inside], yy[inside]))
        dk = cKDTree(xy).query(cells, k=[k])[0][:, 0]
        error = np.abs(result.data[inside] - wave(proj, xx[inside], yy[inside]))
        assert np.all(error <= dk / L + 1e-9), method


def test_linear_obeys_interpolation_error_bound(europe):
    # For P1 interpolation on a triangle with vertices v_i, |f(p) - I f(p)| <=
    # (M / 2) * max_i |p - v_i|**2 where M bounds the Hessian norm (1/L**2 here).
    lon, lat, proj = europe
    result = regrid(lon, lat, wave(proj, lon, lat), res=0.1, method="linear")
    xx, yy = centres(result)
    inside = np.isfinite(result.data)
    xy = np.column_stack(proj.transform(lon, lat))
    cells = np.column_stack(proj.transform(xx[inside], yy[inside]))
    tri = Delaunay(xy)
    vertices = xy[tri.simplices[tri.find_simplex(cells)]]  # (m, 3, 2)
    reach = ((vertices - cells[:, None, :]) ** 2).sum(-1).max(-1)
    error = np.abs(result.data[inside] - wave(proj, xx[inside], yy[inside]))
    assert np.all(error <= reach / (2 * L**2) + 1e-9)


@pytest.mark.parametrize(
    ("method", "max_tol", "rms_vs_linear"),
    [("cubic", 0.01, 0.5), ("spline", 0.02, 0.7), ("kriging", 0.03, 1.0)],
)
def test_smooth_methods_beat_linear(europe, method, max_tol, rms_vs_linear):
    # No closed-form pointwise bound here, so compare with linear on the same data:
    # the field is sampled ~75 times per wavelength, where C1 cubics and the biharmonic
    # spline are higher order than P1 (RMS error at most 0.5 / 0.7 of linear's) and
    # kriging is no worse; the max error (sliver triangles on the hull) stays within
    # 1-3 % of the field's amplitude (1).
    lon, lat, proj = europe
    values = wave(proj, lon, lat)
    linear = regrid(lon, lat, values, res=0.2, method="linear")
    result = regrid(lon, lat, values, res=0.2, method=method)
    xx, yy = centres(result)
    truth = wave(proj, xx, yy)
    rms = {r.method: np.sqrt(np.nanmean((r.data - truth) ** 2)) for r in (linear, result)}
    assert np.nanmax(np.abs(result.data - truth)) < max_tol
    assert rms[method] <= rms_vs_linear * rms["linear"]


# --------------------------------------------------------------------------- pole, antimeridian

SPHERE_TOL = {"linear": 3e-3, "cubic": 1e-3, "spline": 1e-3, "kriging": 3e-2}


def check_sphere(result, lon, lat, method):
    """Compare with sphere_field: Lipschitz bound for nearest/idw, tolerance otherwise.

    nearest/idw average values of the k nearest points (in the metric CRS, whose scale
    distortion is < 0.2 % this close to its centre), so |error| <= sqrt(14) * 1.01 *
    chord distance to the k-th nearest point. The others: points are ~0.8 deg (box) or
    ~0.4 deg (cap) apart, so P1's interior error M h**2 / 2 ~ 3.74 * 0.014**2 / 2 ~ 4e-4;
    long hull-edge slivers reach ~1e-3 (observed 9.6e-4), hence 3e-3 for linear; C1
    cubic and the spline are higher order (observed <= 1.1e-4): 1e-3. Kriging's fitted
    spherical variogram with a 24-point window is not exact for this smooth trend
    (observed 1.4e-2 in hull slivers): 3e-2, i.e. < 1 % of the field's amplitude 3.74.
    A seam at 180 deg or a wedge at the pole would give errors of order 1.
    """
    xx, yy = centres(result)
    inside = np.isfinite(result.data)
    error = np.abs(result.data - sphere_field(xx, yy))[inside]
    if method in ("nearest", "idw"):
        k = 1 if method == "nearest" else IDW_NEIGHBOURS
        dk = cKDTree(unit(lon, lat)).query(unit(xx[inside], yy[inside]), k=[k])[0][:, 0]
        assert np.all(error <= np.sqrt(14) * 1.01 * dk + 1e-12)
    else:
        assert error.max() < SPHERE_TOL[method]


@pytest.fixture(scope="module")
def polar_cap():
    """600 points uniform in area over 85N-90N, plus the pole itself."""
    rng = np.random.default_rng(5)
    lat = np.degrees(np.arcsin(rng.uniform(np.sin(np.radians(85)), 1, 600)))
    return np.append(rng.uniform(-180, 180, 600), 0.0), np.append(lat, 90.0)


@pytest.mark.parametrize("method", METHODS)
def test_pole(polar_cap, method):
    lon, lat = polar_cap
    result = regrid(lon, lat, sphere_field(lon, lat), res=0.5, method=method)
    # The pole is inside the hull, so the default grid spans every longitude up to 90N
    # and the top row (89.75N) is fully inside: no hole or wedge at the pole.
    assert tuple(result.transform)[:6] == (0.5, 0.0, -180.0, 0.0, -0.5, 90.0)
    assert result.data.shape == (10, 720)
    assert np.isfinite(result.data[:3]).all()
    check_sphere(result, lon, lat, method)


@pytest.fixture(scope="module")
def antimeridian():
    """600 points over 170E-170W (given as -180..180 longitudes), 10S-10N."""
    lon, lat = box_points(600, 170.0, 190.0, -10.0, 10.0, seed=6)
    return (lon + 180.0) % 360.0 - 180.0, lat


@pytest.mark.parametrize("method", METHODS)
def test_antimeridian(antimeridian, method):
    lon, lat = antimeridian
    values = sphere_field(lon, lat)
    result = regrid(lon, lat, values, res=0.5, method=method)
    # Default bounds take the short way round: 170E eastward to 190 (= 170W), as GDAL.
    assert tuple(result.transform)[:6] == (0.5, 0.0, 170.0, 0.0, -0.5, 10.0)
    assert result.data.shape == (40, 40)
    x, _ = result.cell_centres()
    assert x[0] == 170.25 and x[-1] == 189.75
    assert np.isfinite(result.data[2:-2, 18:22]).all()  # the columns either side of 180
    check_sphere(result, lon, lat, method)
    explicit = regrid(lon, lat, values, res=0.5, bounds=(170, -10, -170, 10), method=method)
    np.testing.assert_array_equal(explicit.data, result.data)


# --------------------------------------------------------------------------- masking


@pytest.fixture(scope="module")
def lattice():
    """Points on a regular 0.5 deg lattice over 0-5E, 0-5N with a smooth field."""
    lon, lat = (a.ravel() for a in np.meshgrid(np.arange(0, 5.01, 0.5), np.arange(0, 5.01, 0.5)))
    return lon, lat, np.sin(np.radians(20 * lon)) + np.cos(np.radians(15 * lat))


def test_cells_outside_hull_are_nan_for_every_method(lattice):
    lon, lat, values = lattice
    masks = []
    for method in METHODS:
        result = regrid(lon, lat, values, res=0.25, bounds=(-2, -2, 8, 7), method=method)
        xx, yy = centres(result)
        outside = (xx < -0.2) | (xx > 5.2) | (yy < -0.2) | (yy > 5.2)
        inside = (xx > 0.2) & (xx < 4.8) & (yy > 0.2) & (yy < 4.8)
        assert np.isnan(result.data[outside]).all(), method
        assert np.isfinite(result.data[inside]).all(), method
        masks.append(np.isnan(result.data))
    assert all(np.array_equal(masks[0], mask) for mask in masks)


@pytest.mark.parametrize("method", METHODS)
def test_max_distance_masks_far_cells(method):
    # Points on the integer lon/lat lattice near the equator, cells every 0.25 deg:
    # a cell centre at (0.125 or 0.875, 0.125 or 0.875) from a lattice point is ~20 km
    # from it; every other cell is >= 44 km from any point. With max_distance = 30 km
    # exactly the former survive (the margin dwarfs projection distortion).
    lon, lat = (a.ravel() for a in np.meshgrid(np.arange(0, 7.0), np.arange(-3, 4.0)))
    values = 1.0 + 0.1 * lon - 0.05 * lat
    result = regrid(lon, lat, values, res=0.25, method=method, max_distance=30e3)
    assert tuple(result.transform)[:6] == (0.25, 0.0, 0.0, 0.0, -0.25, 3.0)
    xx, yy = centres(result)
    near = np.isin(xx % 1, (0.125, 0.875)) & np.isin(yy % 1, (0.125, 0.875))
    np.testing.assert_array_equal(np.isfinite(result.data), near)


def test_duplicate_points_are_averaged():
    # Two values at (0, 0) become one point worth their mean (2), so every nearest
    # neighbour value is 2 and the field is flat.
    result = regrid([0, 0, 1, 0], [0, 0, 0, 1], [1, 3, 2, 2], res=0.25, method="nearest")
    assert set(np.unique(result.data[np.isfinite(result.data)])) == {2.0}


def test_default_bounds_snap_outward():
    lon, lat = box_points(50, 0.3, 9.7, 40.2, 49.9, seed=8)
    result = regrid(lon, lat, lon + lat, res=0.5)
    assert tuple(result.transform)[:6] == (0.5, 0.0, 0.0, 0.0, -0.5, 50.0)
    assert result.data.shape == (20, 20)
    assert result.crs == "EPSG:4326" and result.method == "linear"


def test_projected_out_crs(europe):
    # Grid in Web Mercator metres; the field is evaluated at cell centres mapped back.
    lon, lat, _ = europe
    # Cubic is accurate to ~2e-4 here; a grid misplaced by one 20 km cell would err by
    # up to sqrt(14) * 20 km / R ~ 1e-2.
    result = regrid(lon, lat, sphere_field(lon, lat), res=20e3, out_crs="EPSG:3857",
                    method="cubic")  # fmt: skip
    assert result.crs == "EPSG:3857"
    xx, yy = centres(result)
    clon, clat = pyproj.Transformer.from_crs("EPSG:3857", "EPSG:4326", always_xy=True).transform(
        xx, yy
    )
    inside = np.isfinite(result.data)
    assert inside.mean() > 0.9
    assert np.abs(result.data - sphere_field(clon, clat))[inside].max() < 1e-3


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), method=st.sampled_from(["nearest", "linear", "idw"]))
def test_convex_methods_stay_within_data_range(seed, method):
    rng = np.random.default_rng(seed)
    lon, lat = rng.uniform(-5, 5, 30), rng.uniform(-5, 5, 30)
    values = rng.normal(size=30)
    data = regrid(lon, lat, values, res=0.5, method=method).data
    assert np.nanmin(data) >= values.min() - 1e-12
    assert np.nanmax(data) <= values.max() + 1e-12


def cell_centre_points(n, seed):
    """n random distinct cell centres of the 0.25 deg grid over (0, 0, 10, 10)."""
    rng = np.random.default_rng(seed)
    pick = rng.choice(1600, n, replace=False)
    rows, cols = pick // 40, pick % 40
    return 0.25 * (cols + 0.5), 10.0 - 0.25 * (rows + 0.5), rows, cols


def test_kriging_variance():
    # Kriging variance is ~0 at the data (exact_values) and positive between them.
    lon, lat, rows, cols = cell_centre_points(300, seed=9)
    values = np.sin(np.radians(30 * lon)) * np.cos(np.radians(20 * lat))
    result = regrid(lon, lat, values, res=0.25, bounds=(0, 0, 10, 10), method="kriging")
    variance = result.variance
    assert variance is not None and variance.shape == result.data.shape
    np.testing.assert_array_equal(np.isnan(variance), np.isnan(result.data))
    at_data = np.zeros(variance.shape, bool)
    at_data[rows, cols] = True
    assert np.nanmax(variance[at_data]) < 1e-9 * np.nanmax(variance)
    assert np.nanmin(variance[~at_data]) > 0
    assert regrid(lon, lat, values, res=0.25, method="linear").variance is None


# --------------------------------------------------------------------------- validation


def test_errors_are_geodigitize_value_errors():
    assert issubclass(RegridError, GeodigitizeError) and issubclass(RegridError, ValueError)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"method": "bilinear"}, "nearest, linear, cubic, spline, idw, kriging"),
        ({"res": 0}, "res must be a number > 0"),
        ({"res": -0.5}, "res must be a number > 0"),
        ({"res": float("nan")}, "res must be a number > 0"),
        ({"max_distance": 0}, "max_distance must be > 0"),
        ({"bounds": (0, 5, 5, 0)}, "S < N"),
        ({"bounds": (0, -100, 5, 5)}, r"\[-90, 90\]"),
        ({"bounds": (5, 0, 5, 5)}, "0 < E - W <= 360"),
        ({"bounds": (0, 0, 5)}, "4 numbers"),
        ({"bounds": (5e5, 0, 0, 5e5), "out_crs": "EPSG:3857", "res": 1e4}, "W < E"),
    ],
)
def test_bad_options_say_how_to_fix(kwargs, match):
    lon, lat = box_points(10, 0, 5, 0, 5)
    options = {"res": 0.5, **kwargs}
    with pytest.raises(RegridError, match=match):
        regrid(lon, lat, lon, **options)


def test_bad_points():
    with pytest.raises(RegridError, match="same length"):
        regrid([0, 1, 2], [0, 1, 2], [1, 2], res=1)
    with pytest.raises(RegridError, match="at least 3 points"):
        regrid([0, 1, np.nan], [0, 1, 0], [1, 2, 3], res=1)
    with pytest.raises(RegridError, match="collinear"):
        regrid([0, 1, 2, 3], [0, 0, 0, 0], [1, 2, 3, 4], res=1, crs="EPSG:3857")
    with pytest.raises(RegridError, match="swapped"):
        regrid([0, 1, 2], [0, 100, 0], [1, 2, 3], res=1)
    with pytest.raises(RegridError, match="too large"):
        regrid([0, 10, 0], [0, 0, 10], [1, 2, 3], res=1e-4)


def test_bad_crs():
    lon, lat = box_points(10, 0, 5, 0, 5)
    with pytest.raises(CRSError, match="projected CRS in metres"):
        regrid(lon, lat, lon, res=0.5, crs="EPSG:4326")
    with pytest.raises(CRSError, match="not a CRS pyproj knows"):
        regrid(lon, lat, lon, res=0.5, out_crs="EPSG:999999")


def test_non_finite_points_are_dropped_with_warning(europe, caplog):
    lon, lat, proj = europe
    values = wave(proj, lon, lat)
    clean = regrid(lon, lat, values, res=0.25)
    lon2, lat2, values2 = (np.append(a, b) for a, b in ((lon, [np.nan, 5]), (lat, [45, 45]),
                                                          (values, [1, np.inf])))  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="geodigitize.regrid"):
        dirty = regrid(lon2, lat2, values2, res=0.25)
    assert "dropping 2 of 802 points" in caplog.text
    np.testing.assert_array_equal(dirty.data, clean.data)


@pytest.mark.parametrize(("module", "call"), [("verde", "spline"), ("pykrige", "kriging")])
def test_missing_extra_names_pip_install(monkeypatch, module, call):
    lon, lat = box_points(10, 0, 5, 0, 5)
    monkeypatch.setitem(sys.modules, module, None)
    monkeypatch.setitem(sys.modules, f"{module}.ok", None)
    with pytest.raises(RegridError, match=r"pip install geodigitize\[regrid\]"):
        regrid(lon, lat, lon, res=0.5, method=call)


# --------------------------------------------------------------------------- outputs


@pytest.fixture(scope="module")
def small():
    lon, lat = box_points(60, 0, 4, 0, 3, seed=10)
    return lon, lat, sphere_field(lon, lat)


def read_tif(path):
    with rasterio.open(path) as src:
        return src.read(), src.profile, src.descriptions, src.tags(ns="IMAGE_STRUCTURE")


@pytest.mark.parametrize("method", ["linear", "kriging"])
def test_write_round_trips(tmp_path, small, method):
    result = regrid(*small, res=0.25, method=method)
    path = tmp_path / "grid.tif"
    result.write(path)
    bands, profile, descriptions, structure = read_tif(path)
    expected = [result.data] + ([result.variance] if method == "kriging" else [])
    assert bands.dtype == np.float32 and bands.shape == (len(expected), *result.data.shape)
    assert descriptions == ("value", "variance")[: len(expected)]
    np.testing.assert_array_equal(bands, np.stack(expected).astype(np.float32))
    assert profile["crs"] == rasterio.crs.CRS.from_epsg(4326)
    assert profile["transform"] == result.transform
    assert np.isnan(profile["nodata"]) and profile["tiled"]
    assert structure["COMPRESSION"] == "DEFLATE" and structure["PREDICTOR"] == "3"
    assert [p.name for p in tmp_path.iterdir()] == ["grid.tif"]  # no temporary left


def test_write_refuses_to_overwrite(tmp_path, small):
    result = regrid(*small, res=0.25)
    path = tmp_path / "grid.tif"
    path.write_bytes(b"keep me")
    with pytest.raises(OutputError, match="overwrite=True"):
        result.write(path)
    assert path.read_bytes() == b"keep me"
    result.write(path, overwrite=True)
    np.testing.assert_array_equal(read_tif(path)[0][0], result.data.astype(np.float32))
    with pytest.raises(OutputError, match="does not exist"):
        result.write(tmp_path / "missing" / "grid.tif")


def test_write_antimeridian_grid_runs_past_180(tmp_path, antimeridian):
    lon, lat = antimeridian
    result = regrid(lon, lat, sphere_field(lon, lat), res=0.5)
    result.write(tmp_path / "am.tif")
    with rasterio.open(tmp_path / "am.tif") as src:
        assert tuple(src.bounds) == (170.0, -10.0, 190.0, 10.0)


def test_to_xarray_coords_are_cell_centres(small):
    result = regrid(*small, res=0.25, method="kriging")
    da = result.to_xarray()
    assert da.dims == ("lat", "lon") and da.name == "value"
    t = result.transform
    np.testing.assert_array_equal(da["lon"], t.c + t.a * (np.arange(da.sizes["lon"]) + 0.5))
    np.testing.assert_array_equal(da["lat"], t.f + t.e * (np.arange(da.sizes["lat"]) + 0.5))
    assert da.attrs["crs"] == "EPSG:4326" and da.attrs["transform"] == tuple(t)[:6]
    np.testing.assert_array_equal(da["variance"].values, result.variance)
    np.testing.assert_array_equal(da.values, result.data)
    projected = regrid(*small, res=50e3, out_crs="EPSG:3857").to_xarray()
    assert projected.dims == ("y", "x")


def test_to_xarray_without_xarray(monkeypatch, small):
    result = regrid(*small, res=0.25)
    monkeypatch.setitem(sys.modules, "xarray", None)
    with pytest.raises(RegridError, match=r"pip install geodigitize\[regrid\]"):
        result.to_xarray()


# --------------------------------------------------------------------------- read_points


def write_gpkg(path, lon, lat, values, crs="EPSG:4326"):
    import geopandas as gpd

    gdf = gpd.GeoDataFrame({"value": values}, geometry=gpd.points_from_xy(lon, lat), crs=4326)
    gdf.to_crs(crs).to_file(path, layer="points", driver="GPKG", engine="pyogrio")


def test_read_points(tmp_path, small):
    lon, lat, values = small
    write_gpkg(tmp_path / "p.gpkg", lon, lat, values)
    got = read_points(tmp_path / "p.gpkg")
    for a, b in zip(got, small, strict=True):
        np.testing.assert_array_equal(a, b)


def test_read_points_reprojects_to_wgs84(tmp_path, small):
    lon, lat, values = small
    write_gpkg(tmp_path / "p.gpkg", lon, lat, values, crs="EPSG:3857")
    got_lon, got_lat, got_values = read_points(tmp_path / "p.gpkg")
    np.testing.assert_allclose(got_lon, lon, atol=1e-9)
    np.testing.assert_allclose(got_lat, lat, atol=1e-9)
    np.testing.assert_array_equal(got_values, values)


def test_read_points_errors(tmp_path, small):
    write_gpkg(tmp_path / "p.gpkg", *small)
    with pytest.raises(RegridError, match="no column 'temp'; columns: value"):
        read_points(tmp_path / "p.gpkg", column="temp")
    with pytest.raises(RegridError, match="no layer 'pts'; layers: points"):
        read_points(tmp_path / "p.gpkg", layer="pts")
    with pytest.raises(RegridError, match="does not exist"):
        read_points(tmp_path / "nope.gpkg")
