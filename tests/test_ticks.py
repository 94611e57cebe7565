"""Tick labels as numbers: every format plotting programs write, and OCR's confusions."""

import pytest

from geodigitize.ticks import parse_coordinate, parse_value


@pytest.mark.parametrize(
    ("text", "axis", "value"),
    [
        ("30°E", "lon", 30.0),
        ("30E", "lon", 30.0),
        ("30°W", "lon", -30.0),
        ("30W", "lon", -30.0),
        ("-30", "lon", -30.0),
        ("\u221230", "lon", -30.0),  # unicode minus, matplotlib's own formatter
        ("\u221230°", "lat", -30.0),
        ("0°", "lon", 0.0),
        ("0", "lat", 0.0),
        ("180", "lon", 180.0),
        ("180°", "lon", 180.0),
        ("120°E", "lon", 120.0),
        ("60°N", "lat", 60.0),
        ("60S", "lat", -60.0),
        ("30°S", "lat", -30.0),
        ("30.5", "lat", 30.5),
        ("-120.0", "lon", -120.0),
        ("45°30'N", "lat", 45.5),
        ("30°30′", "lat", 30.5),
        ("10°15'36\"W", "lon", -10.26),
        (" 60 °N ", "lat", 60.0),
        # OCR's confusions, undone only where unambiguous
        ("O°", "lat", 0.0),
        ("180*E", "lon", 180.0),
        ("60º", "lat", 60.0),
        ("l20°E", "lon", 120.0),
        ("30°5", "lat", -30.0),  # S read as 5 after a degree sign, latitude only
    ],
)
def test_coordinates_are_read(text, axis, value):
    assert parse_coordinate(text, axis) == pytest.approx(value)


@pytest.mark.parametrize(
    ("text", "axis"),
    [
        ("60N", "lon"),  # another axis's letter
        ("30E", "lat"),
        ("-30W", "lon"),  # a sign with a hemisphere letter
        ("95", "lat"),  # beyond the pole
        ("400", "lon"),
        ("value", "lon"),
        ("", "lat"),
        ("30°75'", "lat"),  # minutes past 60
        ("305", "lat"),  # a 5 without a degree sign stays a 5 (and 305 is no latitude)
    ],
)
def test_what_is_not_a_coordinate_is_none(text, axis):
    assert parse_coordinate(text, axis) is None


def test_unknown_axis_is_refused():
    with pytest.raises(ValueError, match="axis"):
        parse_coordinate("30", "x")


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0", 0.0),
        ("0.0", 0.0),
        ("0.35", 0.35),
        (".5", 0.5),
        ("-2", -2.0),
        ("\u22122", -2.0),
        ("1e3", 1000.0),
        ("1e-3", 0.001),
        ("2.5E+2", 250.0),
        ("10⁴", 1e4),
        ("10⁻³", 1e-3),
        ("10^4", 1e4),
        ("1.5×10³", 1500.0),
        ("2x10^-2", 0.02),
        ("O.5", 0.5),
        ("1O", 10.0),
    ],
)
def test_values_are_read(text, value):
    assert parse_value(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["value", "", "-", "1.2.3", "e5", "10°", "30N"])
def test_what_is_not_a_value_is_none(text):
    assert parse_value(text) is None
