"""The paper-like benchmark figures (``benchmarks/real_figures.py``) keep a truth that
agrees with the image: data pixels hold their value's colour, GCPs sit on graticule
lines, the frame encloses the data, and the harness scores a perfect result as perfect."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import matplotlib
import numpy as np
import pytest
from PIL import Image

from benchmarks import _derived, _gmt_figures, _mpl_figures
from benchmarks._truth import DATA, LINE, Truth
from benchmarks.real_figures import measure
from geodigitize import GCPSet, georeference


@pytest.fixture(scope="module")
def mpl_fig(tmp_path_factory) -> tuple[Truth, Path]:
    folder = tmp_path_factory.mktemp("real")
    spec = _mpl_figures.MplSpec(
        "small", cmap="viridis", size=(400, 260), dpi=80, cell_deg=5.0, step=30.0, seed=7
    )
    fig = _mpl_figures.render(spec, folder)
    fig.save(folder)
    return Truth.load(folder / "small.npz"), folder


def _rgb(fig: Truth, folder: Path) -> np.ndarray:
    with Image.open(folder / fig.image) as im:
        return np.array(im.convert("RGB"))


def _lut_index(rgb: np.ndarray, cmap: str) -> np.ndarray:
    """Index of the nearest entry of the colormap's 8-bit lookup table."""
    cm = matplotlib.colormaps[cmap]
    lut = (cm(np.arange(cm.N)) * 255).astype(np.int32)[:, :3]
    d = ((rgb[:, None, :].astype(np.int32) - lut[None]) ** 2).sum(axis=2)
    return d.argmin(axis=1)


def _check_consistent(fig: Truth, folder: Path, min_data: float = 0.6) -> None:
    x0, y0, x1, y1 = fig.frame
    rows, cols = np.nonzero(fig.kind == DATA)
    # the frame encloses every data pixel
    assert cols.min() >= x0 and cols.max() + 1 <= x1
    assert rows.min() >= y0 and rows.max() + 1 <= y1
    # most of the frame is data, and only data pixels have values
    assert rows.size > min_data * (x1 - x0) * (y1 - y0)
    assert np.isnan(fig.value[fig.kind != DATA]).all()
    assert np.isfinite(fig.value[fig.kind == DATA]).all()
    # GCPs are inside the frame and exact: projecting their lon/lat gives their pixel
    col, row = fig.lonlat_to_pixel(fig.gcps[:, 2], fig.gcps[:, 3])
    np.testing.assert_allclose(col, fig.gcps[:, 0], atol=1e-6)
    np.testing.assert_allclose(row, fig.gcps[:, 1], atol=1e-6)


def test_mpl_truth_colours_match_values(mpl_fig):
    fig, folder = mpl_fig
    data = fig.kind == DATA
    got = _lut_index(_rgb(fig, folder)[data], fig.cmap)
    n = matplotlib.colormaps[fig.cmap].N
    want = np.clip(((fig.value[data] - fig.vmin) / (fig.vmax - fig.vmin) * n), 0, n - 1)
    assert np.abs(got - want.astype(int)).max() <= 1  # within one colour step
    _check_consistent(fig, folder)


def test_mpl_gcps_lie_on_graticule_lines(mpl_fig):
    fig, _ = mpl_fig
    assert len(fig.gcps) >= 4
    col = np.floor(fig.gcps[:, 0]).astype(int)
    row = np.floor(fig.gcps[:, 1]).astype(int)
    # the dashed grid may leave a crossing's own pixel blank: look 1 pixel around it
    near = [
        (fig.kind[r - 1 : r + 2, c - 1 : c + 2] == LINE).any()
        for c, r in zip(col, row, strict=True)
    ]
    assert all(near)


def test_mpl_truth_records_layout_and_labels(mpl_fig):
    fig, _ = mpl_fig
    assert fig.frame == (44.0, 21.0, 320.0, 224.0)
    assert fig.crs == "EPSG:4326" and fig.renderer == "mpl"
    assert "60°W" in list(fig.tick_text)
    boxes = fig.tick_box
    assert boxes.shape == (len(fig.tick_text), 4)
    assert (boxes[:, 2] > boxes[:, 0]).all() and (boxes[:, 3] > boxes[:, 1]).all()


def test_resized_truth_scales_geometry(mpl_fig):
    fig, folder = mpl_fig
    small = _derived.resized(fig, folder, 0.7, "bilinear")
    assert small.shape == (182, 280)
    np.testing.assert_allclose(small.frame, np.array(fig.frame) * 0.7)
    _check_consistent(small, folder, min_data=0.3)


def test_measure_scores_the_truth_itself_as_perfect(mpl_fig):
    fig, _ = mpl_fig
    gcps = GCPSet.from_arrays(*fig.gcps.T)
    perfect = SimpleNamespace(
        valid=fig.kind == DATA,
        values=fig.value,
        georef=georeference(gcps, fig.shape),
    )
    m = measure(fig, perfect)
    assert m["data_decoded_pct"] == 100.0
    assert m["median_error_pct"] == 0.0
    assert m["line_decoded_pct"] == 0.0 and m["outside_decoded_px"] == 0
    assert m["georef_error_px_max"] < 1e-6


@pytest.mark.skipif(not _gmt_figures.available(), reason="gmt or ghostscript not installed")
def test_gmt_truth_colours_match_the_cpt(tmp_path):
    spec = _gmt_figures.GmtSpec("g", projection="mercator", width_in=3.0, dpi=60, seed=3)
    fig = _gmt_figures.render(spec, tmp_path)
    assert fig.meta["affine_residual_px"] < 1e-6
    _check_consistent(fig, tmp_path)
    ends, colours = _gmt_figures.read_cpt(tmp_path / fig.cmap_file)
    data = fig.kind == DATA
    want = _gmt_figures.cpt_colours(fig.value[data], ends, colours).astype(int)
    got = _rgb(fig, tmp_path)[data].astype(int)
    assert np.median(np.abs(got - want).max(axis=1)) <= 1
    assert "0°" in list(fig.tick_text)


def test_derived_jpeg_keeps_the_truth(mpl_fig, tmp_path):
    fig, folder = mpl_fig
    copy = _derived.jpeg(replace(fig), folder, 70)
    assert copy.image.endswith(".jpg") and (folder / copy.image).exists()
    assert copy.kind is fig.kind
