"""The target-error search over a PixelStore does not depend on the blocks it reads: in
memory or spooled, at every block height, it equals the search over one block, and the
engine's refinement equals it on the arrays."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_figure

from geodigitize import refine as refine_module
from geodigitize.reason import Reason
from geodigitize.reduce import reduce
from geodigitize.refine import refine, refine_store
from geodigitize.store import ArrayStore, RowSpool, SpoolStore, pixel_codes, row_blocks


def _field(height, width, levels, seed, holes=True):
    """A smooth field quantised to `levels` entries, with masked blobs and a ragged edge."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    truth = 0.5 + 0.3 * np.sin(5 * x + 2 * y) * np.cos(3 * y) + 0.1 * x
    table = (np.arange(levels) + 0.5) / levels
    index = np.clip((truth * levels).astype(int), 0, levels - 1)
    valid = np.ones((height, width), bool)
    if holes:
        for _ in range(6):
            r, c, s = rng.integers(0, height), rng.integers(0, width), rng.integers(2, 9)
            valid[max(r - s, 0) : r + s, max(c - s, 0) : c + s] = False
        valid[:, : rng.integers(1, 5)] = False
        valid[rng.random((height, width)) < 0.02] = False
    return table, index, valid


def _spool(tmp_path, table, index, valid, labels, block_pixels):
    width = index.shape[1]
    reason = np.where(valid, Reason.DATA, Reason.HALO).astype(np.uint8)
    codes = RowSpool(tmp_path / "codes.bin", width, np.uint16)
    ids = RowSpool(tmp_path / "labels.bin", width, np.int32)
    # ids numbered backwards, put right by the remap table (as strips number them)
    n = int(labels.max()) + 1
    with codes, ids:
        for r0, r1 in row_blocks(index.shape[0], 7):
            codes.append(pixel_codes(index[r0:r1], reason[r0:r1], table.size))
            lab = labels[r0:r1]
            ids.append(np.where(lab >= 0, n - 1 - lab, -1))
    remap = np.arange(n, dtype=np.int32)[::-1].copy()
    return SpoolStore(codes, table, ids, remap, block_pixels=block_pixels)


def _same(a, b):
    for name in ("col", "row", "value", "n_pixels"):
        assert np.array_equal(getattr(a.clusters, name), getattr(b.clusters, name)), name
    steps = lambda r: [(s.n_points, s.median_pct, s.p95_pct) for s in r.curve]  # noqa: E731
    assert steps(a) == steps(b)
    assert (a.met, a.n_valid, a.sample, a.target_pct) == (b.met, b.n_valid, b.sample, b.target_pct)


CASES = [
    # height, width, levels, seed, target %, sample
    (64, 96, 64, 0, 1.0, 200_000),
    (77, 53, 32, 1, 0.5, 1_000),
    (130, 90, 256, 2, 0.2, 5_000),
    (40, 40, 16, 3, 0.01, 200_000),
]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("block_pixels", [1, 100, 1_000, 10**9])
def test_refine_store_equals_one_piece(tmp_path, case, block_pixels):
    height, width, levels, seed, target, sample = case
    table, index, valid = _field(height, width, levels, seed)
    values = table[index]
    _, clusters = reduce(values, valid)
    expected = refine(values, valid, clusters, 1.0, target, sample=sample)  # one block
    arrays = refine_store(
        ArrayStore(values, valid, labels=clusters.labels, block_pixels=block_pixels),
        1.0,
        target,
        sample=sample,
        labels=True,
    )
    _same(arrays, expected)
    assert np.array_equal(arrays.clusters.labels, expected.clusters.labels)
    spooled = refine_store(
        _spool(tmp_path, table, index, valid, clusters.labels, block_pixels),
        1.0,
        target,
        sample=sample,
    )
    _same(spooled, expected)
    assert spooled.clusters.labels.shape == (0, 0)
    # its pieces label any pixels as the arrays' labels mark them: every pixel here
    rows, cols = np.mgrid[0:height, 0:width]
    got = spooled.pieces.labels_at(rows, cols, clusters.labels, valid)
    np.testing.assert_array_equal(got, expected.clusters.labels)
    assert (got >= 0).any()


