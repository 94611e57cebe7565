"""Automatic map frame: spines, else the largest scale-coloured region."""

from __future__ import annotations

import numpy as np
import pytest
from colour_figures import draw_colorbar, lut, page

from geodigitize import frame
from geodigitize.colormap import from_cmap
from geodigitize.decode import decode
from geodigitize.errors import RegionError
from geodigitize.frame import find_frame, find_spine_frame
from geodigitize.synthetic import render_figure


def _map(spines=True, ticks=True):
    img = page(300, 420)
    yy, xx = np.mgrid[0:200, 0:300]
    img[50:250, 40:340] = lut("gist_earth", (np.sin(xx / 30) * np.cos(yy / 40) + 1) / 2)
    if spines:  # matplotlib-like: 1-pixel spines around the data area
        img[49, 39:341] = img[250, 39:341] = 0
        img[49:251, 39] = img[49:251, 340] = 0
    if ticks:
        for c in range(60, 340, 50):
            img[251:255, c] = 0
        for r in range(70, 250, 50):
            img[r, 35:39] = 0
    img[120:126, 100:160] = 0  # a label inside
    draw_colorbar(img, (370, 50, 385, 250), "gist_earth")
    return img


def test_frame_from_spines():
    img = _map()
    scale = from_cmap("gist_earth", 0, 1)
    assert find_frame(img, scale, decode(img, scale)) == (40.0, 50.0, 340.0, 250.0)


def test_frame_from_largest_region_without_spines():
    img = _map(spines=False, ticks=False)
    scale = from_cmap("gist_earth", 0, 1)
    assert find_frame(img, scale, decode(img, scale)) == (40.0, 50.0, 340.0, 250.0)


def test_no_frame():
    with pytest.raises(RegionError, match="`region`"):
        find_frame(page(50, 50))


def test_frame_beside_a_colorbar_as_tall_as_the_map():
    # The colorbar's outline continues the top and bottom spines across a gap narrower
    # than the one bridged along a line: the sides are not at the ends of those lines.
    img = _map()
    draw_colorbar(img, (356, 50, 370, 250), "gist_earth")
    img[49, 355:371] = img[250, 355:371] = 0
    img[49:251, 355] = img[49:251, 370] = 0
    scale = from_cmap("gist_earth", 0, 1)
    decoded = decode(img, scale)
    assert find_spine_frame(img, decoded.distance <= 30) == (40.0, 50.0, 340.0, 250.0)
    assert find_frame(img, scale, decoded) == (40.0, 50.0, 340.0, 250.0)


@pytest.mark.parametrize("seed", [1, 2])
def test_frame_of_a_jpeg_excludes_the_spines_only(seed):
    # JPEG ringing darkens the field row next to a spine enough to look like more spine,
    # and chroma subsampling washes its colour out; it is still data. (Seed 2 lost its
    # first column and last row to the spines when colour, not luma, was compared.)
    fig = render_figure(600, 420, seed=seed, jpeg_quality=85)
    rows, cols = np.nonzero(fig.data)
    inner = (cols.min(), rows.min(), cols.max() + 1, rows.max() + 1)
    box = find_spine_frame(fig.image)
    assert box is not None
    assert np.max(np.abs(np.subtract(box, inner))) <= 1
    x0, y0, x1, y1 = (int(v) for v in box)
    assert fig.data[y0:y1, x0:x1].sum() == fig.data.sum()


