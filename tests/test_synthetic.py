"""Tests for geodigitize.synthetic: the truth must be exact, not approximately right."""

from __future__ import annotations

import csv
from functools import cache

import matplotlib as mpl
import numpy as np
import pytest
from matplotlib import colors as mcolors
from PIL import Image
from pyproj import Transformer

from geodigitize.errors import ColorScaleError, CRSError
from geodigitize.synthetic import PROJECTIONS, SyntheticFigure, render_figure

SIZE = (320, 240)
LEVELS = tuple(np.linspace(0.0, 0.7, 8))
# gcp_step per projection so that every small frame holds several GCPs
STEPS = {"platecarree": 30.0, "mercator": 30.0, "lcc": 10.0, "polar": 15.0}


@cache
def fig(**kwargs: object) -> SyntheticFigure:
    """Render once per argument set (figures are immutable, so sharing is safe)."""
    return render_figure(*SIZE, **kwargs)


def frame_slices(f: SyntheticFigure) -> tuple[slice, slice]:
    """Row and column slices of the frame's pixels."""
    x0, y0, x1, y1 = (int(v) for v in f.frame)
    return slice(y0, y1), slice(x0, x1)


def expected_rgb(f: SyntheticFigure, values: np.ndarray) -> np.ndarray:
    """RGB uint8 straight from matplotlib's colormap and norm, not from the module."""
    cmap = mpl.colormaps[f.cmap]
    if f.levels is not None:
        norm = mcolors.BoundaryNorm(f.levels, cmap.N)
    elif f.norm == "log":
        norm = mcolors.LogNorm(f.vmin, f.vmax)
    elif f.norm == "sqrt":
        norm = mcolors.PowerNorm(0.5, f.vmin, f.vmax)
    else:
        norm = mcolors.Normalize(f.vmin, f.vmax)
    return cmap(norm(values), bytes=True)[..., :3]


CASES = {
    "platecarree": {},
    "mercator": {"projection": "mercator"},
    "lcc": {"projection": "lcc", "gcp_step": 10.0},
    "polar": {"projection": "polar", "gcp_step": 15.0},
    "levels": {"levels": LEVELS},
    "log": {"norm": "log", "vmin": 0.01, "vmax": 10.0, "cmap": "viridis"},
    "sqrt-elevation": {"norm": "sqrt", "field": "elevation", "cmap": "terrain", "land": False},
    "smooth-horizontal-auto": {
        "field": "smooth",
        "colorbar_orientation": "horizontal",
        "aspect": "auto",
    },
}


@pytest.mark.parametrize("kwargs", CASES.values(), ids=CASES.keys())
def test_data_pixels_have_the_exact_colormap_colour(kwargs: dict) -> None:
    f = fig(**kwargs)
    assert f.data.sum() > 1000
    got = f.image[f.data]
    want = expected_rgb(f, f.truth[f.data])
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(got, f.colors_for(f.truth[f.data]))


def test_bytes_colours_truncate_rather_than_round() -> None:
    # matplotlib's bytes=True is (lut * 255).astype(uint8): a floor, not a rounding
    f = fig()
    values = f.truth[f.data]
    cmap, norm = mpl.colormaps[f.cmap], mcolors.Normalize(f.vmin, f.vmax)
    floored = np.floor(cmap(norm(values))[:, :3] * 255).astype(np.uint8)
    np.testing.assert_array_equal(f.image[f.data], floored)


@pytest.mark.parametrize("kwargs", list(CASES.values())[:4], ids=list(CASES)[:4])
def test_masks_partition_the_image(kwargs: dict) -> None:
    f = fig(**kwargs)
    rows, cols = frame_slices(f)
    inside = np.zeros(f.page.shape, bool)
    inside[rows, cols] = True
    np.testing.assert_array_equal(f.page, ~inside)
    np.testing.assert_array_equal(np.isnan(f.truth), f.page)
    np.testing.assert_array_equal(np.isnan(f.lon) | np.isnan(f.lat), f.page)
    assert not (f.data & (f.lines | f.text | f.land | f.page)).any()
    assert not (f.land & f.page).any()
    np.testing.assert_array_equal(f.data | f.lines | f.text | f.land | f.page, np.ones_like(f.page))
    assert f.data[inside].mean() > 0.4
    assert f.lines[inside].any() and f.text[inside].any()
    if kwargs.get("projection", "platecarree") in ("platecarree", "mercator"):
        assert f.land.any()  # a regional frame may well be all sea
    assert f.text[f.page].any()  # tick labels, title, colorbar label


