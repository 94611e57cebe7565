"""``batch`` over 20 figures: 2 worker processes vs one after another, same outputs.

Baselines measured in the same run, each in a fresh process: the same batch with
``workers=1`` (in one process, imports paid once: the strict baseline), and, for
reference, 20 separate ``geodigitize run`` commands. Target (issue 5): >= 1.7x on 2
cores against the strict baseline. ``python benchmarks/batch.py [--n 20 --size 1600x1200]``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _figures import make_figure_wh
from _measure import ROOT, measure

BODY = """
from geodigitize.batch import plan, run_batch
from geodigitize.pipeline import Options
items = plan({pattern!r}, {out!r}, gcps_dir={gcps!r})
res = run_batch(items, Options(cmap="jet_r", vmin=0.0, vmax=0.7), workers={workers})
extra = {{"failed": sum(r.status != "done" for r in res)}}
"""
SETUP = "import geodigitize.batch, geodigitize.pipeline"


def _same(a: Path, b: Path) -> bool:
    import numpy as np
    import pyogrio
    import rasterio

    for sub in sorted(p.name for p in a.iterdir() if p.is_dir()):
        pa = pyogrio.read_dataframe(a / sub / "points.gpkg")
        pb = pyogrio.read_dataframe(b / sub / "points.gpkg")
        with rasterio.open(a / sub / "grid.tif") as ga, rasterio.open(b / sub / "grid.tif") as gb:
            same_grid = np.array_equal(ga.read(1), gb.read(1), equal_nan=True)
        ra, rb = (json.loads((d / sub / "report.json").read_text()) for d in (a, b))
        for r in (ra, rb):
            r.pop("timings_s")
        if not (pa.equals(pb) and same_grid and ra == rb):
            return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--size", default="1600x1200")
    args = parser.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        scans, gcps = tmp / "scans", tmp / "gcps"
        scans.mkdir()
        gcps.mkdir()
        for k in range(args.n):  # distinct figures (sizes differ by a few pixels)
            png, g = make_figure_wh(w + 4 * k, h + 2 * k)
            (scans / f"map{k:02d}.png").symlink_to(png)
            (gcps / f"map{k:02d}.csv").write_text(g.read_text())
        pattern = str(scans / "*.png")
        seq = measure(
            BODY.format(pattern=pattern, out=str(tmp / "seq"), gcps=str(gcps), workers=1),
            setup=SETUP,
        )
        par = measure(
            BODY.format(pattern=pattern, out=str(tmp / "par"), gcps=str(gcps), workers=2),
            setup=SETUP,
        )
        t = time.perf_counter()
        for k in range(args.n):
            subprocess.run(
                [
                    sys.executable,
                    "-c",
                    "from geodigitize.cli import main; main()",
                    "run",
                    str(scans / f"map{k:02d}.png"),
                    "--gcps",
                    str(gcps / f"map{k:02d}.csv"),
                    "--cmap",
                    "jet_r",
                    "--vmin",
                    "0",
                    "--vmax",
                    "0.7",
                    "--out",
                    str(tmp / "cli" / f"map{k:02d}"),
                    "-q",
                ],
                check=True,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
            )
        cli = time.perf_counter() - t
        same = _same(tmp / "seq", tmp / "par") and _same(tmp / "seq", tmp / "cli")
    print(
        f"{args.n} figures of ~{args.size}: sequential (1 process) {seq['seconds']:.2f} s, "
        f"2 workers {par['seconds']:.2f} s -> {seq['seconds'] / par['seconds']:.2f}x; "
        f"{args.n} separate `geodigitize run` {cli:.2f} s -> {cli / par['seconds']:.2f}x; "
        f"failed {seq['extra']['failed']}+{par['extra']['failed']}; identical outputs: {same}"
    )


if __name__ == "__main__":
    main()
