"""Excluded colours and their halo, JPEG consistency, automatic thresholds."""

from __future__ import annotations

import numpy as np
import pytest

from geodigitize.colormap import ColorScale, from_cmap
from geodigitize.decode import decode
from geodigitize.errors import ColorScaleError
from geodigitize.filters import any_in_window
from geodigitize.mask import (
    Exclusion,
    Reason,
    auto_distances,
    classify,
    excluded_pixels,
    field_colors,
    parse_colors,
    value_outliers,
)


def test_parse_colors():
    got = parse_colors("black, white,#cccccc,0.35,ff0000", 10)
    np.testing.assert_array_equal(
        got, [[0, 0, 0], [255, 255, 255], [204, 204, 204], [89, 89, 89], [255, 0, 0]]
    )
    with pytest.raises(ColorScaleError, match="unknown colour 'blak'"):
        parse_colors("blak", 10)
    with pytest.raises(ColorScaleError, match=">= 0"):
        parse_colors("black", -1)


def _field_with_black_line():
    """gist_earth field (contains black) crossed by a black line with a 50 % halo."""
    scale = from_cmap("gist_earth", 0.0, 1.0)
    t = np.tile(np.linspace(0.2, 0.9, 40), (20, 1))
    import matplotlib

    img = matplotlib.colormaps["gist_earth"](t, bytes=True)[..., :3].copy()
    img[10] = 0  # the line
    img[9] = (img[9] * 0.5).astype(np.uint8)  # its antialiased halo
    return img, scale, t


def test_excluded_colour_and_its_halo_but_not_plain_data():
    img, scale, _ = _field_with_black_line()
    ex = excluded_pixels(img, "black", 10, scale, "rgb")
    assert ex[10].all() and ex[9].all()
    assert not ex[:8].any() and not ex[12:].any()
    # a black-ish scale colour far from any line stays data
    assert not excluded_pixels(img[:5], "black", 10, scale, "rgb").any()


def test_classify_keeps_old_behaviour_and_adds_inconsistency():
    img, scale, _ = _field_with_black_line()
    dec = decode(img, scale)
    ex = excluded_pixels(img, "black", 10, scale, "rgb")
    reason = classify(dec.distance, max_distance=8, excluded=ex)
    assert (reason[10] == Reason.EXCLUDED_COLOR).all()
    assert (reason[:8] == Reason.DATA).all()
    noisy = dec.values.copy()
    noisy[3, 20] += 0.3
    r2 = classify(dec.distance, max_distance=8, excluded=ex, values=noisy, smoothness=4)
    assert r2[3, 20] == Reason.INCONSISTENT
    assert (r2[:8] == Reason.DATA).mean() > 0.85  # steep 40-pixel ramp: corners may go


def test_value_outliers_ignore_smooth_gradients():
    yy, xx = np.mgrid[0:30, 0:30]
    v = (xx + yy) / 600.0 + np.random.default_rng(0).normal(0, 0.002, (30, 30))
    cand = np.ones_like(v, bool)
    assert value_outliers(v, cand, 4).mean() < 0.01
    v[15, 15] += 0.2
    assert value_outliers(v, cand, 4)[15, 15]


def test_auto_distances():
    assert auto_distances(np.zeros((5, 5))) == (8.0, 0.5)
    md, hd = auto_distances(np.full((5, 5), 2.0))
    assert (md, hd) == (24.0, 3.0)
    assert auto_distances(np.full((5, 5), 90.0))[0] == 8.0  # nothing near the scale


def _palette_field_with_grey_line():
    """A gist_earth field drawn from matplotlib's 256-colour table, crossed by a vertical
    grey line (70 % in column 30) that barely touches column 29 (2 %), decoded through a
    scale one green unit off the table (as a colorbar's colours can be)."""
    import matplotlib

    cmap = matplotlib.colormaps["gist_earth"]
    yy, xx = np.mgrid[0:40, 0:60]
    field = cmap(0.35 + 0.004 * xx + 0.002 * yy, bytes=True)[..., :3]
    grey = np.array([89.0, 89.0, 89.0])
    img = field.copy()
    for col, alpha in ((30, 0.7), (29, 0.02)):
        img[:, col] = np.rint((1 - alpha) * field[:, col] + alpha * grey).astype(np.uint8)
    table = cmap(np.linspace(0, 1, 256), bytes=True)[:, :3].astype(float)
    scale = ColorScale(np.maximum(table - [0, 1, 0], 0), (np.arange(256) + 0.5) / 256, 0, 1)
    return img, field, scale


