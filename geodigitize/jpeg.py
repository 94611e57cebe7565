"""Decode the pixels that JPEG pushed off the colour scale next to lines and text.

JPEG keeps brightness (luma) nearly intact but stores colour (chroma) at half resolution
and quantises both: a data pixel next to a black coastline or a grey graticule line
shares its chroma with the line and loses saturation, and ringing moves it further. On
the q85 benchmark figure such pixels are 16-34 RGB units off the scale while their luma
is within 1-3.5 units of the truth. The masking stages reject them with the line.

:func:`restore_pixels` gives them a second chance, one pixel at a time, under a model of
that damage:

1. **Prediction.** A least-squares plane through the clean neighbours' positions along
   the scale predicts the pixel's position. Where too few clean pixels lie within
   :data:`RADIUS` (inside a label, where lines cross), a wider window
   (:data:`WIDE_RADIUS`) predicts it, less surely: that prediction tells whether the
   pixel is ink and may restore it only within :data:`MAX_COST`, but does not measure
   lines (step 4). A pixel with no prediction at all counts as ink.
2. **JPEG-aware decoding.** Around the prediction, the scale colour that best explains the
   pixel is the one whose luma matches the pixel's and whose chroma, scaled towards
   neutral by some factor ``s`` (subsampling with a neutral line), matches the pixel's;
   a prior keeps it near the prediction. The pixel is kept, with that colour's value,
   when the misfit is within JPEG's noise (:data:`MAX_COST`; :data:`FAR_COST` for a
   pixel that kept its chroma and that no ink touches, moved only by ringing).
3. **Ink.** Lines and text are neutral (black, grey, white), so a pixel they cover is the
   same kind of mixture, with its luma moved by the line: luma is what tells them apart.
   A pixel whose luma departs from the prediction by :data:`INK_LUMA` is *ink*. Next to a
   line that sits inside one pixel, its antialiasing may touch either neighbour by
   an amount no colour shows, so those neighbours stay masked; a line split over two
   pixels (both partly covered, keeping some chroma) leaves its outer neighbours clean.
   A pixel whose chroma shrank (``s`` below :data:`UNEXPLAINED_CHROMA`) with no ink
   where its chroma comes from (:func:`_in_chroma_reach`) is next to a line of its own
   brightness, which only chroma shows, at half resolution: it stays masked, unless the
   region's edge (the frame's spine, the page) lies where its chroma comes from, which
   explains the loss as ink would.
   A line's own edge does not reach past it either: an ink pixel whose luma moved
   less than :data:`PARTIAL` as much as the line's core nearby leaves the pixel beyond
   it clean.
4. **Straight lines.** A line drawn straight along a column or a row (graticule, grid)
   has the same antialiasing in every pixel along it, so it is measured as a whole
   (:func:`_thin_line_sides`): how much of a pixel it covers across (width times
   opacity) and which neighbour it leans towards. A line covering less than
   :data:`THIN` of a pixel cannot reach both sides of its ink column: the side it
   leans away from is clean, however faint a touch colour could not show, and the
   line's own pixels stay masked all along it, where it crosses field of its own
   brightness too. Lines drawn semi-transparent and wider than a pixel would pass as
   thin; matplotlib and cartopy draw graticules opaque by default.

5. **Sharp lines.** Some rasterisers leave a pixel untouched below a share of coverage
   (Ghostscript rendering GMT's PostScript): their lines have no faint edges, and the
   pixels beside the ink are clean. :func:`sharp_lines` measures it over the whole image
   (how many pixels are darkened faintly against how many strongly); then a pixel
   beside ink is kept as any pixel no ink touches (within :data:`FAR_COST` when it kept
   its chroma, :data:`MAX_COST` otherwise).

Two passes run: the second predicts from the pixels the first restored; the ink found by
the first still keeps its neighbours masked.

The thresholds come from the colour benchmark (``benchmarks/colour_accuracy.py``, jet_r
JPEG q85; see docs/colour-scales.md for the trade-off between data and line pixels
decoded). Only JPEG input is restored (the pipeline runs this when the smoothness check is
on, which it is for JPEG).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ._threads import WORKERS, in_order
from .filters import any_in_window, window_extreme
from .image import LUMA
from .reason import Reason

__all__ = [
    "RESTORABLE",
    "JpegDamage",
    "damage_note",
    "damage_of",
    "jpeg_damage",
    "quality_of",
    "restore_pixels",
    "sharp_lines",
    "ycbcr",
]

#: Reasons a pixel may be restored from: colour damage, not its place or transparency.
RESTORABLE = (Reason.OFF_SCALE, Reason.EXCLUDED_COLOR, Reason.HALO, Reason.INCONSISTENT)
#: Neighbourhood half-size of the plane prediction, in pixels.
RADIUS = 4
#: Half-size of the window that predicts a pixel with too few clean pixels within
#: :data:`RADIUS`.
WIDE_RADIUS = 6
#: Fewest clean neighbours a prediction needs.
MIN_SUPPORT = 6
#: Half-width of the searched window around the prediction (share of the scale's entries).
SEARCH = 0.02
#: Most scale entries tried per pixel in that window.
SAMPLES = 32
#: Luma noise of JPEG (RGB units): the q85 figure's data pixels 1 px from lines are within
#: 1.1 (median) and 3.5 (90 %) of their true luma.
LUMA_NOISE = 3.0
#: Chroma noise left after the best shrink towards neutral (RGB units).
CHROMA_NOISE = 6.0
#: How far the decoded position may stray from the prediction (share of the scale).
PRIOR = 0.003
#: Smallest chroma scale accepted: subsampling with a line keeps at least this share.
MIN_CHROMA = 0.3
#: Largest misfit (sum of squared, noise-scaled luma, chroma and prior terms) kept.
MAX_COST = 2.0
#: Largest misfit kept for a pixel that kept its chroma (see :data:`UNEXPLAINED_CHROMA`)
#: and that no ink touches (the rules of step 3 and 4 keep every touched pixel masked):
#: ringing from the edges in its JPEG block moves it more than :data:`LUMA_NOISE`, and
#: with no line touching it the misfit is not a line's antialiasing, only a less certain
#: value. A pixel whose chroma a line shares keeps :data:`MAX_COST`: the free chroma
#: scale already lets more colours fit it.
FAR_COST = 8.0
#: Luma departure from the prediction (RGB units) that marks a pixel as covered by ink.
INK_LUMA = 12.0
#: A line covers two pixels (and leaves their outer neighbours clean) when the second's
#: luma departure is at least this share of the first's ...
SPLIT_RATIO = 0.3
#: ... and it keeps at least this share of its chroma (a thick stroke keeps none).
SPLIT_CHROMA = 0.5
#: A pixel keeping less chroma than this needs ink where its chroma comes from to explain it.
UNEXPLAINED_CHROMA = 0.9
#: An ink pixel whose luma moved less than this share of the most moved ink pixel moved
#: the same way (darker or brighter) within 2 pixels is the edge of a line whose core
#: lies beyond it: the line ends inside it and does not touch the pixel on its other side.
PARTIAL = 0.5
#: Shortest run of ink along one column or row modelled as a straight line (pixels).
LINE_LENGTH = 24
#: A straight line covering less than this share of a pixel across (its width times its
#: opacity, estimated along its length) touches at most one of its two neighbours.
THIN = 0.85
#: Spread of the field's luma along a line (standard deviation, RGB units) needed to
#: estimate how much of a pixel the line covers.
LINE_SPREAD = 15.0
#: Lines with no faint edges (a rasteriser that leaves a pixel untouched below some
#: coverage, as Ghostscript does for GMT's PostScript) leave the pixels beside their ink
#: clean. Measured over the image's dark ink: the pixels darkened by a share of their
#: predicted luma within :data:`FAINT_BAND` (faint edges) against those darkened by at
#: least :data:`STRONG_INK` (line cores); at most :data:`SHARP_RATIO` of the latter means
#: sharp lines. On the benchmark's JPEGs the ratio is 0.06-0.12 for GMT's coastlines and
#: 0.28-0.60 for matplotlib's antialiased lines.
FAINT_BAND = (0.08, 0.18)
#: See :data:`FAINT_BAND`.
STRONG_INK = 0.3
#: See :data:`FAINT_BAND`.
SHARP_RATIO = 0.2
#: Fewest strong dark ink pixels that tell whether lines are sharp.
SHARP_EVIDENCE = 1000
#: Bright ink (white lines) is not measured: with more strong bright ink than this share
#: of the strong dark ink, lines are taken to have faint edges.
BRIGHT_SHARE = 0.1
#: Predicted luma (dark ink) or its complement (bright ink) needed to measure a pixel's
#: darkening as a share of it.
SHARP_ROOM = 40.0
#: Passes; ink found in a pass stays ink.
PASSES = 2
#: Candidates handled at once (bounds the memory: a few kB each).
_CHUNK = 65_536

#: Quality (IJG scale) from which a JPEG with full-resolution chroma keeps colours within
#: the consistency check's tolerance next to lines; below it, or with subsampled chroma
#: at any quality, a run says the data next to lines and text is partly lost.
GOOD_QUALITY = 95
#: The JPEG standard's (Annex K) luma quantisation table, which libjpeg and Pillow scale by
#: quality; natural (row-major) order, as Pillow reports tables.
_STANDARD_LUMA = np.array(
    [
        [16, 11, 10, 16, 24, 40, 51, 61],
        [12, 12, 14, 19, 26, 58, 60, 55],
        [14, 13, 16, 24, 40, 57, 69, 56],
        [14, 17, 22, 29, 51, 87, 80, 62],
        [18, 22, 37, 56, 68, 109, 103, 77],
        [24, 35, 55, 64, 81, 104, 113, 92],
        [49, 64, 78, 87, 103, 121, 120, 101],
        [72, 92, 95, 98, 112, 100, 103, 99],
    ]
).ravel()
#: Chroma subsampling names by Pillow's ``get_sampling`` code.
_SAMPLING = {0: "4:4:4", 1: "4:2:2", 2: "4:2:0"}

# JFIF (JPEG's own) RGB -> YCbCr, chroma centred on 0.
_YCBCR = np.array([LUMA, [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])


def ycbcr(rgb: np.ndarray) -> np.ndarray:
    """Convert RGB (0-255) to JPEG's luma and chroma.

    Parameters
    ----------
    rgb : ndarray of shape (..., 3)

    Returns
    -------
    ndarray of shape (..., 3) and dtype float64
        Y in 0-255, Cb and Cr centred on 0 (neutral colours have zero chroma).
    """
    return np.asarray(rgb, dtype=np.float64) @ _YCBCR.T


@dataclass(frozen=True)
class JpegDamage:
    """What a JPEG file's header says about the colour damage in its pixels.

    Attributes
    ----------
    quality : int or None
        The libjpeg / Pillow quality (1-100) whose scaled standard table is the file's
        luma table; None for tables not made that way (another encoder's).
    sampling : str
        Chroma subsampling: ``"4:4:4"`` (none), ``"4:2:2"``, ``"4:2:0"``, or ``"unknown"``.
    """

    quality: int | None
    sampling: str

    @property
    def lossy(self) -> bool:
        """True when colours next to lines and text are damaged beyond what the masking
        stages can tell from ink: subsampled chroma, or a quality below
        :data:`GOOD_QUALITY` (or unknown)."""
        good = self.quality is not None and self.quality >= GOOD_QUALITY
        return not (good and self.sampling == "4:4:4")

    def to_dict(self) -> dict:
        return {"quality": self.quality, "chroma_sampling": self.sampling}


def quality_of(table) -> int | None:
    """The IJG quality (1-100) whose scaled standard luma table is `table`.

    Parameters
    ----------
    table : sequence of 64 int
        A luma quantisation table in natural order (Pillow's ``image.quantization[0]``).

    Returns
    -------
    int or None
        The quality whose table matches best, None when the best match still differs by
        more than one step in a tenth of the entries (a table of another encoder).
    """
    table = np.asarray(table, dtype=np.int64).ravel()
    if table.size != 64:
        return None
    q = np.arange(1, 101)
    scale = np.where(q < 50, 5000 // q, 200 - 2 * q)  # libjpeg's jpeg_quality_scaling
    tables = np.clip((_STANDARD_LUMA[None, :] * scale[:, None] + 50) // 100, 1, 255)
    diff = np.abs(tables - table[None, :])
    best = int(np.argmin(diff.sum(axis=1)))
    if (diff[best] > 1).mean() > 0.1:
        return None
    return int(q[best])


def damage_of(image) -> JpegDamage | None:
    """The :class:`JpegDamage` of an open Pillow image, None when it is not a JPEG.

    Parameters
    ----------
    image : PIL.Image.Image
    """
    tables = getattr(image, "quantization", None)
    if getattr(image, "format", None) not in ("JPEG", "MPO") or not tables:
        return None
    from PIL import JpegImagePlugin

    quality = quality_of(tables[min(tables)])
    try:
        sampling = _SAMPLING.get(JpegImagePlugin.get_sampling(image), "unknown")
    except Exception:
        sampling = "unknown"
    if image.mode == "L":
        sampling = "4:4:4"  # one channel: nothing subsampled
    return JpegDamage(quality, sampling)


def jpeg_damage(path) -> JpegDamage | None:
    """The :class:`JpegDamage` of the file at `path` (its header only), None when it is
    not a JPEG or cannot be opened."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return damage_of(image)
    except (OSError, UnidentifiedImageError, ValueError):
        return None


def damage_note(damage: JpegDamage | None, counts: dict) -> str | None:
    """One line saying that a lossy JPEG's data next to lines and text is partly lost,
    with the share of the region's pixels masked for their colour; None when `damage` is
    None or not :attr:`JpegDamage.lossy`.

    Parameters
    ----------
    damage : JpegDamage or None
    counts : dict
        A run's pixel counts: ``pixels`` and ``masked_by_reason`` (reason name to count).

    Notes
    -----
    On the benchmark's JPEG figures (``benchmarks/real_figures.py --renderers jpeg``,
    quality 70 and 85, 4:2:0) 7 to 17 % of the true data pixels stay masked, nearly all of
    them 1 or 2 pixels from a line or a label: their colour shares its chroma with the
    ink, and telling a damaged data pixel from a line's faint antialiased edge there needs
    more than the colour. The masked share counts the lines and labels themselves too; it
    is what the run can see, not the loss.
    """
    if damage is None or not damage.lossy:
        return None
    by_reason = counts.get("masked_by_reason", {})
    region = counts.get("pixels", 0) - sum(
        by_reason.get(k, 0) for k in ("outside_region", "transparent")
    )
    colour = sum(by_reason.get(r.name.lower(), 0) for r in RESTORABLE)
    share = f"{100.0 * colour / region:.1f} %" if region > 0 else "none"
    quality = "unknown quality" if damage.quality is None else f"quality {damage.quality}"
    return (
        f"the image is a JPEG ({quality}, chroma {damage.sampling}): colours 1-2 pixels "
        f"from lines and labels are damaged, and data there is partly masked ({share} of "
        "the region masked for its colour); a PNG or the PDF of the figure decodes it"
    )


def restore_pixels(
    rgb: np.ndarray,
    reason: np.ndarray,
    index: np.ndarray,
    scale_colors: np.ndarray,
    scale_values: np.ndarray,
    *,
    passes: int = PASSES,
    max_cost: float = MAX_COST,
    ink_luma: float = INK_LUMA,
    unexplained_chroma: float = UNEXPLAINED_CHROMA,
) -> tuple[np.ndarray, np.ndarray]:
    """Masked pixels of a JPEG whose colour is the scale's, damaged as JPEG damages it.

    See the module's description for the model and the rules.

    Parameters
    ----------
    rgb : ndarray of shape (H, W, 3) and dtype uint8
        The decompressed JPEG.
    reason : ndarray of shape (H, W) and dtype uint8
        :class:`geodigitize.mask.Reason` of each pixel; pixels masked for one of
        :data:`RESTORABLE` may be restored, :attr:`Reason.DATA` pixels are the clean ones.
    index : ndarray of shape (H, W) and dtype int
        Scale entry each pixel decoded to.
    scale_colors : ndarray of shape (K, 3)
    scale_values : ndarray of shape (K,)
    passes : int
    max_cost, ink_luma, unexplained_chroma : float
        See :data:`MAX_COST`, :data:`INK_LUMA`, :data:`UNEXPLAINED_CHROMA`.

    Returns
    -------
    restored : ndarray of shape (H, W) and dtype bool
        Pixels to keep as data.
    index : ndarray of shape (H, W) and dtype int32
        Scale entries, changed at the restored pixels to the entry that explains them.
    """
    shape = reason.shape
    order = np.argsort(scale_values, kind="stable")
    k = order.size
    rank_of = np.empty(k, dtype=np.int64)
    rank_of[order] = np.arange(k)
    ranked = ycbcr(np.asarray(scale_colors)[order])  # (K, 3)
    rank = rank_of[np.asarray(index)].astype(np.float64)  # (H, W)
    restorable = np.isin(reason, np.array(RESTORABLE, dtype=reason.dtype))
    clean = reason == Reason.DATA
    # Near the region's edge (the frame's spine, the page) chroma subsampling mixes a
    # pixel with what lies outside: that explains a shrunk chroma as ink would.
    border = _in_chroma_reach(reason == Reason.OUTSIDE_REGION)
    restored = np.zeros(shape, dtype=bool)
    ink = np.zeros(shape, dtype=bool)
    y_obs = _luma(rgb)
    new_rank = np.zeros(shape, dtype=np.int64)
    sharp = None
    for _ in range(passes):
        todo = restorable & ~restored
        rows, cols = np.nonzero(todo & any_in_window(clean, 2 * WIDE_RADIUS + 1))
        fit = _fit(rgb, ranked, np.pad(rank, WIDE_RADIUS), np.pad(clean, WIDE_RADIUS), rows, cols)
        supported, wide = fit["supported"], fit["wide"]
        # Signed luma departures of every pixel with a prediction from its neighbours,
        # clean ones from their entry; NaN where none exists. These measure lines.
        departure = np.where(clean, y_obs - ranked[rank.astype(np.int64), 0], np.nan)
        departure = departure.astype(np.float32, copy=False)
        near = supported & ~wide
        departure[rows[near], cols[near]] = fit["luma"][near]
        if sharp is None:  # from the first pass's departures
            sharp = sharp_lines(departure, y_obs)
        # Its size for every pixel still masked, from the wide window too; unknown (no
        # prediction) counts as ink.
        luma = np.where(todo, np.nan_to_num(np.abs(departure), nan=255.0), 0.0)
        far = supported & wide
        luma[rows[far], cols[far]] = np.abs(fit["luma"][far])
        chroma = np.zeros(shape)
        chroma[rows[supported], cols[supported]] = fit["shrink"][supported]
        inked = luma >= ink_luma
        ink |= inked
        quiet, line = _thin_line_sides(ink, departure, y_obs, todo)
        ink |= line
        touching = ink & ~(_line_edges(ink, departure) & ~line)
        beside = _beside_ink(touching, luma, chroma, quiet)
        explained = _in_chroma_reach(inked | line) | border
        r, c = rows[supported], cols[supported]
        kept_chroma = fit["shrink"][supported] >= unexplained_chroma
        # Pixels some ink touches are not kept whatever their misfit (`beside` below),
        # unless the lines are sharp: then no ink touches them, as far pixels.
        limit = np.where(kept_chroma & ~wide[supported], max(max_cost, FAR_COST), max_cost)
        touched = beside[r, c] & (not sharp)
        keep = (fit["cost"][supported] <= limit) & ~touched & ~ink[r, c]
        keep &= kept_chroma | explained[r, c]
        r, c = r[keep], c[keep]
        restored[r, c] = True
        clean[r, c] = True
        new_rank[r, c] = fit["rank"][supported][keep]
        rank[r, c] = new_rank[r, c]
    out = np.asarray(index).astype(np.int32, copy=True)
    out[restored] = order[new_rank[restored]]
    return restored, out


def sharp_lines(departure: np.ndarray, y_obs: np.ndarray) -> bool:
    """Whether the image's lines have no faint antialiased edges (see :data:`FAINT_BAND`).

    Parameters
    ----------
    departure : ndarray of shape (H, W)
        Signed luma departure of each pixel from its predicted field colour (RGB units),
        NaN where no prediction exists.
    y_obs : ndarray of shape (H, W)
        The image's luma.

    Returns
    -------
    bool
        True when there is enough dark ink to tell (:data:`SHARP_EVIDENCE`), little
        bright ink (:data:`BRIGHT_SHARE`), and few faintly darkened pixels against the
        strongly darkened ones (:data:`SHARP_RATIO`).
    """
    known = np.isfinite(departure)
    dep = departure[known].astype(np.float64)
    predicted = y_obs[known] - dep
    with np.errstate(divide="ignore", invalid="ignore"):
        dark = np.where((dep < 0) & (predicted > SHARP_ROOM), -dep / predicted, 0.0)
        bright = np.where(
            (dep > 0) & (255.0 - predicted > SHARP_ROOM), dep / (255.0 - predicted), 0.0
        )
    strong = int((dark >= STRONG_INK).sum())
    faint = int(((dark >= FAINT_BAND[0]) & (dark < FAINT_BAND[1])).sum())
    bright_strong = int((bright >= STRONG_INK).sum())
    return bool(
        strong >= SHARP_EVIDENCE
        and bright_strong <= BRIGHT_SHARE * strong
        and faint <= SHARP_RATIO * strong
    )


def _luma(rgb: np.ndarray) -> np.ndarray:
    """JPEG's luma (0-255) of an (H, W, 3) RGB image as float32, one channel at a time."""
    weights = _YCBCR[0].astype(np.float32)
    out = rgb[..., 0] * weights[0]
    out += rgb[..., 1] * weights[1]
    out += rgb[..., 2] * weights[2]
    return out


def _fit(
    rgb: np.ndarray,
    ranked: np.ndarray,
    rank: np.ndarray,
    clean: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
) -> dict[str, np.ndarray]:
    """Predict, search and score each candidate (see :func:`_fit_chunk`), in chunks
    worked on :data:`geodigitize._threads.WORKERS` threads.

    `rank` and `clean` are padded by :data:`WIDE_RADIUS`; `rgb`, `rows`, `cols` are not.
    """

    def chunk(i: int) -> dict[str, np.ndarray]:
        return _fit_chunk(rgb, ranked, rank, clean, rows[i : i + _CHUNK], cols[i : i + _CHUNK])

    parts = list(in_order(chunk, range(0, max(rows.size, 1), _CHUNK), WORKERS))
    return {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}


def _fit_chunk(
    rgb: np.ndarray,
    ranked: np.ndarray,
    rank: np.ndarray,
    clean: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
) -> dict[str, np.ndarray]:
    """For N candidates: whether a prediction exists and whether it needed the wide
    window, the best entry's rank near it, its misfit and chroma scale, and the luma
    departure from the predicted colour.

    Returns
    -------
    dict of ndarray of shape (N,)
        ``supported``, ``wide`` (bool), ``rank`` (int), ``cost``, ``shrink``, ``luma``
        (float).
    """
    k = ranked.shape[0]
    pred, supported = _plane(rank, clean, rows, cols, RADIUS, WIDE_RADIUS)
    wide = ~supported
    pred[wide], supported[wide] = _plane(
        rank, clean, rows[wide], cols[wide], WIDE_RADIUS, WIDE_RADIUS
    )
    pred = np.clip(pred, 0, k - 1)
    half = max(1, int(np.ceil(SEARCH * k)))
    step = max(1, int(np.ceil(2 * half / SAMPLES)))
    offsets = np.arange(-half, half + 1, step)
    tried = np.clip(np.rint(pred)[:, None].astype(np.int64) + offsets[None, :], 0, k - 1)
    colour = ranked[tried]  # (N, M, 3)
    obs = ycbcr(rgb[rows, cols])  # (N, 3)
    d_luma = obs[:, None, 0] - colour[..., 0]
    chroma = colour[..., 1:]
    norm2 = np.einsum("nmc,nmc->nm", chroma, chroma)
    shrink = np.einsum("nmc,nc->nm", chroma, obs[:, 1:]) / np.maximum(norm2, 1e-9)
    shrink = np.clip(shrink, MIN_CHROMA, 1.05)
    d_chroma = obs[:, None, 1:] - shrink[..., None] * chroma
    cost = (
        (d_luma / LUMA_NOISE) ** 2
        + np.einsum("nmc,nmc->nm", d_chroma, d_chroma) / CHROMA_NOISE**2
        + ((tried - pred[:, None]) / (PRIOR * k)) ** 2
    )
    best = np.argmin(cost, axis=1)
    n = np.arange(rows.size)
    nearest = np.rint(pred).astype(np.int64)
    return {
        "supported": supported,
        "wide": wide,
        "rank": tried[n, best],
        "cost": cost[n, best],
        "shrink": shrink[n, best],
        "luma": obs[:, 0] - ranked[nearest, 0],
    }


def _plane(
    field: np.ndarray,
    kept: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    radius: int,
    pad: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Value at each (row, col) of the least-squares plane through the `kept` pixels of
    its ``2 radius + 1`` window, and whether at least :data:`MIN_SUPPORT` of them, not
    all on one line, support it.

    `field` and `kept` are the image's arrays padded by `pad` >= `radius` on every side
    (with False for `kept`), so that no window leaves them; `rows`, `cols` are unpadded.
    """
    width = field.shape[1]
    offsets = np.arange(-radius, radius + 1)
    dr, dc = (a.ravel() for a in np.meshgrid(offsets, offsets, indexing="ij"))
    at = ((rows + pad) * width + cols + pad)[:, None] + (dr * width + dc)[None, :]
    weight = kept.ravel()[at].astype(np.float64)  # (N, m)
    v = field.ravel()[at] * weight
    design = np.stack([np.ones(dr.size), dr, dc], axis=1).astype(np.float64)  # (m, 3)
    outer = (design[:, :, None] * design[:, None, :]).reshape(-1, 9)
    normal = (weight @ outer).reshape(-1, 3, 3)
    rhs = v @ design
    supported = (weight.sum(axis=1) >= MIN_SUPPORT) & (np.abs(np.linalg.det(normal)) > 1e-9)
    normal[~supported] = np.eye(3)
    coef = np.linalg.solve(normal, rhs[..., None])[..., 0]
    return coef[:, 0], supported


def _beside_ink(
    ink: np.ndarray,
    luma: np.ndarray,
    chroma: np.ndarray,
    quiet: dict[tuple[int, int], np.ndarray],
) -> np.ndarray:
    """Pixels with a 4-neighbour that is ink, unless that line continues into the pixel
    beyond it (a line split over two pixels, see :data:`SPLIT_RATIO`) or the ink is
    `quiet` towards the pixel.

    Parameters
    ----------
    ink : ndarray of shape (H, W) and dtype bool
    luma : ndarray of shape (H, W)
        Luma departure of each masked pixel (0 for clean ones).
    chroma : ndarray of shape (H, W)
        Chroma scale of each masked pixel (0 where unknown).
    quiet : dict of (dy, dx) to ndarray of shape (H, W) and dtype bool
        Ink known not to touch its neighbour at ``(row + dy, col + dx)`` (see
        :func:`_thin_line_sides`).

    Returns
    -------
    ndarray of shape (H, W) and dtype bool
    """
    out = np.zeros(ink.shape, dtype=bool)
    for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0)):
        # The ink at (y + dy, x + dx) touches (y, x) unless quiet towards (-dy, -dx).
        touching = ink & ~quiet[(-dy, -dx)]
        near_ink = _shifted(touching, dy, dx, False)
        near_luma = _shifted(luma, dy, dx, 0.0)
        far_luma = _shifted(luma, 2 * dy, 2 * dx, 0.0)
        far_chroma = _shifted(chroma, 2 * dy, 2 * dx, 0.0)
        split = (far_luma >= SPLIT_RATIO * near_luma) & (far_chroma >= SPLIT_CHROMA)
        split &= near_luma >= INK_LUMA  # not a line pixel too faint to measure
        out |= near_ink & ~split
    return out


def _line_edges(ink: np.ndarray, departure: np.ndarray) -> np.ndarray:
    """Ink pixels that are a line's antialiased edge, not its core (see :data:`PARTIAL`).

    Parameters
    ----------
    ink : ndarray of shape (H, W) and dtype bool
    departure : ndarray of shape (H, W)
        Signed luma departure from the predicted field colour, NaN where unknown.

    Returns
    -------
    ndarray of shape (H, W) and dtype bool
    """
    moved = np.where(ink & np.isfinite(departure), departure, 0).astype(np.float32)
    # The core of a dark line is the darkest ink nearby, of a bright one the brightest.
    core = np.where(
        moved < 0,
        window_extreme(moved, 5, np.minimum, edge=0.0),
        window_extreme(moved, 5, np.maximum, edge=0.0),
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        share = moved / core
    return ink & (share > 0) & (share <= PARTIAL)


def _thin_line_sides(
    ink: np.ndarray, departure: np.ndarray, y_obs: np.ndarray, masked: np.ndarray
) -> tuple[dict[tuple[int, int], np.ndarray], np.ndarray]:
    """Sides of long straight column and row lines that the line does not touch.

    Along a line drawn straight down a column (a meridian, a parallel, a grid line) its
    antialiasing is the same in every row: the line covers a share ``a`` of each pixel
    across it, and a pixel's luma departs from the field's by ``a (Y_line - Y_field)``.
    Where the field's luma varies along the line, the slope of the departures summed
    across the line against the field's luma gives the line's whole coverage (its width
    times its opacity) without knowing its colour, and the departures' shares give its
    profile. A line covering less than :data:`THIN` of a pixel cannot reach both sides
    of its ink column: it touches at most the neighbour with the larger share, and the
    other neighbour is clean however faint a touch colour could not show; if that
    larger neighbour is ink too (a line split over two columns) the pixel beyond it is
    clean as well.

    Parameters
    ----------
    ink : ndarray of shape (H, W) and dtype bool
    departure : ndarray of shape (H, W)
        Signed luma departure from the predicted field colour (RGB units), NaN where no
        prediction exists.
    y_obs : ndarray of shape (H, W)
        The image's luma.
    masked : ndarray of shape (H, W) and dtype bool
        Pixels not (yet) data: a line continues through them where it is as bright as
        the field and only its damage to their colour shows it.

    Returns
    -------
    quiet : dict of (dy, dx) to ndarray of shape (H, W) and dtype bool
        Line pixels that do not touch their neighbour at ``(row + dy, col + dx)``.
    line : ndarray of shape (H, W) and dtype bool
        The pixels of the thin straight lines (both columns of a split one), all along
        each line: never data.
    """
    quiet = {d: np.zeros(ink.shape, dtype=bool) for d in ((0, 1), (0, -1), (1, 0), (-1, 0))}
    line = np.zeros(ink.shape, dtype=bool)
    for along_rows in (False, True):
        # Work on columns; a row line is a column line of the transposed image (the
        # transposed views write through to `quiet`).
        t = (lambda a: a.T) if along_rows else (lambda a: a)
        inks, dep, lum, hidden = t(ink), t(departure), t(y_obs), t(masked)
        toward = {
            +1: t(quiet[(1, 0) if along_rows else (0, 1)]),
            -1: t(quiet[(-1, 0) if along_rows else (0, -1)]),
        }
        runs, _ = ndimage.label(inks, structure=[[0, 1, 0], [0, 1, 0], [0, 1, 0]])
        width = inks.shape[1]
        lines: dict[int, list[np.ndarray]] = {}
        for run in ndimage.find_objects(runs):
            if run is not None and run[0].stop - run[0].start >= LINE_LENGTH:
                lines.setdefault(run[1].start, []).append(np.arange(run[0].start, run[0].stop))
        # The long runs of one column are one line, crossed or faded in places: from its
        # first long run to its last, and on through ink or masked pixels further along
        # the column with gaps shorter than a long run, every pixel of the column is the
        # line's.
        for c, parts in lines.items():
            if c < 2 or c > width - 3:
                continue
            along = np.concatenate(parts)
            side, lean = _thin_side(dep[along, c - 2 : c + 3], lum[along, c])
            if side == 0:
                continue
            rows = _extent(inks[:, c] | hidden[:, c], parts[0][0], parts[-1][-1] + 1)
            line_t = t(line)
            line_t[rows, c] = True
            toward[-side][rows, c] = True
            # Where the line is split over two columns, the second is the line's all
            # along (not only where it is dark enough to be ink), and so is its far side.
            split = inks[rows, c + side] | (lean >= SPLIT_RATIO)
            line_t[rows, c + side] |= split
            toward[side][rows, c + side] |= split
    return quiet, line


def _extent(ink: np.ndarray, start: int, stop: int) -> slice:
    """`start:stop` widened to the ink of 1-D `ink` reached by gaps shorter than
    :data:`LINE_LENGTH`."""
    at = np.flatnonzero(ink)
    before = at[at < start][::-1]
    for row in before:
        if start - row > LINE_LENGTH:
            break
        start = row
    for row in at[at >= stop]:
        if row - stop + 1 > LINE_LENGTH:
            break
        stop = row + 1
    return slice(int(start), int(stop))


def _thin_side(dep: np.ndarray, lum: np.ndarray) -> tuple[int, float]:
    """For a line down the middle column of `dep` (R, 5): the side (-1 left, +1 right) it
    may touch if it is thinner than :data:`THIN`, else 0 (thick, or not measurable), and
    how much it covers on that side as a share of the middle column."""
    known = np.isfinite(dep).all(axis=1)
    total = dep[:, 1:4].sum(axis=1)
    known &= np.abs(total) >= INK_LUMA / 2
    if known.sum() < LINE_LENGTH:
        return 0, 0.0
    dep, total = dep[known], total[known]
    field = lum[known] - dep[:, 2]
    if field.std() < LINE_SPREAD:
        return 0, 0.0
    slope = np.polyfit(field, total, 1)[0]
    if not 0 < -slope < THIN:
        return 0, 0.0
    share = np.median(dep / total[:, None], axis=0)
    side = 1 if share[3] > share[1] else -1
    return side, float(share[2 + side] / share[2]) if share[2] > 0 else 0.0


def _in_chroma_reach(mask: np.ndarray) -> np.ndarray:
    """Pixels whose chroma JPEG took partly from a `mask` pixel.

    With 4:2:0 subsampling one chroma sample serves each 2 x 2 block of pixels (aligned
    on even rows and columns), and decoders upsample it with a triangle filter from the
    2 x 2 samples nearest the pixel: a pixel's chroma comes from a 4 x 4 window, two
    pixels back and one ahead of it on an even row or column, one back and two ahead on
    an odd one.
    """
    # Separable: any of 4 rows, then of 4 columns. With 2 False rows padded on either
    # side, the window of row r starts at padded row r on an even row and r + 1 on an
    # odd one (``ndimage.maximum_filter(mask, 4, origin=(-dy, -dx))`` taken on rows of
    # parity dy and columns of parity dx, as this was first written: ~25x faster).
    return _reach_along(_reach_along(np.asarray(mask, dtype=bool), 0), 1)


def _reach_along(mask: np.ndarray, axis: int) -> np.ndarray:
    """Along `axis` (0 or 1) of a 2-D mask: whether any of positions ``i - 2 .. i + 1``
    (even `i`) or ``i - 1 .. i + 2`` (odd `i`) is True, outside the array False."""

    def at(a: np.ndarray, part: slice) -> np.ndarray:
        return a[part] if axis == 0 else a[:, part]

    n = mask.shape[axis]
    shape = (n + 4, mask.shape[1]) if axis == 0 else (mask.shape[0], n + 4)
    padded = np.zeros(shape, dtype=bool)
    at(padded, slice(2, n + 2))[...] = mask
    pairs = at(padded, slice(0, -1)) | at(padded, slice(1, None))  # padded j or j + 1
    fours = at(pairs, slice(0, -2)) | at(pairs, slice(2, None))  # padded j .. j + 3
    out = np.empty_like(mask)
    at(out, slice(0, None, 2))[...] = at(fours, slice(0, n, 2))
    at(out, slice(1, None, 2))[...] = at(fours, slice(2, n + 1, 2))
    return out


def _shifted(a: np.ndarray, dy: int, dx: int, fill) -> np.ndarray:
    """``out[i, j] = a[i + dy, j + dx]``, `fill` where that is outside the image (|dy|,
    |dx| <= 2)."""
    h, w = a.shape
    out = np.full((h, w), fill, dtype=a.dtype)  # one copy (np.pad made two)
    r0, r1 = max(0, -dy), min(h, h - dy)
    c0, c1 = max(0, -dx), min(w, w - dx)
    if r0 < r1 and c0 < c1:
        out[r0:r1, c0:c1] = a[r0 + dy : r1 + dy, c0 + dx : c1 + dx]
    return out
