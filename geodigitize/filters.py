"""Window filters over whole arrays: the minimum, maximum or any-true of each pixel's
square neighbourhood, as separable whole-array comparisons.

For the small integer and boolean arrays the mask and JPEG stages filter, these are more
than 10x faster than ``scipy.ndimage``'s filters and give identical results.
"""

from __future__ import annotations

import numpy as np

__all__ = ["any_in_window", "window_extreme"]


def any_in_window(mask: np.ndarray, size: int) -> np.ndarray:
    """Pixels with a True pixel in their ``size x size`` window (outside counts False).

    Equals ``ndimage.binary_dilation(mask, np.ones((size, size)))``.
    """
    return window_extreme(np.asarray(mask, dtype=bool), size, np.logical_or, edge=False)


def window_extreme(arr: np.ndarray, size: int, op, edge=True) -> np.ndarray:
    """Minimum (``op=np.minimum``) or maximum over each ``size x size`` window (odd size).

    Outside the image, edge pixels are repeated (``edge=True``, as ndimage's
    ``mode="nearest"``) or the value `edge` is assumed. Equals
    ``ndimage.minimum_filter`` / ``maximum_filter``; separable whole-array
    comparisons are more than 10x faster than ndimage's for small integers.
    """
    r = size // 2
    if edge is True:
        padded = np.pad(arr, r, mode="edge")
    else:
        padded = np.pad(arr, r, mode="constant", constant_values=edge)
    h, w = arr.shape
    cols = padded[:h].copy()
    for k in range(1, size):
        op(cols, padded[k : k + h], out=cols)
    out = cols[:, :w].copy()
    for k in range(1, size):
        op(out, cols[:, k : k + w], out=out)
    return out
