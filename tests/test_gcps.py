"""GCP files: CSV header variants, QGIS .points read and write, clear errors."""

import json

import numpy as np
import pytest
import rasterio
from affine import Affine
from typer.testing import CliRunner

from geodigitize.cli import app
from geodigitize.errors import CRSError, GCPError
from geodigitize.gcps import GCPSet, parse_crs, read_gcps, write_points

# A .points file as QGIS 3.28 writes it (one-line WKT1 CRS, sourceY = -row).
QGIS_POINTS = (
    '#CRS: GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563,'
    'AUTHORITY["EPSG","7030"]],AUTHORITY["EPSG","6326"]],PRIMEM["Greenwich",0,'
    'AUTHORITY["EPSG","8901"]],UNIT["degree",0.0174532925199433,AUTHORITY["EPSG","9122"]],'
    'AXIS["Latitude",NORTH],AXIS["Longitude",EAST],AUTHORITY["EPSG","4326"]]\n'
    "mapX,mapY,sourceX,sourceY,enable,dX,dY,residual\n"
    "-30,60,10.5,-20.25,1,0.0000000000039222,-0.00000000030794922,0.0000000003079742\n"
    "30,60,610.5,-20.25,1,0,0,0\n"
    "30,-60,610.5,-1220.25,0,0,0,0\n"
)


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "header",
    [
        "col,row,lon,lat",
        "x,y,lon,lat",
        "pixel_x,pixel_y,longitude,latitude",
        "x,y,mapX,mapY",
        "Col, Row, Lon, Lat",
        "lon,lat,col,row",
    ],
)
def test_csv_header_aliases(tmp_path, header):
    names = [h.strip().lower() for h in header.split(",")]
    values = {"col": 10.5, "row": 20.5, "lon": -3.0, "lat": 51.0}
    key = {
        "x": "col",
        "y": "row",
        "pixel_x": "col",
        "pixel_y": "row",
        "longitude": "lon",
        "latitude": "lat",
        "mapx": "lon",
        "mapy": "lat",
    }
    row = ",".join(str(values[key.get(n, n)]) for n in names)
    gcps = read_gcps(_write(tmp_path, "g.csv", f"{header}\n{row}\n"))
    p = gcps.points[0]
    assert (p.col, p.row, p.x, p.y) == (10.5, 20.5, -3.0, 51.0)
    assert gcps.crs == "EPSG:4326"


def test_csv_id_and_enable(tmp_path):
    text = "id,col,row,lon,lat,enable\nA,1,2,3,4,1\nB,5,6,7,8,0\n"
    gcps = read_gcps(_write(tmp_path, "g.csv", text))
    assert gcps.ids == ["A", "B"]
    assert [p.enabled for p in gcps] == [True, False]
    assert len(gcps.enabled()) == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("col,row,lon\n1,2,3\n", "header must name"),
        ("col,row,lon,lat\n1,2,abc,4\n", "'abc' is not a number"),
        ("col,row,lon,lat\n1,2,nan,4\n", "not a finite number"),
    ],
)
def test_csv_errors_are_one_line(tmp_path, text, message):
    with pytest.raises(GCPError, match=message) as info:
        read_gcps(_write(tmp_path, "g.csv", text))
    assert "\n" not in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(GCPError, match="does not exist"):
        read_gcps(tmp_path / "nope.csv")


def test_read_qgis_points(tmp_path):
    gcps = read_gcps(_write(tmp_path, "map.png.points", QGIS_POINTS))
    assert [(p.col, p.row, p.x, p.y) for p in gcps] == [
        (10.5, 20.25, -30, 60),
        (610.5, 20.25, 30, 60),
        (610.5, 1220.25, 30, -60),
    ]
    assert [p.enabled for p in gcps] == [True, True, False]
    assert parse_crs(gcps.crs).to_epsg() == 4326


def test_points_recognised_by_content_not_extension(tmp_path):
    gcps = read_gcps(_write(tmp_path, "gcps.txt", QGIS_POINTS))
    assert gcps.points[0].row == 20.25


@pytest.mark.parametrize(
    "text",
    [
        "mapX,mapY,pixelX,pixelY,enable\n-30,60,10.5,-20.25,1\n",  # QGIS 2 header
        "mapX\tmapY\tpixelX\tpixelY\tenable\n-30\t60\t10.5\t-20.25\t1\n",  # QGIS 1 tabs
        "mapX,mapY,sourceX,sourceY,enable,dX,dY,residual\n-30,60,10.5,-20.25,1,0,0,0\n",
    ],
)
def test_older_points_variants(tmp_path, text):
    p = read_gcps(_write(tmp_path, "old.points", text)).points[0]
    assert (p.col, p.row, p.x, p.y) == (10.5, 20.25, -30, 60)


@pytest.mark.parametrize(
    "header",
    [
        "mapX,mapY,mapZ,sourceX,sourceY,enable,dX,dY,residual",
        "mapX,mapY,sourceX,sourceY,enable,dX,dY,residual,weight",
        "mapX,mapY,sourceX,sourceY,enabled",
    ],
)
def test_points_with_unexpected_columns_is_one_clear_line(tmp_path, header):
    n = header.count(",") + 1
    text = f"{header}\n" + ",".join(["1"] * n) + "\n"
    with pytest.raises(GCPError, match="unexpected columns") as info:
        read_gcps(_write(tmp_path, "new.points", text))
    assert "\n" not in str(info.value)


