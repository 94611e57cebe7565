"""Colour helpers every stage shares: packing RGB into integers, distinct colours,
and the colour spaces in which colour distances are measured.

This module sits at the bottom of the package: it imports nothing of geodigitize but
its errors.
"""

from __future__ import annotations

import numpy as np

from .errors import ColorScaleError

__all__ = [
    "COLOR_SPACES",
    "distinct_colors",
    "pack_rgb",
    "rgb_to_lab",
    "to_space",
    "unpack_rgb",
]

#: Accepted values of ``color_space``.
COLOR_SPACES = ("rgb", "lab")

# Above this many pixels a 2**24 lookup table beats sorting for finding distinct colours.
_LUT_THRESHOLD = 1 << 20


def pack_rgb(image: np.ndarray) -> np.ndarray:
    """Pack an (..., 3) uint8 RGB array into (...) uint32 integers ``0xRRGGBB``."""
    img = np.asarray(image)
    return (
        (img[..., 0].astype(np.uint32) << 16)
        | (img[..., 1].astype(np.uint32) << 8)
        | img[..., 2].astype(np.uint32)
    )


def unpack_rgb(packed: np.ndarray) -> np.ndarray:
    """Inverse of :func:`pack_rgb`: (...) uint32 to (..., 3) uint8.

    Notes
    -----
    Read as bytes: ``0xRRGGBB`` stored little-endian is the bytes B, G, R, 0, so the
    channels are a reversed view of them (one copy, 3x faster than three shifts and a
    stack).
    """
    packed = np.asarray(packed, dtype="<u4")  # the byte order the view below reads
    shape = packed.shape
    as_bytes = np.ascontiguousarray(packed.reshape(-1)).view(np.uint8).reshape(-1, 4)
    return np.ascontiguousarray(as_bytes[:, 2::-1]).reshape(*shape, 3)


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """Convert sRGB colours (0-255) to CIELAB (D65 white), the space of delta E.

    Parameters
    ----------
    rgb : ndarray of shape (..., 3)
        sRGB in 0-255 units (any dtype).

    Returns
    -------
    ndarray of shape (..., 3) and dtype float64
        L* in 0-100, a*, b*.
    """
    c = np.asarray(rgb, dtype=np.float64) / 255.0
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    m = np.array(
        [
            [0.4124564, 0.3575761, 0.1804375],
            [0.2126729, 0.7151522, 0.0721750],
            [0.0193339, 0.1191920, 0.9503041],
        ]
    )
    xyz = lin @ m.T / np.array([0.95047, 1.0, 1.08883])
    eps, kappa = 216 / 24389, 24389 / 27
    f = np.where(xyz > eps, np.cbrt(xyz), (kappa * xyz + 16) / 116)
    lab = np.empty_like(f)
    lab[..., 0] = 116 * f[..., 1] - 16
    lab[..., 1] = 500 * (f[..., 0] - f[..., 1])
    lab[..., 2] = 200 * (f[..., 1] - f[..., 2])
    return lab


def to_space(rgb: np.ndarray, color_space: str) -> np.ndarray:
    """RGB colours (0-255, shape (..., 3)) as float64 in `color_space` ("rgb" or "lab").

    Raises
    ------
    ColorScaleError
        If `color_space` is not one of :data:`COLOR_SPACES`.
    """
    if color_space == "rgb":
        return np.asarray(rgb, dtype=np.float64)
    if color_space == "lab":
        return rgb_to_lab(rgb)
    raise ColorScaleError(
        f"unknown colour space {color_space!r}: use one of {', '.join(COLOR_SPACES)}"
    )


def distinct_colors(packed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Find the distinct packed colours and each pixel's index into them.

    Parameters
    ----------
    packed : ndarray of dtype uint32
        Packed colours (see :func:`pack_rgb`), any shape.

    Returns
    -------
    colors : ndarray of shape (C,) and dtype uint32
        Sorted distinct colours.
    inverse : ndarray of the shape of `packed` and dtype int32
        ``colors[inverse] == packed``.
    """
    flat = packed.ravel()
    if flat.size < _LUT_THRESHOLD:
        colors, inverse = np.unique(flat, return_inverse=True)
        return colors.astype(np.uint32), inverse.astype(np.int32).reshape(packed.shape)
    present = np.zeros(1 << 24, dtype=bool)
    present[flat] = True
    colors = np.flatnonzero(present).astype(np.uint32)
    lookup = np.zeros(1 << 24, dtype=np.int32)
    lookup[colors] = np.arange(colors.size, dtype=np.int32)
    return colors, lookup[flat].reshape(packed.shape)