@pytest.mark.parametrize("projection", list(PROJECTIONS))
def test_land_is_seamless_grey_away_from_lines_and_text(projection: str) -> None:
    # the fill is one compound path: no antialiasing seams where polygons meet (e.g. the
    # date line of a polar map); uncovered land is exactly grey 0.75 -> 191
    f = fig(projection=projection, gcp_step=STEPS[projection], seed=2)
    bare = f.land & ~f.lines & ~f.text
    assert bare.sum() > 100
    assert (f.image[bare] == 191).all()


def test_frame_and_colorbar_are_whole_pixels() -> None:
    for f in (fig(), fig(colorbar_orientation="horizontal")):
        for box in (f.frame, f.colorbar):
            assert all(float(v).is_integer() for v in box)
            assert box[0] < box[2] <= f.image.shape[1] and box[1] < box[3] <= f.image.shape[0]
    assert np.isnan(fig(colorbar=False).colorbar).all()


@pytest.mark.parametrize("orientation", ["vertical", "horizontal"])
def test_ink_outside_the_map_is_masked(orientation: str) -> None:
    # every non-white pixel of the page lies in the colorbar or in the lines/text masks
    f = fig(colorbar_orientation=orientation)
    x0, y0, x1, y1 = (int(v) for v in f.colorbar)
    ink = (f.image != 255).any(-1) & f.page
    ink[y0:y1, x0:x1] = False
    assert not (ink & ~(f.lines | f.text)).any()
    colours = f.image[y0:y1, x0:x1]
    assert len(np.unique(colours.reshape(-1, 3), axis=0)) > 20


@pytest.mark.parametrize("projection", list(PROJECTIONS))
def test_frame_is_linear_in_the_crs_and_gcps_are_exact(projection: str) -> None:
    f = fig(projection=projection, gcp_step=STEPS[projection])
    rows, cols = frame_slices(f)
    fwd = Transformer.from_crs("EPSG:4326", f.crs, always_xy=True)
    x, y = fwd.transform(f.lon[rows, cols], f.lat[rows, cols])
    # x depends on the column only, linearly; y on the row only
    j = np.arange(cols.start, cols.stop) + 0.5
    i = np.arange(rows.start, rows.stop) + 0.5
    ax, bx = np.polyfit(j, x[0], 1)
    ay, by = np.polyfit(i, y[:, 0], 1)
    scale = max(abs(ax), abs(ay))
    np.testing.assert_allclose(x, ax * j[None, :] + bx + 0 * x, atol=1e-6 * scale)
    np.testing.assert_allclose(y, ay * i[:, None] + by + 0 * y, atol=1e-6 * scale)
    assert len(f.gcps) >= 3
    gx, gy = fwd.transform(f.gcps[:, 2], f.gcps[:, 3])
    np.testing.assert_allclose(f.gcps[:, 0], (gx - bx) / ax, atol=1e-6)
    np.testing.assert_allclose(f.gcps[:, 1], (gy - by) / ay, atol=1e-6)
    assert np.all(
        np.isclose(np.mod(f.gcps[:, 2:], STEPS[projection]), 0)
        | np.isclose(np.mod(f.gcps[:, 2:], STEPS[projection]), STEPS[projection])
    )


@pytest.mark.parametrize("projection", list(PROJECTIONS))
def test_pixel_nearest_each_gcp_has_its_lonlat(projection: str) -> None:
    f = fig(projection=projection, gcp_step=STEPS[projection])
    for col, row, lon, lat in f.gcps:
        i, j = int(row), int(col)  # a pixel whose box holds the GCP: its centre is nearest
        for grid, value in ((f.lon, lon), (f.lat, lat)):
            # half the pixel's extent: half its larger step to a neighbour, along each axis
            d = np.abs(grid[i - 1 : i + 2, j - 1 : j + 2] - grid[i, j])
            half = 0.5 * (max(d[1, 0], d[1, 2]) + max(d[0, 1], d[2, 1]))
            assert abs(grid[i, j] - value) <= half * (1 + 1e-9)


