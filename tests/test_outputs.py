"""Outputs re-read with rasterio and pyogrio: CRS, transform, columns, values; atomicity."""

import contextlib
import json
import sqlite3

import numpy as np
import pyogrio
import pytest
import rasterio
from affine import Affine

from geodigitize import extract
from geodigitize.errors import OutputError
from geodigitize.io import write_outputs


@pytest.fixture
def written(figure, tmp_path):
    img, gcps = figure.write(tmp_path)
    res = extract(
        img, gcps=gcps, cmap="jet_r", vmin=0, vmax=0.7, region=figure.frame, consistency=None
    )
    return res, res.write(tmp_path / "out")


def test_grid_tif(written, figure):
    res, paths = written
    x0, y0, x1, y1 = figure.frame  # the decoded pixels fill the frame: the grid is cropped to it
    with rasterio.open(paths["grid.tif"]) as src:
        assert src.crs.to_epsg() == 4326
        assert src.dtypes == ("float32",)
        assert np.isnan(src.nodata)
        assert (src.width, src.height) == (x1 - x0, y1 - y0)
        assert src.transform == res.georef.geotransform() @ Affine.translation(x0, y0)
        assert src.transform.b == 0.0 and src.transform.d == 0.0
        assert src.bounds == pytest.approx((-180, -80, 180, 80), abs=1e-9)
        assert src.profile["compress"] == "zstd"
        assert src.tags(ns="IMAGE_STRUCTURE")["PREDICTOR"] == "2"  # runs of equal values
        band = src.read(1)
    data = figure.data[y0:y1, x0:x1]
    expected = res.values.astype(np.float32)[y0:y1, x0:x1]
    assert np.array_equal(np.isnan(band), ~data)
    assert np.array_equal(band[data], expected[data])


def test_points_gpkg(written):
    res, paths = written
    info = pyogrio.read_info(paths["points.gpkg"], layer="points")
    with contextlib.closing(sqlite3.connect(paths["points.gpkg"])) as db:
        # GeoPackage 1.2: opens without a warning in GDAL 3.6 / QGIS 3.22 LTS
        assert db.execute("pragma user_version").fetchone()[0] == 10200
    assert info["geometry_type"] == "Point"
    assert "4326" in info["crs"]
    fields = dict(zip(info["fields"], info["dtypes"], strict=True))
    assert fields == {"value": "float64", "col": "float64", "row": "float64", "n_pixels": "int64"}
    df = pyogrio.read_dataframe(paths["points.gpkg"], layer="points")
    assert len(df) == len(res.points)
    assert np.allclose(df.geometry.x, res.points.geometry.x)
    assert np.array_equal(df["value"], res.points["value"])


def test_report_json(written):
    res, paths = written
    report = json.loads(paths["report.json"].read_text())
    assert report["parameters"]["cmap"] == "jet_r"
    assert report["parameters"]["region"] == [10.0, 10.0, 150.0, 110.0]
    assert report["counts"]["points"] == len(res.points)
    assert report["georeference"]["rmse_px"] < 1e-9
    assert len(report["georeference"]["residuals"]) == 4
    assert set(report["timings_s"]) >= {"read", "decode", "mask", "reduce"}
    assert report["reconstruction"]["median_abs_error_pct"] >= 0
    assert report["geodigitize_version"]


def test_existing_outputs_are_not_replaced(written, tmp_path):
    res, paths = written
    before = paths["grid.tif"].read_bytes()
    with pytest.raises(OutputError, match="overwrite=True"):  # the CLI says --overwrite
        res.write(tmp_path / "out")
    assert paths["grid.tif"].read_bytes() == before
    res.write(tmp_path / "out", overwrite=True)


def test_failed_write_leaves_nothing(tmp_path):
    def good(p):
        p.write_text("ok")

    def bad(p):
        raise OSError("disk full")

    with pytest.raises(OutputError, match="disk full"):
        write_outputs(tmp_path / "o", {"a.txt": good, "b.txt": bad})
    assert not (tmp_path / "o").exists()  # created at the commit only
    assert [p.name for p in tmp_path.iterdir()] == []  # no temporary folder, no lock
