"""The command line in-process: a real run, then every bad input of the `run` issue.

Each bad input must give one line on stderr, a non-zero exit code, no traceback and no
output files.
"""

import json

import numpy as np
import pytest
import rasterio
from PIL import Image
from typer.testing import CliRunner

from geodigitize.cli import app

runner = CliRunner()
ARGS = ["--cmap", "jet_r", "--vmin", "0", "--vmax", "0.7"]


@pytest.fixture
def files(figure, tmp_path):
    img, gcps = figure.write(tmp_path)
    return img, gcps, tmp_path / "out"


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_run_writes_outputs_and_summary(files, figure):
    img, gcps, out = files
    res = invoke(
        "run",
        img,
        "--gcps",
        gcps,
        *ARGS,
        "--region",
        "10,10,150,110",
        "--consistency",
        "0",
        "--out",
        out,
    )
    assert res.exit_code == 0, res.output
    assert "points" in res.stdout and "RMSE" in res.stdout
    assert sorted(p.name for p in out.iterdir()) == [
        "grid.qml",
        "grid.tif",
        "points.gpkg",
        "points.qml",
        "report.json",
    ]
    with rasterio.open(out / "grid.tif") as src:
        assert src.crs.to_epsg() == 4326
        x0, y0, x1, y1 = figure.frame
        assert np.array_equal(~np.isnan(src.read(1)), figure.data[y0:y1, x0:x1])
    report = json.loads((out / "report.json").read_text())
    assert report["parameters"]["region"] == [10, 10, 150, 110]


def test_quiet_prints_nothing(files):
    img, gcps, out = files
    res = invoke("run", img, "--gcps", gcps, *ARGS, "--out", out, "-q")
    assert res.exit_code == 0 and res.stdout == ""


def test_existing_outputs_need_overwrite(files):
    img, gcps, out = files
    assert invoke("run", img, "--gcps", gcps, *ARGS, "--out", out).exit_code == 0
    again = invoke("run", img, "--gcps", gcps, *ARGS, "--out", out)
    assert again.exit_code != 0 and "--overwrite" in again.stderr
    assert invoke("run", img, "--gcps", gcps, *ARGS, "--out", out, "--overwrite").exit_code == 0


def _write(path, text):
    path.write_text(text)
    return path


def bad_cases(tmp_path, img, gcps):
    """(arguments, expected words in the message) for each bad input."""
    t = tmp_path
    trunc = t / "trunc.png"
    trunc.write_bytes(img.read_bytes()[:300])
    grey = t / "grey.png"
    Image.fromarray(np.full((50, 50, 3), 128, np.uint8)).save(grey)
    a_file = _write(t / "a_file", "x")
    g = lambda name, text: _write(t / name, text)  # noqa: E731
    return {
        "missing image": ([t / "nope.png", "--gcps", gcps, *ARGS], "does not exist"),
        "not an image": ([gcps, "--gcps", gcps, *ARGS], "not an image"),
        "truncated": ([trunc, "--gcps", gcps, *ARGS], "truncated"),
        "unknown cmap": (
            [img, "--gcps", gcps, "--cmap", "jett", "--vmin", "0", "--vmax", "1"],
            "did you mean jet",
        ),
        "vmin >= vmax": (
            [img, "--gcps", gcps, "--cmap", "jet", "--vmin", "1", "--vmax", "1"],
            "smaller than vmax",
        ),
        "log vmin <= 0": (
            [img, "--gcps", gcps, "--cmap", "jet", "--vmin", "0", "--vmax", "1", "--norm", "log"],
            "vmin > 0",
        ),
        "gcps missing": ([img, "--gcps", t / "none.csv", *ARGS], "does not exist"),
        "no gcps": ([img, *ARGS], "--gcps"),
        "gcp column": ([img, "--gcps", g("c.csv", "col,row,lon\n1,2,3\n"), *ARGS], "header"),
        "gcp number": (
            [img, "--gcps", g("n.csv", "col,row,lon,lat\n1,2,x,4\n5,6,7,8\n9,9,9,1\n"), *ARGS],
            "not a number",
        ),
        "gcp too few": (
            [img, "--gcps", g("f.csv", "col,row,lon,lat\n10,10,0,0\n20,20,1,1\n"), *ARGS],
            "at least 3",
        ),
        "gcp collinear": (
            [
                img,
                "--gcps",
                g("l.csv", "col,row,lon,lat\n10,10,0,0\n20,20,1,1\n30,30,2,5\n"),
                *ARGS,
            ],
            "one line",
        ),
        "gcp duplicate": (
            [
                img,
                "--gcps",
                g("d.csv", "col,row,lon,lat\n10,10,0,0\n10,10,1,1\n30,50,2,5\n"),
                *ARGS,
            ],
            "share the pixel",
        ),
        "gcp outside": (
            [
                img,
                "--gcps",
                g("o.csv", "col,row,lon,lat\n10,10,0,0\n500,10,1,1\n30,50,2,5\n"),
                *ARGS,
            ],
            "outside",
        ),
        "region outside": ([img, "--gcps", gcps, *ARGS, "--region", "0,0,999,10"], "outside"),
        "nothing on scale": (
            [grey, "--gcps", g("s.csv", "col,row,lon,lat\n1,1,0,0\n40,1,1,0\n1,40,0,1\n"), *ARGS],
            "no pixel",
        ),
        "out is a file": ([img, "--gcps", gcps, *ARGS, "--out-dir-override", a_file], "folder"),
    }


CASES = [
    "missing image",
    "not an image",
    "truncated",
    "unknown cmap",
    "vmin >= vmax",
    "log vmin <= 0",
    "gcps missing",
    "no gcps",
    "gcp column",
    "gcp number",
    "gcp too few",
    "gcp collinear",
    "gcp duplicate",
    "gcp outside",
    "region outside",
    "nothing on scale",
    "out is a file",
]


@pytest.mark.parametrize("case", CASES)
def test_bad_input_one_line_no_traceback_no_output(case, files, tmp_path):
    img, gcps, out = files
    args, words = bad_cases(tmp_path, img, gcps)[case]
    if "--out-dir-override" in args:
        out = args[-1]
        args = args[:-2]
    res = invoke("run", *args, "--out", out)
    assert res.exit_code not in (0, None), res.output
    assert "Traceback" not in res.output
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, res.stderr
    assert words in lines[0]
    assert not out.exists() or out.is_file()  # not even the folder was created
