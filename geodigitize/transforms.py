"""Transforms between pixel positions and map positions, fitted from GCPs.

Each transform is an estimator in scikit-learn's shape: ``__init__`` stores parameters,
``fit(col, row, x, y)`` checks the points and learns, learned attributes end in ``_``.
``forward`` maps pixel to map, ``inverse`` map to pixel. Pixel positions follow GDAL's
convention (see ``docs/conventions.md``).

Kinds, with the fewest GCPs each needs (as QGIS's Georeferencer and GDAL):

========== ===== ===========================================================
kind       min   what
========== ===== ===========================================================
helmert    2     shift, rotation, one scale (a map drawn to scale)
affine     3     polynomial of order 1 (GDAL ``-order 1``); exact inverse
projective 4     homography (a photographed page); exact inverse
poly2      6     polynomial of order 2 (GDAL ``-order 2``)
poly3      10    polynomial of order 3 (GDAL ``-order 3``)
tps        3     thin plate spline (GDAL ``-tps``): exact at every GCP
========== ===== ===========================================================

Notes
-----
The polynomial and thin-plate-spline transforms fit their inverse (map to pixel)
separately, as GDAL's ``gdal_crs.c`` and ``gdal_tps.cpp`` do; the inverse is then not the
exact inverse of the forward, and :meth:`Transform.roundtrip_error` measures by how much.
Polynomials are fitted by least squares on centred and scaled coordinates (the solution
is the same, the conditioning much better); the thin plate spline uses GDAL's kernel
``r^2 log r^2``.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from affine import Affine

from .errors import GCPError, TransformError

__all__ = [
    "KINDS",
    "AffineTransform",
    "AutoTransform",
    "HelmertTransform",
    "PolynomialTransform",
    "ProjectiveTransform",
    "TPSTransform",
    "Transform",
    "check_gcp_geometry",
    "make_transform",
]

#: Largest leave-one-out RMSE, in pixels, that ``auto`` accepts as reading error.
AUTO_TOLERANCE_PX = 0.5
#: Above this many GCPs, transforms without a closed-form leave-one-out (projective) use
#: the first-order (leverage) approximation instead of refitting once per GCP.
LOO_REFIT_MAX = 500
#: Above this many GCPs ``auto`` does not try the thin plate spline: its fit solves a dense
#: (n + 3)-square system twice (minutes and gigabytes at 10 000 GCPs).
AUTO_TPS_MAX = 2000


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
            f"the {kind} transform needs at least {minimum} GCPs, got {n}: add {minimum - n} more"
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


def _as_float(*arrays) -> list[np.ndarray]:
    return [np.asarray(a, dtype=np.float64) for a in arrays]


class _Normaliser:
    """Centre on the mean and scale isotropically so coordinates are of order one."""

    def __init__(self, a: np.ndarray, b: np.ndarray) -> None:
        self.ma, self.mb = float(a.mean()), float(b.mean())
        spread = float(np.sqrt(np.mean((a - self.ma) ** 2 + (b - self.mb) ** 2)))
        self.scale = spread if spread > 0 else 1.0

    def __call__(self, a, b) -> tuple[np.ndarray, np.ndarray]:
        return (np.asarray(a) - self.ma) / self.scale, (np.asarray(b) - self.mb) / self.scale


class Transform:
    """Base class of the pixel <-> map transforms.

    Subclasses set :attr:`kind` and :attr:`min_points` and implement ``_fit``,
    ``forward`` and ``inverse``.
    """

    kind: ClassVar[str] = ""
    min_points: ClassVar[int] = 3
    #: True when :meth:`inverse` is the exact inverse of :meth:`forward`.
    exact_inverse: ClassVar[bool] = True

    def fit(self, col, row, x, y) -> Transform:
        """Fit to GCPs given as arrays of shape (n,): pixel (col, row), map (x, y).

        Raises
        ------
        GCPError
            Too few or degenerate GCPs (the message says how many are needed and why).
        """
        col, row, x, y = _as_float(col, row, x, y)
        check_gcp_geometry(col, row, x, y, self.min_points, self.kind)
        self._fit(col, row, x, y)
        return self

    def _fit(self, col, row, x, y) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, col, row) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover
        """Pixel (col, row) to map (x, y); arrays of any matching shape."""
        raise NotImplementedError

    def inverse(self, x, y) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover
        """Map (x, y) to pixel (col, row); arrays of any matching shape."""
        raise NotImplementedError

    def _check_fitted(self) -> None:
        if not hasattr(self, "coef_"):
            raise TransformError(f"the {self.kind} transform is not fitted: call fit first")

    def roundtrip_error(self, col, row) -> float:
        """Largest pixel distance of ``inverse(forward(col, row))`` from (col, row)."""
        col, row = _as_float(col, row)
        c2, r2 = self.inverse(*self.forward(col, row))
        return float(np.max(np.hypot(c2 - col, r2 - row))) if col.size else 0.0

    def leave_one_out(self, col, row, x, y) -> np.ndarray:
        """Pixel error of each GCP predicted by the transform fitted without it.

        Returns
        -------
        ndarray of shape (n, 2)
            ``(col, row)`` of each GCP minus ``inverse(x, y)`` of the transform fitted to
            the other GCPs; NaN where the others cannot determine a transform.
        """
        col, row, x, y = _as_float(col, row, x, y)
        out = np.full((col.size, 2), np.nan)
        keep = np.ones(col.size, dtype=bool)
        for i in range(col.size):
            keep[i] = False
            try:
                t = type(self)().fit(col[keep], row[keep], x[keep], y[keep])
            except (GCPError, TransformError):
                keep[i] = True
                continue
            keep[i] = True
            c, r = t.inverse(x[i], y[i])
            out[i] = col[i] - c, row[i] - r
        return out

    def to_dict(self) -> dict:
        """Kind and learned parameters, for reports."""
        self._check_fitted()
        return {"kind": self.kind, "coef": np.asarray(self.coef_).tolist()}


class AffineTransform(Transform):
    """Least-squares affine transform (polynomial of order 1, GDAL ``-order 1``).

    ``x = a * col + b * row + c`` and ``y = d * col + e * row + f``; the inverse is exact.

    Attributes
    ----------
    coef_ : ndarray of shape (2, 3)
        ``[[a, b, c], [d, e, f]]``.
    """

    kind: ClassVar[str] = "affine"
    min_points: ClassVar[int] = 3

    def _fit(self, col, row, x, y) -> None:
        norm = _Normaliser(col, row)
        u, v = norm(col, row)
        design = np.column_stack([u, v, np.ones_like(u)])
        (pa, pb, pc), (pd, pe, pf) = np.linalg.lstsq(design, np.column_stack([x, y]), rcond=None)[
            0
        ].T
        s = norm.scale
        # undo the normalisation: u = (col - mc) / s
        self.coef_ = np.array(
            [
                [pa / s, pb / s, pc - (pa * norm.ma + pb * norm.mb) / s],
                [pd / s, pe / s, pf - (pd * norm.ma + pe * norm.mb) / s],
            ]
        )

    def leave_one_out(self, col, row, x, y) -> np.ndarray:
        """Leave-one-out pixel errors, exact, from the hat matrix (no refitting).

        Removing GCP ``i`` changes the least-squares coefficients by a rank-one update
        ``(X'X)^-1 x_i e_i / (1 - h_ii)``; the refitted transform's exact inverse then
        gives the pixel error. Vectorised: 10 000 GCPs take milliseconds.
        """
        col, row, x, y = _as_float(col, row, x, y)
        out = np.full((col.size, 2), np.nan)
        if col.size <= type(self).min_points:
            return out
        norm = _Normaliser(col, row)
        u, v = norm(col, row)
        design = np.column_stack([u, v, np.ones_like(u)])
        target = np.column_stack([x, y])
        gram_inv = np.linalg.pinv(design.T @ design)
        coef = gram_inv @ design.T @ target  # (3, 2)
        gain = design @ gram_inv  # row i: ((X'X)^-1 x_i)'
        lever = 1.0 - np.einsum("ij,ij->i", gain, design)
        ok = lever > 1e-9
        eloo = (target - design @ coef)[ok] / lever[ok, None]
        # linear part of each refit: rows map x, y; columns u, v
        lin = coef[:2].T[None] - eloo[:, :, None] * gain[ok][:, None, :2]
        det = lin[:, 0, 0] * lin[:, 1, 1] - lin[:, 0, 1] * lin[:, 1, 0]
        good = np.abs(det) > 1e-12 * np.abs(coef[:2]).max() ** 2
        step = np.full(eloo.shape, np.nan)
        step[good] = np.linalg.solve(lin[good], eloo[good][..., None])[..., 0]
        out[ok] = -norm.scale * step
        return out

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
        col, row = _as_float(col, row)
        return a * col + b * row + c, d * col + e * row + f

    def inverse(self, x, y) -> tuple[np.ndarray, np.ndarray]:
        """Map (x, y) to pixel (col, row), exactly."""
        self._check_fitted()
        aff = self.to_affine()
        if abs(aff.determinant) == 0:
            raise TransformError("the affine transform is singular: check the GCPs")
        inv = ~aff
        x, y = _as_float(x, y)
        return inv.a * x + inv.b * y + inv.c, inv.d * x + inv.e * y + inv.f


class HelmertTransform(AffineTransform):
    """Shift, rotation and one scale (a similarity; QGIS's Helmert transform).

    Fitted, as QGIS does, in the frame ``(col, -row)`` where the image's y axis points up
    like the map's: ``x = a u - b v + c``, ``y = b u + a v + f`` with ``u = col``,
    ``v = -row``. The inverse is exact.

    Attributes
    ----------
    coef_ : ndarray of shape (2, 3)
        The equivalent affine ``[[a, b, c], [d, e, f]]`` in pixel (col, row) terms.
    scale_, rotation_ : float
        Map units per pixel, and the rotation in degrees (counter-clockwise).
    """

    kind: ClassVar[str] = "helmert"
    min_points: ClassVar[int] = 2

    def _fit(self, col, row, x, y) -> None:
        norm = _Normaliser(col, -row)
        u, v = norm(col, -row)
        w = u + 1j * v
        design = np.column_stack([w, np.ones_like(w)])
        (m, t), *_ = np.linalg.lstsq(design, x + 1j * y, rcond=None)
        m = m / norm.scale
        t = t - m * (norm.ma + 1j * norm.mb)
        a, b = m.real, m.imag
        # x = a col + b row + c ; y = b col - a row + f  (since v = -row)
        self.coef_ = np.array([[a, b, t.real], [b, -a, t.imag]])
        self.scale_ = float(abs(m))
        self.rotation_ = float(np.degrees(np.angle(m)))

    def leave_one_out(self, col, row, x, y) -> np.ndarray:
        """Leave-one-out pixel errors, exact, from the (complex) hat matrix."""
        col, row, x, y = _as_float(col, row, x, y)
        out = np.full((col.size, 2), np.nan)
        if col.size <= type(self).min_points:
            return out
        norm = _Normaliser(col, -row)
        u, v = norm(col, -row)
        design = np.column_stack([u + 1j * v, np.ones(u.size)])
        z = x + 1j * y
        gram_inv = np.linalg.pinv(design.conj().T @ design)
        coef = gram_inv @ design.conj().T @ z  # (m, t)
        gain = design.conj() @ gram_inv.T  # row i: (X^H X)^-1 conj(x_i)
        lever = 1.0 - np.real(np.einsum("ij,ij->i", design, gain))
        ok = lever > 1e-9
        eloo = (z - design @ coef)[ok] / lever[ok]
        m = coef[0] - gain[ok, 0] * eloo
        with np.errstate(divide="ignore", invalid="ignore"):
            err = -norm.scale * eloo / m  # in (col, -row)
        out[ok] = np.column_stack([err.real, -err.imag])
        return out


class ProjectiveTransform(Transform):
    """Homography (8 parameters; QGIS's projective transform), for a photographed page.

    ``x = (h0 col + h1 row + h2) / (h6 col + h7 row + 1)``, likewise ``y`` with h3..h5.
    Fitted by the normalised direct linear transform (Hartley's algorithm, as QGIS);
    four GCPs give the exact homography. The inverse is the inverse matrix, exact.

    Attributes
    ----------
    coef_ : ndarray of shape (3, 3)
        The homography acting on ``(col, row, 1)``.
    """

    kind: ClassVar[str] = "projective"
    min_points: ClassVar[int] = 4

    def _fit(self, col, row, x, y) -> None:
        src, dst = _Normaliser(col, row), _Normaliser(x, y)
        u, v = src(col, row)
        p, q = dst(x, y)
        zero, one = np.zeros_like(u), np.ones_like(u)
        rows_a = np.column_stack([u, v, one, zero, zero, zero, -p * u, -p * v, -p])
        rows_b = np.column_stack([zero, zero, zero, u, v, one, -q * u, -q * v, -q])
        system = np.vstack([rows_a, rows_b, np.zeros((max(0, 9 - 2 * u.size), 9))])
        _, s, vt = np.linalg.svd(system, full_matrices=False)
        if s.size >= 8 and s[7] <= 1e-12 * s[0]:
            raise GCPError(
                "the GCPs do not determine a projective transform (three or more lie on "
                "one line): spread four points towards the image's corners"
            )
        h = vt[-1].reshape(3, 3)
        t_src = np.array(
            [
                [1 / src.scale, 0, -src.ma / src.scale],
                [0, 1 / src.scale, -src.mb / src.scale],
                [0, 0, 1],
            ]
        )
        t_dst_inv = np.array([[dst.scale, 0, dst.ma], [0, dst.scale, dst.mb], [0, 0, 1]])
        full = t_dst_inv @ h @ t_src
        if abs(full[2, 2]) < 1e-300 or abs(np.linalg.det(full)) < 1e-300:
            raise GCPError("the GCPs do not determine a projective transform: spread them out")
        self.coef_ = full / full[2, 2]
        self.inverse_coef_ = np.linalg.inv(self.coef_)

    def leave_one_out(self, col, row, x, y) -> np.ndarray:
        """Leave-one-out pixel errors: by refitting up to :data:`LOO_REFIT_MAX` GCPs,
        above that by the first-order (leverage) approximation of the inverse homography,
        ``(I - H_ii)^-1 r_i``, whose error shrinks like ``1 / n``."""
        col, row, x, y = _as_float(col, row, x, y)
        if col.size <= LOO_REFIT_MAX:
            return super().leave_one_out(col, row, x, y)
        t = type(self)().fit(col, row, x, y)
        pix, geo = _Normaliser(col, row), _Normaliser(x, y)
        t_pix = np.array(
            [
                [1 / pix.scale, 0, -pix.ma / pix.scale],
                [0, 1 / pix.scale, -pix.mb / pix.scale],
                [0, 0, 1],
            ]
        )
        t_geo_inv = np.array([[geo.scale, 0, geo.ma], [0, geo.scale, geo.mb], [0, 0, 1]])
        h = t_pix @ t.inverse_coef_ @ t_geo_inv
        h = h / h[2, 2]
        a, b = geo(x, y)
        p, q = self._apply(h, a, b)
        w = h[2, 0] * a + h[2, 1] * b + 1.0
        zero, one = np.zeros_like(a), np.ones_like(a)
        jac = (
            np.stack(
                [
                    np.column_stack([a, b, one, zero, zero, zero, -p * a, -p * b]),
                    np.column_stack([zero, zero, zero, a, b, one, -q * a, -q * b]),
                ],
                axis=1,
            )
            / w[:, None, None]
        )  # (n, 2, 8)
        info_inv = np.linalg.pinv(np.einsum("nki,nkj->ij", jac, jac))
        lever = np.einsum("nki,ij,nlj->nkl", jac, info_inv, jac)
        pu, pv = pix(col, row)
        res = np.column_stack([pu - p, pv - q])
        step = np.linalg.solve(np.eye(2)[None] - lever, res[..., None])[..., 0]
        return step * pix.scale

    @staticmethod
    def _apply(h: np.ndarray, a, b) -> tuple[np.ndarray, np.ndarray]:
        a, b = _as_float(a, b)
        w = h[2, 0] * a + h[2, 1] * b + h[2, 2]
        return (
            (h[0, 0] * a + h[0, 1] * b + h[0, 2]) / w,
            (h[1, 0] * a + h[1, 1] * b + h[1, 2]) / w,
        )

    def forward(self, col, row) -> tuple[np.ndarray, np.ndarray]:
        """Pixel (col, row) to map (x, y)."""
        self._check_fitted()
        return self._apply(self.coef_, col, row)

    def inverse(self, x, y) -> tuple[np.ndarray, np.ndarray]:
        """Map (x, y) to pixel (col, row), exactly."""
        self._check_fitted()
        return self._apply(self.inverse_coef_, x, y)


def _exponents(order: int) -> list[tuple[int, int]]:
    """Monomials ``a**i * b**j`` with ``i + j <= order``, in GDAL's order of terms."""
    return [(d - j, j) for d in range(order + 1) for j in range(d + 1)]


class _LeastSquaresPolynomial:
    """One direction of a polynomial transform: (a, b) -> (p, q), least squares."""

    def __init__(self, order: int, a, b, p, q) -> None:
        self.order = order
        self.norm = _Normaliser(a, b)
        design = self._design(a, b)
        s = np.linalg.svd(design, compute_uv=False)
        if s[-1] <= 1e-10 * s[0]:
            raise GCPError(
                f"the GCPs do not determine a polynomial of order {order} (they lie on "
                f"too simple a curve): add points spread over the whole image"
            )
        self.coef, *_ = np.linalg.lstsq(design, np.column_stack([p, q]), rcond=None)
        self.hat_diag = self._hat_diagonal(design)

    def _design(self, a, b) -> np.ndarray:
        u, v = self.norm(np.ravel(a), np.ravel(b))
        return np.column_stack([u**i * v**j for i, j in _exponents(self.order)])

    @staticmethod
    def _hat_diagonal(design: np.ndarray) -> np.ndarray:
        q, _ = np.linalg.qr(design)
        return np.sum(q**2, axis=1)

    def __call__(self, a, b) -> tuple[np.ndarray, np.ndarray]:
        a, b = _as_float(a, b)
        out = self._design(a, b) @ self.coef
        return out[:, 0].reshape(a.shape), out[:, 1].reshape(a.shape)


class _FittedBothWays(Transform):
    """A transform whose forward and inverse are fitted separately, as GDAL fits its
    polynomial and thin-plate-spline transformers; subclasses give the model."""

    exact_inverse: ClassVar[bool] = False

    def _model(self, a, b, u, v):  # pragma: no cover - abstract
        """A model mapping (a, b) to (u, v), fitted to the given points."""
        raise NotImplementedError

    def _fit(self, col, row, x, y) -> None:
        self._fwd = self._model(col, row, x, y)
        self._inv = self._model(x, y, col, row)
        self.coef_ = self._fwd.coef
        self.inverse_coef_ = self._inv.coef

    def forward(self, col, row) -> tuple[np.ndarray, np.ndarray]:
        """Pixel (col, row) to map (x, y)."""
        self._check_fitted()
        return self._fwd(col, row)

    def inverse(self, x, y) -> tuple[np.ndarray, np.ndarray]:
        """Map (x, y) to pixel (col, row) by the separately fitted inverse."""
        self._check_fitted()
        return self._inv(x, y)


class PolynomialTransform(_FittedBothWays):
    """Polynomial of order 1, 2 or 3 (GDAL's ``-order N``, QGIS's Polynomial 1-3).

    Forward (pixel to map) and inverse (map to pixel) are each fitted by least squares,
    as GDAL's ``gdal_crs.c`` does, so the forward matches ``gdaltransform -order N``.

    Parameters
    ----------
    order : {1, 2, 3}

    Attributes
    ----------
    coef_ : ndarray of shape (m, 2)
        Forward coefficients in normalised pixel coordinates, ``m`` = 3, 6 or 10 terms.
    inverse_coef_ : ndarray of shape (m, 2)
        Inverse coefficients in normalised map coordinates.
    """

    exact_inverse: ClassVar[bool] = False
    _MIN: ClassVar[dict[int, int]] = {1: 3, 2: 6, 3: 10}

    def __init__(self, order: int = 2) -> None:
        self.order = order

    @property
    def kind(self) -> str:  # type: ignore[override]
        return "affine" if self.order == 1 else f"poly{self.order}"

    @property
    def min_points(self) -> int:  # type: ignore[override]
        try:
            return self._MIN[self.order]
        except KeyError:
            raise TransformError(
                f"polynomial order {self.order} is not supported: use 1, 2 or 3"
            ) from None

    def _model(self, a, b, u, v) -> _LeastSquaresPolynomial:
        return _LeastSquaresPolynomial(self.order, a, b, u, v)

    def leave_one_out(self, col, row, x, y) -> np.ndarray:
        """Leave-one-out pixel errors of the inverse fit, by the hat matrix (exact)."""
        col, row, x, y = _as_float(col, row, x, y)
        t = type(self)(self.order).fit(col, row, x, y)
        c, r = t.inverse(x, y)
        res = np.column_stack([col - c, row - r])
        lever = 1.0 - t._inv.hat_diag
        with np.errstate(divide="ignore", invalid="ignore"):
            out = res / lever[:, None]
        out[lever <= 1e-9] = np.nan
        return out


class _ThinPlateSpline:
    """One direction of a thin plate spline, GDAL's kernel ``r^2 log r^2``, exact at nodes."""

    def __init__(self, a, b, p, q) -> None:
        self.norm = _Normaliser(a, b)
        self.nodes = np.column_stack(self.norm(a, b))
        n = a.size
        system = np.zeros((n + 3, n + 3))
        system[:n, :n] = self._kernel(self.nodes, self.nodes)
        poly = np.column_stack([np.ones(n), self.nodes])
        system[:n, n:] = poly
        system[n:, :n] = poly.T
        rhs = np.zeros((n + 3, 2))
        rhs[:n, 0], rhs[:n, 1] = p, q
        try:
            self.system_inv = np.linalg.inv(system)
        except np.linalg.LinAlgError:
            raise GCPError(
                "the thin plate spline cannot be solved for these GCPs: remove duplicate "
                "or coincident points"
            ) from None
        self.coef = self.system_inv @ rhs
        if not np.all(np.isfinite(self.coef)):
            raise GCPError("the thin plate spline cannot be solved for these GCPs")

    @staticmethod
    def _kernel(pts: np.ndarray, nodes: np.ndarray) -> np.ndarray:
        # |p - n|^2 expanded into a matrix product: ~10x faster than broadcasting, and on
        # normalised coordinates (order one) the cancellation error is ~1e-16
        d2 = (
            np.einsum("ij,ij->i", pts, pts)[:, None]
            + np.einsum("ij,ij->i", nodes, nodes)
            - 2.0 * pts @ nodes.T
        )
        np.maximum(d2, 0.0, out=d2)
        tiny = d2 < 1e-24
        d2[tiny] = 1.0
        k = d2 * np.log(d2)
        k[tiny] = 0.0
        return k

    def __call__(self, a, b, chunk: int = 65536) -> tuple[np.ndarray, np.ndarray]:
        a, b = _as_float(a, b)
        u, v = self.norm(a.ravel(), b.ravel())
        pts = np.column_stack([u, v])
        out = np.empty((pts.shape[0], 2))
        n = self.nodes.shape[0]
        step = max(1, chunk * 64 // max(n, 1))
        for s in range(0, pts.shape[0], step):
            part = pts[s : s + step]
            out[s : s + step] = (
                self._kernel(part, self.nodes) @ self.coef[:n]
                + self.coef[n]
                + part @ self.coef[n + 1 :]
            )
        return out[:, 0].reshape(a.shape), out[:, 1].reshape(a.shape)

    def leave_one_out(self) -> np.ndarray:
        """Rippa's formula: error at node i of the spline fitted without node i."""
        n = self.nodes.shape[0]
        diag = np.diag(self.system_inv)[:n]
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.coef[:n] / diag[:, None]


class TPSTransform(_FittedBothWays):
    """Thin plate spline (GDAL's ``-tps``): passes exactly through every GCP.

    Forward and inverse are two splines, each exact at the GCPs, as in GDAL's
    ``gdal_tps.cpp``. Residuals are therefore zero by construction; judge the fit by
    :meth:`leave_one_out` instead.

    Attributes
    ----------
    coef_ : ndarray of shape (n + 3, 2)
        Forward kernel weights then affine part, in normalised pixel coordinates.
    inverse_coef_ : ndarray of shape (n + 3, 2)
    """

    kind: ClassVar[str] = "tps"
    min_points: ClassVar[int] = 3
    exact_inverse: ClassVar[bool] = False

    def _model(self, a, b, u, v) -> _ThinPlateSpline:
        return _ThinPlateSpline(a, b, u, v)

    def leave_one_out(self, col, row, x, y) -> np.ndarray:
        """Leave-one-out pixel errors of the inverse spline, by Rippa's formula (exact)."""
        col, row, x, y = _as_float(col, row, x, y)
        if col.size <= 3:
            return np.full((col.size, 2), np.nan)
        t = self if self._fitted_to(x, y, col, row) else type(self)().fit(col, row, x, y)
        return t._inv.leave_one_out()

    def _fitted_to(self, x, y, col, row) -> bool:
        """Whether the inverse spline was fitted to exactly these points (no refit needed)."""
        inv = getattr(self, "_inv", None)
        if inv is None or inv.nodes.shape[0] != x.size:
            return False
        nodes = np.column_stack(inv.norm(x, y))
        return bool(
            np.array_equal(nodes, inv.nodes)
            and np.allclose(inv(x, y), (col, row), rtol=0, atol=1e-6)
        )


#: Order in which ``auto`` tries kinds: simplest (fewest parameters) first.
AUTO_ORDER = ("helmert", "affine", "projective", "poly2", "poly3", "tps")


class AutoTransform(Transform):
    """The simplest kind whose leave-one-out errors are within reading error.

    Kinds are tried from the simplest (:data:`AUTO_ORDER`); for each with enough GCPs to
    leave one out, the leave-one-out RMSE in pixels is computed (plain residuals would
    always favour the most flexible kind, and are zero for TPS). The first kind whose
    leave-one-out RMSE is at most `tolerance` pixels is chosen; when none is, the kind
    with the smallest leave-one-out RMSE.

    Parameters
    ----------
    tolerance : float
        Reading error of the GCPs, in pixels.

    Attributes
    ----------
    best_ : Transform
        The chosen transform, fitted to all GCPs.
    candidates_ : dict of str to float
        Leave-one-out RMSE (pixels) of every kind tried.
    reason_ : str
        Why ``best_`` was chosen, in one sentence.
    """

    kind: ClassVar[str] = "auto"
    min_points: ClassVar[int] = 2

    def __init__(self, tolerance: float = AUTO_TOLERANCE_PX) -> None:
        self.tolerance = tolerance

    def _fit(self, col, row, x, y) -> None:
        scores: dict[str, float] = {}
        fitted: dict[str, Transform] = {}
        skipped = ""
        for kind in AUTO_ORDER:
            t = make_transform(kind)
            if col.size < t.min_points + 1:
                continue
            if kind == "tps" and col.size > AUTO_TPS_MAX:
                skipped = f"; tps not tried above {AUTO_TPS_MAX} GCPs (choose --transform tps)"
                continue
            try:
                t.fit(col, row, x, y)
                loo = t.leave_one_out(col, row, x, y)
            except (GCPError, TransformError):
                continue
            norms = np.hypot(loo[:, 0], loo[:, 1])
            if not np.all(np.isfinite(norms)):
                continue
            scores[kind] = float(np.sqrt(np.mean(norms**2)))
            fitted[kind] = t
            if scores[kind] <= self.tolerance:
                break
        if not scores:
            raise GCPError(
                f"auto needs at least {AffineTransform.min_points + 1} GCPs spread over the "
                f"image to compare transforms: add points or choose --transform"
            )
        tried = ", ".join(f"{k} {v:.3g} px" for k, v in scores.items())
        good = [k for k, v in scores.items() if v <= self.tolerance]
        if good:
            choice = good[0]
            self.reason_ = (
                f"{choice} is the simplest transform whose leave-one-out RMSE "
                f"({scores[choice]:.3g} px) is within reading error ({self.tolerance:g} px); "
                f"tried {tried}"
            )
        else:
            choice = min(scores, key=scores.get)
            self.reason_ = (
                f"no transform reached {self.tolerance:g} px leave-one-out RMSE; {choice} "
                f"has the smallest ({scores[choice]:.3g} px); tried {tried}"
            )
        self.reason_ += skipped
        self.best_ = fitted[choice]
        self.candidates_ = scores
        self.coef_ = self.best_.coef_

    def forward(self, col, row) -> tuple[np.ndarray, np.ndarray]:
        """Pixel to map through the chosen transform."""
        self._check_fitted()
        return self.best_.forward(col, row)

    def inverse(self, x, y) -> tuple[np.ndarray, np.ndarray]:
        """Map to pixel through the chosen transform."""
        self._check_fitted()
        return self.best_.inverse(x, y)


#: Transform kinds by name (``auto`` chooses among the others).
KINDS: dict[str, type[Transform]] = {
    "helmert": HelmertTransform,
    "affine": AffineTransform,
    "projective": ProjectiveTransform,
    "poly2": PolynomialTransform,
    "poly3": PolynomialTransform,
    "tps": TPSTransform,
    "auto": AutoTransform,
}


def make_transform(kind: str) -> Transform:
    """An unfitted transform of `kind` (see :data:`KINDS`).

    Raises
    ------
    TransformError
        If `kind` is unknown; the message lists the known kinds.
    """
    key = str(kind).strip().lower()
    if key in ("poly1", "polynomial1", "linear"):
        key = "affine"
    if key in ("poly2", "poly3"):
        return PolynomialTransform(int(key[-1]))
    try:
        return KINDS[key]()
    except KeyError:
        raise TransformError(f"unknown transform {kind!r}: use one of {', '.join(KINDS)}") from None
