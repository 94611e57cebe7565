"""The colormap catalogue: names from every source, _r, prefixes, suggestions, listing."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import resources
from pathlib import Path

import matplotlib
import numpy as np
import pytest
import rasterio
from matplotlib import colors as mcolors
from typer.testing import CliRunner

from geodigitize.catalogue import find_colormap, list_colormaps, load_colormap
from geodigitize.cli import app
from geodigitize.cmapfile import parse_table
from geodigitize.colormap import from_cmap
from geodigitize.decode import decode
from geodigitize.errors import ColorScaleError

ONE_PER_SOURCE = [
    ("viridis", "matplotlib"),
    ("thermal", "cmocean"),
    ("batlow", "crameri"),
    ("haxby", "gmt"),
    ("BlAqGrYeOrRe", "ncl"),
]


def lut(cmap: mcolors.Colormap) -> np.ndarray:
    """The colormap's 8-bit lookup table, shape (N, 3)."""
    return cmap(np.linspace(0.0, 1.0, cmap.N), bytes=True)[:, :3]


@pytest.mark.parametrize(("name", "source"), ONE_PER_SOURCE)
def test_every_source_resolves_a_name(name, source):
    entry, reverse = find_colormap(name)
    assert (entry.name, entry.source, reverse) == (name, source, False)
    assert isinstance(load_colormap(name), mcolors.Colormap)


@pytest.mark.parametrize(("name", "source"), ONE_PER_SOURCE)
def test_r_reverses_exactly(name, source):
    forward, backward = load_colormap(name), load_colormap(f"{name}_r")
    np.testing.assert_array_equal(backward([0.0], bytes=True), forward([1.0], bytes=True))
    np.testing.assert_array_equal(backward([1.0], bytes=True), forward([0.0], bytes=True))
    np.testing.assert_array_equal(lut(backward), lut(forward)[::-1])


def test_maps_registered_in_matplotlib_later_are_found():
    custom = mcolors.ListedColormap([[0, 0, 0], [1, 0, 0], [1, 1, 1]], name="my.fire")
    matplotlib.colormaps.register(custom)
    try:
        assert find_colormap("my.fire_r") == (find_colormap("my.fire")[0], True)
        assert find_colormap("My.Fire")[0].source == "matplotlib"
    finally:
        matplotlib.colormaps.unregister("my.fire")


def test_jet_r_is_matplotlibs():
    np.testing.assert_array_equal(lut(load_colormap("jet_r")), lut(matplotlib.colormaps["jet_r"]))


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("gray", ("gray", "matplotlib", False)),
        ("cmo.gray", ("gray", "cmocean", False)),
        ("gmt.gray_r", ("gray", "gmt", True)),
        ("BATLOW", ("batlow", "crameri", False)),
        ("cmc.batlowk", ("batlowK", "crameri", False)),
        ("CMO.Thermal_R", ("thermal", "cmocean", True)),
        ("mpl.Blues", ("Blues", "matplotlib", False)),
        ("ncl.GMT_haxby", ("GMT_haxby", "ncl", False)),
        ("topo", ("topo", "cmocean", False)),
    ],
)
def test_case_prefix_and_collisions(name, expected):
    entry, reverse = find_colormap(name)
    assert (entry.name, entry.source, reverse) == expected


@pytest.mark.parametrize(
    ("name", "hint"),
    [
        ("batlwo", "did you mean batlow (Crameri)"),
        ("thermla_r", "did you mean thermal_r (cmocean)"),
        ("haxbi", "did you mean haxby (GMT)"),
        ("jett", "did you mean jet (matplotlib)"),
        ("BlAqGrYeOrRed", "did you mean BlAqGrYeOrRe (NCL)"),
    ],
)
def test_unknown_names_suggest_across_sources(name, hint):
    with pytest.raises(ColorScaleError, match=r"geodigitize colormaps` lists them$") as info:
        find_colormap(name)
    message = str(info.value)
    assert message.startswith(f"unknown colormap {name!r}: {hint}")
    assert "\n" not in message


def test_prefix_limits_suggestions_to_its_source():
    with pytest.raises(ColorScaleError) as info:
        find_colormap("cmo.batlow")
    assert "Crameri" not in str(info.value)


def test_batlow_is_cmcrameris_table():
    import cmcrameri

    table = Path(cmcrameri.__file__).parent / "cmaps" / "batlow.txt"
    got = load_colormap("batlow")(np.arange(256))[:, :3]
    assert got.shape == (256, 3)
    np.testing.assert_array_equal(got, np.loadtxt(table))


def test_gmt_tables_keep_their_colours():
    folder = resources.files("geodigitize") / "data" / "gmt"
    _, segments = parse_table((folder / "haxby.cpt").read_text(), "haxby.cpt")
    haxby = load_colormap("haxby")
    assert tuple(haxby([0.0], bytes=True)[0, :3]) == (10, 0, 121)
    assert tuple(haxby([1.0], bytes=True)[0, :3]) == tuple(int(v) for v in segments[-1][3])
    # gebco: flat classes of unequal widths, each kept with its exact colour
    _, segments = parse_table((folder / "gebco.cpt").read_text(), "gebco.cpt")
    classes = {tuple(int(v) for v in s[1]) for s in segments}
    assert {tuple(int(v) for v in c) for c in lut(load_colormap("gebco"))} == classes


