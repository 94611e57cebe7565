"""Read what the user did not give from the figure itself: the map frame, the colorbar
and its value range, and the georeference from the frame's lon/lat tick labels.

Each inference keeps its evidence (the labels read, their boxes, scores, values and
residuals) in :class:`Inferred`, which ``report.json`` records under ``inferred``; an
inference that fails its checks raises naming the option that settles it, never guesses.

Tick labels
    Read in strips beside the frame's sides (longitudes below, else above; latitudes on
    the left, else on the right) and beside the colorbar's long side, by OCR
    (:mod:`geodigitize.ocr`) or, for a PDF page, from its text layer. Only the row (or
    column) of words nearest the side is used, and only words centred along the side.
Axis fit
    A label's position is its centre, moved half way to an antialiased tick mark beside
    it (:func:`snap_to_ticks`; ticks snapped to pixel centres by matplotlib taken back
    half a pixel, or half the zoom of a screenshot, :func:`unsnap_ticks`). Positions must
    be one straight function of the values (longitude; latitude in plate carrée) or of
    Mercator's ``ln tan(pi/4 + lat/2)``; at least :data:`MIN_LABELS` labels, at most one
    in four dropped as an outlier, every residual within :func:`_tolerance`. Plate carrée
    and Mercator are told apart only when one fits clearly better or they agree on the
    frame, else the run refuses.
Georeference
    GCPs at the crossings of the fitted label positions, in lon/lat, with the map's CRS
    (Mercator: ``EPSG:3395``, or ``EPSG:3857`` when the spherical form fits clearly
    better, :func:`_prefer_ellipsoid`), passed to :func:`geodigitize.georef.georeference`
    unchanged. Refused when the fits' standard error at a frame corner
    (:func:`corner_error`) exceeds :data:`MAX_CORNER_ERROR`: too few or too scattered
    labels, extrapolated too far.
Colour scale
    The colorbar ``--colorbar auto`` finds, named when a known colormap draws it
    (:func:`geodigitize.identify.identify_cmap`), else sampled.
Value range
    Colorbar label values against their positions along the bar, linear (or linear in
    log10 for labels like ``10⁻³ .. 10³``), evaluated at the bar's two ends.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from .colorbar import locate_colorbar, sample_colorbar
from .decode import decode
from .errors import ColorScaleError, GCPError, RegionError
from .frame import find_frame, page_color
from .gcps import GCPSet
from .georef import from_georeferenced_image
from .identify import CmapMatch, identify_cmap
from .ocr import TextBox, find_words, read_words
from .region import region_mask
from .scale import build_scale
from .ticks import parse_coordinate, parse_value

__all__ = [
    "AxisFit",
    "Inferred",
    "Labels",
    "corner_error",
    "fit_axis",
    "fit_colorbar",
    "fit_latitudes",
    "infer_georef",
    "infer_missing",
    "infer_range",
    "missing",
    "tick_finder",
    "unsnap_ticks",
]

Box = tuple[float, float, float, float]
#: Reads the words of one side: ``reader(strip_box, side)``.
Reader = Callable[[Box, str], tuple[TextBox, ...]]

#: Least labels an axis needs after dropping outliers.
MIN_LABELS = 3
#: Which frame sides hold each axis's labels, in the order tried.
SIDES = {"lon": ("bottom", "top"), "lat": ("left", "right")}
#: The border of a strip beside each side that touches the frame (or bar).
FACING = {"bottom": "top", "top": "bottom", "left": "right", "right": "left"}
#: Largest distance (pixels) strips reach from the frame or bar.
MAX_DEPTH = 400


@dataclass(frozen=True)
class Labels:
    """Labels read on one side: the words, their value (None if not a number) and their
    position along the side (col for bottom/top, row for left/right)."""

    side: str
    words: tuple[TextBox, ...]
    values: tuple[float | None, ...]
    positions: tuple[float, ...]

    def numbered(self) -> tuple[np.ndarray, np.ndarray, list[TextBox]]:
        """Positions, values and words of the labels that parsed."""
        keep = [i for i, v in enumerate(self.values) if v is not None]
        pos = np.array([self.positions[i] for i in keep], float)
        val = np.array([self.values[i] for i in keep], float)
        return pos, val, [self.words[i] for i in keep]


@dataclass(frozen=True)
class AxisFit:
    """A straight fit ``position = a + b * f(value)`` of an axis's labels.

    Attributes
    ----------
    axis : {"lon", "lat", "value", "log10"}
    side : str
    model : {"linear", "mercator", "mercator_ellipsoidal"}
    a, b : float
    words : tuple of TextBox
        The labels used.
    values, positions, residuals : tuple of float
        Per label used (residual: fitted minus measured position, pixels).
    dropped : tuple of TextBox
        Labels read as numbers but left out as outliers.
    """

    axis: str
    side: str
    model: str
    a: float
    b: float
    words: tuple[TextBox, ...]
    values: tuple[float, ...]
    positions: tuple[float, ...]
    residuals: tuple[float, ...]
    dropped: tuple[TextBox, ...] = ()

    @property
    def max_residual(self) -> float:
        return float(np.max(np.abs(self.residuals)))

    def position(self, value) -> np.ndarray:
        """Pixel position of `value` (degrees or data value)."""
        return self.a + self.b * _transform(np.asarray(value, float), self.model)

    def value(self, position) -> np.ndarray:
        """Value at pixel `position` (inverse of :meth:`position`)."""
        f = (np.asarray(position, float) - self.a) / self.b
        return _inverse(f, self.model)

    def standard_error(self, position) -> np.ndarray:
        """Standard error (pixels) of the fitted position at pixel `position`.

        The straight line's, from its residuals with ``n - 2`` degrees of freedom:
        ``s * sqrt(1/n + (f - mean f)**2 / sum (f_i - mean f)**2)``, growing as the line is
        extrapolated past its labels; inf with fewer than three labels.

        Parameters
        ----------
        position : float or array of shape (m,)

        Returns
        -------
        ndarray of shape (m,) (or scalar)
        """
        f = _transform(np.asarray(self.values, float), self.model)
        n = f.size
        spread = float(np.sum((f - f.mean()) ** 2))
        if n < 3 or spread == 0:
            return np.full(np.shape(position), np.inf)
        s2 = float(np.sum(np.square(self.residuals))) / (n - 2)
        at = (np.asarray(position, float) - self.a) / self.b
        return np.sqrt(s2 * (1.0 / n + (at - f.mean()) ** 2 / spread))

    def describe(self) -> str:
        vals = sorted(self.values)
        what = {"lon": "longitudes", "lat": "latitudes"}.get(self.axis, "values")
        model = {"linear": "linear", "mercator": "Mercator", "mercator_ellipsoidal": "Mercator"}
        return (
            f"{what} from {len(self.values)} labels {_num(vals[0])}..{_num(vals[-1])} "
            f"({self.side}, {model[self.model]}, residual {self.max_residual:.2f} px)"
        )

    def to_dict(self) -> dict:
        return {
            "side": self.side,
            "model": self.model,
            "a": self.a,
            "b": self.b,
            "max_residual_px": round(self.max_residual, 3),
            "labels": [
                {**w.asdict(), "value": v, "position": round(p, 2), "residual_px": round(r, 3)}
                for w, v, p, r in zip(
                    self.words, self.values, self.positions, self.residuals, strict=True
                )
            ],
            "dropped": [w.asdict() for w in self.dropped],
        }


def _num(v: float) -> str:
    return f"{v:g}"


_E2 = 0.00669437999014  # WGS84 first eccentricity squared


def _transform(value: np.ndarray, model: str) -> np.ndarray:
    if model == "linear":
        return value
    phi = np.deg2rad(np.clip(value, -89.9, 89.9))
    y = np.log(np.tan(np.pi / 4 + phi / 2))
    if model == "mercator_ellipsoidal":
        e = math.sqrt(_E2)
        y = y - e * np.arctanh(e * np.sin(phi))
    return np.rad2deg(y)


def _inverse(f: np.ndarray, model: str) -> np.ndarray:
    if model == "linear":
        return f
    grid = np.linspace(-89.9, 89.9, 20001)
    return np.interp(f, _transform(grid, model), grid)


# --------------------------------------------------------------------------- fitting


def _tolerance(positions: np.ndarray) -> float:
    """Largest residual (pixels) a label may have: 1.5 px plus 2 % of the labels'
    median spacing (a label's ink centre is its tick's position within a pixel or so)."""
    spacing = np.median(np.diff(np.sort(positions))) if positions.size > 1 else 0.0
    return 1.5 + 0.02 * float(spacing)


def _line_fit(f: np.ndarray, pos: np.ndarray) -> tuple[float, float, np.ndarray]:
    design = np.column_stack([np.ones_like(f), f])
    (a, b), *_ = np.linalg.lstsq(design, pos, rcond=None)
    return float(a), float(b), a + b * f - pos


def fit_axis(
    positions, values, words=None, *, axis: str, side: str = "", model: str = "linear"
) -> AxisFit | None:
    """Fit label positions to values; None when no consistent fit of enough labels.

    Parameters
    ----------
    positions, values : array of shape (n,)
        Pixel position along the side and the value each label says.
    words : list of TextBox, optional
    axis : {"lon", "lat", "value", "log10"}
        Longitudes are unwrapped across the antimeridian (``150, 180, -150`` is
        ``150, 180, 210``).
    side : str
    model : {"linear", "mercator", "mercator_ellipsoidal"}

    Returns
    -------
    AxisFit or None
        The fit of the most labels whose residuals are all within tolerance; at most one
        label in four (and at least :data:`MIN_LABELS` kept) may be dropped.
    """
    pos = np.asarray(positions, float)
    val = np.asarray(values, float)
    words = list(words) if words is not None else [TextBox("", (0, 0, 0, 0), 1.0)] * pos.size
    order = np.argsort(pos)
    pos, val, words = pos[order], val[order], [words[i] for i in order]
    need = 2 if axis in ("value", "log10") else MIN_LABELS
    n = pos.size
    if n < need:
        return None
    tries = [val]
    if axis == "lon":  # also across the antimeridian: 150, 180, -150 is 150, 180, 210
        wrapped = np.unwrap(val, period=360.0)
        wrapped = wrapped - 360.0 * np.floor((wrapped.min() + 180.0) / 360.0)  # from -180
        if not np.array_equal(wrapped, val):
            tries.append(wrapped)
    found = [(f, v) for v in tries if (f := _best_fit(pos, v, need, model)) is not None]
    if not found:
        return None
    best, val = max(found, key=lambda fv: (fv[0][1].size, -fv[0][0]))
    _, keep, a, b, res = best
    dropped = tuple(words[i] for i in range(n) if i not in set(keep.tolist()))
    return AxisFit(
        axis,
        side,
        model,
        a,
        b,
        tuple(words[i] for i in keep),
        tuple(float(v) for v in val[keep]),
        tuple(float(p) for p in pos[keep]),
        tuple(float(r) for r in res),
        dropped,
    )


def _best_fit(pos: np.ndarray, val: np.ndarray, need: int, model: str):
    """(rms, kept indices, a, b, residuals) of the fit keeping the most labels, every
    residual within :func:`_tolerance`; at most one label in four dropped."""
    n = pos.size
    if np.unique(val).size < need:
        return None
    tol = _tolerance(pos)
    max_drop = min(n - need, n // 4)
    f_all = _transform(val, model)
    best = None
    for drop in range(max_drop + 1):
        for out in _subsets(n, drop):
            keep = np.setdiff1d(np.arange(n), out)
            if np.unique(val[keep]).size < need:
                continue
            a, b, res = _line_fit(f_all[keep], pos[keep])
            if b == 0 or np.max(np.abs(res)) > tol:
                continue
            rms = float(np.sqrt(np.mean(res**2)))
            if best is None or rms < best[0]:
                best = (rms, keep, a, b, res)
        if best is not None:
            return best
    return None


def _subsets(n: int, k: int):
    import itertools

    return (list(c) for c in itertools.combinations(range(n), k))


def _rms(fit: AxisFit) -> float:
    return float(np.sqrt(np.mean(np.square(fit.residuals))))


def fit_latitudes(labels: Labels) -> tuple[AxisFit | None, str]:
    """The latitude model that fits the labels: plate carrée or Mercator.

    Returns
    -------
    (AxisFit or None, str)
        The fit, or None and why not.
    """
    pos, val, words = labels.numbered()
    fits = [
        f
        for m in ("linear", "mercator", "mercator_ellipsoidal")
        if (f := fit_axis(pos, val, words, axis="lat", side=labels.side, model=m)) is not None
    ]
    if not fits:
        return None, _why_not(pos, val)
    fits = _prefer_ellipsoid(fits)
    fits.sort(key=lambda f: (-len(f.values), _rms(f)))
    best = fits[0]
    family = best.model != "linear"
    rivals = [f for f in fits[1:] if len(f.values) == len(best.values)]
    other = next((f for f in rivals if (f.model != "linear") != family), None)
    if other is None:
        return best, ""
    # both families fit: take one only when they agree on the frame or one is clearly better
    span = np.linspace(min(best.positions), max(best.positions), 50)
    lat = best.value(span)
    apart = float(np.max(np.abs(other.position(lat) - span)))
    if apart <= 1.0 or _rms(best) <= 0.5 * _rms(other):
        return best, ""
    return None, (
        f"the latitude labels fit plate carrée and Mercator alike "
        f"(residuals {_rms(best):.2f} and {_rms(other):.2f} px) and these differ by "
        f"{apart:.1f} px"
    )


def _prefer_ellipsoid(fits: list[AxisFit]) -> list[AxisFit]:
    """The fits without spherical Mercator when ellipsoidal Mercator fits as many labels
    nearly as well (its residuals under twice the spherical's): the two differ by under
    a pixel at most latitudes, which label noise cannot tell apart, and GMT's ``-JM`` and
    cartopy's ``Mercator`` are ellipsoidal (measured: the wrong one costs up to 1 px at a
    frame's corner)."""
    sph = next((f for f in fits if f.model == "mercator"), None)
    ell = next((f for f in fits if f.model == "mercator_ellipsoidal"), None)
    if sph is None or ell is None or len(ell.values) < len(sph.values):
        return fits
    if _rms(ell) <= 2 * _rms(sph) + 0.05:
        return [f for f in fits if f is not sph]
    return fits


def _why_not(pos: np.ndarray, val: np.ndarray) -> str:
    if pos.size < MIN_LABELS:
        return f"read {pos.size} label{'s' if pos.size != 1 else ''} (need {MIN_LABELS})"
    shown = ", ".join(_num(v) for v in val[:8])
    return f"the {pos.size} labels read ({shown}) are not evenly placed for their values"


# --------------------------------------------------------------------------- strips


def strip_box(edge_box: Box, side: str, shape: tuple[int, int], margin: float) -> Box:
    """The strip beside `side` of `edge_box`, reaching up to :data:`MAX_DEPTH` pixels out
    and `margin` pixels past the side's two ends; it starts on the side itself so that
    the outline and tick marks touch its border."""
    h, w = shape
    x0, y0, x1, y1 = edge_box
    if side == "bottom":
        return (max(0, x0 - margin), y1, min(w, x1 + margin), min(h, y1 + MAX_DEPTH))
    if side == "top":
        return (max(0, x0 - margin), max(0, y0 - MAX_DEPTH), min(w, x1 + margin), y0)
    if side == "left":
        return (max(0, x0 - MAX_DEPTH), max(0, y0 - margin), x0, min(h, y1 + margin))
    return (x1, max(0, y0 - margin), min(w, x1 + MAX_DEPTH), min(h, y1 + margin))


def nearest_words(boxes: list[Box], edge_box: Box, side: str) -> list[int]:
    """Indices of the boxes that are labels of `side`: centred along the side (within
    its ends), of text size, in the row (or column) nearest the side, and close to it."""
    x0, y0, x1, y1 = edge_box
    horizontal = side in ("bottom", "top")
    lo, hi = (x0, x1) if horizontal else (y0, y1)
    slack = 2 + 0.01 * (hi - lo)
    long = max(x1 - x0, y1 - y0, 50)
    cand = []
    for i, (bx0, by0, bx1, by1) in enumerate(boxes):
        c = (bx0 + bx1) / 2 if horizontal else (by0 + by1) / 2
        sized = 3 <= by1 - by0 <= 0.15 * long and bx1 - bx0 < 0.5 * long
        if sized and lo - slack <= c <= hi + slack:
            cand.append(i)
    if not cand:
        return []
    height = float(np.median([boxes[i][3] - boxes[i][1] for i in cand]))
    gap = {
        "bottom": lambda b: b[1] - y1,
        "top": lambda b: y0 - b[3],
        "left": lambda b: x0 - b[2],
        "right": lambda b: b[0] - x1,
    }[side]
    first = min(cand, key=lambda i: gap(boxes[i]))
    if gap(boxes[first]) > 3 * height + 10:
        return []
    # the labels' row (column): words overlapping the nearest word across the side,
    # whether they are centred, left- or right-aligned
    k0, k1 = (1, 3) if horizontal else (0, 2)
    a0, a1 = boxes[first][k0], boxes[first][k1]
    return [i for i in cand if boxes[i][k0] < a1 and boxes[i][k1] > a0]


def ocr_reader(rgb: np.ndarray, page: np.ndarray, edge_box: Box) -> Reader:
    """A :data:`Reader` that finds words in the image and reads them by OCR."""

    def read(strip: Box, side: str) -> tuple[TextBox, ...]:
        words = find_words(rgb, strip, page, attached=FACING[side])
        keep = nearest_words([w.box for w in words], edge_box, side)
        return read_words(rgb, [words[i] for i in keep], page)

    return read


def text_reader(texts: list[TextBox], edge_box: Box) -> Reader:
    """A :data:`Reader` over known text (a PDF's text layer, in image pixels)."""

    def read(strip: Box, side: str) -> tuple[TextBox, ...]:
        sx0, sy0, sx1, sy1 = strip
        inside = [
            t
            for t in texts
            if sx0 <= t.box[0] and t.box[2] <= sx1 and sy0 <= t.box[1] and t.box[3] <= sy1
        ]
        keep = nearest_words([t.box for t in inside], edge_box, side)
        return tuple(inside[i] for i in keep)

    return read


def read_labels(
    reader: Reader, edge_box: Box, side: str, shape, parse, ticks: TickFinder | None = None
) -> Labels:
    """The words beside `side` of `edge_box`, their parsed values and positions (each
    label's centre, or the tick mark beside it when `ticks` finds one, see
    :func:`snap_to_ticks`)."""
    length = (
        (edge_box[2] - edge_box[0]) if side in ("bottom", "top") else (edge_box[3] - edge_box[1])
    )
    margin = 0.12 * length + 20
    words = reader(strip_box(edge_box, side, shape, margin), side)
    horizontal = side in ("bottom", "top")
    positions = np.array([w.centre[0] if horizontal else w.centre[1] for w in words])
    if ticks is not None and words:
        sizes = np.array(
            [(w.box[2] - w.box[0]) if horizontal else (w.box[3] - w.box[1]) for w in words]
        )
        positions = snap_to_ticks(positions, sizes, ticks(side))
    return Labels(
        side,
        tuple(words),
        tuple(parse(w.text) for w in words),
        tuple(float(p) for p in positions),
    )


#: Finds the tick marks of a side: ``ticks(side)`` -> positions along it.
TickFinder = Callable[[str], np.ndarray]
#: Widest tick mark (pixels) and farthest a label's centre may be moved onto one.
TICK_WIDTH = 4
TICK_SNAP = 2.0


def tick_finder(rgb: np.ndarray, page: np.ndarray, edge_box: Box, depth: int = 10) -> TickFinder:
    """A :data:`TickFinder` for the sides of `edge_box` (the frame's inside, or a bar).

    Tick marks are short strokes across the side, standing out of its outline: in the
    rows just beyond the outline (the rows most of whose length is ink), the runs of ink
    at most :data:`TICK_WIDTH` pixels wide. Their position is their darkness-weighted
    centre, to a fraction of a pixel.
    """
    x0, y0, x1, y1 = (round(v) for v in edge_box)
    h, w = rgb.shape[:2]

    def find(side: str) -> np.ndarray:
        if side == "bottom":
            band, start = rgb[y1 : min(h, y1 + depth), max(0, x0 - 2) : x1 + 2], max(0, x0 - 2)
        elif side == "top":
            band, start = (
                rgb[max(0, y0 - depth) : y0][::-1, max(0, x0 - 2) : x1 + 2],
                max(0, x0 - 2),
            )
        elif side == "left":
            band = rgb[max(0, y0 - 2) : y1 + 2, max(0, x0 - depth) : x0][:, ::-1].transpose(1, 0, 2)
            start = max(0, y0 - 2)
        else:
            band = rgb[max(0, y0 - 2) : y1 + 2, x1 : min(w, x1 + depth)].transpose(1, 0, 2)
            start = max(0, y0 - 2)
        if band.size == 0:
            return np.zeros(0)
        dark = np.abs(band.astype(np.float64) - page).max(axis=2) / 255.0
        ink = dark > 0.35
        outline = ink.mean(axis=1) > 0.6
        k = 0
        while k < len(outline) and (outline[k] or k < 1):
            k += 1
        rows = dark[k : k + 3]
        if rows.shape[0] == 0:
            return np.zeros(0)
        profile = rows.max(axis=0)
        on = profile > 0.35
        found = []
        for a, b in _runs(on):
            wgt = profile[max(0, a - 1) : b + 1]
            crisp = np.sort(wgt)[-2] < 0.15 * wgt.max() if wgt.size > 1 else True
            if b - a <= TICK_WIDTH and not crisp:
                idx = np.arange(max(0, a - 1), max(0, a - 1) + wgt.size) + 0.5
                found.append(start + float(np.sum(idx * wgt) / np.sum(wgt)))
        # at the side's ends the perpendicular sides' lines stand out as much as a tick
        ends = (x0, x1) if side in ("bottom", "top") else (y0, y1)
        found = np.array(found)
        if found.size:
            found = found[np.abs(found[:, None] - np.array(ends)).min(axis=1) > 4]
        return unsnap_ticks(found)

    return find


#: Ticks whose centres all lie this close (original pixels) to pixel centres were snapped.
SNAPPED_WITHIN = 0.1
#: Zooms under which snapped ticks are recognised: none, and the display scalings a
#: screenshot is taken at (125, 150, 175 %). Whole zooms are left out: twice a tick
#: snapped to a pixel centre is a tick snapped to an odd pixel edge, which even-width
#: lines are, unbiased.
SNAP_ZOOMS = (1.0, 1.25, 1.5, 1.75)


def unsnap_ticks(ticks: np.ndarray) -> np.ndarray:
    """Tick positions undone from Agg's line snapping when every tick of a side (three or
    more) is centred on a pixel centre, in the image or in the image before a zoom of
    :data:`SNAP_ZOOMS`.

    matplotlib's Agg backend snaps a straight line of odd width to the pixel centre at
    ``floor(x + 0.5) + 0.5``: the tick seen at ``k + 0.5`` was meant anywhere in
    ``[k - 0.5, k + 0.5)``, on average at ``k`` -- half a pixel before where it is drawn
    (measured on the benchmark's matplotlib figures: every such tick 0 to 1 px after its
    true position), ``z / 2`` pixels once the figure is zoomed by ``z``. Antialiased
    renderers (GMT through Ghostscript, poppler) place ticks at any fraction of a pixel,
    so all of three or more (four or more for a zoom) falling within
    :data:`SNAPPED_WITHIN` of a pixel centre is the snapping's mark.

    Parameters
    ----------
    ticks : ndarray of shape (n,)
        Positions along a side (GDAL pixel convention).

    Returns
    -------
    ndarray of shape (n,)
    """
    ticks = np.asarray(ticks, float)
    if ticks.size < 3:
        return ticks
    for zoom in SNAP_ZOOMS:
        if zoom != 1.0 and ticks.size < 4:  # a chance alignment of three: 1 in 125
            continue
        if np.all(np.abs(np.mod(ticks / zoom, 1.0) - 0.5) <= SNAPPED_WITHIN):
            return ticks - zoom / 2
    return ticks


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) of each run of True."""
    padded = np.r_[False, mask, False].astype(np.int8)
    d = np.diff(padded)
    return list(zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1), strict=True))


def snap_to_ticks(positions: np.ndarray, sizes: np.ndarray, ticks: np.ndarray) -> np.ndarray:
    """Each label's position moved half way to the one tick mark within :data:`TICK_SNAP`
    pixels and a quarter of its size of it; unchanged where there is none or more than
    one.

    A label is centred on its tick to a pixel or so, while renderers draw ticks at whole
    pixels (matplotlib snaps them to pixel centres, half a pixel off on average): the
    mean of the two halves either error (measured in ``benchmarks/inference_accuracy.py``).
    """
    out = np.asarray(positions, float).copy()
    if ticks.size == 0:
        return out
    for i, (p, size) in enumerate(zip(out, sizes, strict=True)):
        near = ticks[np.abs(ticks - p) <= min(TICK_SNAP, 0.25 * size)]
        if near.size == 1:
            out[i] = 0.5 * (p + near[0])
    return out


# --------------------------------------------------------------------------- georeference


@dataclass(frozen=True)
class GeorefInference:
    """The georeference read from the frame's labels."""

    lon: AxisFit
    lat: AxisFit
    gcps: GCPSet
    crs: str | None
    corner_error: float = 0.0

    def to_dict(self) -> dict:
        return {
            "longitude": self.lon.to_dict(),
            "latitude": self.lat.to_dict(),
            "crs": self.crs or "EPSG:4326",
            "corner_standard_error_px": round(self.corner_error, 3),
            "gcps": [[g.col, g.row, g.x, g.y] for g in self.gcps],
        }


