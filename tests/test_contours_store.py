"""Contours traced block by block equal the one-piece trace (up to line order and the
starting vertex of closed lines), and do not depend on the block height at all."""

from __future__ import annotations

import numpy as np
import pytest

from geodigitize.colormap import ColorScale, from_cmap
from geodigitize.contours import ContourLines, trace, trace_store
from geodigitize.store import ArrayStore


def _bumps(height, width, seed, step=40, holes=0.002):
    """Gaussian bumps (closed lines), a ramp (open lines), quantised, with masked pixels."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] + 0.5
    z = 0.1 * x / width
    for _ in range(6):
        cx, cy = rng.random() * width, rng.random() * height
        z = z + rng.random() * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / rng.uniform(20, 400))
    z = np.round(z / z.max() * step) / step
    valid = rng.random((height, width)) > holes
    valid[rng.integers(0, height) :, : rng.integers(0, width // 3)] = False
    return z, valid


def _canonical(lines):
    """Each line as (value, vertices), closed lines started at their smallest vertex."""
    out = []
    for line, value in zip(lines.lines, lines.values, strict=True):
        line = np.asarray(line)
        if len(line) > 2 and np.array_equal(line[0], line[-1]):
            ring = line[:-1]
            k = np.lexsort((ring[:, 0], ring[:, 1]))[0]
            line = np.concatenate([ring[k:], ring[:k], ring[k : k + 1]])
        out.append((float(value), line.tobytes()))
    return sorted(out)


def _continuous():
    return from_cmap("viridis", 0.0, 1.0)


def _classes():
    edges = (0.0, 0.2, 0.45, 0.6, 0.8, 1.0)
    return from_cmap("viridis", 0.0, 1.0, levels=edges)


def _classed(z, scale):
    edges = np.asarray(scale.levels)
    k = np.clip(np.searchsorted(edges, z, side="right") - 1, 0, edges.size - 2)
    return (edges[k] + edges[k + 1]) / 2


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("kind", ["continuous", "classes", "given"])
@pytest.mark.parametrize("step", [37, 40])
def test_trace_store_equals_one_piece_at_every_block_height(seed, kind, step):
    # step 40 puts values exactly on the levels (0.1, 0.15 ...): seams then move to rows
    # without such a value; step 37 never does
    z, valid = _bumps(70, 90, seed, step)
    scale = _classes() if kind == "classes" else _continuous()
    levels = [0.15, 0.5, 0.725] if kind == "given" else None
    if kind == "classes":
        z = _classed(z, scale)
    expected = trace(z, valid, scale, levels)  # one block
    assert len(expected) >= 3
    assert any(np.array_equal(line[0], line[-1]) for line in expected.lines)  # closed lines
    whole = expected
    assert np.array_equal(whole.values, np.sort(whole.values))
    for rows in (1, 2, 3, 17, 69, 1000):
        got = trace_store(ArrayStore(z, valid), scale, levels, block_rows=rows)
        assert _canonical(got) == _canonical(expected), rows
        # not only the same lines: the same list, in the same order
        assert len(got) == len(whole)
        for a, b in zip(got.lines, whole.lines, strict=True):
            assert np.array_equal(a, b)
        assert np.array_equal(got.values, whole.values)
    limits = (float(z[valid].min()), float(z[valid].max()))
    given = trace_store(ArrayStore(z, valid), scale, levels, block_rows=5, data_limits=limits)
    assert _canonical(given) == _canonical(expected)


def test_trace_store_of_no_data_is_empty():
    store = ArrayStore(np.zeros((5, 5)), np.zeros((5, 5), bool))
    assert len(trace_store(store, _continuous(), block_rows=2)) == 0


def test_a_line_through_many_seams_is_one_line():
    # a vertical class edge crossing every one-row block
    values = np.where(np.arange(8)[None, :] < 3, 0.5, 1.5) * np.ones((9, 1))
    scale = ColorScale(
        np.array([[0, 0, 255], [0, 255, 0]], float),
        np.array([0.5, 1.5]),
        0.0,
        2.0,
        levels=(0.0, 1.0, 2.0),
    )
    got = trace_store(ArrayStore(values, np.ones(values.shape, bool)), scale, block_rows=1)
    assert len(got) == 1
    assert got.lines[0][:, 0].tolist() == [3.0] * 9
    assert sorted(got.lines[0][:, 1].tolist()) == [r + 0.5 for r in range(9)]


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("step", [37, 40])
def test_trace_equals_contourpy_on_the_whole_grid(seed, step):
    # trace() skips the rows and columns no level crosses (geodigitize.contours._spans):
    # the same lines as contourpy's generator over every pixel, up to order and closed
    # lines' start
    import contourpy

    z, valid = _bumps(70, 90, seed, step)
    z[30:34] = 0.0  # flat rows (crossed by no level) between two spans
    z[:, 55:58] = 0.0  # and flat columns: runs of quad columns within a span
    levels = [0.15, 0.5, 0.725]
    y, x = np.mgrid[0:70, 0:90] + 0.5
    gen = contourpy.contour_generator(
        x,
        y,
        np.ma.masked_array(z, ~valid),
        name="serial",
        line_type="Separate",
        corner_mask=True,
    )
    expected = []
    for level in levels:
        expected += [(level, np.asarray(line, dtype=np.float64)) for line in gen.lines(level)]
    want = ContourLines([line for _, line in expected], np.array([v for v, _ in expected]))
    got = trace(z, valid, _continuous(), levels)
    assert len(got) >= 5
    assert _canonical(got) == _canonical(want)
    for rows in (1, 3, 17):
        assert _canonical(
            trace_store(ArrayStore(z, valid), _continuous(), levels, block_rows=rows)
        ) == _canonical(want)


def test_default_blocks_are_thin_and_trace_the_same_lines(monkeypatch):
    """By default a store is traced in blocks of about TRACE_BLOCK_PIXELS pixels (at
    most the store's own blocks): the same list of lines as one block."""
    import geodigitize.contours as contours

    z, valid = _bumps(70, 90, 3, 40)
    scale = _continuous()
    whole = trace_store(ArrayStore(z, valid), scale, block_rows=1000)
    seen = []
    blocks = ArrayStore.blocks

    def spy(self, rows=None):
        seen.append(rows)
        return blocks(self, rows)

    monkeypatch.setattr(ArrayStore, "blocks", spy)
    monkeypatch.setattr(contours, "TRACE_BLOCK_PIXELS", 4 * 90 + 5)
    got = trace_store(ArrayStore(z, valid, block_pixels=50 * 90), scale)
    assert seen[0] == 4  # rows of 90 pixels
    monkeypatch.setattr(contours, "TRACE_BLOCK_PIXELS", 10**9)
    seen.clear()
    trace_store(ArrayStore(z, valid, block_pixels=50 * 90), scale)
    assert seen[0] == 50  # never more than the store's blocks
    assert len(got) == len(whole) >= 3
    for a, b in zip(got.lines, whole.lines, strict=True):
        assert np.array_equal(a, b)
    assert np.array_equal(got.values, whole.values)