def test_ncl_tables_are_read_as_written():
    table = load_colormap("BlAqGrYeOrRe")
    assert table.N == 100
    np.testing.assert_array_equal(table.colors[:2], [[0, 0, 1], [0, 21 / 255, 1]])
    np.testing.assert_array_equal(load_colormap("GMT_haxby").colors[0], [0.039216, 0, 0.47451])
    # NCL's own rainbow, not matplotlib's (the colormaps package would hand back the latter)
    assert load_colormap("ncl.rainbow").N == 188
    assert "BlAqGrYeOrRe" not in matplotlib.colormaps  # nothing registered behind our back


def test_decode_a_thermal_drawing():
    import cmocean

    values = np.linspace(0.0, 1.0, 2001)
    rgb = cmocean.cm.thermal(values, bytes=True)[None, :, :3]
    scale = from_cmap("thermal", 0.0, 1.0)
    got = decode(rgb, scale).values[0]
    assert np.max(np.abs(got - values)) <= 1 / 255


def test_scale_records_the_catalogue_source():
    scale = from_cmap("cmc.batlow", 0.0, 1.0)
    assert scale.source == "cmap:cmc.batlow"
    assert scale.to_dict()["cmap_name"] == "batlow"
    assert scale.to_dict()["cmap_source"].startswith("cmcrameri ")
    jet = from_cmap("jet_r", 0.0, 1.0)
    assert jet.source == "cmap:jet_r"
    assert (jet.extra["cmap_name"], jet.extra["cmap_source"].split()[0]) == ("jet_r", "matplotlib")


def test_list_colormaps():
    by_name = {(i.name, i.source): i for i in list_colormaps()}
    assert by_name["batlow", "crameri"].n_colors == 255  # two neighbours share an 8-bit colour
    assert by_name["batlow", "crameri"].kind == "continuous"
    assert (by_name["tab10", "matplotlib"].n_colors, by_name["tab10", "matplotlib"].kind) == (
        10,
        "discrete",
    )
    assert by_name["gebco", "gmt"].kind == "discrete"
    assert ("cmo.gray", "cmocean") in by_name  # shadowed by matplotlib's gray
    assert {i.source for i in list_colormaps()} == {
        "matplotlib",
        "cmocean",
        "crameri",
        "gmt",
        "ncl",
    }
    assert [i.name for i in list_colormaps(source="cmc", search="BATLOW")] == [
        "batlow",
        "batlowK",
        "batlowW",
    ]
    with pytest.raises(ColorScaleError, match="use one of matplotlib, cmocean"):
        list_colormaps(source="nope")


def test_other_sources_load_only_when_needed():
    code = (
        "import sys; from geodigitize.colormap import from_cmap; from_cmap('jet_r', 0, 1); "
        "assert not {'cmocean', 'cmcrameri', 'colormaps'} & set(sys.modules), sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[1])


runner = CliRunner()


def test_cli_lists_colormaps():
    result = runner.invoke(app, ["colormaps", "--search", "batlow"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == 3
    assert lines[0].split() == ["batlow", "crameri", "255", "colours", "continuous"]
    result = runner.invoke(app, ["colormaps", "--source", "cmocean"])
    assert result.exit_code == 0
    assert {line.split()[1] for line in result.output.splitlines()} == {"cmocean"}
    assert "thermal" in result.output


def test_cli_colormaps_errors():
    result = runner.invoke(app, ["colormaps", "--source", "nope"])
    assert result.exit_code == 2
    assert "unknown colormap source 'nope'" in result.output
    result = runner.invoke(app, ["colormaps", "--search", "zzzz"])
    assert result.exit_code == 3
    assert "no colormap matches" in result.output


@pytest.mark.parametrize(
    ("drawn_with", "name", "package"),
    [
        ("cmc.batlow", "batlow", "cmcrameri"),
        ("cmo.thermal", "thermal", "cmocean"),
    ],
)
def test_run_decodes_a_figure_by_catalogue_name(tmp_path, drawn_with, name, package):
    import cmcrameri.cm  # noqa: F401  (registers cmc.* in matplotlib, to paint with)
    import cmocean.cm  # noqa: F401  (registers cmo.*)
    from conftest import make_figure

    fig = make_figure(cmap=drawn_with)
    img, gcps = fig.write(tmp_path)
    out = tmp_path / "out"
    res = runner.invoke(
        app,
        [
            "run",
            str(img),
            "--gcps",
            str(gcps),
            "--cmap",
            name,
            "--vmin",
            "0",
            "--vmax",
            "0.7",
            "--region",
            "10,10,150,110",
            "--out",
            str(out),
            "-q",
        ],
    )
    assert res.exit_code == 0, res.output
    scale = json.loads((out / "report.json").read_text())["color_scale"]
    assert scale["source"] == f"cmap:{name}"
    assert (scale["cmap_name"], scale["cmap_source"].split()[0]) == (name, package)
    with rasterio.open(out / "grid.tif") as src:
        grid = src.read(1)
    x0, y0, x1, y1 = fig.frame
    truth = fig.truth[y0:y1, x0:x1]
    good = ~np.isnan(grid)
    assert good[fig.data[y0:y1, x0:x1]].mean() >= 0.99
    assert np.median(np.abs(grid[good] - truth[good])) <= 0.002 * 0.7
