"""Naming a colorbar's colormap, and the colours sampled from a bar no name fits.

Bars are drawn with numpy as each renderer draws them: matplotlib's 8-bit lookup of its
N colours, GMT's linear interpolation between a CPT's nodes rounded to 8 bits.
"""

from __future__ import annotations

import json
from importlib import resources

import matplotlib
import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from geodigitize.cli import app
from geodigitize.colorbar import bar_table, densify, locate_colorbar, scale_from_colorbar
from geodigitize.colormap import from_cmap
from geodigitize.colortable import parse_table
from geodigitize.decode import decode
from geodigitize.errors import ColorScaleError
from geodigitize.frame import page_color
from geodigitize.identify import identify_cmap, name_tolerance
from geodigitize.infer import check_sampled_bar

LINES = 400
T = (np.arange(LINES) + 0.5) / LINES  # line centres, 0-1 from the vmin end


def gmt_colours(name: str, t: np.ndarray) -> np.ndarray:
    """Colours GMT draws at `t` (0-1) with its vendored table `name`: linear between
    the CPT's nodes, rounded to 8 bits."""
    text = (resources.files("geodigitize") / "data" / "gmt" / f"{name}.cpt").read_text()
    _, segments = parse_table(text, name)
    z0 = np.array([s[0] for s in segments])
    z1 = np.array([s[2] for s in segments])
    c0 = np.array([s[1] for s in segments])
    c1 = np.array([s[3] for s in segments])
    z = z0[0] + t * (z1[-1] - z0[0])
    k = np.clip(np.searchsorted(z1, z), 0, len(segments) - 1)
    w = ((z - z0[k]) / (z1[k] - z0[k]))[:, None]
    return np.rint(c0[k] + w * (c1[k] - c0[k]))


def mpl_colours(name: str, t: np.ndarray) -> np.ndarray:
    """Colours matplotlib fills a colorbar with at `t`: entry ``floor(t * N)``, rounded."""
    return np.rint(matplotlib.colormaps[name](t)[:, :3] * 255.0)


@pytest.mark.parametrize(("table", "name"), [("jet", "gmt.jet"), ("turbo", "gmt.turbo")])
def test_a_gmt_bar_is_named_by_gmts_table(table, name):
    # GMT's jet has other nodes than matplotlib's; GMT's turbo interpolates between
    # matplotlib's 256 colours: both name GMT's copy, not matplotlib's map.
    match = identify_cmap(gmt_colours(table, T), T)
    assert match is not None
    assert (match.name, match.drawn) == (name, "interpolated")
    assert match.median == 0.0


def test_a_matplotlib_bar_keeps_matplotlibs_name_and_reverses():
    match = identify_cmap(mpl_colours("viridis", T), T)
    assert (match.name, match.drawn, match.median) == ("viridis", "lookup", 0.0)
    assert match.runner_up not in ("viridis", "gmt.viridis", "viridis_r")
    assert identify_cmap(mpl_colours("viridis", T)[::-1], T).name == "viridis_r"


def test_bar_ends_found_a_few_lines_off():
    # the bar's ends were measured 2.4 lines inside its true ends (an antialiased
    # outline): the lines sit at 0.006-0.994 of the colormap, counted as 0-1
    true = 0.006 + T * 0.988
    match = identify_cmap(mpl_colours("RdYlBu_r", true), T)
    assert match.name == "RdYlBu_r"
    np.testing.assert_allclose(match.ends, (0.006, 0.994), atol=0.0015)


def test_noisy_bar_named_within_its_own_noise():
    rng = np.random.default_rng(3)
    img = np.full((LINES + 40, 60, 3), 255, np.uint8)
    colours = gmt_colours("haxby", T)[::-1]  # vertical: vmin at the bottom
    noisy = colours[:, None, :] + rng.normal(0.0, 4.0, (LINES, 16, 3))
    img[20 : 20 + LINES, 20:36] = np.clip(np.rint(noisy), 0, 255)
    found = locate_colorbar(img)
    prof = found.profile
    assert 4.0 < prof.noise < 9.0  # RMS of 3 channels of sigma 4, about 6.9
    colors, pos = prof.colors[prof.valid], prof.positions[prof.valid]
    assert identify_cmap(colors, pos) is None  # within 1.5 RGB of no table
    match = identify_cmap(colors, pos, noise=prof.noise)
    assert match.name == "gmt.haxby"
    assert match.median > name_tolerance(0.0)  # the noise-free tolerance would refuse


def test_a_colormap_nobody_knows_is_not_named():
    path = np.array([30.0, 200.0, 60.0]) + T[:, None] * np.array([170.0, -160.0, 120.0])
    assert identify_cmap(np.rint(path), T) is None


