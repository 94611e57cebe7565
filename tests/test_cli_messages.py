"""Every way a command line can go wrong ends in one true line and an exit code."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from geodigitize import pipeline
from geodigitize.cli import app
from geodigitize.pipeline import OUTPUT_NAMES, run

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]
SCALE = ["--cmap", "jet_r", "--vmin", "0", "--vmax", "0.7"]


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["run", "map.png", "--vmin", "zero"], "error: Invalid value for '--vmin'"),
        (["run", "map.png", "--no-such-option"], "error: No such option: --no-such-option"),
        (["run", "-map.png"], "goes after '--'"),
        (["run"], "error: Missing argument 'image'"),
        (["regrid", "points.gpkg"], "error: Missing option '--res'"),
        (["batch", "x.png", "--workers", "-2"], "error: Invalid value for '--workers'"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(cli, argv, expected):
    code, out, err = cli(*argv)
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    assert (
        err.startswith("error: ")
        and expected in err
        and err.rstrip().endswith(f"See 'geodigitize {argv[0]} --help'.")
    )
    assert out == ""


def test_help_and_version_still_exit_0(cli):
    assert cli("--version")[0] == 0
    code, out, _ = cli("run", "--help")
    assert code == 0 and "--vmin" in out


def test_library_errors_through_main_exit_with_their_code(cli, tmp_path):
    code, _, err = cli("run", tmp_path / "missing.png", *SCALE, "--out", tmp_path / "o")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "missing.png" in err


def test_ascii_terminal_shows_non_ascii_names_escaped(figure, tmp_path):
    img, gcps = figure.write(tmp_path, name="carte_été.png")
    env = {**os.environ, "LANG": "C", "LC_ALL": "C", "PYTHONIOENCODING": "ascii"}
    cmd = [sys.executable, "-c", "from geodigitize.cli import main; main()", "run"]
    ok = subprocess.run(
        [*cmd, str(img), "--gcps", str(gcps), *SCALE, "--out", str(tmp_path / "sortie_é")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        encoding="ascii",
    )
    assert ok.returncode == 0, ok.stderr
    assert "carte_\\xe9t\\xe9.png" in ok.stdout and "Traceback" not in ok.stderr
    bad = subprocess.run(
        [*cmd, str(tmp_path / "absente_é.png"), *SCALE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        encoding="ascii",
    )
    assert bad.returncode == 2
    assert bad.stderr.count("\n") == 1 and "absente_\\xe9.png" in bad.stderr


def test_regrid_of_a_file_that_is_not_a_geopackage(tmp_path):
    fake = tmp_path / "points.gpkg"
    fake.write_text("col,row\n1,2\n")
    res = runner.invoke(app, ["regrid", str(fake), "--res", "1", "--out", str(tmp_path / "g.tif")])
    assert res.exit_code == 2
    assert len(res.stderr.strip().splitlines()) == 1
    assert "not a vector file" in res.stderr and "points.gpkg" in res.stderr


def test_regrid_names_the_flag_not_the_python_parameter(figure, tmp_path):
    img, gcps = figure.write(tmp_path)
    run(img, tmp_path / "out", gcps=gcps, cmap=figure.cmap, vmin=figure.vmin, vmax=figure.vmax)
    target = tmp_path / "g.tif"
    target.write_bytes(b"keep")
    res = runner.invoke(
        app, ["regrid", str(tmp_path / "out" / "points.gpkg"), "--res", "1", "--out", str(target)]
    )
    assert res.exit_code == 4
    assert "--overwrite" in res.stderr and "overwrite=True" not in res.stderr
    assert target.read_bytes() == b"keep"


def test_out_of_memory_names_the_image_size_and_options(figure, tmp_path, monkeypatch):
    img, gcps = figure.write(tmp_path)

    def exhausted(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(pipeline, "extract", exhausted)
    res = runner.invoke(
        app,
        [
            "run",
            str(img),
            "--gcps",
            str(gcps),
            *SCALE,
            "--samples",
            "50000",
            "--out",
            str(tmp_path / "o"),
        ],
    )
    h, w = figure.image.shape[:2]
    assert res.exit_code == 5
    line = res.stderr.strip()
    assert len(line.splitlines()) == 1
    assert f"image of {w * h / 1e6:.1f} MP" in line and "--samples 50000" in line
    assert "try --region, fewer --samples, or a smaller image" in line
    assert not (tmp_path / "o").exists()


def test_large_image_without_gcps_says_so_in_one_line(tmp_path):
    big = np.zeros((1500, 1500, 3), np.uint8)  # 2.25 MP: above the strip threshold
    big[..., 0] = np.arange(1500, dtype=np.uint16)[None, :] % 256
    Image.fromarray(big).save(tmp_path / "big.png")
    res = runner.invoke(
        app, ["run", str(tmp_path / "big.png"), *SCALE, "--out", str(tmp_path / "o")]
    )
    assert res.exit_code == 2, res.output
    assert res.stderr.strip().splitlines() == [res.stderr.strip()]
    assert "no ground control points" in res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.png"]


def test_a_streamed_image_without_gcps_uses_its_world_file(figure, tmp_path):
    """Strips read a world file as one piece does (no GCP-only rule for streaming)."""
    from geodigitize.gcps import read_gcps
    from geodigitize.georef import georeference
    from geodigitize.pipeline import extract

    img, gcps = figure.write(tmp_path)
    gt = georeference(read_gcps(gcps), figure.image.shape[:2]).geotransform()
    centre = (gt.c + gt.a / 2 + gt.b / 2, gt.f + gt.d / 2 + gt.e / 2)
    (tmp_path / "map.pgw").write_text("\n".join(str(v) for v in (gt.a, gt.d, gt.b, gt.e, *centre)))
    scale = {"cmap": figure.cmap, "vmin": figure.vmin, "vmax": figure.vmax}
    one = extract(img, gcps=gcps, **scale)
    streamed = extract(img, in_memory=False, crs="EPSG:4326", **scale)
    try:
        assert streamed.grid_path is not None and not streamed.pixels.kept
        assert streamed.counts() == one.counts()
        np.testing.assert_allclose(
            streamed.points.geometry.get_coordinates().to_numpy(),
            one.points.geometry.get_coordinates().to_numpy(),
            atol=1e-9,
        )
    finally:
        streamed.discard()


def test_strips_stream_the_grid_into_the_run_temporary_folder(figure, tmp_path, monkeypatch):
    img, gcps = figure.write(tmp_path)
    seen = []
    real = pipeline.run_strips

    def spy(*args, grid_dir=None, **kwargs):
        seen.append(Path(grid_dir))
        assert sorted(p.name for p in Path(grid_dir).iterdir()) == []
        return real(*args, grid_dir=grid_dir, **kwargs)

    monkeypatch.setattr(pipeline, "run_strips", spy)
    out = tmp_path / "out"
    _, paths = run(
        img,
        out,
        gcps=gcps,
        in_memory=False,
        cmap=figure.cmap,
        vmin=figure.vmin,
        vmax=figure.vmax,
    )
    assert seen and seen[0].parent == tmp_path
    assert seen[0].name.startswith(".out.geodigitize-tmp-")
    assert not seen[0].exists()  # renamed into place as `out`
    assert sorted(paths) == sorted(OUTPUT_NAMES)
    assert sorted(p.name for p in out.iterdir()) == sorted(OUTPUT_NAMES)
