"""The colour options of the command line, in-process: `colorbar`, and `run` with
--colorbar, --exclude-color, --region auto and --cmap-file. Bad input gives one line on
stderr, a non-zero exit code and no output files."""

import json

import numpy as np
import pytest
import rasterio
from typer.testing import CliRunner

from geodigitize.cli import app
from geodigitize.synthetic import render_figure

runner = CliRunner()


@pytest.fixture(scope="module")
def fig():
    # the size: at 500 x 360 the bar's near-black end merges with its outline
    return render_figure(
        1000,
        700,
        cmap="gist_earth",
        vmin=-4.0,
        vmax=4.0,
        field="elevation",
        land=False,
        coastlines=False,
        seed=1,
    )


@pytest.fixture
def files(fig, tmp_path):
    img, gcps = tmp_path / "map.png", tmp_path / "gcps.csv"
    fig.save(img, gcps_path=gcps)
    return img, gcps, tmp_path / "out"


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def box(values):
    return ",".join(f"{v:g}" for v in values)


def decoded(out, fig):
    """grid.tif, cropped to the decoded pixels, placed back on the whole image."""
    with rasterio.open(out / "grid.tif") as src:
        band = src.read(1).astype(np.float64)
        col, row = ~src.transform @ (fig.gcps[0, 2], fig.gcps[0, 3])
    c0 = round(fig.gcps[0, 0] - col)
    r0 = round(fig.gcps[0, 1] - row)
    full = np.full(fig.truth.shape, np.nan)
    full[r0 : r0 + band.shape[0], c0 : c0 + band.shape[1]] = band
    return full


def test_colorbar_lists_the_figures_bar_first(fig, files):
    res = invoke("colorbar", files[0])
    assert res.exit_code == 0, res.output
    first = res.stdout.splitlines()[0].split()
    found = np.array(first[0].split(","), float)
    assert np.max(np.abs(found - np.array(fig.colorbar))) <= 3
    assert first[-1] == "vertical"
    res = invoke("colorbar", files[0], "--json")
    assert json.loads(res.stdout)[0]["box"] == found.tolist()


def test_colorbar_on_a_figure_without_one(tmp_path):
    from PIL import Image

    Image.fromarray(np.full((150, 200, 3), 255, np.uint8)).save(tmp_path / "p.png")
    res = invoke("colorbar", tmp_path / "p.png")
    assert res.exit_code == 3 and res.stdout == ""
    assert "no colorbar found" in res.stderr and len(res.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("colorbar", ["box", "auto"])
def test_run_from_colorbar_excluding_black_and_white(fig, files, colorbar):
    img, gcps, out = files
    cb = box(fig.colorbar) if colorbar == "box" else "auto"
    res = invoke(
        "run",
        img,
        "--gcps",
        gcps,
        "--colorbar",
        cb,
        "--vmin",
        "-4",
        "--vmax",
        "4",
        "--exclude-color",
        "black,white",
        "--region",
        "auto",
        "--out",
        out,
        "-q",
    )
    assert res.exit_code == 0, res.output
    grid = decoded(out, fig)
    ok = ~np.isnan(grid)
    # issue 4's targets: the lines and text still decoded were barely touched by them
    # (colours a unit or two off the data's, found only next to lines; see the halo rule)
    assert ok[fig.data].mean() >= 0.99
    assert not ok[fig.page].any()
    assert ok[fig.lines | fig.text].mean() <= 0.01
    err = np.abs(grid - fig.truth)[ok & fig.data] / 8
    assert np.median(err) <= 0.002
    report = json.loads((out / "report.json").read_text())
    assert report["parameters"]["extra"]["automatic"]["region"] == "auto"
    assert report["counts"]["masked_by_reason"]["excluded_color"] > 0


def test_run_with_a_cmap_file(tmp_path):
    small = render_figure(
        300,
        220,
        cmap="gray",
        vmin=0.0,
        vmax=1.0,
        labels=False,
        title=False,
        land=False,
        coastlines=False,
        seed=3,
    )
    img, gcps = tmp_path / "g.png", tmp_path / "gcps.csv"
    small.save(img, gcps_path=gcps)
    (tmp_path / "gray.cpt").write_text("0 0 0 0 1 255 255 255\n")
    out = tmp_path / "out"
    res = invoke(
        "run",
        img,
        "--gcps",
        gcps,
        "--cmap-file",
        tmp_path / "gray.cpt",
        "--region",
        box(small.frame),
        "--out",
        out,
        "-q",
    )
    assert res.exit_code == 0, res.output
    grid = decoded(out, small)
    ok = ~np.isnan(grid) & small.data
    assert np.median(np.abs(grid - small.truth)[ok]) <= 1 / 255


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--colorbar", "1,2,3", "--vmin", "0", "--vmax", "1"], "four numbers"),
        (
            ["--colorbar", "auto", "--vmin", "0", "--vmax", "1", "--cmap", "jet"],
            "exactly one colour scale source",
        ),
        (
            ["--cmap", "jet", "--vmin", "0", "--vmax", "1", "--exclude-color", "blurple"],
            "unknown colour 'blurple'",
        ),
        (["--cmap-file", "{tmp}/bad.cpt"], "bad.cpt line 1"),
        (["--cmap-file", "{tmp}/none.csv"], "does not exist"),
        (
            ["--cmap", "jet", "--vmin", "0", "--vmax", "1", "--max-distance", "far"],
            "--max-distance must be a number or 'auto'",
        ),
    ],
)
def test_bad_colour_options(files, tmp_path, args, message):
    img, gcps, out = files
    (tmp_path / "bad.cpt").write_text("0 0 0 0 1 255\n")
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    res = invoke("run", img, "--gcps", gcps, *args, "--out", out)
    assert res.exit_code != 0
    assert message in res.output
    assert "Traceback" not in res.output
    assert not out.exists() or not any(out.iterdir())


def test_colorbar_auto_refuses_a_strip_of_the_map(tmp_path):
    """Without a colorbar, strips of the map between graticule lines look like bars
    (JPEG ones scored up to 0.96): they have the map, not the page, on their sides."""
    from geodigitize.colorbar import MIN_AUTO_SCORE, find_colorbars

    nobar = render_figure(1000, 700, colorbar=False, jpeg_quality=85, seed=1)
    found = find_colorbars(nobar.image)
    assert found  # the strips are still listed ...
    assert all(score < MIN_AUTO_SCORE for _, score in found)  # ... but none passes
    img, gcps = tmp_path / "nobar.jpg", tmp_path / "gcps.csv"
    nobar.save(img, gcps_path=gcps)
    res = invoke(
        "run",
        img,
        "--gcps",
        gcps,
        "--colorbar",
        "auto",
        "--vmin",
        "0",
        "--vmax",
        "0.7",
        "--out",
        tmp_path / "out",
    )
    assert res.exit_code != 0 and "no colorbar found" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()
    withbar = render_figure(1000, 700, jpeg_quality=85, seed=1)
    (best, score), *_ = find_colorbars(withbar.image)
    assert score >= MIN_AUTO_SCORE
    assert np.max(np.abs(np.subtract(best, withbar.colorbar))) <= 3
