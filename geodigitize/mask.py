"""Decide which pixels are data, and record why the others are not.

The result of this stage is a ``reason`` array: 0 (:attr:`Reason.DATA`) for pixels to
keep, and a code saying why each other pixel was excluded (transparent, outside the
region, off the colour scale, an antialiased halo of a line or text). Keeping the reason
lets the report count each cause and the preview show it.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import IntEnum

import numpy as np
from scipy import ndimage

from .errors import RegionError

__all__ = [
    "Reason",
    "classify",
    "count_reasons",
    "parse_box",
    "region_mask",
]

Box = tuple[float, float, float, float]


class Reason(IntEnum):
    """Why a pixel is, or is not, data. Stored as uint8."""

    DATA = 0
    TRANSPARENT = 1
    OUTSIDE_REGION = 2
    OFF_SCALE = 3
    EXCLUDED_COLOR = 4
    HALO = 5
    INCONSISTENT = 6


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
    return inside_r[:, None] & inside_c[None, :]


def classify(
    distance: np.ndarray,
    *,
    max_distance: float,
    opaque: np.ndarray | None = None,
    region: Box | None = None,
    halo_distance: float | None = None,
    excluded: np.ndarray | None = None,
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
        Pixels of colours the user excluded.

    Returns
    -------
    ndarray of shape (H, W) and dtype uint8
        :class:`Reason` codes; the first applicable reason in the order transparent,
        outside region, excluded colour, off scale, halo.
    """
    reason = np.zeros(distance.shape, dtype=np.uint8)
    off = distance > max_distance
    if excluded is not None:
        off_or_excluded = off | excluded
    else:
        off_or_excluded = off
    if halo_distance is not None:
        near = ndimage.binary_dilation(off_or_excluded, structure=np.ones((3, 3), bool))
        reason[near & (distance > halo_distance)] = Reason.HALO
    reason[off] = Reason.OFF_SCALE
    if excluded is not None:
        reason[excluded] = Reason.EXCLUDED_COLOR
    if region is not None:
        reason[~region_mask(distance.shape, region)] = Reason.OUTSIDE_REGION
    if opaque is not None:
        reason[~opaque] = Reason.TRANSPARENT
    return reason


def count_reasons(reason: np.ndarray) -> dict[str, int]:
    """Count pixels per :class:`Reason`, by lower-case name."""
    counts = np.bincount(reason.ravel(), minlength=len(Reason))
    return {r.name.lower(): int(counts[r]) for r in Reason}