CRS_OF_MODEL = {"linear": None, "mercator": "EPSG:3857", "mercator_ellipsoidal": "EPSG:3395"}
#: Largest standard error (pixels) the labels' fits may give a corner of the frame: past
#: it the georeference cannot be trusted to the pixel, and the run asks for GCPs.
MAX_CORNER_ERROR = 1.0


def corner_error(lon: AxisFit, lat: AxisFit, frame: Box) -> float:
    """Standard error (pixels) of the frame corner the labels place worst.

    The two axes' :meth:`AxisFit.standard_error` at the frame's sides, combined as the
    length of the (col, row) error: ``hypot(max over left/right, max over top/bottom)``.
    """
    x0, y0, x1, y1 = frame
    col = float(np.max(lon.standard_error(np.array([x0, x1]))))
    row = float(np.max(lat.standard_error(np.array([y0, y1]))))
    return math.hypot(col, row)


def infer_georef(
    reader: Reader, frame: Box, shape: tuple[int, int], ticks: TickFinder | None = None
) -> GeorefInference:
    """GCPs from the longitude and latitude labels beside `frame`.

    Raises
    ------
    GCPError
        When either axis has no consistent labels; names `gcps`.
    """
    box = ",".join(f"{v:g}" for v in frame)
    lon_fit, why_lon = None, f"no labels beside the frame found at {box}"
    for side in SIDES["lon"]:
        labels = read_labels(
            reader, frame, side, shape, lambda t: parse_coordinate(t, "lon"), ticks
        )
        pos, val, words = labels.numbered()
        lon_fit = fit_axis(pos, val, words, axis="lon", side=side)
        if lon_fit is not None:
            break
        if pos.size:
            why_lon = _why_not(pos, val) + " below/above the frame"
    lat_fit, why_lat = None, f"no labels beside the frame found at {box}"
    for side in SIDES["lat"]:
        labels = read_labels(
            reader, frame, side, shape, lambda t: parse_coordinate(t, "lat"), ticks
        )
        lat_fit, why = fit_latitudes(labels)
        if lat_fit is not None:
            break
        if labels.numbered()[0].size:
            why_lat = why + " beside the frame"
    if lon_fit is None or lat_fit is None:
        what, why = ("longitude", why_lon) if lon_fit is None else ("latitude", why_lat)
        raise GCPError(
            f"no ground control points, and the map's {what}s could not be read from its "
            f"tick labels ({why}): give `gcps` (a CSV with col,row,lon,lat)"
        )
    corner = corner_error(lon_fit, lat_fit, frame)
    if corner > MAX_CORNER_ERROR:
        raise GCPError(
            f"no ground control points, and the map's tick labels place the frame's corners "
            f"only to {corner:.1f} px (standard error of the fits of "
            f"{len(lon_fit.values)} longitude and {len(lat_fit.values)} latitude labels, "
            f"over {MAX_CORNER_ERROR:g} px): give `gcps` (a CSV with col,row,lon,lat)"
        )
    lons = np.array(sorted(set(lon_fit.values)))
    lats = np.array(sorted(set(lat_fit.values)))
    glon, glat = np.meshgrid(lons, lats)
    cols = lon_fit.position(glon.ravel())
    rows = lat_fit.position(glat.ravel())
    gcps = GCPSet.from_arrays(cols, rows, glon.ravel(), glat.ravel())
    gcps = GCPSet(gcps.points, gcps.crs, "tick labels")
    return GeorefInference(lon_fit, lat_fit, gcps, CRS_OF_MODEL[lat_fit.model], corner)


