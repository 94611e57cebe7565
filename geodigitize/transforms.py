"""Transforms between pixel positions and map positions, fitted from GCPs.

Each transform is an estimator in scikit-learn's shape: ``__init__`` stores parameters,
``fit(col, row, x, y)`` checks the points and learns, learned attributes end in ``_``.
``forward`` maps pixel to map, ``inverse`` map to pixel. Pixel positions follow GDAL's
convention (see ``docs/conventions.md``).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from affine import Affine

from .errors import GCPError, TransformError

__all__ = ["KINDS", "AffineTransform", "Transform", "check_gcp_geometry", "make_transform"]


def check_gcp_geometry(
    col: np.ndarray, row: np.ndarray, x: np.ndarray, y: np.ndarray, minimum: int, kind: str
) -> None:
    """Refuse GCP sets no transform of `kind` can be fitted to.

    Raises
    ------
    GCPError
        Too few points, NaN, duplicate pixel or map positions, or collinear points.
    """
    arrays = [np.asarray(a, dtype=np.float64) for a in (col, row, x, y)]
    n = arrays[0].size
    if any(a.shape != (n,) for a in arrays):
        raise GCPError("col, row, x and y must be 1-D arrays of the same length")
    if n < minimum:
        raise GCPError(
            f"the {kind} transform needs at least {minimum} GCPs, got {n}: add "
            f"{minimum - n} more"
        )
    if not all(np.all(np.isfinite(a)) for a in arrays):
        raise GCPError("GCPs contain NaN or infinite coordinates: fix or remove those rows")
    _check_duplicates(arrays[0], arrays[1], "pixel position", "pixel")
    _check_duplicates(arrays[2], arrays[3], "map position", "map point")
    if minimum >= 3 and _collinear(arrays[0], arrays[1]):
        raise GCPError(
            "the GCPs' pixel positions lie on one line: add a point off that line "
            "(a transform needs points spread in two directions)"
        )
    if minimum >= 3 and _collinear(arrays[2], arrays[3]):
        raise GCPError("the GCPs' map positions lie on one line: add a point off that line")


def _check_duplicates(a: np.ndarray, b: np.ndarray, what: str, short: str) -> None:
    pairs = np.column_stack([a, b])
    _, first, counts = np.unique(pairs, axis=0, return_index=True, return_counts=True)
    if np.any(counts > 1):
        i = int(first[np.argmax(counts > 1)])
        raise GCPError(
            f"two GCPs share the {what} ({a[i]:g}, {b[i]:g}): remove the duplicate "
            f"{short} or correct one of them"
        )


def _collinear(a: np.ndarray, b: np.ndarray) -> bool:
    pts = np.column_stack([a - a.mean(), b - b.mean()])
    s = np.linalg.svd(pts, compute_uv=False)
    return bool(s[0] == 0 or s[-1] <= 1e-9 * s[0])


class Transform:
    """Base class of the pixel <-> map transforms."""

    kind: ClassVar[str] = ""
    min_points: ClassVar[int] = 3

    def fit(self, col, row, x, y) -> Transform:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, col, row) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover
        raise NotImplementedError

    def inverse(self, x, y) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover
        raise NotImplementedError

    def _check_fitted(self) -> None:
        if not hasattr(self, "coef_"):
            raise TransformError(f"the {self.kind} transform is not fitted: call fit first")


class AffineTransform(Transform):
    """Least-squares affine transform (polynomial of order 1).

    ``x = a * col + b * row + c`` and ``y = d * col + e * row + f``; the inverse is exact.

    Attributes
    ----------
    coef_ : ndarray of shape (2, 3)
        ``[[a, b, c], [d, e, f]]``.
    """

    kind: ClassVar[str] = "affine"
    min_points: ClassVar[int] = 3

    def fit(self, col, row, x, y) -> AffineTransform:
        """Fit to GCPs; arrays of shape (n,), n >= 3, not collinear."""
        col, row, x, y = (np.asarray(v, dtype=np.float64) for v in (col, row, x, y))
        check_gcp_geometry(col, row, x, y, self.min_points, self.kind)
        design = np.column_stack([col, row, np.ones_like(col)])
        coef, *_ = np.linalg.lstsq(design, np.column_stack([x, y]), rcond=None)
        self.coef_ = coef.T
        return self

    @classmethod
    def from_affine(cls, aff: Affine) -> AffineTransform:
        """A fitted transform from a rasterio/``affine`` Affine."""
        obj = cls()
        obj.coef_ = np.array([[aff.a, aff.b, aff.c], [aff.d, aff.e, aff.f]])
        return obj

    def to_affine(self) -> Affine:
        """The transform as an ``affine.Affine`` (a GeoTIFF's geotransform)."""
        self._check_fitted()
        (a, b, c), (d, e, f) = self.coef_
        return Affine(a, b, c, d, e, f)

    def forward(self, col, row) -> tuple[np.ndarray, np.ndarray]:
        """Pixel (col, row) to map (x, y); arrays of any matching shape."""
        self._check_fitted()
        (a, b, c), (d, e, f) = self.coef_
        col, row = np.asarray(col, dtype=np.float64), np.asarray(row, dtype=np.float64)
        return a * col + b * row + c, d * col + e * row + f

    def inverse(self, x, y) -> tuple[np.ndarray, np.ndarray]:
        """Map (x, y) to pixel (col, row), exactly."""
        self._check_fitted()
        inv = ~self.to_affine()
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        return inv.a * x + inv.b * y + inv.c, inv.d * x + inv.e * y + inv.f


#: Transform kinds by name.
KINDS: dict[str, type[Transform]] = {"affine": AffineTransform}


def make_transform(kind: str) -> Transform:
    """An unfitted transform of `kind` (see :data:`KINDS`).

    Raises
    ------
    TransformError
        If `kind` is unknown; the message lists the known kinds.
    """
    try:
        return KINDS[kind]()
    except KeyError:
        raise TransformError(
            f"unknown transform {kind!r}: use one of {', '.join(KINDS)}"
        ) from None
