"""QGIS styles: XML structure everywhere, and loading in QGIS where PyQGIS is installed."""

from __future__ import annotations

import os
import shutil
import subprocess
import textwrap
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from geodigitize import extract
from geodigitize.colormap import ColorScale, from_cmap
from geodigitize.styles import grid_style, points_style, ramp_items

SYSTEM_PYTHON = "/usr/bin/python3"


def test_grid_style_structure():
    scale = from_cmap("jet_r", 0.0, 0.7)
    root = grid_style(scale).getroot()
    assert root.tag == "qgis"
    renderer = root.find("pipe/rasterrenderer")
    assert renderer.get("type") == "singlebandpseudocolor" and renderer.get("band") == "1"
    shader = renderer.find("rastershader/colorrampshader")
    assert shader.get("colorRampType") == "INTERPOLATED"
    assert float(shader.get("minimumValue")) == 0.0 and float(shader.get("maximumValue")) == 0.7
    items = shader.findall("item")
    assert 2 <= len(items) <= 256
    values = [float(i.get("value")) for i in items]
    assert values == sorted(values) and values[0] >= 0.0 and values[-1] <= 0.7
    # jet_r runs from dark red (low) to dark blue (high)
    assert items[0].get("color").startswith("#7f") or items[0].get("color").startswith("#80")
    assert items[-1].get("color").endswith("7f") or items[-1].get("color").endswith("80")


def test_class_map_styles_are_discrete():
    colors = np.array([[0, 0, 255], [0, 255, 0], [255, 0, 0]], float)
    scale = ColorScale(
        colors, np.array([5.0, 15.0, 25.0]), 0.0, 30.0, levels=(0.0, 10.0, 20.0, 30.0)
    )
    assert [v for v, _ in ramp_items(scale)] == [10.0, 20.0, 30.0]
    shader = grid_style(scale).getroot().find("pipe/rasterrenderer/rastershader/colorrampshader")
    assert shader.get("colorRampType") == "DISCRETE"
    assert [i.get("color") for i in shader.findall("item")] == ["#0000ff", "#00ff00", "#ff0000"]
    ranges = points_style(scale).getroot().findall("renderer-v2/ranges/range")
    assert [(r.get("lower"), r.get("upper")) for r in ranges] == [
        ("0", "10"),
        ("10", "20"),
        ("20", "30"),
    ]


def test_points_style_structure():
    scale = from_cmap("viridis", -2.0, 2.0)
    root = points_style(scale).getroot()
    renderer = root.find("renderer-v2")
    assert renderer.get("type") == "graduatedSymbol" and renderer.get("attr") == "value"
    ranges = renderer.findall("ranges/range")
    symbols = renderer.findall("symbols/symbol")
    assert len(ranges) == len(symbols) == 32
    assert float(ranges[0].get("lower")) == -2.0 and float(ranges[-1].get("upper")) == 2.0
    assert {s.get("type") for s in symbols} == {"marker"}


@pytest.fixture
def outputs(figure, tmp_path):
    img, gcps = figure.write(tmp_path)
    result = extract(
        img, gcps=gcps, cmap="jet_r", vmin=0, vmax=0.7, region=figure.frame, contours=True
    )
    return result.write(tmp_path / "out")


def test_styles_written_beside_outputs(outputs):
    for name in ("grid.qml", "points.qml"):
        text = outputs[name].read_text(encoding="utf-8")
        assert text.startswith("<!DOCTYPE qgis")
        ET.fromstring(text.split("\n", 1)[1])


def _pyqgis_available() -> str | None:
    if not shutil.which(SYSTEM_PYTHON):
        return f"{SYSTEM_PYTHON} not found"
    probe = subprocess.run(
        [SYSTEM_PYTHON, "-c", "import qgis.core"], capture_output=True, timeout=60
    )
    if probe.returncode:
        return "PyQGIS not installed for the system python (apt-get install python3-qgis)"
    return None


QGIS_SCRIPT = textwrap.dedent("""
    import os, sys
    from qgis.core import QgsApplication, QgsRasterLayer, QgsVectorLayer
    app = QgsApplication([], False)
    app.initQgis()
    out = sys.argv[1]
    grid = QgsRasterLayer(os.path.join(out, "grid.tif"), "grid")
    assert grid.isValid()
    msg, ok = grid.loadNamedStyle(os.path.join(out, "grid.qml"))
    assert ok, msg
    shader = grid.renderer().shader().rasterShaderFunction()
    print("grid", grid.renderer().type(), len(shader.colorRampItemList()),
          shader.minimumValue(), shader.maximumValue())
    gpkg = os.path.join(out, "points.gpkg")
    points = QgsVectorLayer(gpkg + "|layername=points", "points", "ogr")
    assert points.isValid()
    msg, ok = points.loadNamedStyle(os.path.join(out, "points.qml"))
    assert ok, msg
    print("points", points.renderer().type(), len(points.renderer().ranges()),
          points.renderer().classAttribute(), points.featureCount())
    lines = QgsVectorLayer(gpkg + "|layername=contours", "contours", "ogr")
    assert lines.isValid()
    print("contours", lines.featureCount())
    sys.stdout.flush()
    os._exit(0)  # QgsApplication.exitQgis() with live layers crashes PyQGIS 3.22
""")


def test_styles_load_in_qgis(outputs, tmp_path):
    reason = _pyqgis_available()
    if reason:
        pytest.skip(reason)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_RUNTIME_DIR": str(tmp_path)}
    env.pop("PYTHONPATH", None)
    folder = outputs["grid.qml"].parent
    proc = subprocess.run(
        [SYSTEM_PYTHON, "-c", QGIS_SCRIPT, str(folder)],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    out = dict(line.split(" ", 1) for line in proc.stdout.strip().splitlines())
    grid = out["grid"].split()
    assert grid[0] == "singlebandpseudocolor" and int(grid[1]) > 100
    assert (float(grid[2]), float(grid[3])) == (0.0, 0.7)
    points = out["points"].split()
    assert points[:3] == ["graduatedSymbol", "32", "value"]
    # the GeoPackage opens without GDAL/QGIS warnings (QGIS 3.22 warns on GPKG 1.4)
    assert "Warning" not in proc.stderr and "partially supported" not in proc.stderr
