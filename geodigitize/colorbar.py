"""Read a colour scale from a figure's own colorbar.

A colorbar is a long thin box whose colour changes along one axis and stays the same
across it. :func:`sample_colorbar` turns a box around it into one colour per line across
the bar (a per-line median, so the black outline, tick marks and label text crossing the
bar do not count), drops lines that disagree with themselves or with their neighbours,
trims the outline at the ends, and tells continuous bars from bars made of flat blocks.
:func:`scale_from_colorbar` maps line positions to values and returns a
:class:`~geodigitize.colormap.ColorScale`; :func:`find_colorbars` finds candidate boxes in
a whole figure, and :func:`locate_colorbar` picks the one ``colorbar="auto"`` reads, or
refuses (:class:`~geodigitize.errors.ColorScaleError` naming `colorbar`) when the best
scores low, a rival scores alike, or its colours do not form one smooth path.

Notes
-----
Boxes are ``(x0, y0, x1, y1)`` in pixel-corner coordinates (GDAL convention, see
``docs/conventions.md``): a pixel belongs to a box when its centre is inside. A vertical
bar runs from vmin at the bottom to vmax at the top, a horizontal one from vmin at the
left; ``flip=True`` reverses either.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from .colormap import ColorScale, make_norm, runs_to_table
from .errors import ColorScaleError
from .frame import page_color
from .image import LUMA
from .region import Box, parse_box

__all__ = [
    "INSIDE_MAP",
    "MIN_AUTO_SCORE",
    "ColorbarProfile",
    "FoundColorbar",
    "bar_table",
    "densify",
    "find_colorbars",
    "locate_colorbar",
    "sample_colorbar",
    "scale_from_colorbar",
]

log = logging.getLogger(__name__)

#: RGB distance within which two colours of a line count as the same colour.
LINE_TOL = 24.0
#: Score factor of candidates mostly inside the map's frame (strips of the map).
INSIDE_MAP = 0.25
#: Lowest score ``--colorbar auto`` accepts (colorbars beside a map score above 0.9 on
#: the benchmark figures, strips of maps without a colorbar below 0.25).
MIN_AUTO_SCORE = 0.5
#: Fraction of a line's pixels that must agree with the line's median colour.
MIN_AGREEMENT = 0.6
#: Lines in the running-median window used to drop lines unlike their neighbours.
NEIGHBOUR_WINDOW = 9
#: Largest channel difference (0-255) between neighbours across a bar that still counts
#: as the same colour when looking for candidates (JPEG's noise across a bar reaches 10).
SAME_ACROSS = 12
#: Most flat blocks a bar may have and still count as discrete classes.
MAX_BLOCKS = 64


@dataclass(frozen=True, eq=False)
class ColorbarProfile:
    """The colours along a colorbar, from its vmin end to its vmax end.

    Attributes
    ----------
    colors : ndarray of shape (L, 3) and dtype float64
        Median RGB colour (0-255) of each line across the bar.
    positions : ndarray of shape (L,) and dtype float64
        Position of each line's centre along the bar, 0 at the vmin end, 1 at the vmax end.
    valid : ndarray of shape (L,) and dtype bool
        Lines kept: False where ticks, text or the outline cross the line.
    box : (x0, y0, x1, y1)
        The bar's coloured area (outline excluded), pixel corners.
    orientation : {"vertical", "horizontal"}
    flipped : bool
    blocks : ndarray of shape (N, 2) and dtype float64, or None
        For a bar of N flat blocks, each block's start and end position (0-1); the
        positions between blocks are the midpoints of the transition lines. None for a
        continuous bar.
    block_colors : ndarray of shape (N, 3) or None
        Median colour of each block.
    noise : float
        The bar's colour noise: the median, over its lines, of the RMS distance (RGB)
        of a line's pixels from the line's colour (0 on a clean PNG, a few units on a
        JPEG).
    ends : (x0, y0, x1, y1) or None
        `box` with its ends along the bar where positions 0 and 1 are: the ends of the
        bar's area (an extension triangle's base, a thick outline's centre). A thick
        outline hides them, so `box` stops a pixel or so inside them there. The value
        range read from the bar's labels is taken at these ends. None: `box`.
    """

    colors: np.ndarray
    positions: np.ndarray
    valid: np.ndarray
    box: Box
    orientation: str
    flipped: bool
    blocks: np.ndarray | None = None
    block_colors: np.ndarray | None = None
    noise: float = 0.0
    ends: Box | None = None

    @property
    def is_discrete(self) -> bool:
        """True when the bar is made of flat blocks."""
        return self.blocks is not None


# --------------------------------------------------------------------------- geometry


def _pixel_span(a: float, b: float, n: int) -> tuple[int, int]:
    """Indices ``[i0, i1)`` of the pixels whose centre lies in ``[a, b]``."""
    i0 = max(int(np.ceil(a - 0.5)), 0)
    i1 = min(int(np.floor(b - 0.5)) + 1, n)
    return i0, i1


def _crop(image: np.ndarray, box: Box) -> tuple[np.ndarray, int, int]:
    """Pixels of `image` inside `box`, and the row and column of the first one."""
    height, width = image.shape[:2]
    x0, y0, x1, y1 = box
    if x0 < 0 or y0 < 0 or x1 > width or y1 > height:
        raise ColorScaleError(
            f"colorbar box {x0:g},{y0:g},{x1:g},{y1:g} reaches outside the "
            f"{width}x{height} image: keep 0 <= x <= {width} and 0 <= y <= {height}"
        )
    r0, r1 = _pixel_span(y0, y1, height)
    c0, c1 = _pixel_span(x0, x1, width)
    return image[r0:r1, c0:c1].astype(np.float64), r0, c0


def _orient(patch: np.ndarray, vertical: bool, flip: bool) -> np.ndarray:
    """Reorder so that axis 0 runs along the bar from its vmin end (lines x across)."""
    lines = patch[::-1] if vertical else patch.transpose(1, 0, 2)
    return lines[::-1] if flip else lines


def _dist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sqrt(np.sum((a - b) ** 2, axis=-1))


def _longest_run(mask: np.ndarray) -> tuple[int, int]:
    """``[start, stop)`` of the longest run of True in a 1-D mask ((0, 0) if none)."""
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    if edges.size == 0:
        return 0, 0
    starts, stops = edges[::2], edges[1::2]
    k = int(np.argmax(stops - starts))
    return int(starts[k]), int(stops[k])


def _run_around(mask: np.ndarray, centre: int) -> tuple[int, int]:
    """``[start, stop)`` of the run of True containing index `centre` ((c, c) if False)."""
    if not mask[centre]:
        return centre, centre
    false_before = np.flatnonzero(~mask[:centre])
    false_after = np.flatnonzero(~mask[centre:])
    start = int(false_before[-1]) + 1 if false_before.size else 0
    stop = centre + int(false_after[0]) if false_after.size else mask.size
    return start, stop


# --------------------------------------------------------------------------- sampling


def _bar_columns(lines: np.ndarray, tol: float) -> tuple[int, int]:
    """Columns (across the bar) whose pixels mostly agree with each line's median colour."""
    median = np.median(lines, axis=1)
    agree = _dist(lines, median[:, None, :]) <= tol
    good = agree.mean(axis=0) >= MIN_AGREEMENT
    c0, c1 = _longest_run(good)
    if c1 - c0 < 1:
        raise ColorScaleError(
            "no colorbar found in the colorbar box: give a box that hugs the bar "
            "(x0,y0,x1,y1 in pixels, a few pixels of margin are fine)"
        )
    return c0, c1