# --------------------------------------------------------------------------- value range


@dataclass(frozen=True)
class RangeInference:
    """The value range read from the colorbar's labels."""

    fit: AxisFit
    vmin: float
    vmax: float
    norm: str
    flip: bool
    bar: Box

    def to_dict(self) -> dict:
        return {
            "vmin": self.vmin,
            "vmax": self.vmax,
            "norm": self.norm,
            "flip": self.flip,
            "colorbar_box": [round(v, 2) for v in self.bar],
            "labels": self.fit.to_dict(),
        }


def fit_colorbar(
    labels: Labels, bar: Box, orientation: str, ends_box: Box | None = None
) -> tuple[RangeInference | None, str]:
    """vmin, vmax and norm from the colorbar's labels, or None and why not.

    The range is the labels' scale at the bar's ends: those of `ends_box` (the bar's
    area, :attr:`geodigitize.colorbar.ColorbarProfile.ends`) when given, else of `bar`.
    """
    pos, val, words = labels.numbered()
    if pos.size < 2:
        return None, f"read {pos.size} number{'s' if pos.size != 1 else ''} beside it"
    vertical = orientation == "vertical"
    edge = bar if ends_box is None else ends_box
    ends = np.array([edge[3], edge[1]]) if vertical else np.array([edge[0], edge[2]])
    fits = []
    lin = fit_axis(pos, val, words, axis="value", side=labels.side)
    if lin is not None:
        fits.append(("linear", lin, lin.value(ends)))
    if np.all(val > 0):
        lg = fit_axis(pos, np.log10(val), words, axis="log10", side=labels.side)
        if lg is not None and (lin is None or _rms(lg) < 0.5 * _rms(lin)):
            fits = [("log", lg, 10.0 ** lg.value(ends))]
    if not fits:
        return None, _why_not(pos, val).replace("evenly placed", "placed in one scale")
    norm, fit, end_values = fits[0]
    if len(fit.values) == 2:
        length = abs(ends[1] - ends[0])
        near = min(abs(p - e) for p in fit.positions for e in ends)
        if near > 0.05 * length:
            return None, "read only 2 numbers beside it, neither at an end"
    px = SNAP_PX / abs(float(fit.b)) if norm == "linear" else 0.0
    extremes = np.array([min(fit.values), max(fit.values)])
    end_values = _snap(end_values, extremes if norm == "linear" else None, px)
    flip = bool(end_values[0] > end_values[1])
    vmin, vmax = float(min(end_values)), float(max(end_values))
    if not vmax > vmin:
        return None, "its labels give no range"
    return RangeInference(fit, vmin, vmax, norm, flip, bar), ""


