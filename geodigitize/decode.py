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
from .colors import distinct_colors, pack_rgb, to_space, unpack_rgb

__all__ = ["Decoded", "decode", "lookup_colors", "scale_tree"]


@dataclass(frozen=True, eq=False)
class Decoded:
    """Decoded values and colour distances of an image.

    Attributes
    ----------
    values : ndarray of shape (H, W) and dtype float64, or None
        Value of each pixel's nearest scale colour (never NaN: masking is a later stage):
        ``scale.values[index]``. None where a caller decoding from colour ids left them
        out (:func:`geodigitize.mask.mask_rows` then takes them from `index` where it
        needs them).
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
        The distinct colours, packed (see :func:`geodigitize.colors.pack_rgb`).
    """

    values: np.ndarray | None
    distance: np.ndarray
    index: np.ndarray
    color_space: str
    n_colors: int
    color_id: np.ndarray | None = None
    colors: np.ndarray | None = None


# One KD-tree per (scale, colour space), dropped when the scale is.
_TREES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def scale_tree(scale: ColorScale, color_space: str = "rgb") -> cKDTree:
    """KD-tree over the scale's colours in `color_space`, built once per scale."""
    trees = _TREES.setdefault(scale, {})
    if color_space not in trees:
        trees[color_space] = cKDTree(to_space(scale.colors, color_space))
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
    dist, idx = tree.query(to_space(colors, color_space))
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