@pytest.mark.parametrize("case", CASES[:3])
def test_refine_store_reading_runs_again_equals_keeping_them(tmp_path, case, monkeypatch):
    """Past MAX_RUNS the search reads each window's runs from the store again: the same
    reduction, the same curve."""
    height, width, levels, seed, target, sample = case
    table, index, valid = _field(height, width, levels, seed)
    values = table[index]
    _, clusters = reduce(values, valid)
    expected = refine(values, valid, clusters, 1.0, target, sample=sample)
    monkeypatch.setattr(refine_module, "MAX_RUNS", 10)
    for store in (
        ArrayStore(values, valid, labels=clusters.labels, block_pixels=500),
        _spool(tmp_path, table, index, valid, clusters.labels, 500),
    ):
        got = refine_store(store, 1.0, target, sample=sample)
        _same(got, expected)
        rows, cols = np.mgrid[0:height, 0:width]
        marks = got.pieces.labels_at(rows, cols, clusters.labels, valid)
        np.testing.assert_array_equal(marks, expected.clusters.labels)


def test_engine_refinement_equals_refine_on_the_arrays(tmp_path):
    fig = make_figure(200, 150)
    png, gcps = fig.write(tmp_path)
    from geodigitize import extract

    opts = {"cmap": "jet_r", "vmin": 0, "vmax": 0.7, "region": fig.frame}
    one = extract(png, gcps=gcps, **opts)
    expected = refine(one.decoded.values, one.valid, one.clusters, 0.7, 0.3)
    assert len(expected.curve) >= 2
    kept = extract(png, gcps=gcps, target_error=0.3, strip_rows=7, **opts)
    _same(kept.refinement, expected)
    assert np.array_equal(kept.refinement.clusters.labels, expected.clusters.labels)
    streamed = extract(
        png, gcps=gcps, target_error=0.3, strip_rows=7, in_memory=False, grid_dir=tmp_path, **opts
    )
    assert not streamed.pixels.kept
    _same(streamed.refinement, expected)


def test_refine_store_needs_labels():
    with pytest.raises(ValueError, match="labels"):
        refine_store(ArrayStore(np.zeros((4, 4)), np.ones((4, 4), bool)), 1.0, 1.0)


@pytest.mark.parametrize("n, distinct", [(0, 1), (1, 1), (1000, 3), (1000, 900), (50_000, 2**40)])
def test_unique_inverse_equals_numpy(n, distinct):
    keys = np.random.default_rng(n).integers(-5, distinct, n)
    keys = np.sort(keys).reshape(-1, 10)[:, ::-1].ravel() if n % 10 == 0 else keys
    want, inverse = np.unique(keys, return_inverse=True)
    got, got_inverse = refine_module._unique_inverse(keys)
    assert np.array_equal(got, want) and got.dtype == want.dtype
    assert np.array_equal(got_inverse, inverse.ravel())


@pytest.mark.parametrize("block_pixels", [7, 30, 10_000])
def test_read_runs_finds_each_columns_first_and_last_data_row(block_pixels):
    rng = np.random.default_rng(block_pixels)
    valid = rng.random((23, 7)) < 0.15  # columns starting and ending in different blocks
    valid[:, 3] = False  # a column without data
    values = rng.random(valid.shape)
    labels = np.where(valid, 0, -1).astype(np.int32)
    store = ArrayStore(values, valid, labels=labels, block_pixels=block_pixels)
    runs, first_r, last_r = refine_module._read_runs(store, 10**6)
    has = valid.any(axis=0)
    np.testing.assert_array_equal(first_r, np.where(has, valid.argmax(axis=0), -1))
    np.testing.assert_array_equal(last_r, np.where(has, 22 - valid[::-1].argmax(axis=0), -1))
    assert int((runs.col1 - runs.col0).sum()) == int(valid.sum())