#: A bar's end within this many pixels of its first or last label is at that label (how
#: far a bar's end is known on resampled or rasterized figures).
SNAP_PX = 2.5


def _snap(ends: np.ndarray, labels: np.ndarray | None, within: float = 0.0) -> np.ndarray:
    """Bar-end values within 0.3 % of the range (or `within`: the value of
    :data:`SNAP_PX` along the bar) of an end label's value take that value."""
    if labels is None:
        return ends
    span = abs(ends[1] - ends[0])
    out = ends.copy()
    for i, v in enumerate(ends):
        k = np.argmin(np.abs(labels - v))
        if abs(labels[k] - v) <= max(0.003 * span, within):
            out[i] = labels[k]
    return out


def infer_range(
    reader: Reader,
    bar: Box,
    orientation: str,
    shape,
    ticks: TickFinder | None = None,
    ends_box: Box | None = None,
) -> RangeInference:
    """The colorbar's value range from the labels beside its long sides, at the ends of
    `ends_box` (default `bar`: see :func:`fit_colorbar`).

    Raises
    ------
    ColorScaleError
        Naming `vmin` and `vmax`.
    """
    sides = ("right", "left") if orientation == "vertical" else ("bottom", "top")
    why = "no labels beside it"
    for side in sides:
        labels = read_labels(reader, bar, side, shape, parse_value, ticks)
        found, reason = fit_colorbar(labels, bar, orientation, ends_box)
        if found is not None:
            return found
        if labels.words:
            why = reason
    raise ColorScaleError(
        f"could not read the colorbar's value range from its labels ({why}): give `vmin` and `vmax`"
    )


