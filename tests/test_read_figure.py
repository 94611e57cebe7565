"""``geodigitize run figure.png`` with nothing else: the figure's own tick labels read by
the OCR model (a real model run, on figures drawn here by matplotlib), and every kind of
refusal as one line naming the option to give, a non-zero exit and no files."""

import json

import geopandas as gpd
import numpy as np
import pytest
from label_figures import VMAX, VMIN, draw, field
from PIL import Image
from typer.testing import CliRunner

import geodigitize
from geodigitize import ocr
from geodigitize.cli import app
from geodigitize.errors import ColorScaleError, GCPError, OCRUnavailableError
from geodigitize.frame import page_color
from geodigitize.infer import ocr_reader, read_labels
from geodigitize.ticks import parse_coordinate

pytest.importorskip("rapidocr_onnxruntime", reason="needs the OCR extra: pip install .[ocr]")
runner = CliRunner()


@pytest.fixture(scope="module")
def figure(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fig")
    frame = draw(folder / "map.png")
    return folder / "map.png", frame


def test_ocr_reads_the_tick_labels_beside_the_frame(figure):
    path, frame = figure
    rgb = np.asarray(Image.open(path).convert("RGB"))
    reader = ocr_reader(rgb, page_color(rgb), frame)
    lon = read_labels(reader, frame, "bottom", rgb.shape[:2], lambda t: parse_coordinate(t, "lon"))
    lat = read_labels(reader, frame, "left", rgb.shape[:2], lambda t: parse_coordinate(t, "lat"))
    assert lon.values == (-180.0, -120.0, -60.0, 0.0, 60.0, 120.0, 180.0)
    assert lat.values == (60.0, 30.0, 0.0, -30.0, -60.0)
    # each label's centre is its tick's position (to a pixel)
    x0, _, x1, _ = frame
    np.testing.assert_allclose(lon.positions, x0 + (x1 - x0) * np.arange(7) / 6, atol=1.0)


def test_read_text_needs_no_layout(figure):
    path, frame = figure
    rgb = np.asarray(Image.open(path).convert("RGB"))
    _, y0, _, y1 = frame
    bar_right = 0.85 * rgb.shape[1]  # the colorbar axes' right side (label_figures.draw)
    words = ocr.read_text(rgb, (bar_right + 5, y0 - 10, rgb.shape[1], y1 + 10))
    assert {"0", "10", "20", "30"} <= {w.text for w in words}
    assert all(0.5 <= w.score <= 1 for w in words)


def test_run_with_nothing_but_the_image(figure, tmp_path):
    path, frame = figure
    res = runner.invoke(app, ["run", str(path), "--out", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    said = " ".join(res.stdout.split())  # the console wraps long lines
    assert "read from the figure: frame" in said
    assert "longitudes from 7 labels -180..180 (bottom, linear" in said
    assert "range 0..30 (linear) from 7 colorbar labels; colormap viridis" in said
    points = gpd.read_file(tmp_path / "out" / "points.gpkg")
    truth = field(points.geometry.x, points.geometry.y)
    err = np.abs(points["value"] - truth) / (VMAX - VMIN)
    assert np.median(err) < 0.005  # the field drawn in 1-degree cells: half a cell's change
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    inferred = report["inferred"]
    assert inferred["value_range"]["vmin"] == 0 and inferred["value_range"]["vmax"] == 30
    assert inferred["georeference"]["longitude"]["max_residual_px"] < 1.0
    assert inferred["colormap"]["name"] == "viridis"
    assert np.allclose(inferred["frame"], frame, atol=1.5)


def test_extract_infers_only_what_is_not_given(figure):
    path, _ = figure
    result = geodigitize.extract(path, vmin=0, vmax=60)  # the user's range wins
    assert (result.scale.vmin, result.scale.vmax) == (0.0, 60.0)
    inferred = result.options.extra["inferred"]
    assert inferred["value_range"] is None and inferred["georeference"] is not None


def test_a_pdf_page_is_read_from_its_text_layer_without_ocr(tmp_path, monkeypatch):
    draw(tmp_path / "map.pdf")

    def no_ocr():
        raise AssertionError("a PDF with text needs no OCR")

    monkeypatch.setattr(ocr, "_engine", no_ocr)
    result = geodigitize.extract(tmp_path / "map.pdf")
    inferred = result.options.extra["inferred"]
    assert inferred["labels_from"] == "pdf text"
    assert (inferred["value_range"]["vmin"], inferred["value_range"]["vmax"]) == (0, 30)
    lon, lat = result.georef.pixel_to_crs(*np.array(inferred["frame"]).reshape(2, 2).T)
    np.testing.assert_allclose(lon, [-180, 180], atol=0.5)
    np.testing.assert_allclose(lat, [70, -70], atol=0.5)


def _refused(tmp_path, path, option):
    res = runner.invoke(app, ["run", str(path), "--out", str(tmp_path / "out")])
    assert res.exit_code != 0
    line = res.stderr.strip()
    assert line.count("\n") == 0 and option in line, line
    assert not (tmp_path / "out").exists()
    return line


@pytest.mark.parametrize(
    ("kind", "option", "says"),
    [
        ({"ticks": False}, "--gcps", "tick labels (no labels beside the frame found at"),
        (
            {
                "lon_labels": ["180°W", "120°W", "100°E", "0°", "30°W", "120°E", "180°E"],
            },
            "--gcps",
            "are not evenly placed",
        ),
        ({"colorbar": False}, "--colorbar", "no colorbar found"),
        ({"colorbar_labels": False}, "--vmin", "could not read the colorbar's value range"),
    ],
    ids=["no labels", "inconsistent labels", "no colorbar", "no colorbar labels"],
)
def test_each_refusal_is_one_line_naming_the_option(tmp_path, kind, option, says):
    draw(tmp_path / "map.png", **kind)
    line = _refused(tmp_path, tmp_path / "map.png", option)
    assert says in line


def test_without_the_ocr_engine_the_run_says_which_extra(figure, monkeypatch, tmp_path):
    path, _ = figure

    def missing():
        raise OCRUnavailableError(
            "reading the figure's labels needs the OCR engine: pip install "
            "'geodigitize[ocr]', or give `gcps` and `vmin`/`vmax`"
        )

    monkeypatch.setattr(ocr, "_engine", missing)
    line = _refused(tmp_path, path, "geodigitize[ocr]")
    assert "--gcps" in line and "--vmin" in line
    with pytest.raises(OCRUnavailableError):
        geodigitize.extract(path)


def test_a_named_colormap_without_a_range_or_a_colorbar_asks_for_the_range(tmp_path):
    draw(tmp_path / "a.png", colorbar=False)
    with pytest.raises(ColorScaleError, match="give the value range with `vmin` and `vmax`"):
        geodigitize.extract(tmp_path / "a.png", cmap="viridis")


def test_refusals_are_the_library_errors(tmp_path):
    draw(tmp_path / "a.png", ticks=False)
    with pytest.raises(GCPError, match="`gcps`"):
        geodigitize.extract(tmp_path / "a.png")
    draw(tmp_path / "b.png", colorbar_labels=False)
    with pytest.raises(ColorScaleError, match="`vmin`"):
        geodigitize.extract(tmp_path / "b.png")
