"""The engine's results do not depend on the strips: one strip of an image held in memory
equals many strips, and a file streamed from disk (GDAL) equals it read whole (Pillow)."""

from __future__ import annotations

import json

import numpy as np
import pyogrio
import pytest
import rasterio
from conftest import make_figure, paint
from PIL import Image

from geodigitize import frame, mask, strips
from geodigitize.colormap import from_cmap
from geodigitize.colors import pack_rgb
from geodigitize.errors import ImageError
from geodigitize.filters import any_in_window
from geodigitize.image import read_image
from geodigitize.mask import Reason
from geodigitize.pipeline import Options, extract, run
from geodigitize.reconstruct import check_reconstruction
from geodigitize.sources import StripReader, gdal_reads_like_pillow
from geodigitize.strips import needs_memory
from geodigitize.synthetic import render_figure

# Fixed distances, no neighbourhood check (default masking: further down).
SCALE = {
    "cmap": "jet_r",
    "vmin": 0.0,
    "vmax": 0.7,
    "max_distance": 70.0,
    "halo_distance": 3.0,
    "consistency": None,
}
COLUMNS = ["value", "col", "row", "n_pixels"]


def _assert_same(one, tiled, sample):
    a = one.points[COLUMNS].to_numpy()
    b = tiled.points[COLUMNS].to_numpy()
    np.testing.assert_array_equal(a, b)  # same points, same order
    np.testing.assert_array_equal(
        one.points.geometry.get_coordinates().to_numpy(),
        tiled.points.geometry.get_coordinates().to_numpy(),
    )
    assert one.counts() == tiled.counts()
    assert one.clusters.method == tiled.clusters.method
    expected = check_reconstruction(
        one.decoded.values,
        one.valid,
        one.clusters.col,
        one.clusters.row,
        one.clusters.value,
        one.scale.range,
        sample=sample,
    )
    if expected.sampled:  # same pixels, queried in another order (see strips._check)
        assert tiled.check.n_pixels == expected.n_pixels
        assert tiled.check.median_pct == pytest.approx(expected.median_pct, rel=1e-12)
        assert tiled.check.p95_pct == pytest.approx(expected.p95_pct, rel=1e-12)
    else:
        assert tiled.check == expected


def _streamed(img, gcps, tmp_path, strip_rows, sample=None, **opts):
    """`img` streamed from its file in strips of `strip_rows`, the reconstruction check
    sampling `sample` pixels."""
    with pytest.MonkeyPatch.context() as mp:
        if sample is not None:
            mp.setattr(strips, "DEFAULT_SAMPLE", sample)
        return extract(
            img, gcps=gcps, strip_rows=strip_rows, in_memory=False, grid_dir=tmp_path, **opts
        )


def _tiled_matches(img, gcps, tmp_path, strip_rows, sample, one=None, **opts):
    """Stream in strips and assert the result equals one strip in memory (`one`)."""
    one = one if one is not None else extract(img, gcps=gcps, **opts)
    tiled = _streamed(img, gcps, tmp_path, strip_rows, sample, **opts)
    try:
        _assert_same(one, tiled, sample=sample)
    finally:
        tiled.discard()


def _save_with_corner_gcps(tmp_path, name, image):
    """Write `image` as a PNG with GCPs at its corners (a 10 x 10 degree box)."""
    h, w = image.shape[:2]
    img = tmp_path / name
    Image.fromarray(image).save(img)
    gcps = tmp_path / "gcps.csv"
    gcps.write_text(f"col,row,lon,lat\n0,0,0,10\n{w},0,10,10\n0,{h},0,0\n{w},{h},10,0\n")
    return img, gcps


CASES = [({}, rows) for rows in (1, 2, 3, 17, 1000)] + [
    (options, rows)
    for options in (
        {"region": "10,10,290,190", "halo_distance": 20.0},
        {"eps": 1.5},
        {"eps": 0.5},
        {"flat_tol": 0.01, "eps": 1.5},
    )
    for rows in (3, 17)
]


@pytest.mark.parametrize(("options", "strip_rows"), CASES)
def test_tiled_equals_one_piece(tmp_path, options, strip_rows):
    img, gcps = make_figure(300, 200).write(tmp_path)
    _tiled_matches(img, gcps, tmp_path, strip_rows, 3000, **{**SCALE, **options})


# ---------------------------------------------------------------- default options

DEFAULTS = {"cmap": "jet_r", "vmin": 0.0, "vmax": 0.7}


def _rendered(tmp_path, noise=0, seed=2, alpha=False):
    """An antialiased figure (coastlines, labels, colorbar); `noise` RGB units added."""
    fig = render_figure(240, 180, seed=seed)
    image = fig.image.astype(np.int16)
    if noise:
        image += np.random.default_rng(seed).integers(
            -noise, noise + 1, image.shape, dtype=np.int16
        )
    image = np.clip(image, 0, 255).astype(np.uint8)
    img, gcps = tmp_path / "map.png", tmp_path / "gcps.csv"
    fig.save(img, gcps_path=gcps)
    if alpha:
        a = np.full(image.shape[:2], 255, np.uint8)
        a[30:70, 20:90] = 0
        Image.fromarray(np.dstack([image, a]), "RGBA").save(img)
    else:
        Image.fromarray(image).save(img)
    return img, gcps