# --------------------------------------------------------------------------- sampled bar

#: Least share of the figure's coloured pixels near a sampled bar's colours (among those
#: within :data:`COVER_REACH` of them) for the bar to decode the map: clean figures
#: measure 0.86-1.0, resized ones 0.78-0.95, JPEGs (with their noise) 0.7-0.9.
MIN_COVERAGE = 0.6
#: RGB distance within which a pixel is near the bar's colours: this plus twice the
#: bar's noise.
COVER_NEAR = 2.0
#: Pixels farther than this from the bar's colours are not the map's (lines, text, land).
COVER_REACH = 24.0


def sampled_bar_coverage(rgb, decoded, bar: Box, page, noise: float = 0.0) -> float:
    """Share of the figure's coloured pixels the colours sampled from its bar explain.

    Among the pixels off the page colour (more than 6 in a channel), outside `bar`, and
    within :data:`COVER_REACH` of the bar's colours (the map's pixels and the blends at
    their edges; lines, text and land lie farther), the share within
    ``COVER_NEAR + 2 * noise``. A map drawn in other colours than its bar (shaded
    relief, transparency, another colormap) leaves most of its pixels a few units off
    the bar's colours: decoded by them, they would be lost, or decoded wrong, silently.

    Parameters
    ----------
    rgb : ndarray of shape (H, W, 3) and dtype uint8
    decoded : Decoded
        `rgb` decoded with the sampled scale.
    bar : (x0, y0, x1, y1)
        Left out (with its margin).
    page : ndarray of shape (3,)
    noise : float
        The bar's noise (:attr:`geodigitize.colorbar.ColorbarProfile.noise`).

    Returns
    -------
    float
        In 0-1; 1 when no pixel is near.
    """
    off = np.zeros(rgb.shape[:2], dtype=bool)
    for k in range(3):
        off |= np.abs(rgb[..., k].astype(np.int16) - int(page[k])) > 6
    dist = decoded.distance
    cand = off & (dist <= COVER_REACH) & ~region_mask(dist.shape, bar)
    total = int(cand.sum())
    if total == 0:
        return 1.0
    return float((dist[cand] <= COVER_NEAR + 2.0 * noise).sum() / total)


