"""Shaded relief: colours a hillshade made lighter or darker decode to their values."""

import shutil
import subprocess

import matplotlib as mpl
import numpy as np
import pytest
from matplotlib.colors import LightSource
from PIL import Image

from geodigitize.colormap import from_cmap
from geodigitize.decode import decode, lookup_colors
from geodigitize.errors import ColorScaleError, OptionError
from geodigitize.mask import (
    Reason,
    explain_shading,
    mask_image,
    shadow_features,
    thin_features,
)
from geodigitize.options import Options
from geodigitize.shading import explain_colors, shade, shaded_scale, unshade_ambiguity


@pytest.mark.parametrize("blend", ["soft", "overlay", "hsv"])
def test_shade_matches_matplotlib_lightsource(blend):
    rng = np.random.default_rng(0)
    rgb = rng.random((6, 7, 3))
    intensity = rng.random((6, 7, 1))
    light = LightSource()
    expected = {
        "soft": light.blend_soft_light,
        "overlay": light.blend_overlay,
        "hsv": light.blend_hsv,
    }[blend](rgb, intensity)
    np.testing.assert_allclose(shade(rgb, intensity[..., 0], blend), expected, atol=1e-12)


def _gmt(args, cwd):
    subprocess.run(["gmt", *args], cwd=cwd, check=True, capture_output=True)


@pytest.mark.skipif(shutil.which("gmt") is None, reason="GMT 6 (`gmt`) is not installed")
def test_gmt_blend_is_what_grdimage_i_draws(tmp_path):
    """GMT's -I moves value towards 0.3 in shadow and saturation towards 0.1 in light
    (its COLOR_HSV_* defaults), not matplotlib's 0 and 0: 10 x 4 cells of viridis, each
    row at one intensity, drawn by GMT with and without -I."""
    region, proj = "-R0/10/0/4", "-JX10c/4c"
    _gmt(["grdmath", region, "-I1", "-r", "X", "10", "DIV", "=", "z.nc"], tmp_path)
    _gmt(["grdmath", region, "-I1", "-r", "Y", "2", "SUB", "0.5", "MUL", "=", "i.nc"], tmp_path)
    cpt = subprocess.run(
        ["gmt", "makecpt", "-Cviridis", "-T0/1"], cwd=tmp_path, check=True, capture_output=True
    ).stdout
    (tmp_path / "v.cpt").write_bytes(cpt)
    for name, extra in (("lit", ["-Ii.nc"]), ("flat", [])):
        _gmt(["begin", name, "png", "E100"], tmp_path)
        _gmt(["grdimage", "z.nc", *extra, "-Cv.cpt", proj, region], tmp_path)
        _gmt(["end"], tmp_path)
    lit = np.asarray(Image.open(tmp_path / "lit.png").convert("RGB"), dtype=np.float64)
    flat = np.asarray(Image.open(tmp_path / "flat.png").convert("RGB"), dtype=np.float64)
    assert lit.shape == flat.shape
    h, w = flat.shape[:2]
    rows = ((np.arange(4) + 0.5) * h / 4).astype(int)  # top row: Y = 3.5
    cols = ((np.arange(10) + 0.5) * w / 10).astype(int)
    gmt_intensity = (np.array([3.5, 2.5, 1.5, 0.5]) - 2) * 0.5
    base = flat[np.ix_(rows, cols)] / 255
    drawn = lit[np.ix_(rows, cols)]
    light = (gmt_intensity[:, None] + 1) / 2
    assert np.abs(shade(base, light, "gmt") * 255 - drawn).max() <= 1.5
    assert np.abs(shade(base, light, "hsv") * 255 - drawn).max() > 20


def _shaded_image(blend, cmap="viridis"):
    """A value ramp (columns) under a smoothly varying illumination (rows)."""
    values = np.tile(np.linspace(0.02, 0.98, 160), (100, 1))
    light = np.tile(np.linspace(0.15, 0.85, 100)[:, None], (1, 160))
    colours = mpl.colormaps[cmap](values)[..., :3]
    rgb = np.round(shade(colours, light, blend) * 255).astype(np.uint8)
    return values, rgb


