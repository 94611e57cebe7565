"""Colour table files: exact small tables in every format, and one-line errors."""

import numpy as np
import pytest

from geodigitize.cmapfile import read_cmap_file
from geodigitize.errors import ColorScaleError
from geodigitize.scale import build_scale


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def value_of(scale, rgb):
    """The value the scale gives an exact colour."""
    hit = np.flatnonzero(np.all(scale.colors == rgb, axis=1))
    assert hit.size, f"{rgb} not in the scale"
    return scale.values[hit].mean()


def test_csv_ramp_interpolates_between_rows(tmp_path):
    path = write(tmp_path, "t.csv", "value,r,g,b\n0,0,0,0\n10,255,0,0\n20,255,255,0\n")
    scale = read_cmap_file(path)
    assert (scale.vmin, scale.vmax, scale.levels) == (0.0, 20.0, None)
    assert scale.extra["cmap_file_format"] == "csv"
    assert value_of(scale, [0, 0, 0]) == pytest.approx(0.0, abs=0.03)
    assert value_of(scale, [255, 0, 0]) == pytest.approx(10.0, abs=0.03)
    assert value_of(scale, [128, 0, 0]) == pytest.approx(5.0, abs=0.03)
    assert value_of(scale, [255, 128, 0]) == pytest.approx(15.0, abs=0.03)
    # every colour of the ramp, 0..255 red then 0..255 green: 511 entries
    assert len(scale.colors) == 511


def test_csv_unit_colours_and_rescaling(tmp_path):
    path = write(tmp_path, "t.csv", "0,0,0,1\n1,1,0,0\n")
    scale = read_cmap_file(path, vmin=-5, vmax=5)
    assert (scale.vmin, scale.vmax) == (-5.0, 5.0)
    assert value_of(scale, [0, 0, 255]) == pytest.approx(-5.0, abs=0.03)
    assert value_of(scale, [255, 0, 0]) == pytest.approx(5.0, abs=0.03)


QGIS_TEXT = """# QGIS Generated Color Map Export File
INTERPOLATION:{mode}
0,0,0,255,255,zero
10,0,255,0,255,ten
20,255,0,0,255,twenty
"""


def test_qgis_export_interpolated(tmp_path):
    scale = read_cmap_file(write(tmp_path, "q.txt", QGIS_TEXT.format(mode="INTERPOLATED")))
    assert scale.extra["cmap_file_format"] == "qgis" and scale.levels is None
    assert value_of(scale, [0, 255, 0]) == pytest.approx(10.0, abs=0.03)


def test_qgis_export_discrete_gives_classes_up_to_each_value(tmp_path):
    scale = read_cmap_file(write(tmp_path, "q.txt", QGIS_TEXT.format(mode="DISCRETE")))
    assert scale.levels == (-10.0, 0.0, 10.0, 20.0)
    assert scale.values.tolist() == [-5.0, 5.0, 15.0]
    assert scale.colors.tolist() == [[0, 0, 255], [0, 255, 0], [255, 0, 0]]


def test_qgis_export_exact_classes_reach_halfway(tmp_path):
    scale = read_cmap_file(write(tmp_path, "q.txt", QGIS_TEXT.format(mode="EXACT")))
    assert scale.levels == (-5.0, 5.0, 15.0, 25.0)
    assert scale.values.tolist() == [0.0, 10.0, 20.0]


def test_qgis_style_xml(tmp_path):
    xml = """<!DOCTYPE qgis><qgis><pipe><rasterrenderer><rastershader>
    <colorrampshader colorRampType="DISCRETE" classificationMode="1" clip="0">
      <item alpha="255" value="1" label="a" color="#0000ff"/>
      <item alpha="255" value="2" label="b" color="#00ff00"/>
      <item alpha="255" value="inf" label="c" color="#ff0000"/>
    </colorrampshader></rastershader></rasterrenderer></pipe></qgis>"""
    scale = read_cmap_file(write(tmp_path, "s.qml", xml))
    assert scale.extra["cmap_file_format"] == "qgis-xml"
    assert scale.levels == (0.0, 1.0, 2.0, 3.0)
    assert scale.colors.tolist() == [[0, 0, 255], [0, 255, 0], [255, 0, 0]]


CPT = """# a GMT table
# COLOR_MODEL = RGB
0 0 0 0 10 255 255 255
10\t255/0/0\t20\t255/0/0   ; flat red
B 0 0 0
F 255 255 255
N 128 128 128
"""


def test_gmt_cpt_ramp_and_flat_segment(tmp_path):
    scale = read_cmap_file(write(tmp_path, "t.cpt", CPT))
    assert scale.extra["cmap_file_format"] == "cpt"
    assert (scale.vmin, scale.vmax) == (0.0, 20.0)
    assert value_of(scale, [128, 128, 128]) == pytest.approx(5.0, abs=0.03)
    assert value_of(scale, [255, 0, 0]) == pytest.approx(15.0, abs=0.03)


def test_gmt_cpt_all_flat_is_classes(tmp_path):
    path = write(tmp_path, "c.cpt", "0 blue 1 blue\n1 #00ff00 3 #00ff00\n3 255 0 0 4 255 0 0\n")
    scale = read_cmap_file(path)
    assert scale.levels == (0.0, 1.0, 3.0, 4.0)
    assert scale.values.tolist() == [0.5, 2.0, 3.5]


def test_build_scale_reads_the_file(tmp_path):
    path = write(tmp_path, "t.csv", "0,0,0,0\n1,255,255,255\n")
    assert build_scale(cmap_file=str(path)).source == "file:t.csv"


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("t.csv", "0,0,0\n1,2,3\n", "line 1: expected value,r,g,b"),
        ("t.csv", "0,0,0,0\n0,1,1,1\n", "share a value"),
        ("t.csv", "0,0,0,0\n", "at least 2"),
        ("t.csv", "0,0,0,300\n1,0,0,0\n", "not RGB"),
        ("t.csv", "\n", "no value,r,g,b rows"),
        ("t.cpt", "0 0 0 0 10 255 255\n", "line 1: expected 'z0 r g b z1 r g b'"),
        ("t.cpt", "# COLOR_MODEL = HSV\n0 0 1 1 1 90 1 1\n", "HSV is not supported"),
        ("t.cpt", "5 0 0 0 1 255 255 255\n", "must be greater"),
        ("t.txt", "INTERPOLATION:SMOOTH\n0,0,0,0,255,a\n1,1,1,1,255,b\n", "unknown INTERPOLATION"),
        ("t.txt", "INTERPOLATION:DISCRETE\n0,x,0,0,255,a\n", "line 2"),
        ("t.qml", "<qgis><pipe/></qgis>", "no <colorrampshader>"),
        ("t.qml", "<qgis><colorrampshader>", "not well-formed"),
    ],
)
def test_malformed_files_raise_one_line(tmp_path, name, text, message):
    with pytest.raises(ColorScaleError, match=message) as err:
        read_cmap_file(write(tmp_path, name, text))
    assert "\n" not in str(err.value) and name in str(err.value)


def test_missing_file_and_bad_options(tmp_path):
    with pytest.raises(ColorScaleError, match="does not exist"):
        read_cmap_file(tmp_path / "nope.cpt")
    path = write(tmp_path, "t.csv", "0,0,0,0\n1,255,255,255\n")
    with pytest.raises(ColorScaleError, match="both --vmin and --vmax"):
        read_cmap_file(path, vmin=0)
    with pytest.raises(ColorScaleError, match="--norm log does not apply"):
        read_cmap_file(path, norm="log")
