"""Colorbar sampling, discrete blocks and automatic detection on numpy-drawn bars."""

from __future__ import annotations

import numpy as np
import pytest
from colour_figures import draw_colorbar, lut, page

from geodigitize.colorbar import (
    find_colorbars,
    locate_colorbar,
    sample_colorbar,
    scale_from_colorbar,
)
from geodigitize.decode import decode
from geodigitize.errors import ColorScaleError
from geodigitize.scale import build_scale

TICKS = (0.0, 0.25, 0.5, 0.75, 1.0)


def _decode_error(scale, cmap, vmin=0.0, vmax=1.0):
    t = np.linspace(0, 1, 4001)[:-1] + 1 / 8000
    values = decode(lut(cmap, t)[None], scale).values[0]
    return np.abs(values - (vmin + t * (vmax - vmin))) / (vmax - vmin)


@pytest.mark.parametrize("cmap", ["jet_r", "gist_earth", "gray"])
def test_vertical_bar_with_outline_ticks_and_text(cmap):
    img = page(420, 300)
    draw_colorbar(img, (200, 60, 220, 380), cmap, ticks=TICKS, text=True)
    scale = scale_from_colorbar(img, (195, 55, 226, 386), vmin=0, vmax=1)
    assert scale.extra["colorbar_box"] == [200, 60, 220, 380]
    err = _decode_error(scale, cmap)
    assert np.median(err) <= 0.0015
    assert np.percentile(err, 99) <= 0.005


def test_a_corner_of_one_side_outline_damaged_does_not_shorten_the_bar():
    """JPEG ringing brightens the left outline's pixel at the bar's bottom corner, and
    with the box's edge on that outline nothing beyond it says how bright an outline may
    be; the right outline still runs to the end, so the bar keeps its last line."""
    img = page(420, 300)
    draw_colorbar(img, (200, 60, 220, 380), "jet_r")
    img[380, 200] = 36  # the corner of left and bottom outlines
    prof = sample_colorbar(img, (200, 50, 226, 390))
    assert prof.box == (200, 60, 220, 380)
    np.testing.assert_array_equal(prof.colors[0], lut("jet_r", np.array([0.5 / 320]))[0])


def test_horizontal_bar_and_flip():
    img = page(120, 500)
    draw_colorbar(img, (50, 40, 450, 60), "viridis", vertical=False, ticks=TICKS)
    scale = scale_from_colorbar(img, "47,37,453,66", vmin=10, vmax=20)
    assert scale.extra["colorbar_orientation"] == "horizontal"
    assert np.median(_decode_error(scale, "viridis", 10, 20)) <= 0.0015
    flipped = scale_from_colorbar(img, "47,37,453,66", vmin=10, vmax=20, flip=True)
    t = np.array([0.1, 0.5, 0.9])
    got = decode(lut("viridis", t)[None], flipped).values[0]
    np.testing.assert_allclose(got, 20 - 10 * t, atol=0.05)


def test_vertical_bar_runs_upwards():
    img = page(300, 100)
    draw_colorbar(img, (40, 20, 60, 280), "jet_r", outline=0)
    prof = sample_colorbar(img, (40, 20, 60, 280))
    np.testing.assert_array_equal(prof.colors[0], lut("jet_r", np.array([0.5 / 260]))[0])
    assert prof.orientation == "vertical" and prof.valid.all()


def test_log_and_twoslope_norms_map_positions():
    img = page(420, 100)
    draw_colorbar(img, (40, 10, 60, 410), "viridis")
    log = scale_from_colorbar(img, (40, 10, 60, 410), vmin=1, vmax=1000, norm="log")
    got = decode(lut("viridis", np.array([0.5]))[None], log).values[0, 0]
    assert abs(np.log10(got) - 1.5) < 0.01
    two = scale_from_colorbar(img, (40, 10, 60, 410), vmin=-10, vmax=30, norm="twoslope", vcenter=0)
    got = decode(lut("viridis", np.array([0.25, 0.75]))[None], two).values[0]
    np.testing.assert_allclose(got, [-5, 15], atol=0.15)


