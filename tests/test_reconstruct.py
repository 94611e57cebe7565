"""The reconstruction check against cases with known answers."""

import numpy as np
import pytest

from geodigitize.reconstruct import check_reconstruction, interpolate_points


def test_linear_field_rebuilt_exactly_from_its_corners():
    h, w = 40, 60
    rows, cols = np.mgrid[0:h, 0:w] + 0.5
    values = 2.0 * cols - 0.5 * rows
    c = np.array([0.5, w - 0.5, 0.5, w - 0.5])
    r = np.array([0.5, 0.5, h - 0.5, h - 0.5])
    v = 2.0 * c - 0.5 * r
    check = check_reconstruction(values, np.ones((h, w), bool), c, r, v, value_range=100.0)
    assert check.median_pct < 1e-9 and check.p95_pct < 1e-9
    assert check.n_pixels == h * w and not check.sampled


def test_known_error_of_a_constant_reconstruction():
    values = np.zeros((10, 10))
    values[:, 5:] = 1.0  # half the pixels are 1
    check = check_reconstruction(
        values, np.ones((10, 10), bool), np.array([0.5]), np.array([0.5]), np.array([0.0]), 2.0
    )
    # one point of value 0: error 0 on half the pixels, 50 % of the range on the other half
    assert check.p95_pct == 50.0
    assert check.median_pct == 25.0  # numpy's median of 50 zeros and 50 fifties


def test_outside_hull_uses_nearest_point():
    out = interpolate_points(
        np.array([0.0, 1, 0]),
        np.array([0.0, 0, 1]),
        np.array([1.0, 2, 3]),
        np.array([5.0]),
        np.array([5.0]),
    )
    assert np.isfinite(out).all()


def test_sampling_caps_the_pixels_compared():
    values = np.zeros((100, 100))
    check = check_reconstruction(
        values,
        np.ones_like(values, bool),
        np.array([0.5, 99.5, 0.5]),
        np.array([0.5, 0.5, 99.5]),
        np.zeros(3),
        1.0,
        sample=1000,
    )
    assert check.sampled and check.n_pixels == 1000 and check.median_pct == 0.0


@pytest.mark.parametrize(("n", "k"), [(10, 3), (10, 8), (7, 1), (1000, 999)])
def test_sample_positions_distinct_sorted_and_uniform(n, k):
    from geodigitize.reconstruct import sample_positions

    hits = np.zeros(n)
    for seed in range(2000):
        pick = sample_positions(n, k, seed)
        assert pick.size == k and np.all(np.diff(pick) > 0) and 0 <= pick[0] and pick[-1] < n
        hits += np.bincount(pick, minlength=n)
    np.testing.assert_array_equal(sample_positions(n, k, 5), sample_positions(n, k, 5))
    share = hits / 2000
    # each position is picked with probability k / n (binomial spread over 2000 draws)
    assert np.abs(share - k / n).max() < 5 * np.sqrt(k / n * (1 - k / n) / 2000) + 1e-9
    np.testing.assert_array_equal(sample_positions(n, n + 5), np.arange(n))


def _positions_by_sorting(n, k, seed):
    """sample_positions as first written: the surplus dropped by sorting the subset."""
    rng = np.random.default_rng(seed)
    drop = k > n // 2
    want = n - k if drop else k
    have = np.zeros(0, dtype=np.int64)
    while have.size < want:
        m = int(-n * np.log1p(-(want - have.size) / (n - have.size)) * 1.02) + 64
        new = np.unique(rng.integers(0, n, m, dtype=np.int64))
        if have.size:
            new = new[~np.isin(new, have)]
        if new.size > want - have.size:
            new = np.sort(new[rng.choice(new.size, want - have.size, replace=False)])
        have = np.union1d(have, new)
    return np.setdiff1d(np.arange(n), have) if drop else have


@pytest.mark.parametrize(
    ("n", "k"), [(10, 3), (10, 8), (7, 1), (1000, 999), (5000, 40), (200_000, 30_000)]
)
def test_sample_positions_are_the_sample_first_written(n, k):
    # the sample fixes report.json's check numbers: a faster way must pick the same
    from geodigitize.reconstruct import sample_positions

    for seed in range(20):
        np.testing.assert_array_equal(
            sample_positions(n, k, seed), _positions_by_sorting(n, k, seed)
        )


def test_interpolation_runs_lapack_on_one_thread(monkeypatch):
    """scipy computes a barycentric transform per triangle with tiny LAPACK calls; a
    multi-threaded BLAS pool spin-waits on busy cores (38-85 s instead of 0.23 s)."""
    import scipy.interpolate
    from threadpoolctl import threadpool_info, threadpool_limits

    import geodigitize.reconstruct as rec

    seen = []
    real = scipy.interpolate.LinearNDInterpolator

    class Spy(real):
        def __call__(self, *args):
            seen.append({p["user_api"]: p["num_threads"] for p in threadpool_info()})
            return super().__call__(*args)

    monkeypatch.setattr(scipy.interpolate, "LinearNDInterpolator", Spy)
    rng = np.random.default_rng(0)
    with threadpool_limits(2):
        rec.interpolate_points(
            rng.random(30), rng.random(30), rng.random(30), rng.random(5), rng.random(5)
        )
    assert seen and seen[0].get("blas", 1) == 1
