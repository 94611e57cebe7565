"""Colour tables from the files people share: CSV, QGIS colour maps, GMT ``.cpt``.

Every format becomes a list of segments ``(z0, colour0, z1, colour1)``: a segment whose two
colours differ is a continuous ramp, one whose colours are equal is a flat class. A table
made only of flat classes gives a discrete :class:`~geodigitize.colormap.ColorScale` (one
colour per class, standing for the class's middle, ``levels`` its edges); any ramp gives a
continuous one, sampled densely as :func:`~geodigitize.colormap.from_cmap` samples a
named colormap.

Formats (recognised from the content, not the file name):

* CSV ``value,r,g,b`` (0-255, or 0-1 when no component exceeds 1), with or without a
  header line; interpolated between rows.
* QGIS "Export color map to file" text: ``INTERPOLATION:INTERPOLATED|DISCRETE|EXACT``
  then ``value,r,g,b,alpha,label`` lines (``#`` comments).
* QGIS style XML (``.qml``, ``.xml``): a ``<colorrampshader colorRampType=...>`` with
  ``<item value="..." color="#rrggbb"/>`` children.
* GMT ``.cpt``: ``z0 r g b z1 r g b`` lines (also ``r/g/b``, ``#rrggbb`` and colour
  names), ``B``/``F``/``N`` lines (background, foreground, NaN colours; ignored),
  ``#`` comments, ``# COLOR_MODEL = RGB`` (other models are refused).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .colormap import ColorScale, runs_to_table
from .colortable import Segment, parse_table
from .errors import ColorScaleError

__all__ = ["read_cmap_file"]

#: A segment: value and RGB (0-255 floats) at both ends.


def read_cmap_file(
    path: str | Path,
    *,
    vmin: float | None = None,
    vmax: float | None = None,
    norm: str = "linear",
    vcenter: float | None = None,
    samples: int = 10_000,
) -> ColorScale:
    """Read a colour table file into a colour scale.

    Parameters
    ----------
    path : str or Path
    vmin, vmax : float, optional
        Given together, the file's value range is stretched linearly onto them (useful
        for tables whose values are positions 0-1); otherwise the file's values are used.
    norm, vcenter
        Only ``"linear"``: the file's values already say where each colour sits.
    samples : int
        Values sampled along a continuous table.

    Returns
    -------
    ColorScale

    Raises
    ------
    ColorScaleError
        For a missing file, an unknown or malformed format (naming the file and line), or
        fewer than two colours.
    """
    path = Path(path)
    if norm != "linear":
        raise ColorScaleError(
            f"--norm {norm} does not apply to --cmap-file: the file's values already place "
            "its colours; drop --norm"
        )
    if (vmin is None) != (vmax is None):
        raise ColorScaleError("give both --vmin and --vmax to rescale --cmap-file, or neither")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ColorScaleError(f"colour table file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ColorScaleError(f"cannot read colour table file {path}: {exc}") from None
    kind, segments = parse_table(text, path.name)
    return _scale(segments, kind, path.name, vmin, vmax, samples)


# --------------------------------------------------------------------------- scale


def _scale(segments: list[Segment], kind: str, name: str, vmin, vmax, samples) -> ColorScale:
    for seg in segments:
        for c in (seg[1], seg[3]):
            if len(c) != 3 or min(c) < 0 or max(c) > 255:
                raise ColorScaleError(f"{name}: colour {c} is not RGB within 0-255 (or 0-1)")
    z0 = np.array([s[0] for s in segments])
    z1 = np.array([s[2] for s in segments])
    c0 = np.array([s[1] for s in segments], dtype=np.float64)
    c1 = np.array([s[3] for s in segments], dtype=np.float64)
    lo, hi = float(z0.min()), float(z1.max())
    stretch = (
        (lambda v: v)
        if vmin is None
        else (lambda v: vmin + (np.asarray(v) - lo) * (vmax - vmin) / (hi - lo))
    )
    if vmin is not None and not vmin < vmax:
        raise ColorScaleError(f"vmin ({vmin:g}) must be less than vmax ({vmax:g})")
    extra = {"cmap_file": name, "cmap_file_format": kind}
    if np.all(c0 == c1):
        edges = np.concatenate([z0, [z1[-1]]])
        if np.any(np.diff(edges) <= 0) or np.any(z0[1:] != z1[:-1]):
            raise ColorScaleError(f"{name}: classes must follow each other without gaps or overlap")
        edges = np.asarray(stretch(edges), dtype=np.float64)
        middles = (edges[:-1] + edges[1:]) / 2
        return ColorScale(
            np.round(c0),
            middles,
            float(edges[0]),
            float(edges[-1]),
            "linear",
            f"file:{name}",
            levels=tuple(float(v) for v in edges),
            extra=extra,
        )
    v = np.linspace(lo, hi, max(samples, 2))
    seg = np.clip(np.searchsorted(z0, v, side="right") - 1, 0, len(segments) - 1)
    t = np.clip((v - z0[seg]) / (z1[seg] - z0[seg]), 0.0, 1.0)[:, None]
    rgb = np.round(c0[seg] + t * (c1[seg] - c0[seg])).astype(np.uint8)
    colors, centres = runs_to_table(rgb, v)
    lo_v, hi_v = (lo, hi) if vmin is None else (vmin, vmax)
    return ColorScale(
        colors,
        np.asarray(stretch(centres), dtype=np.float64),
        float(lo_v),
        float(hi_v),
        "linear",
        f"file:{name}",
        extra=extra,
    )
