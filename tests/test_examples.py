"""Every script in examples/ runs, on small figures, and gives sensible answers."""

from __future__ import annotations

import importlib.util
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SMALL = (360, 280)


def load(name: str):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_one_figure(tmp_path):
    summary = load("one_figure").main(tmp_path, SMALL)
    assert summary["median_reconstruction_error_pct"] <= 0.5
    assert summary["median_point_error_pct"] < 0.5
    assert {
        "points.gpkg",
        "grid.tif",
        "report.json",
        "grid.qml",
        "points.qml",
        "preview.png",
    } <= set(summary["files"])


def test_colorbar_only(tmp_path):
    summary = load("colorbar_only").main(tmp_path, SMALL)
    assert summary["decoded_pixels"] > 0
    assert summary["median_value_error_pct"] < 1.0


def test_mercator(tmp_path):
    summary = load("mercator").main(tmp_path, SMALL)
    assert summary["crs"] == "EPSG:3857"
    assert summary["max_position_error_deg"] < 0.5


def test_batch(tmp_path):
    results = load("batch").main(tmp_path, SMALL, count=2)
    assert len(results) == 2


def test_regrid_xarray(tmp_path):
    summary = load("regrid_xarray").main(tmp_path, SMALL, res=5.0)
    assert summary["filled"] > 0.8 * summary["cells"]
    assert summary["median_cell_error_pct"] < 1.5
