"""Find the map frame (``--region auto``): where the field is drawn, and nothing else.

Two ways, tried in order:

1. **Spines.** Axes draw their data area inside a rectangle of thin straight lines. Thin
   horizontal and vertical lines are pixels unlike the pixels a few rows (or columns) away
   on both sides, or thin runs of dark grey across them (a line beside a checkered band's
   black segment); long runs of them are candidate sides, and the largest rectangle
   closed by four of them, mostly holding colours of the scale, is the frame. The box
   returned is the area strictly inside the spines.
   Spines that are the outer edge of a band frame are moved in past a checkered band
   (:func:`_past_band`, GMT's ``-B+`` frame, resampled too) and past the band's black
   and white rows (:func:`_tighten`).
2. **Largest scale-coloured region.** Otherwise, or when the spines hold less than
   :data:`MIN_COVER` of it and it is closed all round by ink (GMT's checkered frame,
   :func:`_framed`), the bounding box of the largest connected area of pixels on the
   colour scale that are not the page's colour.

An image above :data:`FRAME_PIXELS` is searched in a view keeping each k x k block's
darkest pixel (:func:`frame_step`, :func:`darkest_in_blocks`): the view a streamed first
pass keeps, so an image in memory and the same image streamed find the same frame, to k
pixels (lines thicker than the line test sees, at 100 MP, are thin there).

:func:`find_frame` refuses (:class:`~geodigitize.errors.RegionError` naming `region`)
rather than return a frame it is not sure of: one holding less than :data:`MIN_COVER` of
the largest scale-coloured area, spines with the map going on past a side, a second
rectangle of spines apart from the first with :data:`RIVAL` of its area (two maps), or a
scale-coloured area that does not fill its box to each side (labels merged with it) or
has a rival of like size outside its box (graticule cells).

Notes
-----
Boxes are ``(x0, y0, x1, y1)`` pixel corners (GDAL convention, ``docs/conventions.md``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from .colors import pack_rgb, unpack_rgb
from .errors import RegionError
from .image import LUMA

__all__ = [
    "FRAME_PIXELS",
    "darkest_in_blocks",
    "find_frame",
    "find_spine_frame",
    "frame_step",
    "largest_region_frame",
    "page_color",
    "page_pixels",
]

log = logging.getLogger(__name__)

Box = tuple[float, float, float, float]

#: Colour step (largest channel difference, 0-255) that makes a pixel part of a line.
LINE_CONTRAST = 40
#: How far (pixels) on each side of a line its surroundings are sampled.
LINE_REACH = 3
#: A second frame, apart from the largest, at least this share of its area: two maps (or
#: a map and a frame of like size) are there, and which one is meant is not guessed.
RIVAL = 0.5
#: How far (pixels) the ends of two sides may miss each other and still meet.
CORNER_SLACK = 4
#: Luma step (0-255) from the row inside it that keeps a spine's innermost row in the
#: spine: JPEG's ringing moves the field's first row by a few units, the spine's
#: antialiased edge by tens.
EDGE_LUMA = 20


@dataclass(frozen=True)
class _Segment:
    """A straight line: ``[a0, a1]`` across it (rows of a horizontal line) and ``[b0, b1)``
    along it."""

    a0: int
    a1: int
    b0: int
    b1: int


def _planes(image: np.ndarray) -> np.ndarray:
    """The colour channels of `image`, shape (H, W, C), as C contiguous int16 planes, shape
    (C, H, W): the line tests below work a plane at a time, element by element, where a
    ``max(axis=2)`` over the 3 channels of each pixel is a slow reduction in numpy."""
    return np.ascontiguousarray(np.moveaxis(np.asarray(image), -1, 0), dtype=np.int16)


def _line_pixels(planes: np.ndarray, reach: int, contrast: int) -> np.ndarray:
    """Pixels unlike the pixels `reach` rows above and below them (horizontal lines):
    in some channel more than `contrast` from the pixel above, and in some channel more
    than `contrast` from the pixel below.

    `planes` is the image's channels, shape (C, H, W) int16 (:func:`_planes`).
    """
    h, w = planes.shape[1:]
    out = np.zeros((h, w), dtype=bool)
    if h <= 2 * reach:
        return out
    n = h - 2 * reach
    up, down = np.zeros((n, w), dtype=bool), np.zeros((n, w), dtype=bool)
    diff, far = np.empty((n, w), dtype=np.int16), np.empty((n, w), dtype=bool)
    for plane in planes:
        mid = plane[reach : h - reach]
        for other, into in ((plane[:n], up), (plane[2 * reach :], down)):
            np.subtract(mid, other, out=diff)
            np.abs(diff, out=diff)
            np.greater(diff, contrast, out=far)
            into |= far
    out[reach : h - reach] = up & down
    return out


#: Thickest run (pixels) of dark grey across a line that still counts as a line: a
#: checkered frame's black segment with the thin lines on both sides of it.
DARK_RUN = 16


def _dark_runs(dark: np.ndarray, longest: int = DARK_RUN) -> np.ndarray:
    """Dark grey pixels (`dark`, shape (H, W) bool: :data:`DARK` luma and grey) with a
    pixel that is not dark within `longest` rows above and below them (horizontal lines).

    A thin line next to a black segment of a checkered band does not differ from the
    segment 3 rows away (:func:`_line_pixels`): along the band it is a dash. Its dark
    run across (line, segment, line) is still thin, and keeps the line whole.
    """
    h = dark.shape[0]
    lit = _sums_above(~dark, np.int32)  # lit[r]: pixels not dark in rows < r
    out = dark.copy()
    # above: rows max(r - longest, 0) .. r - 1 hold a lit pixel (slices, not gathers)
    a = min(longest, h)
    out[:a] &= lit[:a] > lit[0]
    out[a:] &= lit[a:h] > lit[: h - a]
    # below: rows r + 1 .. min(r + longest, h - 1)
    b = max(h - longest, 0)
    out[:b] &= lit[longest + 1 : longest + 1 + b] > lit[1 : b + 1]
    out[b:] &= lit[h] > lit[b + 1 : h + 1]
    return out


def _closed_runs(lines: np.ndarray, gap: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Runs (row, first col, end col) of `lines` along rows after a 1 x `gap` binary
    closing, without the closing's image-sized passes: gaps shorter than `gap` between
    two runs of a row are filled, and runs lose what the closing's erosion takes at the
    image's left and right borders (``gap // 2`` and ``gap - 1 - gap // 2`` columns), as
    :func:`scipy.ndimage.binary_closing` does."""
    padded = np.zeros((lines.shape[0], lines.shape[1] + 2), dtype=np.int8)
    padded[:, 1:-1] = lines
    d = np.diff(padded, axis=1)
    rows, starts = np.nonzero(d == 1)
    _, ends = np.nonzero(d == -1)
    if not rows.size:
        return rows, starts, ends
    join = (rows[1:] == rows[:-1]) & (starts[1:] - ends[:-1] < gap)
    first = np.concatenate([[True], ~join])
    rows, starts = rows[first], starts[first]
    ends = np.maximum.reduceat(ends, np.flatnonzero(first))
    starts = np.maximum(starts, gap // 2)
    ends = np.minimum(ends, lines.shape[1] - (gap - 1 - gap // 2))
    keep = ends > starts
    return rows[keep], starts[keep], ends[keep]


def _segments(lines: np.ndarray, min_len: int) -> list[_Segment]:
    """Runs of line pixels along rows at least `min_len` long, rows merged into thick lines.

    Gaps shorter than a twentieth of the length (tick marks meeting a spine, dashes, data
    as dark as the spine next to it) are bridged. Runs in touching rows that overlap by 80 %
    of the shorter are one thick line; a line of one row also takes a run of the next row
    that overlaps it at all: a line resampled between two rows (0.7x) lies in one row
    over part of its length and in the next row over the rest. (Any overlap at any
    thickness would chain the edges of a smooth field, row after row, into one line.)
    """
    rows_s, cols_s, cols_e = _closed_runs(lines, max(5, lines.shape[1] // 20))
    long = (cols_e - cols_s) >= min_len
    runs = sorted(zip(rows_s[long], cols_s[long], cols_e[long], strict=True))
    done: list[list[int]] = []
    active: list[list[int]] = []  # lines whose last row is the previous or current row
    for r, c0, c1 in runs:
        done += [m for m in active if m[1] < r - 1]
        active = [m for m in active if m[1] >= r - 1]
        for m in active:
            overlap = min(m[3], c1) - max(m[2], c0)
            if overlap > 0.8 * min(m[3] - m[2], c1 - c0) or (overlap > 0 and m[1] - m[0] <= 1):
                m[1] = r
                m[2], m[3] = min(m[2], c0), max(m[3], c1)
                break
        else:
            active.append([r, r, c0, c1])
    return [_Segment(*map(int, m)) for m in sorted(done + active)]


def find_spine_frame(
    image: np.ndarray,
    on_scale: np.ndarray | None = None,
    *,
    min_fraction: float = 0.2,
    step: int = 1,
) -> Box | None:
    """The box inside the largest rectangle of straight lines, or None.

    Raises :class:`~geodigitize.errors.RegionError` when a second rectangle apart from it
    holds at least :data:`RIVAL` of its area: two maps side by side.

    Parameters
    ----------
    image : ndarray of shape (H, W, 3) and dtype uint8
    on_scale : ndarray of shape (H, W) and dtype bool, optional
        Pixels on the colour scale; a rectangle must hold at least 30 % of them.
    min_fraction : float
        Shortest side, as a fraction of the image's width (height).
    step : int
        `image` is a view keeping one pixel in `step` x `step`: boxes in a refusal are
        given in the full image's pixels.
    """
    planes = _planes(image)
    return _spine_frame(
        image,
        planes,
        _luma_grey(planes),
        page_pixels(image),
        on_scale,
        min_fraction=min_fraction,
        step=step,
    )


def _spine_frame(
    image: np.ndarray,
    planes: np.ndarray,
    luma_grey: tuple[np.ndarray, np.ndarray],
    page: np.ndarray,
    on_scale: np.ndarray | None,
    *,
    min_fraction: float = 0.2,
    step: int = 1,
) -> Box | None:
    """:func:`find_spine_frame` given the image's :func:`_planes`, :func:`_luma_grey`
    and :func:`page_pixels` (which :func:`_find_frame` uses again)."""
    img = np.asarray(image, dtype=np.int16)
    img_t = img.transpose(1, 0, 2)
    height, width = img.shape[:2]
    luma, grey = luma_grey
    dark = (luma < DARK) & grey
    horiz = _segments(
        _line_pixels(planes, LINE_REACH, LINE_CONTRAST) | _dark_runs(dark),
        max(20, int(min_fraction * width)),
    )
    # Vertical lines are horizontal lines of the transposed image: a = cols, b = rows
    # (transposed copies: the tests run down contiguous rows).
    planes_t = np.ascontiguousarray(planes.transpose(0, 2, 1))
    vert = _segments(
        _line_pixels(planes_t, LINE_REACH, LINE_CONTRAST)
        | _dark_runs(np.ascontiguousarray(dark.T)),
        max(20, int(min_fraction * height)),
    )
    # Inner edges of lines as a top, bottom, left or right side: computed once, when a
    # rectangle first needs them, not once per rectangle that line closes.
    edges: dict[tuple[_Segment, int, bool], int] = {}

    def edge(seg: _Segment, inward: int, across: bool) -> int:
        key = (seg, inward, across)
        if key not in edges:
            edges[key] = _inner_edge(img_t if across else img, seg, inward)
        return edges[key]

    # Sums over any box in constant time: the share on the scale, and the page's share
    # of each row (column) of the box.
    on_sum = None if on_scale is None else _integral(on_scale)
    page_rows = np.zeros((height, width + 1), np.int32)
    np.cumsum(page, axis=1, out=page_rows[:, 1:])
    page_cols = _sums_above(page, np.int32)

    def search(floor: float, apart_from=None):
        """The largest rectangle beating `floor` (and not overlapping `apart_from`)."""
        best, best_area = None, floor
        for i, top in enumerate(horiz):
            for bottom in horiz[i + 1 :]:
                if bottom.a0 - top.a1 < 10:
                    continue
                tall = bottom.a1 - top.a0  # the inner edges lie within the lines
                wide = min(top.b1, bottom.b1) - max(top.b0, bottom.b0) + 2 * CORNER_SLACK
                if wide * tall <= best_area:
                    continue
                for left, right in _side_pairs(vert, top, bottom):
                    if (right.a1 - left.a0) * tall <= best_area:
                        continue  # cannot beat the best: skip before the (slow) lookups
                    x0, y0 = edge(left, +1, True), edge(top, +1, False)
                    x1, y1 = edge(right, -1, True), edge(bottom, -1, False)
                    box = (x0, y0, x1, y1)
                    area = (x1 - x0) * (y1 - y0)
                    if x1 <= x0 or area <= best_area or _overlap(box, apart_from):
                        continue
                    if on_sum is not None and _box_sum(on_sum, box) < 0.3 * area:
                        continue
                    across = (page_rows[y0:y1, x1] - page_rows[y0:y1, x0]).max() / (x1 - x0)
                    down = (page_cols[y1, x0:x1] - page_cols[y0, x0:x1]).max() / (y1 - y0)
                    if max(across, down) > 0.5:
                        continue  # two frames side by side or stacked (a map and its colorbar)
                    best, best_area = box, area
        return best, best_area

    best, best_area = search(0)
    if best is None:
        return None
    rival, _ = search(RIVAL * best_area, best)
    if rival is not None:
        raise RegionError(
            f"found two map frames of like size ({_fmt(best, step)} and {_fmt(rival, step)}, from "
            "spines): give the frame as `region` x0,y0,x1,y1"
        )
    return tuple(float(v) for v in best)


def _overlap(box, other) -> bool:
    """Whether two boxes (x0, y0, x1, y1) share pixels (False when `other` is None)."""
    if other is None:
        return False
    return min(box[2], other[2]) > max(box[0], other[0]) and min(box[3], other[3]) > max(
        box[1], other[1]
    )


def _integral(mask: np.ndarray) -> np.ndarray:
    """Summed-area table of `mask`, shape (H + 1, W + 1)."""
    out = np.zeros((mask.shape[0] + 1, mask.shape[1] + 1), np.int64)
    np.cumsum(_sums_above(mask, np.int64)[1:], axis=1, out=out[1:, 1:])
    return out


def _sums_above(a: np.ndarray, dtype) -> np.ndarray:
    """Column sums of the rows of `a` above each row, shape (H + 1, W): row r holds
    ``a[:r].sum(axis=0)`` in `dtype`.

    ``np.cumsum(a, axis=0)`` with a zero row first, as one addition of whole rows per
    row: numpy's cumsum down the rows of a C-ordered array runs a strided loop along
    each column, about 15 times slower on a frame view.
    """
    out = np.zeros((a.shape[0] + 1, *a.shape[1:]), dtype=dtype)
    for r in range(a.shape[0]):
        np.add(out[r], a[r], out=out[r + 1])
    return out


def _box_sum(table: np.ndarray, box) -> int:
    """Sum of the mask over `box` (x0, y0, x1, y1) from its :func:`_integral` table."""
    x0, y0, x1, y1 = box
    return int(table[y1, x1] - table[y0, x1] - table[y1, x0] + table[y0, x0])


def _inner_edge(img: np.ndarray, seg: _Segment, inward: int) -> int:
    """First row inside the horizontal line `seg` (rows ``a0..a1``) going `inward` (+1:
    down, -1: up), as a pixel-corner coordinate.

    A line more than one row thick loses its innermost rows while their brightness (luma)
    differs from the row inside them by less than :data:`EDGE_LUMA` (median along the
    line): JPEG ringing darkens the field row next to a spine enough to pass the line
    test, and field boundaries near a spine merge with it; those rows are data. Luma, not
    colour, because JPEG keeps a row's luma but shares its colour (chroma) with the spine
    next to it: that row is washed out, by more than :data:`LINE_CONTRAST` in saturated
    colours, and still data.
    """
    inner_row, outer_row = (seg.a1, seg.a0) if inward > 0 else (seg.a0, seg.a1)
    along = slice(seg.b0, seg.b1)
    while inner_row != outer_row and 0 <= inner_row + inward < img.shape[0]:
        step = np.abs((img[inner_row, along] - img[inner_row + inward, along]) @ LUMA)
        if np.median(step) >= EDGE_LUMA:
            break
        inner_row -= inward
    return inner_row + 1 if inward > 0 else inner_row


def _side_pairs(
    vert: list[_Segment], top: _Segment, bottom: _Segment
) -> list[tuple[_Segment, _Segment]]:
    """Pairs (left, right) of vertical segments running from `top` to `bottom` within
    their extent.

    Not only at the ends of `top` and `bottom`: a colorbar as tall as the map continues
    the map's top and bottom spines past the gap between them, which gap bridging joins.
    """
    s = CORNER_SLACK
    lo, hi = max(top.b0, bottom.b0) - s, min(top.b1, bottom.b1) + s
    sides = sorted(
        (
            v
            for v in vert
            if lo <= v.a0 and v.a1 <= hi and v.b0 <= top.a1 + s and v.b1 >= bottom.a0 - s
        ),
        key=lambda v: v.a0,
    )
    return [(a, b) for i, a in enumerate(sides) for b in sides[i + 1 :] if b.a0 - a.a1 >= 10]


def largest_region_frame(on_scale: np.ndarray, page: np.ndarray | None = None) -> Box | None:
    """Bounding box of the largest connected area of scale-coloured, non-page pixels."""
    cand = on_scale if page is None else on_scale & ~page
    if not cand.any():
        return None
    cand = ndimage.binary_closing(cand, structure=np.ones((5, 5), bool))
    labels, n = ndimage.label(cand)
    if n == 0:
        return None
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    sl = ndimage.find_objects(labels)[int(np.argmax(sizes)) - 1]
    return (float(sl[1].start), float(sl[0].start), float(sl[1].stop), float(sl[0].stop))


def page_color(image: np.ndarray) -> np.ndarray:
    """The page's colour: the most common colour of the image's border, (3,) uint8."""
    img = np.asarray(image)
    border = pack_rgb(np.concatenate([img[0], img[-1], img[:, 0], img[:, -1]]))
    colors, counts = np.unique(border, return_counts=True)
    return unpack_rgb(colors[np.argmax(counts)])


def page_pixels(image: np.ndarray, tol: int = 6) -> np.ndarray:
    """Pixels of the page's colour (:func:`page_color`), within `tol` in every channel."""
    img = np.asarray(image)
    colour = page_color(img).astype(np.int16)
    # channel by channel: within `tol` in all of them (a max over each pixel's channels
    # is a slow reduction)
    out = np.ones(img.shape[:2], dtype=bool)
    for c in range(img.shape[2]):
        out &= np.abs(img[..., c].astype(np.int16) - colour[c]) <= tol
    return out


def find_frame(image: np.ndarray, scale=None, decoded=None, *, max_distance: float = 30.0) -> Box:
    """Find the map frame for ``--region auto``.

    Parameters
    ----------
    image : ndarray of shape (H, W, 3) and dtype uint8
    scale : ColorScale, optional
        The colour scale (unused when `decoded` is given; kept for the pipeline's call).
    decoded : Decoded, optional
        Decoded image; its distances tell which pixels are on the scale. Without it the
        spines alone decide.
    max_distance : float
        Distance (in `decoded`'s colour space) within which a pixel is on the scale.

    Returns
    -------
    (x0, y0, x1, y1)
        The frame's inside, pixel corners.

    Raises
    ------
    RegionError
        If neither spines nor a scale-coloured region are found.
    """
    img = np.asarray(image)
    on_scale = None
    if decoded is not None:
        on_scale = np.asarray(decoded.distance) <= max_distance
    k = frame_step(img.shape[:2])
    if k == 1:
        return _find_frame(img, on_scale, 1)
    view, flags = _reduced(img, on_scale, k)
    x0, y0, x1, y1 = (v * k for v in _find_frame(view, flags, k))
    return (x0, y0, min(x1, float(img.shape[1])), min(y1, float(img.shape[0])))


def _find_frame(img: np.ndarray, on_scale: np.ndarray | None, k: int) -> Box:
    """:func:`find_frame` on `img`, a view of the image keeping one pixel in k x k (its
    refusals give boxes in the image's pixels)."""
    # the channels, luma and page pixels, computed once for the tests below
    planes = _planes(img)
    luma_grey = _luma_grey(planes)
    page = page_pixels(img)
    box = _spine_frame(img, planes, luma_grey, page, on_scale, step=k)
    how = "spines"
    area = None
    if on_scale is not None:
        area, rival = _largest_area(on_scale, page)
        if box is not None:
            not_ink = _not_ink(luma_grey, page)
            box = _tighten(_past_band(box, luma_grey, on_scale, page), on_scale, not_ink)
        region = None if area is None else _bbox(area)
        if (
            region is not None
            and (box is None or _share_inside(area, box) < MIN_COVER)
            and _framed(region, on_scale | page)
        ):
            box, how = region, "the scale-coloured area inside a band frame"
        elif box is None and region is not None:
            box, how = region, "largest scale-coloured region"
        if how != "spines" and box is not None:
            _check_region(area, rival, k)
    if box is None:
        raise RegionError("found no map frame: give the frame as `region` x0,y0,x1,y1")
    if on_scale is not None and how == "spines":
        open_side = _open_side(box, not_ink)
        if open_side:
            raise RegionError(
                f"the map frame found ({_fmt(box, k)}, from spines) has the map going on "
                f"past its {open_side} side: give the frame as `region` x0,y0,x1,y1"
            )
    if area is not None and _share_inside(area, box) < MIN_COVER:
        raise RegionError(
            f"the map frame found ({_fmt(box, k)}, from {how}) holds "
            f"{100 * _share_inside(area, box):.0f} % of the largest scale-coloured area "
            f"({_fmt(_bbox(area), k)}): give the frame as `region` x0,y0,x1,y1"
        )
    log.info("map frame %s found from %s", box, how)
    return box


#: Share of its box's outermost lines (any of the first :data:`EDGE_LINES` on each side)
#: the scale-coloured area taken as the frame must fill: a field fills its box to the
#: edge, tick labels merged with it (dark labels in a dark colormap) do not.
EDGE_FILL, EDGE_LINES = 0.5, 3


def _check_region(area: np.ndarray, rival: np.ndarray | None, k: int) -> None:
    """Refuse a scale-coloured area as the frame when it does not fill its box to each
    side, or when a second area at least :data:`RIVAL` of its size lies mostly outside
    its box (the field cut in two by lines: graticule cells, or two maps)."""
    box = _bbox(area)
    x0, y0, x1, y1 = (int(v) for v in box)
    inside = area[y0:y1, x0:x1]
    n = EDGE_LINES
    fills = {
        "top": inside[:n].mean(axis=1).max(),
        "bottom": inside[-n:].mean(axis=1).max(),
        "left": inside[:, :n].mean(axis=0).max(),
        "right": inside[:, -n:].mean(axis=0).max(),
    }
    side, fill = min(fills.items(), key=lambda item: item[1])
    if fill < EDGE_FILL:
        raise RegionError(
            f"the largest scale-coloured area ({_fmt(box, k)}) fills {100 * fill:.0f} % of "
            f"its box's {side} side, not a map frame: give the frame as `region` x0,y0,x1,y1"
        )
    if rival is not None and _share_inside(rival, box) < 0.5:
        raise RegionError(
            f"two scale-coloured areas of like size ({_fmt(box, k)} and "
            f"{_fmt(_bbox(rival), k)}), no frame around both: give the frame as `region` "
            "x0,y0,x1,y1"
        )


#: Pixels of the view of the image the frame is searched in: above it, each k x k block
#: of pixels is first reduced to its darkest pixel (:func:`frame_step`,
#: :func:`darkest_in_blocks`), in memory as in a streamed first pass.
FRAME_PIXELS = 4_000_000


def frame_step(shape: tuple[int, int]) -> int:
    """k: the frame is searched in a view keeping one pixel of each k x k block.

    The smallest k whose view (``ceil(h / k) x ceil(w / k)`` blocks, the last ones
    partial) holds at most :data:`FRAME_PIXELS` pixels: a streamed image's view, built in
    its first pass with this k, is then searched as it is, as the same image in memory is
    (with ``k = ceil(sqrt(h w / FRAME_PIXELS))`` alone, partial blocks could leave the view
    a little over, and the streamed view was reduced a second time: a 100 MP figure was
    searched at 10x reduction streamed, 5x in memory).
    """
    height, width = shape
    k = max(1, int(np.ceil(np.sqrt(height * width / FRAME_PIXELS))))
    while -(-height // k) * -(-width // k) > FRAME_PIXELS:
        k += 1
    return k


def darkest_in_blocks(rgb: np.ndarray, k: int) -> np.ndarray:
    """Which pixel of each k x k block is the darkest (lowest luma, the first of equals).

    Parameters
    ----------
    rgb : ndarray of shape (h * k, w * k, 3) and dtype uint8
    k : int

    Returns
    -------
    ndarray of shape (h, w) and dtype intp
        The darkest pixel's place in its block, ``row_in_block * k + col_in_block``.
    """
    h, w = rgb.shape[0] // k, rgb.shape[1] // k
    rgb = rgb.astype(np.uint32)  # 299 * 255 + ... overflows 16 bits
    luma = 299 * rgb[..., 0] + 587 * rgb[..., 1] + 114 * rgb[..., 2]
    return luma.reshape(h, k, w, k).transpose(0, 2, 1, 3).reshape(h, w, k * k).argmin(axis=2)


def _reduced(image: np.ndarray, on_scale: np.ndarray | None, k: int):
    """The view :func:`find_frame` searches a large image in: each k x k block (the last
    ones padded with their edge) reduced to its darkest pixel, and that pixel's
    on-scale flag."""
    height, width = image.shape[:2]
    pad = ((0, -height % k), (0, -width % k))
    rgb = np.pad(image, (*pad, (0, 0)), mode="edge")
    darkest = darkest_in_blocks(rgb, k)[..., None]
    h, w = darkest.shape[:2]

    def take(a: np.ndarray) -> np.ndarray:
        blocks = a.reshape(h, k, w, k, *a.shape[2:]).swapaxes(1, 2)
        blocks = blocks.reshape(h, w, k * k, *a.shape[2:])
        index = darkest if a.ndim == 2 else darkest[..., None]
        return np.take_along_axis(blocks, index, axis=2)[:, :, 0]

    view = take(rgb)
    flags = None if on_scale is None else take(np.pad(on_scale, pad, mode="edge"))
    return view, flags


#: Luma (0-255) below which a pixel counts as the ink of a frame (black, dark grey).
DARK = 80
#: Luma (0-255) above which a grey pixel counts as paper (resampling rings the page).
LIGHT = 200


def _luma_grey(planes: np.ndarray, spread: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """Each pixel's luma (0-255, float) and whether it is grey (channels within
    `spread`), from the image's channels, shape (3, H, W) int16 (:func:`_planes`)."""
    r, g, b = planes
    hi = np.maximum(np.maximum(r, g), b)
    lo = np.minimum(np.minimum(r, g), b)
    luma = r * LUMA[0] + g * LUMA[1] + b * LUMA[2]
    return luma, (hi - lo) <= spread


def _not_ink(luma_grey: tuple[np.ndarray, np.ndarray], page: np.ndarray) -> np.ndarray:
    """Pixels that are neither the page, nor dark ink, nor light grey paper (mid greys
    count: grey land is not a frame), from the image's :func:`_luma_grey`."""
    luma, grey = luma_grey
    return ~page & (luma > DARK) & ~(grey & (luma > LIGHT))


def _tighten(box: Box, on_scale: np.ndarray, not_ink: np.ndarray, reach: int = 12) -> Box:
    """Move each side of `box` inwards, at most `reach` pixels, past lines that are mostly
    frame: off the scale and nearly all page-coloured or dark.

    A rectangle of spines can be the outer edge of a band frame (GMT's checkered frame,
    thin lines on both sides of it): the band's black and white segments are then
    inside, and are not data. A line of data along a side (on the scale), or of land,
    coastline blends or antialiased spine (neither page nor dark), stops the move.
    """
    x0, y0, x1, y1 = (int(v) for v in box)

    moved = True
    for _ in range(reach):
        if not moved:
            break
        moved = False
        for side in range(4):
            rows = (slice(y0, y0 + 1), slice(y1 - 1, y1), slice(y0, y1), slice(y0, y1))[side]
            cols = (slice(x0, x1), slice(x0, x1), slice(x0, x0 + 1), slice(x1 - 1, x1))[side]
            on, clear = on_scale[rows, cols], not_ink[rows, cols]
            if on.size == 0 or on.mean() >= 0.5 or (clear & ~on).mean() > 0.2:
                continue
            if min(x1 - x0, y1 - y0) <= 2 * reach:
                continue
            moved = True
            if side == 0:
                y0 += 1
            elif side == 1:
                y1 -= 1
            elif side == 2:
                x0 += 1
            else:
                x1 -= 1
    return (float(x0), float(y0), float(x1), float(y1))


#: Most lines (pixels) a checkered band's first line may lie inside the spines found.
BAND_START = 4
#: Most lines (pixels) between a checkered band and the field: its inner line, blurred.
BAND_INNER = 4
#: Share of a line's pixels that must be dark or light for it to be part of a
#: checkered band, and the least share of each.
BAND_SHARE, BAND_EACH = 0.9, 0.15


def _past_band(
    box: Box, luma_grey: tuple[np.ndarray, np.ndarray], on_scale: np.ndarray, page: np.ndarray
) -> Box:
    """Move each side of `box` inwards past a checkered band (GMT's ``-B+`` "fancy"
    frame) that lies just inside it, to the field.

    A band line is made of dark and light pixels only, both in long stretches (at least
    :data:`BAND_EACH` of each, :data:`BAND_SHARE` together): the band's black and white
    segments. The spines found can be the band's outer line (its inner line, beside a
    black segment, has no contrast across it): when a band line lies within
    :data:`BAND_START` lines inside a side, that side moves past the band and its inner
    line, to the first line mostly of field pixels (on the scale and not the page's
    colour), at most :data:`BAND_INNER` lines past the band. Resampling blurs the band's
    lines into greys that :func:`_tighten` stops at, which is why this runs first.
    """
    luma, grey = luma_grey  # the image's (:func:`_luma_grey`)
    dark, light = luma < DARK, page | (grey & (luma > LIGHT))
    field = on_scale & ~page
    x0, y0, x1, y1 = (int(v) for v in box)
    reach = BAND_START + 12 + BAND_INNER
    sides = []
    for side in range(4):
        if side < 2:  # top, bottom: rows inward
            idx = (
                [y0 + i for i in range(reach)] if side == 0 else [y1 - 1 - i for i in range(reach)]
            )
            lines = [(slice(r, r + 1), slice(x0, x1)) for r in idx if y0 <= r < y1]
        else:
            idx = (
                [x0 + i for i in range(reach)] if side == 2 else [x1 - 1 - i for i in range(reach)]
            )
            lines = [(slice(y0, y1), slice(c, c + 1)) for c in idx if x0 <= c < x1]
        sides.append(_band_depth([(dark[s], light[s], field[s]) for s in lines]))
    top, bottom, left, right = sides
    if y1 - y0 - top - bottom < 10 or x1 - x0 - left - right < 10:
        return box
    return (float(x0 + left), float(y0 + top), float(x1 - right), float(y1 - bottom))


def _band_depth(lines: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> int:
    """How many of `lines` (outermost first: dark, light and field pixels) a checkered
    band and its inner line take, 0 when the first :data:`BAND_START` hold no band."""
    band = [
        (d | li).mean() >= BAND_SHARE and min(d.mean(), li.mean()) >= BAND_EACH
        for d, li, _ in lines
    ]
    first = next((i for i, b in enumerate(band[: BAND_START + 1]) if b), None)
    if first is None:
        return 0
    last = first
    while last + 1 < len(band) and band[last + 1]:
        last += 1
    for i in range(last + 1, min(last + 1 + BAND_INNER, len(lines))):
        if lines[i][2].mean() >= 0.5:
            return i
    return min(last + 1 + BAND_INNER, len(lines))


def _open_side(box: Box, not_ink: np.ndarray, near: int = 2, far: int = 5) -> str | None:
    """The first side of `box` beyond which, `near` to `far` pixels out, most pixels are
    neither page nor ink: a frame closes the map, a grid line inside it does not."""
    height, width = not_ink.shape
    x0, y0, x1, y1 = (int(v) for v in box)
    strips = {
        "top": not_ink[max(y0 - far, 0) : max(y0 - near, 0), x0:x1],
        "bottom": not_ink[min(y1 + near, height) : min(y1 + far, height), x0:x1],
        "left": not_ink[y0:y1, max(x0 - far, 0) : max(x0 - near, 0)],
        "right": not_ink[y0:y1, min(x1 + near, width) : min(x1 + far, width)],
    }
    for side, strip in strips.items():
        if strip.size and strip.mean() >= 0.5:
            return side
    return None


def _largest_area(
    on_scale: np.ndarray, page: np.ndarray
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The largest connected area of scale-coloured, non-page pixels (closed 5 x 5), and
    the second largest when it has at least :data:`RIVAL` of its pixels."""
    cand = _closing_5x5(on_scale & ~page)
    labels, n = ndimage.label(cand)
    if n == 0:
        return None, None
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    order = np.argsort(sizes)[::-1]
    rival = None
    if n > 1 and sizes[order[1]] >= RIVAL * sizes[order[0]]:
        rival = labels == int(order[1])
    return labels == int(order[0]), rival


def _closing_5x5(mask: np.ndarray) -> np.ndarray:
    """``ndimage.binary_closing(mask, structure=np.ones((5, 5), bool))``, as closings
    along rows and columns: a 5 x 5 square is a 1 x 5 line swept along a 5 x 1 one, so
    the dilation by it is one by each, and so is the erosion (outside the image counts
    as unset in both, as in the closing). A third fewer operations than the square."""
    row, col = np.ones((1, 5), bool), np.ones((5, 1), bool)
    grown = ndimage.binary_dilation(ndimage.binary_dilation(mask, row), col)
    return ndimage.binary_erosion(ndimage.binary_erosion(grown, row), col)


def _bbox(mask: np.ndarray) -> Box:
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return (float(cols[0]), float(rows[0]), float(cols[-1] + 1), float(rows[-1] + 1))


def _share_inside(area: np.ndarray, box: Box) -> float:
    """Share of `area`'s pixels whose centre is inside `box`."""
    x0, y0, x1, y1 = (round(v) for v in box)
    inside = area[max(y0, 0) : max(y1, 0), max(x0, 0) : max(x1, 0)].sum()
    return float(inside / max(area.sum(), 1))


#: How far (pixels) outside the scale-coloured area a band frame's ink is looked for.
BAND = 12
#: Least share of the largest scale-coloured area's box a frame must cover: a frame much
#: smaller than the field (a block in a corner of a checkered GMT frame) is not the map's.
MIN_COVER = 0.9


def _framed(box: Box, not_ink: np.ndarray, reach: int = BAND) -> bool:
    """Whether each side of `box` has, within `reach` pixels outside it, a line of ink
    (pixels neither on the scale nor the page's) along at least 90 % of its length.

    The frames thin-spine detection cannot follow (GMT's checkered band of black and
    white segments between two thin lines) still close the field with such a line: the
    inner thin line where the band is white, the band itself where it is black.
    """
    height, width = not_ink.shape
    x0, y0, x1, y1 = (round(v) for v in box)
    sides = (
        [not_ink[r, x0:x1] for r in range(max(y0 - reach, 0), y0)],
        [not_ink[r, x0:x1] for r in range(y1, min(y1 + reach, height))],
        [not_ink[y0:y1, c] for c in range(max(x0 - reach, 0), x0)],
        [not_ink[y0:y1, c] for c in range(x1, min(x1 + reach, width))],
    )
    return all(any(line.size and (~line).mean() >= 0.9 for line in side) for side in sides)


def _fmt(box: Box, k: int = 1) -> str:
    """`box` as ``x0,y0,x1,y1``, in the image's pixels when it is in a view keeping one
    pixel in k x k."""
    return ",".join(f"{v * k:g}" for v in box)