def _checkered(seg: int, band: int = 6):
    """A GMT-like checkered ("fancy") frame: an outer line, a band of black and white
    segments `seg` pixels long, an inner line, and the field inside (its box returned).
    The field's colormap holds white, the page's colour (as GMT's polar does)."""
    img = page(320, 480)
    x0, y0, x1, y1 = 60, 50, 420, 270
    yy, xx = np.mgrid[y0:y1, x0:x1]
    field = lut("bwr", (xx - x0 + yy - y0) / 580 * (0.8 + 0.2 * np.sin(xx / 23)))
    ix0, iy0, ix1, iy1 = x0 - 1, y0 - 1, x1 + 1, y1 + 1  # the inner line's outside
    ox0, oy0, ox1, oy1 = ix0 - band, iy0 - band, ix1 + band, iy1 + band
    img[oy0 - 1 : oy1 + 1, ox0 - 1 : ox1 + 1] = 0  # the outer line (and all inside it)
    img[oy0:oy1, ox0:ox1] = 255
    black_c = ((np.arange(ox0, ox1) - x0) // seg) % 2 == 0
    black_r = ((np.arange(oy0, oy1) - y0) // seg) % 2 == 0
    for r0, r1 in ((oy0, iy0), (iy1, oy1)):
        img[r0:r1, ox0:ox1][:, black_c] = 0
    for c0, c1 in ((ox0, ix0), (ix1, ox1)):
        img[oy0:oy1, c0:c1][black_r, :] = 0
    img[iy0:iy1, ix0:ix1] = 0  # the inner line
    img[y0:y1, x0:x1] = field
    return img, (x0, y0, x1, y1)


def _resized(img, factor, how):
    from PIL import Image

    h, w = img.shape[:2]
    return np.asarray(Image.fromarray(img).resize((round(w * factor), round(h * factor)), how))


@pytest.mark.parametrize("seg", [30, 60])
@pytest.mark.parametrize(
    ("factor", "how", "want"),
    [
        (1.0, None, (60.0, 50.0, 420.0, 270.0)),
        (0.7, "LANCZOS", (42.0, 35.0, 294.0, 189.0)),
        (1.5, "BILINEAR", (91.0, 76.0, 629.0, 404.0)),
    ],
)
def test_frame_inside_a_checkered_band(seg, factor, how, want):
    # The band's white segments are the page's colour, and on the scale: a frame that
    # takes in the band decodes them. Resampled, the band's lines blur into greys; at
    # 60-pixel segments the outer line beside a black segment has no contrast across it.
    # Found: the field to the pixel (1.5x: one pixel in, the field's blended edge).
    from PIL import Image

    img, _ = _checkered(seg)
    if how is not None:
        img = _resized(img, factor, getattr(Image, how))
    scale = from_cmap("bwr", 0, 1)
    assert find_frame(img, scale, decode(img, scale)) == want


def _graticule(width: int = 600, height: int = 450, lw: int = 6):
    """A field cut by a graticule of `lw`-pixel black lines, `lw`-pixel spines just
    outside it (as ``benchmarks/_figures.py`` draws 100 MP figures), its box returned."""
    img = page(height, width)
    m = 30
    x0, y0, x1, y1 = m, m, width - m, height - m
    yy, xx = np.mgrid[y0:y1, x0:x1]
    img[y0:y1, x0:x1] = lut("jet_r", 0.1 + 0.8 * (yy - y0) / (y1 - y0) + 0.05 * np.sin(xx / 20))
    for c in np.linspace(x0, x1, 7)[1:-1].astype(int):
        img[y0:y1, c - lw // 2 : c - lw // 2 + lw] = 0
    for r in np.linspace(y0, y1, 6)[1:-1].astype(int):
        img[r - lw // 2 : r - lw // 2 + lw, x0:x1] = 0
    img[y0 - lw : y1 + lw, x0 - lw : x0] = img[y0 - lw : y1 + lw, x1 : x1 + lw] = 0
    img[y0 - lw : y0, x0 - lw : x1 + lw] = img[y1 : y1 + lw, x0 - lw : x1 + lw] = 0
    return img, (float(x0), float(y0), float(x1), float(y1))


def test_thick_graticule_refuses_a_cell_and_a_large_image_is_searched_reduced(monkeypatch):
    # Lines 6 pixels thick are no lines to the 3-pixel test: without spines, the largest
    # scale-coloured area is one cell between graticule lines, with others of its size
    # beside it. That is refused; an image above FRAME_PIXELS is searched in a view of
    # each 5 x 5 block's darkest pixel (as a streamed image is), where the lines are thin,
    # and the field is found to within 5 pixels, inside it.
    img, field = _graticule()
    scale = from_cmap("jet_r", 0, 1)
    decoded = decode(img, scale)
    with pytest.raises(RegionError, match=r"two scale-coloured areas of like size.*`region`"):
        find_frame(img, scale, decoded)
    monkeypatch.setattr(frame, "FRAME_PIXELS", img.shape[0] * img.shape[1] // 25)
    assert frame.frame_step(img.shape[:2]) == 5
    box = find_frame(img, scale, decoded)
    assert box == (30.0, 30.0, 570.0, 420.0)
    assert all(0 <= a - b <= 5 for a, b in zip(box[:2], field[:2], strict=True))
    assert all(0 <= b - a <= 5 for a, b in zip(box[2:], field[2:], strict=True))


def test_two_maps_side_by_side_refuse():
    # Two panels of like size, each closed by its spines: which one is the map is not
    # guessed.
    img = page(300, 700)
    yy, xx = np.mgrid[0:200, 0:300]
    field = lut("gist_earth", (np.sin(xx / 30) * np.cos(yy / 40) + 1) / 2)
    for x0 in (40, 380):
        img[50:250, x0 : x0 + 300] = field
        img[49, x0 - 1 : x0 + 301] = img[250, x0 - 1 : x0 + 301] = 0
        img[49:251, x0 - 1] = img[49:251, x0 + 300] = 0
    scale = from_cmap("gist_earth", 0, 1)
    with pytest.raises(RegionError, match=r"two map frames of like size.*`region`"):
        find_frame(img, scale, decode(img, scale))


def test_labels_merged_with_a_field_without_spines_refuse():
    # No spines; tick labels in a colour of the scale (black on a grey colormap) stand
    # two pixels from the field's left side, and the largest scale-coloured area takes
    # them in: its box reaches past the field on the left, where it fills a fraction of
    # the box's side. Refused, not returned.
    img = page(300, 420)
    yy, xx = np.mgrid[0:200, 0:300]
    img[50:250, 60:360] = lut("gray", 0.3 + 0.6 * xx / 300 + 0 * yy)
    for r in range(60, 250, 40):
        img[r : r + 10, 40:58] = 0  # a label
    scale = from_cmap("gray", 0, 1)
    decoded = decode(img, scale)
    assert find_spine_frame(img, decoded.distance <= 30) is None
    with pytest.raises(RegionError, match=r"fills \d+ % of its box's left side.*`region`"):
        find_frame(img, scale, decoded)


@pytest.mark.parametrize("budget", [1800, 4_000_000])
def test_the_reduced_view_is_within_the_budget_and_k_is_the_least(monkeypatch, budget):
    monkeypatch.setattr(frame, "FRAME_PIXELS", budget)
    rng = np.random.default_rng(budget)
    shapes = [(8660, 11547), (181, 241), (3464, 4619), (1, 5_000_000), (2001, 1999)]
    shapes += [tuple(rng.integers(1, 20_000, 2)) for _ in range(200)]
    for h, w in shapes:
        k = frame.frame_step((h, w))
        view = (-(-h // k), -(-w // k))
        assert view[0] * view[1] <= budget
        assert k == 1 or -(-h // (k - 1)) * -(-w // (k - 1)) > budget
        assert frame.frame_step(view) == 1  # a streamed view is not reduced again


def test_a_streamed_image_is_searched_in_the_view_an_image_in_memory_is(tmp_path, monkeypatch):
    # 241 x 181 with 1800 pixels to search: k = 5 left a 49 x 37 view (1813 pixels), which
    # the streamed search reduced by 2 again (a frame 5 px off the one found in memory)
    from geodigitize.pipeline import extract

    fig = render_figure(241, 181, seed=2)
    png, gcps = tmp_path / "map.png", tmp_path / "gcps.csv"
    fig.save(png, gcps_path=gcps)
    monkeypatch.setattr(frame, "FRAME_PIXELS", 1800)
    scale = {"cmap": "jet_r", "vmin": 0.0, "vmax": 0.7, "region": "auto"}
    one = extract(png, gcps=gcps, **scale)
    streamed = extract(png, gcps=gcps, strip_rows=7, in_memory=False, grid_dir=tmp_path, **scale)
    assert one.fitted.to_dict() == streamed.fitted.to_dict()  # the frame among them
    assert one.counts() == streamed.counts()
    np.testing.assert_array_equal(
        one.points[["value", "col", "row"]].to_numpy(),
        streamed.points[["value", "col", "row"]].to_numpy(),
    )
    streamed.discard()


# The line tests as they were first written (one int16 (H, W, 3) image, max over the
# channels, numpy's cumsum and the 5 x 5 closing): the faster forms must equal them.
def _line_pixels_ref(img, reach, contrast):
    h = img.shape[0]
    out = np.zeros(img.shape[:2], dtype=bool)
    if h <= 2 * reach:
        return out
    mid = img[reach : h - reach]
    up = np.abs(mid - img[: h - 2 * reach]).max(axis=2) > contrast
    down = np.abs(mid - img[2 * reach :]).max(axis=2) > contrast
    out[reach : h - reach] = up & down
    return out


def _dark_runs_ref(img, longest):
    r, g, b = (img[..., i].astype(np.int16) for i in range(3))
    luma = r * 0.299 + g * 0.587 + b * 0.114
    grey = (np.maximum(np.maximum(r, g), b) - np.minimum(np.minimum(r, g), b)) <= 30
    dark = (luma < frame.DARK) & grey
    h = dark.shape[0]
    lit = np.zeros((h + 1, *dark.shape[1:]), dtype=np.int32)
    np.cumsum(~dark, axis=0, out=lit[1:])
    rows = np.arange(h)
    above = lit[rows] - lit[np.maximum(rows - longest, 0)]
    below = lit[np.minimum(rows + longest + 1, h)] - lit[rows + 1]
    return dark & (above > 0) & (below > 0)


def test_line_tests_equal_their_first_form():
    from scipy import ndimage

    rng = np.random.default_rng(7)
    levels = np.array([0, 10, 60, 79, 80, 120, 200, 201, 250, 255], np.uint8)
    for trial in range(150):
        h, w = rng.integers(1, 40, 2)
        if trial % 3:
            img = rng.choice(levels, size=(h, w, 3))
        else:
            img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        grey = trial % 5 == 0  # many grey pixels: dark runs of every length
        if grey:
            img[:] = img[..., :1]
        planes = frame._planes(img)
        planes_t = np.ascontiguousarray(planes.transpose(0, 2, 1))
        i16 = img.astype(np.int16)
        for reach, contrast in ((3, 40), (1, 5), (2, 0)):
            want = _line_pixels_ref(i16, reach, contrast)
            assert np.array_equal(frame._line_pixels(planes, reach, contrast), want)
            want_t = _line_pixels_ref(i16.transpose(1, 0, 2), reach, contrast)
            assert np.array_equal(frame._line_pixels(planes_t, reach, contrast), want_t)
        luma, grey_px = frame._luma_grey(planes)
        for longest in (1, 3, 16, 50):
            want = _dark_runs_ref(img, longest)
            got = frame._dark_runs((luma < frame.DARK) & grey_px, longest)
            assert np.array_equal(got, want)
        colour = frame.page_color(img).astype(np.int16)
        want = np.abs(i16 - colour).max(axis=2) <= 6
        assert np.array_equal(frame.page_pixels(img), want)
        mask = rng.random((h, w)) < rng.random()
        square = ndimage.binary_closing(mask, structure=np.ones((5, 5), bool))
        assert np.array_equal(frame._closing_5x5(mask), square)
        assert np.array_equal(frame._integral(mask)[1:, 1:], mask.cumsum(0).cumsum(1))
        assert np.array_equal(frame._sums_above(mask, np.int32)[1:], mask.cumsum(0))