def test_halo_masks_colours_found_only_next_to_lines():
    img, field, scale = _palette_field_with_grey_line()
    assert (img[:, 29] != field[:, 29]).any(axis=1).all()  # the line did touch column 29
    dec = decode(img, scale)
    max_d, halo_d = auto_distances(dec.distance)
    assert (max_d, halo_d) == (12.0, 1.5)
    # colour distance cannot tell the touched column from the field: both are within
    # a unit or two of the scale
    assert dec.distance[:, 29].max() <= halo_d
    plain = classify(dec.distance, max_distance=max_d, halo_distance=halo_d)
    assert (plain[:, 29] == Reason.DATA).all()
    # but its colours occur nowhere away from the line
    reason = classify(dec.distance, max_distance=max_d, halo_distance=halo_d, color_id=dec.color_id)
    assert (reason[:, 29] == Reason.HALO).all()
    assert (reason[:, 30] == Reason.OFF_SCALE).all()
    others = np.ones(img.shape[:2], bool)
    others[:, 29:31] = False
    assert (reason[others] == Reason.DATA).all()  # column 31, next to the line, too
    # the rule belongs to the halo rule: off with it
    off = classify(dec.distance, max_distance=max_d, halo_distance=None, color_id=dec.color_id)
    assert (off[:, 29] == Reason.DATA).all()


def test_field_colours_only_count_candidates_away_from_ink():
    ids = np.array([[0, 0, 0, 0, 0, 0], [0, 0, 0, 2, 1, 0], [0, 0, 0, 2, 1, 0], [3, 3, 0, 0, 0, 0]])
    ink = ids == 1
    assert field_colors(ids, ink).tolist() == [True, False, False, True]
    cand = np.ones(ids.shape, bool)
    cand[3, :2] = False  # colour 3 only outside the region
    assert field_colors(ids, ink, cand).tolist() == [True, False, False, False]
    assert field_colors(ids, ink, cand, n_colors=6).tolist() == [
        True,
        False,
        False,
        False,
        False,
        False,
    ]
    # asking about some colours gives the same answer for those
    wanted = np.array([False, False, True, True])
    got = field_colors(ids, ink, cand, wanted=wanted)
    assert got[wanted].tolist() == [False, False]


@pytest.mark.parametrize("seed", range(6))
def test_field_colours_asked_for_some_colours_answer_those_exactly(seed):
    rng = np.random.default_rng(seed)
    h, w = rng.integers(1, 40, size=2)
    n = int(rng.integers(1, 30))
    ids = rng.integers(0, n, (h, w))
    ink = rng.random((h, w)) < rng.random() * 0.3
    cand = rng.random((h, w)) < 0.9
    wanted = rng.random(n) < 0.5
    full = field_colors(ids, ink, cand, n_colors=n)
    np.testing.assert_array_equal(field_colors(ids, ink, cand, wanted=wanted)[wanted], full[wanted])


def test_strip_with_the_whole_images_field_colours_equals_one_piece():
    img, _, scale = _palette_field_with_grey_line()
    img = img.copy()
    img[36:, 5] = img[3, 29]  # a touched colour of the top strip, met far down
    dec = decode(img, scale)
    whole = classify(dec.distance, max_distance=12, halo_distance=1.5, color_id=dec.color_id)
    assert whole[3, 29] == Reason.DATA  # a colour of the field after all
    field = field_colors(dec.color_id, dec.distance > 12)
    for lo, hi in ((0, 12), (10, 31), (28, 40)):
        part = classify(
            dec.distance[lo:hi],
            max_distance=12,
            halo_distance=1.5,
            color_id=dec.color_id[lo:hi],
            field=field,
        )
        a, b = (1 if lo else 0), (hi - lo - 1 if hi < 40 else hi - lo)  # context rows
        np.testing.assert_array_equal(part[a:b], whole[lo + a : lo + b])
    alone = classify(
        dec.distance[:12], max_distance=12, halo_distance=1.5, color_id=dec.color_id[:12]
    )
    assert alone[3, 29] == Reason.HALO  # what the strip would decide by itself


@pytest.mark.parametrize("seed", range(8))
def test_auto_distances_from_colour_counts_equal_the_pixel_median(seed):
    """Per-colour counts (how strips and one piece compute it) give exactly the median
    over the candidate pixels (the rule as documented)."""
    rng = np.random.default_rng(seed)
    n_colors = int(rng.integers(1, 40))
    distance = (rng.random(n_colors) * 60).astype(np.float32)
    distance[rng.random(n_colors) < 0.3] = 0.0  # ties
    ids = rng.integers(0, n_colors, size=int(rng.integers(1, 500)))
    candidates = rng.random(ids.size) < 0.7
    counts = np.bincount(ids[candidates], minlength=n_colors)
    near = distance[ids][candidates]
    near = near[near <= 40.0]
    noise = float(np.median(near)) if near.size else 0.0
    expected = (float(np.clip(12 * noise, 8.0, 40.0)), max(0.5, 1.5 * noise))
    assert auto_distances(distance, counts=counts) == expected
    assert auto_distances(distance[ids], candidates) == expected