def _same_report(one, tiled):
    ra, rb = one.report(), tiled.report()
    for r in (ra, rb):
        r.pop("timings_s")
        r.pop("strips")
    assert ra == rb  # parameters used (automatic distances), counts, check ...


@pytest.mark.parametrize("strip_rows", [1, 2, 3, 5, 17, 1000])
@pytest.mark.parametrize(
    ("noise", "extra"),
    [
        (0, {}),
        (3, {}),
        (2, {"region": "20,15,200,160", "eps": 1.5}),
    ],
)
def test_tiled_equals_one_piece_with_default_masking(tmp_path, noise, extra, strip_rows):
    img, gcps = _rendered(tmp_path, noise=noise)
    one = extract(img, gcps=gcps, **DEFAULTS, **extra)
    reasons = one.counts()["masked_by_reason"]
    assert reasons["halo"] > 0 and reasons["inconsistent"] > 0  # the checks are at work
    if noise:
        assert one.options.max_distance > 8  # above the floor: really automatic
    tiled = _streamed(img, gcps, tmp_path, strip_rows, **DEFAULTS, **extra)
    try:
        _assert_same(one, tiled, sample=2_000_000)
        _same_report(one, tiled)
    finally:
        tiled.discard()


def test_transparent_pixels_with_default_masking(tmp_path):
    img, gcps = _rendered(tmp_path, noise=2, alpha=True)
    one = extract(img, gcps=gcps, **DEFAULTS)
    for rows in (4, 31):
        tiled = _streamed(img, gcps, tmp_path, rows, **DEFAULTS)
        _assert_same(one, tiled, sample=2_000_000)
        _same_report(one, tiled)
        tiled.discard()


def test_run_writes_the_same_files_with_default_options(tmp_path):
    img, gcps = _rendered(tmp_path, noise=2)
    run(img, tmp_path / "one", gcps=gcps, in_memory=True, **DEFAULTS)
    run(img, tmp_path / "tiled", gcps=gcps, in_memory=False, **DEFAULTS)
    a = pyogrio.read_dataframe(tmp_path / "one" / "points.gpkg")
    b = pyogrio.read_dataframe(tmp_path / "tiled" / "points.gpkg")
    assert a.equals(b)
    with (
        rasterio.open(tmp_path / "one" / "grid.tif") as ga,
        rasterio.open(tmp_path / "tiled" / "grid.tif") as gb,
    ):
        assert ga.transform == gb.transform
        np.testing.assert_array_equal(ga.read(1), gb.read(1))
    ra = json.loads((tmp_path / "one" / "report.json").read_text())
    rb = json.loads((tmp_path / "tiled" / "report.json").read_text())
    for r in (ra, rb):
        r.pop("timings_s")
        r.pop("strips")
    assert ra == rb


