"""grid.tif of a non-affine fit, resampled a band at a time from a PixelStore, equals the
one-piece grid exactly."""

from __future__ import annotations

import numpy as np
import pytest
from test_georef import SHAPE, _mercator_gcps

from geodigitize.georef import georeference, warp_store
from geodigitize.reason import Reason
from geodigitize.store import ArrayStore, RowSpool, SpoolStore, pixel_codes, row_blocks


def _image(seed=0):
    rng = np.random.default_rng(seed)
    table = np.arange(1000, dtype=float) / 7
    index = rng.integers(0, 1000, SHAPE)
    valid = rng.random(SHAPE) > 0.1
    valid[:13], valid[:, :21], valid[-5:] = False, False, False
    return table, index, valid


def _spooled(tmp_path, table, index, valid, block_pixels):
    reason = np.where(valid, Reason.DATA, Reason.OFF_SCALE).astype(np.uint8)
    codes = RowSpool(tmp_path / "codes.bin", SHAPE[1], np.uint16)
    with codes:
        for r0, r1 in row_blocks(SHAPE[0], 11):
            codes.append(pixel_codes(index[r0:r1], reason[r0:r1], table.size))
    return SpoolStore(codes, table, block_pixels=block_pixels)


def _one_piece(geo, values, valid, window):
    c0, r0, c1, r1 = window
    crop = np.where(valid, values, np.nan)[r0:r1, c0:c1]
    return geo.grid_placement(crop, (c0, r0))


@pytest.mark.parametrize("kind", ["affine", "tps", "poly3", "projective"])
@pytest.mark.parametrize("block_pixels", [1, 5_000, 10**9])
def test_grid_blocks_equal_the_one_piece_grid(tmp_path, kind, block_pixels):
    table, index, valid = _image()
    geo = georeference(_mercator_gcps(), SHAPE, kind=kind)
    window = (21, 13, 400, 295)  # the crop to the data pixels
    grid, gt, crs = _one_piece(geo, table[index], valid, window)
    for store in (
        ArrayStore(table[index], valid, block_pixels=block_pixels),
        _spooled(tmp_path, table, index, valid, block_pixels),
    ):
        shape, gt2, crs2, bands = geo.grid_blocks(store, window)
        got = np.full(shape, -1.0)
        tops = []
        for top, rows in bands:
            tops.append(top)
            got[top : top + rows.shape[0]] = rows
        assert tops == sorted(tops)
        assert (gt2, crs2, shape) == (gt, crs, grid.shape)
        assert np.array_equal(got, grid, equal_nan=True)


@pytest.mark.parametrize("band_cells", [1, 30_000, 10**9])
def test_warp_store_bands_do_not_change_the_grid(band_cells):
    table, index, valid = _image(1)
    geo = georeference(_mercator_gcps(), SHAPE, kind="tps")
    window = (0, 0, SHAPE[1], SHAPE[0])
    grid, gt, _ = _one_piece(geo, table[index], valid, window)
    north_up, bands = warp_store(
        geo.transform,
        ArrayStore(table[index], valid, block_pixels=4000),
        window,
        band_cells=band_cells,
    )
    assert north_up.transform == gt
    got = np.concatenate([rows for _, rows in bands])
    assert np.array_equal(got, grid, equal_nan=True)


def test_grid_written_from_bands_equals_the_one_piece_file(tmp_path):
    import rasterio

    from geodigitize.io import write_grid, write_grid_bands

    table, index, valid = _image(2)
    geo = georeference(_mercator_gcps(), SHAPE, kind="tps")
    window = (21, 13, 400, 295)
    grid, gt, crs = _one_piece(geo, table[index], valid, window)
    write_grid(tmp_path / "one.tif", grid, gt, crs)
    store = _spooled(tmp_path, table, index, valid, 3_000)
    write_grid_bands(tmp_path / "bands.tif", *geo.grid_blocks(store, window))
    with rasterio.open(tmp_path / "one.tif") as a, rasterio.open(tmp_path / "bands.tif") as b:
        assert (a.transform, a.crs, a.shape) == (b.transform, b.crs, b.shape)
        assert np.array_equal(a.read(1), b.read(1), equal_nan=True)
        assert np.array_equal(
            a.read(1, out_shape=(20, 40)), b.read(1, out_shape=(20, 40)), equal_nan=True
        )
