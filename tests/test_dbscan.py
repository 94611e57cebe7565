"""DBSCAN on the lattice, strip by strip, equals scikit-learn's DBSCAN exactly."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.cluster import DBSCAN

from geodigitize.dbscan import StripDBSCAN, lattice_dbscan, neighbour_offsets
from geodigitize.reduce import cluster_labels, flat_mask, representatives, representatives_store
from geodigitize.store import ArrayStore


def _sklearn(values, keep, eps, min_samples):
    """scikit-learn's DBSCAN as reduce.py ran it before the lattice version."""
    labels = np.full(keep.shape, -1, dtype=np.int32)
    rows, cols = np.nonzero(keep)
    if rows.size == 0:
        return labels, 0
    _, codes = np.unique(values[rows, cols], return_inverse=True)
    features = np.column_stack([cols, rows, codes * (eps + 1.0)]).astype(np.float64)
    found = DBSCAN(eps=eps, min_samples=min_samples).fit(features).labels_
    labels[rows, cols] = found
    return labels, int(found.max(initial=-1) + 1)


def _flat(seed, shape=(37, 29), n_values=3, density=0.55):
    """Patches of a few values, sparse enough for noise and border points; odd seeds keep
    the flat pixels (edge neighbours always equal), even seeds any pixels."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, n_values, (shape[0] // 4 + 1, shape[1] // 4 + 1))
    values = np.kron(coarse, np.ones((4, 4)))[: shape[0], : shape[1]].astype(float) / 7
    keep = rng.random(shape) < density
    if seed % 2:
        keep = flat_mask(values, rng.random(shape) < 0.5 + density / 2)
    return values, keep


def test_offsets_follow_squared_distances():
    assert len(neighbour_offsets(1.0)) == 4
    assert len(neighbour_offsets(1.5)) == 8
    assert len(neighbour_offsets(2.0)) == 12
    assert len(neighbour_offsets(np.sqrt(5))) == 20
    assert len(neighbour_offsets(0.5)) == 0


EPS = [0.5, 1.0, 1.5, 2.0, float(np.sqrt(5)), 2.5, 3.0, 4.2]
MIN_SAMPLES = [1, 2, 3, 5, 9]


@pytest.mark.parametrize("eps", EPS)
@pytest.mark.parametrize("min_samples", MIN_SAMPLES)
def test_lattice_dbscan_equals_scikit_learn_at_every_strip_height(eps, min_samples):
    for seed in range(4):
        values, keep = _flat(seed)
        expected, n = _sklearn(values, keep, eps, min_samples)
        # every parameter, the connected-component ones (ndimage) included
        assert np.array_equal(
            cluster_labels(values, keep, eps=eps, min_samples=min_samples)[0], expected
        )
        for rows in (0, 1, 2, 3, 17):
            got, m = lattice_dbscan(values, keep, eps, min_samples, strip_rows=rows)
            assert m == n
            assert np.array_equal(got, expected), (seed, rows)


@pytest.mark.parametrize("eps, min_samples", [(2.0, 3), (2.5, 5), (3.0, 1), (1.5, 4)])
def test_representatives_from_the_store_equal_one_piece(eps, min_samples):
    values, keep = _flat(7, (61, 43), density=0.7)
    labels, n = _sklearn(values, keep, eps, min_samples)
    expected = representatives(values, labels, n)
    for rows in (1, 5, 1000):
        dbscan = StripDBSCAN(values.shape, eps, min_samples)
        ids = []
        for a in range(0, 61, rows):
            b = min(a + rows, 61)
            lo, hi = max(a - dbscan.context, 0), min(b + dbscan.context, 61)
            ids.append(dbscan.add(lo, values[lo:hi], keep[lo:hi], a, b))
        result = dbscan.finish()
        ids = np.concatenate(ids)
        final = np.where(ids >= 0, result.remap[np.maximum(ids, 0)], -1)
        assert np.array_equal(final, labels)
        assert result.n == n
        assert np.array_equal(result.counts, expected.n_pixels)
        for block_pixels in (1, 300, 10**9):
            store = ArrayStore(values, keep, labels=final, block_pixels=block_pixels)
            got = representatives_store(store, result)
            for name in ("col", "row", "value", "n_pixels"):
                assert np.array_equal(getattr(got, name), getattr(expected, name)), name


def test_strips_must_come_in_order():
    values, keep = _flat(0)
    dbscan = StripDBSCAN(values.shape, 2.0, 2)
    with pytest.raises(ValueError, match="in order"):
        dbscan.add(0, values, keep, 5, 10)
    with pytest.raises(ValueError, match="context"):
        dbscan.add(0, values[:6], keep[:6], 0, 5)
