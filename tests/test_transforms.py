"""Transforms: GDAL's and QGIS's own reference cases, exactness, and degenerate GCPs."""

import numpy as np
import pytest

from geodigitize.errors import GCPError, TransformError
from geodigitize.transforms import (
    KINDS,
    AffineTransform,
    AutoTransform,
    HelmertTransform,
    PolynomialTransform,
    ProjectiveTransform,
    TPSTransform,
    make_transform,
)

ALL_KINDS = ["helmert", "affine", "projective", "poly2", "poly3", "tps"]


def _gdal_gt(t: AffineTransform) -> tuple:
    return t.to_affine().to_gdal()


# GDAL autotest/gcore/gcps2geotransform.py
def test_gcps2geotransform_exact():
    gcps = np.array(
        [(0.0, 0.0, 400000, 370000), (100.0, 0.0, 410000, 370000), (100.0, 200.0, 410000, 368000)]
    )
    t = AffineTransform().fit(*gcps.T)
    np.testing.assert_allclose(_gdal_gt(t), (400000, 100, 0, 370000, 0, -10), atol=1e-6)


def test_gcps2geotransform_inexact():
    gcps = np.array(
        [
            (0.0, 0.0, 400000, 370000),
            (100.0, 0.0, 410000, 370000),
            (100.0, 200.0, 410000, 368000),
            (0.0, 200.0, 400000, 368000.01),
        ]
    )
    t = AffineTransform().fit(*gcps.T)
    np.testing.assert_allclose(
        _gdal_gt(t), (400000, 100, 0, 370000.0025, -5e-05, -9.999975), atol=1e-6
    )


def test_gcps2geotransform_needs_normalisation():
    # gcps2gt_7: pixel coordinates in the hundreds of thousands, identity transform
    gcps = np.array(
        [
            (400000, 370000, 400000, 370000),
            (410000, 368000, 410000, 368000),
            (410000, 370000, 410000, 370000),
            (400000, 368000, 400000, 368000),
        ],
        dtype=float,
    )
    t = AffineTransform().fit(*gcps.T)
    np.testing.assert_allclose(_gdal_gt(t), (0, 1, 0, 0, 0, 1), atol=1e-6)


def test_gcps2geotransform_single_gcp_refused():
    with pytest.raises(GCPError, match="at least 3 GCPs, got 1"):
        AffineTransform().fit([0.0], [0.0], [400000.0], [370000.0])


# GDAL autotest/gcore/transformer.py: four corner GCPs, pixel (20, 10)
CORNERS = np.array(
    [
        (0, 0, 440720, 3751320),
        (100, 0, 446720, 3751320),
        (0, 100, 440720, 3745320),
        (100, 100, 446720, 3745320),
    ],
    dtype=float,
)


@pytest.mark.parametrize(
    "transform",
    [AffineTransform(), PolynomialTransform(1), TPSTransform()],
    ids=["affine", "poly1", "tps"],
)
def test_gdal_transformer_corner_gcps(transform):
    transform.fit(*CORNERS.T)
    x, y = transform.forward(20, 10)
    assert abs(x - 441920) < 0.001 and abs(y - 3750720) < 0.001
    col, row = transform.inverse(441920, 3750720)
    assert abs(col - 20) < 0.001 and abs(row - 10) < 0.001


# GDAL autotest/alg/tps.py: two GCPs share a map point at different pixels (#5586)
def test_tps_duplicate_map_point_refused():
    gcps = np.array(
        [(0, 0, 0, 0), (0, 50, 0, 50), (50, 0, 50, 0), (50, 50, 50, 50), (25, 25, 0, 0)],
        dtype=float,
    )
    with pytest.raises(GCPError, match="share the map position"):
        TPSTransform().fit(*gcps.T)


# QGIS tests/src/analysis/testqgsgcptransformer.cpp, testProjective
QGIS_SRC = [(288, 1126), (2352, 716), (2067, 2398), (1102, 2209)]
QGIS_DST = [(321210, 130280), (322698, 129979), (322501, 192061), (321803, 192198)]


@pytest.mark.parametrize(
    ("pixel", "expected"),
    [
        ((288, 1000), (321256, 123764)),
        ((2352, 1150), (322687, 142908)),
        ((2067, 2500), (322494, 197069)),
        ((1102, 2300), (321781, 198051)),
    ],
)
def test_qgis_projective(pixel, expected):
    src, dst = np.array(QGIS_SRC, float), np.array(QGIS_DST, float)
    t = ProjectiveTransform().fit(src[:, 0], src[:, 1], dst[:, 0], dst[:, 1])
    x, y = t.forward(*pixel)
    assert abs(x - expected[0]) < 1 and abs(y - expected[1]) < 1
    col, row = t.inverse(x, y)
    assert abs(col - pixel[0]) < 1e-6 and abs(row - pixel[1]) < 1e-6


