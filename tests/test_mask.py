"""Excluded colours and their halo, JPEG consistency, automatic thresholds."""

from __future__ import annotations

import numpy as np
import pytest

from geodigitize.colormap import from_cmap
from geodigitize.decode import decode
from geodigitize.errors import ColorScaleError
from geodigitize.mask import (
    Reason,
    auto_distances,
    classify,
    excluded_pixels,
    parse_colors,
    value_outliers,
)


def test_parse_colors():
    got = parse_colors("black, white,#cccccc,0.35,ff0000", 10)
    np.testing.assert_array_equal(
        got, [[0, 0, 0], [255, 255, 255], [204, 204, 204], [89, 89, 89], [255, 0, 0]]
    )
    with pytest.raises(ColorScaleError, match="unknown colour 'blak'"):
        parse_colors("blak", 10)
    with pytest.raises(ColorScaleError, match=">= 0"):
        parse_colors("black", -1)


def _field_with_black_line():
    """gist_earth field (contains black) crossed by a black line with a 50 % halo."""
    scale = from_cmap("gist_earth", 0.0, 1.0)
    t = np.tile(np.linspace(0.2, 0.9, 40), (20, 1))
    import matplotlib

    img = matplotlib.colormaps["gist_earth"](t, bytes=True)[..., :3].copy()
    img[10] = 0                                      # the line
    img[9] = (img[9] * 0.5).astype(np.uint8)         # its antialiased halo
    return img, scale, t


def test_excluded_colour_and_its_halo_but_not_plain_data():
    img, scale, _ = _field_with_black_line()
    ex = excluded_pixels(img, "black", 10, scale, "rgb")
    assert ex[10].all() and ex[9].all()
    assert not ex[:8].any() and not ex[12:].any()
    # a black-ish scale colour far from any line stays data
    assert not excluded_pixels(img[:5], "black", 10, scale, "rgb").any()


def test_classify_keeps_old_behaviour_and_adds_inconsistency():
    img, scale, _ = _field_with_black_line()
    dec = decode(img, scale)
    ex = excluded_pixels(img, "black", 10, scale, "rgb")
    reason = classify(dec.distance, max_distance=8, excluded=ex)
    assert (reason[10] == Reason.EXCLUDED_COLOR).all()
    assert (reason[:8] == Reason.DATA).all()
    noisy = dec.values.copy()
    noisy[3, 20] += 0.3
    r2 = classify(dec.distance, max_distance=8, excluded=ex, values=noisy, smoothness=4)
    assert r2[3, 20] == Reason.INCONSISTENT
    assert (r2[:8] == Reason.DATA).mean() > 0.85  # steep 40-pixel ramp: corners may go


def test_value_outliers_ignore_smooth_gradients():
    yy, xx = np.mgrid[0:30, 0:30]
    v = (xx + yy) / 600.0 + np.random.default_rng(0).normal(0, 0.002, (30, 30))
    cand = np.ones_like(v, bool)
    assert value_outliers(v, cand, 4).mean() < 0.01
    v[15, 15] += 0.2
    assert value_outliers(v, cand, 4)[15, 15]


def test_auto_distances():
    assert auto_distances(np.zeros((5, 5))) == (8.0, 0.5)
    md, hd = auto_distances(np.full((5, 5), 2.0))
    assert (md, hd) == (24.0, 3.0)
    assert auto_distances(np.full((5, 5), 90.0))[0] == 8.0   # nothing near the scale
