"""A Mercator map: fit the pixel grid in EPSG:3857 (``--crs``), write points in lon/lat.

On a Mercator figure the pixel grid is linear in projected metres, not in degrees, so
an affine fit in lon/lat is wrong away from the equator. ``crs="EPSG:3857"`` projects the
GCPs (given in lon/lat) into Web Mercator and fits there; grid.tif is written in
EPSG:3857 and points.gpkg in EPSG:4326.

    geodigitize run map.png --gcps gcps.csv --cmap jet_r --vmin 0 --vmax 0.7 --crs EPSG:3857

    python examples/mercator.py [OUT_DIR] [--size 1000x800]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import geodigitize
from geodigitize.synthetic import render_figure


def main(out: str | Path = "example_mercator", size: tuple[int, int] = (1000, 800)) -> dict:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    fig = render_figure(*size, projection="mercator", field="sst", seed=3)
    fig.save(out / "map.png", gcps_path=out / "gcps.csv")
    result, paths = geodigitize.run(
        out / "map.png",
        out / "result",
        gcps=out / "gcps.csv",
        cmap="jet_r",
        vmin=0.0,
        vmax=0.7,
        region=fig.frame,
        crs="EPSG:3857",
        overwrite=True,
    )
    pts = result.points
    rows, cols = (pts["row"] - 0.5).astype(int), (pts["col"] - 0.5).astype(int)
    dlon = np.abs(pts.geometry.x.to_numpy() - fig.lon[rows, cols])
    dlat = np.abs(pts.geometry.y.to_numpy() - fig.lat[rows, cols])
    summary = {
        "crs": result.georef.crs,
        "gcp_rmse_px": result.georef.rmse,
        "max_position_error_deg": float(np.nanmax(np.maximum(dlon, dlat))),
        "files": sorted(p.name for p in paths.values()),
    }
    print(summary)
    return summary


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", nargs="?", default="example_mercator")
    parser.add_argument("--size", default="1000x800")
    args = parser.parse_args()
    main(args.out, tuple(int(v) for v in args.size.split("x")))