def _blocky_figure(rng, height, width, levels, block):
    """Random piecewise-constant fields: big clusters crossing many strip seams."""
    coarse = rng.integers(0, levels, size=(height // block + 1, width // block + 1))
    values = np.repeat(np.repeat(coarse, block, 0), block, 1)[:height, :width]
    values = 0.05 + values * (0.6 / max(levels - 1, 1))
    image = paint(values, "jet_r", 0.0, 0.7)
    lines = rng.random((height, width)) < 0.02  # scattered off-scale pixels
    image[lines] = 0
    return image


@pytest.mark.parametrize("seed", range(6))
def test_tiled_equals_one_piece_on_random_blocky_fields(tmp_path, seed):
    rng = np.random.default_rng(seed)
    h, w = rng.integers(20, 90, size=2)
    levels, block = int(rng.integers(2, 6)), int(rng.integers(2, 12))
    image = _blocky_figure(rng, h, w, levels=levels, block=block)
    img, gcps = _save_with_corner_gcps(tmp_path, "blocky.png", image)
    eps = [1.0, 1.5][seed % 2]
    one = extract(img, gcps=gcps, eps=eps, **SCALE)
    for rows in (1, 2, 5, int(rng.integers(3, 30))):
        _tiled_matches(img, gcps, tmp_path, rows, 500, one=one, eps=eps, **SCALE)


def test_run_writes_the_same_files_either_way(tmp_path):
    img, gcps = make_figure(240, 180).write(tmp_path)
    opts = {**SCALE, "region": "10,10,230,170"}
    run(img, tmp_path / "one", gcps=gcps, in_memory=True, **opts)
    run(img, tmp_path / "tiled", gcps=gcps, in_memory=False, **opts)
    a = pyogrio.read_dataframe(tmp_path / "one" / "points.gpkg")
    b = pyogrio.read_dataframe(tmp_path / "tiled" / "points.gpkg")
    assert a.drop(columns="geometry").equals(b.drop(columns="geometry"))
    assert a.geometry.equals(b.geometry)
    with (
        rasterio.open(tmp_path / "one" / "grid.tif") as ga,
        rasterio.open(tmp_path / "tiled" / "grid.tif") as gb,
    ):
        assert {**ga.profile, "nodata": 0} == {**gb.profile, "nodata": 0}
        assert np.isnan(ga.nodata) and np.isnan(gb.nodata)
        np.testing.assert_array_equal(ga.read(1), gb.read(1))
        assert ga.overviews(1) == gb.overviews(1)
    ra = json.loads((tmp_path / "one" / "report.json").read_text())
    rb = json.loads((tmp_path / "tiled" / "report.json").read_text())
    assert rb["strips"]["strips"] >= 1
    for r in (ra, rb):
        r.pop("timings_s")
        r.pop("strips")
    assert ra == rb
    assert not list((tmp_path / "tiled").glob(".*"))  # no temporary file left


def test_large_grid_is_tiled_with_overviews(tmp_path):
    img, gcps = make_figure(700, 600).write(tmp_path)
    run(img, tmp_path / "out", gcps=gcps, in_memory=False, **SCALE)
    with rasterio.open(tmp_path / "out" / "grid.tif") as src:
        assert src.profile["tiled"] and src.profile["compress"] == "zstd"
        assert src.overviews(1) == [2]


def test_overviews_built_without_the_gil_match_rasterios(tmp_path):
    """GridWriter builds its overviews through ctypes (releasing the GIL), on its open
    dataset or on a closed file; every level is bit for bit what rasterio's own
    ``build_overviews`` gives (nodata-aware average)."""
    from affine import Affine
    from rasterio.enums import Resampling

    from geodigitize.errors import OutputError
    from geodigitize.io import GridWriter, build_overviews

    rng = np.random.default_rng(3)
    values = (rng.integers(0, 50, (1537, 2049)) / 49 * 0.7).astype(np.float32)
    values[rng.random(values.shape) < 0.3] = np.nan
    values[100:400, 200:700] = np.nan  # whole overview cells of nodata
    gt = Affine(0.01, 0, 10, 0, -0.01, 50)
    with GridWriter(tmp_path / "new.tif", values.shape, gt, "EPSG:4326") as grid:
        grid.write_rows(0, values)
    with GridWriter(tmp_path / "old.tif", values.shape, gt, "EPSG:4326") as grid:
        grid.write_rows(0, values)
        grid.close(overviews=False)
    with rasterio.open(tmp_path / "old.tif", "r+") as grid:
        grid.build_overviews([2, 4, 8], Resampling.average)
    with GridWriter(tmp_path / "closed.tif", values.shape, gt, "EPSG:4326") as grid:
        grid.write_rows(0, values)
        grid.close(overviews=False)
    build_overviews(tmp_path / "closed.tif", [2, 4, 8])  # reopened through ctypes
    with rasterio.open(tmp_path / "new.tif") as new, rasterio.open(tmp_path / "old.tif") as old:
        assert new.overviews(1) == old.overviews(1) == [2, 4, 8]
        assert new.descriptions == ("value",)
    for name in ("new.tif", "closed.tif"):
        for level in range(3):
            with (
                rasterio.open(tmp_path / name, overview_level=level) as new,
                rasterio.open(tmp_path / "old.tif", overview_level=level) as old,
            ):
                a, b = new.read(1), old.read(1)
                assert a.shape == b.shape
                assert np.array_equal(a.view(np.uint32), b.view(np.uint32))
    with pytest.raises(OutputError, match="cannot reopen"):
        build_overviews(tmp_path / "missing.tif", [2])


def _save(tmp_path, array, mode=None, **kw):
    path = tmp_path / f"img_{mode or 'x'}.png"
    Image.fromarray(array, mode=mode).save(path, **kw) if mode else Image.fromarray(array).save(
        path, **kw
    )
    return path


@pytest.mark.parametrize("kind", ["RGB", "RGBA", "L", "LA", "P", "P-transparent", "TIFF"])
def test_strip_reader_matches_read_image(tmp_path, kind):
    rng = np.random.default_rng(1)
    h, w = 37, 23
    rgb = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
    if kind == "RGB":
        path = tmp_path / "a.png"
        Image.fromarray(rgb).save(path)
    elif kind == "TIFF":
        path = tmp_path / "a.tif"
        Image.fromarray(rgb).save(path, compression="tiff_deflate")
    elif kind == "RGBA":
        rgba = np.dstack([rgb, rng.choice([0, 128, 255], size=(h, w)).astype(np.uint8)])
        path = tmp_path / "a.png"
        Image.fromarray(rgba, "RGBA").save(path)
    elif kind in ("L", "LA"):
        grey = rgb[..., 0]
        arr = (
            grey
            if kind == "L"
            else np.dstack([grey, rng.choice([0, 255], (h, w)).astype(np.uint8)])
        )
        path = tmp_path / "a.png"
        Image.fromarray(arr, kind).save(path)
    else:
        idx = rng.integers(0, 5, size=(h, w)).astype(np.uint8)
        pil = Image.fromarray(idx, "P")
        pil.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 9, 9])  # index 4 not in palette
        path = tmp_path / "a.png"
        pil.save(path, **({"transparency": 1} if kind == "P-transparent" else {}))
    expected = read_image(path)
    assert gdal_reads_like_pillow(path, 10**9) is not None
    reader = StripReader(path)
    parts = [reader.read(r0, min(r0 + 5, h)) for r0 in range(0, h, 5)]
    reader.close()
    np.testing.assert_array_equal(np.concatenate([p[0] for p in parts]), pack_rgb(expected.rgb))
    np.testing.assert_array_equal(np.concatenate([p[1] for p in parts]), expected.opaque)


