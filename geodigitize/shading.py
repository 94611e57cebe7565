"""Shaded relief: decode colours that a hillshade made lighter or darker.

Topography and bathymetry maps are drawn with hillshading: each pixel's colour is the
colormap's colour blended with an illumination intensity ``I`` in [0, 1] (0.5 leaves it
as is). Such a pixel lies off the colour scale, on the *shading line* of the colour it
was drawn in. Decoding therefore compares each pixel with every scale colour at every
intensity: the scale is expanded into a table of shaded colours (:func:`shaded_scale`),
each standing for its colour's value, and decoded as any scale is (nearest colour). The
blend models are matplotlib's (:class:`matplotlib.colors.LightSource`), which GMT's
``grdimage -I`` shares for ``"hsv"``:

- ``"soft"``: ``2 I c + (1 - 2 I) c**2`` (soft light);
- ``"overlay"``: ``2 I c`` where ``c <= 0.5``, else ``1 - 2 (1 - I)(1 - c)``;
- ``"hsv"``: hue kept, saturation and value moved towards white (``I > 0.5``) or black;
- ``"multiply"``: ``2 I c`` (a brightness factor), as QGIS's multiply blend.

A colormap whose colours differ only in lightness (greys, one hue) cannot be unshaded:
a dark colour is also a shaded light one. :func:`unshade_ambiguity` measures that, and
:func:`shaded_scale` refuses such a colormap rather than guess.
"""

from __future__ import annotations

import numpy as np
from matplotlib.colors import hsv_to_rgb, rgb_to_hsv
from scipy.spatial import cKDTree

from .colormap import ColorScale
from .errors import ColorScaleError

__all__ = [
    "BLENDS",
    "INTENSITY",
    "LEVELS",
    "MAX_AMBIGUITY",
    "TOLERANCE",
    "shade",
    "shaded_scale",
    "unshade_ambiguity",
]

#: Blend models :func:`shade` knows.
BLENDS = ("soft", "overlay", "hsv", "multiply")
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
#: Values farther apart than this share of the range count as confused.
_FAR = 0.05


def shade(rgb: np.ndarray, intensity: np.ndarray | float, blend: str) -> np.ndarray:
    """Blend colours with an illumination intensity, as matplotlib's LightSource does.

    Parameters
    ----------
    rgb : ndarray of shape (..., 3)
        Colours in 0-1.
    intensity : float or ndarray broadcasting against ``rgb[..., 0]``
        Illumination in 0-1; 0.5 leaves a colour unchanged.
    blend : {"soft", "overlay", "hsv", "multiply"}

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
    if blend == "hsv":
        return _shade_hsv(rgb, i[..., 0])
    raise ColorScaleError(f"unknown shading blend {blend!r}: use one of {', '.join(BLENDS)}")


def _shade_hsv(rgb: np.ndarray, intensity: np.ndarray) -> np.ndarray:
    """LightSource.blend_hsv with its defaults (GMT's illumination): towards white with
    no saturation above 0.5, towards black with full saturation below."""
    shape = np.broadcast_shapes(rgb.shape[:-1], intensity.shape)
    hsv = rgb_to_hsv(np.broadcast_to(rgb, (*shape, 3)).copy())
    sat, val = hsv[..., 1], hsv[..., 2]
    s = np.broadcast_to(2 * intensity - 1, shape)
    coloured = np.abs(sat) > 1e-10
    up, down = s > 0, s < 0
    sat[coloured & up] = ((1 - s) * sat)[coloured & up]
    sat[coloured & down] = ((1 + s) * sat - s)[coloured & down]
    val[up] = ((1 - s) * val + s)[up]
    val[down] = ((1 + s) * val)[down]
    np.clip(hsv[..., 1:], 0, 1, out=hsv[..., 1:])
    return hsv_to_rgb(hsv)


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
    far = _FAR * abs(scale.range)
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
    blend : {"soft", "overlay", "hsv", "multiply"}
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
    ambiguous = _confused(table, values, _FAR * abs(scale.range), TOLERANCE)
    extra = {
        **scale.extra,
        "shading": {
            "blend": blend,
            "intensity": list(intensity),
            "steps": steps.tolist(),
            "ambiguous_share": round(float(ambiguous.mean()), 4),
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
