"""Figures of several panels sharing one colorbar (geodigitize.panels, run --panels).

The 2 x 2 figure of ``panel_figures.py`` paints four known fields through jet_r inside
black spines, with a shared colorbar at the right: every frame, value and position is
known, so detection, decoding and georeferencing are checked exactly.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio
from conftest import make_figure
from panel_figures import EXTENT, make_panel_figure

from geodigitize import build_scale, decode
from geodigitize.errors import GCPError, OptionError, OutputError, OutputExistsError, RegionError
from geodigitize.gcps import GCPSet, read_column
from geodigitize.io import OutputSet
from geodigitize.panels import (
    extract_panels,
    find_panels,
    panel_gcps,
    parse_panels,
    reading_order,
    run_panels,
)

SCALE = {"cmap": "jet_r", "vmin": 0.0, "vmax": 0.7}
STEP = 0.7 / 256  # one colour of jet_r's 256


@pytest.fixture(scope="module")
def fig():
    return make_panel_figure()


def _decoded(image):
    return decode(image, build_scale(**SCALE))


def test_find_panels_exact_frames(fig):
    found = find_panels(fig.image, _decoded(fig.image))
    assert found == tuple(tuple(float(v) for v in f) for f in fig.frames)


def test_find_panels_with_the_colorbar_left_out(fig):
    found = find_panels(fig.image, _decoded(fig.image), colorbar=fig.colorbar, count=4)
    assert found == tuple(tuple(float(v) for v in f) for f in fig.frames)


def test_a_field_split_by_land_is_one_panel():
    fig = make_panel_figure(land_panel=2)
    found = find_panels(fig.image, _decoded(fig.image))
    assert found == tuple(tuple(float(v) for v in f) for f in fig.frames)


def test_reading_order_rows_then_columns():
    a, b, c, d = (0, 0, 10, 10), (20, 1, 30, 11), (0, 20, 10, 30), (20, 19, 30, 29)
    assert reading_order([d, c, b, a]) == (a, b, c, d)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("auto", "auto"),
        ("4", 4),
        (3, 3),
        ("1,2,3,4; 5,6,7,8", ((1.0, 2.0, 3.0, 4.0), (5.0, 6.0, 7.0, 8.0))),
        ([(1, 2, 3, 4), "5,6,7,8"], ((1.0, 2.0, 3.0, 4.0), (5.0, 6.0, 7.0, 8.0))),
    ],
)
def test_parse_panels(given, expected):
    assert parse_panels(given) == expected


@pytest.mark.parametrize("bad", [1, "1", "1,2,3,4", "nine", 2.5])
def test_parse_panels_refuses(bad):
    with pytest.raises((OptionError, RegionError), match=r"panel|region"):
        parse_panels(bad)


def _check_panel(result, truth, frame):
    """Every decoded value within two colour steps of the truth, >= 97 % of the data
    decoded, nothing decoded outside the frame."""
    values = result.values
    data = ~np.isnan(truth)
    decoded = ~np.isnan(values)
    assert decoded[data].mean() >= 0.97
    assert np.nanmax(np.abs(values[data] - truth[data])) <= 2 * STEP
    assert np.median(np.abs(values[data & decoded] - truth[data & decoded])) <= STEP / 2
    x0, y0, x1, y1 = frame
    inside = np.zeros_like(decoded)
    inside[y0:y1, x0:x1] = True
    assert not (decoded & ~inside).any()


def test_extract_panels_decodes_each_known_field(fig):
    run = extract_panels(fig.image, gcps=fig.gcps[:, :4], **SCALE)
    assert run.layout.how == "found"
    assert len(run.results) == 4
    for result, truth, frame in zip(run.results, fig.truth, fig.frames, strict=True):
        _check_panel(result, truth, frame)
        assert result.georef.rmse < 1e-9
        # a point's map position is its pixel's place in its own panel's extent
        pts = result.points
        w, e, s, n = EXTENT
        x0, y0, x1, y1 = frame
        lon = w + (pts["col"] - x0) / (x1 - x0) * (e - w)
        lat = n - (pts["row"] - y0) / (y1 - y0) * (n - s)
        np.testing.assert_allclose(pts.geometry.x, lon, atol=1e-9)
        np.testing.assert_allclose(pts.geometry.y, lat, atol=1e-9)
    assert [r["gcps_from"] for r in run.rows()] == ["on its frame"] * 4


def test_same_map_carries_panel_one_gcps(fig):
    own = extract_panels(fig.image, gcps=fig.gcps[:, :4], **SCALE)
    first = fig.gcps[fig.gcps[:, 4] == 1, :4]
    same = extract_panels(fig.image, gcps=first, same_map=True, **SCALE)
    for a, b in zip(own.results, same.results, strict=True):
        np.testing.assert_allclose(b.points.geometry.x, a.points.geometry.x, atol=1e-9)
        np.testing.assert_allclose(b.points.geometry.y, a.points.geometry.y, atol=1e-9)
    assert same.gcps_from[3] == "panel 1, carried (same map)"


def test_panel_column_assigns_gcps():
    frames = [(0, 0, 10, 10), (20, 0, 30, 10)]
    gcps = GCPSet.from_arrays([0, 10, 0, 10], [0, 0, 10, 10], [0, 1, 0, 1], [1, 1, 0, 0])
    # the panel column wins over where the point is (a misplaced point stays where it is told)
    (one, how), (two, _) = panel_gcps(gcps, frames, [1, 1, 2, 2])
    assert how == "panel column"
    assert [p.row for p in one] == [0, 0] and [p.row for p in two] == [10, 10]
    with pytest.raises(GCPError, match="panel 3 is not a panel"):
        panel_gcps(gcps, frames, [1, 1, 2, 3])


def test_run_panels_writes_one_set_per_panel(fig, tmp_path, cli):
    img, gcps = fig.write(tmp_path)
    out = tmp_path / "out"
    code, stdout, err = cli(
        "run", img, "--gcps", gcps, "--cmap", "jet_r", "--vmin", "0", "--vmax", "0.7",
        "--panels", "auto", "--out", out,
    )  # fmt: skip
    assert code == 0, err
    assert "4 panels (found)" in stdout
    report = json.loads((out / "panels.json").read_text())
    assert [p["frame"] for p in report["panels"]] == [",".join(map(str, f)) for f in fig.frames]
    assert [p["gcps_from"] for p in report["panels"]] == ["panel column"] * 4
    for k, (frame, truth) in enumerate(zip(fig.frames, fig.truth, strict=True), 1):
        folder = out / f"panel{k}"
        for name in ("points.gpkg", "grid.tif", "report.json", "grid.qml", "points.qml"):
            assert (folder / name).is_file()
        panel_report = json.loads((folder / "report.json").read_text())
        assert panel_report["parameters"]["region"] == list(frame)
        assert panel_report["panel"] == {
            "number": k,
            "of": 4,
            "frame": list(frame),
            "frames": "found",
            "gcps_from": "panel column",
            "pdf": None,
        }
        with rasterio.open(folder / "grid.tif") as ds:
            grid = ds.read(1)
            gt = ds.transform
            assert ds.crs.to_epsg() == 4326
        assert gt.a == pytest.approx(360 / 120) and gt.e == pytest.approx(-160 / 80)
        # the grid's cell (i, j) is the figure's pixel at the grid's offset
        c0 = round((gt.c - EXTENT[0]) / gt.a) + frame[0]
        r0 = round((gt.f - EXTENT[3]) / gt.e) + frame[1]
        expected = truth[r0 : r0 + grid.shape[0], c0 : c0 + grid.shape[1]]
        both = ~np.isnan(grid) & ~np.isnan(expected)
        assert both.sum() >= 0.97 * (~np.isnan(truth)).sum()
        assert np.abs(grid[both] - expected[both]).max() <= 2 * STEP + 1e-6


def test_repeated_region_gives_the_panels(fig, tmp_path, cli):
    img, gcps = fig.write(tmp_path)
    out = tmp_path / "out"
    boxes = [",".join(map(str, f)) for f in fig.frames]
    args = [a for b in boxes for a in ("--region", b)]
    code, stdout, err = cli(
        "run", img, "--gcps", gcps, "--colorbar", "auto", "--vmin", "0", "--vmax", "0.7",
        *args, "--out", out,
    )  # fmt: skip
    assert code == 0, err
    assert "4 panels (given)" in stdout
    report = json.loads((out / "panels.json").read_text())
    assert report["frames"]["how"] == "given"
    assert report["colorbar"] is not None  # found once, given to every panel


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("three asked", "found 4 map area(s)"),
        ("one map", "found 1 map area(s)"),
        ("sizes differ", "differ in size"),
        ("gcps missing", "no GCPs on panel 4"),
        ("gcp off every frame", "on no panel's frame"),
        ("same map, gcps elsewhere", "panel 1 only"),
        ("region and panels", "not --region"),
        ("no gcps", "need ground control points"),
    ],
)
def test_errors_are_one_line_and_write_nothing(tmp_path, cli, case, message):
    fig = make_panel_figure(same_size=case != "sizes differ")
    img, gcps = fig.write(tmp_path, only_panel=None)
    extra = ["--panels", "auto"]
    if case == "three asked":
        extra = ["--panels", "3"]
    elif case == "one map":
        img, gcps = make_figure().write(tmp_path, "one.png")
    elif case == "gcps missing":
        img, gcps = fig.write(tmp_path, panel_column=False)
        lines = gcps.read_text().splitlines()
        gcps.write_text("\n".join(lines[:-5]) + "\n")  # panel 4's five points dropped
    elif case == "gcp off every frame":
        img, gcps = fig.write(tmp_path, panel_column=False)
        gcps.write_text("col,row,lon,lat\n5,5,0,0\n" + "\n".join(gcps.read_text().splitlines()[1:]))
    elif case == "same map, gcps elsewhere":
        extra = ["--panels", "auto", "--same-map"]
    elif case == "region and panels":
        extra = ["--panels", "auto", "--region", "20,20,140,100"]
    args = ["run", img, *(["--gcps", gcps] if case != "no gcps" else []), *extra]
    out = tmp_path / "out"
    code, _, err = cli(*args, "--cmap", "jet_r", "--vmin", "0", "--vmax", "0.7", "--out", out)
    assert code != 0
    assert err.count("\n") == 1 and message in err, err
    assert not out.exists()


def test_nothing_is_written_when_a_panel_fails_to_write(fig, tmp_path, monkeypatch):
    """All panels or none: a failure writing panel 3 leaves the earlier outputs as they
    were, and no panel folder of the new run."""
    img, gcps = fig.write(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("keep")
    from geodigitize import pipeline

    real = pipeline.write_grid
    calls = []

    def failing(path, *args):
        calls.append(path)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        real(path, *args)

    monkeypatch.setattr(pipeline, "write_grid", failing)
    with pytest.raises(OutputError, match="no space left"):
        run_panels(img, out, gcps=gcps, **SCALE)
    assert len(calls) == 3
    assert sorted(p.name for p in out.iterdir()) == ["mine.txt"]
    assert [p.name for p in tmp_path.iterdir() if "geodigitize" in p.name] == []


def test_existing_panel_outputs_need_overwrite(fig, tmp_path):
    img, gcps = fig.write(tmp_path)
    out = tmp_path / "out"
    run_panels(img, out, gcps=gcps, **SCALE)
    before = (out / "panel2" / "report.json").stat().st_mtime_ns
    with pytest.raises(OutputExistsError, match="overwrite"):
        run_panels(img, out, gcps=gcps, **SCALE)
    assert (out / "panel2" / "report.json").stat().st_mtime_ns == before
    _, paths = run_panels(img, out, gcps=gcps, overwrite=True, **SCALE)
    assert paths["panel2/report.json"] == out / "panel2" / "report.json"
    assert (out / "panel2" / "report.json").stat().st_mtime_ns != before


def test_output_set_commits_subfolders_into_an_existing_folder(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    names = ["panel1/a.txt", "panel2/a.txt", "top.txt"]
    with OutputSet(out, names) as outputs:
        outputs.write({n: (lambda p, n=n: p.write_text(n)) for n in names})
        outputs.commit()
    assert [(out / n).read_text() for n in names] == names


def test_read_column_follows_the_gcp_rows(tmp_path):
    path = tmp_path / "g.csv"
    path.write_text("# note\ncol;row;lon;lat;Panel\n1;2;3;4;1\n\n5;6;7;8;2\n")
    assert read_column(path, ("panel",)) == ["1", "2"]
    assert read_column(path, ("missing",)) is None


def test_preview_is_refused(fig, tmp_path):
    img, gcps = fig.write(tmp_path)
    with pytest.raises(OptionError, match="preview"):
        extract_panels(img, gcps=gcps, preview="p.png", **SCALE)


def test_a_pdf_page_is_rendered_and_read_like_an_image(fig, tmp_path):
    """The figure as a PDF page (one lossless embedded image, 1 pixel per point),
    rendered at 72 dpi: frames, values and GCPs are the figure's."""
    from matplotlib.figure import Figure

    _, gcps = fig.write(tmp_path)
    pdf = tmp_path / "figure.pdf"
    height, width = fig.image.shape[:2]
    page = Figure(figsize=(width / 72, height / 72), dpi=72)
    page.figimage(fig.image, 0, 0, origin="upper")
    page.savefig(pdf, dpi=72)
    with pytest.raises(GCPError, match="need the resolution"):
        extract_panels(pdf, gcps=gcps, **SCALE)
    run = extract_panels(pdf, gcps=gcps, dpi=72, **SCALE)
    assert run.layout.frames == tuple(tuple(float(v) for v in f) for f in fig.frames)
    for result, truth, frame in zip(run.results, fig.truth, fig.frames, strict=True):
        _check_panel(result, truth, frame)
        assert result.georef.rmse < 1e-6
    assert run.report()["pdf"]["kind"] == "rendered"
    # GCPs in points (1 point = 1 pixel at 72 dpi), the page rendered at 144 dpi
    big = extract_panels(pdf, gcps=gcps, gcp_units="points", dpi=144, **SCALE)
    # (rendered larger, the spines' edges blend: within one pixel)
    np.testing.assert_allclose(big.layout.frames, 2.0 * np.array(fig.frames), atol=1.0)
    assert max(r.georef.rmse for r in big.results) < 1e-6


