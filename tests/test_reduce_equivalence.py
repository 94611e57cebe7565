"""DBSCAN with ``min_samples=1`` on pixel positions == equal-value connected components.

`reduce.cluster_labels` labels with scipy.ndimage instead of running scikit-learn's DBSCAN
when the parameters allow. These tests run both on many random small grids (few value
levels, random keep masks) and assert the same partition of the kept pixels (up to the
numbering of clusters) and the same representative per cluster.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.cluster import DBSCAN

from geodigitize.reduce import cluster_labels, representatives

#: eps values inside each regime: no neighbours, 4-neighbours, 8-neighbours.
EPS = {
    "singletons": [0.3, 0.99],
    "ndimage-4": [1.0, 1.2, math.sqrt(2) - 1e-9],
    "ndimage-8": [math.sqrt(2), 1.5, 1.999],
}


def _dbscan_per_value(values: np.ndarray, keep: np.ndarray, eps: float) -> np.ndarray:
    """Reference: scikit-learn's DBSCAN on (col, row) of the kept pixels of each value."""
    labels = np.full(keep.shape, -1, dtype=np.int64)
    next_label = 0
    for v in np.unique(values[keep]):
        rows, cols = np.nonzero(keep & (values == v))
        found = DBSCAN(eps=eps, min_samples=1).fit(np.column_stack([cols, rows])).labels_
        labels[rows, cols] = found + next_label
        next_label += found.max() + 1
    return labels


def _canonical(labels: np.ndarray) -> np.ndarray:
    """Renumber clusters by their first pixel in row-major order (-1 stays -1)."""
    flat = labels.ravel()
    out = np.full(flat.shape, -1, dtype=np.int64)
    kept = flat >= 0
    _, first, inverse = np.unique(flat[kept], return_index=True, return_inverse=True)
    rank = np.argsort(np.argsort(first))
    out[kept] = rank[inverse]
    return out.reshape(labels.shape)


def _random_case(rng: np.random.Generator):
    h, w = rng.integers(1, 24, size=2)
    levels = rng.integers(1, 5)
    values = rng.integers(0, levels, size=(h, w)).astype(np.float64) * 0.1
    if rng.random() < 0.5:  # blocky fields make large clusters
        values = np.repeat(np.repeat(values[::3, ::3], 3, 0), 3, 1)[:h, :w]
        h, w = values.shape
    keep = rng.random((h, w)) < rng.uniform(0.2, 1.0)
    return values, keep


@pytest.mark.parametrize("regime", list(EPS))
def test_cluster_labels_equal_dbscan_partition(regime):
    rng = np.random.default_rng(list(EPS).index(regime))
    for case in range(300):
        values, keep = _random_case(rng)
        eps = EPS[regime][case % len(EPS[regime])]
        labels, n, method = cluster_labels(values, keep, eps=eps, min_samples=1)
        assert method == regime
        reference = _dbscan_per_value(values, keep, eps)
        np.testing.assert_array_equal(_canonical(labels), _canonical(reference))
        # clusters are numbered by their first pixel, however they were found
        np.testing.assert_array_equal(labels, _canonical(labels))
        assert n == (reference.max() + 1 if keep.any() else 0)


@pytest.mark.parametrize("regime", list(EPS))
def test_representatives_equal_dbscan_ones(regime):
    """Same representative (member nearest the centroid) from either labelling."""
    rng = np.random.default_rng(100 + list(EPS).index(regime))
    for case in range(200):
        values, keep = _random_case(rng)
        eps = EPS[regime][case % len(EPS[regime])]
        labels, n, _ = cluster_labels(values, keep, eps=eps, min_samples=1)
        reference = _dbscan_per_value(values, keep, eps)
        ours = representatives(values, labels, n)
        theirs = representatives(values, reference.astype(np.int32), int(reference.max() + 1))
        key = np.lexsort  # compare as sets of (row, col, value, size)
        a = np.column_stack([ours.row, ours.col, ours.value, ours.n_pixels])
        b = np.column_stack([theirs.row, theirs.col, theirs.value, theirs.n_pixels])
        np.testing.assert_array_equal(a[key(a.T[::-1])], b[key(b.T[::-1])])


def test_representative_is_member_nearest_centroid_by_brute_force():
    """The vectorised pick equals a per-cluster loop (ties: first in row-major order)."""
    rng = np.random.default_rng(7)
    for _ in range(100):
        values, keep = _random_case(rng)
        labels, n, _ = cluster_labels(values, keep, eps=1.0)
        reps = representatives(values, labels, n)
        for k in range(n):
            rows, cols = np.nonzero(labels == k)  # row-major order
            d2 = (cols - cols.mean()) ** 2 + (rows - rows.mean()) ** 2
            best = np.flatnonzero(np.isclose(d2, d2.min(), rtol=0, atol=1e-9))[0]
            assert (reps.row[k], reps.col[k]) == (rows[best] + 0.5, cols[best] + 0.5)
            assert reps.n_pixels[k] == rows.size


def test_larger_eps_and_min_samples_go_through_dbscan():
    rng = np.random.default_rng(3)
    values, keep = _random_case(rng)
    _, _, method = cluster_labels(values, keep, eps=2.5, min_samples=1)
    assert method == "dbscan"
    _, _, method = cluster_labels(values, keep, eps=1.0, min_samples=3)
    assert method == "dbscan"


@pytest.mark.parametrize("eps,min_samples", [(2.5, 1), (1.0, 3), (1.5, 2)])
def test_dbscan_path_never_joins_values(eps, min_samples):
    """The scikit-learn path equals DBSCAN run per value (value scaled out of reach)."""
    rng = np.random.default_rng(11)
    for _ in range(60):
        values, keep = _random_case(rng)
        labels, _, _ = cluster_labels(values, keep, eps=eps, min_samples=min_samples)
        ref = np.full(keep.shape, -1, dtype=np.int64)
        nxt = 0
        for v in np.unique(values[keep]):
            rows, cols = np.nonzero(keep & (values == v))
            found = (
                DBSCAN(eps=eps, min_samples=min_samples).fit(np.column_stack([cols, rows])).labels_
            )
            ref[rows, cols] = np.where(found >= 0, found + nxt, -1)
            nxt += found.max() + 1
        np.testing.assert_array_equal(_canonical(labels), _canonical(ref))
