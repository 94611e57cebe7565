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

from geodigitize import extract, jpeg, mask
from geodigitize.decode import decode
from geodigitize.jpeg import restore_pixels, ycbcr
from geodigitize.mask import Reason, mask_image
from geodigitize.scale import build_scale

H, W = 96, 128
SPAN = slice(8, 120)  # columns the lines cover
JET_STEP = 1 / 256  # one colour of jet, as a value between 0 and 1


def _paint(values: np.ndarray) -> np.ndarray:
    return matplotlib.colormaps["jet"](values, bytes=True)[..., :3].astype(np.float64)


@pytest.fixture(scope="module")
def figure():
    """(JPEG bytes, decompressed RGB, truth, line coverage) of the figure above."""
    yy, xx = np.mgrid[0:H, 0:W]
    truth = 0.15 + 0.6 * xx / W + 0.1 * np.sin(yy / 15.0)
    field = _paint(truth)
    cover = np.zeros((H, W))
    ink = np.zeros((H, W))  # grey level of the line's colour
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
    reason, after, _ = mask_image(
        rgb, np.ones(rgb.shape[:2], bool), decoded, scale, jpeg=fmt == "JPEG"
    )
    return scale, decoded, reason, after


def _restore_nothing(rgb, reason, index, scale_colors, scale_values):
    """:func:`restore_pixels` switched off: nothing restored, entries unchanged."""
    return np.zeros(reason.shape, dtype=bool), np.asarray(index, dtype=np.int32)


@pytest.fixture(scope="module")
def unrestored(figure):
    """Reasons as the masking stages leave them before restoration."""
    mp = pytest.MonkeyPatch()
    mp.setattr(mask, "restore_pixels", _restore_nothing)
    try:
        scale, decoded, reason, _ = _mask(figure[1])
    finally:
        mp.undo()
    return scale, decoded, reason


def _restore(rgb, reason, decoded, scale, **constants):
    """:func:`restore_pixels` with some of :mod:`geodigitize.jpeg`'s constants changed."""
    mp = pytest.MonkeyPatch()
    try:
        for name, value in constants.items():
            mp.setattr(jpeg, name, value)
        return restore_pixels(rgb, reason, decoded.index, scale.colors, scale.values)
    finally:
        mp.undo()


def _share(ok: np.ndarray, row: int) -> float:
    return float(ok[row, SPAN].mean())


def test_a_jpeg_run_decodes_the_pixels_beside_lines(figure, tmp_path):
    encoded, _, truth, lines = figure
    path = tmp_path / "map.jpg"
    path.write_bytes(encoded)
    gcps = tmp_path / "gcps.csv"
    gcps.write_text(f"col,row,lon,lat\n0,0,0,{H}\n{W},0,{W},{H}\n0,{H},0,0\n{W},{H},{W},0\n")
    result = extract(path, gcps=gcps, cmap="jet", vmin=0, vmax=1, gcp_crs="EPSG:3857")
    assert result.image.format == "JPEG"
    ok = result.valid
    assert ok[~lines].mean() >= 0.93  # 0.71 without restoration
    assert not ok[30, SPAN].any() and not ok[60:62, SPAN].any()  # black line: none
    assert ok[80, SPAN].mean() <= 0.1  # the line as bright as the field: few
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
    assert after_png is decoded_png  # no smoothness check, no restoration


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
    loose, _ = restore_pixels(
        rgb, reason, decoded.index, scale.colors, scale.values, unexplained_chroma=0.0
    )
    assert _share(loose, 80) >= 0.9  # what the rule prevents