def test_discrete_bar_gives_classes():
    img = page(420, 100)
    draw_colorbar(img, (40, 30, 60, 390), "RdYlBu_r", classes=12, ticks=(0.5,), text=True)
    scale = scale_from_colorbar(img, (37, 27, 63, 393), vmin=0, vmax=12)
    assert scale.is_discrete and scale.colors.shape == (12, 3)
    np.testing.assert_allclose(scale.values, np.arange(12) + 0.5, atol=0.05)
    expected = lut("RdYlBu_r", (np.arange(12) + 0.5) / 12)
    np.testing.assert_array_equal(scale.colors, expected)


def test_levels_name_the_blocks_even_when_uneven():
    img = page(420, 100)
    draw_colorbar(img, (40, 30, 60, 390), "RdYlBu_r", classes=5)
    levels = (0, 1, 2, 5, 10, 100)
    scale = scale_from_colorbar(img, (40, 30, 60, 390), levels=levels)
    np.testing.assert_allclose(scale.values, [0.5, 1.5, 3.5, 7.5, 55])
    assert scale.levels == tuple(float(v) for v in levels)
    with pytest.raises(ColorScaleError, match="5 blocks"):
        scale_from_colorbar(img, (40, 30, 60, 390), levels=(0, 1, 2, 3))


def test_continuous_bars_are_not_mistaken_for_blocks():
    for length in (120, 300, 700):
        for cmap in ("jet_r", "gist_earth", "RdYlBu_r", "viridis"):
            img = page(length + 40, 60)
            draw_colorbar(img, (20, 20, 40, 20 + length), cmap)
            assert not sample_colorbar(img, (20, 20, 40, 20 + length)).is_discrete


def test_bad_boxes():
    img = page(100, 100)
    with pytest.raises(ColorScaleError, match="outside"):
        scale_from_colorbar(img, (0, 0, 120, 50), vmin=0, vmax=1)
    with pytest.raises(ColorScaleError, match="vmin"):
        scale_from_colorbar(img, (0, 0, 10, 50))
    with pytest.raises(ColorScaleError, match="blocks"):
        draw_colorbar(img, (20, 10, 30, 90), "jet_r")
        scale_from_colorbar(img, (20, 10, 30, 90), levels=(0, 1, 2))


@pytest.mark.parametrize("vertical", [True, False])
@pytest.mark.parametrize("classes", [None, 10])
def test_find_colorbars(vertical, classes):
    img = page(500, 700)
    # a "map": a smooth field in a frame
    yy, xx = np.mgrid[0:300, 0:400]
    img[50:350, 50:450] = lut("gist_earth", (np.sin(xx / 40) * np.cos(yy / 50) + 1) / 2)
    img[49, 49:451] = img[350, 49:451] = 0
    box = (500, 60, 520, 340) if vertical else (60, 420, 440, 440)
    draw_colorbar(img, box, "jet_r", vertical=vertical, classes=classes, ticks=TICKS)
    found = find_colorbars(img)
    assert found, "no candidate"
    best, score = found[0]
    assert np.max(np.abs(np.subtract(best, box))) <= 1
    assert 0 < score <= 1


def test_build_scale_sources():
    img = page(420, 100)
    draw_colorbar(img, (40, 30, 60, 390), "jet_r", ticks=TICKS)
    by_box = build_scale(colorbar="38,28,62,392", vmin=0, vmax=1, image=img)
    auto = build_scale(colorbar="auto", vmin=0, vmax=1, image=img)
    np.testing.assert_array_equal(by_box.colors, auto.colors)
    assert auto.extra["colorbar_found"] == "auto"
    with pytest.raises(ColorScaleError, match="exactly one"):
        build_scale(cmap="jet_r", colorbar="auto", vmin=0, vmax=1, image=img)
    with pytest.raises(ColorScaleError, match="exactly one"):
        build_scale(vmin=0, vmax=1)
    with pytest.raises(ColorScaleError, match="needs the image"):
        build_scale(colorbar="auto", vmin=0, vmax=1)
    with pytest.raises(ColorScaleError, match="no colorbar"):
        build_scale(colorbar="auto", vmin=0, vmax=1, image=page(50, 50))


