"""Reduce decoded pixels to one representative point per flat cluster.

The seed method keeps pixels where the decoded field is flat, clusters them with DBSCAN
on pixel positions and keeps, per cluster, the member nearest the cluster's centroid.

With ``min_samples=1``, DBSCAN on integer pixel positions is connected-component
labelling: two pixels are neighbours when their distance is at most `eps`, so
``1 <= eps < sqrt(2)`` links the 4 edge neighbours and ``sqrt(2) <= eps < 2`` the 8
neighbours of a pixel, and ``eps < 1`` links nothing. Clusters never join pixels of
different decoded values. Those cases are labelled with :mod:`scipy.ndimage` (and, where a
component mixes values, a sparse graph); any other parameters run scikit-learn's DBSCAN
with the value as a third coordinate scaled so different values are never within `eps`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from .dbscan import DBSCANResult, lattice_dbscan
from .errors import GeodigitizeError
from .store import PixelStore, row_runs

__all__ = [
    "Clusters",
    "centroid_distance_key",
    "cluster_labels",
    "cluster_runs",
    "cluster_sums",
    "equal_codes",
    "flat_mask",
    "labels_from_runs",
    "nearest_in_runs",
    "nearest_members",
    "reduce",
    "representatives",
    "representatives_store",
    "run_sums",
]

_FOUR = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], dtype=bool)
_EIGHT = np.ones((3, 3), dtype=bool)


@dataclass(frozen=True, eq=False)
class Clusters:
    """One representative pixel per cluster.

    Attributes
    ----------
    col, row : ndarray of shape (N,) and dtype float64
        Pixel-centre position of each representative (GDAL convention: ``j + 0.5``,
        ``i + 0.5``).
    value : ndarray of shape (N,) and dtype float64
        Decoded value of the cluster (all its pixels share it).
    n_pixels : ndarray of shape (N,) and dtype int64
        Cluster size.
    labels : ndarray of shape (H, W) and dtype int32
        Cluster index of every pixel, -1 where the pixel is in no cluster.
    method : str
        ``"ndimage-4"``, ``"ndimage-8"``, ``"singletons"`` or ``"dbscan"``.
    """

    col: np.ndarray
    row: np.ndarray
    value: np.ndarray
    n_pixels: np.ndarray
    labels: np.ndarray
    method: str

    def __len__(self) -> int:
        return int(self.col.shape[0])


def equal_codes(values: np.ndarray) -> np.ndarray | None:
    """Small integer codes that are equal exactly where `values` are equal.

    :func:`flat_mask` with ``tol=0`` and :func:`cluster_labels` with ``min_samples=1``
    and ``eps < 2`` only ask whether neighbouring values are equal, so they give the same
    answer on these codes, gathered per pixel in a byte or two instead of eight.

    Parameters
    ----------
    values : ndarray of shape (K,)
        A table of values (a scale's).

    Returns
    -------
    ndarray of shape (K,) and dtype uint8 (up to 256 distinct values), uint16 or int64,
    or None when a value is NaN (which equals no value, itself included).

    Examples
    --------
    >>> equal_codes(np.array([0.5, -1.0, 0.5, 2.0])).tolist()
    [1, 0, 1, 2]
    """
    values = np.asarray(values, dtype=np.float64)
    if np.isnan(values).any():
        return None
    distinct, codes = np.unique(values, return_inverse=True)
    n = distinct.size
    return codes.astype(np.uint8 if n <= 256 else np.uint16 if n <= 65536 else np.int64)


def flat_mask(values: np.ndarray, valid: np.ndarray, tol: float = 0.0) -> np.ndarray:
    """Pixels where the decoded field is flat.

    A pixel is flat when it is valid, has at least one valid edge neighbour, and differs
    from each valid edge neighbour (4-neighbourhood) by at most `tol`.

    Parameters
    ----------
    values : ndarray of shape (H, W)
        Decoded values (with ``tol=0``, any codes equal where they are equal:
        :func:`equal_codes`).
    valid : ndarray of shape (H, W) and dtype bool
        Pixels that are data (see :mod:`geodigitize.mask`).
    tol : float
        Largest absolute difference still counted as flat, in value units.

    Returns
    -------
    ndarray of shape (H, W) and dtype bool
    """
    flat = valid.copy()
    has_neighbour = np.zeros_like(valid)
    for axis in (0, 1):
        both = np.logical_and(_take(valid, axis, 1), _take(valid, axis, 0))
        after, before = _take(values, axis, 1), _take(values, axis, 0)
        if tol == 0:  # |a - b| > 0 is a != b, without the subtraction (values are finite)
            steep = both & (after != before)
        else:
            steep = both & (np.abs(after - before) > tol)
        _or_pair(flat, steep, axis, invert=True)
        _or_pair(has_neighbour, both, axis)
    return flat & has_neighbour


def _take(arr: np.ndarray, axis: int, start: int) -> np.ndarray:
    """``arr[1:]`` (start=1) or ``arr[:-1]`` (start=0) along `axis`."""
    sl = [slice(None), slice(None)]
    sl[axis] = slice(1, None) if start else slice(None, -1)
    return arr[tuple(sl)]


def _or_pair(target: np.ndarray, pair: np.ndarray, axis: int, invert: bool = False) -> None:
    """Apply a per-pair flag (between i and i+1 along `axis`) to both pixels in place."""
    for start in (0, 1):
        view = _take(target, axis, start)
        if invert:
            view &= ~pair
        else:
            view |= pair


def _connectivity(eps: float) -> int:
    """Neighbourhood DBSCAN with ``min_samples=1`` uses on a pixel grid (0: none)."""
    if eps < 1:
        return 0
    return 4 if eps < math.sqrt(2) else 8


def cluster_labels(
    values: np.ndarray, keep: np.ndarray, *, eps: float = 1.0, min_samples: int = 1
) -> tuple[np.ndarray, int, str]:
    """Cluster kept pixels of equal value, as DBSCAN on pixel positions would.

    Parameters
    ----------
    values : ndarray of shape (H, W)
        Decoded values; pixels of different values never share a cluster. With
        ``min_samples=1`` and ``eps < 2`` only their equality counts (codes from
        :func:`equal_codes` give the same clusters).
    keep : ndarray of shape (H, W) and dtype bool
        Pixels to cluster (usually the flat ones).
    eps : float
        DBSCAN's neighbourhood radius, in pixels.
    min_samples : int
        DBSCAN's core-point count (the point itself included).

    Returns
    -------
    labels : ndarray of shape (H, W) and dtype int32
        0..n-1, -1 for pixels not kept or DBSCAN noise.
    n : int
        Number of clusters.
    method : str
    """
    if eps <= 0 or min_samples < 1:
        raise GeodigitizeError(f"eps must be > 0 and min_samples >= 1, got {eps}, {min_samples}")
    conn = _connectivity(eps)
    if min_samples == 1 and conn == 0:
        labels = np.full(keep.shape, -1, dtype=np.int32)
        n = int(keep.sum())
        labels[keep] = np.arange(n, dtype=np.int32)
        return labels, n, "singletons"
    if min_samples == 1 and eps < 2:
        labels, n = _label_equal(values, keep, conn)
        return labels, n, f"ndimage-{conn}"
    labels, n = _dbscan(values, keep, eps, min_samples)
    return labels, n, "dbscan"


def cluster_runs(
    values: np.ndarray, keep: np.ndarray, *, eps: float = 1.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int, str]:
    """:func:`cluster_labels`'s clusters with ``min_samples=1`` and ``eps < 2``, as runs
    along rows, found from the runs without labelling pixels.

    The runs are the maximal runs of kept pixels of one value along each row; two runs of
    adjacent rows join when they touch (by an edge, or with ``eps >= sqrt 2`` a corner)
    and hold the same value. The connected runs are the clusters, numbered by their first
    pixel in row-major order as ``cluster_labels`` numbers them. A field of a few hundred
    colours has tens of pixels per run, so this costs a few passes over the pixels and
    a graph of the runs, less than labelling every pixel.

    Parameters
    ----------
    values : ndarray of shape (H, W)
        Decoded values, or codes equal where they are (:func:`equal_codes`).
    keep : ndarray of shape (H, W) and dtype bool
        Pixels to cluster.
    eps : float
        DBSCAN's neighbourhood radius, below 2.

    Returns
    -------
    rows, col0, col1 : ndarray of shape (m,) and dtype intp
        Each run's row, first column and end column (exclusive), in row-major order.
    lab : ndarray of shape (m,) and dtype int32
        Each run's cluster, 0..n-1.
    n : int
        Number of clusters.
    method : str
        What :func:`cluster_labels` reports for the same clusters.
    """
    if not 0 < eps < 2:
        raise GeodigitizeError(f"cluster_runs needs 0 < eps < 2, got {eps}")
    conn = _connectivity(eps)
    w = keep.shape[1]
    kept = keep.ravel()
    if conn == 0:  # every kept pixel its own cluster
        start = np.flatnonzero(kept)
        rows, col0 = np.divmod(start, w) if w else (start, start)
        lab = np.arange(start.size, dtype=np.int32)
        return rows, col0, col0 + 1, lab, int(start.size), "singletons"
    # the runs of kept pixels of one value (a run also ends where `keep` changes);
    # values compare as numbers, as in cluster_labels
    rows, col0, col1, start = row_runs(keep, (keep.view(np.int8), values))
    n_runs = start.size
    # Runs of the row above that touch each run: runs are disjoint and sorted along a row,
    # so those are a contiguous range of the runs, found by two searches on keys that
    # put rows `w + 2` apart (a reach of one column never crosses a row).
    reach = 0 if conn == 4 else 1
    span = w + 2
    start_key, end_key = rows * span + col0, rows * span + col1
    above = rows * span - span  # the row above's keys
    lo = np.searchsorted(end_key, above + col0 - reach, side="right")
    hi = np.searchsorted(start_key, above + col1 + reach, side="left")
    count = np.where(rows > 0, np.maximum(hi - lo, 0), 0)
    src = np.repeat(np.arange(n_runs), count)
    dst = np.repeat(lo - np.cumsum(count) + count, count) + np.arange(int(count.sum()))
    code = values.ravel()[start]
    same = code[src] == code[dst]
    src, dst = src[same], dst[same]
    graph = coo_matrix((np.ones(src.size, dtype=np.int8), (src, dst)), shape=(n_runs, n_runs))
    k, comp = connected_components(graph, directed=False)
    # number the clusters by their first run (the first pixel, runs being in row-major
    # order), as ndimage.label numbers components
    _, first_run = np.unique(comp, return_index=True)
    number = np.empty(k, dtype=np.int32)
    number[np.argsort(first_run)] = np.arange(k, dtype=np.int32)
    return rows, col0, col1, number[comp], int(k), f"ndimage-{conn}"


def labels_from_runs(
    rows: np.ndarray, col0: np.ndarray, col1: np.ndarray, lab: np.ndarray, shape
) -> np.ndarray:
    """Pixel labels (-1 outside every run, in the type of `lab`) of runs along rows
    (see :func:`cluster_runs`), given in row-major order and disjoint, as it gives them.

    The flat image is the runs and the gaps between them in turn, so it is one
    ``np.repeat`` of their labels (-1 for a gap) by their lengths: no index per pixel
    (4-5x faster than scattering the labels by pixel index).
    """
    h, w = shape
    m = lab.size
    start = rows * w + col0
    lengths = np.empty(2 * m + 1, dtype=np.intp)  # gap, run, gap, run, ..., gap
    lengths[1::2] = col1 - col0
    lengths[0:-1:2] = start
    lengths[2:-1:2] -= start[:-1] + lengths[1:-2:2]  # the previous run's end
    lengths[-1] = h * w - (start[-1] + lengths[-2] if m else 0)
    labels = np.full(2 * m + 1, -1, dtype=np.asarray(lab).dtype)
    labels[1::2] = lab
    return np.repeat(labels, lengths).reshape(shape)


def _label_equal(values: np.ndarray, keep: np.ndarray, conn: int) -> tuple[np.ndarray, int]:
    """Connected components of kept pixels with equal values."""
    structure = _FOUR if conn == 4 else _EIGHT
    comp, n = ndimage.label(keep, structure=structure)
    if n == 0:
        return np.full(keep.shape, -1, dtype=np.int32), 0
    # a component holds several values exactly when two kept neighbours (in its
    # connectivity) differ: find those pairs, a few passes over the image
    offsets = [(0, 1), (1, 0)] + ([(1, 1), (1, -1)] if conn == 8 else [])
    mixed = np.zeros(n + 1, dtype=bool)
    for di, dj in offsets:
        a, b = _shifted(keep, di, dj)
        va, vb = _shifted(values, di, dj)
        differ = a & b & (va != vb)
        if differ.any():
            mixed[_shifted(comp, di, dj)[0][differ]] = True
    mixed = mixed[1:]
    if mixed.any():
        comp, n = _split_mixed(values, comp, n, np.flatnonzero(mixed) + 1, conn)
    comp = comp.astype(np.int32, copy=False)
    comp -= 1
    return comp, n


def _split_mixed(
    values: np.ndarray, comp: np.ndarray, n: int, mixed: np.ndarray, conn: int
) -> tuple[np.ndarray, int]:
    """Split components that hold several values along value changes (sparse graph)."""
    in_mixed = np.isin(comp, mixed)
    idx = np.full(comp.shape, -1, dtype=np.int64)
    m = int(in_mixed.sum())
    idx[in_mixed] = np.arange(m)
    offsets = [(0, 1), (1, 0)] + ([(1, 1), (1, -1)] if conn == 8 else [])
    src, dst = [], []
    for di, dj in offsets:
        a, b = _shifted_pairs(idx, values, di, dj)
        src.append(a)
        dst.append(b)
    s, d = np.concatenate(src), np.concatenate(dst)
    graph = coo_matrix((np.ones(s.size, dtype=np.int8), (s, d)), shape=(m, m))
    k, sub = connected_components(graph, directed=False)
    keep_mask = comp > 0
    old = np.unique(comp[keep_mask & ~in_mixed])
    out = np.zeros_like(comp)
    out[keep_mask & ~in_mixed] = np.searchsorted(old, comp[keep_mask & ~in_mixed]) + 1
    out[in_mixed] = sub + old.size + 1
    return _by_first_pixel(out, int(old.size + k)), int(old.size + k)


def _by_first_pixel(labels: np.ndarray, n: int) -> np.ndarray:
    """Renumber labels 1..n in the row-major order of each cluster's first pixel.

    ndimage.label already numbers so; this restores that order after a split, so the
    order of clusters does not depend on how they were found (strips find them in pieces).
    """
    flat = labels.ravel()
    where = np.flatnonzero(flat)
    first = np.full(n + 1, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first, flat[where], where)
    remap = np.zeros(n + 1, dtype=labels.dtype)
    remap[np.argsort(first[1:], kind="stable") + 1] = np.arange(1, n + 1, dtype=labels.dtype)
    return remap[labels]


def _shifted(arr: np.ndarray, di: int, dj: int) -> tuple[np.ndarray, np.ndarray]:
    """Views ``a, b`` of `arr` with ``b[i, j]`` the neighbour ``(di, dj)`` of ``a[i, j]``
    (``di >= 0``)."""
    h, w = arr.shape
    c0, c1 = (0, w - dj) if dj >= 0 else (-dj, w)
    return arr[: h - di, c0:c1], arr[di:, c0 + dj : c1 + dj]


def _shifted_pairs(
    idx: np.ndarray, values: np.ndarray, di: int, dj: int
) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (p, p + (di, dj)) of graph nodes with equal values."""
    h, w = idx.shape
    r0, r1 = (0, h - di)
    c0, c1 = (0, w - dj) if dj >= 0 else (-dj, w)
    a = idx[r0:r1, c0:c1]
    b = idx[r0 + di : r1 + di, c0 + dj : c1 + dj]
    same = (a >= 0) & (b >= 0)
    same &= values[r0:r1, c0:c1] == values[r0 + di : r1 + di, c0 + dj : c1 + dj]
    return a[same], b[same]


def _dbscan(
    values: np.ndarray, keep: np.ndarray, eps: float, min_samples: int
) -> tuple[np.ndarray, int]:
    """scikit-learn's DBSCAN on (col, row, value code x (eps + 1)), computed on the pixel
    lattice (:func:`geodigitize.dbscan.lattice_dbscan`: the same labels)."""
    return lattice_dbscan(values, keep, eps, min_samples)


def representatives(values: np.ndarray, labels: np.ndarray, n: int) -> Clusters:
    """Pick, per cluster, the member pixel nearest the cluster's centroid.

    Ties go to the first pixel in row-major order. No Python loop over clusters.

    Parameters
    ----------
    values : ndarray of shape (H, W)
    labels : ndarray of shape (H, W) and dtype int32
        From :func:`cluster_labels`.
    n : int
        Number of clusters.

    Returns
    -------
    Clusters

    Notes
    -----
    Distances are compared as ``n**2 * d**2 = (n * col - sum(col))**2 + (...)**2``,
    computed from integers, so pixels at the same distance from the centroid tie exactly
    (a float centroid such as 1/3 would break such ties by rounding noise), and the
    result does not depend on how the sums were accumulated (see :mod:`geodigitize.strips`).
    """
    width = labels.shape[1]
    flat_idx = np.flatnonzero(labels.ravel() >= 0)
    lab = labels.ravel()[flat_idx]
    rows, cols = np.divmod(flat_idx, width)
    counts, sum_cols, sum_rows = cluster_sums(lab, rows, cols, n)
    key = centroid_distance_key(lab, rows, cols, counts, sum_cols, sum_rows)
    best, _ = nearest_members(lab, key, flat_idx, n)
    rep = flat_idx[best]
    r, c = np.divmod(rep, width)
    return Clusters(
        col=c + 0.5,
        row=r + 0.5,
        value=values.ravel()[rep].astype(np.float64),
        n_pixels=counts.astype(np.int64),
        labels=labels,
        method="",
    )


def cluster_sums(
    lab: np.ndarray, rows: np.ndarray, cols: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per cluster: member count, sum of columns, sum of rows (all int64, exact)."""
    counts = np.bincount(lab, minlength=n).astype(np.int64)
    # float64 sums of integers are exact below 2**53 (a 10**8-pixel cluster at col 10**7)
    sum_cols = np.bincount(lab, weights=cols, minlength=n).astype(np.int64)
    sum_rows = np.bincount(lab, weights=rows, minlength=n).astype(np.int64)
    return counts, sum_cols, sum_rows


def centroid_distance_key(
    lab: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    counts: np.ndarray,
    sum_cols: np.ndarray,
    sum_rows: np.ndarray,
) -> np.ndarray:
    """``count**2`` times each member's squared distance to its cluster's centroid.

    The differences ``n * col - sum(col)`` are integers below 2**53, so computing them in
    float64 is exact; their squares are exact below 2**26 per axis.
    """
    n_k = counts.astype(np.float64)[lab]
    dc = cols * n_k
    dc -= sum_cols.astype(np.float64)[lab]
    dc *= dc
    n_k *= rows
    n_k -= sum_rows.astype(np.float64)[lab]
    n_k *= n_k
    n_k += dc
    return n_k


def nearest_members(
    lab: np.ndarray, key: np.ndarray, flat_idx: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """Position in `lab` of each cluster's member with the smallest (key, flat_idx).

    Returns the positions and the clusters present (clusters absent from `lab` are left
    out, so the first array may be shorter than `n`).
    """
    if lab.size == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=lab.dtype)
    # O(pixels): smallest key per cluster, then the first candidate reaching it
    best = np.full(n, np.inf)
    np.minimum.at(best, lab, key)
    cand = np.flatnonzero(key == best[lab])
    first = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first, lab[cand], flat_idx[cand])
    chosen = cand[flat_idx[cand] == first[lab[cand]]]
    chosen = chosen[np.argsort(lab[chosen], kind="stable")]
    return chosen, lab[chosen]


def run_sums(
    rows: np.ndarray, col0: np.ndarray, col1: np.ndarray, lab: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`cluster_sums` of clusters given as runs along rows (pixels ``(rows[k],
    col0[k] .. col1[k] - 1)`` of cluster ``lab[k]``): count, sum of columns, sum of rows
    (int64, exact)."""
    length = col1 - col0
    counts = np.bincount(lab, weights=length, minlength=n).astype(np.int64)
    # float64 sums of integers are exact below 2**53; (c0 + c1 - 1) * length is even
    sum_cols = np.bincount(lab, weights=(col0 + col1 - 1) * length // 2, minlength=n)
    sum_rows = np.bincount(lab, weights=rows * length, minlength=n)
    return counts, sum_cols.astype(np.int64), sum_rows.astype(np.int64)


def nearest_in_runs(
    rows: np.ndarray,
    col0: np.ndarray,
    col1: np.ndarray,
    lab: np.ndarray,
    sums: tuple[np.ndarray, np.ndarray, np.ndarray],
    width: int,
    n: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each cluster's member nearest its centroid (ties: first in row-major order), as
    :func:`nearest_members` finds it over all members, from the cluster's runs.

    Within a run the nearest member is the column nearest the centroid's (the lower on
    a tie), clamped to the run; :func:`centroid_distance_key` then compares runs.

    Parameters
    ----------
    rows, col0, col1, lab : ndarray of shape (k,)
        Runs as :func:`run_sums` takes them.
    sums : (counts, sum_cols, sum_rows)
        :func:`run_sums` of the clusters.
    width : int
        Image width (for the row-major order).
    n : int
        Number of clusters.

    Returns
    -------
    run : ndarray of shape (m,) and dtype int64
        The run holding each present cluster's member.
    col : ndarray of shape (m,) and dtype int64
        The member's column.
    present : ndarray of shape (m,)
        The clusters present in `lab`, increasing.
    """
    counts, sum_cols, sum_rows = sums
    n_k, s_c = counts[lab], sum_cols[lab]
    best = -((n_k - 2 * s_c) // (2 * n_k))  # ceil(s_c / n_k - 1/2): nearest, lower on ties
    col = np.clip(best, col0, col1 - 1)
    key = centroid_distance_key(lab, rows, col, counts, sum_cols, sum_rows)
    pos, present = nearest_members(lab, key, rows * width + col, n)
    return pos, col[pos], present


def reduce(
    values: np.ndarray,
    valid: np.ndarray,
    *,
    flat_tol: float = 0.0,
    eps: float = 1.0,
    min_samples: int = 1,
) -> tuple[np.ndarray, Clusters]:
    """Flat pixels, their clusters and one representative each.

    Returns
    -------
    flat : ndarray of shape (H, W) and dtype bool
    clusters : Clusters
    """
    flat = flat_mask(values, valid, flat_tol)
    labels, n, method = cluster_labels(values, flat, eps=eps, min_samples=min_samples)
    reps = representatives(values, labels, n)
    return flat, Clusters(reps.col, reps.row, reps.value, reps.n_pixels, labels, method)


def representatives_store(store: PixelStore, result: DBSCANResult) -> Clusters:
    """:func:`representatives` of the clusters in `store`'s labels.

    Parameters
    ----------
    store : PixelStore
        With the final labels (``store.labels``) and values.
    result : DBSCANResult
        The clusters' counts and coordinate sums.

    Returns
    -------
    Clusters
        One point per cluster, in label order; ``labels`` has shape (0, 0).
    """
    n, width = result.n, store.shape[1]
    best_key = np.full(n, np.inf)
    best_idx = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
    best_value = np.zeros(n)
    for r0, r1 in store.blocks():
        labels = store.labels(r0, r1)
        flat_idx = np.flatnonzero(labels.ravel() >= 0)
        if flat_idx.size == 0:
            continue
        lab = labels.ravel()[flat_idx].astype(np.int64)
        rows, cols = np.divmod(flat_idx, width)
        key = centroid_distance_key(
            lab, rows + r0, cols, result.counts, result.sum_cols, result.sum_rows
        )
        pos, present = nearest_members(lab, key, flat_idx + r0 * width, n)
        k, i = key[pos], flat_idx[pos] + r0 * width
        better = (k < best_key[present]) | ((k == best_key[present]) & (i < best_idx[present]))
        take = present[better]
        best_key[take], best_idx[take] = k[better], i[better]
        values, _ = store.rows(r0, r1)
        best_value[take] = values.ravel()[flat_idx[pos][better]]
    r, c = np.divmod(best_idx, width)
    return Clusters(
        c + 0.5, r + 0.5, best_value, result.counts.copy(), np.zeros((0, 0), np.int32), "dbscan"
    )
