"""Decide which pixels are data, and record why the others are not.

The result of this stage is a ``reason`` array: 0 (:attr:`Reason.DATA`) for pixels to
keep, and a code saying why each other pixel was excluded (transparent, outside the
region, off the colour scale, an antialiased halo of a line or text). Keeping the reason
lets the report count each cause and the preview show it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

import numpy as np

from ._threads import WORKERS, in_order
from .colormap import ColorScale
from .colors import distinct_colors, pack_rgb, to_space, unpack_rgb
from .decode import Decoded, lookup_colors, scale_tree
from .errors import ColorScaleError, NoDataError
from .filters import any_in_window, masked_extreme, window_extreme
from .frame import find_frame
from .image import LUMA
from .jpeg import restore_pixels
from .reason import Reason
from .region import Box, region_mask
from .shading import FAR, TOLERANCE, explain_colors, neutral_entries, rival_distance

__all__ = [
    "AUTO",
    "AUTO_DISTANCE",
    "DEFAULT_CONSISTENCY",
    "DEFAULT_HALO_FRACTION",
    "DEFAULT_SMOOTHNESS",
    "EXCLUDE_TOL",
    "Exclusion",
    "MaskFit",
    "Reason",
    "auto_distances",
    "classify",
    "context_rows",
    "count_reasons",
    "excluded_pixels",
    "explain_shading",
    "field_colors",
    "fit_exclusion",
    "fit_mask",
    "inconsistent_pixels",
    "ink_end_pixels",
    "ink_ends",
    "mask_image",
    "mask_rows",
    "parse_colors",
    "require_data",
    "settle_ambiguous",
    "shadow_features",
    "thin_features",
    "value_outliers",
]

#: Value of `max_distance`, `halo_distance` or `region` asking for a choice fitted from
#: the image.
AUTO = "auto"
#: Default tolerance of `exclude_color`, per colour space.
EXCLUDE_TOL = {"rgb": 24.0, "lab": 8.0}
#: Bounds of the automatic `max_distance`, per colour space.
AUTO_DISTANCE = {"rgb": {"floor": 8.0, "cap": 40.0}, "lab": {"floor": 3.0, "cap": 15.0}}
#: Formats whose pixels carry JPEG's damage (smoothness check and restoration).
JPEG_FORMATS = ("JPEG", "MPO")

#: Smallest share of an excluded colour that makes a pixel next to it a halo pixel.
DEFAULT_HALO_FRACTION = 0.04
#: Default `smoothness` of :func:`classify` (times the image's typical local variation).
DEFAULT_SMOOTHNESS = 4.0
#: Added to the candidates' upper quartile of colour distance for the automatic
#: `halo_distance` (see :func:`auto_distances`).
HALO_MARGIN = 0.5
#: Colour distance of one level of rounding in each channel (sqrt 3, and a little).
ROUNDING = 1.75


def classify(
    distance: np.ndarray,
    *,
    max_distance: float,
    opaque: np.ndarray | None = None,
    region: Box | None = None,
    halo_distance: float | None = None,
    excluded: np.ndarray | None = None,
    values: np.ndarray | None = None,
    smoothness: float | None = None,
    color_id: np.ndarray | None = None,
    field: np.ndarray | None = None,
    inside: np.ndarray | None = None,
) -> np.ndarray:
    """Give every pixel a :class:`Reason`.

    Parameters
    ----------
    distance : ndarray of shape (H, W)
        Colour distance to the scale (see :func:`geodigitize.decode.decode`).
    max_distance : float
        Pixels farther than this from the scale are off-scale (lines, text, land, page).
    opaque : ndarray of shape (H, W) and dtype bool, optional
        False for fully transparent pixels.
    region : (x0, y0, x1, y1), optional
        Only pixels whose centre is inside are kept.
    halo_distance : float, optional
        Pixels touching (8-neighbourhood) an off-scale or excluded pixel are kept only when
        their distance is at most this: antialiasing mixes a line's colour into its
        neighbours, which then decode to wrong values. None disables the check.
    excluded : ndarray of shape (H, W) and dtype bool, optional
        Pixels of colours the user excluded, with their halo (see
        :func:`excluded_pixels`).
    values : ndarray of shape (H, W), optional
        Decoded values; needed by `smoothness`.
    smoothness : float, optional
        Mask pixels whose value departs from the median of their neighbours by more than
        `smoothness` times the image's typical local variation (JPEG ringing and chroma
        bleeding around lines and text; see :func:`value_outliers`). None (the
        default) disables the check.
    color_id : ndarray of shape (H, W) and dtype int, optional
        Each pixel's distinct colour (:attr:`geodigitize.decode.Decoded.color_id`). With
        it, the halo rule also masks pixels touching an off-scale or excluded pixel whose
        colour is not a colour of the field (see :func:`field_colors`), however close to
        the scale: an antialiased sliver of a line moves its pixel by a unit or two, as
        far as the scale itself may lie from the image's own colours, but to a colour
        that occurs nowhere away from lines and text.
    field : ndarray of shape (n_colors,) and dtype bool, optional
        The colours of the field, by colour id; found from this image with
        :func:`field_colors` when not given (a strip of a larger image must be given the
        whole image's).
    inside : ndarray of shape (H, W) and dtype bool, optional
        The pixels inside the region, when given as a mask (a window of rows of a larger
        image: :func:`geodigitize.region.region_axes`) rather than as `region`.

    Returns
    -------
    ndarray of shape (H, W) and dtype uint8
        :class:`Reason` codes; the first applicable reason in the order transparent,
        outside region, excluded colour, off scale, halo, inconsistent.
    """
    reason = np.zeros(distance.shape, dtype=np.uint8)
    off = distance > max_distance
    if region is not None:
        inside = region_mask(distance.shape, region)
    if smoothness is not None:
        if values is None:
            raise ValueError("classify(smoothness=...) needs the decoded values")
        candidates = ~off if excluded is None else ~off & ~excluded
        if inside is not None:
            candidates &= inside
        reason[value_outliers(values, candidates, smoothness)] = Reason.INCONSISTENT
    if excluded is not None:
        off_or_excluded = off | excluded
    else:
        off_or_excluded = off
    if halo_distance is not None:
        near = any_in_window(off_or_excluded, 3)
        at = np.flatnonzero(near & ~off_or_excluded)  # few: the pixels the rule judges
        halo = distance.ravel()[at] > halo_distance
        if color_id is not None:
            ids = color_id.ravel()[at]
            if field is None:
                candidates = opaque
                if inside is not None:
                    candidates = inside if candidates is None else candidates & inside
                wanted = np.zeros(int(color_id.max()) + 1 if color_id.size else 0, bool)
                wanted[ids] = True
                field = field_colors(
                    color_id, off_or_excluded, candidates, near=near, wanted=wanted
                )
            halo |= ~field[ids]
        reason.ravel()[at[halo]] = Reason.HALO
    reason[off] = Reason.OFF_SCALE
    if excluded is not None:
        reason[excluded] = Reason.EXCLUDED_COLOR
    if inside is not None:
        reason[~inside] = Reason.OUTSIDE_REGION
    if opaque is not None:
        reason[~opaque] = Reason.TRANSPARENT
    return reason


def field_colors(
    color_id: np.ndarray,
    ink: np.ndarray,
    candidates: np.ndarray | None = None,
    n_colors: int | None = None,
    *,
    near: np.ndarray | None = None,
    wanted: np.ndarray | None = None,
) -> np.ndarray:
    """Which distinct colours of an image are colours of its field.

    A colour is a field colour when it occurs on at least one candidate pixel with no ink
    pixel in its 3 x 3 neighbourhood. Colours that occur only next to ink are mixtures
    antialiasing made: a renderer paints a colour-mapped field from a table of colours
    (256 for matplotlib), each of which fills whole bands of the field, while a line that
    barely touches a pixel shifts it by a unit or two, to a colour found along lines and
    text only. Smooth images with many colours rarely have a field colour that occurs
    only next to ink, so the test then masks little.

    Parameters
    ----------
    color_id : ndarray of shape (H, W) and dtype int
        Each pixel's distinct colour, ``0 <= color_id < n_colors``.
    ink : ndarray of shape (H, W) and dtype bool
        Off-scale and excluded pixels.
    candidates : ndarray of shape (H, W) and dtype bool, optional
        Pixels whose colours may count (opaque, inside the region); all by default.
    n_colors : int, optional
        Length of the result (default ``color_id.max() + 1``, or ``wanted``'s length).
    near : ndarray of shape (H, W) and dtype bool, optional
        Pixels with ink in their 3 x 3 neighbourhood, if already known.
    wanted : ndarray of shape (n_colors,) and dtype bool, optional
        The colours asked about. The image is then scanned in interleaved sets of rows,
        stopping once each wanted colour has been met away from ink (for a figure drawn
        from a colour table, usually after the first set): the answer is exact for the
        wanted colours only.

    Returns
    -------
    ndarray of shape (n_colors,) and dtype bool
        True for the colours of the field.

    Examples
    --------
    >>> import numpy as np
    >>> ids = np.array([[0, 0, 0, 0, 0, 0],
    ...                 [0, 0, 0, 2, 1, 0],
    ...                 [0, 0, 0, 2, 1, 0]])
    >>> field_colors(ids, ids == 1).tolist()   # colour 2 occurs only next to ink
    [True, False, False]
    """
    if near is None:
        near = any_in_window(ink, 3)
    far = ~near if candidates is None else candidates & ~near
    if n_colors is None:
        if wanted is not None:
            n_colors = wanted.size
        else:
            n_colors = int(color_id.max()) + 1 if color_id.size else 0
    if wanted is None:
        return np.bincount(color_id[far], minlength=n_colors) > 0
    found = np.zeros(n_colors, dtype=bool)
    missing = wanted.copy()
    step = 16
    for r in range(min(step, color_id.shape[0])):
        ids = color_id[r::step][far[r::step]]
        found[ids] = True
        missing[ids] = False
        if not missing.any():
            break
    return found


def count_reasons(reason: np.ndarray) -> dict[str, int]:
    """Count pixels per :class:`Reason`, by lower-case name."""
    counts = np.bincount(reason.ravel(), minlength=len(Reason))
    return {r.name.lower(): int(counts[r]) for r in Reason}


# --------------------------------------------------------------------------- colours


def parse_colors(text: str, tol: float) -> np.ndarray:
    """Parse ``"black,white,#cccccc"`` into RGB colours.

    Parameters
    ----------
    text : str
        Comma-separated matplotlib colour names (``black``, ``w``, ``lightgrey``,
        ``tab:gray`` ...), ``#rgb`` or ``#rrggbb`` hex codes, or ``0.35``-style grey
        levels between 0 and 1.
    tol : float
        The distance within which a pixel counts as one of these colours (checked here).

    Returns
    -------
    ndarray of shape (N, 3) and dtype float64
        RGB in 0-255 units.

    Raises
    ------
    ColorScaleError
        For an unknown name or a negative tolerance.
    """
    from matplotlib import colors as mcolors

    if not np.isfinite(tol) or tol < 0:
        raise ColorScaleError(f"the exclude-colour tolerance must be >= 0, got {tol}")
    out = []
    for raw in (text or "").split(","):
        name = raw.strip()
        if not name:
            continue
        if re.fullmatch(r"[0-9a-fA-F]{6}", name):
            name = "#" + name
        try:
            rgb = mcolors.to_rgb(name)
        except ValueError:
            raise ColorScaleError(
                f"unknown colour {raw.strip()!r} in --exclude-color: use names such as "
                "black, white, grey, hex codes such as #cccccc, or grey levels such as 0.35"
            ) from None
        out.append(np.round(np.array(rgb) * 255))
    if not out:
        raise ColorScaleError("--exclude-color needs at least one colour, e.g. black,white")
    return np.array(out, dtype=np.float64)


def excluded_pixels(
    image: np.ndarray,
    colors: np.ndarray | str,
    tol: float,
    scale,
    color_space: str = "rgb",
    *,
    halo_fraction: float = DEFAULT_HALO_FRACTION,
    halo_width: int = 2,
    halo_min_distance: float | None = None,
) -> np.ndarray:
    """Pixels of excluded colours and of their antialiased halo.

    A pixel is excluded when its colour is within `tol` of an excluded colour. It is a
    halo pixel when it lies within `halo_width` pixels of an excluded pixel and its colour
    is, within `tol`, a mixture ``(1 - f) * S + f * E`` of a scale colour ``S`` and an
    excluded colour ``E`` with ``f >= halo_fraction``: that is what antialiasing paints
    where a black line or white text crosses the field.

    Parameters
    ----------
    image : ndarray of shape (H, W, 3) and dtype uint8
    colors : ndarray of shape (N, 3) or str
        Excluded RGB colours (0-255), or text for :func:`parse_colors`.
    tol : float
        Distance in `color_space` units.
    scale : ColorScale
        The colour scale the field was drawn with.
    color_space : {"rgb", "lab"}
    halo_fraction : float
        Smallest share of the excluded colour in a halo pixel.
    halo_width : int
        How far from an excluded pixel a halo reaches, in pixels.
    halo_min_distance : float, optional
        A halo pixel must also be at least this far from the scale (default ``tol / 8``):
        pixels drawn exactly in a scale colour next to a line are data, even when that
        colour happens to be a mixture of the excluded colour and another scale colour
        (``gist_earth`` is nearly all such mixtures of black).

    Returns
    -------
    ndarray of shape (H, W) and dtype bool

    Notes
    -----
    Colours are tested once per distinct colour of the image, not per pixel. Mixing is
    linear in the image's 8-bit sRGB values, as Agg and most renderers blend.
    """
    packed, inverse = distinct_colors(pack_rgb(image))
    exclusion = fit_exclusion(
        packed,
        colors,
        tol,
        scale,
        color_space,
        halo_fraction=halo_fraction,
        halo_width=halo_width,
        halo_min_distance=halo_min_distance,
    )
    return exclusion.pixels(inverse)


@dataclass(frozen=True, eq=False)
class Exclusion:
    """What `exclude_color` decides per distinct colour of an image.

    Attributes
    ----------
    excluded_ : ndarray of shape (n_colors,) and dtype bool
        Colours within the tolerance of an excluded colour.
    mixture_ : ndarray of shape (n_colors,) and dtype bool
        Colours that are an antialiased mixture of an excluded colour and a scale colour.
    halo_width : int
        How far from an excluded pixel a mixture is a halo pixel.
    """

    excluded_: np.ndarray
    mixture_: np.ndarray
    halo_width: int = 2

    @property
    def context(self) -> int:
        """Rows beyond a window that decide its pixels (the halo's reach)."""
        return max(self.halo_width, 0)

    def pixels(self, color_id: np.ndarray) -> np.ndarray:
        """Excluded pixels and their halo, of an image or a window of rows given with
        :attr:`context` rows on either side (exact in the window's core).

        Parameters
        ----------
        color_id : ndarray of shape (H, W) and dtype int
            Each pixel's distinct colour.

        Returns
        -------
        ndarray of shape (H, W) and dtype bool
        """
        # np.take: about twice as fast as indexing with int32 ids, which numpy widens first
        is_excluded = np.take(self.excluded_, color_id)
        if self.halo_width <= 0 or not self.mixture_.any() or not is_excluded.any():
            return is_excluded
        mixture = np.take(self.mixture_, color_id)
        n_mixture = int(np.count_nonzero(mixture))
        if n_mixture == 0:  # no pixel a halo could take
            return is_excluded
        side = 2 * self.halo_width + 1
        if n_mixture * side * side > is_excluded.size:  # many: one pass over the window
            return is_excluded | (any_in_window(is_excluded, side) & mixture)
        return is_excluded | _near_at(is_excluded, mixture, self.halo_width)


def _near_at(mask: np.ndarray, at: np.ndarray, reach: int) -> np.ndarray:
    """``any_in_window(mask, 2 * reach + 1) & at``, looking only around the pixels of
    `at` (few of them: each looks at its window's pixels; outside the image counts
    False)."""
    rows, cols = np.nonzero(at)
    height, width = mask.shape
    near = np.zeros(rows.size, dtype=bool)
    for dr in range(-reach, reach + 1):
        r = rows + dr
        r_in = (r >= 0) & (r < height)
        for dc in range(-reach, reach + 1):
            c = cols + dc
            inside = r_in & (c >= 0) & (c < width)
            near[inside] |= mask[r[inside], c[inside]]
    out = np.zeros(mask.shape, dtype=bool)
    out[rows[near], cols[near]] = True
    return out


def fit_exclusion(
    packed: np.ndarray,
    colors: np.ndarray | str,
    tol: float,
    scale,
    color_space: str = "rgb",
    *,
    halo_fraction: float = DEFAULT_HALO_FRACTION,
    halo_width: int = 2,
    halo_min_distance: float | None = None,
) -> Exclusion:
    """:func:`excluded_pixels`' decisions for each distinct colour of an image.

    Parameters
    ----------
    packed : ndarray of shape (n_colors,) and dtype uint32
        The image's distinct colours, packed (:func:`geodigitize.colors.pack_rgb`).
    colors, tol, scale, color_space, halo_fraction, halo_width, halo_min_distance
        As :func:`excluded_pixels`.

    Returns
    -------
    Exclusion
    """
    if isinstance(colors, str):
        colors = parse_colors(colors, tol)
    excl = np.asarray(colors, dtype=np.float64).reshape(-1, 3)
    rgb = unpack_rgb(packed).astype(np.float64)
    space = to_space(rgb, color_space)
    near = np.zeros(rgb.shape[0], dtype=bool)
    for e in to_space(excl, color_space):
        near |= np.sqrt(np.sum((space - e) ** 2, axis=1)) <= tol
    mixture = np.zeros(rgb.shape[0], dtype=bool)
    if halo_width > 0 and near.any():
        min_dist = tol / 8 if halo_min_distance is None else halo_min_distance
        off_scale = lookup_colors(rgb, scale, color_space)[0] > min_dist
        mixture = ~near & off_scale
        mixture[mixture] = _mixtures(
            rgb[mixture], excl, np.asarray(scale.colors), tol, color_space, halo_fraction
        )
    return Exclusion(near, mixture, halo_width)


def _mixtures(
    rgb: np.ndarray,
    excl: np.ndarray,
    scale_rgb: np.ndarray,
    tol: float,
    color_space: str,
    fraction: float,
    k: int = 12,
) -> np.ndarray:
    """Which colours lie within `tol` of a segment from an excluded to a scale colour.

    For each excluded colour ``E``, the scale colours' directions from ``E`` go in a
    KD-tree; each colour's `k` nearest directions are the candidate ``S``, and the
    closest point of segment ``E``-``S`` is measured in `color_space`.
    """
    from scipy.spatial import cKDTree

    out = np.zeros(rgb.shape[0], dtype=bool)
    space = to_space(rgb, color_space)
    for e in excl:
        to_s = scale_rgb - e
        len_s = np.linalg.norm(to_s, axis=1)
        ok = len_s > 1e-9
        if not ok.any():
            continue
        to_s, len_s = to_s[ok], len_s[ok]
        tree = cKDTree(to_s / len_s[:, None])
        to_p = rgb - e
        len_p = np.linalg.norm(to_p, axis=1)
        moving = len_p > 1e-9
        _, idx = tree.query(to_p[moving] / len_p[moving, None], k=min(k, len(to_s)))
        idx = idx.reshape(idx.shape[0], -1)
        seg = to_s[idx]  # (M, k, 3)
        a = np.einsum("mkc,mc->mk", seg, to_p[moving]) / len_s[idx] ** 2
        a = np.clip(a, 0.0, 1.0 - fraction)  # share of S
        mix = e + a[..., None] * seg
        d = np.linalg.norm(to_space(mix, color_space) - space[moving, None, :], axis=2)
        hit = np.zeros(rgb.shape[0], dtype=bool)
        hit[np.flatnonzero(moving)] = np.any(d <= tol, axis=1)
        out |= hit
    return out


def value_outliers(
    values: np.ndarray,
    candidates: np.ndarray,
    smoothness: float = DEFAULT_SMOOTHNESS,
    *,
    size: int = 5,
) -> np.ndarray:
    """Pixels whose value disagrees with their neighbourhood more than the image allows.

    The residual of each candidate pixel from the median of the candidate pixels in its
    ``size x size`` neighbourhood is compared with the image's typical residual (a robust
    spread over all candidates); pixels beyond `smoothness` times that are inconsistent.
    JPEG's chroma subsampling and ringing paint such pixels around lines and text.

    Parameters
    ----------
    values : ndarray of shape (H, W)
    candidates : ndarray of shape (H, W) and dtype bool
        Pixels that would otherwise be data.
    smoothness : float
    size : int
        Neighbourhood size (odd).

    Returns
    -------
    ndarray of shape (H, W) and dtype bool
    """
    if not candidates.any():
        return np.zeros(values.shape, dtype=bool)
    vals = np.where(candidates, values, np.nan).astype(np.float64)
    local = _nan_median_filter(vals, size)
    resid = np.abs(vals - local)
    spread = _robust_spread(resid[candidates & np.isfinite(resid)])
    # A perfectly smooth image still allows a thousandth of its value range.
    vals_c = vals[candidates]
    spread = max(spread, 1e-3 * float(np.ptp(vals_c)) if vals_c.size else 0.0)
    if spread <= 0:
        return np.zeros(values.shape, dtype=bool)
    return candidates & ~(resid <= smoothness * spread)


def _robust_spread(resid: np.ndarray) -> float:
    """A noise scale of non-negative residuals: their 68th percentile (1 sigma)."""
    if resid.size == 0:
        return 0.0
    return float(np.percentile(resid, 68.0))


#: Window elements sorted at once by the smoothness check's median filter (per thread).
MEDIAN_BLOCK = 2_000_000


def _nan_median_filter(vals: np.ndarray, size: int) -> np.ndarray:
    """Median of the finite values in each ``size x size`` window (NaN where none), a
    block of rows at a time on :data:`geodigitize._threads.WORKERS` threads."""
    pad = size // 2
    padded = np.pad(vals, pad, mode="constant", constant_values=np.nan)
    windows = np.lib.stride_tricks.sliding_window_view(padded, (size, size))
    out = np.full(vals.shape, np.nan)
    rows = max(1, MEDIAN_BLOCK // (vals.shape[1] * size * size))  # bound the memory

    def block(r0: int) -> None:
        part = np.sort(windows[r0 : r0 + rows].reshape(-1, size * size), axis=1)
        n = np.isfinite(part).sum(axis=1)
        lo = np.take_along_axis(part, np.maximum((n - 1) // 2, 0)[:, None], 1)[:, 0]
        hi = np.take_along_axis(part, np.minimum(n // 2, size * size - 1)[:, None], 1)[:, 0]
        med = np.where(n > 0, (lo + hi) / 2, np.nan)
        out[r0 : r0 + rows] = med.reshape(-1, vals.shape[1])

    for _ in in_order(block, range(0, vals.shape[0], rows), WORKERS):
        pass
    return out


def auto_distances(
    distance: np.ndarray,
    candidates: np.ndarray | None = None,
    *,
    floor: float = 8.0,
    cap: float = 40.0,
    counts: np.ndarray | None = None,
) -> tuple[float, float]:
    """Choose `max_distance` and `halo_distance` from how noisy the image's colours are.

    The noise is the median colour distance of the candidate pixels (inside the region,
    not excluded) that are within `cap` of the scale: about 1 RGB unit for a PNG decoded
    through its own colorbar, 0 through the colormap that drew it, 2 or more for a JPEG.
    Then ``max_distance = clip(12 * noise, floor, cap)`` and
    ``halo_distance = max(0.5, 1.5 * noise, q75 + HALO_MARGIN)``, in the units of
    `distance`'s colour space (use ``floor=3, cap=15`` for CIELAB), where ``q75`` is the
    candidates' upper quartile when nine in ten of them are within :data:`ROUNDING`, 0
    otherwise: a renderer that rounds a quarter or more of its colours one level off the
    table (poppler rasterising a PDF: median 0, upper quartile 1) puts data pixels beside
    lines at that distance too, and the halo rule must keep them; the upper quartile of
    a resampled image or a JPEG measures mixtures and damage, which it must not.

    Parameters
    ----------
    distance : ndarray
        Each pixel's distance to the scale; or, with `counts`, each distinct colour's.
    candidates : ndarray of bool, optional
        The pixels that count (same shape as `distance`; not with `counts`).
    floor, cap : float
    counts : ndarray of shape (C,) and dtype int, optional
        Candidate pixels of each distinct colour: the median is then weighted by them,
        which is exactly the per-pixel median, without a pass over the pixels (how one
        piece and strips both compute it).

    Returns
    -------
    (max_distance, halo_distance) : tuple of float
    """
    d = np.asarray(distance)
    if counts is None:
        if candidates is not None:
            d = d[candidates]
        d, counts = np.unique(d.ravel(), return_counts=True)
    keep = (np.asarray(counts) > 0) & (d <= cap)
    d, n = d[keep], np.asarray(counts)[keep]
    order = np.argsort(d, kind="stable")
    d, cum = d[order], np.cumsum(n[order])
    total = int(cum[-1]) if cum.size else 0
    if total == 0:
        noise = upper = 0.0
    else:  # the middle one or two, through np.median so rounding matches it
        middle = d[np.searchsorted(cum, [(total - 1) // 2, total // 2], side="right")]
        noise = float(np.median(middle if total % 2 == 0 else middle[:1]))
        upper, top = (
            float(d[i])
            for i in np.searchsorted(cum, [3 * total // 4, 9 * total // 10], side="right")
        )
        if top > ROUNDING:  # mixtures (resampling, JPEG), not the renderer's rounding
            upper = 0.0
    halo = max(0.5, 1.5 * noise, upper + HALO_MARGIN)
    return float(np.clip(12.0 * noise, floor, cap)), halo


#: Default largest colour residual (RGB units) of a pixel against its neighbourhood.
DEFAULT_CONSISTENCY = 8.0

#: A flagged pixel is cleared by the plane test only within this share of the tolerance:
#: one-sided extrapolation is less certain than a median of both sides (measured on the
#: accuracy benchmark: 0.75 keeps 99.9 % of data and lets 0.03 % of line pixels through
#: with a wrong value, against 0.13 % at 1.0).
RESTORE = 0.75


def _value_ranks(scale_values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rank of each scale entry by value, and the entry of each rank."""
    order = np.argsort(scale_values, kind="stable")
    rank = np.empty(order.size, dtype=np.int64)
    rank[order] = np.arange(order.size)
    return rank, order


def inconsistent_pixels(
    rgb: np.ndarray,
    index: np.ndarray,
    valid: np.ndarray,
    scale_colors: np.ndarray,
    scale_values: np.ndarray,
    *,
    tolerance: float = DEFAULT_CONSISTENCY,
    radius: int = 2,
    color_id: np.ndarray | None = None,
    id_rgb: np.ndarray | None = None,
    id_index: np.ndarray | None = None,
) -> np.ndarray:
    """Pixels whose colour departs from the colour of their neighbourhood's median value.

    Antialiasing mixes a line's or a label's colour into the pixels it touches. Many such
    mixtures lie close to *some* colour of the scale (a darkened red is another red of
    ``jet``), so colour distance alone decodes them, to wrong values. A data pixel of a
    smooth field, though, has nearly the colour the scale gives the median value of its
    neighbours; a mixture does not.

    Parameters
    ----------
    rgb : ndarray of shape (H, W, 3) and dtype uint8, or None
        The image; may be None when `color_id` and `id_rgb` are given.
    index : ndarray of shape (H, W)
        Decoded scale entry of each pixel.
    valid : ndarray of shape (H, W) and dtype bool
        Candidate data pixels (on the scale, inside the region).
    scale_colors : ndarray of shape (K, 3)
    scale_values : ndarray of shape (K,)
    tolerance : float
        Largest RGB distance between a pixel and its neighbourhood's colour.
    radius : int
        Neighbourhood half-size, in pixels.
    color_id : ndarray of shape (H, W) and dtype int, optional
        Each pixel's distinct colour, as :attr:`geodigitize.decode.Decoded.color_id`;
        found from `rgb` when not given.
    id_rgb : ndarray of shape (C, 3), optional
        RGB of each distinct colour (required with `color_id`).
    id_index : ndarray of shape (C,), optional
        Scale entry of each distinct colour, when every pixel's `index` is its colour's
        (``index == id_index[color_id]``, as decoded from colour ids): pixels are then
        ranked by colour, without widening `index` to gather with it.

    Returns
    -------
    ndarray of shape (H, W) and dtype bool
        True for valid pixels that fail the check.

    Notes
    -----
    The median is the median of the valid pixels of the ``2 radius + 1`` window (with
    edge pixels repeated at the image border when the whole window is valid). It lies
    between the smallest and the largest valid value of the window, so a pixel whose
    colour is within `tolerance` of every scale colour in that value range passes
    without its median being found; those ranges come from a minimum and a maximum
    filter, and the colours within tolerance of each distinct colour form one run of
    values around its own. Medians are computed only for the other pixels, few in a
    smooth field, so the check costs a few passes over the image.
    """
    if color_id is None:
        colors, color_id = distinct_colors(pack_rgb(rgb))
        id_rgb = unpack_rgb(colors)
    rank_of, entry_of_rank = _value_ranks(scale_values)
    k = scale_values.size
    # The narrowest type of the ranks (uint8 up to 256 entries: jet_r's 256 colours) with
    # a largest value `top` for the minimum's masked pixels; with 256 entries `top` is also
    # the last rank, which the minimum and the tests below allow (see `empty`).
    dtype = np.uint8 if k <= 256 else np.uint16 if k < 65535 else np.int64
    top = np.iinfo(dtype).max
    color_id = np.asarray(color_id).astype(np.intp, copy=False)
    # np.take with intp indices: about twice as fast as indexing (the same values)
    if id_index is not None:
        rank = np.take(rank_of[np.asarray(id_index)].astype(dtype), color_id)
    else:
        rank = np.take(rank_of.astype(dtype), np.asarray(index).astype(np.intp, copy=False))
    size = 2 * radius + 1
    # Value range (in ranks) of each pixel's valid neighbours; invalid pixels never
    # lower the minimum nor raise the maximum.
    low = masked_extreme(rank, valid, size, np.minimum, top)
    high = masked_extreme(rank, valid, size, np.maximum, 0)
    first, last = _tolerated_ranks(np.asarray(id_rgb), scale_colors, entry_of_rank, tolerance)
    # Never sure: `low < top` or `high > 0` holds for every valid pixel, whose own rank
    # lies in its window (low <= rank <= high); were both false, its rank would be both
    # `top` and 0.
    empty = first > last
    first = np.where(empty, top, first).astype(dtype)
    last = np.where(empty, 0, last).astype(dtype)
    unsure = low < np.take(first, color_id)
    unsure |= high > np.take(last, color_id)
    unsure &= valid
    rows, cols = _where(unsure)
    flagged = np.zeros(valid.shape, dtype=bool)
    if rows.size:
        med = _median_at(rank, valid, rows, cols, radius)
        expected = scale_colors[entry_of_rank[np.clip(med, 0, k - 1)]]
        here = id_rgb[color_id[rows, cols]]
        bad = _residual(here, expected) > tolerance
        flagged[rows[bad], cols[bad]] = True
        _second_look(
            flagged, color_id, id_rgb, index, valid, scale_colors, scale_values, tolerance, radius
        )
        flagged &= ~_in_flat_block(color_id, valid)
    return flagged


def _in_flat_block(color_id: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Valid pixels inside a 2 x 2 block of one colour.

    A cell of an ``imshow`` or ``pcolormesh`` field two or more pixels wide is such a
    block up to its edge, where the neighbourhood's median may be the next cell's value;
    an antialiased line's fringe is one pixel wide and is not.
    """
    same_right = (color_id[:, :-1] == color_id[:, 1:]) & valid[:, :-1] & valid[:, 1:]
    same_down = (color_id[:-1] == color_id[1:]) & valid[:-1] & valid[1:]
    block = same_right[:-1] & same_right[1:] & same_down[:, :-1] & same_down[:, 1:]
    out = np.zeros(valid.shape, dtype=bool)
    out[:-1, :-1] |= block
    out[:-1, 1:] |= block
    out[1:, :-1] |= block
    out[1:, 1:] |= block
    return out


def _tolerated_ranks(
    id_rgb: np.ndarray, scale_colors: np.ndarray, entry_of_rank: np.ndarray, tolerance: float
) -> tuple[np.ndarray, np.ndarray]:
    """First and last rank of the run of ranks around each colour's nearest entry whose
    scale colours are all within `tolerance` of it (an empty run, first > last, when the
    nearest entry itself is not)."""
    ranked = scale_colors[entry_of_rank].astype(np.float64)
    k = ranked.size // 3
    n = id_rgb.shape[0]
    colour = id_rgb.astype(np.float64)
    from scipy.spatial import cKDTree

    own = cKDTree(ranked).query(colour)[1] if n else np.zeros(0, dtype=np.int64)
    own = np.asarray(own, dtype=np.int64)
    ok = _residual(colour, ranked[own]) <= tolerance
    first = np.where(ok, own, k).astype(np.int64)
    last = np.where(ok, own, -1).astype(np.int64)
    for bound, step in ((first, -1), (last, 1)):
        todo = np.flatnonzero(ok)
        while todo.size:
            nxt = bound[todo] + step
            inside = (nxt >= 0) & (nxt < k)
            todo, nxt = todo[inside], nxt[inside]
            near = _residual(colour[todo], ranked[nxt]) <= tolerance
            todo, nxt = todo[near], nxt[near]
            bound[todo] = nxt
    return first, last


def _median_at(rank: np.ndarray, valid: np.ndarray, rows, cols, radius: int) -> np.ndarray:
    """Median rank of the valid neighbours of each (row, col) (valid pixels).

    Where the whole window is valid this is ``ndimage.median_filter(rank, 2 radius + 1,
    mode="nearest")``; elsewhere invalid and outside pixels are left out.
    """
    r = radius
    padded = np.pad(rank, r, mode="edge").astype(np.int64).ravel()
    ok_pad = np.pad(valid, r, mode="edge").ravel()  # edge pixels repeated
    in_pad = np.pad(np.ones(valid.shape, bool), r, constant_values=False).ravel()
    width = valid.shape[1] + 2 * r
    offsets = np.arange(2 * r + 1)
    window_at = (offsets[:, None] * width + offsets[None, :]).ravel()
    at = (rows * width + cols)[:, None] + window_at[None, :]  # window's top-left is (row, col)
    ok = ok_pad[at]
    full = ok.all(axis=1)
    ok &= full[:, None] | in_pad[at]
    window = np.where(ok, padded[at], np.iinfo(np.int64).max)
    window.sort(axis=1)
    n = ok.sum(axis=1)
    lo = np.take_along_axis(window, ((n - 1) // 2)[:, None], axis=1)[:, 0]
    hi = np.take_along_axis(window, (n // 2)[:, None], axis=1)[:, 0]
    return (lo + hi) // 2


def _residual(rgb: np.ndarray, expected: np.ndarray) -> np.ndarray:
    diff = np.asarray(rgb, dtype=np.float64) - expected
    return np.sqrt(np.einsum("ij,ij->i", diff, diff))


def _second_look(
    flagged: np.ndarray,
    color_id: np.ndarray,
    id_rgb: np.ndarray,
    index: np.ndarray,
    valid: np.ndarray,
    scale_colors: np.ndarray,
    scale_values: np.ndarray,
    tolerance: float,
    radius: int,
) -> None:
    """Clear flagged pixels that a plane through their kept neighbours predicts well.

    Beside a masked line the window is one-sided, and on a sloping field the median of a
    one-sided window is biased, so clean pixels next to lines fail the median test. A
    least-squares plane through the neighbours that passed is exact for a locally linear
    field, one-sided or not; an antialiased fringe still departs from it. Updates
    `flagged` in place; the neighbours that passed are the `valid` ones not flagged.
    """
    rows, cols = _where(flagged)
    if rows.size == 0:
        return
    pred, enough = _plane_predictions(index, scale_values, valid & ~flagged, rows, cols, radius)
    order = np.argsort(scale_values, kind="stable")
    pos = np.clip(np.searchsorted(scale_values[order], pred), 1, order.size - 1)
    lower, upper = scale_values[order][pos - 1], scale_values[order][pos]
    entry = order[np.where(pred - lower <= upper - pred, pos - 1, pos)]
    residual = _residual(id_rgb[color_id[rows, cols]], scale_colors[entry])
    fine = enough & (residual <= RESTORE * tolerance)
    flagged[rows[fine], cols[fine]] = False


def _plane_predictions(
    index: np.ndarray, scale_values: np.ndarray, kept: np.ndarray, rows, cols, radius: int
) -> tuple[np.ndarray, np.ndarray]:
    """Value at each (row, col) of the least-squares plane through its kept neighbours.

    Returns the predictions and whether enough neighbours (6, spread in both directions)
    supported them.
    """
    h, w = index.shape
    offsets = np.arange(-radius, radius + 1)
    dr, dc = (a.ravel().astype(np.float64) for a in np.meshgrid(offsets, offsets, indexing="ij"))
    rr = rows[:, None] + dr.astype(int)[None, :]
    cc = cols[:, None] + dc.astype(int)[None, :]
    ok = (rr >= 0) & (rr < h) & (cc >= 0) & (cc < w)
    rr, cc = np.clip(rr, 0, h - 1), np.clip(cc, 0, w - 1)
    wgt = (ok & kept[rr, cc]).astype(np.float64)
    v = np.where(wgt > 0, scale_values[index[rr, cc]], 0.0)
    design = np.stack([np.ones_like(dr), dr, dc], axis=1)  # (m, 3)
    normal = np.einsum("nm,mi,mj->nij", wgt, design, design)  # (n, 3, 3)
    rhs = np.einsum("nm,mi,nm->ni", wgt, design, v)  # (n, 3)
    det = np.linalg.det(normal)
    enough = (wgt.sum(axis=1) >= 6) & (np.abs(det) > 1e-9)
    normal[~enough] = np.eye(3)
    coef = np.linalg.solve(normal, rhs[..., None])[..., 0]
    return coef[:, 0], enough


def _where(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.nonzero`` of a 2-D mask; several times faster for sparse masks."""
    return np.divmod(np.flatnonzero(mask), mask.shape[1])


#: What to change when a reason masked every pixel, by :class:`Reason`.
_NO_DATA_FIX = {
    Reason.TRANSPARENT: "the image is transparent there: check `region`",
    Reason.OUTSIDE_REGION: "check `region`",
    Reason.OFF_SCALE: (
        "check the colour scale (`cmap`, `vmin`/`vmax`, `levels`) and `region`, or raise "
        "`max_distance`"
    ),
    Reason.EXCLUDED_COLOR: "check `exclude_color` and `exclude_tol`",
    Reason.HALO: "lower `halo_distance`, or turn the halo rule off",
    Reason.INCONSISTENT: "raise `consistency`, or turn the consistency check off",
    Reason.AMBIGUOUS: "the colours are shadings of far values: check `shaded`",
}


def require_data(reason_counts: np.ndarray, source: str, max_distance: float) -> None:
    """Raise :class:`NoDataError` naming what masked every pixel, if no pixel is data.

    Parameters
    ----------
    reason_counts : ndarray of shape (len(Reason),)
        Pixels per :class:`Reason` (``np.bincount(reason.ravel())``).
    source : str
        The image, as the message names it.
    max_distance : float
        The colour distance used (named when pixels were off the scale).
    """
    counts = np.zeros(len(Reason), dtype=np.int64)
    counts[: len(reason_counts)] = reason_counts
    if counts[Reason.DATA] > 0:
        return
    top = Reason(int(np.argmax(counts)))
    share = counts[top] / max(1, counts.sum())
    why = top.name.lower().replace("_", " ")
    if top == Reason.OFF_SCALE:
        why = f"off the colour scale (farther than `max_distance` {max_distance:g})"
    raise NoDataError(f"no pixel of {source} is data: {share:.0%} are {why}; {_NO_DATA_FIX[top]}")


# ------------------------------------------------------------------ the stage's decisions


@dataclass(frozen=True)
class MaskFit:
    """What the mask stage fitted from the whole image, apart from what the user gave.

    Attributes ending in ``_`` hold the value used; :attr:`automatic` names those that
    were chosen from the image rather than given, and how.

    Attributes
    ----------
    max_distance_ : float
    halo_distance_ : float or None
    region_ : (x0, y0, x1, y1) or None
    exclude_tol_ : float or None
    smoothness_ : float or None
    automatic : dict of parameter name to how it was chosen
    """

    max_distance_: float
    halo_distance_: float | None
    region_: Box | None
    exclude_tol_: float | None
    smoothness_: float | None
    automatic: dict = field(default_factory=dict)


def mask_image(
    rgb: np.ndarray,
    opaque: np.ndarray,
    decoded: Decoded,
    scale: ColorScale,
    *,
    jpeg: bool = False,
    color_space: str = "rgb",
    max_distance: float | str = AUTO,
    halo_distance: float | str | None = AUTO,
    consistency: float | None = DEFAULT_CONSISTENCY,
    exclude_color: str | None = None,
    exclude_tol: float | None = None,
    smoothness: float | None = None,
    region: Box | str | None = None,
) -> tuple[np.ndarray, Decoded, MaskFit]:
    """Give every pixel a :class:`Reason`, fitting what was left automatic.

    The stage's decisions, in order: excluded colours (tolerance per colour space,
    :data:`EXCLUDE_TOL`), the frame (``region="auto"``,
    :func:`geodigitize.frame.find_frame`), the colour distances from the image's noise
    (:func:`auto_distances` over the candidate pixels, bounds :data:`AUTO_DISTANCE`), the
    smoothness check for JPEG input, :func:`classify`, the consistency check
    (:func:`inconsistent_pixels`), and for JPEG the restoration of pixels its damage
    pushed off the scale (:func:`geodigitize.jpeg.restore_pixels`). The consistency
    check and restoration are skipped for class scales, whose values legitimately jump
    between neighbours.

    Parameters
    ----------
    rgb : ndarray of shape (H, W, 3) and dtype uint8
    opaque : ndarray of shape (H, W) and dtype bool
    decoded : Decoded
        :func:`geodigitize.decode.decode` of `rgb`.
    scale : ColorScale
    jpeg : bool
        The pixels carry JPEG damage (turns the smoothness check and restoration on
        unless `smoothness` is given).
    color_space, max_distance, halo_distance, consistency, exclude_color, exclude_tol,
    smoothness, region
        As :class:`geodigitize.options.Options`.

    Returns
    -------
    reason : ndarray of shape (H, W) and dtype uint8
    decoded : Decoded
        `decoded`, with JPEG's restored pixels decoded anew.
    fit : MaskFit
    """
    color_id = decoded.color_id
    if color_id is None:
        packed, color_id = distinct_colors(pack_rgb(rgb))
        decoded = replace(decoded, color_id=color_id, colors=packed)
    intensity = None
    if "shading" in scale.extra:  # each colour at its best shading, not the nearest step
        decoded, intensity = explain_shading(rgb, decoded, scale)
        color_id = decoded.color_id

    def counts(region, exclusion) -> np.ndarray:
        cand = opaque.copy()
        if region is not None:
            cand &= region_mask(opaque.shape, region)
        if exclusion is not None:
            cand &= ~exclusion.pixels(color_id)
        return np.bincount(color_id[cand], minlength=int(decoded.n_colors))

    fit, exclusion = fit_mask(
        decoded.colors,
        _colour_distance(decoded),
        scale,
        frame=lambda: find_frame(rgb, scale, decoded),
        counts=counts,
        jpeg=jpeg,
        color_space=color_space,
        max_distance=max_distance,
        halo_distance=halo_distance,
        exclude_color=exclude_color,
        exclude_tol=exclude_tol,
        smoothness=smoothness,
        region=region,
    )
    region = fit.region_
    excluded = None if exclusion is None else exclusion.pixels(color_id)
    inside = None if region is None else region_mask(opaque.shape, region)
    reason, decoded = mask_rows(
        decoded,
        scale,
        fit,
        opaque=opaque,
        inside=inside,
        excluded=excluded,
        consistency=consistency,
        rgb=rgb,
        intensity=intensity,
    )
    return reason, decoded, fit


def fit_mask(
    colors: np.ndarray,
    distance: np.ndarray,
    scale: ColorScale,
    *,
    frame,
    counts,
    jpeg: bool = False,
    color_space: str = "rgb",
    max_distance: float | str = AUTO,
    halo_distance: float | str | None = AUTO,
    exclude_color: str | None = None,
    exclude_tol: float | None = None,
    smoothness: float | None = None,
    region: Box | str | None = None,
) -> tuple[MaskFit, Exclusion | None]:
    """The mask stage's decisions about the whole image, in order, apart from what was
    given: excluded colours (tolerance per colour space, :data:`EXCLUDE_TOL`), the frame
    for ``region="auto"``, the colour distances from the image's noise
    (:func:`auto_distances` over the candidate pixels, bounds :data:`AUTO_DISTANCE`) and
    the smoothness check for JPEG input. One piece (:func:`mask_image`) and the strip
    engine (:mod:`geodigitize.strips`) both decide here; they differ only in how they
    look at the pixels, which they pass as functions.

    Parameters
    ----------
    colors : ndarray of shape (n_colors,) and dtype uint32
        The image's distinct colours, packed.
    distance : ndarray of shape (n_colors,)
        Each distinct colour's distance to the scale.
    scale : ColorScale
    frame : callable
        ``frame() -> (x0, y0, x1, y1)``: the frame (:func:`geodigitize.frame.find_frame`).
    counts : callable
        ``counts(region, exclusion) -> ndarray of shape (n_colors,)``: the candidate
        pixels of each colour (opaque, inside `region` if any, not excluded).
    jpeg : bool
    color_space, max_distance, halo_distance, exclude_color, exclude_tol, smoothness, region
        As :class:`geodigitize.options.Options`.

    Returns
    -------
    fit : MaskFit
    exclusion : Exclusion or None
    """
    auto: dict[str, str] = {}
    exclusion = None
    if exclude_color:
        exclusion, exclude_tol = exclusion_of(
            colors, exclude_color, exclude_tol, scale, color_space, auto
        )
    if isinstance(region, str) and region == AUTO:
        region, auto["region"] = frame(), AUTO
    if AUTO in (max_distance, halo_distance):
        max_distance, halo_distance = fitted_distances(
            distance, counts(region, exclusion), color_space, max_distance, halo_distance, auto
        )
    if smoothness is None and jpeg:
        smoothness, auto["smoothness"] = DEFAULT_SMOOTHNESS, "auto (JPEG)"
    elif smoothness == 0:  # off, JPEG restoration with it: the image may be streamed
        smoothness = None
    fit = MaskFit(
        float(max_distance),
        None if halo_distance is None else float(halo_distance),
        region,
        exclude_tol,
        smoothness,
        auto,
    )
    return fit, exclusion


def explain_shading(
    rgb: np.ndarray, decoded: Decoded, scale: ColorScale
) -> tuple[Decoded, np.ndarray]:
    """`decoded` with each colour's entry and distance from its best continuous shading
    (:func:`geodigitize.shading.explain_colors`), for a scale made by
    :func:`geodigitize.shading.shaded_scale`, and the intensity of that shading.

    Each distinct colour is explained once; pixels take their colour's answer, so a strip
    of rows gets the answer the whole image would.

    Returns
    -------
    decoded : Decoded
    intensity : ndarray of shape (H, W) and dtype float32
        The illumination intensity (0-1, 0.5 unshaded) that explains each pixel.
    """
    color_id, colors = decoded.color_id, decoded.colors
    if color_id is None or colors is None:
        colors, color_id = distinct_colors(pack_rgb(rgb))
    per_colour = np.zeros(colors.size, dtype=np.int64)
    per_colour[color_id] = decoded.index  # every pixel of a colour has its entry
    found = explain_colors(unpack_rgb(colors), per_colour, scale, decoded.color_space)
    index = found.index[color_id]
    return (
        replace(
            decoded,
            index=index,
            values=scale.values[index],
            distance=found.distance[color_id],
            color_id=color_id,
            colors=colors,
            n_colors=int(colors.size),
        ),
        found.intensity[color_id],
    )


#: Half-size of the window whose data pixels settle an ambiguous shaded pixel.
SETTLE_RADIUS = 3
#: Fewest data pixels in that window that settle one.
SETTLE_MIN = 5


def settle_ambiguous(
    reason: np.ndarray,
    decoded: Decoded,
    scale: ColorScale,
    *,
    max_distance: float,
    radius: int = SETTLE_RADIUS,
) -> Decoded:
    """Decide ambiguous shaded pixels from the data around them.

    An ambiguous pixel's colour is a shading of values far apart (the shaded scale's
    :attr:`~geodigitize.colormap.ColorScale.ambiguous` entries). A hillshaded field is
    smooth, so the median value ``m`` of the data pixels in the pixel's
    ``2 radius + 1`` window (at least :data:`SETTLE_MIN` of them) says which shading
    it is: among the table entries within ``d + 2 TOLERANCE`` of the colour (``d`` its
    own distance) whose value lies within :data:`geodigitize.shading.FAR` of ``m``, the
    nearest is refined (:func:`geodigitize.shading.explain_colors`); the pixel becomes
    data with that value when its distance is at most ``min(max_distance, d +
    TOLERANCE)`` and its value is still within ``FAR`` of ``m``. Others stay ambiguous
    (a grey that only a grey of the scale explains, inside land, stays so).

    Parameters
    ----------
    reason : ndarray of shape (H, W) and dtype uint8
        Updated in place: settled pixels become :attr:`Reason.DATA`.
    decoded : Decoded
        With colour ids (:func:`explain_shading`).
    scale : ColorScale
        A shaded scale.
    max_distance : float
    radius : int

    Returns
    -------
    Decoded
        `decoded` with the settled pixels' entries, values and distances.

    Notes
    -----
    A pixel's answer depends on the reasons of the pixels within `radius`, which depend
    on the window of :func:`thin_features` (4 pixels): a strip needs ``radius + 4``
    rows of overlap (7 by default).
    """
    rows, cols = _where(reason == Reason.AMBIGUOUS)
    if rows.size == 0:
        return decoded
    clear = _clearly_own(decoded, scale, decoded.color_id[rows, cols])
    reason[rows[clear], cols[clear]] = Reason.DATA
    grey = neutral_entries(scale)[decoded.index[rows, cols]]  # ink's colours: never settled
    rows, cols = rows[~clear & ~grey], cols[~clear & ~grey]
    med, count = _window_median(decoded.values, reason == Reason.DATA, rows, cols, radius)
    keep = count >= SETTLE_MIN
    rows, cols, med = rows[keep], cols[keep], med[keep]
    ids = decoded.color_id[rows, cols]
    own = decoded.distance[rows, cols].astype(np.float64)
    rgb = unpack_rgb(decoded.colors[ids]).astype(np.float64)
    entry, found = _nearest_entry_near(rgb, own, med, scale, decoded.color_space)
    rows, cols, med, own, rgb = rows[found], cols[found], med[found], own[found], rgb[found]
    best = explain_colors(rgb, entry[found], scale, decoded.color_space)
    far = FAR * abs(scale.range)
    ok = best.distance <= np.minimum(max_distance, own + TOLERANCE)
    ok &= np.abs(scale.values[best.index] - med) <= far
    rows, cols = rows[ok], cols[ok]
    index = decoded.index.copy()
    distance = decoded.distance.copy()
    index[rows, cols] = best.index[ok]
    distance[rows, cols] = best.distance[ok]
    reason[rows, cols] = Reason.DATA
    return replace(decoded, index=index, values=scale.values[index], distance=distance)


#: How much worse (RGB units) every far value must explain an ambiguous pixel's colour
#: than its own for the colour alone to decide it: twice the largest error 8-bit
#: rounding makes (0.87).
SEPARATION = 2.0


def _clearly_own(decoded: Decoded, scale: ColorScale, ids: np.ndarray) -> np.ndarray:
    """Which of the colours `ids` (one per ambiguous pixel) every far value explains
    worse by :data:`SEPARATION` than their own; never a neutral one."""
    uniq, inverse = np.unique(ids, return_inverse=True)
    at = np.zeros(decoded.n_colors, dtype=np.int64)
    flat = decoded.color_id.ravel()
    at[flat] = np.arange(flat.size)  # a pixel of each colour
    own = decoded.index.ravel()[at[uniq]]
    dist = decoded.distance.ravel()[at[uniq]].astype(np.float64)
    rgb = unpack_rgb(decoded.colors[uniq]).astype(np.float64)
    rival = rival_distance(rgb, own, dist, scale, decoded.color_space)
    clear = (rival > dist + SEPARATION) & ~neutral_entries(scale)[own]
    return clear[inverse]


def _window_median(values, ok, rows, cols, radius):
    """Median of the `ok` values in the ``2 radius + 1`` window of each (row, col), and
    how many there were (windows cut at the image's edge)."""
    r = radius
    padded = np.pad(np.where(ok, values, np.nan), r, constant_values=np.nan)
    offsets = np.arange(-r, r + 1)
    rr = (rows + r)[:, None, None] + offsets[None, :, None]
    cc = (cols + r)[:, None, None] + offsets[None, None, :]
    window = padded[rr, cc].reshape(rows.size, (2 * r + 1) ** 2)
    count = np.isfinite(window).sum(axis=1)
    med = np.full(rows.size, np.nan)
    some = count > 0
    med[some] = np.nanmedian(window[some], axis=1)
    return med, count


def _nearest_entry_near(rgb, own, med, scale, color_space):
    """For each colour, the nearest shaded-table entry within ``own + 2 TOLERANCE``
    whose value is within ``FAR`` of `med`; and whether there was one."""
    tree = scale_tree(scale, color_space)
    point = to_space(rgb, color_space)
    balls = tree.query_ball_point(point, own + 2 * TOLERANCE)
    sizes = np.fromiter((len(b) for b in balls), dtype=np.int64, count=len(balls))
    owner = np.repeat(np.arange(len(balls)), sizes)
    cand = np.fromiter((e for b in balls for e in b), dtype=np.int64, count=int(sizes.sum()))
    near = np.abs(scale.values[cand] - med[owner]) <= FAR * abs(scale.range)
    owner, cand = owner[near], cand[near]
    dist = np.linalg.norm(to_space(scale.colors[cand], color_space) - point[owner], axis=1)
    gap = np.abs(scale.values[cand] - med[owner])
    order = np.lexsort((dist, gap, owner))
    first_owner, first = np.unique(owner[order], return_index=True)
    entry = np.zeros(len(balls), dtype=np.int64)
    found = np.zeros(len(balls), dtype=bool)
    entry[first_owner] = cand[order][first]
    found[first_owner] = True
    return entry, found


def exclusion_of(
    packed: np.ndarray,
    exclude_color: str,
    exclude_tol: float | None,
    scale: ColorScale,
    color_space: str,
    auto: dict,
) -> tuple[Exclusion, float]:
    """`exclude_color`'s :class:`Exclusion` over the distinct colours `packed`, and the
    tolerance used (:data:`EXCLUDE_TOL` when `exclude_tol` is None, noted in `auto`)."""
    if exclude_tol is None:
        exclude_tol, auto["exclude_tol"] = EXCLUDE_TOL[color_space], AUTO
    colors = parse_colors(exclude_color, exclude_tol)
    return fit_exclusion(packed, colors, exclude_tol, scale, color_space), exclude_tol


def fitted_distances(
    distance: np.ndarray,
    counts: np.ndarray,
    color_space: str,
    max_distance: float | str,
    halo_distance: float | str | None,
    auto: dict,
) -> tuple[float | str, float | str | None]:
    """`max_distance` and `halo_distance` with each `"auto"` replaced by
    :func:`auto_distances` of the colours' distances weighted by their candidate pixels
    (bounds :data:`AUTO_DISTANCE`); the automatic ones are noted in `auto`."""
    fitted = auto_distances(distance, counts=counts, **AUTO_DISTANCE[color_space])
    if max_distance == AUTO:
        max_distance, auto["max_distance"] = fitted[0], AUTO
    if halo_distance == AUTO:
        halo_distance, auto["halo_distance"] = fitted[1], AUTO
    return max_distance, halo_distance


def context_rows(fit: MaskFit, scale: ColorScale, consistency: float | None, exclusion=None):
    """Rows beyond a window of rows that decide its pixels' reasons in :func:`mask_rows`
    (the depth of ``dask.array.map_overlap``), or None when the whole image does.

    The halo rule's 3 x 3 neighbourhood of ink looks 1 row away; an excluded colour's
    halo reaches :attr:`Exclusion.context` rows; the consistency check's window and its
    second look 2 * radius more; a shaded scale's thin- and shadow-feature rules (a closing
    and an opening of :data:`THIN_WINDOW`) 2 * (THIN_WINDOW // 2), and settling its
    ambiguous pixels from the data around them :data:`SETTLE_RADIUS` more. The smoothness check
    (:func:`value_outliers`, whose spread is a statistic of the whole image) and JPEG
    restoration (:func:`geodigitize.jpeg.restore_pixels` measures straight lines along
    whole columns) need the whole image.
    """
    if fit.smoothness_ is not None:
        return None
    rows = 1 if fit.halo_distance_ is not None else 0
    if exclusion is not None:
        rows += exclusion.context
    shaded = "shading" in scale.extra
    if consistency and not scale.is_discrete and not shaded:
        rows += 1 + 2 * CONSISTENCY_RADIUS
        if ink_ends(scale.colors, scale.values):  # the closing of ink_end_pixels
            rows += 2 * (INK_END_WINDOW // 2)
    if shaded:  # thin and shadow features; ambiguous pixels settled around them
        rows += 2 * (THIN_WINDOW // 2)
        if scale.ambiguous is not None:
            rows += SETTLE_RADIUS
    return rows


#: Neighbourhood half-size of the consistency check.
CONSISTENCY_RADIUS = 2


def mask_rows(
    decoded: Decoded,
    scale: ColorScale,
    fit: MaskFit,
    *,
    opaque: np.ndarray | None = None,
    inside: np.ndarray | None = None,
    excluded: np.ndarray | None = None,
    field: np.ndarray | None = None,
    consistency: float | None = DEFAULT_CONSISTENCY,
    rgb: np.ndarray | None = None,
    intensity: np.ndarray | None = None,
    id_index: np.ndarray | None = None,
) -> tuple[np.ndarray, Decoded]:
    """Give every pixel of an image, or of a window of its rows, a :class:`Reason`, with
    what was fitted from the whole image.

    A window given with :func:`context_rows` rows on either side gets, in its core rows,
    exactly what the whole image gets (how the strip engine,
    :mod:`geodigitize.strips`, masks; one piece is one window).

    Parameters
    ----------
    decoded : Decoded
        The window decoded, with ``color_id`` and ``colors`` (the whole image's table);
        its ``values`` may be None (taken from ``scale.values[decoded.index]`` by the
        rules that read them: the smoothness check, settling shaded pixels).
    scale : ColorScale
    fit : MaskFit
        The distances, smoothness and region used.
    opaque, inside, excluded : ndarray of shape (h, W) and dtype bool, optional
        The window's opaque pixels, pixels inside the region, pixels of excluded colours
        and their halo (:meth:`Exclusion.pixels`).
    field : ndarray of shape (n_colors,) and dtype bool, optional
        The whole image's field colours (:func:`field_colors`); found from the window
        when not given (exact for one piece only).
    consistency : float or None
        Tolerance of the consistency check (None: off).
    rgb : ndarray of shape (h, W, 3) and dtype uint8, optional
        The window's pixels; needed by a shaded scale's thin-feature rule and by JPEG
        restoration (``fit.smoothness_`` not None), found from the colour ids otherwise.
    intensity : ndarray of shape (h, W), optional
        For a shaded scale, the intensity explaining each pixel (:func:`explain_shading`);
        turns on the shadow-feature rule.
    id_index : ndarray of shape (n_colors,), optional
        Scale entry of each distinct colour, when ``decoded.index`` is
        ``id_index[decoded.color_id]`` (decoded from colour ids); saves the consistency
        check a pass over the pixels.

    Returns
    -------
    reason : ndarray of shape (h, W) and dtype uint8
    decoded : Decoded
        `decoded`, with JPEG's restored pixels decoded anew (``values`` None only when
        given so and no rule read or changed them).
    """
    shaded = "shading" in scale.extra  # neighbours differ by their shading, not by noise
    if decoded.values is None and (fit.smoothness_ is not None or shaded):
        decoded = replace(decoded, values=scale.values[decoded.index])
    reason = classify(
        decoded.distance,
        max_distance=fit.max_distance_,
        opaque=opaque,
        inside=inside,
        halo_distance=fit.halo_distance_,
        excluded=excluded,
        values=decoded.values,
        smoothness=fit.smoothness_,
        color_id=decoded.color_id,
        field=field,
    )
    needs_rgb = shaded or (fit.smoothness_ is not None and not scale.is_discrete)
    if needs_rgb and rgb is None:
        rgb = unpack_rgb(decoded.colors[decoded.color_id])
    if shaded:  # lines first: a line's pixel must not be settled by the field around it
        thin = thin_features(rgb)
        if intensity is not None:
            thin |= shadow_features(intensity, rgb, reason == Reason.DATA)
        reason[(reason == Reason.DATA) & thin] = Reason.HALO
    if scale.ambiguous is not None:  # shadings that far values share
        reason[(reason == Reason.DATA) & scale.ambiguous[decoded.index]] = Reason.AMBIGUOUS
        if shaded:
            decoded = settle_ambiguous(reason, decoded, scale, max_distance=fit.max_distance_)
    if consistency and not scale.is_discrete and not shaded:  # `decoded` as given
        _mask_inconsistent(reason, decoded, scale, consistency, id_index)
        _mask_ink_end(reason, decoded, scale)
    if fit.smoothness_ is not None and not scale.is_discrete:
        restored, index = restore_pixels(rgb, reason, decoded.index, scale.colors, scale.values)
        reason[restored] = Reason.DATA
        decoded = replace(decoded, index=index, values=scale.values[index])
    return reason, decoded


#: RGB distance from black or white within which a scale's end is the colour of ink.
INK_END_COLOUR = 24.0
#: A scale whose colours' median channel spread (max - min, RGB units) is below this is
#: grey: lines, labels and land fills of any grey decode as its data, and a dip in value
#: tells no more than the colour (on ``benchmarks/accuracy.py --cmap gray`` the rule
#: masked 2 % of the data beside grey land decoded as data, and 6 % of the overlays).
GREY_SCALE_SPREAD = 24.0
#: RGB distance from that ink colour within which a pixel may be ink or its edge.
INK_NEAR = 96.0
#: Window (odd, pixels) across which a line's dip in value is looked for: wider than the
#: ink and its antialiased edges.
INK_END_WINDOW = 7
#: Dip (share of the scale's entries) below the field around a pixel that makes it ink:
#: half a per cent, two entries of a 256-colour map (measured on the label benchmark's
#: ``magma`` figure: no data pixel dips that far across 7 pixels).
INK_END_DIP = 0.005


def ink_ends(scale_colors: np.ndarray, scale_values: np.ndarray) -> tuple[tuple[int, float], ...]:
    """The ends of a scale whose colour is the colour of ink (black or white).

    Parameters
    ----------
    scale_colors : ndarray of shape (K, 3)
    scale_values : ndarray of shape (K,)

    Returns
    -------
    tuple of (int, float)
        For each such end, -1 (its lowest value) or +1 (its highest), and the ink's grey
        level (0 or 255); empty for most colour maps, and for grey scales
        (:data:`GREY_SCALE_SPREAD`).
    """
    ordered = np.asarray(scale_colors, dtype=np.float64)[np.argsort(scale_values, kind="stable")]
    if np.median(np.ptp(ordered, axis=1)) < GREY_SCALE_SPREAD:
        return ()  # a grey scale: every grey ink is one of its colours
    ends = []
    for side, colour in ((-1, ordered[0]), (1, ordered[-1])):
        for grey in (0.0, 255.0):
            if np.linalg.norm(colour - grey) <= INK_END_COLOUR:
                ends.append((side, grey))
    return tuple(ends)


def ink_end_pixels(
    rgb: np.ndarray | None,
    index: np.ndarray,
    valid: np.ndarray,
    scale_colors: np.ndarray,
    scale_values: np.ndarray,
    *,
    size: int = INK_END_WINDOW,
    dip: float = INK_END_DIP,
    color_id: np.ndarray | None = None,
    id_rgb: np.ndarray | None = None,
) -> np.ndarray:
    """Valid pixels of a scale with a black or white end (:func:`ink_ends`) whose value
    dips towards that end, below (above) the field around them, across fewer than `size`
    pixels: ink, not data.

    A black line over a field near ``magma``'s dark end is a colour of the scale, and so
    are its antialiased edges (black mixed with a dark colour of the map is a darker one):
    colour alone decodes them, to values lower than the field's. A smooth field, though,
    does not dip across a few pixels; a line does. The dip is measured in ranks (the
    entries ordered by value, flipped for a high end) against a closing of the valid
    pixels' ranks, in which masked pixels never raise the field. Beside a masked pixel (a
    line's core, the frame's spine) the closing may see one side only: there the two
    pixels beyond, on the other side, and the line through them extrapolated to the pixel
    must not be higher either.

    Parameters
    ----------
    rgb : ndarray of shape (H, W, 3) and dtype uint8, or None
        The image; only pixels within :data:`INK_NEAR` of the ink's colour are looked
        at. May be None when `color_id` and `id_rgb` are given.
    index : ndarray of shape (H, W)
        Decoded scale entry of each pixel.
    valid : ndarray of shape (H, W) and dtype bool
        Pixels that are data so far.
    scale_colors : ndarray of shape (K, 3)
    scale_values : ndarray of shape (K,)
    size : int
        Odd window side, 3 or more.
    dip : float
        Least dip, as a share of the number of entries.
    color_id : ndarray of shape (H, W) and dtype int, optional
        Each pixel's distinct colour, as :attr:`geodigitize.decode.Decoded.color_id`;
        found from `rgb` when not given.
    id_rgb : ndarray of shape (C, 3), optional
        RGB of each distinct colour (required with `color_id`).

    Returns
    -------
    ndarray of shape (H, W) and dtype bool

    Notes
    -----
    The closing is a maximum then a minimum filter of `size`: a strip needs
    ``2 (size // 2)`` rows of context beyond the consistency check's.
    """
    found = np.zeros(valid.shape, dtype=bool)
    ends = ink_ends(scale_colors, scale_values)
    if not ends:
        return found
    if color_id is None:
        colors, color_id = distinct_colors(pack_rgb(rgb))
        id_rgb = unpack_rgb(colors)
    rank_of, _ = _value_ranks(scale_values)
    k = scale_values.size
    for side, grey in ends:
        # Towards the ink is down: a high end's ranks are flipped.
        rank = rank_of[index] if side < 0 else (k - 1) - rank_of[index]
        # int16 holds twice the highest rank (the extrapolation) for up to 16,000 entries.
        field = np.where(valid, rank, -1).astype(np.int16 if k < 16_000 else np.int32)
        closing = _closing_beside_masked(field, size)
        near = _residual(np.asarray(id_rgb, dtype=np.float64), np.full(3, grey)) <= INK_NEAR
        found |= valid & near[color_id] & (closing - rank > dip * k)
    return found


def _closing_beside_masked(field: np.ndarray, size: int) -> np.ndarray:
    """Closing of `field` (masked pixels -1) over `size`, raised beside masked pixels to
    the lowest of the two pixels beyond and their extrapolation (see
    :func:`ink_end_pixels`)."""
    # Outside the image nothing raises the field: pad it masked, close, crop.
    r = size // 2
    dilated = window_extreme(np.pad(field, r, constant_values=-1), size, np.maximum, edge=-1)
    h, w = field.shape
    closing = window_extreme(dilated, size, np.minimum)[r : r + h, r : r + w]
    padded = np.pad(field, 2, constant_values=-2)  # beyond the image: not a masked pixel
    for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0)):
        back = padded[2 - dy : 2 - dy + h, 2 - dx : 2 - dx + w]
        one = padded[2 + dy : 2 + dy + h, 2 + dx : 2 + dx + w]
        two = padded[2 + 2 * dy : 2 + 2 * dy + h, 2 + 2 * dx : 2 + 2 * dx + w]
        # The lower of the two and of their line extrapolated to the pixel: a field
        # rising away from the masked pixel does not dip at it.
        level = np.minimum(np.minimum(one, two), 2 * one - two)
        beyond = np.where((back == -1) & (one >= 0) & (two >= 0), level, -1)
        np.maximum(closing, beyond, out=closing)
    return closing


def _mask_ink_end(reason: np.ndarray, decoded: Decoded, scale: ColorScale) -> None:
    """Mark ink decoded as a black or white end of the scale in `reason` (see
    :func:`ink_end_pixels`); nothing for other scales."""
    if not ink_ends(scale.colors, scale.values):
        return
    found = ink_end_pixels(
        None,
        decoded.index,
        reason == Reason.DATA,
        scale.colors,
        scale.values,
        color_id=decoded.color_id,
        id_rgb=unpack_rgb(decoded.colors),
    )
    reason[found] = Reason.HALO


def _colour_distance(decoded: Decoded) -> np.ndarray:
    """The distance of each distinct colour of `decoded` (which has colour ids)."""
    distance = np.zeros(int(decoded.n_colors), dtype=decoded.distance.dtype)
    distance[decoded.color_id] = decoded.distance
    return distance


#: Window and luma dip (8-bit units) of the thin-feature rule for shaded scales.
THIN_WINDOW, THIN_DIP = 5, 6.0


def thin_features(rgb: np.ndarray, size: int = THIN_WINDOW, dip: float = THIN_DIP) -> np.ndarray:
    """Pixels darker or brighter than their surroundings across a window of `size`:
    lines and letters thinner than the window (a morphological top-hat of the luma).

    A hillshade varies smoothly over a few pixels; a line's antialiased pixels darken
    the field across one or two. With a shaded scale every darkened colour is also a
    shadow, so this shape, not the colour, tells them apart.

    Parameters
    ----------
    rgb : ndarray of shape (H, W, 3) and dtype uint8
    size : int
        Odd window side, wider than the thickest line.
    dip : float
        Luma difference (0-255) from the window's closing or opening that counts.

    Returns
    -------
    ndarray of shape (H, W) and dtype bool
    """
    luma = np.asarray(rgb, dtype=np.float32) @ LUMA.astype(np.float32)
    closing = window_extreme(window_extreme(luma, size, np.maximum), size, np.minimum)
    opening = window_extreme(window_extreme(luma, size, np.minimum), size, np.maximum)
    return np.maximum(closing - luma, luma - opening) > dip


#: Intensity dip (0-1) of the shadow-feature rule for shaded scales.
SHADOW_DIP = 0.08


def shadow_features(
    intensity: np.ndarray,
    rgb: np.ndarray,
    usable: np.ndarray,
    size: int = THIN_WINDOW,
    dip: float = SHADOW_DIP,
    value_dip: float = THIN_DIP,
) -> np.ndarray:
    """Pixels whose shading is darker than their surroundings across a window of `size`:
    ink drawn over a dark part of the field (a black top-hat of the intensity that
    explains each pixel, confirmed by one of the colour's largest channel).

    A black line half over a dark blue pixel makes exactly a darker shading of that blue:
    its colour is data, and its luma dips by a unit or two (blue weighs little in luma),
    too little for :func:`thin_features`. A hillshade's intensity, though, is smooth, and
    the line's pixel needs an intensity far below its neighbours'. Where the colour pins
    the intensity down poorly (near white, near black, along a colormap's own lightness
    ramp) the intensity wanders while the colour does not: the pixel's largest channel
    must dip too.

    Parameters
    ----------
    intensity : ndarray of shape (H, W)
        Each pixel's explaining intensity (:func:`explain_shading`).
    rgb : ndarray of shape (H, W, 3) and dtype uint8
    usable : ndarray of shape (H, W) and dtype bool
        Pixels whose intensity counts (data so far); the others count as dark (0), so
        they never lift a neighbour's closing.
    size : int
        Odd window side, wider than the thickest line.
    dip : float
        Intensity difference from the closing that counts.
    value_dip : float
        Largest-channel difference (0-255) from its closing that counts.

    Returns
    -------
    ndarray of shape (H, W) and dtype bool

    Notes
    -----
    The closings are a maximum then a minimum filter of `size`: a strip needs
    ``2 (size // 2)`` rows of overlap (4 by default).
    """
    field = np.where(usable, intensity, 0.0).astype(np.float32)
    value = np.asarray(rgb).max(axis=-1).astype(np.float32)
    found = usable.copy()
    for arr, least in ((field, dip), (value, value_dip)):
        closing = window_extreme(window_extreme(arr, size, np.maximum), size, np.minimum)
        found &= closing - arr > least
    return found


def _mask_inconsistent(
    reason: np.ndarray, decoded: Decoded, scale: ColorScale, tol: float, id_index=None
) -> None:
    """Mark antialiased mixtures in `reason` (see :func:`inconsistent_pixels`)."""
    bad = inconsistent_pixels(
        None,
        decoded.index,
        reason == Reason.DATA,
        scale.colors,
        scale.values,
        tolerance=tol,
        radius=CONSISTENCY_RADIUS,
        color_id=decoded.color_id,
        id_rgb=unpack_rgb(decoded.colors),
        id_index=id_index,
    )
    reason[bad] = Reason.INCONSISTENT