def test_same_map_needs_frames_of_one_size(fig):
    frames = [*fig.frames[:3], (170, 130, 260, 210)]  # panel 4 given 30 px narrower
    first = fig.gcps[fig.gcps[:, 4] == 1, :4]
    with pytest.raises(GCPError, match="same_map` needs frames of one size"):
        extract_panels(fig.image, gcps=first, panels=frames, same_map=True, **SCALE)


def test_given_frames_and_progress_per_panel(fig):
    seen = []
    run = extract_panels(
        fig.image,
        gcps=fig.gcps[fig.gcps[:, 4] <= 2, :4],
        panels=[fig.frames[1], fig.frames[0]],  # taken as given, in the order given
        progress=lambda stage, state: seen.append((stage, state)),
        **SCALE,
    )
    assert run.layout.how == "given"
    assert run.layout.frames == tuple(tuple(float(v) for v in f) for f in fig.frames[1::-1])
    _check_panel(run.results[0], fig.truth[1], fig.frames[1])
    assert ("panel 2: strips", "end") in seen and ("panel 1: strips", "start") in seen


def _killed_at(n: int, work) -> int:
    """Run `work` in a forked child that SIGKILLs itself at write/commit step `n`; its
    wait status."""
    import os
    import time

    from geodigitize import io

    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.environ[io.FAULT_ENV] = str(n)
            io._fault_count = 0
            io.GridWriter.__init__.__kwdefaults__["num_threads"] = "1"  # no threads in a fork
            work()
            code = 0
        finally:
            os._exit(code)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        time.sleep(0.02)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    pytest.fail(f"the run killed at step {n} hung")