def test_transparent_pixels_match_one_piece(tmp_path):
    fig = make_figure(200, 150)
    alpha = np.full(fig.image.shape[:2], 255, np.uint8)
    alpha[40:60, 50:120] = 0
    path = tmp_path / "rgba.png"
    Image.fromarray(np.dstack([fig.image, alpha]), "RGBA").save(path)
    gcps = fig.write(tmp_path)[1]
    one = extract(path, gcps=gcps, **SCALE)
    tiled = _streamed(path, gcps, tmp_path, 9, **SCALE)
    _assert_same(one, tiled, sample=2_000_000)
    assert tiled.counts()["masked_by_reason"]["transparent"] == 20 * 70
    tiled.discard()


def test_which_images_stream_from_their_file(tmp_path):
    fig = make_figure(120, 90)
    png, gcps = fig.write(tmp_path)
    jpg = tmp_path / "map.jpg"
    Image.fromarray(fig.image).save(jpg)
    assert gdal_reads_like_pillow(png, 10**9).shape == (90, 120)
    assert gdal_reads_like_pillow(jpg, 10**9) is None  # GDAL and Pillow may decode JPEG apart
    assert gdal_reads_like_pillow(tmp_path / "missing.png", 10**9) is None
    assert gdal_reads_like_pillow(png, 100) is None  # beyond max_pixels: Pillow refuses it
    assert not needs_memory(Options(**SCALE))
    assert not needs_memory(Options(**SCALE, exclude_color="black", shaded="soft"))
    assert needs_memory(Options(**SCALE, colorbar="auto"))
    for extra in (  # these read the per-pixel store, or cluster with context rows
        {"min_samples": 3},
        {"eps": 2.5},
        {"target_error": "0.5%"},
        {"contours": True},
        {"preview": "p.png"},
        {"transform": "tps"},
    ):
        assert not needs_memory(Options(**SCALE, **extra))
    small = extract(png, gcps=gcps, **SCALE)
    assert small.pixels.kept and small.grid_path is None  # small: in memory
    assert small.strips == {"strip_rows": 90, "strips": 1}
    streamed = extract(png, gcps=gcps, in_memory=False, grid_dir=tmp_path, **SCALE)
    assert not streamed.pixels.kept and streamed.grid_path is not None
    np.testing.assert_array_equal(streamed.reason, small.reason)  # read back from the spool
    np.testing.assert_array_equal(streamed.flat, small.flat)
    np.testing.assert_array_equal(streamed.values, small.values)
    streamed.discard()
    whole = extract(jpg, gcps=gcps, **SCALE)
    from_jpeg = extract(jpg, gcps=gcps, in_memory=False, grid_dir=tmp_path, **SCALE)
    assert whole.pixels.kept and not from_jpeg.pixels.kept  # Pillow read it, results spooled
    assert from_jpeg.counts() == whole.counts()
    np.testing.assert_array_equal(from_jpeg.reason, whole.reason)
    np.testing.assert_array_equal(from_jpeg.values, whole.values)
    from_jpeg.discard()


def test_truncated_png_is_a_clear_error(tmp_path):
    png, gcps = make_figure(300, 200).write(tmp_path)
    data = png.read_bytes()
    png.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match="truncated or damaged"):
        extract(png, gcps=gcps, strip_rows=10, in_memory=False, grid_dir=tmp_path, **SCALE)
    assert not list(tmp_path.glob(".grid*"))


@pytest.mark.parametrize("strip_rows", [2, 3, 7])
def test_field_colour_met_away_from_ink_only_in_the_last_strip(tmp_path, strip_rows):
    """The halo rule's field colours are a property of the whole image: strips scan it
    (spread out, stopping early) until each colour that could be data is settled."""
    h, w = 40, 60
    values = np.full((h, w), 0.3)
    values[5, 21] = 0.6  # a colour that touches ink up here...
    values[36:, :10] = 0.6  # ...and lies away from ink only at the very bottom
    values[8, 21] = 0.5  # a colour met beside ink only: strips without it are skipped
    image = paint(values, "jet_r", 0.0, 0.7)
    image[:12, 20] = 0  # a line
    img, gcps = _save_with_corner_gcps(tmp_path, "late.png", image)
    opts = {**SCALE, "max_distance": "auto", "halo_distance": "auto"}
    one = extract(img, gcps=gcps, **opts)
    assert one.reason[5, 21] == Reason.DATA  # a field colour after all
    assert one.reason[8, 21] == Reason.HALO  # never one
    _tiled_matches(img, gcps, tmp_path, strip_rows, 500, one=one, **opts)


