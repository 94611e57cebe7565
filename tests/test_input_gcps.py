"""GCP checks of issue 15: swapped lon/lat, 0..360 longitudes, separators, decimal commas,
degrees-minutes-seconds, duplicate rows, geocentric CRSs, DataFrames and arrays."""

import numpy as np
import pandas as pd
import pytest

from geodigitize.errors import CRSError, GCPError, GeodigitizeError, InputTypeError
from geodigitize.gcps import GCPSet, as_gcpset, read_gcps
from geodigitize.georef import georeference

SHAPE = (300, 400)


def _plate_carree(lon0: float, lon1: float, lat0: float = -20, lat1: float = 20, step=5.0):
    """Exact graticule GCPs of a plate carrée map of lon0..lon1 (may pass 180)."""
    lon, lat = np.meshgrid(np.arange(lon0, lon1 + 1e-9, step), np.arange(lat0, lat1 + 1e-9, step))
    col = 20 + (lon - lon0) / (lon1 - lon0) * 360
    row = 20 + (lat1 - lat) / (lat1 - lat0) * 260
    return col.ravel(), row.ravel(), lon.ravel(), lat.ravel()


def _write(tmp_path, text, name="g.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_latitude_beyond_90_asks_whether_lon_lat_are_swapped():
    col, row, lon, lat = _plate_carree(-10, 100)
    gcps = GCPSet.from_arrays(col, row, lat, lon)  # swapped
    expected = r"GCP 22 has latitude 95, outside \[-90, 90\]: are lon and lat swapped\?"
    with pytest.raises(GCPError, match=expected) as info:
        georeference(gcps, SHAPE)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(("lon0", "lon1", "centre"), [(-10, 10, 0.0), (170, 190, 180.0)])
def test_longitudes_jumping_by_360_are_read_on_one_branch(lon0, lon1, centre):
    col, row, lon, lat = _plate_carree(lon0, lon1)
    given = np.where(lon < 0, lon + 360, lon) if lon0 < 0 else np.where(lon > 180, lon - 360, lon)
    assert np.ptp(given) > 300  # 350..10 written 0..360, or 170..-170
    geo = georeference(GCPSet.from_arrays(col, row, given, lat), SHAPE)
    assert geo.rmse < 1e-6 and geo.warnings == ()
    assert any("one continuous range" in n for n in geo.notes)
    x, y = geo.pixel_to_map(200, 150)
    assert (x - centre + 180) % 360 - 180 == pytest.approx(0, abs=1e-9)
    assert y == pytest.approx(0, abs=1e-9)


def test_a_global_map_keeps_both_180_meridians():
    col, row, lon, lat = _plate_carree(-180, 180, -60, 60, step=30)
    geo = georeference(GCPSet.from_arrays(col, row, lon, lat), SHAPE)
    assert geo.rmse < 1e-6 and geo.notes == ()


def test_semicolons_and_decimal_commas_are_read(tmp_path):
    text = "col;row;lon;lat\n10,5;20,25;-3,5;51,25\n110;20;-2;51\n"
    gcps = read_gcps(_write(tmp_path, text))
    assert [(p.col, p.row, p.x, p.y) for p in gcps] == [
        (10.5, 20.25, -3.5, 51.25),
        (110, 20, -2, 51),
    ]


def test_decimal_commas_in_a_comma_file_are_refused_saying_what_to_change(tmp_path):
    text = "col,row,lon,lat\n10,5,20,25,-3,5,51,25\n"
    with pytest.raises(
        GCPError,
        match=r"expected 4 fields .* got 8: decimal commas\? write "
        r"decimal points .* separate the fields with ';'",
    ):
        read_gcps(_write(tmp_path, text))


@pytest.mark.parametrize(
    ("lon", "lat", "expected"),
    [
        ("30°W", "45°30'N", (-30.0, 45.5)),
        ("30.5°E", '12°30\'36""S', (30.5, -12.51)),
        ("W 0°30'", "N 51°", (-0.5, 51.0)),
        ("-30", "1e1", (-30.0, 10.0)),
    ],
)
def test_degrees_minutes_seconds_are_read(tmp_path, lon, lat, expected):
    text = f'col,row,lon,lat\n1,2,"{lon}","{lat}"\n'
    p = read_gcps(_write(tmp_path, text)).points[0]
    assert (p.x, p.y) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("lon", "lat", "message"),
    [
        ("45°N", "30°W", "a latitude in the lon column: are lon and lat swapped"),
        ("30°75'W", "45°N", "minutes or seconds of 60 or more"),
        ("30 deg west", "45", "cannot read '30 deg west' as degrees"),
    ],
)
def test_unreadable_degrees_say_what_to_change(tmp_path, lon, lat, message):
    with pytest.raises(GCPError, match=message) as info:
        read_gcps(_write(tmp_path, f"col,row,lon,lat\n1,2,{lon},{lat}\n"))
    assert "\n" not in str(info.value)


