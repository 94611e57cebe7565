"""Reduction: flat pixels, equal-value clusters and their representatives, exactly."""

import numpy as np
import pytest

from geodigitize.errors import GeodigitizeError
from geodigitize.reduce import (
    cluster_labels,
    cluster_runs,
    equal_codes,
    flat_mask,
    labels_from_runs,
    reduce,
    representatives,
)


def test_flat_pixels_are_band_interiors():
    values = np.repeat(np.array([1.0, 1, 1, 2, 2, 2, 2]), 5).reshape(7, 5)  # 3 rows of 1, 4 of 2
    valid = np.ones_like(values, bool)
    flat = flat_mask(values, valid)
    assert flat[:2].all() and flat[4:].all()
    assert not flat[2].any() and not flat[3].any()  # the rows on either side of the step


def test_masked_neighbours_do_not_break_flatness_but_isolated_pixels_are_not_flat():
    values = np.zeros((3, 3))
    values[1, 1] = 5.0
    valid = np.ones((3, 3), bool)
    valid[0, 1] = valid[1, 0] = valid[1, 2] = valid[2, 1] = False  # centre isolated
    flat = flat_mask(values, valid)
    assert not flat[1, 1]
    assert not flat[0, 0]  # corners have no valid edge neighbour either
    valid[0, 1] = True
    values[0, 1] = 5.0
    assert flat_mask(values, valid)[1, 1]


def test_flat_tolerance():
    values = np.array([[0.0, 0.01, 0.02, 0.03]])
    valid = np.ones_like(values, bool)
    assert not flat_mask(values, valid).any()
    assert flat_mask(values, valid, tol=0.011).all()


def test_clusters_never_join_different_values():
    values = np.array([[1.0, 1, 2, 2], [1, 1, 2, 2], [3, 3, 3, 3]])
    keep = np.ones_like(values, bool)
    labels, n, method = cluster_labels(values, keep, eps=1.0)
    assert (n, method) == (3, "ndimage-4")
    assert len({labels[0, 0], labels[0, 2], labels[2, 0]}) == 3
    assert labels[1, 1] == labels[0, 0] and labels[1, 3] == labels[0, 2]


def test_eight_connectivity_from_eps_sqrt2():
    values = np.array([[1.0, 0], [0, 1.0]])
    keep = values == 1
    assert cluster_labels(values, keep, eps=1.0)[1] == 2
    assert cluster_labels(values, keep, eps=1.5)[1] == 1
    assert cluster_labels(values, keep, eps=0.5)[2] == "singletons"


def test_mixed_component_split_along_value_change():
    # 8-connected ring of 1s touching 2s diagonally only: ndimage joins them, split undoes it
    values = np.array([[1.0, 2.0], [2.0, 1.0]])
    labels, n, _ = cluster_labels(values, np.ones((2, 2), bool), eps=1.5)
    assert n == 2
    assert labels[0, 0] == labels[1, 1] != labels[0, 1] == labels[1, 0]


def test_dbscan_path_with_min_samples():
    values = np.zeros((5, 9))
    keep = np.zeros((5, 9), bool)
    keep[1:4, 1:4] = True  # 9 pixels: core points with min_samples=5, eps=1.5
    keep[2, 7] = True  # lone pixel: noise
    labels, n, method = cluster_labels(values, keep, eps=1.5, min_samples=5)
    assert (n, method) == (1, "dbscan")
    assert labels[2, 7] == -1
    assert (labels[1:4, 1:4] == 0).all()


def test_representative_is_member_nearest_centroid():
    # an L-shaped cluster whose centroid is not a member
    values = np.zeros((4, 4))
    keep = np.zeros((4, 4), bool)
    keep[0, :4] = True
    keep[:4, 0] = True
    labels, n, _ = cluster_labels(values, keep)
    reps = representatives(values, labels, n)
    # members: (0,0..3) and (1..3,0); centroid col=(0+1+2+3+0+0+0)/7=6/7, row=6/7
    # nearest members: (row 0, col 1) and (row 1, col 0) at equal distance: row-major first
    assert (reps.col[0], reps.row[0]) == (1.5, 0.5)
    assert reps.n_pixels[0] == 7


