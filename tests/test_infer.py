"""Reading the frame, the value range and the georeference from the figure itself."""

import numpy as np
import pytest

from geodigitize.errors import GCPError
from geodigitize.infer import (
    MAX_CORNER_ERROR,
    Labels,
    corner_error,
    fit_axis,
    fit_colorbar,
    fit_latitudes,
    infer_georef,
    missing,
    nearest_words,
    tick_finder,
    unsnap_ticks,
)
from geodigitize.ocr import TextBox
from geodigitize.options import Options


def _merc(lat):
    return np.rad2deg(np.log(np.tan(np.pi / 4 + np.deg2rad(lat) / 2)))


def _labels(side, values, positions, words=None):
    pairs = zip(values, positions, strict=True)
    words = words or [TextBox(f"{v:g}", (p - 5, 0, p + 5, 10), 1.0) for v, p in pairs]
    return Labels(side, tuple(words), tuple(values), tuple(float(p) for p in positions))


def test_longitudes_fit_a_line_exactly():
    lon = np.arange(-180, 181, 60.0)
    col = 70.0 + 442.0 * (lon + 180) / 360
    noise = np.array([0.3, -0.2, 0.1, 0, -0.3, 0.2, 0.1])
    fit = fit_axis(col + noise, lon, axis="lon", side="bottom")
    assert fit is not None and fit.model == "linear" and len(fit.values) == 7
    np.testing.assert_allclose(fit.position([-180, 180]), [70, 512], atol=0.3)
    assert fit.max_residual < 0.5


def test_one_misread_label_is_dropped():
    lon = np.arange(-180, 181, 60.0)
    col = 70.0 + 442.0 * (lon + 180) / 360
    read = lon.copy()
    read[2] = 160.0  # "-60" read as "160"
    fit = fit_axis(col, read, axis="lon", side="bottom")
    assert fit is not None and len(fit.values) == 6 and len(fit.dropped) == 1
    np.testing.assert_allclose(fit.value(col), lon, atol=1e-9)


def test_a_map_starting_at_the_antimeridian_starts_at_minus_180():
    lon = np.array([180.0, -150.0, -120.0, -90.0, -60.0])  # "180°" is the left edge
    fit = fit_axis(np.arange(5) * 67.0 + 69, lon, axis="lon")
    assert fit.values == (-180.0, -150.0, -120.0, -90.0, -60.0)


def test_labels_across_the_antimeridian_are_unwrapped():
    lon = np.array([120.0, 150.0, 180.0, -150.0, -120.0])
    col = np.arange(5) * 100.0 + 50
    fit = fit_axis(col, lon, axis="lon")
    assert fit is not None
    assert fit.values == (120.0, 150.0, 180.0, 210.0, 240.0)


@pytest.mark.parametrize(
    "values",
    [
        [0.0, 10.0, 50.0, 20.0, 90.0],  # two labels out of place: too many to drop
        [0.0, 30.0],  # too few
        [30.0, 30.0, 30.0, 30.0],  # one value everywhere
    ],
)
def test_inconsistent_or_too_few_labels_give_no_fit(values):
    pos = np.arange(len(values)) * 80.0 + 40
    assert fit_axis(pos, values, axis="lon") is None


def test_evenly_placed_latitudes_are_plate_carree():
    lat = np.arange(-60, 61, 30.0)
    row = 188.0 - 2.2 * lat
    fit, why = fit_latitudes(_labels("left", list(lat), row))
    assert why == "" and fit.model == "linear"
    np.testing.assert_allclose(fit.value(row), lat, atol=1e-9)


def test_mercator_latitudes_are_found_by_their_spacing():
    lat = np.arange(-60, 61, 30.0)
    row = 300.0 - 2.0 * _merc(lat)
    fit, why = fit_latitudes(_labels("left", list(lat), row + np.array([0.2, -0.3, 0, 0.3, -0.2])))
    assert why == "" and fit.model.startswith("mercator")
    np.testing.assert_allclose(fit.value(row), lat, atol=0.2)


def test_latitudes_that_fit_no_cylindrical_projection_are_refused():
    lat = np.arange(-60, 61, 30.0)
    row = np.array([400.0, 350.0, 200.0, 180.0, 20.0])
    fit, why = fit_latitudes(_labels("left", list(lat), row))
    assert fit is None and "not evenly placed" in why


def test_colorbar_range_from_labels_vertical():
    # a vertical bar from row 30 (value 30) to row 330 (value 0): labels every 5
    values = [0.0, 5.0, 10.0, 15.0, 20.0, 25.0, 30.0]
    rows = [330 - 10 * v for v in values]
    found, why = fit_colorbar(_labels("right", values, rows), (500, 30, 515, 330), "vertical")
    assert why == ""
    assert (found.vmin, found.vmax, found.norm, found.flip) == (0.0, 30.0, "linear", False)


