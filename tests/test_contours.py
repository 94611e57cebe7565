"""Isolines: exact positions on tiny class maps, and the contours layer of points.gpkg."""

from __future__ import annotations

import numpy as np
import pyogrio
import pytest

from geodigitize import extract
from geodigitize.colormap import ColorScale
from geodigitize.contours import contour_levels, trace


def _classes():
    colors = np.array([[0, 0, 255], [0, 255, 0], [255, 0, 0]], float)
    return ColorScale(colors, np.array([0.5, 1.5, 2.5]), 0.0, 3.0, levels=(0.0, 1.0, 2.0, 3.0))


def test_class_boundary_runs_along_pixel_edges():
    values = np.full((6, 8), 0.5)
    values[:, 4:] = 1.5  # class 0 left of col 4, class 1 right of it
    lines = trace(values, np.ones(values.shape, bool), _classes())
    assert len(lines) == 1
    assert lines.values.tolist() == [1.0]  # the class edge
    line = lines.lines[0]
    np.testing.assert_allclose(line[:, 0], 4.0)  # the shared pixel edge, col 4
    assert line[:, 1].min() == pytest.approx(0.5) and line[:, 1].max() == pytest.approx(5.5)


def test_lines_do_not_cross_masked_pixels():
    values = np.full((6, 8), 0.5)
    values[:, 4:] = 1.5
    valid = np.ones(values.shape, bool)
    valid[2:4, :] = False  # a masked band across the boundary
    lines = trace(values, valid, _classes())
    assert len(lines) == 2
    for line in lines.lines:
        rows = line[:, 1]
        assert np.all((rows <= 2.0 + 1e-9) | (rows >= 4.0 - 1e-9))


def test_continuous_levels_are_round_and_inside():
    scale = ColorScale(
        np.array([[0, 0, 0], [255, 255, 255]], float), np.array([0.0, 1.0]), 0.0, 1.0
    )
    values = np.linspace(0.03, 0.97, 50)[None, :].repeat(5, 0)
    at = contour_levels(scale, values)
    assert np.all((at > 0.03) & (at < 0.97))
    np.testing.assert_allclose(at, np.round(at, 6))
    lines = trace(values, np.ones(values.shape, bool), scale, levels=[0.5])
    assert lines.values.tolist() == [0.5]
    # value 0.5 lies at col 24.5 + 0.5 (linear in the pixel-centre lattice)
    expected = 0.5 + (0.5 - 0.03) / (0.94 / 49)
    np.testing.assert_allclose(lines.lines[0][:, 0], expected)


def test_contours_layer_in_geopackage(figure, tmp_path):
    img, gcps = figure.write(tmp_path)
    result = extract(
        img,
        gcps=gcps,
        cmap="jet_r",
        vmin=0,
        vmax=0.7,
        region=figure.frame,
        contours=True,
        contour_levels=(0.35,),
    )
    paths = result.write(tmp_path / "out")
    layers = dict(pyogrio.list_layers(paths["points.gpkg"]))
    assert layers == {"points": "Point", "contours": "LineString"}
    lines = pyogrio.read_dataframe(paths["points.gpkg"], layer="contours")
    assert lines.crs.to_epsg() == 4326
    assert set(lines["value"]) == {0.35}
    # every vertex inside the frame's lon/lat box
    xmin, ymin, xmax, ymax = lines.total_bounds
    w, e, s, n = figure.extent
    assert w <= xmin and xmax <= e and s <= ymin and ymax <= n
    assert result.report()["contours"]["levels"] == [0.35]