@pytest.mark.parametrize("blend", ["soft", "overlay"])
def test_shaded_pixels_decode_to_their_values(blend):
    values, rgb = _shaded_image(blend)
    plain = from_cmap("viridis", 0, 1)
    scale = shaded_scale(plain, blend)
    decoded = decode(rgb, scale)
    err = np.abs(decoded.values - values)
    # within a colour step mostly; deep shadows (overlay at low light) squeeze colours
    assert np.median(err) <= 1 / 256
    assert np.percentile(err, 95) <= 3 / 256
    assert np.median(decoded.distance) < 2
    unshaded = decode(rgb, plain)
    assert np.median(unshaded.distance) > 10  # off the plain scale: masked before


def test_lightness_only_colormaps_are_refused():
    greys = from_cmap("Greys", 0, 1)
    assert unshade_ambiguity(greys, "soft") > 0.9
    with pytest.raises(ColorScaleError, match="cannot be unshaded") as err:
        shaded_scale(greys, "soft")
    assert "\n" not in str(err.value)
    assert unshade_ambiguity(from_cmap("viridis", 0, 1), "soft") == 0.0


def test_ambiguous_shadings_are_masked_or_settled_not_guessed():
    """jet's ramps change one channel at a time, so under soft light part of them is
    also a shadow of another value: those pixels are decided by their own colour when
    every far value explains it clearly worse, else by the data around them, and the
    rest stay masked as ambiguous."""
    scale = shaded_scale(from_cmap("jet", 0, 1), "soft")
    assert scale.ambiguous is not None and 0 < scale.ambiguous.mean() < 0.5
    values, rgb = _shaded_image("soft", "jet")
    decoded = decode(rgb, scale)
    reason, out, _ = mask_image(
        rgb, np.ones(values.shape, bool), decoded, scale, max_distance=3.0, halo_distance=None
    )
    ambiguous = reason == Reason.AMBIGUOUS
    flagged = scale.ambiguous[decoded.index]
    assert ambiguous.any()
    assert not (ambiguous & ~flagged).any()  # only flagged entries are ever ambiguous
    settled = flagged & (reason == Reason.DATA)
    assert settled.sum() > ambiguous.sum()
    err = np.abs(out.values - values)
    assert np.median(err[settled]) <= 0.02
    assert np.mean(err[settled] > 0.05) < 0.001  # never a far value's shading
    ok = reason == Reason.DATA
    assert np.median(err[ok]) <= 1 / 256


def test_explained_colours_sit_at_their_own_intensity():
    """The table's nearest step is refined to the intensity that drew the colour."""
    scale = shaded_scale(from_cmap("viridis", 0, 1), "hsv")
    base = mpl.colormaps["viridis"](np.array([0.2, 0.5, 0.8]))[:, :3]
    light = np.array([0.3, 0.55, 0.8])  # between the table's steps
    rgb = shade(base, light, "hsv") * 255
    dist, idx = lookup_colors(rgb, scale)
    found = explain_colors(rgb, idx, scale)
    np.testing.assert_allclose(found.intensity, light, atol=5e-3)  # 8-bit scale colours
    # left: the scale's own 8-bit rounding; the table's step left 3.3 units at 0.55
    assert np.all(found.distance < 0.3) and np.all(found.distance <= dist)
    assert dist[1] > 3
    np.testing.assert_allclose(scale.values[found.index], [0.2, 0.5, 0.8], atol=1 / 254)


@pytest.mark.parametrize("blend", ["soft", "overlay", "hsv"])
def test_grey_land_is_not_a_shaded_black(blend):
    """gist_earth starts at black: shaded by 'hsv' it makes every grey, so grey land
    decodes exactly, to value 0. A grey explained only by a grey of the scale is
    ambiguous, and with no data of that value around it, it stays masked."""
    values, rgb = _shaded_image(blend, "gist_earth")
    rgb[20:60, 40:100] = 200  # grey land
    scale = shaded_scale(from_cmap("gist_earth", 0, 1), blend)
    decoded = decode(rgb, scale)
    reason, _, _ = mask_image(rgb, np.ones(values.shape, bool), decoded, scale)
    land = np.zeros(values.shape, bool)
    land[20:60, 40:100] = True
    assert not (reason[land] == Reason.DATA).any()
    if blend == "hsv":
        assert decoded.distance[30, 50] < 7  # on the shaded scale: masked as ambiguous
        assert (reason[land] == Reason.AMBIGUOUS).all()