def test_colorbar_running_down_is_flipped_and_labels_short_of_the_ends_extrapolate():
    values = [0.2, 0.4, 0.6]  # vmax at the bottom, ends beyond the first and last label
    rows = [100.0 + 500 * v for v in values]
    found, _ = fit_colorbar(_labels("right", values, rows), (500, 50, 515, 450), "vertical")
    assert found.flip
    assert found.vmin == pytest.approx(-0.1) and found.vmax == pytest.approx(0.7)


def test_colorbar_range_is_taken_at_the_bar_ends_not_its_box():
    # a thick outline hides the bar's ends: its box (where colours show) stops 1.5 px
    # inside them; the range is the labels' scale at the ends, here 0..30 exactly
    values = [5.0, 10.0, 15.0, 20.0, 25.0]  # no label at either end: extrapolated
    rows = [330 - 10 * v for v in values]
    box, ends = (500, 31.5, 515, 328.5), (500, 30, 515, 330)
    found, _ = fit_colorbar(_labels("right", values, rows), box, "vertical", ends)
    assert (found.vmin, found.vmax) == pytest.approx((0.0, 30.0))
    assert found.bar == box  # the box is still what the report shows
    inside, _ = fit_colorbar(_labels("right", values, rows), box, "vertical")
    assert (inside.vmin, inside.vmax) == pytest.approx((0.15, 29.85))


def test_log_colorbar():
    values = [1e-3, 1e-2, 1e-1, 1.0, 10.0]
    cols = [100.0 + 100 * k for k in range(5)]
    found, _ = fit_colorbar(_labels("bottom", values, cols), (100, 10, 500, 30), "horizontal")
    assert found.norm == "log"
    assert (found.vmin, found.vmax) == pytest.approx((1e-3, 10.0))


def test_colorbar_without_numbers_says_so():
    found, why = fit_colorbar(_labels("right", [], []), (500, 30, 515, 330), "vertical")
    assert found is None and "read 0 numbers" in why


def test_nearest_row_of_words_is_the_labels():
    frame = (100, 50, 500, 300)
    boxes = [
        (90, 310, 110, 320),  # label at the left corner
        (290, 311, 310, 321),
        (490, 310, 510, 320),
        (280, 340, 320, 352),  # an axis title below the labels
        (600, 310, 620, 320),  # beyond the frame's side
    ]
    assert nearest_words(boxes, frame, "bottom") == [0, 1, 2]


def test_spherical_mercator_only_when_it_fits_clearly_better():
    import pyproj

    lat = np.arange(-80, 81, 20.0)

    def y(crs):
        return pyproj.Transformer.from_crs(4326, crs, always_xy=True).transform(0 * lat, lat)[1]

    for crs, model in (("EPSG:3857", "mercator"), ("EPSG:3395", "mercator_ellipsoidal")):
        row = 600.0 - y(crs) / 1e5
        fit, _ = fit_latitudes(_labels("left", list(lat), row))
        assert fit.model == model
    # within label noise the ellipsoid (GMT's -JM, cartopy's Mercator) is taken
    row = 600.0 - y("EPSG:3857") / 1e5 + np.tile([0.4, -0.4], 5)[:9]
    fit, _ = fit_latitudes(_labels("left", list(lat), row))
    assert fit.model == "mercator_ellipsoidal"


# ---------------------------------------------------------------- corner standard error

FRAME = (100.0, 50.0, 700.0, 350.0)  # 600 x 300 px, 180W..180E x 90S..90N, plate carree


def _reader(lon_labels, lat_labels):
    """A reader that 'reads' the given (text, col) below and (text, row) left of FRAME."""
    x0, y1 = FRAME[0], FRAME[3]

    def read(strip, side):
        if side == "bottom":
            return tuple(TextBox(t, (c - 10, y1 + 5, c + 10, y1 + 15), 1.0) for t, c in lon_labels)
        if side == "left":
            return tuple(TextBox(t, (x0 - 30, r - 5, x0 - 5, r + 5), 1.0) for t, r in lat_labels)
        return ()

    return read


def _col(lon):
    return 100.0 + 600.0 * (np.asarray(lon, float) + 180) / 360


def _row(lat):
    return 50.0 + 300.0 * (90 - np.asarray(lat, float)) / 180


def test_standard_error_grows_past_the_labels_and_matches_the_textbook_formula():
    lon = np.array([-20.0, 0.0, 20.0])
    res = np.array([0.5, -1.0, 0.5])  # residuals of a line through them: sum 0, slope 0
    fit = fit_axis(_col(lon) + res, lon, axis="lon", side="bottom")
    s = np.sqrt(np.sum(res**2) / 1)
    f = lon
    at = np.array([-180.0, 0.0, 180.0])
    want = s * np.sqrt(1 / 3 + (at - f.mean()) ** 2 / np.sum((f - f.mean()) ** 2))
    np.testing.assert_allclose(fit.standard_error(_col(at)), want, rtol=1e-9)
    assert fit.standard_error(_col(0.0)) < fit.standard_error(_col(180.0))


def _lon_text(v):
    return f"{abs(v):g}°{'E' if v > 0 else 'W' if v < 0 else ''}"