@pytest.mark.parametrize("strip_rows", [2, 3, 7])
def test_rare_field_colours_beside_a_dot_of_ink(tmp_path, strip_rows):
    """Colours of single pixels, tested pixel by pixel once the other colours are
    settled: one beside a dot of ink (left, right, above, below, or diagonal) is not a
    field colour; one two pixels away is."""
    h, w = 40, 60
    values = np.full((h, w), 0.3)
    values[30:, :10] = 0.2
    dot = (30, 40)
    beside = [(0, 1), (0, -1), (1, 0), (-1, 0), (1, 1)]
    for k, (dr, dc) in enumerate(beside):
        values[dot[0] + dr, dot[1] + dc] = 0.4 + 0.03 * k
    values[dot[0], dot[1] + 3] = 0.6  # two pixels from the dot's right neighbour
    image = paint(values, "jet_r", 0.0, 0.7)
    image[dot] = 0
    img, gcps = _save_with_corner_gcps(tmp_path, "dot.png", image)
    opts = {**SCALE, "max_distance": "auto", "halo_distance": "auto"}
    one = extract(img, gcps=gcps, **opts)
    for dr, dc in beside:
        assert one.reason[dot[0] + dr, dot[1] + dc] == Reason.HALO
    assert one.reason[dot[0], dot[1] + 3] == Reason.DATA
    _tiled_matches(img, gcps, tmp_path, strip_rows, 500, one=one, **opts)