def test_desaturated_pixels_are_restored_darkened_ones_are_not():
    """The model without JPEG: a row whose chroma shrank beside ink is data, a row whose
    luma moved is ink."""
    scale = build_scale(cmap="jet", vmin=0.0, vmax=1.0)
    truth = np.tile(np.linspace(0.2, 0.8, 60), (30, 1))
    field = _paint(truth)
    rgb = field.copy()
    to_rgb = np.linalg.inv(
        np.array([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])
    )
    ycc = ycbcr(field[10])
    ycc[:, 1:] *= 0.7  # 30 % of chroma lost, luma kept
    rgb[10] = ycc @ to_rgb.T
    rgb[20] = 0.75 * field[20]  # 25 % black over it
    rgb[9, 1::2] = 0
    rgb = np.clip(np.rint(rgb), 0, 255).astype(np.uint8)
    decoded = decode(rgb, scale)
    reason = np.zeros((30, 60), np.uint8)
    reason[10] = reason[20] = Reason.HALO
    reason[9, 1::2] = Reason.OFF_SCALE  # black dots: diagonal to row 10's even pixels
    restored, index = restore_pixels(
        rgb, reason, decoded.index, scale.colors, scale.values, passes=1
    )
    even = np.s_[10, 2:-2:2]
    assert restored[even].all()
    assert not restored[10, 1::2].any()  # beside a dot (ink inside one pixel)
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
    allows; where no line touches them, with their chroma kept, they are kept with a
    looser misfit, and no line pixel gains from it."""
    _, rgb, truth, lines = figure
    scale, decoded, reason = unrestored
    strict, _ = _restore(rgb, reason, decoded, scale, FAR_COST=jpeg.MAX_COST)
    loose, index = restore_pixels(rgb, reason, decoded.index, scale.colors, scale.values)
    assert (strict & ~loose).sum() == 0
    gained = loose & ~strict
    assert gained.any()
    assert not (gained & lines).any()
    assert np.median(np.abs(scale.values[index[gained]] - truth[gained])) <= 2 * JET_STEP


def _jpeg_of(drawn: np.ndarray) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(np.rint(drawn).astype(np.uint8)).save(buffer, format="JPEG", quality=85)
    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")).copy()


def _reasons_before_restoring(rgb, **options):
    scale = build_scale(cmap="jet", vmin=0.0, vmax=1.0)
    decoded = decode(rgb, scale)
    mp = pytest.MonkeyPatch()
    mp.setattr(mask, "restore_pixels", _restore_nothing)
    try:
        reason, _, _ = mask_image(
            rgb, np.ones(rgb.shape[:2], bool), decoded, scale, jpeg=True, **options
        )
    finally:
        mp.undo()
    return scale, decoded, reason


#: A field whose brightness varies along every line drawn over it.
_YY, _XX = np.mgrid[0:128, 0:128]
_SLOPED = 0.1 + 0.55 * _XX / 128 + 0.3 * _YY / 128


@pytest.fixture(scope="module")
def thin_lines():
    """A grey (0.35) line covering 70 % of row 30, the same line across rows 59-60 touching
    row 59 by 4 %, an opaque line covering row 90 and 10 % of rows 89 and 91, and the thin
    line down column 100; restored with and without the straight-line model."""
    field = _paint(_SLOPED)
    cover = np.zeros(_SLOPED.shape)
    span = slice(8, 120)
    cover[30, span] = 0.7
    cover[59, span], cover[60, span] = 0.04, 0.66
    cover[89:92, span] = [[0.1], [1.0], [0.1]]
    cover[span, 100] = 0.7
    rgb = _jpeg_of((1 - cover[..., None]) * field + cover[..., None] * 0.35 * 255)
    scale, decoded, reason = _reasons_before_restoring(rgb)
    restored, index = restore_pixels(rgb, reason, decoded.index, scale.colors, scale.values)
    without, _ = _restore(rgb, reason, decoded, scale, THIN=0.0)
    ok = restored | (reason == Reason.DATA)
    ok_without = without | (reason == Reason.DATA)
    return ok, ok_without, scale.values[index], cover


def test_a_line_thinner_than_a_pixel_leaves_one_side_clean(thin_lines):
    """Estimated along its length, the line covers 70 % of a pixel across: it cannot touch
    both neighbours, so the one it touches less is data."""
    ok, ok_without, values, cover = thin_lines
    span = slice(8, 120)
    assert ok[30, span].sum() == 0 and ok[span, 100].sum() == 0  # the line itself
    assert sorted([ok[29, span].mean(), ok[31, span].mean()])[1] >= 0.8
    assert sorted([ok[span, 99].mean(), ok[span, 101].mean()])[1] >= 0.8
    # the line touching row 59 by 4 %: that row stays masked, the other side is data
    assert ok[59, span].sum() == 0 and ok[61, span].mean() >= 0.8
    # an opaque line a pixel wide may touch both sides: both stay masked
    assert ok[89, span].sum() == 0 and ok[91, span].sum() == 0
    freed = ok & ~ok_without
    assert freed[31].mean() + freed[29].mean() >= 0.5 and freed[61].mean() >= 0.5
    assert not (freed & (cover > 0)).any()
    err = np.abs(values[freed] - _SLOPED[freed])
    assert np.median(err) <= JET_STEP


def test_a_pixel_beside_the_regions_edge_may_lose_chroma_to_it():
    """A black spine and the white page outside ``--region``: subsampling mixes their
    neutral chroma into the first column inside, which is data."""
    field = _paint(_SLOPED)
    drawn = field.copy()
    drawn[:, :11] = 255
    drawn[:, 11] = 0
    rgb = _jpeg_of(drawn)
    inside = {}
    for x0 in (12, 11):  # the spine outside, then inside
        scale, decoded, reason = _reasons_before_restoring(rgb, region=(x0, 0, 128, 128))
        restored, index = restore_pixels(rgb, reason, decoded.index, scale.colors, scale.values)
        assert not (reason[:, 12] == Reason.DATA).any()
        inside[x0] = restored[:, 12]
        if x0 == 12:
            err = np.abs(scale.values[index[restored[:, 12], 12]] - _SLOPED[restored[:, 12], 12])
    assert inside[12].mean() >= 0.95 and np.median(err) <= JET_STEP
    assert not inside[11].any()  # beside the spine as ink: masked


def test_lost_chroma_is_explained_by_ink_where_the_chroma_comes_from():
    """4:2:0 chroma of a pixel on an even row comes from two rows above to one below it,
    on an odd row from one above to two below: ink two rows above explains lost chroma on
    an even row, not on an odd one."""
    scale = build_scale(cmap="jet", vmin=0.0, vmax=1.0)
    truth = np.tile(np.linspace(0.2, 0.8, 60), (30, 1))
    field = _paint(truth)
    to_rgb = np.linalg.inv(jpeg._YCBCR)
    rgb = field.copy()
    reason = np.zeros((30, 60), np.uint8)
    for row in (10, 21):  # desaturated, ink two rows above
        ycc = ycbcr(field[row])
        ycc[:, 1:] *= 0.7
        rgb[row] = ycc @ to_rgb.T
        rgb[row - 2] = 0
        reason[row] = Reason.HALO
        reason[row - 2] = Reason.OFF_SCALE
    rgb = np.clip(np.rint(rgb), 0, 255).astype(np.uint8)
    decoded = decode(rgb, scale)
    restored, _ = restore_pixels(rgb, reason, decoded.index, scale.colors, scale.values, passes=1)
    assert restored[10, 2:-2].all()
    assert not restored[21].any()


def test_the_regions_edge_explains_lost_chroma_where_the_chroma_comes_from():
    """Column 10 (even) takes its chroma from columns 8-11: the region's edge, outside
    column 8, explains its lost chroma though it is two columns away. Column 30 lost as
    much with nothing to explain it."""
    scale = build_scale(cmap="jet", vmin=0.0, vmax=1.0)
    field = _paint(np.tile(np.linspace(0.2, 0.8, 40)[:, None], (1, 60)))
    rgb = field.copy()
    reason = np.zeros((40, 60), np.uint8)
    reason[:, :9] = Reason.OUTSIDE_REGION
    for col in (10, 30):
        ycc = ycbcr(field[:, col])
        ycc[:, 1:] *= 0.7
        rgb[:, col] = ycc @ np.linalg.inv(jpeg._YCBCR).T
        reason[:, col] = Reason.HALO
    rgb = np.clip(np.rint(rgb), 0, 255).astype(np.uint8)
    decoded = decode(rgb, scale)
    restored, _ = restore_pixels(rgb, reason, decoded.index, scale.colors, scale.values, passes=1)
    assert restored[2:-2, 10].all()
    assert not restored[:, 30].any()


def test_a_pixel_far_from_clean_ones_is_predicted_from_a_wider_window():
    """An 11 x 11 block of masked pixels of exact scale colours: its middle has no clean
    pixel within RADIUS. The wider window predicts it, so it is restored with its value
    rather than counted as ink that keeps its neighbours masked; a darkened pixel in the
    middle is still found to be ink, and its four neighbours stay masked."""
    scale = build_scale(cmap="jet", vmin=0.0, vmax=1.0)
    field = np.clip(np.rint(_paint(_SLOPED)), 0, 255).astype(np.uint8)
    reason = np.zeros(field.shape[:2], np.uint8)
    block = (slice(55, 66), slice(55, 66))
    reason[block] = Reason.HALO
    decoded = decode(field, scale)
    restored, index = restore_pixels(field, reason, decoded.index, scale.colors, scale.values)
    assert restored[block].all()
    assert np.abs(scale.values[index[block]] - _SLOPED[block]).max() <= JET_STEP
    narrow, _ = _restore(field, reason, decoded, scale, WIDE_RADIUS=jpeg.RADIUS)
    assert narrow[block].mean() < 0.8

    dotted = field.copy()
    dotted[60, 60] //= 2
    decoded = decode(dotted, scale)
    restored, _ = restore_pixels(dotted, reason, decoded.index, scale.colors, scale.values)
    cross = [(60, 60), (59, 60), (61, 60), (60, 59), (60, 61)]
    assert not any(restored[p] for p in cross)
    assert restored[block].sum() == 121 - len(cross)


def test_a_lines_faint_edge_leaves_the_pixel_beyond_it_clean():
    """A black line covering 35 % of row 39, rows 40-41 and 35 % of row 42: the edge rows
    are ink, but a line's edge ends inside them, so rows 38 and 43 are data. The same line
    with a 5 % edge (too faint to be ink) keeps the rows beside its core masked."""
    field = _paint(_SLOPED)
    cover = np.zeros(_SLOPED.shape)
    span = slice(8, 120)
    cover[39:43, span] = [[0.35], [1.0], [1.0], [0.35]]
    cover[80:84, span] = [[0.05], [1.0], [1.0], [0.05]]
    rgb = _jpeg_of((1 - cover[..., None]) * field)
    scale, decoded, reason = _reasons_before_restoring(rgb)
    restored, index = restore_pixels(rgb, reason, decoded.index, scale.colors, scale.values)
    ok = restored | (reason == Reason.DATA)
    assert ok[38, span].mean() >= 0.8 and ok[43, span].mean() >= 0.8
    assert ok[39:43, span].sum() == 0 and ok[80:84, span].sum() == 0
    assert ok[79, span].mean() >= 0.8 and ok[84, span].mean() >= 0.8  # beyond the 5 %
    values = scale.values[index]
    assert np.median(np.abs(values[38:44:5, span] - _SLOPED[38:44:5, span])) <= JET_STEP
    strict, _ = _restore(rgb, reason, decoded, scale, PARTIAL=0.0)
    assert strict[38, span].mean() <= 0.2 and strict[43, span].mean() <= 0.2


# --- what the file's header says: quality, chroma subsampling, and the run's warning ---
def _encoded(quality: int, subsampling: int = -1, mode: str = "RGB") -> Image.Image:
    rng = np.random.default_rng(0)
    pixels = (rng.random((16, 16, 3)) * 255).astype(np.uint8)
    image = Image.fromarray(pixels).convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality, subsampling=subsampling)
    return Image.open(io.BytesIO(buffer.getvalue()))


@pytest.mark.parametrize("quality", [10, 49, 50, 70, 80, 85, 90, 95])
def test_the_quality_is_read_from_the_quantisation_table(quality):
    assert jpeg.damage_of(_encoded(quality)) == jpeg.JpegDamage(quality, "4:2:0")
    assert jpeg.damage_of(_encoded(quality, subsampling=0)).sampling == "4:4:4"


def test_a_table_no_quality_makes_is_unknown():
    table = np.full(64, 7)
    table[::2] = 40
    assert jpeg.quality_of(table) is None
    assert jpeg.quality_of(table[:10]) is None


def test_only_full_chroma_at_high_quality_is_not_lossy():
    assert not jpeg.damage_of(_encoded(95, subsampling=0)).lossy
    assert not jpeg.damage_of(_encoded(95, mode="L")).lossy  # grey: nothing subsampled
    assert jpeg.damage_of(_encoded(95)).lossy  # 4:2:0
    assert jpeg.damage_of(_encoded(90, subsampling=0)).lossy
    assert jpeg.JpegDamage(None, "4:4:4").lossy


def test_a_png_has_no_jpeg_damage(tmp_path):
    path = tmp_path / "f.png"
    Image.new("RGB", (4, 4)).save(path)
    assert jpeg.jpeg_damage(path) is None
    assert jpeg.jpeg_damage(tmp_path / "missing.jpg") is None
    assert jpeg.damage_of(Image.new("RGB", (4, 4))) is None


def test_the_note_gives_the_share_of_the_region_masked_for_its_colour():
    counts = {
        "pixels": 1000,
        "masked_by_reason": {
            "outside_region": 200,
            "off_scale": 40,
            "halo": 30,
            "inconsistent": 10,
        },
    }
    note = jpeg.damage_note(jpeg.JpegDamage(85, "4:2:0"), counts)
    assert note.startswith("the image is a JPEG (quality 85, chroma 4:2:0)")
    assert "(10.0 % of the region masked for its colour)" in note
    assert jpeg.damage_note(jpeg.JpegDamage(95, "4:4:4"), counts) is None
    assert jpeg.damage_note(None, counts) is None


def test_a_lossy_jpeg_run_says_so_in_its_report(figure, tmp_path):
    path = tmp_path / "figure.jpg"
    path.write_bytes(figure[0])
    gcps = [(0, 0, 0.0, 10.0), (W, 0, 10.0, 10.0), (0, H, 0.0, 0.0), (W, H, 10.0, 0.0)]
    result = extract(path, gcps=gcps, cmap="jet", vmin=0.0, vmax=1.0)
    report = result.report()
    assert report["input"]["jpeg"] == {"quality": 85, "chroma_sampling": "4:2:0"}
    assert len(report["warnings"]) == 1
    assert report["warnings"] == result.warnings()
    assert report["warnings"][0].startswith("the image is a JPEG (quality 85, chroma 4:2:0)")
    png = tmp_path / "figure.png"
    Image.fromarray(figure[1]).save(png)
    again = extract(png, gcps=gcps, cmap="jet", vmin=0.0, vmax=1.0)
    assert again.jpeg is None
    assert again.report()["warnings"] == []


# --- sharp lines: a rasteriser that leaves faint coverage out (GMT via Ghostscript) ------
SH, SW = 160, 192


def _jet_with_black_lines(faint_edges: bool):
    """A jet field crossed by 1-px black lines drawn at full coverage (a row every 16 rows,
    staircase diagonals every 48 columns), optionally with a 12 % antialiased edge on each
    side, saved as a quality 80 JPEG: (decompressed RGB, truth, pixels the lines touch)."""
    yy, xx = np.mgrid[0:SH, 0:SW]
    truth = 0.15 + 0.6 * xx / SW + 0.1 * np.sin(yy / 15.0)
    cover = np.zeros((SH, SW))
    cover[8::16] = 1.0
    for start in range(0, SW, 48):
        cover[np.arange(SH), (np.arange(SH) // 2 + start) % SW] = 1.0
    if faint_edges:
        core = cover.copy()
        for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0)):
            cover = np.maximum(cover, 0.12 * np.roll(core, (dy, dx), axis=(0, 1)))
    drawn = (1 - cover[..., None]) * _paint(truth)
    buffer = io.BytesIO()
    Image.fromarray(np.rint(drawn).astype(np.uint8)).save(buffer, format="JPEG", quality=80)
    rgb = np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")).copy()
    return rgb, truth, cover > 0


def _decoded_shares(rgb, truth, line, sharp_allowed=True):
    """(share of data decoded, share of line decoded, median |error| of the data)."""
    with pytest.MonkeyPatch.context() as mp:
        if not sharp_allowed:
            mp.setattr(jpeg, "SHARP_RATIO", -1.0)  # never sharp
        _, _, reason, after = _mask(rgb)
    ok = reason == Reason.DATA
    err = np.abs(after.values - truth)[ok & ~line]
    return ok[~line].mean(), ok[line].mean(), np.median(err)


def test_pixels_beside_sharp_lines_are_restored():
    rgb, truth, line = _jet_with_black_lines(faint_edges=False)
    data, inked, err = _decoded_shares(rgb, truth, line)
    before, _, _ = _decoded_shares(rgb, truth, line, sharp_allowed=False)
    assert before < 0.81  # every pixel beside a line masked
    assert data >= 0.93
    assert inked == 0.0
    assert err <= JET_STEP


def test_lines_with_faint_edges_keep_their_neighbours_masked():
    rgb, truth, line = _jet_with_black_lines(faint_edges=True)
    assert _decoded_shares(rgb, truth, line) == _decoded_shares(
        rgb, truth, line, sharp_allowed=False
    )


def test_too_little_ink_or_white_ink_tells_nothing():
    departure = np.zeros((40, 40), np.float32)
    y_obs = np.full((40, 40), 150.0, np.float32)
    departure[::4] = -100.0  # 400 strongly darkened pixels: sharp if there were enough
    assert not jpeg.sharp_lines(departure, y_obs)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(jpeg, "SHARP_EVIDENCE", 400)
        assert jpeg.sharp_lines(departure, y_obs)
        departure[1::4, :8] = -20.0  # faint: 13 % of 150 in 80 pixels, a fifth of 400
        assert jpeg.sharp_lines(departure, y_obs)
        departure[1::4, 8] = -20.0
        assert not jpeg.sharp_lines(departure, y_obs)
        departure[1::4] = 0.0
        departure[2::4, :5] = 60.0  # white ink: 50 pixels brightened by 57 %
        assert not jpeg.sharp_lines(departure, y_obs)


def test_the_run_summary_warns_about_a_lossy_jpeg(figure, tmp_path):
    from typer.testing import CliRunner

    from geodigitize.cli import app

    path = tmp_path / "figure.jpg"
    path.write_bytes(figure[0])
    gcps = tmp_path / "gcps.csv"
    gcps.write_text(f"col,row,lon,lat\n0,0,0,10\n{W},0,10,10\n0,{H},0,0\n{W},{H},10,0\n")
    args = ["run", str(path), "--gcps", str(gcps), "--cmap", "jet", "--vmin", "0"]
    res = CliRunner().invoke(app, [*args, "--vmax", "1", "--out", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    said = " ".join(res.output.split())  # the console wraps long lines
    assert "warning: the image is a JPEG (quality 85, chroma 4:2:0)" in said


def test_chroma_reach_is_the_4x4_window_of_each_pixels_parity():
    # the separable form equals the four offset 4 x 4 maximum filters it replaced, on
    # every small shape (edges, odd sizes) and a larger random mask
    from scipy import ndimage

    def by_filters(m):
        out = np.empty_like(m)
        for dy in (0, 1):
            for dx in (0, 1):
                reach = ndimage.maximum_filter(m, size=4, origin=(-dy, -dx))
                out[dy::2, dx::2] = reach[dy::2, dx::2]
        return out

    rng = np.random.default_rng(4)
    shapes = [(h, w) for h in range(1, 8) for w in range(1, 8)] + [(61, 37)]
    for shape in shapes:
        for share in (0.05, 0.4):
            m = rng.random(shape) < share
            np.testing.assert_array_equal(jpeg._in_chroma_reach(m), by_filters(m))
    # one ink pixel at (4, 5): even rows 4 and 6 reach it (2 back, 1 ahead), odd rows
    # 3 and 5 (1 back, 2 ahead); even columns 4 and 6, odd columns 3 and 5
    m = np.zeros((10, 10), dtype=bool)
    m[4, 5] = True
    reach = jpeg._in_chroma_reach(m)
    assert np.flatnonzero(reach.any(axis=1)).tolist() == [3, 4, 5, 6]
    assert np.flatnonzero(reach.any(axis=0)).tolist() == [3, 4, 5, 6]
    assert reach.sum() == 16


def test_shifted_reads_the_pixel_dy_dx_away_or_the_fill():
    rng = np.random.default_rng(5)
    for shape in [(1, 1), (1, 4), (3, 2), (5, 6)]:
        a = rng.random(shape)
        h, w = shape
        for dy in range(-2, 3):
            for dx in range(-2, 3):
                got = jpeg._shifted(a, dy, dx, -1.0)
                for i in range(h):
                    for j in range(w):
                        inside = 0 <= i + dy < h and 0 <= j + dx < w
                        assert got[i, j] == (a[i + dy, j + dx] if inside else -1.0)
    assert jpeg._shifted(np.ones((3, 3), dtype=bool), 1, 0, False).dtype == bool


def test_fit_in_chunks_on_threads_equals_one_chunk(monkeypatch):
    # the candidates' fits, cut in chunks of 7 worked on two threads, come back in order
    rng = np.random.default_rng(6)
    rgb = rng.integers(0, 256, (30, 40, 3)).astype(np.uint8)
    scale = np.asarray(matplotlib.colormaps["jet"](np.linspace(0, 1, 64))[:, :3] * 255)
    ranked = ycbcr(scale)
    pad = jpeg.WIDE_RADIUS
    rank = np.pad(rng.integers(0, 64, (30, 40)).astype(np.float64), pad)
    clean = np.pad(rng.random((30, 40)) < 0.7, pad)
    rows, cols = np.nonzero(rng.random((30, 40)) < 0.5)
    whole = jpeg._fit(rgb, ranked, rank, clean, rows, cols)
    monkeypatch.setattr(jpeg, "_CHUNK", 7)
    chunked = jpeg._fit(rgb, ranked, rank, clean, rows, cols)
    assert set(whole) == set(chunked)
    for key in whole:
        np.testing.assert_array_equal(chunked[key], whole[key])
    assert whole["supported"].any() and rows.size > 7 * 10


def test_smoothness_zero_streams_a_jpeg_without_restoring_it(tmp_path):
    # JPEG input turns the smoothness check and restoration on, which need the whole
    # image: one strip whatever the strip height. 0 turns both off, and the JPEG is then
    # masked in strips like a PNG, with the same results at every strip height.
    from geodigitize.synthetic import render_figure

    fig = render_figure(240, 180, seed=2)
    png, gcps = tmp_path / "map.png", tmp_path / "gcps.csv"
    fig.save(png, gcps_path=gcps)
    jpg = tmp_path / "map.jpg"
    Image.open(png).convert("RGB").save(jpg, quality=85)
    scale = {"cmap": "jet_r", "vmin": 0.0, "vmax": 0.7}
    auto = extract(jpg, gcps=gcps, strip_rows=7, **scale)
    assert auto.fitted.mask.smoothness_ == 4.0 and auto.strips["strips"] == 1
    off = extract(jpg, gcps=gcps, strip_rows=7, smoothness=0, **scale)
    assert off.fitted.mask.smoothness_ is None and off.strips["strips"] == -(-180 // 7)
    assert off.options.smoothness == 0  # the record says what was given, not auto
    one = extract(jpg, gcps=gcps, smoothness=0, **scale)
    assert one.strips["strips"] == 1
    assert one.counts() == off.counts() and one.points.equals(off.points)
    # restoration gave back pixels that the colour tests masked
    assert auto.counts()["data"] > off.counts()["data"]


def test_out_of_memory_on_a_jpeg_says_how_to_stream_it(tmp_path):
    from geodigitize.cli.run import memory_hint

    jpg, png = tmp_path / "a.jpg", tmp_path / "a.png"
    Image.new("RGB", (40, 30)).save(jpg)
    Image.new("RGB", (40, 30)).save(png)
    assert "--smoothness 0" in memory_hint(jpg, 10_000, None)
    assert "--smoothness 0" in memory_hint(png, 10_000, None, smoothness=4.0)
    assert "--smoothness 0" not in memory_hint(jpg, 10_000, None, smoothness=0.0)
    assert "--smoothness 0" not in memory_hint(png, 10_000, None)
