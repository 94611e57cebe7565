"""A run's outputs are one set: checked before work, locked, staged beside --out, swapped in.

Kills at every write and commit step (the fault hook of :mod:`geodigitize.io`) must leave
the earlier complete set or the new complete set, never a mix, and nothing stray once the
next run has started.
"""

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from typer.testing import CliRunner

from geodigitize import io, pipeline
from geodigitize.cli import app
from geodigitize.errors import OutputBusyError, OutputError, OutputExistsError
from geodigitize.io import FAULT_ENV, FAULT_SIGNAL_ENV, OutputSet, recover
from geodigitize.pipeline import OUTPUT_NAMES, extract, run

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]


def scale(figure, vmax=None):
    return {"cmap": figure.cmap, "vmin": figure.vmin, "vmax": figure.vmax if vmax is None else vmax}


#: The colour scale of the shipped example.
SCALE = ["--cmap", "jet_r", "--vmin", "0", "--vmax", "0.7"]


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def files(figure, tmp_path):
    img, gcps = figure.write(tmp_path)
    return img, gcps, tmp_path / "out"


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def strays(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if "geodigitize-" in p.name)


# ------------------------------------------------------------------ lock and checks


def test_second_run_into_a_locked_folder_fails_at_once(tmp_path):
    out = tmp_path / "out"
    with OutputSet(out, ["a.txt"]) as first:
        assert (tmp_path / ".out.geodigitize-lock").exists()
        with pytest.raises(OutputBusyError, match=f"process {os.getpid()}"):
            OutputSet(out, ["a.txt"]).__enter__()
        first.write({"a.txt": lambda p: p.write_text("first")})
        first.commit()
    # the lock is gone with the run; the second run now sees the first's file
    assert strays(tmp_path) == []
    with pytest.raises(OutputExistsError, match="overwrite=True"):
        OutputSet(out, ["a.txt"]).__enter__()
    assert (out / "a.txt").read_text() == "first"


def test_two_runs_started_together_one_wins_with_one_line(files):
    img, gcps, out = files
    cmd = [
        sys.executable,
        "-c",
        "from geodigitize.cli import main; main()",
        "run",
        str(img),
        "--gcps",
        str(gcps),
        *SCALE,
        "--out",
        str(out),
        "-q",
    ]
    procs = [
        subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    results = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 4], results
    loser = next(err for code, err in results if code == 4)
    assert len(loser.strip().splitlines()) == 1
    assert "another geodigitize run" in loser or "already exist" in loser
    assert sorted(p.name for p in out.iterdir()) == sorted(OUTPUT_NAMES)
    assert strays(out.parent) == []


@pytest.mark.parametrize("name", ["grid.tif", "report.json", "points.gpkg"])
def test_preview_clashing_with_an_output_is_refused_before_work(files, name, monkeypatch):
    img, gcps, out = files
    monkeypatch.setattr(pipeline, "extract", lambda *a, **k: pytest.fail("work started"))
    res = invoke(
        "run",
        img,
        "--gcps",
        gcps,
        *SCALE,
        "--out",
        out,
        "--preview",
        name,
    )
    assert res.exit_code == 4
    assert len(res.stderr.strip().splitlines()) == 1 and name in res.stderr
    assert not out.exists() and strays(out.parent) == []


def test_preview_in_out_folder_by_path_is_checked_like_a_bare_name(files, monkeypatch):
    img, gcps, out = files
    monkeypatch.setattr(pipeline, "extract", lambda *a, **k: pytest.fail("work started"))
    with pytest.raises(OutputError, match=r"own grid\.tif"):
        run(img, out, gcps=gcps, preview=str(out / "grid.tif"), cmap="jet_r", vmin=0, vmax=1)


def test_overwrite_with_unwritable_save_points_fails_before_replacing(files, figure):
    img, gcps, out = files
    run(img, out, gcps=gcps, **scale(figure))
    before = snapshot(out)
    for cmd in (
        [
            "run",
            img,
            "--gcps",
            gcps,
            "--cmap",
            "jet_r",
            "--vmin",
            "0",
            "--vmax",
            "0.5",
            "--out",
            out,
        ],
        ["gcps", img, "--gcps", gcps],
    ):
        res = invoke(*cmd, "--overwrite", "--save-points", out.parent / "missing" / "g.points")
        assert res.exit_code == 4, res.output
        assert len(res.stderr.strip().splitlines()) == 1 and "missing" in res.stderr
    assert snapshot(out) == before
    assert strays(out.parent) == []


