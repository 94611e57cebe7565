"""Decoding: value -> colour -> value round trips, distinct colours, distances."""

import matplotlib
import numpy as np
import pytest
from conftest import paint

from geodigitize.colormap import from_cmap
from geodigitize.colors import distinct_colors, pack_rgb, rgb_to_lab, unpack_rgb
from geodigitize.decode import decode
from geodigitize.errors import ColorScaleError


@pytest.mark.parametrize("cmap", ["jet_r", "viridis", "gist_earth", "RdYlBu_r"])
def test_round_trip_lands_in_the_interval_painted_in_that_colour(cmap):
    """Each decoded value is the centre of the values matplotlib paints in that colour."""
    vmin, vmax = -2.0, 30.0
    values = np.linspace(vmin, vmax, 20_001)
    colours = paint(values, cmap, vmin, vmax)
    out = decode(colours.reshape(1, -1, 3), from_cmap(cmap, vmin, vmax))
    assert np.all(out.distance == 0)
    spacing = values[1] - values[0]
    packed = colours.astype(np.int64) @ [65536, 256, 1]
    for code in np.unique(packed):
        painted = values[packed == code]
        decoded = np.unique(out.values[0][packed == code])
        assert decoded.size == 1
        centre = (painted.min() + painted.max()) / 2
        # both sides sample the range discretely: the scale every (vmax - vmin) / 9999
        assert abs(decoded[0] - centre) <= spacing + (vmax - vmin) / 9999 + 1e-9
    step = (vmax - vmin) / matplotlib.colormaps[cmap].N
    err = np.abs(out.values[0] - values)
    assert np.median(err) <= 0.26 * step
    # more than half a step only where several LUT entries share one 8-bit colour
    assert np.percentile(err, 95) <= 0.5 * step + spacing


def test_jet_r_median_error_is_a_quarter_step():
    values = np.random.default_rng(0).uniform(0, 0.7, 20_000)
    image = paint(values, "jet_r", 0, 0.7).reshape(100, 200, 3)
    out = decode(image, from_cmap("jet_r", 0, 0.7))
    err_pct = np.abs(out.values.ravel() - values) / 0.7 * 100
    assert np.median(err_pct) < 0.11  # a quarter of a 1/256 step is 0.098 %
    assert np.percentile(err_pct, 95) < 0.2  # jet's pure blue spans several LUT bins


def test_log_norm_round_trip():
    values = np.geomspace(1, 1000, 2000)
    sm = matplotlib.cm.ScalarMappable(
        matplotlib.colors.LogNorm(1, 1000), matplotlib.colormaps["viridis"]
    )
    image = sm.to_rgba(values, bytes=True)[:, :3].reshape(1, -1, 3)
    out = decode(image, from_cmap("viridis", 1, 1000, norm="log"))
    ratio = out.values[0] / values
    assert np.median(np.abs(np.log10(ratio))) <= 0.26 * 3 / 256  # 256 steps over 3 decades
    assert np.all(np.abs(np.log10(ratio)) <= 3 / 256)


def test_off_scale_colours_are_far():
    scale = from_cmap("jet_r", 0, 1)
    image = np.array([[[0, 0, 0], [255, 255, 255], [191, 191, 191]]], dtype=np.uint8)
    out = decode(image, scale)
    assert np.all(out.distance > 70)


def test_each_distinct_colour_once_and_large_path_agrees():
    rng = np.random.default_rng(1)
    palette = rng.integers(0, 256, (50, 3), dtype=np.uint8)
    image = palette[rng.integers(0, 50, (1100, 1000))]  # > 2**20 pixels: lookup-table path
    colors, inverse = distinct_colors(pack_rgb(image))
    assert colors.size == np.unique(pack_rgb(palette)).size
    assert np.array_equal(unpack_rgb(colors[inverse]), image)
    small = decode(image[:100], from_cmap("viridis", 0, 1))
    large = decode(image, from_cmap("viridis", 0, 1))
    assert np.array_equal(small.values, large.values[:100])
    assert large.n_colors == colors.size


def test_lab_reference_values():
    lab = rgb_to_lab(np.array([[255, 255, 255], [0, 0, 0], [255, 0, 0]]))
    assert np.allclose(lab[0], [100, 0, 0], atol=0.01)
    assert np.allclose(lab[1], [0, 0, 0], atol=0.01)
    assert np.allclose(lab[2], [53.24, 80.09, 67.20], atol=0.05)  # sRGB red, D65


def test_lab_decoding_matches_rgb_on_exact_colours():
    values = np.linspace(0, 1, 500)
    image = paint(values, "viridis", 0, 1).reshape(1, -1, 3)
    scale = from_cmap("viridis", 0, 1)
    assert np.array_equal(
        decode(image, scale, color_space="lab").values, decode(image, scale).values
    )


def test_unknown_colour_space():
    with pytest.raises(ColorScaleError, match="rgb, lab"):
        decode(np.zeros((2, 2, 3), np.uint8), from_cmap("jet", 0, 1), color_space="hsv")


def test_unpack_rgb_reads_the_channels_of_any_shape():
    rng = np.random.default_rng(3)
    packed = rng.integers(0, 2**24, (5, 6)).astype(np.uint32)
    for case in (
        packed,
        packed[:, ::2],
        packed.T,
        packed[0, 0],
        packed[:0],
        packed.astype(np.int64),
    ):
        case = np.asarray(case)
        want = np.stack([(case >> 16) & 255, (case >> 8) & 255, case & 255], -1).astype(np.uint8)
        got = unpack_rgb(case)
        assert got.dtype == np.uint8 and got.shape == (*case.shape, 3)
        assert np.array_equal(got, want)
    image = rng.integers(0, 256, (4, 3, 3)).astype(np.uint8)
    assert np.array_equal(unpack_rgb(pack_rgb(image)), image)
