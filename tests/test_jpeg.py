"""JPEG restoration (geodigitize.jpeg): pixels next to lines that JPEG pushed off the
scale are decoded again, with the values that explain them; line pixels are not.

The figure is a known smooth field painted with ``jet`` and three lines drawn with exact
coverage (no antialiasing to guess), saved as a quality 85 JPEG with Pillow's default 4:2:0
chroma subsampling:

* row 30: a black line inside one pixel row;
* rows 60-61: a black line split over two rows, half covering each;
* row 80: a grey line as bright as the field under it, covering 40 % (only chroma shows it).
"""

from __future__ import annotations

import io

import matplotlib
import numpy as np
import pytest
from PIL import Image

from geodigitize import extract, jpeg, pipeline
from geodigitize.colormap import build_scale
from geodigitize.decode import decode
from geodigitize.image import MapImage
from geodigitize.jpeg import restore_pixels, ycbcr
from geodigitize.mask import Reason

H, W = 96, 128
SPAN = slice(8, 120)           # columns the lines cover
JET_STEP = 1 / 256             # one colour of jet, as a value between 0 and 1


def _paint(values: np.ndarray) -> np.ndarray:
    return matplotlib.colormaps["jet"](values, bytes=True)[..., :3].astype(np.float64)


@pytest.fixture(scope="module")
def figure():
    """(JPEG bytes, decompressed RGB, truth, line coverage) of the figure above."""
    yy, xx = np.mgrid[0:H, 0:W]
    truth = 0.15 + 0.6 * xx / W + 0.1 * np.sin(yy / 15.0)
    field = _paint(truth)
    cover = np.zeros((H, W))
    ink = np.zeros((H, W))                       # grey level of the line's colour
    cover[30, SPAN] = 1.0
    cover[60:62, SPAN] = 0.5
    cover[80, SPAN] = 0.4
    ink[80] = ycbcr(field[80])[:, 0]
    drawn = (1 - cover[..., None]) * field + cover[..., None] * ink[..., None]
    buffer = io.BytesIO()
    Image.fromarray(np.rint(drawn).astype(np.uint8)).save(buffer, format="JPEG", quality=85)
    encoded = buffer.getvalue()
    rgb = np.asarray(Image.open(io.BytesIO(encoded)).convert("RGB")).copy()
    return encoded, rgb, truth, cover > 0


def _mask(rgb, fmt="JPEG"):
    """The pipeline's masking stage on the figure: (scale, decoded before, reason,
    decoded after)."""
    scale = build_scale(cmap="jet", vmin=0.0, vmax=1.0)
    decoded = decode(rgb, scale)
    img = MapImage(rgb, np.ones(rgb.shape[:2], bool), "", fmt, "RGB")
    reason, _, after = pipeline._mask(img, scale, decoded, pipeline.Options(cmap="jet", vmin=0,
                                                                            vmax=1))
    return scale, decoded, reason, after


@pytest.fixture(scope="module")
def unrestored(figure):
    """Reasons as the masking stages leave them before restoration."""
    mp = pytest.MonkeyPatch()
    mp.setattr(pipeline, "_restore_jpeg", lambda reason, img, decoded, scale: decoded)
    try:
        scale, decoded, reason, _ = _mask(figure[1])
    finally:
        mp.undo()
    return scale, decoded, reason


def _share(ok: np.ndarray, row: int) -> float:
    return float(ok[row, SPAN].mean())


def test_a_jpeg_run_decodes_the_pixels_beside_lines(figure, tmp_path):
    encoded, _, truth, lines = figure
    path = tmp_path / "map.jpg"
    path.write_bytes(encoded)
    gcps = tmp_path / "gcps.csv"
    gcps.write_text(f"col,row,lon,lat\n0,0,0,{H}\n{W},0,{W},{H}\n0,{H},0,0\n{W},{H},{W},0\n")
    result = extract(path, gcps=gcps, cmap="jet", vmin=0, vmax=1)
    assert result.image.format == "JPEG"
    ok = result.valid
    assert ok[~lines].mean() >= 0.93           # 0.71 without restoration
    assert not ok[30, SPAN].any() and not ok[60:62, SPAN].any()  # black line: none
    assert ok[80, SPAN].mean() <= 0.1          # the line as bright as the field: few
    err = np.abs(result.values[ok & ~lines] - truth[ok & ~lines])
    assert np.median(err) <= JET_STEP


def test_restored_pixels_get_the_value_that_explains_their_colour(figure, unrestored):
    _, rgb, truth, lines = figure
    scale, decoded, reason = unrestored
    restored, index = restore_pixels(rgb, reason, decoded.index, scale.colors, scale.values)
    assert restored.sum() > 0.15 * (~lines).sum()
    assert np.array_equal(index[~restored], decoded.index[~restored])
    beside = restored & np.isin(np.arange(H), [28, 32, 58, 59, 62, 63, 78, 79, 82])[:, None]
    nearest = np.abs(decoded.values[beside] - truth[beside])
    explained = np.abs(scale.values[index[beside]] - truth[beside])
    assert beside.sum() > 500
    # the nearest colour of a desaturated pixel is often another part of jet: the colour
    # that explains it is a third closer to the truth or better
    for q in (50, 90):
        assert np.percentile(explained, q) <= 2 / 3 * np.percentile(nearest, q)
    assert np.median(explained) <= 0.5 * JET_STEP