@pytest.mark.parametrize("step", [1, 3])
def test_a_streamed_image_finds_its_frame_on_a_reduced_view(tmp_path, step):
    """region="auto" on a streamed image: the frame found on the first pass's view (each
    k x k block reduced to its darkest pixel, so spines stay), scaled back, is the frame
    found on the whole image to within k pixels (the same when k is 1), and the same as
    found on the image in memory, which is searched in the same view."""
    fig = render_figure(960, 720, seed=2)
    img, gcps = tmp_path / "map.png", tmp_path / "gcps.csv"
    fig.save(img, gcps_path=gcps)
    one = extract(img, gcps=gcps, region="auto", **DEFAULTS)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(frame, "FRAME_PIXELS", 960 * 720 // step**2)
        streamed = _streamed(img, gcps, tmp_path, 100, region="auto", **DEFAULTS)
        in_memory = extract(img, gcps=gcps, region="auto", in_memory=True, **DEFAULTS)
    streamed.discard()
    want, got = one.options.region, streamed.options.region
    assert np.abs(np.subtract(fig.frame, want)).max() <= 1
    assert np.abs(np.subtract(got, want)).max() <= step if step > 1 else got == want
    assert in_memory.options.region == got
    assert streamed.report()["fitted"]["automatic"]["region"] == "auto"


@pytest.mark.parametrize(("eps", "min_samples"), [(2.5, 3), (1.0, 2), (2.0, 2)])
def test_general_dbscan_in_strips_is_scikit_learns(tmp_path, eps, min_samples):
    """DBSCAN beyond connected components runs in the strips (with its context rows),
    streamed from the file, and labels the pixels as scikit-learn does over the image."""
    from sklearn.cluster import DBSCAN

    fig = render_figure(160, 120, seed=2)
    png, gcps = tmp_path / "map.png", tmp_path / "gcps.csv"
    fig.save(png, gcps_path=gcps)
    opts = {**SCALE, "flat_tol": 0.02, "eps": eps, "min_samples": min_samples}
    one = extract(png, gcps=gcps, in_memory=True, **opts)
    assert len(one.clusters) > 50 and ((one.clusters.labels < 0) & one.flat).sum() > 100
    rows, cols = np.nonzero(one.flat)
    values = one.decoded.values[rows, cols]
    code = np.unique(values, return_inverse=True)[1] * (eps + 1)
    found = DBSCAN(eps=eps, min_samples=min_samples).fit(np.column_stack([cols, rows, code]))
    want = np.full(one.flat.shape, -1)
    want[rows, cols] = found.labels_
    np.testing.assert_array_equal(one.clusters.labels, want)
    streamed = extract(png, gcps=gcps, strip_rows=7, in_memory=False, grid_dir=tmp_path, **opts)
    assert not streamed.pixels.kept and streamed.strips["strips"] == 18
    np.testing.assert_array_equal(streamed.clusters.col, one.clusters.col)
    np.testing.assert_array_equal(streamed.clusters.row, one.clusters.row)
    np.testing.assert_array_equal(streamed.clusters.n_pixels, one.clusters.n_pixels)
    np.testing.assert_array_equal(streamed.pixels.labels(0, 120), want)


def _black_ink_on_magma(width=200, height=150):
    """A field near magma's dark end crossed by black lines every 30 rows and columns
    (full rows with a 25 % edge below; columns split 50/50 over two pixels)."""
    yy, xx = np.mgrid[0:height, 0:width]
    truth = 0.04 + 0.16 * xx / width + 0.03 * np.sin(yy / 11.0)
    import matplotlib

    field = matplotlib.colormaps["magma"](truth, bytes=True)[..., :3].astype(np.float64)
    cover = np.zeros((height, width))
    cover[20::30] = 1.0
    cover[21::30] = np.maximum(cover[21::30], 0.25)
    cover[:, 15::30] = np.maximum(cover[:, 15::30], 0.5)
    cover[:, 16::30] = np.maximum(cover[:, 16::30], 0.5)
    return np.rint((1 - cover[..., None]) * field).astype(np.uint8)


@pytest.mark.parametrize("strip_rows", [1, 5, 17])
def test_tiled_equals_one_piece_with_a_black_ended_scale(tmp_path, strip_rows):
    """magma's black end turns on the ink-end rule (a closing over 7 rows) on top of the
    consistency check: strips still get the one piece's answer."""
    img, gcps = _save_with_corner_gcps(tmp_path, "magma.png", _black_ink_on_magma())
    opts = {"cmap": "magma", "vmin": 0.0, "vmax": 1.0, "region": "0,6,200,150"}
    one = extract(img, gcps=gcps, **opts)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(mask, "_mask_ink_end", lambda reason, decoded, scale: None)
        without = extract(img, gcps=gcps, **opts)
    assert one.counts()["data"] < without.counts()["data"]  # the rule is at work
    _tiled_matches(img, gcps, tmp_path, strip_rows, 3000, one=one, **opts)


def test_grid_written_on_a_thread_is_complete_or_removed(tmp_path, monkeypatch):
    """The streamed grid is written while the stages after the strips run: extract
    returns it complete, and a stage failing meanwhile leaves no file behind."""
    from geodigitize import pipeline

    png, gcps = make_figure(300, 200).write(tmp_path)
    opts = dict(SCALE, target_error="0.5%", contours=True)
    done = extract(png, gcps=gcps, strip_rows=10, in_memory=False, grid_dir=tmp_path, **opts)
    with rasterio.open(done.grid_path) as grid:  # complete: every band and overview read
        assert grid.read(1).shape == (grid.height, grid.width)
    assert done.timings["grid"] > 0
    done.discard()
    assert not list(tmp_path.glob(".grid*"))

    def fail(*args, **kwargs):
        raise RuntimeError("the search failed")

    monkeypatch.setattr(pipeline, "refine_store", fail)
    with pytest.raises(RuntimeError, match="the search failed"):
        extract(png, gcps=gcps, strip_rows=10, in_memory=False, grid_dir=tmp_path, **opts)
    assert not list(tmp_path.glob(".grid*"))


@pytest.mark.parametrize(
    "k, height, width, colours", [(1, 5, 7, 3), (3, 17, 23, 4), (5, 40, 61, 300)]
)
def test_thumbnail_keeps_the_darkest_pixel_of_each_block(k, height, width, colours):
    """The streamed first pass's view equals frame.darkest_in_blocks on the image (the
    first of equally dark pixels, transparent ids, edge blocks padded), whatever the
    rows each call brings."""
    rng = np.random.default_rng(k)
    palette = rng.integers(0, 256, (colours, 3)).astype(np.uint8)
    palette[1::2] = palette[0]  # many equally dark pixels
    rgb = palette[rng.integers(0, colours, (height, width))]
    table = strips._ColorIds()
    ids = table(pack_rgb(rgb))
    ids[:, : width // 4] = ~ids[:, : width // 4]  # transparent pixels keep ~id
    thumb = strips._Thumbnail(k)
    colours_of = table.colors()  # packed colour of each id
    sent = 0
    for r0 in range(0, height, 4):  # rows arrive a few at a time, with the new colours
        rows = ids[r0 : r0 + 4]
        met = int(np.where(rows >= 0, rows, ~rows).max(initial=-1)) + 1
        thumb.add(rows, colours_of[sent : max(sent, met)])
        sent = max(sent, met)
    view, view_ids = thumb.arrays()
    pad = ((0, -height % k), (0, -width % k))
    padded = np.pad(rgb, (*pad, (0, 0)), mode="edge")
    place = frame.darkest_in_blocks(padded, k)
    r, c = np.divmod(place, k)
    r += np.arange(place.shape[0])[:, None] * k
    c += np.arange(place.shape[1])[None, :] * k
    np.testing.assert_array_equal(view, padded[r, c])
    real = np.pad(np.where(ids >= 0, ids, ~ids), pad, mode="edge")
    np.testing.assert_array_equal(view_ids, real[r, c])


def _first_of(ids: np.ndarray, opaque: np.ndarray, distance: np.ndarray, candidates):
    """A first pass holding `ids` (the engine's: ~id for transparent pixels)."""
    from geodigitize.store import RowMemory

    rows = RowMemory(*ids.shape, np.int32)
    with rows:
        rows.append(np.where(opaque, ids, ~ids).astype(np.int32))
    n = distance.size
    return strips._FirstPass(
        rows, np.arange(n, dtype=np.uint32), np.zeros(n, np.intp), distance, candidates,
        opaque=bool(opaque.all()),
    )  # fmt: skip


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("strip_rows", [1, 2, 5, 64])
def test_field_colours_in_strips_are_the_whole_images(seed, strip_rows):
    """Strip by strip, looking only at colours not yet found (sparse neighbourhood
    checks once few are left), equals mask.field_colors over the whole image."""
    rng = np.random.default_rng(seed)
    h, w, n = 40, 31, 14
    ids = rng.choice(n, size=(h, w), p=np.r_[np.full(10, 0.095), np.full(4, 0.0125)])
    ids[rng.random((h, w)) < 0.5] = ids[0, 0]  # a big field colour
    opaque = rng.random((h, w)) > (0.1 if seed % 2 else 0.0)
    distance = rng.random(n).astype(np.float32) * 10
    region = (rng.random(h) > 0.2, rng.random(w) > 0.2) if seed % 3 else None
    inside = np.ones((h, w), bool) if region is None else region[0][:, None] & region[1]
    candidates = opaque & inside
    counts = np.bincount(ids[candidates], minlength=n) if seed < 3 else None
    first = _first_of(ids, opaque, distance, counts)
    timings = dict.fromkeys(("read", "mask"), 0.0)
    for workers in (1, 2):
        got = strips._field_colors(first, 5.0, strip_rows, region, None, timings, workers)
        expected = mask.field_colors(ids, distance[ids] > 5.0, candidates, n)
        np.testing.assert_array_equal(got, expected)


def test_count_candidates_equals_picking_the_candidates_out():
    """The candidates counted as every pixel less the dropped ones equal the count of
    the candidates picked out (transparent, outside the region, excluded with a halo),
    at any strip height and on workers."""
    from types import SimpleNamespace

    from geodigitize.mask import Exclusion
    from geodigitize.region import region_axes
    from geodigitize.store import RowMemory
    from geodigitize.strips import _count_candidates

    rng = np.random.default_rng(3)
    n = 12
    ids = rng.integers(0, n, (37, 29))
    opaque = rng.random(ids.shape) < 0.9
    stored = np.where(opaque, ids, ~ids).astype(np.int32)  # transparent as ~id
    first = SimpleNamespace(ids=RowMemory.of(stored), opaque=False, colors=np.arange(n))
    excluded, mixture = np.zeros(n, bool), np.zeros(n, bool)
    excluded[[0, 5]], mixture[[3, 7, 8]] = True, True
    axes = region_axes(ids.shape, (3.0, 4.0, 25.0, 30.0))
    for exclusion in (None, Exclusion(excluded, mixture, 2)):
        cand = opaque & axes[0][:, None] & axes[1][None, :]
        if exclusion is not None:
            cand &= ~exclusion.pixels(ids)
        want = np.bincount(ids[cand], minlength=n)
        for strip_rows, workers in ((1, 1), (5, 2), (100, 1)):
            got = _count_candidates(first, axes, exclusion, strip_rows, workers)
            assert np.array_equal(got, want)
        full = opaque if exclusion is None else opaque & ~exclusion.pixels(ids)
        got = _count_candidates(first, None, exclusion, 4, 1)
        assert np.array_equal(got, np.bincount(ids[full], minlength=n))


@pytest.mark.parametrize("share", [0.002, 0.02, 0.5])
def test_far_from_ink_one_by_one_is_the_window_filter(share):
    rng = np.random.default_rng(7)
    ink = rng.random((30, 50)) < 0.05
    ink[:, 0] = ink[0] = True  # ink on the window's edges too
    look = rng.random((24, 50)) < share
    look[0, 0] = look[-1, -1] = look[5, 49] = True
    expected = look & ~any_in_window(ink, 3)[3:27]
    np.testing.assert_array_equal(strips._far_from_ink(look, ink, 3), expected)


@pytest.mark.parametrize("shape", [(1, 7), (3, 256), (0, 5)])
def test_packing_bands_is_the_32_bit_formula(shape):
    from geodigitize.sources import _pack

    rng = np.random.default_rng(shape[1])
    r, g, b = rng.integers(0, 256, (3, *shape), dtype=np.uint8)
    if r.size:
        r.flat[0], g.flat[0], b.flat[0] = 255, 255, 255
        r.flat[-1], g.flat[-1], b.flat[-1] = 0, 255, 0
    expected = (r.astype(np.uint32) << 16) | (g.astype(np.uint32) << 8) | b.astype(np.uint32)
    got = _pack(r, g, b)
    assert got.dtype == np.uint32 and got.shape == shape
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(got, pack_rgb(np.stack([r, g, b], axis=-1)))


def test_colour_ids_number_colours_in_order_met():
    """Ids count up from 0 in the order colours are first met (sorted within a strip),
    black (0) and white (0xFFFFFF) included, over 256 colours."""
    rng = np.random.default_rng(3)
    palette = np.r_[np.uint32(0), np.uint32(0xFFFFFF), rng.integers(1, 2**24 - 1, 700)]
    table, known = strips._ColorIds(), {}
    for shape in [(1, 9), (0, 9), (4, 300), (2, 1), (5, 300)]:
        packed = rng.choice(palette[: rng.integers(2, palette.size)], shape).astype(np.uint32)
        for colour in np.unique(packed):
            known.setdefault(int(colour), len(known))
        ids = table(packed)
        expected = np.vectorize(known.__getitem__, otypes=[np.int32])(packed)
        np.testing.assert_array_equal(ids, expected.reshape(shape))
        assert ids.dtype == np.int32 and table.n == len(known)
    np.testing.assert_array_equal(table.colors(), np.array(list(known), dtype=np.uint32))


@pytest.mark.parametrize("size", [0, 1, 2, 9, 1000])
def test_dropping_repeats_keeps_the_distinct_values(size):
    rng = np.random.default_rng(size)
    values = np.repeat(rng.integers(0, 5, size), rng.integers(1, 4, size)).astype(np.uint32)
    kept = strips._without_repeats(values)
    np.testing.assert_array_equal(np.unique(kept), np.unique(values))
    assert kept.size == 0 or (kept[1:] != kept[:-1]).all()


@pytest.mark.parametrize("runs", [False, True])
@pytest.mark.parametrize("shape", [(0,), (1,), (2,), (3, 7), (40, 257), (0, 5)])
def test_id_counts_are_bincount(shape, runs):
    # long runs (counted per run) and noise (counted per pixel), contiguous or a column
    # slice of a strip, as the first pass counts its region box
    rng = np.random.default_rng(sum(shape) + runs)
    size = int(np.prod(shape))
    if runs:
        flat = np.repeat(rng.integers(0, 6, size), rng.integers(1, 40, size))[:size]
    else:
        flat = rng.integers(0, 300, size)
    ids = flat.astype(np.int32).reshape(shape)
    for part, n in ((ids, 0), (ids, 500), (ids[..., 1:], 3)):
        got = strips._id_counts(part, n)
        expected = np.bincount(part.ravel(), minlength=n)
        np.testing.assert_array_equal(got, expected)
        assert got.dtype == np.int64


def test_colour_ids_looked_up_ahead_are_the_ids_in_order():
    # the first pass looks a strip's colours up on its read-ahead thread before the main
    # thread has numbered the previous strip's new colours: the ids must be those of
    # looking every strip up in order
    rng = np.random.default_rng(3)
    palette = rng.integers(0, 2**24, 60).astype(np.uint32)
    strips_ = [rng.choice(palette[: 10 + 10 * k], (3, 50)).astype(np.uint32) for k in range(5)]
    in_order = strips._ColorIds()
    expected = [in_order(p) for p in strips_]
    ahead = strips._ColorIds()
    looked = ahead.lookup(strips_[0])
    for k, packed in enumerate(strips_):
        following = ahead.lookup(strips_[k + 1]) if k + 1 < len(strips_) else None
        np.testing.assert_array_equal(ahead.resolve(packed, looked), expected[k])
        looked = following
    np.testing.assert_array_equal(ahead.colors(), in_order.colors())
    assert ahead.n == in_order.n == np.unique(np.concatenate(strips_)).size


def test_cluster_ids_past_16_bits_spool_the_same_labels(tmp_path):
    # 33,600 two-pixel clusters (pairs of equal data pixels between white columns and
    # rows): the streamed engine spools the strips' cluster ids in 16 bits until they
    # pass 2**15, then in 32; the labels must be those of the image run in one piece
    h, w = 240, 840
    scale = from_cmap("jet_r", 0.0, 0.7)
    rows, cols = np.mgrid[0:h, 0:w]
    entry = (cols // 3 * 7 + rows // 2 * 3) % scale.colors.shape[0]
    data = (rows % 2 == 0) & (cols % 3 < 2)
    image = np.where(data[..., None], scale.colors[entry], np.uint8(255)).astype(np.uint8)
    png, gcps = tmp_path / "pairs.png", tmp_path / "gcps.csv"
    Image.fromarray(image).save(png)
    gcps.write_text("col,row,lon,lat\n0,0,-10,10\n840,0,10,10\n0,240,-10,-10\n840,240,10,-10\n")
    opts = dict(
        cmap="jet_r",
        vmin=0.0,
        vmax=0.7,
        max_distance=10.0,
        halo_distance=None,
        consistency=None,
        preview=str(tmp_path / "p.png"),
    )
    one = extract(png, gcps=gcps, **opts)
    streamed = extract(png, gcps=gcps, strip_rows=7, in_memory=False, grid_dir=tmp_path, **opts)
    assert not streamed.pixels.kept
    expected = one.pixels.labels(0, h)
    assert len(one.points) == (h // 2) * (w // 3) == expected.max() + 1 > 2**15
    np.testing.assert_array_equal(streamed.pixels.labels(0, h), expected)
    assert one.points.drop(columns="geometry").equals(streamed.points.drop(columns="geometry"))
