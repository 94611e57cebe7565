"""The neighbourhood consistency check against a pixel-by-pixel statement of its rule.

`inconsistent_pixels` finds medians only where the window's value range could hold a
colour out of tolerance; these tests hold it to the plain definition, computed with
loops, on many small random images (steep fields, noise, holes, image borders).
"""

from __future__ import annotations

import numpy as np
import pytest

from geodigitize.colormap import ColorScale, from_cmap
from geodigitize.decode import decode
from geodigitize.mask import RESTORE, inconsistent_pixels


def _reference(rgb, index, valid, colors, values, tol, radius=2):
    h, w = valid.shape
    order = np.argsort(values, kind="stable")
    rank = np.empty(order.size, int)
    rank[order] = np.arange(order.size)
    flagged = np.zeros((h, w), bool)
    for r in range(h):
        for c in range(w):
            if not valid[r, c]:
                continue
            inside = [
                (rr, cc)
                for rr in range(r - radius, r + radius + 1)
                for cc in range(c - radius, c + radius + 1)
                if 0 <= rr < h and 0 <= cc < w
            ]
            if all(valid[p] for p in inside):  # whole window: edge pixels repeated
                ranks = [
                    rank[index[min(max(rr, 0), h - 1), min(max(cc, 0), w - 1)]]
                    for rr in range(r - radius, r + radius + 1)
                    for cc in range(c - radius, c + radius + 1)
                ]
            else:  # valid neighbours only
                ranks = [rank[index[p]] for p in inside if valid[p]]
            ranks = sorted(ranks)
            n = len(ranks)
            med = (ranks[(n - 1) // 2] + ranks[n // 2]) // 2
            diff = rgb[r, c].astype(float) - colors[order[med]]
            flagged[r, c] = np.sqrt(diff @ diff) > tol
    # second look: a plane through the neighbours that passed
    kept = valid & ~flagged
    vals = values[index]
    sorted_values = values[order]
    out = flagged.copy()
    for r, c in np.argwhere(flagged):
        rows = []
        for dr in range(-radius, radius + 1):
            for dc in range(-radius, radius + 1):
                rr, cc = r + dr, c + dc
                if 0 <= rr < h and 0 <= cc < w and kept[rr, cc]:
                    rows.append((1.0, dr, dc, vals[rr, cc]))
        if len(rows) < 6:
            continue
        a = np.array(rows)
        normal = a[:, :3].T @ a[:, :3]
        if abs(np.linalg.det(normal)) <= 1e-9:
            continue
        pred = np.linalg.solve(normal, a[:, :3].T @ a[:, 3])[0]
        pos = int(np.clip(np.searchsorted(sorted_values, pred), 1, order.size - 1))
        lower, upper = sorted_values[pos - 1], sorted_values[pos]
        entry = order[pos - 1] if pred - lower <= upper - pred else order[pos]
        diff = rgb[r, c].astype(float) - colors[entry]
        if np.sqrt(diff @ diff) <= RESTORE * tol:
            out[r, c] = False
    # a pixel of a 2 x 2 block of one colour, all valid, is a cell's edge, never a fringe
    for r, c in np.argwhere(out):
        for r0 in (r - 1, r):
            for c0 in (c - 1, c):
                if 0 <= r0 and r0 + 2 <= h and 0 <= c0 and c0 + 2 <= w:
                    block = rgb[r0 : r0 + 2, c0 : c0 + 2].reshape(4, 3)
                    if valid[r0 : r0 + 2, c0 : c0 + 2].all() and (block == block[0]).all():
                        out[r, c] = False
    return out


@pytest.mark.parametrize("cmap", ["jet_r", "viridis", "gray"])
def test_matches_pixel_by_pixel_rule(cmap):
    rng = np.random.default_rng(sum(map(ord, cmap)))
    scale = from_cmap(cmap, 0.0, 1.0)
    k = len(scale.colors)
    flagged_any = cleared_any = 0
    for case in range(90):
        h, w = (int(v) for v in rng.integers(1, 13, 2))
        if case % 3 == 1:  # a steep field with jitter
            slope = int(rng.integers(1, 12))
            idx = np.add.outer(np.arange(h), np.arange(w)) * slope + rng.integers(-3, 4, (h, w))
        elif case % 3 == 2:  # a gentle one, windows spanning a few neighbouring colours
            idx = (np.add.outer(np.arange(h), np.arange(w)) * rng.uniform(0.1, 1.5)).astype(int)
        else:  # random, or random cells of 2-3 pixels (an imshow of a coarse grid)
            cell = int(rng.integers(1, 4)) if case % 2 else 1
            idx = np.kron(rng.integers(0, k, (h, w)), np.ones((cell, cell), int))[:h, :w]
        idx = np.clip(idx + int(rng.integers(0, k // 2)), 0, k - 1)
        noise = rng.integers(-6, 7, (h, w, 3)) * int(case % 3 == 1)
        rgb = np.clip(scale.colors[idx].astype(int) + noise, 0, 255).astype(np.uint8)
        valid = rng.random((h, w)) > rng.random() * 0.5
        tol = float(rng.choice([2.0, 4.0, 8.0, 15.0]))
        index = decode(rgb, scale).index
        got = inconsistent_pixels(rgb, index, valid, scale.colors, scale.values, tolerance=tol)
        want = _reference(rgb, index, valid, scale.colors, scale.values, tol)
        np.testing.assert_array_equal(got, want, err_msg=f"case {case}")
        flagged_any += int(want.sum())
        cleared_any += int((valid & ~want).sum())
    assert flagged_any > 0 and cleared_any > 0  # both outcomes were exercised


def test_smooth_field_passes_and_darkened_pixels_fail():
    scale = from_cmap("jet", 0.0, 1.0)
    idx = np.clip(np.add.outer(np.arange(40), np.arange(60)) // 2, 0, 255)
    rgb = scale.colors[idx].astype(np.uint8)
    rgb[20, 30] = (rgb[20, 30] * 0.7).astype(np.uint8)  # a line's antialiased fringe
    index = decode(rgb, scale).index
    bad = inconsistent_pixels(rgb, index, np.ones(idx.shape, bool), scale.colors, scale.values)
    assert np.argwhere(bad).tolist() == [[20, 30]]


def test_cell_edges_of_a_blocky_field_pass_and_a_fringe_fails():
    """imshow of a coarse grid: cells of 3 x 3 pixels whose values jump. The median of a
    cell-edge pixel's window is often the next cell's value, yet the pixel is a cell's
    own colour (flagged before: 2-8 % of such figures' data); a line's fringe is not."""
    scale = from_cmap("jet", 0.0, 1.0)
    rng = np.random.default_rng(5)
    cells = rng.integers(0, len(scale.colors), (12, 16))
    idx = np.kron(cells, np.ones((3, 3), int))
    rgb = scale.colors[idx].astype(np.uint8)
    rgb[:, 20] = (rgb[:, 20] * 0.7).astype(np.uint8)  # a 1-pixel antialiased line
    index = decode(rgb, scale).index
    valid = np.ones(idx.shape, bool)
    bad = inconsistent_pixels(rgb, index, valid, scale.colors, scale.values)
    assert not bad[:, :19].any() and not bad[:, 22:].any()  # no cell edge flagged
    assert bad[:, 20].mean() > 0.5  # the line's pixels are
    assert np.array_equal(bad, _reference(rgb, index, valid, scale.colors, scale.values, 8.0))


def test_window_filters_equal_ndimage():
    from scipy import ndimage

    from geodigitize.filters import any_in_window, window_extreme

    rng = np.random.default_rng(1)
    for _ in range(200):
        h, w = (int(v) for v in rng.integers(1, 15, 2))
        size = int(rng.choice([1, 3, 5, 7]))
        a = rng.integers(0, 50, (h, w)).astype(np.uint16)
        np.testing.assert_array_equal(
            window_extreme(a, size, np.minimum), ndimage.minimum_filter(a, size, mode="nearest")
        )
        np.testing.assert_array_equal(
            window_extreme(a, size, np.maximum), ndimage.maximum_filter(a, size, mode="nearest")
        )
        m = rng.random((h, w)) < 0.1
        np.testing.assert_array_equal(
            any_in_window(m, size), ndimage.binary_dilation(m, np.ones((size, size), bool))
        )


def _ids_and_index(rgb, scale):
    """Each pixel's distinct colour, and each colour's decoded scale entry."""
    from geodigitize.colors import distinct_colors, pack_rgb, unpack_rgb

    colors, color_id = distinct_colors(pack_rgb(rgb))
    id_rgb = unpack_rgb(colors)
    id_index = decode(id_rgb[None], scale).index[0]
    return color_id, id_rgb, id_index


def _scales():
    """Scales of 256 entries (ranks in uint8, the last one equal to its largest value),
    of 255, of jet_r's, and of more than 256 (ranks in uint16); values in shuffled order."""
    rng = np.random.default_rng(3)
    for k in (256, 255, 0, 700):
        if not k:
            yield from_cmap("jet_r", 0.0, 1.0)
            continue
        t = np.linspace(0, 1, k)
        ramp = np.stack([255 * t, 255 * (1 - t), 128 + 100 * np.sin(6 * t)], axis=1).round()
        order = rng.permutation(k)
        yield ColorScale(ramp[order], t[order], 0.0, 1.0)


@pytest.mark.parametrize("scale", list(_scales()), ids=["256", "255", "jet_r", "700"])
def test_ranked_by_colour_matches_ranked_by_pixel(scale):
    """`id_index` (ranks gathered by colour, in uint8 for up to 256 entries) gives what
    ranking each pixel's index gives, on fields that reach both ends of the scale (the
    256-entry scale's last rank equals uint8's largest value), with colours no entry is
    within tolerance of, 1-row images and images with no valid pixel."""
    rng = np.random.default_rng(len(scale.values))
    k = len(scale.values)
    order = np.argsort(scale.values, kind="stable")
    checked = 0
    for case in range(80):
        h = 1 if case % 5 == 0 else int(rng.integers(2, 14))
        w = int(rng.integers(1, 16))
        ranks = np.add.outer(np.arange(h), np.arange(w)) * int(rng.integers(0, 30))
        ranks = ranks + int(rng.choice([0, k - 1 - ranks.max(), int(rng.integers(0, k))]))
        idx = order[np.clip(ranks + rng.integers(-2, 3, (h, w)), 0, k - 1)]
        rgb = scale.colors[idx].astype(int)
        off = rng.random((h, w)) < 0.15  # mixtures, some far from every entry
        rgb[off] = (rgb[off] * rng.uniform(0.3, 0.95, (int(off.sum()), 1))).astype(int)
        rgb = np.clip(rgb, 0, 255).astype(np.uint8)
        valid = rng.random((h, w)) > (1.0 if case % 7 == 3 else rng.random() * 0.4)
        tol = float(rng.choice([0.5, 4.0, 8.0]))
        color_id, id_rgb, id_index = _ids_and_index(rgb, scale)
        index = id_index[color_id]
        args = (None, index, valid, scale.colors, scale.values)
        kw = dict(tolerance=tol, color_id=color_id, id_rgb=id_rgb)
        got = inconsistent_pixels(*args, id_index=id_index, **kw)
        want = _reference(rgb, index, valid, scale.colors, scale.values, tol)
        np.testing.assert_array_equal(got, want, err_msg=f"case {case}")
        np.testing.assert_array_equal(inconsistent_pixels(*args, **kw), want)
        checked += int(want.sum())
    assert checked > 0


def test_masked_extreme_equals_window_extreme_of_where():
    from geodigitize.filters import masked_extreme, window_extreme

    rng = np.random.default_rng(2)
    for case in range(300):
        h, w = (int(v) for v in rng.integers(1, 12, 2))
        size = int(rng.choice([1, 3, 5, 7]))
        dtype = [np.uint8, np.uint16, np.int64][case % 3]
        top = np.iinfo(dtype).max
        a = rng.integers(0, min(top, 300) + 1, (h, w)).astype(dtype)
        keep = rng.random((h, w)) < [0.0, 0.5, 1.0][case % 3 - 1 if case % 4 else 0]
        for op, fill in ((np.minimum, top), (np.maximum, 0)):
            want = window_extreme(np.where(keep, a, fill).astype(dtype), size, op)
            got = masked_extreme(a, keep, size, op, fill)
            assert got.dtype == want.dtype
            np.testing.assert_array_equal(got, want)


def test_top_rank_of_a_256_entry_scale_out_of_tolerance_is_checked():
    """With 256 entries the last rank is uint8's largest value: a pixel there whose colour
    no entry is within tolerance of, amid pixels of that last rank, is still checked."""
    scale = next(_scales())
    assert len(scale.values) == 256
    last = int(np.argmax(scale.values))
    rgb = np.broadcast_to(scale.colors[last], (5, 5, 3)).astype(np.uint8).copy()
    rgb[2, 2, 2] -= 1  # one unit from the last entry's colour, nearest to it still
    color_id, id_rgb, id_index = _ids_and_index(rgb, scale)
    assert (id_index[color_id] == last).all()
    valid = np.ones((5, 5), bool)
    args = (None, id_index[color_id], valid, scale.colors, scale.values)
    kw = dict(tolerance=0.5, color_id=color_id, id_rgb=id_rgb)
    want = _reference(rgb, id_index[color_id], valid, scale.colors, scale.values, 0.5)
    assert np.argwhere(want).tolist() == [[2, 2]]
    np.testing.assert_array_equal(inconsistent_pixels(*args, id_index=id_index, **kw), want)
    np.testing.assert_array_equal(inconsistent_pixels(*args, **kw), want)