# QGIS testHelmert, same GCPs
@pytest.mark.parametrize(
    ("pixel", "expected"),
    [
        ((288, 1000), (302325, 145676)),
        ((2352, 1150), (340495, 155540)),
    ],
)
def test_qgis_helmert(pixel, expected):
    src, dst = np.array(QGIS_SRC, float), np.array(QGIS_DST, float)
    # QGIS fits Helmert with the raster y axis as given; its source y there grows up,
    # so pass minus the row to compare with our (col, row) convention.
    t = HelmertTransform().fit(src[:, 0], -src[:, 1], dst[:, 0], dst[:, 1])
    x, y = t.forward(pixel[0], -pixel[1])
    assert abs(x - expected[0]) < 1 and abs(y - expected[1]) < 1


def _known(kind: str, n: int, seed: int = 0):
    """GCPs from a known transform of `kind`'s family, exact."""
    rng = np.random.default_rng(seed)
    col, row = rng.uniform(0, 400, n), rng.uniform(0, 300, n)
    x = 10 + 0.05 * col + 0.01 * row
    y = 50 - 0.04 * row + 0.005 * col
    if kind == "helmert":
        x, y = 10 + 0.05 * col + 0.01 * row, 50 + 0.01 * col - 0.05 * row
    if kind == "projective":
        w = 1 + 1e-4 * col + 2e-4 * row
        x, y = x / w, y / w
    if kind in ("poly2", "poly3", "tps"):
        x = x + 1e-5 * col * row
        y = y + 2e-5 * col**2
    if kind in ("poly3", "tps"):
        y = y + 1e-8 * row**3
    return col, row, x, y


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_recovers_its_own_family_exactly(kind):
    col, row, x, y = _known(kind, 25)
    t = make_transform(kind).fit(col, row, x, y)
    fx, fy = t.forward(col, row)
    np.testing.assert_allclose(fx, x, atol=1e-9)
    np.testing.assert_allclose(fy, y, atol=1e-9)
    c, r = t.inverse(x, y)
    # a fitted inverse (poly, tps) is not exact, and says by how much
    assert np.max(np.hypot(c - col, r - row)) < (1e-6 if t.exact_inverse else 0.5)
    assert t.roundtrip_error(col, row) < (1e-6 if t.exact_inverse else 0.5)
    assert t.kind == kind


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_too_few_points_names_the_count(kind):
    t = make_transform(kind)
    col, row, x, y = _known(kind, t.min_points - 1)
    with pytest.raises(
        GCPError, match=f"needs at least {t.min_points} GCPs, got {t.min_points - 1}"
    ):
        t.fit(col, row, x, y)


def test_minimum_counts_match_qgis():
    assert {k: make_transform(k).min_points for k in ALL_KINDS} == {
        "helmert": 2,
        "affine": 3,
        "projective": 4,
        "poly2": 6,
        "poly3": 10,
        "tps": 3,
    }


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("collinear", "lie on one line"),
        ("dup_pixel", "share the pixel position"),
        ("dup_map", "share the map position"),
        ("nan", "NaN"),
    ],
)
@pytest.mark.parametrize("kind", ["affine", "projective", "poly2", "tps"])
def test_degenerate_gcps_one_line(kind, bad, message):
    col, row, x, y = (np.array(a) for a in _known("affine", 12))
    if bad == "collinear":
        col, row = np.arange(12.0), 2 * np.arange(12.0) + 1
    elif bad == "dup_pixel":
        col[3], row[3] = col[0], row[0]
    elif bad == "dup_map":
        x[3], y[3] = x[0], y[0]
    else:
        x[2] = np.nan
    with pytest.raises(GCPError, match=message) as info:
        make_transform(kind).fit(col, row, x, y)
    assert "\n" not in str(info.value)


def test_poly2_on_a_conic_is_refused():
    a = np.linspace(0, 2 * np.pi, 8, endpoint=False)
    col, row = 200 + 100 * np.cos(a), 150 + 100 * np.sin(a)
    with pytest.raises(GCPError, match="order 2"):
        PolynomialTransform(2).fit(col, row, col * 0.1, -row * 0.1 + 0.001 * col**2)


def test_unknown_kind_lists_kinds():
    with pytest.raises(TransformError, match="use one of helmert, affine"):
        make_transform("spline")
    assert set(ALL_KINDS) <= set(KINDS)


def test_unfitted_transform_says_so():
    with pytest.raises(TransformError, match="not fitted"):
        TPSTransform().forward(1, 2)


def test_leave_one_out_polynomial_hat_matrix_matches_refitting():
    col, row, x, y = _known("poly3", 16)
    rng = np.random.default_rng(3)
    x = x + rng.normal(0, 1e-3, x.size)
    fast = PolynomialTransform(2).leave_one_out(col, row, x, y)
    slow = np.array(
        [
            np.subtract(
                (col[i], row[i]),
                PolynomialTransform(2)
                .fit(np.delete(col, i), np.delete(row, i), np.delete(x, i), np.delete(y, i))
                .inverse(x[i], y[i]),
            )
            for i in range(col.size)
        ]
    )
    np.testing.assert_allclose(fast, slow, atol=1e-8)