def _matplotlib_colorbar(orientation: str, extend: str, dpi: int, cmap: str, ends=None):
    """A figure with a matplotlib colorbar (no map), and the bar's box without its
    extension triangles (pixel corners)."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.0), dpi=dpi)
    FigureCanvasAgg(fig)
    rect = [0.15, 0.2, 0.7, 0.05] if orientation == "horizontal" else [0.8, 0.1, 0.04, 0.8]
    cax = fig.add_axes(rect)
    mapped = ScalarMappable(Normalize(0, 30), cmap)
    if ends is not None:  # the triangles' colour
        mapped.set_cmap(matplotlib.colormaps[cmap].with_extremes(under=ends, over=ends))
    fig.colorbar(mapped, cax=cax, orientation=orientation, extend=extend)
    fig.canvas.draw()
    img = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    (x0, y0), (x1, y1) = cax.get_window_extent().get_points()
    height = img.shape[0]
    return img, (x0, height - y1, x1, height - y0)


@pytest.mark.parametrize(
    ("orientation", "extend", "dpi", "cmap"),
    [
        ("horizontal", "both", 200, "jet"),
        ("horizontal", "max", 150, "turbo"),
        ("horizontal", "min", 200, "viridis"),
        ("vertical", "both", 100, "coolwarm"),
        ("vertical", "max", 100, "viridis"),
    ],
)
def test_extension_triangles_are_not_the_bar(orientation, extend, dpi, cmap):
    # the triangle's slanted outline continues the bar's long outline for a pixel or
    # two past the bar's end; the bar ends where the triangle's width reaches the bar's
    img, truth = _matplotlib_colorbar(orientation, extend, dpi, cmap)
    plain, _ = _matplotlib_colorbar(orientation, "neither", dpi, cmap)
    horizontal = orientation == "horizontal"
    along = [0, 2] if horizontal else [1, 3]
    # which end (the smaller, then the larger image coordinate) has a triangle
    low, high = ("min", "max") if horizontal else ("max", "min")
    triangle = np.array([extend in (low, "both"), extend in (high, "both")])
    found = np.asarray(find_colorbars(img)[0][0])[along]
    assert np.abs(found - np.asarray(truth)[along])[triangle].max() <= 0.6
    # an end without a triangle is found as on the bar drawn without any, within the
    # pixel that matplotlib's outline moves by (it snaps an outline to pixel centres
    # only when it has no slanted sides)
    without = np.asarray(find_colorbars(plain)[0][0])[along]
    assert np.all(np.abs(found - without)[~triangle] <= 1.0)
    # the bar's ends (positions 0 and 1, where the range is read) are never farther
    # from the truth than its box, which a thick outline leaves a pixel or two inside
    ends = np.asarray(locate_colorbar(img).profile.ends)[along]
    off = np.abs(ends - np.asarray(truth)[along])
    assert np.all(off <= np.abs(found - np.asarray(truth)[along]) + 1e-9)
    assert off.max() <= 1.0


@pytest.mark.parametrize("orientation", ["horizontal", "vertical"])
def test_black_triangles_are_neither_the_bar_nor_its_colours(orientation):
    # triangles filled black (GMT's default, `set_under('black')`): the black run is
    # longer than an outline, yet not the bar's own dark end; nothing black is sampled
    img, truth = _matplotlib_colorbar(orientation, "both", 150, "turbo", ends="black")
    found = locate_colorbar(img)
    along = [0, 2] if orientation == "horizontal" else [1, 3]
    assert np.abs(np.subtract(found.profile.ends, truth)[along]).max() <= 0.6
    prof = found.profile
    assert np.linalg.norm(prof.colors[prof.valid], axis=1).min() > 40


def test_a_bar_that_starts_black_keeps_its_dark_end():
    # gray's own black end fades in: it is the bar, not a triangle to cut
    img, truth = _matplotlib_colorbar("horizontal", "neither", 150, "gray")
    found = locate_colorbar(img)
    assert abs(found.profile.ends[0] - truth[0]) <= 1.0
    assert np.linalg.norm(found.profile.colors[found.profile.valid][0]) < 10