def test_full_disk_with_overwrite_keeps_the_old_outputs(files, figure, monkeypatch):
    img, gcps, out = files
    run(img, out, gcps=gcps, **scale(figure))
    before = snapshot(out)

    def full(path, *args, **kwargs):
        Path(path).write_bytes(b"partial")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(pipeline, "write_grid", full)
    res = invoke(
        "run",
        img,
        "--gcps",
        gcps,
        "--cmap",
        "jet_r",
        "--vmin",
        "0",
        "--vmax",
        "0.5",
        "--out",
        out,
        "--overwrite",
    )
    assert res.exit_code == 4
    assert res.stderr.strip().splitlines() == [
        "error: cannot write grid.tif: no space left on device (earlier outputs are unchanged)"
    ]
    assert snapshot(out) == before
    assert strays(out.parent) == []


def test_unrelated_files_in_out_are_kept(files, figure):
    img, gcps, out = files
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    run(img, out, gcps=gcps, **scale(figure))
    run(img, out, gcps=gcps, overwrite=True, **scale(figure, 0.5))
    assert (out / "notes.txt").read_text() == "mine"
    assert json.loads((out / "report.json").read_text())["parameters"]["vmax"] == 0.5


def test_leftovers_of_killed_runs_are_removed_by_the_next_run(files, figure):
    img, gcps, out = files
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # a process id that no longer runs
    staging = out.parent / f".out.geodigitize-tmp-{dead.pid}-0000"
    staging.mkdir()
    (staging / "grid.tif").write_bytes(b"half")
    elsewhere = out.parent / "pics"
    elsewhere.mkdir()
    stale = elsewhere / f".p.png.geodigitize-tmp-{dead.pid}-0000.png"
    stale.write_bytes(b"half")
    live = elsewhere / f".p.png.geodigitize-tmp-{os.getpid()}-0000.png"  # not dead: kept
    live.write_bytes(b"busy")
    run(img, out, gcps=gcps, preview=str(elsewhere / "p.png"), **scale(figure))
    assert strays(out.parent) == []
    assert sorted(p.name for p in elsewhere.iterdir()) == [live.name, "p.png"]


# ------------------------------------------------------------------ signals


@pytest.mark.parametrize("sig", ["TERM", "INT"])
def test_signal_during_writes_leaves_nothing_and_says_so(files, sig, monkeypatch):
    from geodigitize.cli._common import on_sigterm

    img, gcps, out = files
    monkeypatch.setattr(signal, "SIGTERM", signal.SIGTERM)
    old = signal.signal(signal.SIGTERM, on_sigterm)
    monkeypatch.setenv(FAULT_ENV, "4")  # staging, write points, wrote points, write grid
    monkeypatch.setenv(FAULT_SIGNAL_ENV, sig)
    monkeypatch.setattr(io, "_fault_count", 0)
    try:
        res = invoke(
            "run",
            img,
            "--gcps",
            gcps,
            *SCALE,
            "--out",
            out,
        )
    finally:
        signal.signal(signal.SIGTERM, old)
    word = "terminated" if sig == "TERM" else "interrupted"
    assert res.exit_code == (143 if sig == "TERM" else 130)
    assert res.stderr.strip().splitlines() == [f"error: {word}; nothing was written"]
    assert not out.exists() and strays(out.parent) == []


def test_signal_during_the_commit_is_held_until_it_is_done(files, monkeypatch):
    img, gcps, out = files
    monkeypatch.setenv(FAULT_ENV, "14")  # 1 + 2 x 5 writers + journal tmp, journal, rename
    monkeypatch.setenv(FAULT_SIGNAL_ENV, "INT")
    monkeypatch.setattr(io, "_fault_count", 0)
    res = invoke("run", img, "--gcps", gcps, *SCALE, "--out", out)
    assert res.exit_code == 130
    assert "interrupted after the outputs were written" in res.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(OUTPUT_NAMES)
    assert strays(out.parent) == []