def _which_set(out) -> float:
    """The vmax of the complete panel set in `out`; fails on a mixed or partial set."""
    summary = json.loads((out / "panels.json").read_text())
    vmax = {summary["color_scale"]["vmax"]}
    for k in range(1, 5):
        for name in ("points.gpkg", "grid.tif", "grid.qml", "points.qml"):
            assert (out / f"panel{k}" / name).is_file()
        vmax.add(json.loads((out / f"panel{k}" / "report.json").read_text())["parameters"]["vmax"])
    assert len(vmax) == 1, vmax
    return vmax.pop()


def test_killed_panel_runs_leave_one_complete_set(fig, tmp_path, monkeypatch):
    """A run replacing an earlier panel set, killed at every fifth write or commit step:
    the next run into the folder finds the old set or the new one, never a mix."""
    import os
    import shutil
    import signal

    from geodigitize import panels
    from geodigitize.io import OutputSet

    img, gcps = fig.write(tmp_path)
    first = tmp_path / "first"
    run_panels(img, first, gcps=gcps, **SCALE)
    new = {**SCALE, "vmax": 0.65}
    done = extract_panels(img, gcps=gcps, **new)
    monkeypatch.setattr(panels, "_extract", lambda plan, progress: done)  # write only
    out = tmp_path / "out"
    killed, outcomes = 0, set()
    for n in range(1, 200, 5):
        shutil.rmtree(out, ignore_errors=True)
        shutil.copytree(first, out)
        status = _killed_at(n, lambda: run_panels(img, out, gcps=gcps, overwrite=True, **new))
        if os.WIFEXITED(status):
            assert os.WEXITSTATUS(status) == 0
            break
        assert os.WTERMSIG(status) == signal.SIGKILL
        killed += 1
        with OutputSet(out, []):  # what the next run does first: lock, recover, clean
            pass
        outcomes.add(_which_set(out))
        assert [p.name for p in tmp_path.iterdir() if "geodigitize" in p.name] == []
    assert _which_set(out) == 0.65
    assert killed >= 10 and outcomes == {0.7, 0.65}
