"""The per-pixel store: spooled codes read back as the arrays they came from."""

from __future__ import annotations

import numpy as np
import pytest

from geodigitize.reason import Reason
from geodigitize.store import (
    ArrayStore,
    RowMemory,
    RowRuns,
    RowSpool,
    SpoolStore,
    code_dtype,
    pixel_codes,
    row_blocks,
    row_runs,
)


def _image(seed=0, shape=(23, 17), n=40):
    rng = np.random.default_rng(seed)
    table = np.sort(rng.random(n))
    index = rng.integers(0, n, shape)
    reason = np.where(rng.random(shape) < 0.3, rng.integers(1, len(Reason), shape), 0)
    return table, index, reason.astype(np.uint8)


def _spooled(tmp_path, table, index, reason, labels=None, strip=5, block_pixels=50):
    codes = RowSpool(tmp_path / "codes.bin", index.shape[1], code_dtype(table.size))
    lab = None
    if labels is not None:
        lab = RowSpool(tmp_path / "labels.bin", index.shape[1], np.int32)
    with codes:
        for r0, r1 in row_blocks(index.shape[0], strip):
            codes.append(pixel_codes(index[r0:r1], reason[r0:r1], table.size))
    if lab is not None:
        with lab:
            for r0, r1 in row_blocks(index.shape[0], strip):
                lab.append(labels[r0:r1], np.int16)
    return SpoolStore(codes, table, lab, block_pixels=block_pixels)


def test_row_blocks_cover_the_rows():
    assert row_blocks(10, 4) == [(0, 4), (4, 8), (8, 10)]
    assert row_blocks(10, 4, 3, 9) == [(3, 7), (7, 9)]


def test_code_dtype_widens_for_large_scales():
    assert code_dtype(256) == np.uint16
    assert code_dtype(65536 - len(Reason)) == np.uint16
    assert code_dtype(65536 - len(Reason) + 1) == np.uint32


@pytest.mark.parametrize("rows", [(0, 23), (3, 4), (4, 19), (22, 23), (5, 5)])
def test_spool_store_reads_back_values_valid_and_reasons(tmp_path, rows):
    table, index, reason = _image()
    labels = np.where(reason == 0, index % 7, -1).astype(np.int32)
    store = _spooled(tmp_path, table, index, reason, labels)
    values, valid = store.rows(*rows)
    sl = slice(*rows)
    assert np.array_equal(valid, reason[sl] == 0)
    assert np.array_equal(values[valid], table[index[sl]][valid])
    assert np.array_equal(store.reasons(*rows), reason[sl])
    assert np.array_equal(store.labels(*rows), labels[sl])
    assert store.shape == (23, 17)


def test_spool_store_remaps_labels(tmp_path):
    table, index, reason = _image(1)
    ids = np.where(reason == 0, index % 5, -1).astype(np.int32)
    store = _spooled(tmp_path, table, index, reason, ids)
    store._remap = np.array([4, 3, 2, 1, 0], np.int32)
    assert np.array_equal(store.labels(0, 23), np.where(ids >= 0, 4 - ids, -1))


def test_array_and_spool_stores_agree_block_by_block(tmp_path):
    table, index, reason = _image(2)
    spool = _spooled(tmp_path, table, index, reason)
    mem = ArrayStore(table[index], reason == 0, reason, block_pixels=50)
    assert spool.blocks() == mem.blocks() == row_blocks(23, 2)
    for (r0, v1, ok1), (s0, v2, ok2) in zip(spool, mem, strict=True):
        assert r0 == s0
        assert np.array_equal(ok1, ok2)
        assert np.array_equal(v1[ok1], v2[ok2])
    rows, cols = np.array([22, 0, 5, 5]), np.array([3, 16, 0, 1])
    expected = np.where(reason[rows, cols] == 0, table[index[rows, cols]], np.nan)
    assert np.array_equal(spool.values_at(rows, cols), expected, equal_nan=True)
    assert np.array_equal(mem.values_at(rows, cols), expected, equal_nan=True)


def test_wide_scales_use_32_bit_codes(tmp_path):
    n = 70000
    table = np.arange(n, dtype=float)
    index = np.array([[0, n - 1], [65535, 12]])
    reason = np.array([[0, 0], [0, Reason.HALO]], np.uint8)
    store = _spooled(tmp_path, table, index, reason, strip=1)
    values, valid = store.rows(0, 2)
    assert valid.tolist() == [[True, True], [True, False]]
    assert values[valid].tolist() == [0, n - 1, 65535]
    assert store.reasons(0, 2).tolist() == [[0, 0], [0, Reason.HALO]]


