"""A part of the image: the box type, its parsing and the pixels it holds.

Boxes are ``(x0, y0, x1, y1)`` in pixel-corner coordinates (GDAL convention, see
``docs/conventions.md``): (0, 0) is the image's top-left corner, the first pixel's centre
is (0.5, 0.5), ``x`` grows to the right and ``y`` downwards.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .errors import RegionError

__all__ = ["Box", "parse_box", "region_axes", "region_mask"]

#: A box ``(x0, y0, x1, y1)`` in pixel corners.
Box = tuple[float, float, float, float]


def parse_box(text: str | Sequence[float], what: str = "region") -> Box:
    """Parse ``"x0,y0,x1,y1"`` (pixel corners, GDAL convention) into floats.

    Raises
    ------
    RegionError
        If there are not four numbers or the box is empty.
    """
    if isinstance(text, str):
        parts = [p.strip() for p in text.split(",")]
        try:
            nums = [float(p) for p in parts]
        except ValueError:
            nums = []
    else:
        nums = [float(v) for v in text]
    if len(nums) != 4 or not np.all(np.isfinite(nums)):
        raise RegionError(f"{what} must be four numbers x0,y0,x1,y1 (pixels), got {text!r}")
    x0, y0, x1, y1 = nums
    if x1 <= x0 or y1 <= y0:
        raise RegionError(
            f"{what} {x0:g},{y0:g},{x1:g},{y1:g} is empty: give the top-left corner "
            "first (x0 < x1, y0 < y1; rows grow downwards)"
        )
    return x0, y0, x1, y1


def region_mask(shape: tuple[int, int], region: Box, what: str = "region") -> np.ndarray:
    """Pixels whose centre lies inside a box.

    Parameters
    ----------
    shape : (H, W)
        Image shape.
    region : (x0, y0, x1, y1)
        Box in pixel coordinates (GDAL convention: (0, 0) is the image's top-left corner).

    Returns
    -------
    ndarray of shape (H, W) and dtype bool
        True where ``x0 <= j + 0.5 <= x1`` and ``y0 <= i + 0.5 <= y1``.

    Raises
    ------
    RegionError
        If the box reaches outside the image or holds no pixel centre.
    """
    inside_r, inside_c = region_axes(shape, region, what)
    return inside_r[:, None] & inside_c[None, :]


def region_axes(
    shape: tuple[int, int], region: Box, what: str = "region"
) -> tuple[np.ndarray, np.ndarray]:
    """The rows and the columns whose pixel centres lie inside a box.

    :func:`region_mask` is their outer product; a window of rows ``r0:r1`` is inside
    where ``rows[r0:r1, None] & cols[None, :]``.

    Returns
    -------
    rows : ndarray of shape (H,) and dtype bool
    cols : ndarray of shape (W,) and dtype bool

    Raises
    ------
    RegionError
        As :func:`region_mask`.
    """
    height, width = shape
    x0, y0, x1, y1 = parse_box(region, what)
    if x0 < 0 or y0 < 0 or x1 > width or y1 > height:
        raise RegionError(
            f"{what} {x0:g},{y0:g},{x1:g},{y1:g} reaches outside the {width}x{height} "
            f"image: keep 0 <= x <= {width} and 0 <= y <= {height}"
        )
    cols = np.arange(width) + 0.5
    rows = np.arange(height) + 0.5
    inside_c = (cols >= x0) & (cols <= x1)
    inside_r = (rows >= y0) & (rows <= y1)
    if not inside_c.any() or not inside_r.any():
        raise RegionError(f"{what} {x0:g},{y0:g},{x1:g},{y1:g} contains no pixel centre")
    return inside_r, inside_c
