"""The command line on PDF pages and shaded relief, and option errors naming flags."""

import json
import sys
from pathlib import Path

import pytest

from benchmarks.pdf_accuracy import figure, frame, gcps_csv

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_shading import _shaded_image

SCALE = ["--cmap", "jet", "--vmin", "0", "--vmax", "1"]


def test_run_on_a_pdf_page(cli, tmp_path):
    pdf = figure(tmp_path / "f.pdf", "imshow")
    x0, y0, x1, y1 = frame(100)
    code, _, err = cli(
        "run",
        pdf,
        "--gcps",
        gcps_csv(tmp_path, 100),
        *SCALE,
        "--dpi",
        100,
        "--pdf-image",
        "render",
        "--region",
        f"{x0 + 1},{y0 + 1},{x1 - 1},{y1 - 1}",
        "--out",
        tmp_path / "out",
        "-q",
    )
    assert code in (0, None), err
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["input"]["pdf"]["kind"] == "rendered"
    assert report["input"]["pdf"]["dpi"] == 100
    assert report["input"]["width"] == 600 and report["input"]["height"] == 350
    assert report["counts"]["data"] > 0.95 * (x1 - x0 - 2) * (y1 - y0 - 2)


def test_pdf_pixels_without_dpi_is_refused(cli, tmp_path):
    pdf = figure(tmp_path / "f.pdf", "imshow")
    code, _, err = cli(
        "run", pdf, "--gcps", gcps_csv(tmp_path, 100), *SCALE, "--out", tmp_path / "out"
    )
    assert code == 2
    assert err.count("\n") == 1 and "give --dpi" in err and "--gcp-units points" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--eps", "nan"], "error: --eps must be a finite number > 0, got nan"),
        (["--levels", "nan,0.3,0.7"], "error: --levels must be finite numbers"),
        (["--flat-tol", "-1"], "error: --flat-tol must be a finite number >= 0"),
        (["--samples", "1000000000"], "error: --samples must be a whole number >= 2"),
        (["--shaded", "screen"], "error: --shaded must be one of soft, overlay, hsv"),
        (["--page", "0"], "error: --page must be a whole number >= 1"),
    ],
)
def test_bad_option_values_name_their_flag(cli, tmp_path, args, words):
    code, _, err = cli(
        "run",
        Path(__file__).parents[1] / "examples" / "sst_jet_r.png",
        "--gcps",
        Path(__file__).parents[1] / "examples" / "sst_jet_r_gcps.csv",
        *SCALE,
        *args,
        "--out",
        tmp_path / "out",
    )
    assert code == 2
    assert err.startswith(words) and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_run_shaded(cli, tmp_path):
    from PIL import Image

    values, rgb = _shaded_image("soft")
    png = tmp_path / "shaded.png"
    Image.fromarray(rgb).save(png)
    h, w = values.shape
    gcps = tmp_path / "g.csv"
    gcps.write_text(f"col,row,lon,lat\n0,0,0,10\n{w},0,16,10\n0,{h},0,0\n")
    args = ["--cmap", "viridis", "--vmin", "0", "--vmax", "1", "--gcps", gcps]
    code, out, err = cli("run", png, *args, "--shaded", "soft", "--out", tmp_path / "a")
    assert code in (0, None), err
    assert "shaded relief (soft)" in out
    shaded = json.loads((tmp_path / "a" / "report.json").read_text())
    assert shaded["color_scale"]["shading"]["blend"] == "soft"
    code, _, err = cli("run", png, *args, "--out", tmp_path / "b", "-q")
    plain = json.loads((tmp_path / "b" / "report.json").read_text()) if code in (0, None) else None
    data = shaded["counts"]["data"]
    assert data > 0.95 * values.size
    assert plain is None or plain["counts"]["data"] < 0.5 * data


@pytest.mark.parametrize("command", ["run", "gcps"])
def test_help_texts_keep_their_bracketed_defaults(cli, command, monkeypatch):
    """rich reads '[default: ...]' written inside a help text as markup and drops it."""
    monkeypatch.setenv("COLUMNS", "300")
    code, out, _ = cli(command, "--help")
    assert code in (0, None)
    text = " ".join(out.split())
    assert "a .points file's #CRS, else EPSG:4326" in text
    if command == "run":
        assert "default 200 when no position is given in pixels" in text
