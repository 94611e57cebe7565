"""``region="auto"`` and ``colorbar="auto"`` on layouts our own imshow figures never have:
GMT's checkered frame, thick outlines, resampled bars; and refusals when not sure."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from colour_figures import BLACK, WHITE, draw_colorbar, lut, page
from PIL import Image

from geodigitize.colorbar import LINE_TOL, locate_colorbar, sample_colorbar
from geodigitize.colormap import from_cmap
from geodigitize.decode import decode
from geodigitize.errors import ColorScaleError, RegionError
from geodigitize.frame import find_frame

FIELD = (60, 50, 460, 290)  # x0, y0, x1, y1 of the field


def _field(img: np.ndarray, box=FIELD) -> None:
    x0, y0, x1, y1 = box
    yy, xx = np.mgrid[0 : y1 - y0, 0 : x1 - x0]
    img[y0:y1, x0:x1] = lut("viridis", (np.sin(xx / 35) * np.cos(yy / 45) + 1) / 2)


def _checkered(img: np.ndarray, box=FIELD, band: int = 6, step: int = 25) -> None:
    """GMT's "fancy" frame: a band of alternating black and white segments between two
    thin black lines, around the field."""
    x0, y0, x1, y1 = box
    o0, o1 = (x0 - band - 2, y0 - band - 2), (x1 + band + 2, y1 + band + 2)
    for r0, r1 in ((y0 - band - 2, y0), (y1, y1 + band + 2)):  # top, bottom bands
        img[r0:r1, o0[0] : o1[0]] = BLACK
        for c in range(o0[0] + 1, o1[0] - 1):
            if ((c - x0) // step) % 2:
                img[r0 + 1 : r1 - 1, c] = WHITE
    for c0, c1 in ((x0 - band - 2, x0), (x1, x1 + band + 2)):  # left, right bands
        img[o0[1] : o1[1], c0:c1] = BLACK
        for r in range(o0[1] + 1, o1[1] - 1):
            if ((r - y0) // step) % 2:
                img[r, c0 + 1 : c1 - 1] = WHITE


def _decoded(img):
    scale = from_cmap("viridis", 0, 1)
    return scale, decode(img, scale)


@pytest.mark.parametrize("step", [25, 60])
def test_checkered_frame_gives_the_field_exactly(step):
    """Thin-spine detection breaks on the band's alternating segments, short or long; the
    field closed all round by the band is the frame."""
    img = page(360, 560)
    _field(img)
    _checkered(img, step=step)
    scale, dec = _decoded(img)
    assert find_frame(img, scale, dec) == tuple(float(v) for v in FIELD)


def test_small_rectangle_in_a_corner_of_the_field_is_refused():
    """A frame far smaller than the figure's scale-coloured area is not the map's."""
    img = page(360, 560)
    _field(img)
    img[80, 80:200] = img[200, 80:200] = 0  # a box drawn in the field's corner
    img[80:201, 80] = img[80:201, 200] = 0
    scale, dec = _decoded(img)
    with pytest.raises(RegionError, match="`region` x0,y0,x1,y1") as err:
        find_frame(img, scale, dec)
    assert "\n" not in str(err.value)


def _thick_outline(img, box, width: int) -> None:
    x0, y0, x1, y1 = box
    img[y0 - width : y0, x0 - width : x1 + width] = BLACK
    img[y1 : y1 + width, x0 - width : x1 + width] = BLACK
    img[y0:y1, x0 - width : x0] = BLACK
    img[y0:y1, x1 : x1 + width] = BLACK


def test_thick_black_outline_is_not_in_the_scale():
    img = page(420, 120)
    box = (50, 40, 64, 380)
    draw_colorbar(img, box, "jet_r", outline=0)
    _thick_outline(img, box, 3)
    prof = sample_colorbar(img, (42, 30, 72, 390))
    assert prof.box == tuple(float(v) for v in box)
    # jet_r's darkest end is (127, 0, 0): no sampled colour is the outline's black
    assert np.min(np.linalg.norm(prof.colors[prof.valid], axis=1)) > LINE_TOL


def test_bar_upscaled_by_half_keeps_its_whole_length():
    img = page(300, 520)
    box = (40, 200, 470, 214)  # horizontal, with a 1-pixel outline
    draw_colorbar(img, box, "turbo", vertical=False)
    big = np.asarray(Image.fromarray(img).resize((780, 450), Image.BILINEAR))
    found = locate_colorbar(big)
    want = np.array(box, float) * 1.5
    assert np.max(np.abs(np.subtract(found.box, want))) <= 2.0


def test_two_alike_colorbars_are_refused_naming_colorbar():
    img = page(420, 200)
    draw_colorbar(img, (40, 30, 60, 390), "jet_r")
    draw_colorbar(img, (130, 30, 150, 390), "jet_r")
    with pytest.raises(ColorScaleError, match="`colorbar` x0,y0,x1,y1") as err:
        locate_colorbar(img)
    assert "\n" not in str(err.value)


def test_colours_that_jump_along_the_bar_are_refused():
    """A "bar" whose lines jump between unrelated colours is not a smooth scale."""
    img = page(420, 100)
    rng = np.random.default_rng(0)
    colours = lut("jet_r", np.linspace(0, 1, 360))
    order = np.repeat(rng.permutation(45), 8)  # 45 blocks of 8 lines, shuffled
    img[30:390, 40:60] = colours[order * 8][:, None, :]
    img[29, 39:61] = img[390, 39:61] = 0
    img[29:391, 39] = img[29:391, 60] = 0
    with pytest.raises(ColorScaleError, match="`colorbar`"):
        locate_colorbar(img)


@pytest.mark.skipif(shutil.which("gmt") is None, reason="GMT 6 (`gmt`) is not installed")
def test_gmt_figure_frame_and_colorbar(tmp_path):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from benchmarks import _gmt_figures
    from benchmarks._gmt_figures import GmtSpec

    if not _gmt_figures.available():
        pytest.skip("GMT or Ghostscript cannot render here")
    fig = _gmt_figures.render(
        GmtSpec("t_fancy", projection="mercator", cpt="viridis", frame="fancy", dpi=100),
        tmp_path,
    )
    img = np.asarray(Image.open(tmp_path / fig.image).convert("RGB"))
    found = locate_colorbar(img)
    assert np.max(np.abs(np.subtract(found.box, fig.colorbar))) <= 3.0
    assert np.min(np.linalg.norm(found.profile.colors[found.profile.valid], axis=1)) > 40
