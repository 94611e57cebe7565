"""Automatic map frame: spines, else the largest scale-coloured region."""

from __future__ import annotations

import numpy as np
import pytest
from colour_figures import draw_colorbar, lut, page

from geodigitize.colormap import from_cmap
from geodigitize.decode import decode
from geodigitize.errors import RegionError
from geodigitize.frame import find_frame


def _map(spines=True, ticks=True):
    img = page(300, 420)
    yy, xx = np.mgrid[0:200, 0:300]
    img[50:250, 40:340] = lut("gist_earth", (np.sin(xx / 30) * np.cos(yy / 40) + 1) / 2)
    if spines:  # matplotlib-like: 1-pixel spines around the data area
        img[49, 39:341] = img[250, 39:341] = 0
        img[49:251, 39] = img[49:251, 340] = 0
    if ticks:
        for c in range(60, 340, 50):
            img[251:255, c] = 0
        for r in range(70, 250, 50):
            img[r, 35:39] = 0
    img[120:126, 100:160] = 0                         # a label inside
    draw_colorbar(img, (370, 50, 385, 250), "gist_earth")
    return img


def test_frame_from_spines():
    img = _map()
    scale = from_cmap("gist_earth", 0, 1)
    assert find_frame(img, scale, decode(img, scale)) == (40.0, 50.0, 340.0, 250.0)


def test_frame_from_largest_region_without_spines():
    img = _map(spines=False, ticks=False)
    scale = from_cmap("gist_earth", 0, 1)
    assert find_frame(img, scale, decode(img, scale)) == (40.0, 50.0, 340.0, 250.0)


def test_no_frame():
    with pytest.raises(RegionError, match="--region"):
        find_frame(page(50, 50))
