"""``geodigitize regrid`` in-process: reads points.gpkg, writes a GeoTIFF."""

from __future__ import annotations

import numpy as np
import rasterio
from typer.testing import CliRunner

from geodigitize import extract
from geodigitize.cli import app

runner = CliRunner()


def _points(figure, tmp_path):
    img, gcps = figure.write(tmp_path)
    result = extract(
        img, gcps=gcps, cmap="jet_r", vmin=0, vmax=0.7, region=figure.frame, target_error="1%"
    )
    return result.write(tmp_path / "out")["points.gpkg"]


def test_regrid_command_writes_grid(figure, tmp_path):
    gpkg = _points(figure, tmp_path)
    out = tmp_path / "grid.tif"
    res = runner.invoke(
        app,
        [
            "regrid",
            str(gpkg),
            "--res",
            "5",
            "--method",
            "linear",
            "--bounds",
            "-150,-60,150,60",
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    assert "regridded" in res.output
    with rasterio.open(out) as src:
        assert src.crs.to_epsg() == 4326
        assert (src.width, src.height) == (60, 24)
        assert src.transform.c == -150 and src.transform.f == 60 and src.transform.a == 5
        data = src.read(1)
    ok = np.isfinite(data)
    assert ok.mean() > 0.8
    # compare with the known field at the cell centres
    from tests.conftest import field

    lon = -150 + 5 * (np.arange(60) + 0.5)
    lat = 60 - 5 * (np.arange(24) + 0.5)
    truth = field(*np.meshgrid(lon, lat), 0.0, 0.7)
    # a wiring check: accuracy of each method is tested with the regrid module
    assert np.median(np.abs(data[ok] - truth[ok])) / 0.7 < 0.03


def test_regrid_command_errors_are_one_line(tmp_path):
    res = runner.invoke(
        app,
        ["regrid", str(tmp_path / "missing.gpkg"), "--res", "1", "--out", str(tmp_path / "g.tif")],
    )
    assert res.exit_code != 0
    assert "Traceback" not in res.output
    assert not (tmp_path / "g.tif").exists()


def test_regrid_command_refuses_overwrite(figure, tmp_path):
    gpkg = _points(figure, tmp_path)
    out = tmp_path / "grid.tif"
    out.write_bytes(b"")
    res = runner.invoke(app, ["regrid", str(gpkg), "--res", "5", "--out", str(out)])
    assert res.exit_code != 0 and "exists" in res.output
    res = runner.invoke(
        app,
        ["regrid", str(gpkg), "--res", "5", "--method", "bogus", "--out", str(tmp_path / "x.tif")],
    )
    assert res.exit_code != 0 and "unknown method" in res.output
