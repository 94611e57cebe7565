"""The preview over a PixelStore: the same picture from an image in memory and from one
streamed in strips, sampled pixels (the same at every block height) for large ones."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_figure
from PIL import Image

from geodigitize import extract
from geodigitize.preview import decimate, plot_extraction, plot_pixels, preview_pixels
from geodigitize.reason import Reason
from geodigitize.store import ArrayStore, RowSpool, SpoolStore, pixel_codes, row_blocks


@pytest.fixture(scope="module")
def result():
    fig = make_figure(200, 150)
    return extract(
        fig.image,
        gcps=fig.gcps,
        cmap="jet_r",
        vmin=0,
        vmax=0.7,
        region=fig.frame,
        target_error="1%",
    )


@pytest.mark.parametrize(("strip_rows", "target_error"), [(7, None), (64, None), (7, "1%")])
def test_streamed_preview_is_drawn_as_in_memory(tmp_path, strip_rows, target_error):
    # with a target error, the points panel shades the refinement's pieces: a streamed
    # run keeps no per-pixel labels of them, its Pieces label the sampled pixels
    fig = make_figure(200, 150)
    png, gcps = fig.write(tmp_path)
    opts = {"cmap": "jet_r", "vmin": 0, "vmax": 0.7, "region": fig.frame}
    opts["target_error"] = target_error
    whole = extract(png, gcps=gcps, **opts)
    streamed = extract(
        png, gcps=gcps, strip_rows=strip_rows, in_memory=False, grid_dir=tmp_path, **opts
    )
    assert whole.pixels.kept and not streamed.pixels.kept
    assert streamed.preview_rgb is None  # sampled only when the options ask for a preview
    one, many = tmp_path / "one.png", tmp_path / "many.png"
    plot_extraction(whole, one, dpi=40)
    streamed = extract(
        png,
        gcps=gcps,
        strip_rows=strip_rows,
        in_memory=False,
        grid_dir=tmp_path,
        preview=str(many),
        **opts,
    )
    assert np.array_equal(streamed.preview_rgb, whole.image.rgb)
    plot_extraction(streamed, many, dpi=40)
    with Image.open(one) as a, Image.open(many) as b:
        assert np.array_equal(np.asarray(a), np.asarray(b))


def _spooled(tmp_path, result, strip):
    index, reason = result.decoded.index, result.reason
    n = result.scale.values.size
    codes = RowSpool(tmp_path / "codes.bin", index.shape[1], np.uint16)
    labels = RowSpool(tmp_path / "labels.bin", index.shape[1], np.int32)
    with codes, labels:
        for r0, r1 in row_blocks(index.shape[0], strip):
            codes.append(pixel_codes(index[r0:r1], reason[r0:r1], n))
            labels.append(result.clusters.labels[r0:r1])
    return SpoolStore(codes, result.scale.values, labels, block_pixels=strip * index.shape[1])


@pytest.mark.parametrize("side", [37, 64, 1000])
@pytest.mark.parametrize("strip", [1, 3, 17, 1000])
def test_sampled_pixels_at_every_block_height(result, tmp_path, side, strip):
    store = _spooled(tmp_path, result, strip)
    rgb = result.image.rgb
    step = -(-max(rgb.shape[:2]) // side)
    # the rgb sampled strip by strip, as the engine hands it over
    sampled_rgb = np.concatenate(
        [decimate(r0, rgb[r0:r1], step) for r0, r1 in row_blocks(rgb.shape[0], strip)]
    )
    assert np.array_equal(sampled_rgb, rgb[::step, ::step])
    got = preview_pixels(store, rgb=sampled_rgb, side=side)
    assert got.step == step
    assert np.array_equal(got.rgb, rgb[::step, ::step])
    assert np.array_equal(got.values, result.values[::step, ::step], equal_nan=True)
    assert np.array_equal(got.reason, result.reason[::step, ::step])
    assert np.array_equal(got.labels, result.clusters.labels[::step, ::step])
    assert np.array_equal(
        got.reason_counts, np.bincount(result.reason.ravel(), minlength=len(Reason))
    )
    rstep = got.recon_step
    assert np.array_equal(got.recon_values, result.values[::rstep, ::rstep], equal_nan=True)
    mem = preview_pixels(
        ArrayStore(result.decoded.values, result.valid, result.reason, result.clusters.labels),
        rgb=rgb,
        side=side,
    )
    for name in ("rgb", "values", "reason", "labels", "reason_counts", "recon_values"):
        assert np.array_equal(getattr(mem, name), getattr(got, name), equal_nan=True), name
    # the refinement's pieces (result's --target-error) label the sampled pixels as its
    # whole-image labels mark them
    refined = preview_pixels(store, rgb=sampled_rgb, side=side, pieces=result.refinement.pieces)
    assert np.array_equal(refined.labels, result.kept.labels[::step, ::step])
    assert not np.array_equal(refined.labels, got.labels)  # pieces, not flat clusters


def test_a_sampled_preview_draws(result, tmp_path):
    store = _spooled(tmp_path, result, 7)
    pixels = preview_pixels(store, rgb=result.image.rgb, side=50)
    path = tmp_path / "p.png"
    fig = plot_pixels(pixels, result.kept, result.scale, result.check, "map.png", path, dpi=30)
    assert len(fig.axes) == 8
    assert pixels.extent == (0.0, 200.0, 152.0, 0.0)  # 50 x 38 samples of 4 pixels
    with Image.open(path) as png:
        assert png.size == (450, 270)