# --- ink decoded as a black (white) end of the scale ----------------------------------
def test_the_ink_coloured_ends_of_a_scale():
    from geodigitize.mask import ink_ends

    def ends(name):
        scale = from_cmap(name, 0.0, 1.0)
        return ink_ends(scale.colors, scale.values)

    assert ends("magma") == ((-1, 0.0),)
    assert ends("pink") == ((1, 255.0),)
    assert ends("hot") == ((-1, 0.0), (1, 255.0))
    assert ends("viridis") == ends("jet") == ends("RdBu") == ()
    assert ends("gray") == ends("Greys") == ()  # grey scales: every grey ink is data


MH, MW = 48, 64


def _magma_figure():
    """A smooth field near magma's dark end (values 0.04-0.2 of 0-1), with black lines
    drawn at exact coverage: rows 16-17 fully with a 25 % edge on row 18, a
    line split 50/50 over columns 40-41 (rows 24-43), and a 30 % edge on row 8 along the
    top of the region (rows 0-7 outside it, as a frame's spine leaves it)."""
    import matplotlib

    yy, xx = np.mgrid[0:MH, 0:MW]
    truth = 0.04 + 0.16 * xx / MW + 0.02 * np.sin(yy / 7.0)
    field = matplotlib.colormaps["magma"](truth, bytes=True)[..., :3].astype(np.float64)
    cover = np.zeros((MH, MW))
    cover[16:18, 4:60] = 1.0
    cover[18, 4:60] = 0.25
    cover[24:44, 40:42] = 0.5
    cover[8, :] = 0.3
    rgb = np.rint((1 - cover[..., None]) * field).astype(np.uint8)
    return rgb, truth, cover > 0


def _masked(rgb, rule=True):
    from geodigitize import mask as mask_module
    from geodigitize.mask import mask_image

    scale = from_cmap("magma", 0.0, 1.0)
    with pytest.MonkeyPatch.context() as mp:
        if not rule:
            mp.setattr(mask_module, "_mask_ink_end", lambda reason, decoded, scale: None)
        reason, decoded, _ = mask_image(
            rgb,
            np.ones(rgb.shape[:2], bool),
            decode(rgb, scale),
            scale,
            max_distance=8.0,
            region=(0, 8, MW, MH),
        )
    return reason == Reason.DATA, decoded


def test_black_ink_over_a_dark_field_of_a_black_ended_scale_is_masked():
    rgb, truth, line = _magma_figure()
    data = ~line
    data[:8] = False  # outside the region
    before, _ = _masked(rgb, rule=False)
    assert before[line].mean() > 0.5  # colour alone: most of the ink decodes as data
    kept, decoded = _masked(rgb)
    assert not kept[line].any()
    assert kept[data].all()
    err = np.abs(decoded.values[data] - truth[data])
    assert err.max() <= 1 / 255  # the kept data decode to their own colour


def test_a_dark_valley_of_the_field_is_kept():
    """A smooth field falling to the scale's black end and rising again, with no line:
    nothing masked. (A kink, a V whose sides rise more than :data:`INK_END_DIP` of the
    scale within 3 pixels, would be.)"""
    import matplotlib

    xx = np.arange(MW)
    truth = np.tile(0.15 * ((xx - 32) / 32.0) ** 2, (MH, 1))
    rgb = matplotlib.colormaps["magma"](truth, bytes=True)[..., :3]
    kept, _ = _masked(np.ascontiguousarray(rgb))
    assert kept[8:].all()


# --- the halo distance of a renderer that rounds colours one level off the table ------
def test_the_halo_distance_follows_one_level_of_rounding_only():
    rounded = np.zeros(100)
    rounded[:40] = 1.0  # 40 % one level off in one channel, the rest exact: a PDF
    assert auto_distances(rounded) == (8.0, 1.5)
    rounded[:30] = np.sqrt(2)  # one level off in two channels
    assert auto_distances(rounded) == (8.0, pytest.approx(np.sqrt(2) + 0.5))
    mixed = rounded.copy()
    mixed[:20] = 9.0  # a fifth far off: resampled mixtures, not rounding
    assert auto_distances(mixed) == (8.0, 0.5)