def test_platecarree_corners_are_analytic() -> None:
    f = fig()
    lon0, lon1, lat0, lat1 = f.extent
    x0, y0, x1, y1 = (int(v) for v in f.frame)
    dlon, dlat = (lon1 - lon0) / (x1 - x0), (lat1 - lat0) / (y1 - y0)
    assert f.crs == "EPSG:4326"
    assert f.lon[y0, x0] == pytest.approx(lon0 + 0.5 * dlon, abs=1e-9)
    assert f.lat[y0, x0] == pytest.approx(lat1 - 0.5 * dlat, abs=1e-9)
    assert f.lon[y1 - 1, x1 - 1] == pytest.approx(lon1 - 0.5 * dlon, abs=1e-9)
    assert f.lat[y1 - 1, x1 - 1] == pytest.approx(lat0 + 0.5 * dlat, abs=1e-9)
    assert dlon == pytest.approx(dlat, rel=0.02)  # aspect="equal"


def test_levels_paint_one_colour_per_class() -> None:
    f = fig(levels=LEVELS)
    colours = np.unique(f.image[f.data], axis=0)
    assert len(colours) == len(LEVELS) - 1
    # the class is np.digitize-style; each class has the colour of its midpoint
    values = f.truth[f.data]
    classes = np.clip(np.digitize(values, LEVELS) - 1, 0, len(LEVELS) - 2)
    mids = (np.asarray(LEVELS[:-1]) + np.asarray(LEVELS[1:])) / 2
    np.testing.assert_array_equal(f.image[f.data], expected_rgb(f, mids[classes]))


def test_same_seed_same_figure_other_seed_other_figure() -> None:
    a, b = render_figure(*SIZE, seed=3), render_figure(*SIZE, seed=3)
    for name in ("image", "truth", "data", "lines", "text", "land", "gcps", "lon", "lat"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    c = render_figure(*SIZE, seed=4)
    assert not np.array_equal(a.image, c.image)
    assert not np.array_equal(a.truth, c.truth, equal_nan=True)


def test_jpeg_keeps_shape_and_truth_but_changes_pixels(tmp_path) -> None:
    png, jpg = fig(), fig(jpeg_quality=85)
    assert jpg.image.shape == png.image.shape and jpg.image.dtype == np.uint8
    assert not np.array_equal(jpg.image, png.image)
    assert np.abs(jpg.image.astype(int) - png.image).mean() < 5
    for name in ("truth", "data", "lines", "text", "land", "page", "gcps"):
        np.testing.assert_array_equal(getattr(jpg, name), getattr(png, name))
    jpg.save(tmp_path / "f.jpg")
    with Image.open(tmp_path / "f.jpg") as im:
        np.testing.assert_array_equal(np.asarray(im.convert("RGB")), jpg.image)


def test_save_png_and_gcps_csv(tmp_path) -> None:
    f = fig(projection="lcc", gcp_step=10.0)
    f.save(tmp_path / "f.png", gcps_path=tmp_path / "f.csv")
    with Image.open(tmp_path / "f.png") as im:
        np.testing.assert_array_equal(np.asarray(im.convert("RGB")), f.image)
    with (tmp_path / "f.csv").open() as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["col", "row", "lon", "lat"]
    np.testing.assert_array_equal(np.array(rows[1:], dtype=float), f.gcps)


def test_smallest_size_and_options() -> None:
    f = render_figure(
        200,
        150,
        labels=False,
        title=False,
        land=False,
        coastlines=False,
        graticule=False,
        colorbar=False,
    )
    assert f.image.shape == (150, 200, 3)
    rows, cols = frame_slices(f)
    assert f.data[rows, cols][2:-2, 2:-2].all()  # only the spines touch the frame
    assert not f.land.any()


def test_figure_is_read_only() -> None:
    with pytest.raises(ValueError, match="read-only"):
        fig().truth[0, 0] = 1.0


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"projection": "robinson"}, CRSError),
        ({"norm": "cubic"}, ColorScaleError),
        ({"cmap": "no_such_map"}, ColorScaleError),
        ({"vmin": 1.0, "vmax": 0.0}, ColorScaleError),
        ({"levels": (0.3, 0.1)}, ColorScaleError),
        ({"field": "wind"}, ValueError),
    ],
)
def test_bad_arguments_raise(kwargs: dict, error: type[Exception]) -> None:
    with pytest.raises(error):
        render_figure(*SIZE, **kwargs)