def test_exact_duplicate_rows_are_merged_conflicting_ones_refused():
    col, row, lon, lat = _plate_carree(-10, 10, step=10)
    dup = GCPSet.from_arrays(
        np.append(col, col[0]),
        np.append(row, row[0]),
        np.append(lon, lon[0]),
        np.append(lat, lat[0]),
    )
    geo = georeference(dup, SHAPE)
    assert len(geo.gcps) == col.size and geo.notes == ("1 exact duplicate GCP row merged",)
    clash = GCPSet.from_arrays(
        np.append(col, col[0]),
        np.append(row, row[0]),
        np.append(lon, lon[0] + 1),
        np.append(lat, lat[0]),
    )
    with pytest.raises(GCPError, match="share the pixel position"):
        georeference(clash, SHAPE)


@pytest.mark.parametrize("where", ["map", "gcps"])
def test_geocentric_crs_is_not_a_map_crs(where):
    col, row, lon, lat = _plate_carree(-10, 10, step=10)
    gcps = GCPSet.from_arrays(
        col, row, lon, lat, crs="EPSG:4978" if where == "gcps" else "EPSG:4326"
    )
    with pytest.raises(CRSError, match=r"geocentric .* not a 2-D map CRS: give"):
        georeference(gcps, SHAPE, crs="EPSG:4978" if where == "map" else None)


def test_dataframes_and_arrays_become_gcp_sets():
    col, row, lon, lat = _plate_carree(-10, 10, step=10)
    expected = GCPSet.from_arrays(col, row, lon, lat)
    frame = pd.DataFrame({"X": col, "Y": row, "Longitude": lon, "Latitude": lat})
    for gcps in (
        as_gcpset(frame),
        as_gcpset(np.column_stack([col, row, lon, lat])),
        as_gcpset(np.column_stack([col, row, lon, lat]).tolist()),
    ):
        np.testing.assert_array_equal(
            [gcps.col, gcps.row, gcps.x, gcps.y],
            [expected.col, expected.row, expected.x, expected.y],
        )
        assert gcps.crs == "EPSG:4326"
    named = as_gcpset(
        pd.DataFrame(
            {
                "id": ["a", "b"],
                "col": [1, 2],
                "row": [3, 4],
                "lon": ["30°W", "29°W"],
                "lat": [1.0, 2.0],
                "enable": [True, False],
            }
        ),
        crs="EPSG:4326",
    )
    assert named.ids == ["a", "b"] and named.x.tolist() == [-30, -29]
    assert [p.enabled for p in named] == [True, False]


@pytest.mark.parametrize(
    ("obj", "error", "builtin", "message"),
    [
        (42, InputTypeError, TypeError, "GCPs must be a GCPSet, a file path, a pandas DataFrame"),
        ({"col": [1]}, InputTypeError, TypeError, "got dict"),
        (np.zeros((5, 3)), GCPError, ValueError, r"shape \(N, 4\).*got shape \(5, 3\)"),
        (pd.DataFrame({"col": [1], "row": [2]}), GCPError, ValueError, "found col,row"),
    ],
)
def test_bad_gcp_objects_are_geodigitize_errors(obj, error, builtin, message):
    with pytest.raises(error, match=message) as info:
        as_gcpset(obj)
    assert isinstance(info.value, GeodigitizeError) and isinstance(info.value, builtin)


def test_non_ascii_gcp_file_names(tmp_path):
    path = _write(tmp_path, "col,row,lon,lat\n1,2,3,4\n", name="points_ñandú_地图.csv")
    assert read_gcps(path).source == str(path)
    with pytest.raises(GCPError, match=r"'.*Ærø\.csv' does not exist"):
        read_gcps(tmp_path / "Ærø.csv")


@pytest.mark.parametrize("x0", [56, 64, 69.5])
def test_a_global_maps_minus_180_and_180_stay_apart(x0):
    """Longitudes -180 and 180 at a global map's left and right edges are two places on
    the image; wrapping them onto one branch would collapse them (it did when the affine
    fit of the given longitudes left float noise)."""
    x1 = x0 + 672
    gcps = GCPSet.from_arrays(
        [x0, x1, x0, x1], [50, 50, 450, 450], [-180, 180, -180, 180], [90, 90, -90, -90]
    )
    geo = georeference(gcps, (500, 800))
    assert geo.notes == ()
    lon, _ = geo.pixel_to_crs(np.array([x0, x1]), np.array([250, 250]), "EPSG:4326")
    np.testing.assert_allclose(lon, [-180, 180], atol=1e-9)
