"""Check a reduction by rebuilding the decoded field from the kept points.

The seed method ends by interpolating the kept points back onto the image and comparing:
if the reduction dropped too much, the rebuilt field differs from the decoded one. Here
the rebuilt value of a pixel is the linear interpolation of the kept points (a Delaunay
triangulation of their pixel positions), and the nearest point's value outside their
hull. Errors are given as % of the colour scale's range.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import QhullError

from ._threads import serial_blas

__all__ = ["ReconstructionCheck", "check_reconstruction", "interpolate_points", "sample_positions"]

#: Largest number of pixels compared; larger images are checked on a random sample.
DEFAULT_SAMPLE = 2_000_000


@dataclass(frozen=True)
class ReconstructionCheck:
    """How well the kept points rebuild the decoded field.

    Attributes
    ----------
    median_pct, p95_pct : float
        Median and 95th percentile of the absolute error, as % of ``vmax - vmin``.
    n_pixels : int
        Pixels compared (all data pixels, or a random sample of them).
    sampled : bool
        True when a sample was compared.
    """

    median_pct: float
    p95_pct: float
    n_pixels: int
    sampled: bool

    def to_dict(self) -> dict:
        """The check as a plain dict for ``report.json``."""
        return {
            "median_abs_error_pct": self.median_pct,
            "p95_abs_error_pct": self.p95_pct,
            "n_pixels": self.n_pixels,
            "sampled": self.sampled,
            "method": "linear (nearest outside the hull)",
        }


def interpolate_points(
    col: np.ndarray, row: np.ndarray, value: np.ndarray, qcol: np.ndarray, qrow: np.ndarray
) -> np.ndarray:
    """Interpolate point values at query positions (pixel coordinates).

    Linear inside the points' convex hull, nearest point outside it (or everywhere when
    the points do not span an area).

    Parameters
    ----------
    col, row, value : ndarray of shape (N,)
        Kept points.
    qcol, qrow : ndarray of shape (M,)
        Query positions.

    Returns
    -------
    ndarray of shape (M,) and dtype float64
    """
    # imported here: the command line imports it on a thread while the run starts
    from scipy.interpolate import LinearNDInterpolator, NearestNDInterpolator

    pts = np.column_stack([col, row])
    query = np.column_stack([qcol, qrow])
    nearest = NearestNDInterpolator(pts, value)
    if len(value) < 3:
        return nearest(query)
    try:
        with serial_blas():  # one LAPACK call per triangle: see serial_blas
            out = LinearNDInterpolator(pts, value)(query)
    except QhullError:
        return nearest(query)
    missing = np.isnan(out)
    out[missing] = nearest(query[missing])
    return out


def sample_positions(n: int, k: int, seed: int = 0) -> np.ndarray:
    """`k` distinct positions out of ``range(n)``, uniformly at random, sorted.

    Uniform draws with replacement, repeated until `k` distinct positions are hit (the
    last round's surplus dropped at random): every step treats all positions alike, so
    every `k`-subset is equally likely, as with ``Generator.choice(n, k,
    replace=False)``, whose permutation of all `n` positions takes seconds at 100
    megapixels. Deterministic for a given seed.

    Parameters
    ----------
    n : int
        Population size.
    k : int
        Sample size (all of ``range(n)`` when ``k >= n``).
    seed : int

    Returns
    -------
    ndarray of shape (min(k, n),) and dtype int64
    """
    if k >= n:
        return np.arange(n, dtype=np.int64)
    rng = np.random.default_rng(seed)
    drop = k > n // 2  # draw the positions left out instead: fewer draws
    want = n - k if drop else k
    have = np.zeros(0, dtype=np.int64)  # sorted, distinct
    while have.size < want:
        # m draws hit about (n - have) (1 - exp(-m / n)) new positions; draw a few more
        m = int(-n * np.log1p(-(want - have.size) / (n - have.size)) * 1.02) + 64
        new = np.sort(rng.integers(0, n, m, dtype=np.int64))
        keep = np.ones(new.size, dtype=bool)
        keep[1:] = new[1:] != new[:-1]
        new = new[keep]
        if have.size:
            at = np.minimum(np.searchsorted(have, new), have.size - 1)
            new = new[have[at] != new]
        if new.size > want - have.size:  # a random subset: still every subset alike
            chosen = np.zeros(new.size, dtype=bool)  # kept in order: no second sort
            chosen[rng.choice(new.size, want - have.size, replace=False)] = True
            new = new[chosen]
        # disjoint from `have`: a sort of both is their union (np.union1d hashes integers
        # in numpy >= 2.3, 1.4 s for 2 million of them)
        have = np.sort(np.concatenate([have, new])) if have.size else new
    if not drop:
        return have
    out = np.ones(n, dtype=bool)
    out[have] = False
    return np.flatnonzero(out)


def check_reconstruction(
    values: np.ndarray,
    valid: np.ndarray,
    col: np.ndarray,
    row: np.ndarray,
    value: np.ndarray,
    value_range: float,
    *,
    sample: int = DEFAULT_SAMPLE,
    seed: int = 0,
) -> ReconstructionCheck:
    """Compare the field rebuilt from points with the decoded field.

    Parameters
    ----------
    values : ndarray of shape (H, W)
        Decoded values.
    valid : ndarray of shape (H, W) and dtype bool
        Data pixels (the comparison is made there).
    col, row, value : ndarray of shape (N,)
        Kept points, pixel-centre positions (GDAL convention).
    value_range : float
        ``vmax - vmin``.
    sample : int
        Compare at most this many pixels (a fixed-seed random sample).
    seed : int
        Seed of that sample.

    Returns
    -------
    ReconstructionCheck
    """
    rows, cols = np.nonzero(valid)
    sampled = rows.size > sample
    if sampled:
        # sorted: scipy finds simplices far faster for spatially ordered queries
        pick = sample_positions(rows.size, sample, seed)
        rows, cols = rows[pick], cols[pick]
    if rows.size == 0 or len(value) == 0:
        return ReconstructionCheck(float("nan"), float("nan"), 0, sampled)
    rebuilt = interpolate_points(col, row, value, cols + 0.5, rows + 0.5)
    err = np.abs(rebuilt - values[rows, cols]) / value_range * 100.0
    return ReconstructionCheck(
        float(np.median(err)), float(np.percentile(err, 95)), int(rows.size), sampled
    )