def check_sampled_bar(rgb, decoded, found, page) -> float:
    """The coverage of a sampled bar (:func:`sampled_bar_coverage`), or an error.

    Raises
    ------
    ColorScaleError
        When it is below :data:`MIN_COVERAGE`, naming `cmap` and `colorbar`.
    """
    cover = sampled_bar_coverage(rgb, decoded, found.search_box, page, found.profile.noise)
    if cover < MIN_COVERAGE:
        box = ",".join(f"{v:g}" for v in found.box)
        raise ColorScaleError(
            f"the colours of the colorbar at {box} (no known colormap) explain only "
            f"{100 * cover:.0f} % of the map's colours near them, so the map would lose "
            "data: give the colormap as `cmap` (`geodigitize colormaps` lists them), or "
            "the bar that draws the map as `colorbar`"
        )
    return cover


# --------------------------------------------------------------------------- record


@dataclass(frozen=True)
class Inferred:
    """What a run read from the figure, with its evidence.

    Attributes
    ----------
    frame : (x0, y0, x1, y1) or None
    colorbar : (x0, y0, x1, y1) or None
        The bar found (its coloured area).
    georef : GeorefInference or None
    value_range : RangeInference or None
    cmap : CmapMatch or None
        The named colormap the bar matched, if any.
    seconds, cpu_seconds : float
        Wall-clock and CPU (all threads) time the inference took.
    labels_from : {"ocr", "pdf text"}
        Where the labels were read.
    bar_coverage : float or None
        For colours sampled from the bar, the share of the map's colours they explain
        (:func:`sampled_bar_coverage`).
    """

    frame: Box | None = None
    colorbar: Box | None = None
    georef: GeorefInference | None = None
    value_range: RangeInference | None = None
    cmap: CmapMatch | None = None
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    labels_from: str = "ocr"
    bar_coverage: float | None = None

    def describe(self) -> list[str]:
        """One line per inference, for the run's summary."""
        out = []
        if self.frame is not None:
            out.append(f"frame {','.join(f'{v:g}' for v in self.frame)}")
        if self.georef is not None:
            out.append(self.georef.lon.describe())
            out.append(self.georef.lat.describe())
            out.append(
                f"frame corners placed to {self.georef.corner_error:.2f} px (standard error)"
            )
        if self.value_range is not None:
            r = self.value_range
            out.append(
                f"range {r.vmin:g}..{r.vmax:g} ({r.norm}) from {len(r.fit.values)} colorbar labels"
            )
        if self.colorbar is not None:
            out.append(
                f"colormap {self.cmap.name} (the bar within {self.cmap.median:.1f} RGB)"
                if self.cmap is not None
                else "colours sampled from the colorbar"
                + (
                    f" (explain {100 * self.bar_coverage:.0f} % of the map's colours)"
                    if self.bar_coverage is not None
                    else ""
                )
            )
        return out

    def to_dict(self) -> dict:
        return {
            "frame": None if self.frame is None else [round(v, 2) for v in self.frame],
            "colorbar": None if self.colorbar is None else [round(v, 2) for v in self.colorbar],
            "georeference": None if self.georef is None else self.georef.to_dict(),
            "value_range": None if self.value_range is None else self.value_range.to_dict(),
            "colormap": None if self.cmap is None else self.cmap.to_dict(),
            "labels_from": self.labels_from,
            "bar_coverage": None if self.bar_coverage is None else round(self.bar_coverage, 4),
            "seconds": round(self.seconds, 3),
            "cpu_seconds": round(self.cpu_seconds, 3),
            "summary": self.describe(),
        }


