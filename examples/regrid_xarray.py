"""Regrid extracted points onto a regular lon/lat grid and analyse them with xarray.

Extract a figure, regrid its points to 2 degrees (linear interpolation in a metric CRS,
no extrapolation), compare the cells with the truth the figure was drawn from, and take
a zonal mean with xarray.

    geodigitize regrid result/points.gpkg --res 2 --method linear --out grid_2deg.tif

    python examples/regrid_xarray.py [OUT_DIR] [--size 1000x800] [--res 2]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import geodigitize
from geodigitize.regrid import read_points, regrid
from geodigitize.synthetic import render_figure


def main(
    out: str | Path = "example_regrid", size: tuple[int, int] = (1000, 800), res: float = 2.0
) -> dict:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    fig = render_figure(*size, field="smooth", seed=0)
    fig.save(out / "map.png", gcps_path=out / "gcps.csv")
    _, paths = geodigitize.run(
        out / "map.png",
        out / "result",
        gcps=out / "gcps.csv",
        cmap="jet_r",
        vmin=0.0,
        vmax=0.7,
        region=fig.frame,
        target_error="0.3%",
        overwrite=True,
    )
    lon, lat, values = read_points(paths["points.gpkg"])
    grid = regrid(lon, lat, values, res=res, bounds=(-180, -60, 180, 60), method="linear")
    grid.write(out / "grid.tif", overwrite=True)
    da = grid.to_xarray()  # dims (lat, lon), NaN outside the points' hull
    # the figure's truth at each cell centre (plate carree: pixels are linear in lon/lat)
    lon0, lon1, lat0, lat1 = fig.extent
    x0, y0, x1, y1 = fig.frame
    glon, glat = np.meshgrid(da["lon"].values, da["lat"].values)
    col = (x0 + (glon - lon0) / (lon1 - lon0) * (x1 - x0)).astype(int)
    row = (y0 + (lat1 - glat) / (lat1 - lat0) * (y1 - y0)).astype(int)
    height, width = fig.truth.shape
    truth = fig.truth[np.clip(row, 0, height - 1), np.clip(col, 0, width - 1)]
    both = da.notnull().values & np.isfinite(truth)
    err = np.abs(da.values[both] - truth[both]) / 0.7 * 100
    zonal = da.mean("lon", skipna=True)  # e.g. a zonal mean, as xarray makes easy
    summary = {
        "cells": int(da.size),
        "filled": int(da.notnull().sum()),
        "median_cell_error_pct": float(np.median(err)),
        "zonal_mean_range": (float(zonal.min()), float(zonal.max())),
    }
    print(da)
    print(summary)
    return summary


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", nargs="?", default="example_regrid")
    parser.add_argument("--size", default="1000x800")
    parser.add_argument("--res", type=float, default=2.0)
    args = parser.parse_args()
    main(args.out, tuple(int(v) for v in args.size.split("x")), args.res)
