"""Average overviews computed as rows come (geodigitize.overviews) are GDAL's, bit for bit.

GDAL's own ``build_overviews(..., Resampling.average)`` is the reference: every level of
grids with odd and even sides, NaN cells (scattered, and whole blocks), values in runs
(as a decoded grid has them) and random values over many magnitudes, fed in rows of
any height.
"""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.enums import Resampling

from geodigitize.io import GridWriter
from geodigitize.overviews import AveragePyramid, overview_shapes, reproduces_gdal

GT = Affine(0.01, 0.0, 10.0, 0.0, -0.01, 50.0)


def _grid(shape, kind: str, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    h, w = shape
    if kind == "runs":  # few values in 5 x 5 blocks, as a decoded grid
        table = np.linspace(0.0, 0.7, 97).astype(np.float32)
        cells = table[rng.integers(0, 97, (h // 5 + 1, w // 5 + 1))]
        grid = cells.repeat(5, 0).repeat(5, 1)[:h, :w].copy()
    else:  # every cell different, magnitudes 1e-20 .. 1e20
        grid = (rng.standard_normal(shape) * 10.0 ** rng.integers(-20, 20, shape)).astype(
            np.float32
        )
    if kind != "full":
        grid[rng.random(shape) < 0.1] = np.nan
        grid[: h // 3, : w // 4] = np.nan  # whole overview cells without data
    return grid


def _gdal_levels(tmp_path, grid: np.ndarray, factors) -> list[np.ndarray]:
    """Every overview level rasterio's (GDAL's) average builds."""
    path = tmp_path / "gdal.tif"
    profile = dict(driver="GTiff", width=grid.shape[1], height=grid.shape[0], count=1)
    profile.update(dtype="float32", nodata=np.nan, crs="EPSG:4326", transform=GT)
    profile.update(tiled=True, blockxsize=256, blockysize=256, compress="zstd")
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(grid, 1)
        dst.build_overviews(list(factors), Resampling.average)
    levels = []
    for k in range(len(factors)):
        with rasterio.open(path, overview_level=k) as src:
            levels.append(src.read(1))
    return levels


@pytest.mark.parametrize(
    "shape", [(601, 777), (512, 512), (257, 1031), (37, 2051), (1001, 9), (5, 3), (2, 777)]
)
@pytest.mark.parametrize("kind", ["runs", "random", "full"])
def test_pyramid_is_gdals_average_at_every_level(tmp_path, shape, kind):
    factors = [2, 4, 8]
    assert reproduces_gdal(shape, factors) == (min(overview_shapes(shape, [2, 4])[-1]) >= 2)
    if not reproduces_gdal(shape, factors):
        factors = [2]
    grid = _grid(shape, kind)
    expected = _gdal_levels(tmp_path, grid, factors)
    pyramid = AveragePyramid(shape, factors)
    got = [[] for _ in factors]
    rng = np.random.default_rng(1)
    r = 0
    while r < shape[0]:  # rows in pieces of 1 to 300 rows
        k = int(rng.integers(1, 300))
        for level, r0, rows in pyramid.add(grid[r : r + k]):
            assert r0 == sum(part.shape[0] for part in got[level])
            got[level].append(rows)
        r += k
    assert pyramid.complete
    for level, want in enumerate(expected):
        np.testing.assert_array_equal(np.concatenate(got[level]), want)


@pytest.mark.parametrize("shape", [(301, 515), (300, 514), (300, 515), (301, 514)])
def test_equal_values_and_signed_zeros(tmp_path, shape):
    """Cells of one value keep it exactly; zeros of both signs get GDAL's sign (also
    where an even size leaves the cells no middle row or column to add)."""
    grid = np.zeros(shape, np.float32)
    grid[::3, ::2] = -0.0
    grid[100:200] = np.float32(1e-40)  # subnormal
    grid[200:] = np.float32(3.4e38)  # near the largest float32
    grid[::7, ::5] = np.nan
    expected = _gdal_levels(tmp_path, grid, [2])[0]
    got = np.concatenate([rows for _, _, rows in AveragePyramid(grid.shape, [2]).add(grid)])
    assert np.array_equal(np.signbit(got), np.signbit(expected))
    np.testing.assert_array_equal(got, expected)


def test_thin_grids_are_left_to_gdal():
    """GDAL computes a level from a level one cell wide otherwise."""
    assert not reproduces_gdal((700, 2), [2, 4])  # the first level is one column
    assert not reproduces_gdal((700, 3), [2, 4, 8])
    assert reproduces_gdal((700, 3), [2])
    assert not reproduces_gdal((700, 300), [2, 8])  # not each level from the one below


@pytest.mark.parametrize("order", ["down", "up"])
@pytest.mark.parametrize("shape", [(1100, 900), (700, 2), (513, 515)])
def test_grid_writer_overviews_match_gdals(tmp_path, order, shape):
    """GridWriter's overviews (computed as rows come, or by GDAL when the rows come in
    another order or the grid is too thin) are GDAL's, values and tags."""
    grid = _grid(shape, "runs", seed=3)
    factors = [f for f in (2, 4, 8) if max(shape) / f >= 256]
    expected = _gdal_levels(tmp_path, grid, factors)
    starts = list(range(0, shape[0], 97))
    path = tmp_path / "writer.tif"
    with GridWriter(path, shape, GT, "EPSG:4326") as out:
        for r in starts if order == "down" else starts[::-1]:
            out.write_rows(r, grid[r : r + 97])
    with rasterio.open(path) as src:
        assert src.overviews(1) == factors
        np.testing.assert_array_equal(src.read(1), grid)
    for level, want in enumerate(expected):
        with rasterio.open(path, overview_level=level) as src:
            np.testing.assert_array_equal(src.read(1), want)
            assert src.tags(1) == {"RESAMPLING": "AVERAGE"}


def test_grid_writer_closed_without_overviews_keeps_none(tmp_path):
    grid = _grid((600, 700), "runs")
    path = tmp_path / "plain.tif"
    with GridWriter(path, grid.shape, GT, "EPSG:4326") as out:
        out.write_rows(0, grid[:300])
        out.write_rows(300, grid[300:])
        out.close(overviews=False)
    with rasterio.open(path) as src:
        assert src.overviews(1) == []
        np.testing.assert_array_equal(src.read(1), grid)