def test_shadow_features_find_a_dark_line_on_a_dark_field():
    """A black line half over dark blue is a darker shading of that blue (its luma dips
    by 3 units: no thin feature); its intensity and largest channel dip."""
    light = np.tile(np.linspace(0.35, 0.65, 60)[:, None], (1, 60))
    base = np.array([0.0, 0.0, 0.25])  # a dark blue
    field = shade(np.broadcast_to(base, (60, 60, 3)), light, "overlay")
    rgb = np.round(field * 255).astype(np.uint8)
    lined = rgb.copy()
    lined[:, 30] = np.round(field[:, 30] * 255 * 0.5).astype(np.uint8)  # half ink
    assert not thin_features(lined)[:, 30].any()
    scale = shaded_scale(from_cmap("gist_earth", 0, 1), "overlay")
    for img, expect in ((rgb, 0), (lined, 60)):
        decoded = decode(img, scale)
        decoded, intensity = explain_shading(img, decoded, scale)
        found = shadow_features(intensity, img, np.ones((60, 60), bool))
        assert found.sum() == expect
        if expect:
            assert found[:, 30].all()


def test_thin_features_find_lines_not_the_shading():
    _, rgb = _shaded_image("soft")
    lined = rgb.copy()
    lined[:, 80] = (0.6 * lined[:, 80]).astype(np.uint8)  # a 1-px antialiased dark line
    lined[50, :] = np.minimum(255, lined[50, :].astype(int) + 60).astype(np.uint8)  # light
    assert not thin_features(rgb).any()
    found = thin_features(lined)
    assert found[:, 80].all() and found[50, :].all()
    assert found.sum() == 100 + 160 - 1


def test_shaded_option_is_checked():
    assert Options(shaded="Soft").shaded == "soft"
    with pytest.raises(OptionError, match="`shaded` must be one of soft, overlay, hsv"):
        Options(shaded="screen")


def test_shading_band_is_written_beside_the_grid(tmp_path):
    """A shaded run writes shading.tif: the illumination of each data pixel, on the grid's
    own placement, NaN where grid.tif is."""
    import rasterio

    from geodigitize import extract

    values, rgb = _shaded_image("soft")
    rgb[40:50, 60:80] = 200  # grey land: masked in both bands
    h, w = values.shape
    light = np.tile(np.linspace(0.15, 0.85, h)[:, None], (1, w))
    gcps = np.array([[0, 0, 0, 10], [w, 0, 16, 10], [0, h, 0, 0]], dtype=float)
    result = extract(rgb, gcps=gcps, cmap="viridis", vmin=0, vmax=1, shaded="soft")
    paths = result.write(tmp_path / "out")
    assert "shading.tif" in paths
    with rasterio.open(paths["grid.tif"]) as grid, rasterio.open(paths["shading.tif"]) as band:
        assert band.descriptions == ("shading",)
        assert band.transform == grid.transform and band.shape == grid.shape
        g, s = grid.read(1), band.read(1)
    np.testing.assert_array_equal(np.isnan(g), np.isnan(s))
    assert np.isnan(result.shading[40:50, 60:80]).all()
    ok = result.valid
    assert ok.mean() > 0.9
    err = np.abs(result.shading[ok] - light[ok])
    # 8-bit colours pin the intensity down to about 0.005; where the colormap's own
    # lightness trades against it (a neighbouring value a little lighter), to 0.035
    assert np.median(err) <= 0.006 and np.percentile(err, 99) <= 0.02 and err.max() <= 0.035
    plain = extract(rgb, gcps=gcps, cmap="viridis", vmin=0, vmax=1)
    assert plain.shading is None and "shading.tif" not in plain.writers()