def test_write_points_round_trips_and_looks_like_qgis(tmp_path):
    src = GCPSet.from_arrays(
        [10.5, 610.5, 300.0], [20.25, 20.25, 900.0], [-30.0, 30.0, 0.1], [60.0, 60.0, -45.0]
    )
    path = write_points(src, tmp_path / "out.points")
    lines = path.read_text().splitlines()
    assert lines[0].startswith('#CRS: GEOGCS["WGS 84"')
    assert lines[1] == "mapX,mapY,sourceX,sourceY,enable,dX,dY,residual"
    assert lines[2] == "-30,60,10.5,-20.25,1,0,0,0"
    back = read_gcps(path)
    for name in ("col", "row", "x", "y"):
        np.testing.assert_array_equal(getattr(back, name), getattr(src, name))
    assert parse_crs(back.crs).to_epsg() == 4326


def test_points_crs_override(tmp_path):
    gcps = read_gcps(_write(tmp_path, "m.points", QGIS_POINTS), crs="EPSG:4269")
    assert gcps.crs == "EPSG:4269"


@pytest.mark.parametrize("bad", ["EPSG:999999", "+proj=nonsense", "not a crs"])
def test_unknown_crs_repeats_the_text(tmp_path, bad):
    with pytest.raises(CRSError, match="unknown CRS") as info:
        read_gcps(_write(tmp_path, "g.csv", "col,row,lon,lat\n1,2,3,4\n"), crs=bad)
    assert bad in str(info.value)


def test_gcp_outside_image():
    gcps = GCPSet.from_arrays([10, 700], [10, 10], [0, 1], [0, 1])
    with pytest.raises(GCPError, match="outside the 600x400 image"):
        gcps.check_inside((400, 600))


# --- the command line: `geodigitize gcps`, and `run --save-points` / world files -------
runner = CliRunner()
ARGS = ["--cmap", "jet_r", "--vmin", "0", "--vmax", "0.7"]


def _invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def files(figure, tmp_path):
    img, gcps = figure.write(tmp_path)
    return img, gcps, tmp_path


def test_gcps_command_table_and_json(files):
    img, gcps, _ = files
    res = _invoke("gcps", img, "--gcps", gcps, "--transform", "auto")
    assert res.exit_code == 0, res.output
    assert "RMSE" in res.stdout and "QGIS mean error" in res.stdout and "auto:" in res.stdout
    res = _invoke("gcps", img, "--gcps", gcps, "--json")
    report = json.loads(res.stdout)
    assert report["n_gcps"] == 4 and report["rmse_px"] < 1e-6


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--crs", "EPSG:999999"], "unknown CRS"),
        (["--transform", "poly2"], "at least 6 GCPs"),
        (["--transform", "bezier"], "unknown transform"),
    ],
)
def test_gcps_command_bad_input_is_one_line(files, extra, message):
    img, gcps, _ = files
    res = _invoke("gcps", img, "--gcps", gcps, *extra)
    assert res.exit_code != 0
    assert message in res.stderr and "Traceback" not in res.output
    assert len(res.stderr.strip().splitlines()) == 1


def test_gcps_command_bad_points_file(files):
    img, _, tmp = files
    bad = tmp / "new.points"
    bad.write_text("mapX,mapY,mapZ,sourceX,sourceY\n1,2,3,4,5\n")
    res = _invoke("gcps", img, "--gcps", bad)
    assert res.exit_code != 0 and "unexpected columns" in res.stderr


def test_run_save_points_round_trips_through_qgis_format(files):
    img, gcps, tmp = files
    res = _invoke(
        "run",
        img,
        "--gcps",
        gcps,
        *ARGS,
        "--out",
        tmp / "out",
        "--save-points",
        tmp / "map.points",
        "--transform",
        "tps",
    )
    assert res.exit_code == 0, res.output
    back = read_gcps(tmp / "map.points")
    orig = read_gcps(gcps)
    np.testing.assert_allclose(back.row, orig.row)
    report = json.loads((tmp / "out" / "report.json").read_text())
    assert report["georeference"]["transform"] == "tps"
    assert "loo_rmse_px" in report["georeference"]


def test_run_without_gcps_uses_the_world_file(files, figure):
    img, gcps, tmp = files
    geo = read_gcps(gcps)
    from geodigitize.georef import georeference

    gt = georeference(geo, figure.image.shape[:2]).geotransform()
    # world file: A, D, B, E and the centre of the top-left pixel
    (tmp / "map.pgw").write_text(
        "\n".join(
            str(v)
            for v in (
                gt.a,
                gt.d,
                gt.b,
                gt.e,
                gt.c + gt.a / 2 + gt.b / 2,
                gt.f + gt.d / 2 + gt.e / 2,
            )
        )
    )
    res = _invoke("run", img, *ARGS, "--out", tmp / "out", "--crs", "EPSG:4326")
    assert res.exit_code == 0, res.output
    assert "world file" in res.stdout
    with rasterio.open(tmp / "out" / "grid.tif") as src:
        # the grid is cropped to the decoded pixels, i.e. to the map frame
        x0, y0 = figure.frame[:2]
        expected = gt @ Affine.translation(x0, y0)
        np.testing.assert_allclose(src.transform.to_gdal(), expected.to_gdal(), atol=1e-9)


def test_run_without_any_georeference_is_one_line(files):
    img, _, tmp = files
    res = _invoke("run", img, *ARGS, "--out", tmp / "out")
    assert res.exit_code != 0 and "no ground control points" in res.stderr
