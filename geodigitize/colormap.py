"""Colour scales: the table of colours a figure's values were drawn with.

A :class:`ColorScale` is a list of distinct RGB colours and the value each stands for. It
is built from a named matplotlib colormap here; other sources (a figure's own colorbar, a
colour table file) build the same object, so decoding never needs to know where the
scale came from.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np
from matplotlib import colors as mcolors

from .catalogue import find_colormap, load_colormap
from .errors import ColorScaleError

__all__ = [
    "NORMS",
    "ColorScale",
    "drawn_bytes",
    "from_cmap",
    "make_norm",
    "parse_levels",
    "resolve_cmap",
    "runs_to_table",
]

#: Accepted values of ``norm``.
NORMS = ("linear", "log", "twoslope")


@dataclass(frozen=True, eq=False)
class ColorScale:
    """Distinct colours and the value each one stands for.

    Parameters
    ----------
    colors : ndarray of shape (K, 3) and dtype float64
        RGB colours in 0-255 units, as they appear in an 8-bit image.
    values : ndarray of shape (K,) and dtype float64
        The value each colour stands for: the centre of the range of values drawn in it.
    vmin, vmax : float
        The value range of the scale; errors "as % of the range" divide by
        ``vmax - vmin``.
    norm : {"linear", "log", "twoslope"}
        How values map to positions along the colormap.
    source : str
        Where the scale came from, for the report (``"cmap:jet_r"``, ``"colorbar"`` ...).
    levels : tuple of float or None
        Class edges when the scale is made of discrete classes, else None.
    extra : dict
        What the report says besides (JSON-ready).
    ambiguous : ndarray of shape (K,) and dtype bool, or None
        Entries whose colour another entry of a far value also makes (a shaded scale,
        see :func:`geodigitize.shading.shaded_scale`): pixels decoded to them are not
        data. None when every entry is unambiguous.
    """

    colors: np.ndarray
    values: np.ndarray
    vmin: float
    vmax: float
    norm: str = "linear"
    source: str = ""
    levels: tuple[float, ...] | None = None
    extra: dict = field(default_factory=dict)
    ambiguous: np.ndarray | None = None

    def __post_init__(self) -> None:
        colors = np.asarray(self.colors, dtype=np.float64)
        values = np.asarray(self.values, dtype=np.float64)
        if colors.ndim != 2 or colors.shape[1] != 3 or colors.shape[0] != values.shape[0]:
            raise ColorScaleError(
                f"a colour scale needs (K, 3) colours and K values, got {colors.shape} "
                f"and {values.shape}"
            )
        if colors.shape[0] < 2:
            raise ColorScaleError("a colour scale needs at least 2 distinct colours")
        for arr in (colors, values):
            arr.setflags(write=False)
        object.__setattr__(self, "colors", colors)
        object.__setattr__(self, "values", values)

    @property
    def range(self) -> float:
        """``vmax - vmin``, the denominator of every error given as % of the range."""
        return float(self.vmax - self.vmin)

    @property
    def is_discrete(self) -> bool:
        """True when the scale is made of classes (``levels`` given)."""
        return self.levels is not None

    def to_dict(self) -> dict:
        """Describe the scale for ``report.json`` (without the colour table)."""
        out = {
            "source": self.source,
            "vmin": self.vmin,
            "vmax": self.vmax,
            "norm": self.norm,
            "n_colors": int(self.colors.shape[0]),
        }
        if self.levels is not None:
            out["levels"] = list(self.levels)
        out.update(self.extra)
        return out


def resolve_cmap(name: str) -> mcolors.Colormap:
    """Return the colormap called `name` from the catalogue (``_r`` reverses it).

    Parameters
    ----------
    name : str
        A matplotlib, cmocean, Crameri, GMT or NCL colormap name, any case, optionally
        with a source prefix (``cmo.thermal``); see :mod:`geodigitize.catalogue`.

    Raises
    ------
    ColorScaleError
        If no source has such a colormap; the message suggests close names from all.
    """
    return load_colormap(name)


def _catalogue_extra(name: str) -> dict:
    """``{"cmap_name": "batlow", "cmap_source": "cmcrameri 1.10"}`` for the report."""
    entry, reverse = find_colormap(name)
    return {
        "cmap_name": entry.name + ("_r" if reverse else ""),
        "cmap_source": entry.provenance(),
    }


def make_norm(
    vmin: float, vmax: float, norm: str = "linear", vcenter: float | None = None
) -> mcolors.Normalize:
    """Build the matplotlib normalisation mapping values to 0-1 along the colormap.

    Raises
    ------
    ColorScaleError
        If the range is empty or inverted, or does not suit the norm.
    """
    if not (np.isfinite(vmin) and np.isfinite(vmax)):
        raise ColorScaleError(f"vmin and vmax must be finite numbers, got {vmin} and {vmax}")
    if vmin >= vmax:
        raise ColorScaleError(f"vmin ({vmin}) must be smaller than vmax ({vmax}): swap them")
    if norm == "linear":
        return mcolors.Normalize(vmin=vmin, vmax=vmax)
    if norm == "log":
        if vmin <= 0:
            raise ColorScaleError(
                f"--norm log needs vmin > 0, got {vmin}: give a positive vmin or use --norm linear"
            )
        return mcolors.LogNorm(vmin=vmin, vmax=vmax)
    if norm == "twoslope":
        center = (vmin + vmax) / 2 if vcenter is None else vcenter
        if not vmin < center < vmax:
            raise ColorScaleError(
                f"--vcenter ({center}) must lie strictly between vmin ({vmin}) and vmax ({vmax})"
            )
        return mcolors.TwoSlopeNorm(vcenter=center, vmin=vmin, vmax=vmax)
    raise ColorScaleError(f"unknown norm {norm!r}: use one of {', '.join(NORMS)}")


def runs_to_table(rgb: np.ndarray, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Collapse consecutive samples of equal colour into one entry at their mean position.

    Parameters
    ----------
    rgb : ndarray of shape (S, 3) and dtype uint8
        Colours of densely spaced samples, in order along the colormap.
    positions : ndarray of shape (S,)
        The sample positions (normalised 0-1 or values).

    Returns
    -------
    colors : ndarray of shape (K, 3) and dtype float64
    centres : ndarray of shape (K,)
        Mean position of each run of equal colour: the centre of the interval drawn in
        that colour.
    """
    change = np.any(rgb[1:] != rgb[:-1], axis=1)
    starts = np.concatenate([[0], np.flatnonzero(change) + 1])
    counts = np.diff(np.concatenate([starts, [rgb.shape[0]]]))
    centres = np.add.reduceat(positions, starts) / counts
    return rgb[starts].astype(np.float64), centres


