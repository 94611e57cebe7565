"""Time and peak memory of the stages that read the per-pixel store, vs reading the image.

Issue 13 asks every option to work at every size in bounded memory: ``--target-error``,
``--contours``, ``--preview``, a non-affine grid and DBSCAN with ``eps >= 2`` or
``min_samples != 1`` run here over a :class:`geodigitize.store.SpoolStore` (what the
strips leave on disk), each in a fresh process (peak memory from ``ru_maxrss``):

- ``store``: a stand-in for the strips (read in strips, decode, mask by colour distance
  and the frame, flat test, flat clusters joined across strips by
  :class:`geodigitize.dbscan.StripDBSCAN` with ``eps=1``, the codes and cluster ids
  spooled); not the engine, but what it hands these stages;
- ``dbscan``: the same with ``eps=2.5, min_samples=4`` and the representatives;
- ``refine``: :func:`geodigitize.refine.refine_store` at 0.5 %;
- ``contours``: :func:`geodigitize.contours.trace_store`;
- ``preview``: :func:`geodigitize.preview.preview_pixels` and ``plot_pixels`` to a PNG;
- ``grid tps``: :meth:`geodigitize.georef.Georeference.grid_blocks` of a thin-plate
  spline fit, written with :class:`geodigitize.io.GridWriter`.

The engine now runs these stages itself: ``every_option.py`` measures ``run`` with
issue 13's options end to end; this script times each stage apart.

``python benchmarks/engine_options.py [--sizes 16,100] [--skip "grid tps"]``
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from _figures import CMAP, VMAX, VMIN, make_figure, region
from _measure import measure, read_png_body

HERE = Path(__file__).resolve().parent

STORE = r"""
import json, warnings
import numpy as np, rasterio
from geodigitize.colormap import from_cmap
from geodigitize.dbscan import StripDBSCAN
from geodigitize.decode import decode
from geodigitize.preview import decimate, preview_step
from geodigitize.reason import Reason
from geodigitize.reduce import flat_mask
from geodigitize.store import RowSpool, pixel_codes
warnings.simplefilter("ignore")
scale = from_cmap({cmap!r}, {vmin}, {vmax})
x0, y0, x1, y1 = {box}
with rasterio.open({png!r}) as src:
    height, width = src.height, src.width
    dbscan = StripDBSCAN((height, width), {eps}, {min_samples})
    ctx = max(dbscan.context, 1)
    step = preview_step((height, width))
    rows = max(64, 2_000_000 // width)
    rgb, n = [], scale.values.size
    codes = RowSpool("{work}/codes.bin", width, np.uint16)
    ids = RowSpool("{work}/ids.bin", width, np.int64)
    with codes, ids:
        for a in range(0, height, rows):
            b = min(a + rows, height)
            lo, hi = max(a - ctx - 1, 0), min(b + ctx + 1, height)
            img = np.moveaxis(src.read(window=((lo, hi), (0, width))), 0, -1)
            dec = decode(img, scale)
            r = np.arange(lo, hi)[:, None]
            c = np.arange(width)[None, :]
            inside = (r >= y0) & (r < y1) & (c >= x0) & (c < x1)
            reason = np.where(dec.distance > 10, Reason.OFF_SCALE, Reason.DATA)
            reason = np.where(inside, reason, Reason.OUTSIDE_REGION).astype(np.uint8)
            valid = reason == Reason.DATA
            flat = flat_mask(dec.values, valid)
            skip = 1 if lo else 0  # the flat test is exact from the second row read
            got = dbscan.add(lo + skip, dec.values[skip:], flat[skip:], a, b)
            codes.append(pixel_codes(dec.index[a - lo:b - lo], reason[a - lo:b - lo], n))
            ids.append(got, np.int32)
            rgb.append(decimate(a, img[a - lo:b - lo], step))
result = dbscan.finish()
np.save("{work}/rgb.npy", np.concatenate(rgb))
np.savez("{work}/clusters.npz", remap=result.remap, counts=result.counts,
         sum_cols=result.sum_cols, sum_rows=result.sum_rows, n=result.n,
         shape=(height, width), table=scale.values)
extra = {{"clusters": result.n}}
"""

OPEN = r"""
import numpy as np
from geodigitize.colormap import from_cmap
from geodigitize.store import RowSpool, SpoolStore
saved = np.load("{work}/clusters.npz")
shape = tuple(int(v) for v in saved["shape"])
scale = from_cmap({cmap!r}, {vmin}, {vmax})
store = SpoolStore(RowSpool.open("{work}/codes.bin", shape, np.uint16), scale.values,
                   RowSpool.open("{work}/ids.bin", shape, np.int32), saved["remap"])
"""

BODIES = {
    "refine": r"""
from geodigitize.refine import refine_store
ref = refine_store(store, scale.range, 0.5)
k = ref.clusters
np.savez("{work}/kept.npz", col=k.col, row=k.row, value=k.value)
extra = {{"points": len(k), "met": ref.met, "steps": len(ref.curve)}}
""",
    "contours": r"""
from geodigitize.contours import trace_store
lines = trace_store(store, scale)
extra = {{"lines": len(lines)}}
""",
    "preview": r"""
from geodigitize.preview import plot_pixels, preview_pixels
from geodigitize.reconstruct import ReconstructionCheck
from geodigitize.reduce import Clusters
kept = np.load("{work}/kept.npz")
pts = Clusters(kept["col"], kept["row"], kept["value"], np.ones(kept["col"].size, np.int64),
               np.zeros((0, 0), np.int32), "refined")
pixels = preview_pixels(store, rgb=np.load("{work}/rgb.npy"))
plot_pixels(pixels, pts, scale, ReconstructionCheck(0.0, 0.0, 0, True), "fig",
            "{work}/preview.png")
extra = {{"step": pixels.step}}
""",
    "grid tps": r"""
from pathlib import Path
from geodigitize.gcps import load_gcps
from geodigitize.georef import georeference
from geodigitize.io import GridWriter
geo = georeference(load_gcps({gcps!r}), shape, kind="tps")
x0, y0, x1, y1 = {box}
gshape, gt, crs, bands = geo.grid_blocks(store, (x0, y0, x1, y1))
with GridWriter(Path("{work}/grid.tif"), gshape, gt, crs) as out:
    for top, rows in bands:
        out.write_rows(top, rows)
extra = {{"grid": list(gshape)}}
""",
    "dbscan representatives": r"""
from geodigitize.dbscan import DBSCANResult
from geodigitize.reduce import representatives_store
res = DBSCANResult(saved["remap"], int(saved["n"]), saved["counts"], saved["sum_cols"],
                   saved["sum_rows"])
reps = representatives_store(store, res)
extra = {{"clusters": len(reps)}}
""",
}


def _row(name: str, got: dict, read: dict) -> None:
    extra = ", ".join(f"{k} {v}" for k, v in (got.get("extra") or {}).items())
    print(
        f"{name:>24} {got['seconds']:8.2f} {got['seconds'] / read['seconds']:9.2f} "
        f"{got['peak_bytes'] / 2**20:8.0f}  {extra}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="16,100")
    parser.add_argument(
        "--skip", default="", help="stages left out, e.g. 'grid tps,dbscan' (tps is slow)"
    )
    args = parser.parse_args()
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    for mp in (float(s) for s in args.sizes.split(",")):
        # made in a child: a process's peak memory (ru_maxrss) passes on to the processes
        # it starts, so painting 100 MP here would show in every measurement below
        measure(
            f"sys.path.insert(0, {str(HERE)!r})\nfrom _figures import make_figure\n"
            f"make_figure({mp})"
        )
        png, gcps = make_figure(mp)
        box = tuple(int(v) for v in region(png).split(","))
        print(f"\n{mp:.0f} MP: {png.name}")
        print(f"{'stage':>24} {'seconds':>8} {'x read':>9} {'peak MB':>8}")
        read = measure(read_png_body(str(png)))
        _row("read", read, read)
        fmt = {"cmap": CMAP, "vmin": VMIN, "vmax": VMAX, "box": box, "png": str(png)}
        runs = [(1.0, 1, "store (strips stand-in)"), (2.5, 4, "dbscan")]
        for eps, min_samples, label in [r for r in runs if r[2] not in skip]:
            total = 0.0
            with tempfile.TemporaryDirectory() as work:
                kw = {**fmt, "work": work, "gcps": str(gcps)}
                body = STORE.format(eps=eps, min_samples=min_samples, **kw)
                _row(label, measure(body), read)
                names = BODIES if label != "dbscan" else ["dbscan representatives"]
                for name in names:
                    if name in skip or (label != "dbscan" and name == "dbscan representatives"):
                        continue
                    got = measure(BODIES[name].format(**kw), setup=OPEN.format(**kw))
                    _row(name, got, read)
                    if name in ("refine", "contours", "preview"):
                        total += got["seconds"]
                if label != "dbscan":
                    print(
                        f"{'refine+contours+preview':>24} {total:8.2f} "
                        f"{total / read['seconds']:9.2f}",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