def _lat_labels():
    lat = [60, 30, 0, -30, -60]
    return [(f"{abs(v):g}°{'N' if v > 0 else 'S' if v < 0 else ''}", _row(v)) for v in lat]


def test_scattered_labels_in_the_middle_of_the_frame_are_refused_naming_gcps():
    """Three longitude labels spanning a ninth of the frame, each within the residual
    tolerance (1.5 px), extrapolated to the frame's sides: the corners are known to
    several pixels only."""
    values = [-20, 0, 20]
    cols = _col(values) + np.array([0.8, -1.2, 0.4])
    lon = [(_lon_text(v), c) for v, c in zip(values, cols, strict=True)]
    with pytest.raises(GCPError) as err:
        infer_georef(_reader(lon, _lat_labels()), FRAME, (400, 800))
    msg = str(err.value)
    assert "\n" not in msg and "`gcps`" in msg and "standard error" in msg


def test_well_spread_labels_are_accepted_with_their_corner_error():
    values = [-180, -120, -60, 0, 60, 120, 180]
    cols = _col(values) + np.array([0.3, -0.2, 0.1, 0.0, -0.3, 0.2, 0.1])
    lon = [(_lon_text(v), c) for v, c in zip(values, cols, strict=True)]
    geo = infer_georef(_reader(lon, _lat_labels()), FRAME, (400, 800))
    want = corner_error(geo.lon, geo.lat, FRAME)
    assert geo.corner_error == pytest.approx(want) and 0 < want < 0.3 < MAX_CORNER_ERROR
    assert geo.to_dict()["corner_standard_error_px"] == round(want, 3)
    np.testing.assert_allclose(geo.lon.position([-180, 180]), [100, 700], atol=0.3)


# ---------------------------------------------------------------- snapped tick marks


def test_ticks_all_on_pixel_centres_are_taken_back_half_a_pixel():
    np.testing.assert_allclose(unsnap_ticks(np.array([20.5, 40.5, 60.45])), [20, 40, 59.95])
    for ticks in ([20.5, 40.3, 60.5], [20.5, 40.5], [20.0, 40.0, 60.0], [21.0, 41.0, 61.0]):
        np.testing.assert_array_equal(unsnap_ticks(np.array(ticks)), ticks)


def test_snapped_ticks_of_a_figure_zoomed_150_percent_are_taken_back_three_quarters():
    meant = np.array([144.2, 217.0, 290.9, 364.6])  # where the ticks belong, unzoomed
    drawn = np.floor(meant + 0.5) + 0.5  # matplotlib's snapping
    got = unsnap_ticks(1.5 * drawn)
    np.testing.assert_allclose(got, 1.5 * (drawn - 0.5))
    assert np.all(np.abs(got - 1.5 * meant) <= 0.75)


def _framed(tick_cols, neighbours):
    """A white 60 x 100 image, the frame (10, 10, 90, 40) outlined in black, 1-px tick
    marks below it at `tick_cols` with grey `neighbours` (darkness) on each side."""
    rgb = np.full((60, 100, 3), 255, np.uint8)
    rgb[9, 10:90] = rgb[40, 10:90] = 0
    rgb[9:41, 9] = rgb[9:41, 90] = 0
    for c, (left, right) in zip(tick_cols, neighbours, strict=True):
        rgb[41:45, c] = 0
        rgb[41:45, c - 1] = round(255 * (1 - left))
        rgb[41:45, c + 1] = round(255 * (1 - right))
    return rgb


def test_tick_finder_unsnaps_matplotlib_like_ticks_only():
    page = np.array([255.0, 255.0, 255.0])
    frame = (10.0, 10.0, 90.0, 40.0)
    snapped = _framed([30, 50, 70], [(0.3, 0.3)] * 3)  # symmetric: centred on c + 0.5
    np.testing.assert_allclose(tick_finder(snapped, page, frame)("bottom"), [30, 50, 70])
    smooth = _framed([30, 50, 70], [(0.3, 0.3), (0.6, 0.2), (0.2, 0.6)])  # antialiased
    found = tick_finder(smooth, page, frame)("bottom")
    assert found.size == 3 and not np.allclose(np.mod(found, 1), 0.0)
    np.testing.assert_allclose(found[0], 30.5)  # one centred tick among others: kept


def test_missing_counts_a_world_file_as_gcps(tmp_path):
    from PIL import Image

    path = tmp_path / "m.png"
    Image.new("RGB", (40, 30)).save(path)
    given = Options(cmap="jet", vmin=0.0, vmax=1.0, crs="EPSG:4326")
    assert missing(given, None, path).georef  # no GCPs, no world file
    (tmp_path / "m.pgw").write_text("0.5\n0\n0\n-0.5\n-19.75\n14.75\n")
    need = missing(given, None, path)
    assert not need and (need.scale, need.value_range, need.georef) == (False, False, False)
    need = missing(Options(cmap_file=None, crs="EPSG:4326"), None, path)
    assert need.scale and need.value_range and not need.georef
    classes = Options(cmap="jet", levels=(0.0, 1.0, 2.0), crs="EPSG:4326")
    assert not missing(classes, None, path).value_range