def test_reduce_counts_on_known_bands():
    # three horizontal bands 10 rows each, 20 wide: each interior is one cluster
    values = np.repeat(np.array([0.1, 0.2, 0.3]), 10 * 20).reshape(30, 20)
    flat, clusters = reduce(values, np.ones_like(values, bool))
    assert len(clusters) == 3
    assert sorted(clusters.value) == [0.1, 0.2, 0.3]
    assert clusters.n_pixels.sum() == flat.sum() == 30 * 20 - 4 * 20  # minus step rows
    # the middle band's interior spans rows 11..18: centroid row 15.0 -> pixel row 14 or 15
    mid = np.flatnonzero(clusters.value == 0.2)[0]
    assert clusters.row[mid] in (14.5, 15.5) and clusters.col[mid] in (9.5, 10.5)


def test_bad_parameters():
    with pytest.raises(GeodigitizeError):
        cluster_labels(np.zeros((2, 2)), np.ones((2, 2), bool), eps=0)


@pytest.mark.parametrize("k", [3, 200, 700])
def test_equal_codes_give_the_flat_test_and_clusters_of_the_values(k):
    """Codes of a table with repeated values (and -0.0 beside 0.0) give the flat test at
    tolerance 0 and the 4- and 8-connected clusters the values give, on 1-row strips,
    strips with no valid pixel and tables of more than 256 distinct values."""
    rng = np.random.default_rng(k)
    table = np.round(rng.normal(size=k), 1 if k < 700 else 5)
    table[:2] = [0.0, -0.0]
    table[2 : k // 2 : 2] = table[3 : k // 2 + 1 : 2]  # repeated values, side by side
    codes = equal_codes(table)
    assert codes.dtype == (np.uint8 if k < 700 else np.uint16)
    for case in range(60):
        h = 1 if case % 6 == 0 else int(rng.integers(2, 12))
        w = int(rng.integers(1, 14))
        entry = np.clip(np.cumsum(rng.integers(-1, 2, (h, w)), axis=1) + k // 2, 0, k - 1)
        valid = rng.random((h, w)) > (1.0 if case % 7 == 0 else 0.2)
        flat = flat_mask(table[entry], valid)
        np.testing.assert_array_equal(flat_mask(codes[entry], valid), flat)
        for eps in (1.0, 1.5):
            want = cluster_labels(table[entry], flat, eps=eps)
            got = cluster_labels(codes[entry], flat, eps=eps)
            np.testing.assert_array_equal(got[0], want[0])
            assert got[1:] == want[1:]


def test_equal_codes_refuse_nan():
    assert equal_codes(np.array([0.0, np.nan])) is None


def _runs_of(labels):
    """Runs of equal labels along rows (row, first col, end col, label), label -1 left
    out, in row-major order: the plain loops."""
    out = []
    for r, row in enumerate(labels):
        c = 0
        while c < row.size:
            e = c
            while e + 1 < row.size and row[e + 1] == row[c]:
                e += 1
            if row[c] >= 0:
                out.append((r, c, e + 1, int(row[c])))
            c = e + 1
    return out


@pytest.mark.parametrize("eps", [0.5, 1.0, 1.5])
def test_cluster_runs_are_the_runs_of_cluster_labels(eps):
    """The same clusters, numbered alike, on random fields of few values (clusters that
    touch clusters of other values, by edges and corners), 1-row and 1-column images,
    nothing kept, everything kept; and the pixel labels rebuilt from the runs."""
    rng = np.random.default_rng(int(eps * 10))
    for case in range(400):
        h = 1 if case % 9 == 0 else int(rng.integers(1, 9))
        w = 1 if case % 11 == 0 else int(rng.integers(1, 13))
        values = rng.integers(0, int(rng.integers(1, 4)), (h, w)).astype(np.float64)
        keep = rng.random((h, w)) < [0.0, 1.0, rng.random()][case % 3]
        labels, n, method = cluster_labels(values, keep, eps=eps)
        rows, c0, c1, lab, n_runs, method_runs = cluster_runs(values, keep, eps=eps)
        assert (n_runs, method_runs) == (n, method)
        got = list(zip(rows.tolist(), c0.tolist(), c1.tolist(), lab.tolist(), strict=True))
        assert got == _runs_of(labels), f"case {case}"
        assert lab.dtype == np.int32
        np.testing.assert_array_equal(labels_from_runs(rows, c0, c1, lab, (h, w)), labels)