# ------------------------------------------------------------------ fault injection


def _untimed(report: dict) -> dict:
    return {k: v for k, v in report.items() if k != "timings_s"}


def _set_of(out: Path, refs: dict[float, dict]) -> float:
    """Which reference set `out` holds entirely (fails on a mix or a broken file)."""
    report = json.loads((out / "report.json").read_text())
    vmax = report["parameters"]["vmax"]
    ref = refs[vmax]
    assert sorted(p.name for p in out.iterdir()) == sorted(ref["names"])
    assert _untimed(report) == _untimed(ref["report"])
    with rasterio.open(out / "grid.tif") as src:
        assert np.array_equal(src.read(1), ref["grid"], equal_nan=True)
    points = gpd.read_file(out / "points.gpkg", layer="points")
    assert np.array_equal(points["value"], ref["values"])
    lines = gpd.read_file(out / "points.gpkg", layer="contours")
    assert len(lines) == ref["lines"]
    for name in ("grid.qml", "points.qml"):
        assert (out / name).read_bytes() == ref[name]
    return vmax


def _forked_run(n: int, work, timeout: float = 60.0) -> int:
    """Run `work` in a forked child that SIGKILLs itself at fault step `n`; its status."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.environ[FAULT_ENV] = str(n)
            io._fault_count = 0
            # GDAL's worker threads do not survive fork: the child compresses inline
            io.GridWriter.__init__.__kwdefaults__["num_threads"] = "1"
            work()
            code = 0
        finally:
            os._exit(code)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        time.sleep(0.02)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    pytest.fail(f"the run killed at step {n} hung")


def test_kill_at_every_write_and_commit_step_leaves_one_complete_set(figure, tmp_path, monkeypatch):
    """Fork a run that SIGKILLs itself at step N = 1, 2, ... until it completes."""
    img, gcps = figure.write(tmp_path)
    old, new = 0.7, 0.6
    opts = {v: pipeline.Options(**scale(figure, v), contours=True) for v in (old, new)}
    results = {v: extract(img, gcps=gcps, options=opts[v]) for v in (old, new)}
    # the work is done once: each forked run only writes and commits
    monkeypatch.setattr(pipeline, "extract", lambda *a, options, **k: results[options.vmax])
    refs = {}
    for v in (old, new):
        _, paths = run(img, tmp_path / f"ref{v}", gcps=gcps, options=opts[v])
        with rasterio.open(paths["grid.tif"]) as src:
            grid = src.read(1)
        refs[v] = {
            "names": list(OUTPUT_NAMES),
            "grid": grid,
            "report": json.loads(paths["report.json"].read_text()),
            "values": results[v].points["value"].to_numpy(),
            "lines": len(results[v].contours),
            **{n: paths[n].read_bytes() for n in ("grid.qml", "points.qml")},
        }
    out, saved = tmp_path / "out", tmp_path / "saved.points"
    killed, outcomes = 0, set()
    first = tmp_path / "first"
    run(img, first, gcps=gcps, options=opts[old], save_points=tmp_path / "first.points")
    assert _set_of(first, refs) == old
    for n in range(1, 100):
        # start each time from the earlier run's complete set (and its GCP file)
        shutil.rmtree(out, ignore_errors=True)
        shutil.copytree(first, out)
        shutil.copyfile(tmp_path / "first.points", saved)
        saved_before = saved.read_bytes()
        status = _forked_run(
            n,
            lambda: run(img, out, gcps=gcps, overwrite=True, options=opts[new], save_points=saved),
        )
        if os.WIFEXITED(status):
            assert os.WEXITSTATUS(status) == 0
            break
        assert os.WTERMSIG(status) == signal.SIGKILL
        killed += 1
        with OutputSet(out, []):  # what the next run does first: lock, recover, clean
            pass
        holds = _set_of(out, refs)
        outcomes.add(holds)
        if saved.read_bytes() != saved_before:
            assert holds == new  # the GCP file moves with the folder's set
        assert strays(tmp_path) == [], n
    assert killed >= 20, killed
    assert outcomes == {old, new}  # kills before the journal keep the old set, after: new


def test_recover_completes_a_commit_interrupted_mid_swap(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    for name in ("a", "b"):
        (out / name).write_text("old")
    staging = tmp_path / ".out.geodigitize-tmp-1-x"
    staging.mkdir()
    (staging / "b").write_text("new")  # "a" was already renamed into place
    (out / "a").write_text("new")
    journal = {"pid": 1, "staging": staging.name, "names": ["a", "b"], "outside": []}
    (tmp_path / ".out.geodigitize-journal").write_text(json.dumps(journal))
    assert recover(out)
    assert {p.name: p.read_text() for p in out.iterdir()} == {"a": "new", "b": "new"}
    assert strays(tmp_path) == []
    assert not recover(out)


def _same_run(out: Path, ref: Path) -> None:
    """`out` holds exactly the files of the run that wrote `ref`, all readable."""
    names = sorted(p.name for p in ref.iterdir())
    assert sorted(p.name for p in out.iterdir()) == names
    report = json.loads((out / "report.json").read_text())
    assert _untimed(report) == _untimed(json.loads((ref / "report.json").read_text()))
    for name in ("grid.tif",):
        with rasterio.open(out / name) as a, rasterio.open(ref / name) as b:
            assert np.array_equal(a.read(1), b.read(1), equal_nan=True)
    for layer in ("points", "contours"):
        a = gpd.read_file(out / "points.gpkg", layer=layer)
        b = gpd.read_file(ref / "points.gpkg", layer=layer)
        assert np.array_equal(a["value"], b["value"])
    for name in ("grid.qml", "points.qml"):
        assert (out / name).read_bytes() == (ref / name).read_bytes()
    from PIL import Image

    with Image.open(out / "preview.png") as pic:
        pic.load()


@pytest.mark.slow
def test_killed_cli_runs_on_the_shipped_example(tmp_path):
    """The README's example in a subprocess, with a preview and contours, killed at every
    write and commit step (about two minutes)."""
    out = tmp_path / "out"
    base = [
        sys.executable,
        "-c",
        "from geodigitize.cli import main; main()",
        "run",
        str(ROOT / "examples/sst_jet_r.png"),
        "--gcps",
        str(ROOT / "examples/sst_jet_r_gcps.csv"),
        "--cmap",
        "jet_r",
        "--vmin",
        "0",
        "--region",
        "69,224,875,582",
        "--out",
        str(out),
        "-q",
        "--overwrite",
        "--preview",
        "preview.png",
        "--contours",
    ]

    def cli(vmax, fault=None):
        env = {**os.environ, **({FAULT_ENV: str(fault)} if fault else {})}
        return subprocess.run(
            [*base, "--vmax", str(vmax)], cwd=ROOT, env=env, capture_output=True, text=True
        ).returncode

    refs = {}
    for v in (0.6, 0.7):  # the earlier run's set, and the one the killed run writes
        assert cli(v) == 0
        refs[v] = out.rename(tmp_path / f"ref{v}")
    killed, outcomes = 0, set()
    for n in range(1, 100):
        shutil.copytree(refs[0.6], out)
        code = cli(0.7, n)
        if code == 0:
            break
        assert code == -signal.SIGKILL
        killed += 1
        with OutputSet(out, []):  # what the next run does first
            pass
        vmax = json.loads((out / "report.json").read_text())["parameters"]["vmax"]
        _same_run(out, refs[vmax])
        outcomes.add(vmax)
        assert strays(tmp_path) == [], n
        shutil.rmtree(out)
    assert killed >= 20, killed
    assert outcomes == {0.6, 0.7}


def test_out_given_as_dot_keeps_its_companions_beside_it(files, figure, monkeypatch):
    img, gcps, out = files
    out.mkdir()
    monkeypatch.chdir(out)
    _, paths = run(img, ".", gcps=gcps, **scale(figure))
    assert sorted(p.name for p in out.iterdir()) == sorted(OUTPUT_NAMES)
    assert paths["grid.tif"].resolve() == out / "grid.tif"
    assert strays(out.parent) == []
    with pytest.raises(OutputExistsError):
        run(img, ".", gcps=gcps, **scale(figure))