@functools.lru_cache(maxsize=32)
def from_cmap(
    name: str,
    vmin: float,
    vmax: float,
    *,
    norm: str = "linear",
    vcenter: float | None = None,
    samples: int = 10_000,
    levels: tuple[float, ...] | None = None,
) -> ColorScale:
    """Build the colour scale a named matplotlib colormap draws between `vmin` and `vmax`.

    Values are sampled densely (as in the seed method), coloured exactly as matplotlib
    colours them (its lookup table of ``cmap.N`` colours, 8-bit output), and each distinct
    colour keeps the centre of the value interval drawn in it, so a decoded value is off by
    at most half a colour step. With `levels`, the scale has one colour per class, as
    ``contourf`` and ``BoundaryNorm`` draw them, standing for the middle of the class.

    Parameters
    ----------
    name : str
        A matplotlib colormap name, e.g. ``"jet_r"``.
    vmin, vmax : float
        Values at the two ends of the colormap.
    norm : {"linear", "log", "twoslope"}
    vcenter : float, optional
        The value at the colormap's centre for ``norm="twoslope"``.
    samples : int
        Number of values sampled between vmin and vmax.
    levels : tuple of float, optional
        Increasing class edges (vmin and vmax are then ``levels[0]`` and ``levels[-1]``).

    Returns
    -------
    ColorScale
        Cached: calling again with the same arguments returns the same object.
    """
    cmap = resolve_cmap(name)
    if levels is not None:
        return _classes_from_cmap(name, cmap, levels)
    nrm = make_norm(vmin, vmax, norm, vcenter)
    if samples < 2:
        raise ColorScaleError(f"samples must be at least 2, got {samples}")
    t = np.linspace(0.0, 1.0, samples)
    rgb = drawn_bytes(name, cmap, t)
    colors, centres = runs_to_table(rgb, t)
    values = np.asarray(nrm.inverse(centres), dtype=np.float64)
    scale_source = f"cmap:{name}"
    extra = _catalogue_extra(name)
    return ColorScale(colors, values, float(vmin), float(vmax), norm, scale_source, extra=extra)


