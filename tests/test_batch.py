"""geodigitize batch: many images, local processes or a Dask cluster, failures isolated."""

from __future__ import annotations

import csv
import json

import numpy as np
import pyogrio
import pytest
import rasterio
from conftest import make_figure
from typer.testing import CliRunner

from geodigitize.batch import BatchError, plan, run_batch
from geodigitize.cli import app
from geodigitize.pipeline import Options, run

SCALE = ["--cmap", "jet_r", "--vmin", "0", "--vmax", "0.7"]
runner = CliRunner()


@pytest.fixture
def scans(tmp_path):
    """Three figures with per-stem GCP files, and one broken 'image'."""
    folder, gcps_dir = tmp_path / "scans", tmp_path / "gcps"
    folder.mkdir()
    gcps_dir.mkdir()
    for k, (w, h) in enumerate([(160, 120), (200, 140), (180, 150)]):
        fig = make_figure(w, h, margin=8 + k)
        _, g = fig.write(folder, name=f"map{k}.png")
        g.rename(gcps_dir / f"map{k}.csv")
    (folder / "broken.png").write_bytes(b"not a png at all")
    (gcps_dir / "broken.csv").write_text((gcps_dir / "map0.csv").read_text())
    return folder, gcps_dir


def _summary(out):
    with open(out / "summary.csv", newline="") as f:
        return {row["image"].rsplit("/", 1)[-1]: row for row in csv.DictReader(f)}


def _same_outputs(a, b):
    pa, pb = pyogrio.read_dataframe(a / "points.gpkg"), pyogrio.read_dataframe(b / "points.gpkg")
    assert pa.equals(pb)
    with rasterio.open(a / "grid.tif") as ga, rasterio.open(b / "grid.tif") as gb:
        np.testing.assert_array_equal(ga.read(1), gb.read(1))
        assert ga.transform == gb.transform and ga.crs == gb.crs
    ra, rb = (json.loads((d / "report.json").read_text()) for d in (a, b))
    for r in (ra, rb):
        r.pop("timings_s")
    assert ra == rb


def test_batch_local_processes_isolate_failures_and_skip_on_rerun(tmp_path, scans):
    folder, gcps_dir = scans
    out = tmp_path / "results"
    args = [
        "batch",
        str(folder / "*.png"),
        "--gcps-dir",
        str(gcps_dir),
        "--out",
        str(out),
        "--workers",
        "2",
        *SCALE,
    ]
    res = runner.invoke(app, args)
    assert res.exit_code == 1, res.output  # one image failed
    rows = _summary(out)
    assert {k: r["status"] for k, r in rows.items()} == {
        "broken.png": "failed",
        "map0.png": "done",
        "map1.png": "done",
        "map2.png": "done",
    }
    assert "not an image" in rows["broken.png"]["error"]
    assert "\n" not in rows["broken.png"]["error"]
    assert int(rows["map1.png"]["points"]) > 0 and float(rows["map1.png"]["gcp_rmse_px"]) < 0.1
    assert not (out / "broken").exists() or not list((out / "broken").iterdir())
    assert "broken.png" in res.output and "failed" in res.output

    # identical to `run` on the same image
    run(
        folder / "map1.png",
        tmp_path / "single",
        gcps=gcps_dir / "map1.csv",
        options=Options(cmap="jet_r", vmin=0, vmax=0.7),
    )
    _same_outputs(out / "map1", tmp_path / "single")

    # rerun: complete outputs are skipped, the broken image is tried again
    stamp = (out / "map0" / "grid.tif").stat().st_mtime_ns
    res = runner.invoke(app, args)
    rows = _summary(out)
    assert [rows[f"map{k}.png"]["status"] for k in range(3)] == ["skipped"] * 3
    assert rows["broken.png"]["status"] == "failed"
    assert int(rows["map0.png"]["points"]) > 0  # counts read back from report.json
    assert (out / "map0" / "grid.tif").stat().st_mtime_ns == stamp

    # --overwrite redoes them
    res = runner.invoke(app, [*args, "--overwrite"])
    assert [_summary(out)[f"map{k}.png"]["status"] for k in range(3)] == ["done"] * 3


def test_batch_shared_gcps_and_missing_gcp_file(tmp_path, scans):
    folder, gcps_dir = scans
    (gcps_dir / "map2.csv").unlink()
    items = plan(str(folder / "map*.png"), tmp_path / "r", gcps_dir=gcps_dir)
    results = run_batch(items, Options(cmap="jet_r", vmin=0, vmax=0.7), workers=1)
    assert [r.status for r in results] == ["done", "done", "failed"]
    assert "map2.csv" in results[2].error
    shared = plan(str(folder / "map0.png"), tmp_path / "s", gcps=gcps_dir / "map0.csv")
    assert shared[0].gcps == gcps_dir / "map0.csv"


def test_batch_bad_plans_are_one_line_errors(tmp_path, scans):
    folder, gcps_dir = scans
    with pytest.raises(BatchError, match="no image matches"):
        plan(str(tmp_path / "nothing*.png"), tmp_path / "r", gcps_dir=gcps_dir)
    with pytest.raises(BatchError, match="either --gcps"):
        plan(str(folder / "*.png"), tmp_path / "r")
    res = runner.invoke(
        app, ["batch", str(tmp_path / "none*.png"), "--gcps-dir", str(gcps_dir), *SCALE]
    )
    assert res.exit_code == 2 and "no image matches" in res.output
    assert "Traceback" not in res.output


def test_batch_on_a_dask_local_cluster(tmp_path, scans):
    distributed = pytest.importorskip("distributed")
    folder, gcps_dir = scans
    out = tmp_path / "results"
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        res = runner.invoke(
            app,
            [
                "batch",
                str(folder / "*.png"),
                "--gcps-dir",
                str(gcps_dir),
                "--out",
                str(out),
                "--scheduler",
                cluster.scheduler_address,
                *SCALE,
            ],
        )
        with distributed.Client(cluster) as client:
            ran_on = client.run(lambda: __import__("os").getpid())
    assert len(ran_on) == 2  # two worker processes
    assert res.exit_code == 1, res.output
    rows = _summary(out)
    assert rows["broken.png"]["status"] == "failed"
    assert [rows[f"map{k}.png"]["status"] for k in range(3)] == ["done"] * 3
    run(
        folder / "map0.png",
        tmp_path / "single",
        gcps=gcps_dir / "map0.csv",
        options=Options(cmap="jet_r", vmin=0, vmax=0.7),
    )
    _same_outputs(out / "map0", tmp_path / "single")


def test_unreachable_scheduler_is_a_clear_error(tmp_path, scans, monkeypatch):
    monkeypatch.setattr("geodigitize.batch.SCHEDULER_TIMEOUT", "1s")
    folder, gcps_dir = scans
    res = runner.invoke(
        app,
        [
            "batch",
            str(folder / "map0.png"),
            "--gcps-dir",
            str(gcps_dir),
            "--out",
            str(tmp_path / "r"),
            "--scheduler",
            "tcp://127.0.0.1:9",
            *SCALE,
        ],
    )
    assert res.exit_code == 2
    assert "cannot reach the Dask scheduler" in res.output