def test_densify_fills_between_lines_and_keeps_jumps():
    lines = np.array([[0, 0, 0], [2, 1, 0], [100, 1, 0]], float)
    colors, at = densify(lines, np.array([0, 1, 2.0]))
    np.testing.assert_allclose(at, [0, 0.2, 0.4, 0.6, 0.8, 1.0, 2.0])
    np.testing.assert_allclose(colors[:6], np.linspace([0, 0, 0], [2, 1, 0], 6))
    np.testing.assert_allclose(colors[6], [100, 1, 0])  # a jump of 98 is not filled


def test_bar_table_gives_every_rounding_at_its_mean_position():
    lines = np.array([[10, 10, 10], [12, 11, 10]], float)
    table, at = bar_table(*densify(lines, np.array([0, 1.0])))
    got = {tuple(int(v) for v in c): round(float(p), 6) for c, p in zip(table, at, strict=True)}
    # each of 0, 0.2 .. 1 (10.4, 10.2, 10) .. gives its channels rounded down, up, or
    # rounded down less one: red 9-12, green 9-11, blue 9-10
    assert len(got) == 4 * 3 * 2
    assert got[12, 11, 10] == 0.8  # from 0.6 (11.2, 10.6, 10), 0.8 and 1
    assert got[9, 9, 9] == 0.2  # from 0, 0.2 and 0.4
    assert got[12, 9, 9] == 0.7
    assert got[10, 10, 10] == 0.4  # from 0 to 0.8 (at 1, red is 11 or 12)


def test_a_gmt_table_decodes_gmts_colours_exactly():
    t = np.linspace(0.0, 1.0, 3001)
    drawn = gmt_colours("turbo", t).astype(np.uint8)[None]
    got = decode(drawn, from_cmap("gmt.turbo", 0.0, 1.0))
    # all but a colour or two that rounds the other way a 8192th of the range away
    assert np.mean(got.distance == 0.0) >= 0.998
    assert got.distance.max() <= 1.0
    assert np.abs(got.values[0] - t).max() <= 1 / 500


def _figure(shade: float) -> np.ndarray:
    """A 200 x 320 page: a map block coloured along its columns and a vertical bar, in a
    colormap no source has; the map's colours times `shade` (relief shading)."""
    img = np.full((200, 320, 3), 255, np.uint8)

    def path(v):
        return np.array([30.0, 200.0, 60.0]) + np.asarray(v)[..., None] * [170.0, -160.0, 120.0]

    cols = (np.arange(200) + 0.5) / 200
    img[20:180, 20:220] = np.rint(path(cols) * shade)[None]
    rows = (np.arange(160) + 0.5) / 160
    img[20:180, 260:274] = np.rint(path(rows[::-1]))[:, None]
    return img


@pytest.mark.parametrize("shade", [1.0, 0.95])
def test_colours_sampled_from_a_bar_must_explain_the_map(shade):
    img = _figure(shade)
    found = locate_colorbar(img)
    assert found.box == (260, 20, 274, 180)
    scale = scale_from_colorbar(img, found.search_box, vmin=0.0, vmax=1.0)
    decoded = decode(img, scale)
    if shade == 1.0:
        assert check_sampled_bar(img, decoded, found, page_color(img)) > 0.99
        values = decoded.values[100, 20:220]
        assert np.abs(values - (np.arange(200) + 0.5) / 200).max() < 0.01
    else:  # 5 % darker: 4-10 units off the bar's colours, every map pixel
        with pytest.raises(ColorScaleError, match=r"give the colormap as `cmap`.*`colorbar`"):
            check_sampled_bar(img, decoded, found, page_color(img))


@pytest.mark.parametrize("shade", [1.0, 0.95])
def test_a_run_whose_sampled_bar_misses_the_map_stops_naming_the_options(tmp_path, shade):
    # the whole run, as a user types it: the range and GCPs given, the colour scale left
    # to the figure; its bar in a colormap no source has
    Image.fromarray(_figure(shade)).save(tmp_path / "map.png")
    (tmp_path / "gcps.csv").write_text(
        "col,row,lon,lat\n20,20,-180,90\n220,20,180,90\n20,180,-180,-90\n220,180,180,-90\n"
    )
    out = tmp_path / "out"
    args = ["run", str(tmp_path / "map.png"), "--gcps", str(tmp_path / "gcps.csv")]
    args += ["--vmin", "0", "--vmax", "1", "--region", "20,20,220,180", "--out", str(out)]
    res = CliRunner().invoke(app, args)
    if shade == 1.0:
        assert res.exit_code == 0, res.output
        report = json.loads((out / "report.json").read_text())
        assert report["inferred"]["bar_coverage"] > 0.99
        assert report["counts"]["data"] >= 0.99 * 200 * 160
    else:
        assert res.exit_code != 0
        line = res.stderr.strip()
        assert line.count("\n") == 0, line
        assert "--cmap" in line and "--colorbar" in line, line
        assert not out.exists()