def drawn_bytes(name: str, cmap: mcolors.Colormap, t: np.ndarray) -> np.ndarray:
    """8-bit colours (S, 3) the colormap called `name` draws at positions `t` (0-1).

    matplotlib truncates a colour to 8 bits when it colours an image (``bytes=True``);
    GMT rounds, so a GMT table's colours (``gmt.jet``) are rounded here, else half of a
    GMT figure's colours would lie a unit from the scale. (matplotlib rounds when it
    fills a mesh or a path, but adding those colours to a matplotlib table's scale was
    measured to lose data to the halo rule on rasterized PDFs, not gain it.)
    """
    entry, _ = find_colormap(name)
    if entry.source == "gmt":
        return np.clip(np.rint(cmap(t)[:, :3] * 255.0), 0, 255).astype(np.uint8)
    return cmap(t, bytes=True)[:, :3]


def _classes_from_cmap(name: str, cmap: mcolors.Colormap, levels: tuple[float, ...]) -> ColorScale:
    """One value per class between consecutive `levels`, drawn as matplotlib draws classes.

    ``contourf`` colours class ``i`` with ``cmap(norm(middle_i))`` where the norm spans
    ``levels[0]..levels[-1]``; ``BoundaryNorm(levels, cmap.N)`` (``pcolormesh`` or
    ``imshow`` with classes) spreads the classes over the whole colormap instead. Both
    colours of each class are in the table, standing for the class's middle, so a figure
    drawn either way decodes to the right class.
    """
    edges = np.asarray(levels, dtype=np.float64)
    if edges.ndim != 1 or edges.size < 3 or np.any(np.diff(edges) <= 0):
        raise ColorScaleError(
            "levels must be at least 3 strictly increasing class edges, e.g. 0,0.1,0.2"
        )
    middles = (edges[:-1] + edges[1:]) / 2
    contourf = cmap(mcolors.Normalize(edges[0], edges[-1])(middles), bytes=True)[:, :3]
    boundary = cmap(mcolors.BoundaryNorm(edges, cmap.N)(middles), bytes=True)[:, :3]
    rgb = np.concatenate([contourf, boundary]).astype(np.float64)
    values = np.concatenate([middles, middles])
    # Keep a BoundaryNorm colour only when no other class already uses it.
    packed = (rgb[:, 0] * 65536 + rgb[:, 1] * 256 + rgb[:, 2]).astype(np.int64)
    _, first = np.unique(packed, return_index=True)
    keep = np.sort(first)
    return ColorScale(
        rgb[keep],
        values[keep],
        float(edges[0]),
        float(edges[-1]),
        "linear",
        f"cmap:{name}",
        levels=tuple(float(v) for v in edges),
        extra={"classes_drawn_as": "contourf or BoundaryNorm", **_catalogue_extra(name)},
    )


def parse_levels(text: str | None) -> tuple[float, ...] | None:
    """Parse ``"a,b,c"`` class edges (None stays None).

    Raises
    ------
    ColorScaleError
        If an edge is not a number.
    """
    if text is None:
        return None
    try:
        return tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise ColorScaleError(
            f"--levels must be numbers separated by commas, got {text!r}"
        ) from None