def test_a_spool_reopened_from_its_file(tmp_path):
    table, index, reason = _image(3)
    store = _spooled(tmp_path, table, index, reason)
    again = RowSpool.open(tmp_path / "codes.bin", index.shape, np.uint16)
    assert np.array_equal(again[0:23], store._codes[0:23])
    with pytest.raises(ValueError, match="does not hold"):
        RowSpool.open(tmp_path / "codes.bin", (24, 17), np.uint16)


@pytest.mark.parametrize("step", [1, 2, 5, 30])
def test_every_step_th_row(tmp_path, step):
    table, index, reason = _image(4)
    labels = np.where(reason == 0, index % 7, -1).astype(np.int32)
    spool = _spooled(tmp_path, table, index, reason, labels, strip=3)
    mem = ArrayStore(table[index], reason == 0, reason, labels)
    for store in (spool, mem):
        values, valid = store.rows(2, 21, step)
        assert np.array_equal(valid, reason[2:21:step] == 0)
        assert np.array_equal(values[valid], table[index[2:21:step]][valid])
        assert np.array_equal(store.reasons(1, 23, step), reason[1:23:step])
        assert np.array_equal(store.labels(0, 20, step), labels[0:20:step])
        assert np.array_equal(store.valid(3, 9), reason[3:9] == 0)


@pytest.mark.parametrize("kind", ["spool", "memory"])
def test_rows_read_across_blocks_of_mixed_widths(tmp_path, kind):
    """Rows appended in a narrower type come back as the type asked, in memory as
    spooled."""
    rng = np.random.default_rng(3)
    full = rng.integers(-30000, 30000, (23, 7)).astype(np.int32)
    full[15:] *= 50  # rows that need 32 bits
    if kind == "spool":
        rows = RowSpool(tmp_path / "ids.bin", 7, np.int32)
    else:
        rows = RowMemory(23, 7, np.int32)
    with rows:
        for a, b, stored in ((0, 5, np.int16), (5, 15, np.int16), (15, 23, np.int32)):
            rows.append(full[a:b], stored)
    assert rows.shape == (23, 7)
    for lo, hi in ((0, 23), (3, 9), (4, 17), (14, 16), (22, 23), (20, 40)):
        got = rows[lo:hi]
        assert got.dtype == np.int32
        np.testing.assert_array_equal(got, full[lo:hi])
    np.testing.assert_array_equal(rows[1:20:3], full[1:20:3])


def _paint(runs, shape):
    """The runs painted back: labels and values per pixel, -2 / NaN off the runs."""
    labels, values = np.full(shape, -2, np.int32), np.full(shape, np.nan)
    for r, a, b, lab, v in zip(runs.row, runs.col0, runs.col1, runs.label, runs.value, strict=True):
        assert (labels[r, a:b] == -2).all()  # no pixel in two runs
        labels[r, a:b], values[r, a:b] = lab, v
    return labels, values


def test_runs_cover_the_data_pixels_with_their_labels_and_values(tmp_path):
    table, index, reason = _image(3, shape=(23, 17), n=4)  # few entries: long runs
    valid = reason == 0
    ids = np.where(valid, index % 3, -1).astype(np.int32)
    ids[5:9] = -1  # data pixels in no cluster
    spool = _spooled(tmp_path, table, index, reason, ids, block_pixels=50)
    spool._remap = np.array([2, 0, 1], np.int32)
    labels = np.where(ids >= 0, spool._remap[np.maximum(ids, 0)], -1)
    mem = ArrayStore(table[index], valid, reason, labels, block_pixels=50)
    for store in (spool, mem):
        got = [store.runs(r0, r1) for r0, r1 in store.blocks()]
        assert sum(len(r) for r in got) < valid.sum()  # runs, not pixels
        painted, values = _paint(RowRuns.concat(got), valid.shape)
        assert np.array_equal(painted >= -1, valid)
        assert np.array_equal(painted[valid], labels[valid])
        assert np.array_equal(values[valid], table[index][valid])
        for run in got:  # row-major, each run within one row
            order = run.row * 17 + run.col0
            assert (np.diff(order) > 0).all() and (run.col1 > run.col0).all()


def test_row_runs_break_at_rows_and_key_changes():
    valid = np.array([[1, 1, 0, 1], [1, 1, 1, 1]], bool)
    key = np.array([[7, 7, 7, 7], [7, 8, 8, 8]])
    rows, c0, c1, first = row_runs(valid, (key, valid.view(np.int8)), row0=10)
    assert rows.tolist() == [10, 10, 11, 11]
    assert c0.tolist() == [0, 3, 0, 1]
    assert c1.tolist() == [2, 4, 1, 4]
    assert first.tolist() == [0, 3, 4, 5]