def _uniform_column(luma: np.ndarray, tol: float) -> float | None:
    """The brightness of a column that is one shade over the middle of the bar, else None.

    Brightness (luma), not colour: JPEG's chroma subsampling tints a thin dark outline
    with the bar's colours but leaves it dark.
    """
    n = luma.shape[0]
    mid = luma[n // 4 : n - n // 4] if n >= 8 else luma
    level = float(np.median(mid))
    if np.mean(np.abs(mid - level) <= tol / 2) >= 0.9:
        return level
    return None


def _side(luma: np.ndarray, c: int, step: int, tol: float):
    """Describe what lies beside the bar on one side, looking outwards from column `c`.

    Up to two ringing columns next to the bar are skipped. Returns ``(kind, level,
    thickness, column, reach)``: kind ``"outline"`` for a band of at most 4 uniform
    columns followed by a different uniform band (or at most 3 at the box's edge),
    ``"background"`` for a wider band, None when nothing can be said; ``reach`` is how far
    a shade may be from ``level`` and still be the band's (half-way to the next band's).
    """
    ncols = luma.shape[1]
    first = None
    for _ in range(3):
        if not 0 <= c < ncols:
            return None, None, 0, c, 0.0
        first = _uniform_column(luma[:, c], tol)
        if first is not None:
            break
        c += step
    if first is None:
        return None, None, 0, c, 0.0
    thick, cc = 1, c + step
    while 0 <= cc < ncols and thick < 8:
        nxt = _uniform_column(luma[:, cc], tol)
        if nxt is None or abs(nxt - first) > tol / 2:
            break
        thick, cc = thick + 1, cc + step
    beyond = _uniform_column(luma[:, cc], tol) if 0 <= cc < ncols else None
    reach = tol / 2 if beyond is None else max(tol / 2, abs(beyond - first) / 2)
    if beyond is not None and thick <= 4:
        return "outline", first, thick, c, reach
    if beyond is None and 0 <= cc < ncols:
        return None, None, 0, c, 0.0
    if thick <= 3:
        return "outline", first, thick, c, reach
    return "background", first, thick, c, reach


#: Where a 1-pixel outline sits relative to the edge it draws, in image pixels: matplotlib
#: snaps strokes to pixel centres, so an edge at ``y`` is drawn in row ``y`` (centre
#: ``y + 0.5``). The bar's area is taken to start half a pixel before each outline's centre.
OUTLINE_SNAP = 0.5


@dataclass(frozen=True)
class _Extent:
    """Lines ``[start, stop)`` showing the bar's colours, the area's edges ``e0, e1``
    (line corner coordinates, may differ from start/stop by an outline) that positions
    are measured from, and the edges ``v0, v1`` of the part that shows (the box reported:
    a thick outline hides the area's edge)."""

    start: int
    stop: int
    e0: float
    e1: float
    v0: float | None = None
    v1: float | None = None
    ink: np.ndarray | None = None  # the long sides' outline colour, when there is one

    @property
    def shown(self) -> tuple[float, float]:
        return (
            self.e0 if self.v0 is None else self.v0,
            self.e1 if self.v1 is None else self.v1,
        )


def _bar_extent(
    lines: np.ndarray,
    c0: int,
    c1: int,
    bar: np.ndarray,
    tol: float,
    shift: float,
    page_luma: float | None = None,
) -> _Extent:
    """Lines that belong to the bar's coloured area, and where the area's edges are.

    The outline's thickness is measured on the bar's long sides, where it can be told
    from the bar; the same thickness is trimmed where the side outline ends, and the
    area's edges are put at the end outlines' centres moved by `shift` (see
    :data:`OUTLINE_SNAP`). Where both long sides have an outline, the longer run counts:
    JPEG ringing at a corner can take the last pixel off one of them. Without an
    outline, end lines of the page's brightness are trimmed and the edges are those of
    the remaining lines.
    """
    n = lines.shape[0]
    luma = lines @ LUMA
    bar_luma = bar @ LUMA
    sides = [_side(luma, c, step, tol) for c, step in ((c0 - 1, -1), (c1, 1))]
    outlines = []
    for (kind, _, thick, col, reach), step in zip(sides, (-1, 1), strict=True):
        if kind == "outline":
            run = _outline_run(lines, luma, (col, step, thick), reach, tol, page_luma)
            outlines.append((*run, thick))
    if outlines:
        a, b = min(o[0] for o in outlines), max(o[1] for o in outlines)
        thick = outlines[0][4]
        ink, core = outlines[0][2], max(o[3] for o in outlines)
        start = a + thick if a > 0 else 0
        stop = b - thick if b < n else n
        limit = min(MAX_INK_LINES, core + 2 - thick)
        start, stop = _trim_ink(bar, start, stop, ink, tol, (a > 0, b < n), limit)
        if stop - start >= 2:
            # a 1-pixel outline is drawn over the edge (OUTLINE_SNAP); a thicker one
            # (GMT's, a resampled one: more lines of ink before the bar) is centred on
            # the edge and hides it, so the box shows where the bar's colours start
            thin = thick < 2 and core < 2
            e0, v0 = (a + thick / 2 + shift, None) if thin else ((a + start) / 2, start)
            e1, v1 = (b - thick / 2 + shift, None) if thin else ((b + stop) / 2, stop)
            e0, e1 = (e0 if a > 0 else 0.0), (e1 if b < n else float(n))
            return _Extent(start, stop, e0, e1, v0, v1, ink)
    levels = [level for kind, level, _, _, _ in sides if kind == "background"]
    # nothing beside the bar says where it ends: at least drop the page's lines
    for level in levels + ([] if page_luma is None else [page_luma]):
        start, stop = _trim_level(bar_luma, level, tol / 4)
        if stop - start >= 2:
            return _Extent(start, stop, float(start), float(stop))
    return _Extent(0, n, 0.0, float(n))


#: Extension triangles (matplotlib's ``extend``) are measured by the width of their
#: lines across the bar: only lines whose colour stands at least this far (RGB distance)
#: from the colour beside the bar (its outline) and from the page's show it (GMT fills
#: its ``+e`` triangles black or white by default: those keep the outline's end).
EXTENSION_CONTRAST = 40.0
#: A bar's lines are its full width within this many pixels; an extension's narrower.
FULL_WIDTH_SLACK = 0.5
#: An extension triangle's base is found from its lines of these shares of the bar's
#: width (a straight line through their widths, taken to the full width).
TRIANGLE_FIT = (0.3, 0.85)
#: Lines beyond a bar's end of the outline's colour (or black) that make it a triangle
#: of that colour, not an outline (outlines are at most 4 pixels thick, see ``_side``).
INK_BEYOND = 6


def _extension_edges(
    band: np.ndarray, beside: np.ndarray, page: np.ndarray, ext: _Extent
) -> _Extent:
    """`ext` with each end that runs into an extension triangle moved to the triangle's
    base (and the triangle's lines left out of the bar's colours).

    A triangle drawn at a bar's end (its colour the end's, or the over/under colour)
    continues the bar's long outline along its slanted sides, so the outline's run ends
    a pixel or two past the bar's end. Across the bar, a triangle's line is narrower
    than the bar, and the narrower the farther out: its width falls linearly. A line's
    width counts the pixels of its middle colour, an edge pixel by how much of that
    colour it holds against the colour beside the bar (`beside`: the outline's) or the
    page's, whichever it is nearer. The base is where that line reaches the bar's full
    width. Only lines whose colour stands :data:`EXTENSION_CONTRAST` from both, and from
    black, show it. Where a triangle is seen but its sides do not reach its base as a
    straight line (JPEG blurs them), or where the end is of the outline's colour and
    could hide one, the end is where the bar's colours show (`ext.shown`).

    Parameters
    ----------
    band : ndarray of shape (n, w, 3)
        The bar's columns (across) and the one beside them on either side, line by line
        (along).
    beside, page : ndarray of shape (3,)
        The colour beside the bar (its outline's, or the page's) and the page's.
    ext : _Extent
    """
    n, w = band.shape[:2]
    if n < 8 or w < 4 or ext.stop - ext.start < 8:
        return ext
    middle = band[:, w // 2 - (w % 2 == 0) : w // 2 + 1].mean(axis=1)  # (n, 3)
    to_middle = _dist(band, middle[:, None, :])
    share = np.zeros(band.shape[:2])
    nearest = np.full(band.shape[:2], np.inf)
    to_beside = _dist(middle, beside)  # (n,)
    contrast = np.full(n, np.inf)
    for ref, away in ((beside, to_beside), (page, _dist(middle, page))):
        contrast = np.minimum(contrast, away)
        to_ref = _dist(band, ref)
        nearer = to_ref < nearest
        nearest = np.where(nearer, to_ref, nearest)
        share = np.where(nearer, 1.0 - to_middle / np.maximum(away, 1e-9)[:, None], share)
    width = np.clip(share, 0.0, 1.0).sum(axis=1)
    # lines of the outline's colour; outlines are drawn black by default, and a thin one
    # shows lighter than it is
    inky = np.minimum(to_beside, _dist(middle, np.zeros(3))) < EXTENSION_CONTRAST
    shown = (contrast >= EXTENSION_CONTRAST) & ~inky
    quarter = (ext.stop - ext.start) // 4
    if shown[ext.start + quarter : ext.stop - quarter].mean() < 0.5:
        return ext
    mid = (ext.start + ext.stop) // 2
    low, low_seen = _triangle_base(width[: mid + 1], shown[: mid + 1])
    high, high_seen = _triangle_base(width[mid:][::-1], shown[mid:][::-1])
    # an end of the outline's colour (magma's dark end) could hide a triangle: its sides
    # are not seen (its first line may be a blend with the outline: the next few tell)
    low_seen |= bool(inky[ext.start + 1 : ext.start + 5].all())
    high_seen |= bool(inky[ext.stop - 5 : ext.stop - 1].all())
    # ... and so could the lines beyond an end, of the outline's colour for longer than
    # an outline is thick (an extension triangle filled black: `set_under('black')`)
    low_seen |= ext.start >= INK_BEYOND and bool(inky[ext.start - INK_BEYOND : ext.start].all())
    high_seen |= ext.stop + INK_BEYOND <= n and bool(inky[ext.stop : ext.stop + INK_BEYOND].all())
    if not (low_seen or high_seen):
        return ext
    e0, e1, v0, v1, start, stop = ext.e0, ext.e1, ext.v0, ext.v1, ext.start, ext.stop
    # a triangle seen whose base cannot be told (its sides blur into the outline's run,
    # as JPEG's do), or an end that could hide one: the outline's run may end a pixel or
    # more past the bar, so the end is where the colours show instead
    if low is not None:
        e0, v0 = low, None
        start = max(start, int(np.ceil(low - 1e-6)))
    elif low_seen:
        e0, v0 = ext.shown[0], None
    if high is not None:
        e1, v1 = n - high, None
        stop = min(stop, int(np.floor(n - high + 1e-6)))
    elif high_seen:
        e1, v1 = ext.shown[1], None
    if stop - start < 2:
        return ext
    return _Extent(start, stop, e0, e1, v0, v1, ext.ink)


def _triangle_base(width: np.ndarray, shown: np.ndarray) -> tuple[float | None, bool]:
    """Where the lines ``0 .. k`` (outermost first, the bar's middle last) stop narrowing
    towards line 0 as a triangle does (see :func:`_extension_edges`), in line
    coordinates, and whether they show a triangle: ``(None, False)`` when they show
    none, ``(None, True)`` when its sides do not reach its base as a triangle's do.

    The bar's own width is taken from the lines just inside the triangle: how much of an
    edge pixel shows the bar's colour depends on that colour, so it changes along the bar.
    """
    if width.size < 12:
        return None, False
    # line i is narrower than the median of the 8 lines inside it (i + 1 .. i + 8)
    inside = np.median(np.lib.stride_tricks.sliding_window_view(width[1:], 8), axis=1)
    narrower = np.flatnonzero(width[: inside.size] < inside - FULL_WIDTH_SLACK)
    i = int(narrower[-1]) if narrower.size else -1
    if i < 3 or not shown[i]:
        return None, False
    first = i  # the outermost line of the bar's full width is first + 1
    full = float(np.median(width[first + 1 : first + 9]))
    # the slanted sides from the base out to where the triangle is a third as wide:
    # nearer its tip the outline's own width is most of what shows
    lines, widths = [], []
    while i >= 0 and shown[i] and width[i] >= TRIANGLE_FIT[0] * full:
        if i < first and width[i] > width[i + 1 : i + 4].max() + 0.75:
            break  # widening outwards: not a triangle (a slanted edge's pixels zigzag)
        if width[i] <= TRIANGLE_FIT[1] * full:
            lines.append(i + 0.5)
            widths.append(width[i])
        i -= 1
    if len(lines) < 3 or max(widths) - min(widths) < 0.25 * full:
        return None, False
    x, y = np.array(lines), np.array(widths)
    slope, offset = np.polyfit(x, y, 1)
    if slope <= 0:
        return None, False
    # narrowing outwards: a triangle, whose base is told only where its sides are straight
    tolerance = max(0.75, 0.06 * full)
    if np.max(np.abs(offset + slope * x - y)) > tolerance:
        return None, True
    base = (full - offset) / slope
    if abs(base - (first + 1)) > 2.0:
        return None, True
    # the lines between those fitted and the base follow the same line (a blurred
    # triangle, JPEG's, flattens there, and its base cannot be told)
    between = np.arange(int(x.max()) + 1, first + 1)
    between = between[between + 0.5 < base]
    if np.any(np.abs(offset + slope * (between + 0.5) - width[between]) > tolerance):
        return None, True
    return float(base), True


def _trim_level(bar_luma: np.ndarray, level: float, tol: float) -> tuple[int, int]:
    """Lines ``[start, stop)`` left once end lines within `tol` of `level` are dropped."""
    away = np.flatnonzero(np.abs(bar_luma - level) > tol)
    if away.size == 0:
        return 0, 0
    return int(away[0]), int(away[-1]) + 1


def _outline_run(
    lines: np.ndarray,
    luma: np.ndarray,
    side: tuple[int, int, int],
    reach: float,
    tol: float,
    page_luma: float | None = None,
) -> tuple[int, int, np.ndarray, int]:
    """Lines ``[a, b)`` along which a side outline runs, the outline's colour, and how
    many columns of that colour it is (its core's thickness).

    The outline's columns from `col` outwards (its `thick` columns and two more) are
    tried, and the one whose run around the bar's middle is longest counts: the column
    next to the bar may blend the outline with the bar's colour (antialiasing, a
    resampled image), so its shade follows the bar and breaks where the bar's
    brightness changes, while the outline's core (or, for a line straddling two pixels,
    its blend with the page) keeps one shade all along. `side` is the outline's first
    column, the step outwards and its thickness; columns of the page's brightness
    `page_luma` end the search.
    """
    col, step, thick = side
    n = luma.shape[0]
    best = (n // 2, n // 2, lines[n // 2, col])
    for c in range(col, col + step * (thick + 2), step):
        if not 0 <= c < luma.shape[1]:
            break
        level = _uniform_column(luma[:, c], tol)
        if level is None:
            continue
        if page_luma is not None and abs(level - page_luma) <= tol / 2:
            break  # the page beyond the outline
        a, b = _run_around(np.abs(luma[:, c] - level) <= max(reach, tol / 2), n // 2)
        if c != col and b - a == n:
            continue  # the page beyond, not an outline closing at the bar's ends
        if b - a > best[1] - best[0]:
            best = (a, b, np.median(lines[a:b, c], axis=0))
    ink_luma = float(best[2] @ LUMA)
    core = sum(
        1
        for c in range(col, col + step * (thick + MAX_INK_LINES), step)
        if 0 <= c < luma.shape[1] and abs(float(np.median(luma[:, c])) - ink_luma) <= tol / 2
    )
    return (*best, max(core, 1))


#: Most lines trimmed at an end as outline ink or its blend.
MAX_INK_LINES = 6


def _trim_ink(
    bar: np.ndarray,
    start: int,
    stop: int,
    ink: np.ndarray,
    tol: float,
    ends: tuple[bool, bool],
    limit: int,
) -> tuple[int, int]:
    """Drop end lines that show the outline's colour or a blend of it with the bar.

    A thick outline (GMT's, or any outline in an upscaled image) is more than the side
    outline's measured thickness at the ends; a line of the outline's colour, or between
    it and the next line in, decoded as a scale colour would turn every line and letter
    of the map into the end value. At most `limit` lines go (the side outline's core
    thickness and a blended line, less what is already trimmed): a longer run of dark
    lines is the bar's own end (gist_earth, gray and magma start near black).
    """
    at0, at1 = ends

    def inky(i: int, j: int) -> bool:
        c, nxt = bar[i], bar[j]
        if _dist(c, ink) <= tol:
            return True
        seg = nxt - ink
        t = float(np.dot(c - ink, seg) / max(np.dot(seg, seg), 1e-9))
        off = _dist(c, ink + np.clip(t, 0.0, 1.0) * seg)
        return 0.0 < t < 1.0 and off <= tol / 2 and _dist(c, nxt) > tol / 2

    if limit <= 0 or stop - start <= 4 * limit:
        return start, stop
    # a bar whose own end is the outline's colour (gray, magma) shows many such lines;
    # only a short run of them, then the bar's colours, is ink
    k0 = 0
    while at0 and k0 <= limit and inky(start + k0, start + k0 + 1):
        k0 += 1
    k1 = 0
    while at1 and k1 <= limit and inky(stop - 1 - k1, stop - 2 - k1):
        k1 += 1
    return start + (k0 if k0 <= limit else 0), stop - (k1 if k1 <= limit else 0)


def _across_edges(lines: np.ndarray, c0: int, c1: int, tol: float) -> tuple[float, float]:
    """Edges of the bar's area across it: at the side outlines (snapped), else the bar's
    own columns."""
    luma = lines @ LUMA
    edges = []
    for c, step, own in ((c0 - 1, -1, float(c0)), (c1, 1, float(c1))):
        kind, _, thick, col, _ = _side(luma, c, step, tol)
        if kind == "outline" and thick < 2:
            centre = col + 0.5 + step * (thick - 1) / 2
            edges.append(centre - OUTLINE_SNAP)
        else:
            edges.append(own)
    return edges[0], edges[1]


def _consistent_lines(bar: np.ndarray, tol: float) -> tuple[np.ndarray, np.ndarray]:
    """Median colour of each line, and which lines agree with themselves and neighbours."""
    median = np.median(bar, axis=1)
    agreement = np.mean(_dist(bar, median[:, None, :]) <= tol, axis=1)
    valid = agreement >= MIN_AGREEMENT
    idx = np.flatnonzero(valid)
    if idx.size >= 3:
        window = min(NEIGHBOUR_WINDOW, idx.size | 1)
        smooth = ndimage.median_filter(median[idx], size=(window, 1), mode="mirror")
        valid[idx[_dist(median[idx], smooth) > tol]] = False
    _recover_lines(bar, median, valid, tol)
    return median, valid


def _recover_lines(bar: np.ndarray, median: np.ndarray, valid: np.ndarray, tol: float) -> None:
    """Give lines partly covered by text or ticks the colour of their uncovered pixels.

    The expected colour of a dropped line is interpolated from the nearest kept lines on
    either side; when at least a quarter of its pixels are that colour (or either
    neighbour's), their median becomes the line's colour. Updates in place.
    """
    idx = np.flatnonzero(valid)
    lost = np.flatnonzero(~valid)
    if idx.size < 2 or lost.size == 0:
        return
    pos = np.searchsorted(idx, lost)
    prev = idx[np.clip(pos - 1, 0, idx.size - 1)]
    nxt = idx[np.clip(pos, 0, idx.size - 1)]
    for line, a, b in zip(lost, prev, nxt, strict=True):
        w = 0.5 if a == b else (line - a) / (b - a)
        expected = [median[a] * (1 - w) + median[b] * w, median[a], median[b]]
        pixels = bar[line]
        ok = np.zeros(pixels.shape[0], dtype=bool)
        for colour in expected:
            ok |= _dist(pixels, colour) <= tol / 2
        if ok.sum() >= max(2, 0.25 * pixels.shape[0]):
            median[line] = np.median(pixels[ok], axis=0)
            valid[line] = True


def _blocks(colors: np.ndarray, valid: np.ndarray, tol: float):
    """Split the valid lines into flat blocks; return ``(starts, stops, colours)`` or None.

    A bar is discrete when 2 to :data:`MAX_BLOCKS` blocks of at least 3 lines cover most
    lines and the colour jumps between blocks are large compared with the spread inside
    them (a continuous bar drifts, so its "blocks" are as spread as their jumps).
    """
    idx = np.flatnonzero(valid)
    if idx.size < 6:
        return None
    runs, start = [], 0
    for k in range(1, idx.size + 1):
        if k == idx.size or _dist(colors[idx[k]], colors[idx[start]]) > tol:
            runs.append((start, k))
            start = k
    long_runs = [(a, b) for a, b in runs if b - a >= 3]
    if not 2 <= len(long_runs) <= MAX_BLOCKS:
        return None
    covered = sum(b - a for a, b in long_runs)
    if covered < 0.85 * idx.size:
        return None
    block_colors = np.array([np.median(colors[idx[a:b]], axis=0) for a, b in long_runs])
    spread = np.array(
        [np.max(_dist(colors[idx[a:b]], block_colors[i])) for i, (a, b) in enumerate(long_runs)]
    )
    jumps = _dist(block_colors[1:], block_colors[:-1])
    if np.median(jumps) < 3.0 * (np.median(spread) + 2.0):
        return None
    starts = np.array([idx[a] for a, _ in long_runs])
    stops = np.array([idx[b - 1] + 1 for _, b in long_runs])
    return starts, stops, block_colors


def _to_image(
    r0: int,
    c0: int,
    nlines: int,
    vertical: bool,
    flip: bool,
    e0: float,
    e1: float,
    a0: float,
    a1: float,
) -> Box:
    """Map the bar's area from line coordinates (along ``e0..e1``, across ``a0..a1``) to an
    image box in pixel corners."""
    if vertical:
        rows = (e0, e1) if flip else (nlines - e1, nlines - e0)
        return (c0 + a0, r0 + rows[0], c0 + a1, r0 + rows[1])
    cols = (nlines - e1, nlines - e0) if flip else (e0, e1)
    return (c0 + cols[0], r0 + a0, c0 + cols[1], r0 + a1)


def sample_colorbar(
    image: np.ndarray,
    box: Box | str,
    *,
    flip: bool = False,
    orientation: str | None = None,
    tol: float = LINE_TOL,
) -> ColorbarProfile:
    """Sample the colours along a colorbar.

    Parameters
    ----------
    image : ndarray of shape (H, W, 3) and dtype uint8
        The figure.
    box : (x0, y0, x1, y1) or str
        A box around the bar in pixel corners; a few pixels of margin, the outline and
        ticks inside it are fine.
    flip : bool
        The bar runs from vmax to vmin (top to bottom, or right to left).
    orientation : {"vertical", "horizontal"}, optional
        Default: vertical when the box is taller than wide.
    tol : float
        RGB distance within which pixels of a line count as the same colour.

    Returns
    -------
    ColorbarProfile

    Raises
    ------
    ColorScaleError
        If the box is outside the image, too small, or holds no bar.
    """
    box = parse_box(box, "colorbar box") if isinstance(box, str) else tuple(map(float, box))
    patch, r0, c0 = _crop(np.asarray(image), box)
    if orientation is None:
        vertical = patch.shape[0] >= patch.shape[1]
    elif orientation in ("vertical", "horizontal"):
        vertical = orientation == "vertical"
    else:
        raise ColorScaleError(
            f"unknown colorbar orientation {orientation!r}: use vertical or horizontal"
        )
    lines = _orient(patch, vertical, flip)
    if lines.shape[0] < 4 or lines.shape[1] < 1:
        raise ColorScaleError(
            f"colorbar box {box} holds {lines.shape[0]} lines along the bar: give the box "
            "of the whole bar (at least 4 pixels long)"
        )
    b0, b1 = _bar_columns(lines, tol)
    bar = lines[:, b0:b1]
    # Image -> line coordinates: vertical bars count lines upwards unless flipped.
    along = (-1.0 if vertical else 1.0) * (-1.0 if flip else 1.0)
    page = page_color(image).astype(np.float64)
    page_luma = float(page @ LUMA)
    ext = _bar_extent(lines, b0, b1, np.median(bar, axis=1), tol, -OUTLINE_SNAP * along, page_luma)
    # with a column beside the bar's on either side: the blends of the bar with its edge
    wider = lines[:, max(b0 - 1, 0) : b1 + 1]
    ext = _extension_edges(wider, page if ext.ink is None else ext.ink, page, ext)
    start, stop, length = ext.start, ext.stop, ext.e1 - ext.e0
    colors, valid = _consistent_lines(bar[start:stop], tol)
    positions = (np.arange(start, stop) + 0.5 - ext.e0) / length
    a0, a1 = _across_edges(lines, b0, b1, tol)
    out_box = _to_image(r0, c0, lines.shape[0], vertical, flip, *ext.shown, a0, a1)
    noise = float(np.median(np.std(bar[start:stop], axis=1).sum(axis=1)))
    found = _blocks(colors, valid, tol=min(6.0 + 3.0 * noise, tol))
    blocks = block_colors = None
    if found is not None:
        starts, stops, block_colors = found
        inner = start + (stops[:-1] + starts[1:]) / 2.0
        edges = np.concatenate([[0.0], (inner - ext.e0) / length, [1.0]])
        blocks = np.column_stack([edges[:-1], edges[1:]])
    n = stop - start
    log.debug(
        "colorbar %s: %d lines, %d kept, %s",
        out_box,
        n,
        valid.sum(),
        "discrete" if blocks is not None else "continuous",
    )
    return ColorbarProfile(
        colors,
        positions,
        valid,
        out_box,
        "vertical" if vertical else "horizontal",
        flip,
        blocks,
        block_colors,
        _line_noise(bar[start:stop], colors),
        _to_image(r0, c0, lines.shape[0], vertical, flip, ext.e0, ext.e1, a0, a1),
    )


def _line_noise(bar: np.ndarray, colors: np.ndarray) -> float:
    """Median over lines of the RMS RGB distance of a line's pixels from its colour.

    The outermost pixel on either side is left out when the bar is 5 pixels wide or more:
    it is often a blend with the outline or the page.
    """
    if bar.shape[1] >= 5:
        bar = bar[:, 1:-1]
    if bar.size == 0:
        return 0.0
    spread = np.sqrt(np.mean(np.sum((bar - colors[:, None, :]) ** 2, axis=2), axis=1))
    return float(np.median(spread))


# --------------------------------------------------------------------------- scale


def scale_from_colorbar(
    image: np.ndarray,
    box: Box | str,
    *,
    vmin: float | None = None,
    vmax: float | None = None,
    norm: str = "linear",
    vcenter: float | None = None,
    levels: tuple[float, ...] | None = None,
    flip: bool = False,
    discrete: bool | None = None,
) -> ColorScale:
    """Build the colour scale drawn in a figure's colorbar.

    A continuous bar gives one entry per distinct line colour, standing for the value at
    the centre of the lines drawn in it (positions map to values through `norm`). A bar
    of N flat blocks gives N classes whose value is the middle of each block's range; with
    `levels` the classes are ``levels[i]..levels[i+1]`` whatever the blocks' lengths
    (matplotlib draws classes of uneven width as blocks of equal length by default).

    Parameters
    ----------
    image : ndarray of shape (H, W, 3) and dtype uint8
    box : (x0, y0, x1, y1) or str
        See :func:`sample_colorbar`.
    vmin, vmax : float, optional
        Values at the bar's two ends; taken from `levels` when not given.
    norm : {"linear", "log", "twoslope"}
    vcenter : float, optional
        Value at the bar's middle for ``norm="twoslope"``.
    levels : tuple of float, optional
        Class edges; the bar must then show ``len(levels) - 1`` blocks.
    flip : bool
    discrete : bool, optional
        Force (True) or forbid (False) reading the bar as blocks; default: detect.

    Returns
    -------
    ColorScale
        ``source="colorbar"``; ``extra`` records the bar's box and orientation.
    """
    if levels is not None:
        levels = _check_levels(levels)
        vmin = levels[0] if vmin is None else vmin
        vmax = levels[-1] if vmax is None else vmax
    if vmin is None or vmax is None:
        raise ColorScaleError(
            "a colorbar needs the values at its ends: give --vmin and --vmax (or --levels)"
        )
    nrm = make_norm(float(vmin), float(vmax), norm, vcenter)
    prof = sample_colorbar(image, box, flip=flip)
    extra = {
        "colorbar_box": [round(v, 2) for v in prof.box],
        "colorbar_orientation": prof.orientation,
        "colorbar_lines": int(prof.valid.size),
        "colorbar_lines_dropped": int((~prof.valid).sum()),
    }
    use_blocks = prof.is_discrete if discrete is None else discrete
    if levels is not None or use_blocks:
        return _classes(prof, nrm, levels, float(vmin), float(vmax), norm, extra)
    colors, centres = _sampled_table(prof.colors[prof.valid], prof.positions[prof.valid])
    values = np.asarray(nrm.inverse(centres), dtype=np.float64)
    return ColorScale(colors, values, float(vmin), float(vmax), norm, "colorbar", extra=extra)


#: Largest colour step (RGB distance) between two neighbouring lines of a continuous bar
#: that :func:`densify` fills in; a larger one is a jump of the scale, kept.
MAX_FILL_STEP = LINE_TOL
#: Largest RGB distance between two consecutive colours after :func:`densify`.
FILL_STEP = 0.5


def densify(colors: np.ndarray, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fill the colours between neighbouring lines of a continuous bar.

    A bar shows one colour per line; the map drew every colour in between (GMT
    interpolates between its table's nodes, a resampled image mixes neighbours), so a
    table of the lines' colours alone leaves gaps of a few 8-bit units that the map's
    pixels fall into. Between two neighbouring lines at most :data:`MAX_FILL_STEP` apart,
    colours are interpolated linearly, with their positions, every :data:`FILL_STEP`.

    Parameters
    ----------
    colors : ndarray of shape (L, 3)
        The kept lines' colours (0-255), in order along the bar.
    positions : ndarray of shape (L,)

    Returns
    -------
    colors : ndarray of shape (M, 3) and dtype float64
    positions : ndarray of shape (M,)
        M >= L; every line's colour and position is kept.
    """
    colors = np.asarray(colors, dtype=np.float64)
    positions = np.asarray(positions, dtype=np.float64)
    if colors.shape[0] < 2:
        return colors, positions
    step = _dist(colors[1:], colors[:-1])
    parts = np.where(step <= MAX_FILL_STEP, np.ceil(step / FILL_STEP), 1).astype(np.int64)
    parts = np.maximum(parts, 1)
    seg = np.repeat(np.arange(step.size), parts)
    frac = np.arange(seg.size) - np.repeat(np.cumsum(parts) - parts, parts)
    w = (frac / parts[seg])[:, None]
    out_c = np.concatenate([colors[seg] * (1 - w) + colors[seg + 1] * w, colors[-1:]])
    w = w[:, 0]
    out_p = np.concatenate([positions[seg] * (1 - w) + positions[seg + 1] * w, positions[-1:]])
    return out_c, out_p


def bar_table(colors: np.ndarray, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct 8-bit colours within rounding of a bar's colours, at their positions.

    A line's colour is known to 8-bit rounding only, and so is every colour the map drew
    between two lines; and matplotlib rounds the bar's colours but truncates the image's
    (``imshow``), a unit lower. Each colour of `colors` therefore gives every 8-bit colour
    whose channels are its channels rounded down, up, or rounded down less one, standing
    for its position; a colour reached from several colours keeps the mean of their
    positions.

    Parameters
    ----------
    colors : ndarray of shape (M, 3)
        Colours along the bar (0-255), e.g. from :func:`densify`.
    positions : ndarray of shape (M,)

    Returns
    -------
    colors : ndarray of shape (K, 3) and dtype float64
    positions : ndarray of shape (K,)
    """
    colors = np.clip(np.asarray(colors, dtype=np.float64), 0, 255)
    choices = (np.floor(colors) - 1, np.floor(colors), np.ceil(colors))
    corners = []
    for k in range(27):
        pick = [(k // 3**c) % 3 for c in range(3)]
        corners.append(np.stack([choices[pick[c]][:, c] for c in range(3)], axis=1))
    rgb = np.clip(np.concatenate(corners), 0, 255).astype(np.int64)
    n = colors.shape[0]
    packed = (rgb[:, 0] << 16) | (rgb[:, 1] << 8) | rgb[:, 2]
    pairs = np.unique(packed * n + np.tile(np.arange(n), 27))  # each colour once per source
    packed, source = pairs // n, pairs % n
    keys, inverse = np.unique(packed, return_inverse=True)
    at = np.asarray(positions, dtype=np.float64)[source]
    mean = np.bincount(inverse, weights=at) / np.bincount(inverse)
    order = np.argsort(mean, kind="stable")
    keys, mean = keys[order], mean[order]
    table = np.stack([(keys >> 16) & 255, (keys >> 8) & 255, keys & 255], axis=1)
    return table.astype(np.float64), mean


def _sampled_table(colors: np.ndarray, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The lines' own 8-bit colours, each at the centre of its run of lines, and the
    colours between them (:func:`densify`, :func:`bar_table`) that no line shows.

    A bar in steps (matplotlib's 256 colours over more lines) keeps its colours at the
    centres of their steps; the colours between steps, or between the lines of a smooth
    bar, stand for where the path between lines passes them.
    """
    rgb = np.clip(np.round(colors), 0, 255).astype(np.uint8)
    own, own_at = runs_to_table(rgb, positions)
    fill, fill_at = bar_table(*densify(colors, positions))

    def pack(c):
        c = c.astype(np.int64)
        return (c[:, 0] << 16) | (c[:, 1] << 8) | c[:, 2]

    new = ~np.isin(pack(fill), pack(own))
    table = np.concatenate([own, fill[new]])
    at = np.concatenate([own_at, fill_at[new]])
    order = np.argsort(at, kind="stable")
    return table[order], at[order]


def _check_levels(levels) -> tuple[float, ...]:
    edges = np.asarray(levels, dtype=np.float64)
    if edges.ndim != 1 or edges.size < 3 or np.any(np.diff(edges) <= 0):
        raise ColorScaleError(
            "levels must be at least 3 strictly increasing class edges, e.g. 0,0.1,0.2"
        )
    return tuple(float(v) for v in edges)


def _classes(prof: ColorbarProfile, nrm, levels, vmin, vmax, norm, extra) -> ColorScale:
    if prof.blocks is None:
        raise ColorScaleError(
            "the colorbar does not look like flat blocks of colour: drop --levels to read "
            "it as a continuous bar, or check the --colorbar box"
        )
    nblocks = prof.blocks.shape[0]
    if levels is not None:
        if len(levels) - 1 != nblocks:
            raise ColorScaleError(
                f"--levels gives {len(levels) - 1} classes but the colorbar shows "
                f"{nblocks} blocks of colour: give {nblocks + 1} class edges"
            )
        edges = np.asarray(levels)
    else:
        bounds = np.concatenate([prof.blocks[:, 0], prof.blocks[-1:, 1]])
        edges = np.asarray(nrm.inverse(bounds), dtype=np.float64)
        edges[0], edges[-1] = vmin, vmax
    middles = (edges[:-1] + edges[1:]) / 2
    return ColorScale(
        prof.block_colors,
        middles,
        vmin,
        vmax,
        norm,
        "colorbar",
        levels=tuple(float(v) for v in edges),
        extra=extra,
    )


# --------------------------------------------------------------------------- detection


def find_colorbars(image: np.ndarray, *, max_candidates: int = 5) -> list[tuple[Box, float]]:
    """Find boxes that look like colorbars, best first.

    A colorbar is a long thin solid box whose colour is the same across it and changes,
    smoothly or in blocks, along it. Candidates are the connected areas of pixels equal to
    their two neighbours across a possible bar (page colour excluded), kept when long and
    thin enough, refined with :func:`sample_colorbar`, and scored by how well they fill
    their box, how consistent their lines are and how many colours they show.

    Parameters
    ----------
    image : ndarray of shape (H, W, 3) and dtype uint8
    max_candidates : int

    Returns
    -------
    list of ((x0, y0, x1, y1), score)
        Boxes of the bars' coloured areas (pixel corners) and a score in 0-1.

    Notes
    -----
    A strip of the map between two graticule lines can look like a bar. A colorbar stands
    on the page: candidates without the page colour on both long sides, a few pixels out
    (:func:`_page_beside`), have their score multiplied by :data:`INSIDE_MAP`, so on a
    figure without a colorbar every candidate scores below :data:`MIN_AUTO_SCORE` (a
    colorbar drawn over the map itself must then be given by its box).
    """
    return [(c.box, c.score) for c in _candidates(image)[:max_candidates]]


@dataclass(frozen=True, eq=False)
class FoundColorbar:
    """The colorbar ``colorbar="auto"`` settled on, with its evidence.

    Attributes
    ----------
    box : (x0, y0, x1, y1)
        The bar's coloured area (outline excluded), pixel corners.
    search_box : (x0, y0, x1, y1)
        The box sampled to find it (the bar with a margin): give it to
        :func:`sample_colorbar` or :func:`scale_from_colorbar` to read the same bar.
    score : float
        In 0-1, see :func:`find_colorbars`.
    profile : ColorbarProfile
    """

    box: Box
    search_box: Box
    score: float
    profile: ColorbarProfile


#: A runner-up within this score of the best, elsewhere in the figure, makes the choice
#: of colorbar unsure.
RIVAL_MARGIN = 0.1
#: Largest colour step (RGB distance) between neighbouring lines of a continuous bar; a
#: larger one is a line of another colour (an outline, a label) taken into the bar.
MAX_LINE_STEP = 4 * LINE_TOL
#: Least share of a bar's lines that must agree with themselves and their neighbours.
MIN_VALID_LINES = 0.8


def locate_colorbar(image: np.ndarray, *, min_score: float = MIN_AUTO_SCORE) -> FoundColorbar:
    """The figure's colorbar for ``colorbar="auto"``, or an error when not sure.

    Parameters
    ----------
    image : ndarray of shape (H, W, 3) and dtype uint8
    min_score : float
        Lowest score accepted.

    Returns
    -------
    FoundColorbar

    Raises
    ------
    ColorScaleError
        When no candidate scores `min_score`, two candidates elsewhere in the figure score
        alike, or the best bar's colours do not form one smooth path (a continuous bar
        with a jump between neighbouring lines, or many lines that disagree).
    """
    found = _candidates(image)
    give = "give its box as `colorbar` x0,y0,x1,y1"
    if not found or found[0].score < min_score:
        best = (
            ""
            if not found
            else f" (best candidate {_fmt(found[0].box)} scores {found[0].score:.2f} < {min_score})"
        )
        raise ColorScaleError(
            f"no colorbar found in the image{best}: {give} (run `geodigitize colorbar "
            "IMAGE` to list candidates)"
        )
    best = found[0]
    rivals = [c for c in found[1:] if c.score >= max(min_score, best.score - RIVAL_MARGIN)]
    if rivals:
        raise ColorScaleError(
            f"two colorbars look alike ({_fmt(best.box)} and {_fmt(rivals[0].box)}): {give}"
        )
    prof = best.profile
    if prof.valid.mean() < MIN_VALID_LINES:
        raise ColorScaleError(
            f"the colorbar at {_fmt(best.box)} has {100 * (1 - prof.valid.mean()):.0f} % of "
            f"its lines unlike their neighbours: {give}"
        )
    kept = prof.colors[prof.valid]
    ordered = _ordered_share(prof.block_colors if prof.is_discrete else kept)
    if ordered < MIN_ORDERED:
        raise ColorScaleError(
            f"the colours along the colorbar at {_fmt(best.box)} do not follow one path "
            f"(only {100 * ordered:.0f} % of its parts are nearest in colour to a part "
            f"beside them): {give}"
        )
    step = float(np.max(_dist(kept[1:], kept[:-1]))) if kept.shape[0] > 1 else 0.0
    if not prof.is_discrete and step > MAX_LINE_STEP:
        raise ColorScaleError(
            f"the colours along the colorbar at {_fmt(best.box)} jump by {step:.0f} between "
            f"neighbouring lines, not a smooth scale: {give}"
        )
    return best


#: Least share of a bar's parts whose nearest colour is a neighbouring part's.
MIN_ORDERED = 0.7


def _ordered_share(colors: np.ndarray, parts: int = 24) -> float:
    """Share of the bar's parts (`parts` stretches of its lines, or its blocks) whose
    nearest other part in colour is one beside it along the bar.

    A colour scale is a path through colour space, each stretch nearest to the ones next
    to it; colours in no such order (a legend of categories, a strip of a map, a bar
    sampled across the wrong axis) are not a scale to decode by.
    """
    if colors.shape[0] > parts:
        colors = np.array([np.median(c, axis=0) for c in np.array_split(colors, parts)])
    n = colors.shape[0]
    if n < 4:
        return 1.0
    d = _dist(colors[:, None], colors[None])
    np.fill_diagonal(d, np.inf)
    i = np.arange(n)
    beside = np.minimum(d[i, np.maximum(i - 1, 0)], d[i, np.minimum(i + 1, n - 1)])
    beside[[0, -1]] = d[[0, -1], [1, -2]]
    return float(np.mean(beside <= d.min(axis=1) + 1.0))


def _fmt(box: Box) -> str:
    return ",".join(f"{v:g}" for v in box)


def _candidates(image: np.ndarray) -> list[FoundColorbar]:
    """Every candidate bar, best first, overlapping ones dropped (see :func:`find_colorbars`)."""
    img = np.asarray(image)
    page = page_color(img).astype(np.float64)
    found = []
    masks = _solid_masks(img, page)
    for vertical in (True, False):
        for sl in _join_pieces(list(_candidate_slices(img, page, vertical, masks)), vertical):
            scored = _score_candidate(img, sl, vertical)
            if scored is not None:
                found.append(scored)
    # a colorbar stands on the page, beside the map; a strip of the map, however like a
    # bar between two graticule lines, has the map on both sides
    found = [
        c
        if _page_beside(img, c.box, page) >= 0.5
        else FoundColorbar(c.box, c.search_box, round(c.score * INSIDE_MAP, 4), c.profile)
        for c in found
    ]
    found.sort(key=lambda c: -c.score)
    kept: list[FoundColorbar] = []
    for c in found:
        if all(_overlap(c.box, k.box) < 0.5 for k in kept):
            kept.append(c)
    return kept


#: Largest gap (pixels, or twice the bar's width) along a bar between two pieces of it
#: that are joined: a bar whose middle is the page's colour (white in ``polar``,
#: ``RdBu``) falls apart there.
MAX_PIECE_GAP = 20


def _join_pieces(slices: list, vertical: bool) -> list:
    """Join candidates lying end to end along the same band into one candidate."""
    along, across = (0, 1) if vertical else (1, 0)
    slices = sorted(slices, key=lambda sl: sl[along].start)
    joined: list = []
    for sl in slices:
        for k, prev in enumerate(joined):
            a0, a1 = prev[across], sl[across]
            common = min(a0.stop, a1.stop) - max(a0.start, a1.start)
            narrow = min(a0.stop - a0.start, a1.stop - a1.start)
            gap = sl[along].start - prev[along].stop
            if common >= 0.8 * narrow and gap <= max(MAX_PIECE_GAP, 2 * narrow):
                span = slice(prev[along].start, max(prev[along].stop, sl[along].stop))
                band = slice(min(a0.start, a1.start), max(a0.stop, a1.stop))
                joined[k] = (span, band) if vertical else (band, span)
                break
        else:
            joined.append(sl)
    return joined


def _candidate_slices(img: np.ndarray, page: np.ndarray, vertical: bool, masks=None):
    """Slices of solid areas whose pixels equal their neighbours across the bar.

    `masks` is :func:`_solid_masks` of `img`, computed when not given (both orientations
    share it).
    """
    off_page, steady = _solid_masks(img, page) if masks is None else masks
    # Across a vertical bar is along a row (axis 1); work on (along, across) arrays.
    step = steady[1] if vertical else steady[0].T
    same = np.zeros((step.shape[0], step.shape[1] + 1), dtype=bool)
    same[:, 1:-1] = step[:, :-1] & step[:, 1:]
    same &= off_page if vertical else off_page.T
    # Bridge ticks, edges between blocks and text crossing the bar (a binary closing
    # along the bar and an opening across it, as 1-D filters).
    u = same.view(np.uint8)
    u = ndimage.maximum_filter1d(u, 7, axis=0, mode="constant", cval=0)
    u = ndimage.minimum_filter1d(u, 7, axis=0, mode="constant", cval=0)
    u = ndimage.minimum_filter1d(u, 3, axis=1, mode="constant", cval=0)
    u = ndimage.maximum_filter1d(u, 3, axis=1, mode="constant", cval=0)
    labels, _ = ndimage.label(u.view(bool))
    for sl in ndimage.find_objects(labels):
        if sl is None:
            continue
        length = sl[0].stop - sl[0].start
        width = sl[1].stop - sl[1].start
        if length >= 40 and width >= 4 and length >= 4 * width:
            yield sl if vertical else (sl[1], sl[0])


def _solid_masks(img: np.ndarray, page: np.ndarray):
    """Pixels off the page colour (more than 6 in a channel), and for each axis whether
    each pair of neighbours along it differs by at most :data:`SAME_ACROSS` in every
    channel: ``(off_page (H, W), (steady_rows (H-1, W), steady_cols (H, W-1)))``."""
    off_page = np.zeros(img.shape[:2], dtype=bool)
    rows = np.ones((img.shape[0] - 1, img.shape[1]), dtype=bool)
    cols = np.ones((img.shape[0], img.shape[1] - 1), dtype=bool)
    for k in range(3):
        plane = np.ascontiguousarray(img[..., k])
        level = np.uint8(np.clip(page[k], 0, 255))
        off_page |= (np.maximum(plane, level) - np.minimum(plane, level)) > 6
        a, b = plane[1:], plane[:-1]
        rows &= (np.maximum(a, b) - np.minimum(a, b)) <= SAME_ACROSS
        a, b = plane[:, 1:], plane[:, :-1]
        cols &= (np.maximum(a, b) - np.minimum(a, b)) <= SAME_ACROSS
    return off_page, (rows, cols)


def _score_candidate(img: np.ndarray, sl, vertical: bool):
    """Refine a candidate with :func:`sample_colorbar` and score it in 0-1."""
    rows, cols = sl
    height, width = img.shape[:2]
    # A margin lets sample_colorbar see the outline and trim it; ends whose colour is the
    # page's (gist_earth's white top) are not in the candidate, so reach further there.
    my, mx = (10, 5) if vertical else (5, 10)
    box = (
        float(max(cols.start - mx, 0)),
        float(max(rows.start - my, 0)),
        float(min(cols.stop + mx, width)),
        float(min(rows.stop + my, height)),
    )
    try:
        prof = sample_colorbar(img, box, orientation="vertical" if vertical else "horizontal")
    except ColorScaleError:
        return None
    x0, y0, x1, y1 = prof.box
    length, width = (y1 - y0, x1 - x0) if vertical else (x1 - x0, y1 - y0)
    if length < 40 or width < 3 or length < 4 * width:
        return None
    kept = prof.colors[prof.valid]
    if kept.shape[0] < 10:
        return None
    distinct = np.unique(np.round(kept).astype(np.int64), axis=0).shape[0]
    span = float(np.max(_dist(kept[:, None], kept[None, :: max(1, kept.shape[0] // 50)])))
    if distinct < 3 or span < 60:
        return None
    consistency = prof.valid.mean() * _edge_contrast(img, prof.box, vertical)
    richness = min(distinct / 12.0, 1.0)
    contrast = min(span / 200.0, 1.0)
    thinness = min(length / width / 8.0, 1.0)
    score = consistency * (0.5 + 0.5 * richness) * (0.5 + 0.5 * contrast) * thinness
    return FoundColorbar(prof.box, box, round(float(score), 4), prof)


def _edge_contrast(img: np.ndarray, box: Box, vertical: bool, gap: int = 2) -> float:
    """Share of lines whose colour differs from the pixels `gap` beyond both long sides.

    A colorbar stands out from the page or its outline on both sides all along; a smooth
    patch of the map continues into its surroundings.
    """
    x0, y0, x1, y1 = (round(v) for v in box)
    height, width = img.shape[:2]
    if vertical:
        if x0 - gap < 0 or x1 - 1 + gap >= width:
            return 1.0
        inside = img[y0:y1, (x0 + x1) // 2]
        outs = (img[y0:y1, x0 - gap], img[y0:y1, x1 - 1 + gap])
    else:
        if y0 - gap < 0 or y1 - 1 + gap >= height:
            return 1.0
        inside = img[(y0 + y1) // 2, x0:x1]
        outs = (img[y0 - gap, x0:x1], img[y1 - 1 + gap, x0:x1])
    inside, outs = inside.astype(np.float64), [o.astype(np.float64) for o in outs]
    differs = (_dist(inside, outs[0]) > LINE_TOL) & (_dist(inside, outs[1]) > LINE_TOL)
    return float(differs.mean()) if differs.size else 0.0


def _page_beside(img: np.ndarray, box: Box, page: np.ndarray, near: int = 3, far: int = 9) -> float:
    """Smallest share, over the two long sides of `box`, of page-coloured pixels in the
    band `near` to `far` pixels out (beyond the outline, among the ticks). A colorbar has
    the page on both sides (the pad to the map, its ticks and labels); a strip along the
    map's edge has the page on one side only."""
    x0, y0, x1, y1 = (round(v) for v in box)
    height, width = img.shape[:2]
    vertical = (y1 - y0) >= (x1 - x0)
    if vertical:
        bands = (
            img[y0:y1, max(x0 - far, 0) : max(x0 - near, 0)],
            img[y0:y1, min(x1 + near, width) : min(x1 + far, width)],
        )
    else:
        bands = (
            img[max(y0 - far, 0) : max(y0 - near, 0), x0:x1],
            img[min(y1 + near, height) : min(y1 + far, height), x0:x1],
        )
    shares = [
        float((_dist(band.reshape(-1, 3).astype(np.float64), page) <= LINE_TOL).mean())
        if band.size
        else 1.0
        for band in bands
    ]  # the image's edge counts as page
    if near < 3 * far // 2 and min(shares) < 0.5 and all(_achromatic(b) for b in bands):
        # a thick outline (GMT's, or an upscaled one) covers the first band
        return max(min(shares), _page_beside(img, box, page, far, 2 * far))
    return min(shares)


def _achromatic(band: np.ndarray) -> bool:
    """Most of the band's pixels are grey: black ink, the white page or blends of them
    (an outline beside the bar), not the colours of a map around a strip of it."""
    px = band.reshape(-1, 3).astype(np.int16)
    return px.size > 0 and float((np.ptp(px, axis=1) <= 40).mean()) >= 0.8


def _overlap(a: Box, b: Box) -> float:
    """Intersection over the smaller box's area."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    small = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return ix * iy / small if small > 0 else 0.0