def test_leave_one_out_tps_rippa_matches_refitting():
    col, row, x, y = _known("tps", 12)
    fast = TPSTransform().fit(col, row, x, y).leave_one_out(col, row, x, y)
    slow = np.array(
        [
            np.subtract(
                (col[i], row[i]),
                TPSTransform()
                .fit(np.delete(col, i), np.delete(row, i), np.delete(x, i), np.delete(y, i))
                .inverse(x[i], y[i]),
            )
            for i in range(col.size)
        ]
    )
    np.testing.assert_allclose(fast, slow, atol=1e-7)


@pytest.mark.parametrize(
    ("kind", "expected"), [("affine", "affine"), ("projective", "projective"), ("poly2", "poly2")]
)
def test_auto_picks_the_simplest_consistent_kind(kind, expected):
    col, row, x, y = _known(kind, 30)
    rng = np.random.default_rng(1)
    # reading error of about 0.1 pixel (a pixel is about 0.05 map units here)
    x = x + rng.normal(0, 0.005, x.size)
    auto = AutoTransform().fit(col, row, x, y)
    assert auto.best_.kind == expected
    assert expected in auto.reason_ and "leave-one-out" in auto.reason_


def _refit_loo(t, col, row, x, y):
    """Leave-one-out errors by refitting once per GCP (the definition)."""
    from geodigitize.transforms import Transform

    return Transform.leave_one_out(t, col, row, x, y)


@pytest.mark.parametrize("kind", ["affine", "helmert"])
@pytest.mark.parametrize("n", [4, 7, 40])
def test_leave_one_out_closed_form_matches_refitting(kind, n):
    col, row, x, y = _known(kind, n, seed=n)
    rng = np.random.default_rng(n)
    x, y = x + rng.normal(0, 0.02, n), y + rng.normal(0, 0.02, n)
    fast = make_transform(kind).leave_one_out(col, row, x, y)
    slow = _refit_loo(make_transform(kind), col, row, x, y)
    assert np.all(np.isfinite(fast))
    np.testing.assert_allclose(fast, slow, rtol=1e-7, atol=1e-9)


def test_leave_one_out_undetermined_point_is_nan():
    # the 4th point alone fixes the affine's shape: without it the rest are collinear
    col, row = np.array([0.0, 10, 20, 5]), np.array([0.0, 0, 0, 30])
    x, y = col * 0.1, -row * 0.1
    loo = make_transform("affine").leave_one_out(col, row, x, y)
    assert np.isnan(loo[3]).all() and np.isfinite(loo[:3]).all()


def test_projective_leave_one_out_above_refit_limit_is_close(monkeypatch):
    import geodigitize.transforms as tr

    col, row, x, y = _known("projective", 80, seed=5)
    rng = np.random.default_rng(5)
    x, y = x + rng.normal(0, 0.01, x.size), y + rng.normal(0, 0.01, x.size)
    exact = ProjectiveTransform().leave_one_out(col, row, x, y)
    monkeypatch.setattr(tr, "LOO_REFIT_MAX", 10)
    approx = ProjectiveTransform().leave_one_out(col, row, x, y)
    assert not np.array_equal(approx, exact)
    np.testing.assert_allclose(approx, exact, atol=0.02 * np.abs(exact).max())


def test_leave_one_out_of_10000_gcps_does_not_refit(monkeypatch):
    import geodigitize.transforms as tr

    fits = []
    real = tr.check_gcp_geometry
    monkeypatch.setattr(tr, "check_gcp_geometry", lambda *a: fits.append(1) or real(*a))
    rng = np.random.default_rng(0)
    col, row = rng.uniform(0, 4000, 10_000), rng.uniform(0, 3000, 10_000)
    x, y = col * 0.01 + rng.normal(0, 0.002, col.size), -row * 0.01
    for kind in ("affine", "helmert", "projective"):
        assert np.all(np.isfinite(make_transform(kind).leave_one_out(col, row, x, y)))
    assert len(fits) <= 3  # refitting once per GCP took minutes


def test_auto_skips_tps_above_its_size_limit_and_says_so(monkeypatch):
    import geodigitize.transforms as tr

    col, row, x, y = _known("poly3", 30)
    rng = np.random.default_rng(4)
    x = x + rng.normal(0, 0.5, x.size)  # no kind within reading error: all are tried
    assert "tps" in AutoTransform().fit(col, row, x, y).candidates_
    monkeypatch.setattr(tr, "AUTO_TPS_MAX", 20)
    auto = AutoTransform().fit(col, row, x, y)
    assert "tps" not in auto.candidates_
    assert auto.reason_.endswith("tps not tried above 20 GCPs (choose --transform tps)")