def test_pipeline_returns_the_restored_decoding_for_jpeg_only(figure, unrestored):
    rgb = figure[1]
    scale, decoded, reason, after = _mask(rgb)
    restored = (reason == Reason.DATA) & (unrestored[2] != Reason.DATA)
    assert restored.any()
    assert np.array_equal(after.values, scale.values[after.index])
    assert not np.array_equal(after.index[restored], decoded.index[restored])
    assert np.array_equal(after.index[~restored], decoded.index[~restored])
    _, decoded_png, _, after_png = _mask(rgb, "PNG")
    assert after_png is decoded_png               # no smoothness check, no restoration


def test_neighbours_of_a_line_inside_one_pixel_stay_masked(figure, unrestored):
    """Its antialiasing could touch either neighbour by an amount no colour shows; a line
    split over two pixels leaves the pixels beyond it clean."""
    _, rgb, _, _ = figure
    scale, decoded, reason = unrestored
    restored, _ = restore_pixels(rgb, reason, decoded.index, scale.colors, scale.values)
    ok = restored | (reason == Reason.DATA)
    assert _share(ok, 29) == 0 and _share(ok, 31) == 0
    assert _share(ok, 28) >= 0.8
    assert _share(ok, 59) >= 0.9 and _share(ok, 62) >= 0.9
    assert _share(reason == Reason.DATA, 59) <= 0.1  # masked before restoration


def test_a_line_as_bright_as_the_field_stays_masked(figure, unrestored):
    """Only its chroma shows it, at half resolution: unexplained loss of chroma masks."""
    _, rgb, _, _ = figure
    scale, decoded, reason = unrestored
    restored, _ = restore_pixels(rgb, reason, decoded.index, scale.colors, scale.values)
    assert _share(restored, 80) <= 0.1
    loose, _ = restore_pixels(rgb, reason, decoded.index, scale.colors, scale.values,
                              unexplained_chroma=0.0)
    assert _share(loose, 80) >= 0.9              # what the rule prevents


def test_desaturated_pixels_are_restored_darkened_ones_are_not():
    """The model without JPEG: a row whose chroma shrank beside ink is data, a row whose
    luma moved is ink."""
    scale = build_scale(cmap="jet", vmin=0.0, vmax=1.0)
    truth = np.tile(np.linspace(0.2, 0.8, 60), (30, 1))
    field = _paint(truth)
    rgb = field.copy()
    to_rgb = np.linalg.inv(np.array([[0.299, 0.587, 0.114],
                                     [-0.168736, -0.331264, 0.5],
                                     [0.5, -0.418688, -0.081312]]))
    ycc = ycbcr(field[10])
    ycc[:, 1:] *= 0.7                                # 30 % of chroma lost, luma kept
    rgb[10] = ycc @ to_rgb.T
    rgb[20] = 0.75 * field[20]                       # 25 % black over it
    rgb[9, 1::2] = 0
    rgb = np.clip(np.rint(rgb), 0, 255).astype(np.uint8)
    decoded = decode(rgb, scale)
    reason = np.zeros((30, 60), np.uint8)
    reason[10] = reason[20] = Reason.HALO
    reason[9, 1::2] = Reason.OFF_SCALE     # black dots: diagonal to row 10's even pixels
    restored, index = restore_pixels(rgb, reason, decoded.index, scale.colors, scale.values,
                                     passes=1)
    even = np.s_[10, 2:-2:2]
    assert restored[even].all()
    assert not restored[10, 1::2].any()     # beside a dot (ink inside one pixel)
    assert not restored[20].any()
    assert np.abs(scale.values[index[even]] - truth[even]).max() <= JET_STEP


def test_chunks_change_nothing_and_nothing_masked_is_fine(figure, unrestored, monkeypatch):
    import geodigitize.jpeg as jpeg

    _, rgb, _, _ = figure
    scale, decoded, reason = unrestored
    whole = restore_pixels(rgb, reason, decoded.index, scale.colors, scale.values)
    monkeypatch.setattr(jpeg, "_CHUNK", 997)
    chunked = restore_pixels(rgb, reason, decoded.index, scale.colors, scale.values)
    assert np.array_equal(whole[0], chunked[0]) and np.array_equal(whole[1], chunked[1])
    clean = np.zeros_like(reason)
    restored, index = restore_pixels(rgb, clean, decoded.index, scale.colors, scale.values)
    assert not restored.any() and np.array_equal(index, decoded.index)


def test_a_pixel_with_no_line_beside_it_may_misfit_more(figure, unrestored):
    """Ringing from a block's edges moves pixels further than the noise near a line
    allows; away from lines, with their chroma kept, they are kept with a looser misfit."""
    _, rgb, truth, lines = figure
    scale, decoded, reason = unrestored
    mp = pytest.MonkeyPatch()
    try:
        mp.setattr(jpeg, "FAR_COST", jpeg.MAX_COST)
        strict, _ = restore_pixels(rgb, reason, decoded.index, scale.colors, scale.values)
    finally:
        mp.undo()
    loose, index = restore_pixels(rgb, reason, decoded.index, scale.colors, scale.values)
    assert (strict & ~loose).sum() == 0
    gained = loose & ~strict
    assert gained.any()
    assert not (gained & lines).any()
    assert np.median(np.abs(scale.values[index[gained]] - truth[gained])) <= 2 * JET_STEP
