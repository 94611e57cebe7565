"""Shaded relief: colours a hillshade made lighter or darker decode to their values."""

import matplotlib as mpl
import numpy as np
import pytest
from matplotlib.colors import LightSource

from geodigitize.colormap import from_cmap
from geodigitize.decode import decode
from geodigitize.errors import ColorScaleError, OptionError
from geodigitize.mask import Reason, mask_image, thin_features
from geodigitize.options import Options
from geodigitize.shading import shade, shaded_scale, unshade_ambiguity


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


def test_ambiguous_shadings_are_masked_not_guessed():
    """jet's ramps change one channel at a time, so under soft light part of them is
    also a shadow of another value: those pixels are masked as ambiguous."""
    scale = shaded_scale(from_cmap("jet", 0, 1), "soft")
    assert scale.ambiguous is not None and 0 < scale.ambiguous.mean() < 0.5
    values, rgb = _shaded_image("soft", "jet")
    decoded = decode(rgb, scale)
    reason, _, _ = mask_image(
        rgb, np.ones(values.shape, bool), decoded, scale, max_distance=3.0, halo_distance=None
    )
    ambiguous = reason == Reason.AMBIGUOUS
    assert ambiguous.any()
    np.testing.assert_array_equal(ambiguous, scale.ambiguous[decoded.index])
    ok = reason == Reason.DATA
    assert np.median(np.abs(decoded.values[ok] - values[ok])) <= 1 / 256


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
