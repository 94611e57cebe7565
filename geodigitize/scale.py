"""The colour scale of a run, from whichever single source the user gave: a named
colormap (:mod:`geodigitize.colormap`), the figure's own colorbar
(:mod:`geodigitize.colorbar`) or a colour-table file (:mod:`geodigitize.cmapfile`).

The three sources build the same value, :class:`geodigitize.colormap.ColorScale`; this
module only chooses among them.
"""

from __future__ import annotations

import numpy as np

from .cmapfile import read_cmap_file
from .colorbar import locate_colorbar, scale_from_colorbar
from .colormap import ColorScale, from_cmap
from .errors import ColorScaleError

__all__ = ["build_scale"]


def build_scale(
    *,
    cmap: str | None = None,
    vmin: float | None = None,
    vmax: float | None = None,
    norm: str = "linear",
    vcenter: float | None = None,
    levels: tuple[float, ...] | None = None,
    colorbar: str | tuple | None = None,
    colorbar_flip: bool = False,
    cmap_file: str | None = None,
    image: np.ndarray | None = None,
    samples: int = 10_000,
) -> ColorScale:
    """Build the colour scale from whichever single source was given.

    Parameters
    ----------
    cmap : str, optional
        A matplotlib colormap name (see :func:`from_cmap`).
    vmin, vmax : float, optional
        Value range; taken from `levels` when given and these are not. A colour table
        file that holds values needs neither (given, they rescale it).
    norm : {"linear", "log", "twoslope"}
        How positions along the colormap or colorbar map to values.
    vcenter : float, optional
        Centre value for ``norm="twoslope"``.
    levels : tuple of float, optional
        Class edges: discrete classes, drawn as ``contourf``/``BoundaryNorm`` draw them
        (with `cmap`), or one per block of the colorbar (with `colorbar`).
    colorbar : "x0,y0,x1,y1", (x0, y0, x1, y1) or "auto", optional
        Sample the scale from this colorbar box of `image` (pixel corners); ``"auto"``
        uses the bar :func:`geodigitize.colorbar.locate_colorbar` finds (or refuses).
    colorbar_flip : bool
        The colorbar runs from vmax to vmin.
    cmap_file : str, optional
        A colour table file: CSV ``value,r,g,b``, QGIS colour map export or colour-ramp
        XML, GMT ``.cpt`` (see :mod:`geodigitize.cmapfile`).
    image : ndarray of shape (H, W, 3) and dtype uint8, optional
        The figure; needed with `colorbar`.
    samples : int
        Values sampled along a named colormap.

    Returns
    -------
    ColorScale

    Raises
    ------
    ColorScaleError
        If no source, or more than one, is given, a needed range is missing, or the
        source itself is bad.
    """
    given = [
        n
        for n, s in (("--cmap", cmap), ("--colorbar", colorbar), ("--cmap-file", cmap_file))
        if s is not None
    ]
    if len(given) != 1:
        what = f"got {' and '.join(given)}" if given else "got none"
        raise ColorScaleError(
            "give exactly one colour scale source: --cmap NAME, --colorbar BOX|auto or "
            f"--cmap-file FILE ({what})"
        )
    if levels is not None:
        levels = tuple(float(v) for v in levels)
    if cmap_file is not None:
        return read_cmap_file(cmap_file, vmin=vmin, vmax=vmax, norm=norm, vcenter=vcenter)
    if colorbar is not None:
        return _scale_from_colorbar(
            colorbar,
            image,
            vmin=vmin,
            vmax=vmax,
            norm=norm,
            vcenter=vcenter,
            levels=levels,
            flip=colorbar_flip,
        )
    if levels is not None:
        return from_cmap(cmap, float(levels[0]), float(levels[-1]), levels=levels)
    if vmin is None or vmax is None:
        raise ColorScaleError("give the value range with --vmin and --vmax (or --levels)")
    return from_cmap(cmap, float(vmin), float(vmax), norm=norm, vcenter=vcenter, samples=samples)


def _scale_from_colorbar(colorbar, image, *, flip, **kwargs) -> ColorScale:
    if image is None:
        raise ColorScaleError("--colorbar needs the image to sample the colorbar from")
    auto = isinstance(colorbar, str) and colorbar.strip().lower() == "auto"
    if auto:
        colorbar = locate_colorbar(image).search_box
    scale = scale_from_colorbar(image, colorbar, flip=flip, **kwargs)
    if auto:
        scale.extra["colorbar_found"] = "auto"
    return scale