def test_data_beside_a_line_of_a_rounding_renderer_is_kept():
    """A viridis field whose colours a renderer rounded one level off the table in a third
    of the pixels (as poppler does with a PDF), crossed by a black line 60 % over column
    20 and 40 % over column 21: every data pixel is kept, the line's none."""
    import matplotlib

    from geodigitize.mask import mask_image

    yy, xx = np.mgrid[0:40, 0:48]
    field = matplotlib.colormaps["viridis"](0.2 + 0.01 * xx + 0.005 * yy, bytes=True)[..., :3]
    rng = np.random.default_rng(1)
    off = rng.random((40, 48)) < 1 / 3
    channel = rng.integers(0, 3, (40, 48))
    rgb = field.astype(np.int16)
    rgb[off, channel[off]] += np.where(rgb[off, channel[off]] < 255, 1, -1)
    rgb = rgb.astype(np.float64)
    rgb[:, 20] *= 0.4
    rgb[:, 21] *= 0.6
    rgb = np.rint(rgb).astype(np.uint8)
    scale = from_cmap("viridis", 0.0, 1.0)
    reason, _, fit = mask_image(rgb, np.ones((40, 48), bool), decode(rgb, scale), scale)
    assert fit.halo_distance_ == 1.5
    line = np.zeros((40, 48), bool)
    line[:, 20:22] = True
    assert (reason[~line] == Reason.DATA).all()
    assert not (reason[line] == Reason.DATA).any()


def test_exclusion_halo_looks_only_around_mixtures():
    # a few mixture pixels are looked at one by one, many in one pass over the window:
    # both give the dilation of the excluded pixels kept at mixtures, edges included
    ids = np.zeros((40, 50), dtype=np.intp)
    ids[10, :] = 1  # an excluded line
    ids[12, 3] = ids[13, 40] = ids[0, 0] = ids[39, 49] = 2  # mixtures near and far
    exclusion = Exclusion(np.array([False, True, False]), np.array([False, False, True]), 2)
    got = exclusion.pixels(ids)
    assert got[10].all() and got[12, 3] and not got[13, 40] and not got[0, 0]
    assert got.sum() == 51
    # only excluded pixels, or none at all: nothing to dilate
    no_mix = Exclusion(np.array([False, True, False]), np.zeros(3, bool), 2)
    np.testing.assert_array_equal(no_mix.pixels(ids), ids == 1)
    rng = np.random.default_rng(0)
    paths = set()
    for _ in range(400):
        n, h, w = int(rng.integers(2, 9)), int(rng.integers(1, 40)), int(rng.integers(1, 40))
        ids = rng.integers(0, n, (h, w))
        excluded = rng.random(n) < 0.3
        mixture = (rng.random(n) < 0.5) & ~excluded
        ids[rng.random((h, w)) < rng.choice([0.9, 0.0])] = 0  # mostly one colour, or not
        halo = int(rng.integers(0, 4))
        want = excluded[ids]
        if halo > 0:
            want = want | (any_in_window(want, 2 * halo + 1) & mixture[ids])
        got = Exclusion(excluded, mixture, halo).pixels(ids)
        np.testing.assert_array_equal(got, want)
        if halo and excluded[ids].any() and mixture[ids].any():
            paths.add(mixture[ids].sum() * (2 * halo + 1) ** 2 > ids.size)
    assert paths == {True, False}  # both ways were taken


def test_nan_median_filter_in_blocks_on_threads_is_the_median_of_each_window(monkeypatch):
    # blocks of 1 or 3 rows on two threads, put back in order: each pixel's median of
    # the finite values of its 5 x 5 window, as np.nanmedian finds it
    from geodigitize import mask as mask_module

    rng = np.random.default_rng(8)
    vals = rng.integers(0, 9, (23, 17)).astype(np.float64)
    vals[rng.random(vals.shape) < 0.3] = np.nan
    vals[:6, :6] = np.nan  # windows with no finite value
    padded = np.pad(vals, 2, constant_values=np.nan)
    windows = np.lib.stride_tricks.sliding_window_view(padded, (5, 5))
    with np.errstate(all="ignore"), pytest.warns(RuntimeWarning):
        expected = np.nanmedian(windows.reshape(23, 17, 25), axis=2)
    for block in (25 * 17, 3 * 25 * 17, 10**9):
        monkeypatch.setattr(mask_module, "MEDIAN_BLOCK", block)
        got = mask_module._nan_median_filter(vals, 5)
        np.testing.assert_array_equal(got, expected)