@dataclass(frozen=True)
class Missing:
    """What the user left out that :func:`infer_missing` reads from the figure.

    Attributes
    ----------
    scale : bool
        No colour scale (`cmap`, `colorbar` or `cmap_file`).
    value_range : bool
        No value range (`vmin`/`vmax`, a colour-table file or class `levels`).
    georef : bool
        No GCPs, and the image carries no georeference of its own.
    """

    scale: bool
    value_range: bool
    georef: bool

    def __bool__(self) -> bool:
        return self.scale or self.value_range or self.georef


def missing(opts, gcpset, path=None) -> Missing:
    """What `opts` and `gcpset` leave for :func:`infer_missing` to read from the figure.

    Parameters
    ----------
    opts : Options
    gcpset : GCPSet or None
    path : str or Path, optional
        The image file, whose world file or GeoTIFF georeference stands for GCPs.
    """
    scale = opts.cmap is None and opts.colorbar is None and opts.cmap_file is None
    value_range = (
        opts.cmap_file is None and opts.levels is None and (opts.vmin is None or opts.vmax is None)
    )
    georef = gcpset is None and not (
        path and from_georeferenced_image(path, opts.crs, kind=opts.transform)
    )
    return Missing(scale, value_range, georef)


def infer_missing(img, opts, gcpset, source=None):
    """Infer what `opts` and `gcpset` leave out; return them completed, and the record.

    Parameters
    ----------
    img : MapImage
    opts : Options
    gcpset : GCPSet or None
    source : PDFSource, optional
        A rendered PDF page: labels come from its text layer, not OCR.

    Returns
    -------
    (Options, GCPSet or None, Inferred or None)
        None when nothing was inferred.

    Raises
    ------
    GeodigitizeError
        An inference that fails its checks, naming the option to give.
    """
    need = missing(opts, gcpset, img.path)
    if not need:
        return opts, gcpset, None
    need_scale, need_range, need_georef = need.scale, need.value_range, need.georef
    t0, c0 = time.perf_counter(), time.process_time()
    rgb = img.rgb
    page = page_color(rgb)
    changes: dict = {}
    bar = ends_box = None
    value_range = None
    if need_scale or (need_range and opts.colorbar is None):
        try:
            found = locate_colorbar(rgb)
        except ColorScaleError as err:
            if need_scale:
                raise
            raise ColorScaleError(
                f"give the value range with `vmin` and `vmax` (no colorbar to read it from: "
                f"{str(err).split(':')[0]})"
            ) from None
        bar, ends_box = found.box, found.profile.ends
        if need_scale:
            changes["colorbar"] = ",".join(f"{v:g}" for v in found.search_box)
        orientation = found.profile.orientation
    elif need_range and opts.colorbar is not None:
        box = opts.colorbar
        if isinstance(box, str) and box.strip().lower() == "auto":
            found = locate_colorbar(rgb)
            bar, orientation = found.box, found.profile.orientation
            ends_box = found.profile.ends
        else:
            prof = sample_colorbar(rgb, box)
            bar, orientation, ends_box = prof.box, prof.orientation, prof.ends
    texts = _page_texts(source, opts)
    if need_range and bar is not None:
        reader = texts_or_ocr(texts, rgb, page, bar)
        ticks = tick_finder(rgb, page, bar)
        value_range = infer_range(reader, bar, orientation, rgb.shape[:2], ticks, ends_box)
        changes.update(vmin=value_range.vmin, vmax=value_range.vmax)
        if value_range.norm != "linear":
            changes["norm"] = value_range.norm
        if value_range.flip and (need_scale or opts.colorbar is not None):
            changes["colorbar_flip"] = True
    cmap = None
    if need_scale and bar is not None and not found.profile.is_discrete:
        prof = found.profile
        pos = prof.positions[prof.valid]
        if changes.get("colorbar_flip"):
            pos = 1.0 - pos
        cmap = identify_cmap(prof.colors[prof.valid], pos, lines=prof.valid.size, noise=prof.noise)
        if cmap is not None:
            changes.update(cmap=cmap.name, colorbar=None, colorbar_flip=False)
    coverage = None
    if need_scale and bar is not None and cmap is None and not found.profile.is_discrete:
        sampled = build_scale(**replace(opts, **changes).scale_parameters(), image=rgb)
        decoded = decode(rgb, sampled)
        coverage = check_sampled_bar(rgb, decoded, found, page)
    frame = None
    georef = None
    if need_georef:
        frame = _frame(opts, changes, rgb, decoded if coverage is not None else None)
        reader = texts_or_ocr(texts, rgb, page, frame)
        georef = infer_georef(reader, frame, rgb.shape[:2], tick_finder(rgb, page, frame))
        gcpset = georef.gcps
        if opts.region is None:
            changes["region"] = frame
        if opts.crs is None and georef.crs is not None:
            changes["crs"] = georef.crs
    inferred = Inferred(
        frame,
        bar,
        georef,
        value_range,
        cmap,
        time.perf_counter() - t0,
        time.process_time() - c0,
        "pdf text" if texts else "ocr",
        coverage,
    )
    extra = {**opts.extra, "inferred": inferred.to_dict()}
    return replace(opts, **changes, extra=extra), gcpset, inferred


