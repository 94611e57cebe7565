"""Decode pixel colours to values through a colour scale.

Every distinct colour of the image is looked up once in a KD-tree of the scale's colours
(figures hold thousands of distinct colours, not millions), and the answer is spread back
to the pixels through an index, so the cost is one pass over the pixels plus
``n_distinct_colours * log(K)``.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from .colormap import ColorScale
from .errors import ColorScaleError

__all__ = [
    "COLOR_SPACES",
    "Decoded",
    "decode",
    "pack_rgb",
    "rgb_to_lab",
    "unpack_rgb",
]

#: Accepted values of ``color_space``.
COLOR_SPACES = ("rgb", "lab")

# Above this many pixels a 2**24 lookup table beats sorting for finding distinct colours.
_LUT_THRESHOLD = 1 << 20


@dataclass(frozen=True, eq=False)
class Decoded:
    """Decoded values and colour distances of an image.

    Attributes
    ----------
    values : ndarray of shape (H, W) and dtype float64
        Value of each pixel's nearest scale colour (never NaN: masking is a later stage).
    distance : ndarray of shape (H, W) and dtype float32
        Distance from each pixel's colour to that nearest scale colour, in the units of
        `color_space` (RGB 0-255 Euclidean, or CIELAB delta E).
    index : ndarray of shape (H, W) and dtype int32
        Index of the nearest entry in the scale's colour table.
    color_space : str
    n_colors : int
        Number of distinct colours in the image.
    color_id : ndarray of shape (H, W) and dtype int32, optional
        Each pixel's distinct colour: ``colors[color_id]`` is the packed image.
    colors : ndarray of shape (n_colors,) and dtype uint32, optional
        The distinct colours, packed (see :func:`pack_rgb`).
    """

    values: np.ndarray
    distance: np.ndarray
    index: np.ndarray
    color_space: str
    n_colors: int
    color_id: np.ndarray | None = None
    colors: np.ndarray | None = None


def pack_rgb(image: np.ndarray) -> np.ndarray:
    """Pack an (..., 3) uint8 RGB array into (...) uint32 integers ``0xRRGGBB``."""
    img = np.asarray(image)
    return (
        (img[..., 0].astype(np.uint32) << 16)
        | (img[..., 1].astype(np.uint32) << 8)
        | img[..., 2].astype(np.uint32)
    )


def unpack_rgb(packed: np.ndarray) -> np.ndarray:
    """Inverse of :func:`pack_rgb`: (...) uint32 to (..., 3) uint8."""
    packed = np.asarray(packed, dtype=np.uint32)
    return np.stack([(packed >> 16) & 255, (packed >> 8) & 255, packed & 255], -1).astype(
        np.uint8
    )


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
        [[0.4124564, 0.3575761, 0.1804375],
         [0.2126729, 0.7151522, 0.0721750],
         [0.0193339, 0.1191920, 0.9503041]]
    )
    xyz = lin @ m.T / np.array([0.95047, 1.0, 1.08883])
    eps, kappa = 216 / 24389, 24389 / 27
    f = np.where(xyz > eps, np.cbrt(xyz), (kappa * xyz + 16) / 116)
    lab = np.empty_like(f)
    lab[..., 0] = 116 * f[..., 1] - 16
    lab[..., 1] = 500 * (f[..., 0] - f[..., 1])
    lab[..., 2] = 200 * (f[..., 1] - f[..., 2])
    return lab


def _to_space(rgb: np.ndarray, color_space: str) -> np.ndarray:
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


# One KD-tree per (scale, colour space), dropped when the scale is.
_TREES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def scale_tree(scale: ColorScale, color_space: str = "rgb") -> cKDTree:
    """KD-tree over the scale's colours in `color_space`, built once per scale."""
    trees = _TREES.setdefault(scale, {})
    if color_space not in trees:
        trees[color_space] = cKDTree(_to_space(scale.colors, color_space))
    return trees[color_space]


def lookup_colors(
    colors: np.ndarray, scale: ColorScale, color_space: str = "rgb"
) -> tuple[np.ndarray, np.ndarray]:
    """Nearest scale entry and distance for each of a set of colours.

    Parameters
    ----------
    colors : ndarray of shape (C, 3)
        RGB colours, 0-255.
    scale : ColorScale
    color_space : {"rgb", "lab"}

    Returns
    -------
    distance : ndarray of shape (C,) and dtype float32
    index : ndarray of shape (C,) and dtype int32
    """
    tree = scale_tree(scale, color_space)
    dist, idx = tree.query(_to_space(colors, color_space))
    return dist.astype(np.float32), idx.astype(np.int32)


def decode(image: np.ndarray, scale: ColorScale, *, color_space: str = "rgb") -> Decoded:
    """Decode every pixel to the value of its nearest colour in `scale`.

    Parameters
    ----------
    image : ndarray of shape (H, W, 3) and dtype uint8
        RGB image.
    scale : ColorScale
        The colours and the values they stand for.
    color_space : {"rgb", "lab"}
        Space in which "nearest" and the returned distances are measured.

    Returns
    -------
    Decoded
        Values, distances and table indices of shape (H, W).

    Examples
    --------
    >>> import numpy as np
    >>> from geodigitize.colormap import from_cmap
    >>> scale = from_cmap("viridis", 0.0, 1.0)
    >>> img = (scale.colors[[0, -1]].reshape(1, 2, 3)).astype(np.uint8)
    >>> d = decode(img, scale)
    >>> bool(d.values[0, 0] < 0.01 and d.values[0, 1] > 0.99)
    True
    """
    colors, inverse = distinct_colors(pack_rgb(image))
    dist, idx = lookup_colors(unpack_rgb(colors), scale, color_space)
    index = idx[inverse]
    return Decoded(
        values=scale.values[index],
        distance=dist[inverse],
        index=index,
        color_space=color_space,
        n_colors=int(colors.size),
        color_id=inverse,
        colors=colors,
    )