def test_data_rows_and_value_limits_agree_between_stores(tmp_path):
    table, index, reason = _image(4)
    spool = _spooled(tmp_path, table, index, reason)
    valid = reason == 0
    mem = ArrayStore(table[index], valid, reason, block_pixels=50)
    expected = np.where(valid, table[index], np.nan)
    for store in (spool, mem):
        assert np.array_equal(store.data_rows(0, 23), expected, equal_nan=True)
        assert np.array_equal(store.data_rows(3, 20, 4), expected[3:20:4], equal_nan=True)
        got = store.value_limits()
        assert got == (table[index][valid].min(), table[index][valid].max())
    nothing = ArrayStore(table[index], np.zeros_like(valid))
    assert nothing.value_limits() is None


def test_labels_spooled_in_16_bits_then_32_read_back_exactly(tmp_path):
    # the strips spool cluster ids in 16 bits while they fit, in 32 after
    table, index, reason = _image(5)
    labels = np.where(reason == 0, index % 7, -1).astype(np.int32)
    labels[12:][labels[12:] >= 0] += 40_000  # ids past 2**15 in the later strips
    codes = RowSpool(tmp_path / "codes.bin", index.shape[1], code_dtype(table.size))
    lab = RowSpool(tmp_path / "labels.bin", index.shape[1], np.int32)
    with codes, lab:
        for r0, r1 in row_blocks(index.shape[0], 4):
            codes.append(pixel_codes(index[r0:r1], reason[r0:r1], table.size))
            part = labels[r0:r1]
            lab.append(part, np.int16 if int(part.max()) < 2**15 else None)
    store = SpoolStore(codes, table, lab, block_pixels=50)
    mem = ArrayStore(table[index], reason == 0, reason, labels=labels, block_pixels=50)
    np.testing.assert_array_equal(store.labels(0, 23), labels)
    for r0, r1 in store.blocks():
        got, want = store.runs(r0, r1), mem.runs(r0, r1)
        for name in ("row", "col0", "col1", "label", "value"):
            np.testing.assert_array_equal(getattr(got, name), getattr(want, name))


@pytest.mark.parametrize("n", [40, 70000])  # 16-bit codes and 32-bit ones
def test_sample_keeps_every_step_th_row_and_column(tmp_path, n):
    rng = np.random.default_rng(5)
    table = np.sort(rng.random(n))
    index = rng.integers(0, n, (23, 17))
    reason = np.where(rng.random(index.shape) < 0.3, rng.integers(1, len(Reason), index.shape), 0)
    reason = reason.astype(np.uint8)
    ids = np.where(reason == 0, index % 5, -1).astype(np.int32)
    spool = _spooled(tmp_path, table, index, reason, ids)
    spool._remap = np.array([4, 3, 2, 1, 0], np.int32)
    labels = np.where(ids >= 0, 4 - ids, -1)
    mem = ArrayStore(table[index], reason == 0, reason, labels)
    values = np.where(reason == 0, table[index], np.nan)
    for store in (spool, mem):
        for r0, r1, step in ((0, 23, 1), (0, 23, 4), (3, 20, 3), (22, 23, 7), (5, 5, 2)):
            v, why, lab = store.sample(r0, r1, step, labels=True)
            assert np.array_equal(v, values[r0:r1:step, ::step], equal_nan=True)
            assert np.array_equal(why, reason[r0:r1:step, ::step])
            assert np.array_equal(lab, labels[r0:r1:step, ::step])
            assert store.sample(r0, r1, step)[2] is None


@pytest.mark.parametrize("order", ["up", "down", "mixed", "flat"])
@pytest.mark.parametrize("n", [40, 70000])
def test_value_limits_in_any_table_order(tmp_path, order, n):
    rng = np.random.default_rng(6)
    table = {"up": np.sort(rng.random(n)), "down": np.sort(rng.random(n))[::-1]}.get(
        order, rng.random(n) if order == "mixed" else np.full(n, 0.25)
    )
    index = rng.integers(0, n, (23, 17))
    reason = np.where(rng.random(index.shape) < 0.5, rng.integers(1, len(Reason), index.shape), 0)
    reason[:9] = Reason.HALO  # blocks without data
    store = _spooled(tmp_path, table, index, reason.astype(np.uint8))
    valid = reason == 0
    assert store.value_limits() == (table[index][valid].min(), table[index][valid].max())
    none = _spooled(tmp_path, table, index, np.ones_like(reason, np.uint8))
    assert none.value_limits() is None
