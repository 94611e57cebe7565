"""Shaded relief: decode colours that a hillshade made lighter or darker.

Topography and bathymetry maps are drawn with hillshading: each pixel's colour is the
colormap's colour blended with an illumination intensity ``I`` in [0, 1] (0.5 leaves it
as is). Such a pixel lies off the colour scale, on the *shading line* of the colour it
was drawn in. Decoding therefore compares each pixel with every scale colour at every
intensity: the scale is expanded into a table of shaded colours (:func:`shaded_scale`),
each standing for its colour's value, and decoded as any scale is (nearest colour). The
blend models are matplotlib's (:class:`matplotlib.colors.LightSource`) and GMT's:

- ``"soft"``: ``2 I c + (1 - 2 I) c**2`` (soft light);
- ``"overlay"``: ``2 I c`` where ``c <= 0.5``, else ``1 - 2 (1 - I)(1 - c)``;
- ``"hsv"``: hue kept, saturation and value moved towards white (``I > 0.5``) or black;
- ``"gmt"``: GMT's ``grdimage -I`` (intensity ``2 I - 1``): as ``"hsv"``, but with GMT's
  default bounds: value down to 0.3 in shadow, saturation down to 0.1 in light
  (``COLOR_HSV_MIN_V``, ``COLOR_HSV_MAX_S``);
- ``"multiply"``: ``2 I c`` (a brightness factor), as QGIS's multiply blend.

A colormap whose colours differ only in lightness (greys, one hue) cannot be unshaded:
a dark colour is also a shaded light one. :func:`unshade_ambiguity` measures that, and
:func:`shaded_scale` refuses such a colormap rather than guess.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from matplotlib.colors import hsv_to_rgb, rgb_to_hsv
from scipy.spatial import cKDTree

from .colormap import ColorScale
from .colors import to_space
from .errors import ColorScaleError

__all__ = [
    "BLENDS",
    "FAR",
    "INTENSITY",
    "LEVELS",
    "MAX_AMBIGUITY",
    "NEUTRAL",
    "TOLERANCE",
    "Explained",
    "explain_colors",
    "neutral_entries",
    "rival_distance",
    "shade",
    "shaded_scale",
    "unshade_ambiguity",
]

#: Blend models :func:`shade` knows.
BLENDS = ("soft", "overlay", "hsv", "multiply", "gmt")
#: (max_sat, min_sat, max_val, min_val) of the HSV blends: what full light and full shadow
#: move saturation and value towards (matplotlib's defaults; GMT's COLOR_HSV_* defaults).
_HSV_BOUNDS = {"hsv": (0.0, 1.0, 1.0, 0.0), "gmt": (0.1, 1.0, 1.0, 0.3)}
#: Intensities the shaded table covers. The extremes are left out: at 0 or 1 several
#: models reach black or white, the colours of lines, text and the page.
INTENSITY = (0.04, 0.96)
#: Intensity steps in the table (plus 0.5, the colour unshaded).
LEVELS = 47
#: Largest share of the scale's colours that may be confused with a far value before a
#: colormap is refused as not unshadeable; below it, the confused shadings are masked.
MAX_AMBIGUITY = 0.5
#: Colours closer than this (RGB units) are confused.
TOLERANCE = 4.0
#: Largest chroma (largest minus smallest channel, RGB units) of a neutral colour. A
#: neutral scale colour (black, white, a grey) shades to greys only, and greys are the
#: colours of lines, text, land and paper: a pixel it explains is ambiguous.
NEUTRAL = 6.0
#: Values farther apart than this share of the range count as confused.
FAR = 0.05


def shade(rgb: np.ndarray, intensity: np.ndarray | float, blend: str) -> np.ndarray:
    """Blend colours with an illumination intensity, as matplotlib's LightSource does.

    Parameters
    ----------
    rgb : ndarray of shape (..., 3)
        Colours in 0-1.
    intensity : float or ndarray broadcasting against ``rgb[..., 0]``
        Illumination in 0-1; 0.5 leaves a colour unchanged.
    blend : {"soft", "overlay", "hsv", "multiply", "gmt"}

    Returns
    -------
    ndarray of shape (..., 3)
        Shaded colours in 0-1.
    """
    rgb = np.asarray(rgb, dtype=np.float64)
    i = np.asarray(intensity, dtype=np.float64)[..., None]
    if blend == "soft":
        return 2 * i * rgb + (1 - 2 * i) * rgb**2
    if blend == "overlay":
        return np.where(rgb <= 0.5, 2 * i * rgb, 1 - 2 * (1 - i) * (1 - rgb))
    if blend == "multiply":
        return np.clip(2 * i * rgb, 0, 1)
    if blend in _HSV_BOUNDS:
        return _shade_hsv(rgb, i[..., 0], *_HSV_BOUNDS[blend])
    raise ColorScaleError(f"unknown shading blend {blend!r}: use one of {', '.join(BLENDS)}")


def _shade_hsv(
    rgb: np.ndarray,
    intensity: np.ndarray,
    max_sat: float = 0.0,
    min_sat: float = 1.0,
    max_val: float = 1.0,
    min_val: float = 0.0,
) -> np.ndarray:
    """LightSource.blend_hsv (GMT's illumination, with its bounds): saturation and value
    moved towards `max_sat` and `max_val` above 0.5, towards `min_sat` and `min_val`
    below; greys keep their saturation."""
    shape = np.broadcast_shapes(rgb.shape[:-1], intensity.shape)
    hsv = rgb_to_hsv(np.broadcast_to(rgb, (*shape, 3)).copy())
    sat, val = _hsv_moved(hsv[..., 1], hsv[..., 2], intensity, (max_sat, min_sat, max_val, min_val))
    hsv[..., 1], hsv[..., 2] = sat, val
    return hsv_to_rgb(hsv)


def _hsv_moved(sat, val, intensity, bounds):
    """Saturation and value of an HSV blend at `intensity` (0-1), clipped to 0-1."""
    max_sat, min_sat, max_val, min_val = bounds
    s = 2 * np.asarray(intensity, dtype=np.float64) - 1
    up, down = s > 0, s < 0
    coloured = np.abs(sat) > 1e-10
    new_sat = np.where(coloured & up, (1 - s) * sat + s * max_sat, sat)
    new_sat = np.where(coloured & down, (1 + s) * sat - s * min_sat, new_sat)
    new_val = np.where(up, (1 - s) * val + s * max_val, val)
    new_val = np.where(down, (1 + s) * val - s * min_val, new_val)
    return np.clip(new_sat, 0, 1), np.clip(new_val, 0, 1)


def _intensities(levels: int, intensity: tuple[float, float]) -> np.ndarray:
    return np.unique(np.r_[np.linspace(*intensity, levels), 0.5])


def _table(scale: ColorScale, blend: str, levels: int, intensity: tuple[float, float]):
    """Shaded colours (K * J, 3) in 0-255, the base entry of each, and the intensities."""
    steps = _intensities(levels, intensity)
    shaded = shade(scale.colors[:, None, :] / 255.0, steps[None, :], blend) * 255.0
    base = np.repeat(np.arange(scale.colors.shape[0]), steps.size)
    return shaded.reshape(-1, 3), base, steps


def unshade_ambiguity(
    scale: ColorScale,
    blend: str,
    *,
    tolerance: float = TOLERANCE,
    levels: int = LEVELS,
    intensity: tuple[float, float] = INTENSITY,
) -> float:
    """Share of the scale's colours that a shading of a far value also makes.

    For each colour of the scale, drawn unshaded, the shaded table is searched for a
    colour within `tolerance` (RGB units) that stands for a value more than 5 % of the
    range away. Greys and single-hue maps score near 1 under any blend; maps whose hue
    carries the value score near 0.

    Returns
    -------
    float
        In 0-1.
    """
    table, base, _ = _table(scale, blend, levels, intensity)
    return _ambiguity(scale, table, base, tolerance)


def _ambiguity(scale: ColorScale, table: np.ndarray, base: np.ndarray, tolerance: float) -> float:
    """:func:`unshade_ambiguity` from the shaded `table` and the `base` entry of each."""
    tree = cKDTree(table)
    far = FAR * abs(scale.range)
    confused = np.zeros(scale.colors.shape[0], dtype=bool)
    for k, near in enumerate(tree.query_ball_point(scale.colors, tolerance)):
        values = scale.values[base[np.asarray(near, dtype=np.int64)]]
        confused[k] = np.any(np.abs(values - scale.values[k]) > far)
    return float(confused.mean())


def shaded_scale(
    scale: ColorScale,
    blend: str = "soft",
    *,
    levels: int = LEVELS,
    intensity: tuple[float, float] = INTENSITY,
    check: bool = True,
) -> ColorScale:
    """The scale expanded by shading: every colour at every intensity, each standing
    for its colour's value.

    Parameters
    ----------
    scale : ColorScale
    blend : {"soft", "overlay", "hsv", "multiply", "gmt"}
        How the figure blended colour and hillshade (see :func:`shade`).
    levels : int
        Intensity steps between the bounds of `intensity`.
    intensity : (low, high)
        Intensities covered.
    check : bool
        Refuse a scale that shading makes ambiguous (:func:`unshade_ambiguity` above
        :data:`MAX_AMBIGUITY`).

    Returns
    -------
    ColorScale
        ``K * (levels + 1)`` colours; ``extra["shading"]`` records the model, and the
        intensity of entry ``i`` is ``extra["shading"]["steps"][i % n_steps]``.

    Raises
    ------
    ColorScaleError
        For an unknown blend, or a colormap that cannot be unshaded.
    """
    if blend not in BLENDS:
        raise ColorScaleError(f"unknown shading blend {blend!r}: use one of {', '.join(BLENDS)}")
    table, base, steps = _table(scale, blend, levels, intensity)
    if check:
        confused = _ambiguity(scale, table, base, TOLERANCE)
        if confused > MAX_AMBIGUITY:
            raise ColorScaleError(
                f"the colour scale cannot be unshaded with the {blend!r} blend: "
                f"{confused:.0%} of its colours are also shadings of values far from "
                "theirs (its colours differ mostly in lightness); decode without "
                "`shaded`, or give the figure's unshaded version"
            )
    values = scale.values[base]
    confused = _confused(table, values, FAR * abs(scale.range), TOLERANCE)
    neutral = _neutral(table, scale.colors[base])
    ambiguous = confused | neutral
    extra = {
        **scale.extra,
        "shading": {
            "blend": blend,
            "intensity": list(intensity),
            "steps": steps.tolist(),
            "ambiguous_share": round(float(confused.mean()), 4),
            "neutral_share": round(float(neutral.mean()), 4),
        },
    }
    return ColorScale(
        table,
        values,
        scale.vmin,
        scale.vmax,
        scale.norm,
        f"{scale.source} shaded ({blend})",
        scale.levels,
        extra,
        ambiguous if ambiguous.any() else None,
    )


def _neutral(table: np.ndarray, base: np.ndarray) -> np.ndarray:
    """Entries whose colour and unshaded colour are both neutral (chroma <= NEUTRAL)."""
    return (_chroma(table) <= NEUTRAL) & (_chroma(base) <= NEUTRAL)


def neutral_entries(scale: ColorScale) -> np.ndarray:
    """Entries of a shaded scale that a neutral scale colour makes (see :data:`NEUTRAL`).

    Returns
    -------
    ndarray of shape (K,) and dtype bool
    """
    _, steps, base = _model(scale)
    return _neutral(scale.colors, np.repeat(base * 255.0, steps.size, axis=0))


def _chroma(rgb: np.ndarray) -> np.ndarray:
    """Largest minus smallest channel of each colour of shape (..., 3)."""
    rgb = np.asarray(rgb, dtype=np.float64)
    return rgb.max(axis=-1) - rgb.min(axis=-1)


def _confused(table: np.ndarray, values: np.ndarray, far: float, tolerance: float) -> np.ndarray:
    """Entries of `table` with another entry within `tolerance` whose value is more
    than `far` away from theirs."""
    tree = cKDTree(table)
    pairs = tree.query_pairs(tolerance, output_type="ndarray")
    bad = np.abs(values[pairs[:, 0]] - values[pairs[:, 1]]) > far
    out = np.zeros(table.shape[0], dtype=bool)
    out[pairs[bad, 0]] = True
    out[pairs[bad, 1]] = True
    return out


def _model(scale: ColorScale) -> tuple[str, np.ndarray, np.ndarray]:
    """The blend, the intensity steps and the unshaded colours (K, 3) in 0-1 of a scale
    made by :func:`shaded_scale`."""
    info = scale.extra.get("shading")
    if info is None:
        raise ColorScaleError("the colour scale is not shaded: build it with `shaded`")
    steps = np.asarray(info["steps"], dtype=np.float64)
    half = int(np.argmin(np.abs(steps - 0.5)))
    base = scale.colors.reshape(-1, steps.size, 3)[:, half].astype(np.float64) / 255.0
    return info["blend"], steps, base


@dataclass(frozen=True)
class Explained:
    """How a shaded scale best explains a set of colours.

    Attributes
    ----------
    distance : ndarray of shape (C,) and dtype float32
        Distance from each colour to its explanation, in the units of the colour space.
    index : ndarray of shape (C,) and dtype int32
        Entry of the shaded table: the explaining scale colour at its nearest step.
    intensity : ndarray of shape (C,) and dtype float32
        The illumination intensity (0-1, 0.5 unshaded) of the explanation.
    """

    distance: np.ndarray
    index: np.ndarray
    intensity: np.ndarray


#: Golden-section iterations of :func:`explain_colors` (the bracket shrinks 0.618 each).
_ITERATIONS = 20


def explain_colors(
    colors: np.ndarray, index: np.ndarray, scale: ColorScale, color_space: str = "rgb"
) -> Explained:
    """Refine table look-ups into the best continuous shading of each colour.

    The shaded table holds each scale colour at :data:`LEVELS` intensities, so a shaded
    pixel lies up to half a step from its nearest entry: for the HSV blends several
    RGB units, as far as the colour noise that sets `max_distance`. Here the intensity
    of the entry found, and of the two scale colours beside it, is searched continuously
    (golden section within the steps either side of the one found) and the best of the
    three kept: the distance left is the colour's own noise.

    Parameters
    ----------
    colors : ndarray of shape (C, 3)
        RGB colours, 0-255.
    index : ndarray of shape (C,)
        Each colour's nearest entry of `scale` (:func:`geodigitize.decode.lookup_colors`).
    scale : ColorScale
        A scale made by :func:`shaded_scale`.
    color_space : {"rgb", "lab"}

    Returns
    -------
    Explained
    """
    blend, steps, base = _model(scale)
    n = steps.size
    index = np.asarray(index, dtype=np.int64)
    k, j = np.divmod(index, n)
    lo = steps[np.maximum(j - 1, 0)]
    hi = steps[np.minimum(j + 1, n - 1)]
    target = to_space(np.asarray(colors, dtype=np.float64), color_space)
    best_d = np.full(index.shape, np.inf)
    best_k, best_i = k.copy(), steps[j]
    for dk in (0, -1, 1):
        kk = np.clip(k + dk, 0, base.shape[0] - 1)
        d, i = _golden(base[kk], target, lo, hi, blend, color_space)
        better = d < best_d
        best_d[better], best_k[better], best_i[better] = d[better], kk[better], i[better]
    step = np.abs(steps[None, :] - best_i[:, None]).argmin(axis=1) if index.size else j
    return Explained(
        best_d.astype(np.float32),
        (best_k * n + step).astype(np.int32),
        best_i.astype(np.float32),
    )


def _golden(base, target, lo, hi, blend, color_space):
    """Smallest distance from `target` to ``shade(base, I)`` for I in [lo, hi], and I."""
    shader = _shader(base, blend)

    def dist(i):
        shaded = np.clip(shader(i), 0, 1) * 255.0
        return np.linalg.norm(to_space(shaded, color_space) - target, axis=-1)

    g = (np.sqrt(5) - 1) / 2
    a, b = lo.copy(), hi.copy()
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = dist(c), dist(d)
    for _ in range(_ITERATIONS):
        left = fc < fd  # the minimum lies in [a, d]: d becomes the right end
        a, b = np.where(left, a, c), np.where(left, d, b)
        c, d = b - g * (b - a), a + g * (b - a)
        fc, fd = dist(c), dist(d)
    i = np.where(fc < fd, c, d)
    # the bracket's ends may beat its interior (a colour exactly on a step)
    found = np.stack([i, lo, hi])
    ds = np.stack([np.minimum(fc, fd), dist(lo), dist(hi)])
    pick = ds.argmin(axis=0)[None]
    return np.take_along_axis(ds, pick, 0)[0], np.take_along_axis(found, pick, 0)[0]


def _shader(base: np.ndarray, blend: str):
    """``lambda i: shade(base, i, blend)``, with the HSV blends' colour conversions done
    once: a colour of value ``v``, saturation ``s`` and hue fractions ``f`` (each
    channel's place between the smallest and the largest) is ``v (1 - s (1 - f))``."""
    if blend not in _HSV_BOUNDS:
        return lambda i: shade(base, i, blend)
    val = base.max(axis=-1)
    chroma = val - base.min(axis=-1)
    frac = (base - base.min(axis=-1)[..., None]) / np.where(chroma > 0, chroma, 1.0)[..., None]
    sat = np.where(val > 0, chroma / np.where(val > 0, val, 1.0), 0.0)

    def shader(i):
        sat_i, val_i = _hsv_moved(sat, val, i, _HSV_BOUNDS[blend])
        return val_i[..., None] * (1 - sat_i[..., None] * (1 - frac))

    return shader


def rival_distance(
    colors: np.ndarray,
    index: np.ndarray,
    distance: np.ndarray,
    scale: ColorScale,
    color_space: str = "rgb",
) -> np.ndarray:
    """Distance from each colour to its best explanation by a far value.

    A shaded table entry is ambiguous when an entry of a value more than :data:`FAR` of
    the range away lies within :data:`TOLERANCE` of it; a pixel decoded to it may still
    be told apart by its own colour, when every such rival explains it clearly worse.
    Rivals are looked for among the entries within ``distance + 2 TOLERANCE`` and the
    nearest is refined as :func:`explain_colors` does.

    Parameters
    ----------
    colors : ndarray of shape (C, 3)
        RGB colours, 0-255.
    index, distance : ndarray of shape (C,)
        Each colour's explanation (:func:`explain_colors`).
    scale : ColorScale
        A scale made by :func:`shaded_scale`.
    color_space : {"rgb", "lab"}

    Returns
    -------
    ndarray of shape (C,) and dtype float64
        Inf where no rival lies that near.
    """
    point = to_space(np.asarray(colors, dtype=np.float64), color_space)
    distance = np.asarray(distance, dtype=np.float64)
    out = np.full(point.shape[0], np.inf)
    if point.shape[0] == 0:
        return out
    tree = cKDTree(to_space(scale.colors, color_space))
    balls = tree.query_ball_point(point, distance + 2 * TOLERANCE)
    sizes = np.fromiter((len(b) for b in balls), dtype=np.int64, count=len(balls))
    owner = np.repeat(np.arange(len(balls)), sizes)
    cand = np.fromiter((e for b in balls for e in b), dtype=np.int64, count=int(sizes.sum()))
    own_value = scale.values[np.asarray(index, dtype=np.int64)]
    far = np.abs(scale.values[cand] - own_value[owner]) > FAR * abs(scale.range)
    owner, cand = owner[far], cand[far]
    if owner.size == 0:
        return out
    d = np.linalg.norm(to_space(scale.colors[cand], color_space) - point[owner], axis=1)
    order = np.lexsort((d, owner))
    first_owner, first = np.unique(owner[order], return_index=True)
    rival = explain_colors(colors[first_owner], cand[order][first], scale, color_space)
    # the refinement may step back next to the own value: only a far rival counts
    still_far = np.abs(scale.values[rival.index] - own_value[first_owner]) > FAR * abs(scale.range)
    out[first_owner[still_far]] = rival.distance[still_far]
    return out