def _frame(opts, changes: dict, rgb, decoded=None) -> Box:
    """The map frame: the region given, or found with the colour scale's help
    (`decoded`: the image already decoded with that scale)."""
    region = opts.region
    if region is not None and region != "auto":
        return tuple(float(v) for v in region)
    scale = build_scale(**replace(opts, **changes).scale_parameters(), image=rgb)
    if decoded is None:
        decoded = decode(rgb, scale)
    try:
        return tuple(float(v) for v in find_frame(rgb, scale, decoded))
    except RegionError as err:
        raise GCPError(
            f"no ground control points, and no map frame to read lon/lat labels beside "
            f"({str(err).split(':')[0]}): give `gcps` (a CSV with col,row,lon,lat), or the "
            "frame as `region`"
        ) from None


def _page_texts(source, opts) -> list[TextBox] | None:
    """A rendered PDF page's text in image pixels, or None (read by OCR)."""
    if source is None or source.kind != "rendered" or not source.path:
        return None
    from .pdf import page_text

    boxes = page_text(source.path, source.page, dpi=source.dpi, password=opts.pdf_password)
    return [TextBox(b.text, tuple(float(v) for v in b.box), 1.0) for b in boxes] or None


def texts_or_ocr(texts, rgb, page, edge_box) -> Reader:
    """A reader of the PDF's text when there is one, else of the image by OCR."""
    if texts:
        return text_reader(texts, edge_box)
    return ocr_reader(rgb, page, edge_box)
