"""Colour scales from named colormaps, classes and build_scale's source checks."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
from matplotlib import colors as mcolors

from geodigitize.colormap import from_cmap, parse_levels
from geodigitize.decode import decode
from geodigitize.errors import ColorScaleError
from geodigitize.scale import build_scale


def test_continuous_round_trip():
    scale = build_scale(cmap="jet_r", vmin=0, vmax=0.7)
    values = np.linspace(0, 0.7, 1001)
    rgb = matplotlib.colormaps["jet_r"](mcolors.Normalize(0, 0.7)(values), bytes=True)
    got = decode(rgb[None, :, :3], scale).values[0]
    # equal neighbouring 8-bit LUT colours merge: at most one LUT step off
    assert np.max(np.abs(got - values)) <= 2 * 0.7 / 256


def test_levels_decode_contourf_and_boundarynorm_drawings():
    levels = (0, 1, 2, 4, 8, 16)
    scale = build_scale(cmap="RdYlBu_r", levels=levels, vmin=None, vmax=None)
    middles = np.array([0.5, 1.5, 3, 6, 12])
    cmap = matplotlib.colormaps["RdYlBu_r"]
    contourf = cmap(mcolors.Normalize(0, 16)(middles), bytes=True)[:, :3]
    boundary = cmap(mcolors.BoundaryNorm(levels, cmap.N)(middles), bytes=True)[:, :3]
    for rgb in (contourf, boundary):
        np.testing.assert_allclose(decode(rgb[None], scale).values[0], middles)
    assert scale.levels == tuple(float(v) for v in levels)
    assert (scale.vmin, scale.vmax) == (0, 16)


def test_levels_validation():
    with pytest.raises(ColorScaleError, match="increasing"):
        build_scale(cmap="jet", levels=(0, 2, 1))
    assert parse_levels("0, 1,2.5") == (0.0, 1.0, 2.5)
    assert parse_levels(None) is None
    with pytest.raises(ColorScaleError, match="numbers"):
        parse_levels("0,a")


def test_build_scale_needs_range_and_one_source():
    with pytest.raises(ColorScaleError, match="--vmin"):
        build_scale(cmap="jet")
    with pytest.raises(ColorScaleError, match="--cmap and --cmap-file"):
        build_scale(cmap="jet", cmap_file="x.cpt", vmin=0, vmax=1)
    with pytest.raises(ColorScaleError, match="did you mean"):
        build_scale(cmap="jett", vmin=0, vmax=1)


def test_log_scale():
    scale = from_cmap("viridis", 1.0, 1000.0, norm="log")
    assert scale.values.min() > 1 and scale.values.max() < 1000
    mid = decode(matplotlib.colormaps["viridis"]([0.5], bytes=True)[None, :, :3], scale)
    assert abs(np.log10(mid.values[0, 0]) - 1.5) < 0.01
