"""Accuracy of `geodigitize run` against known truth (the `run` issue's acceptance test).

Renders a realistic figure with `geodigitize.synthetic` (continuous colormap, coastlines,
grey land, graticule, labels, title, colorbar, white margins), whose every pixel's value
and position are known, runs the real command line on it, re-reads the written
`grid.tif` and `points.gpkg`, and compares:

- median absolute value error of decoded data pixels, as % of (vmax - vmin);
- share of true data pixels decoded;
- share of line, text and land pixels decoded (any overlay touching a pixel, antialiased
  fringes included, makes it a line/text/land pixel), and how many of those were decoded
  more than 1 % of the range off ("wrongly decoded");
- pixels decoded outside --region (page, colorbar, title);
- share of points whose value is within 1 % of the range of the truth at their location;
- georeferencing error of the points in pixels, with exact GCPs and with GCPs read with
  0.3-pixel (1 sigma) reading error, as a person clicking graticule crossings would.

Usage::

    python benchmarks/accuracy.py            # the 1000x800 jet_r figure, PNG
    python benchmarks/accuracy.py --json     # every number as JSON
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import pyogrio
import rasterio
from typer.testing import CliRunner

from geodigitize.cli import app
from geodigitize.synthetic import render_figure

TARGETS = {
    "median_error_pct": ("<=", 0.2),
    "data_decoded_pct": (">=", 99.0),
    "overlay_decoded_pct": ("<=", 1.0),
    "page_decoded_px": ("<=", 0),
    "points_within_1pct_pct": (">=", 99.0),
    "georef_error_px_max": ("<=", 0.1),
}


def run_cli(image: Path, gcps: Path, out: Path, fig, extra: list[str]) -> None:
    region = ",".join(f"{v:g}" for v in fig.frame)
    args = [
        "run",
        str(image),
        "--gcps",
        str(gcps),
        "--cmap",
        fig.cmap,
        "--vmin",
        str(fig.vmin),
        "--vmax",
        str(fig.vmax),
        "--region",
        region,
        "--out",
        str(out),
        "-q",
        *extra,
    ]
    res = CliRunner().invoke(app, args)
    if res.exit_code != 0:
        sys.exit(f"geodigitize run failed: {res.output}")


def pixel_error(fig, pts) -> np.ndarray:
    """Distance in pixels between each point's position and its pixel's true position."""
    i = (pts["row"].to_numpy() - 0.5).astype(int)
    j = (pts["col"].to_numpy() - 0.5).astype(int)
    x0, y0, x1, y1 = fig.frame
    west, east, south, north = fig.extent
    px_x = (east - west) / (x1 - x0)
    px_y = (north - south) / (y1 - y0)
    dx = (pts.geometry.x.to_numpy() - fig.lon[i, j]) / px_x
    dy = (pts.geometry.y.to_numpy() - fig.lat[i, j]) / px_y
    return np.hypot(dx, dy)


def grid_metrics(fig, grid: np.ndarray) -> dict:
    decoded = ~np.isnan(grid)
    value_range = fig.vmax - fig.vmin
    err = np.abs(grid - fig.truth) / value_range * 100
    overlay = fig.lines | fig.text | fig.land
    out = {
        "median_error_pct": float(np.median(err[decoded & fig.data])),
        "p95_error_pct": float(np.percentile(err[decoded & fig.data], 95)),
        "data_decoded_pct": float(100 * decoded[fig.data].mean()),
        "overlay_decoded_pct": float(100 * decoded[overlay & ~fig.page].mean()),
        "overlay_wrongly_decoded_pct": float(
            100 * (decoded & overlay & ~fig.page & (err > 1)).sum() / (overlay & ~fig.page).sum()
        ),
        "page_decoded_px": int(decoded[fig.page].sum()),
    }
    for name in ("lines", "text", "land"):
        mask = getattr(fig, name) & ~fig.page
        out[f"{name}_decoded_pct"] = float(100 * decoded[mask].mean())
    return out


def point_metrics(fig, pts) -> dict:
    i = (pts["row"].to_numpy() - 0.5).astype(int)
    j = (pts["col"].to_numpy() - 0.5).astype(int)
    err = np.abs(pts["value"].to_numpy() - fig.truth[i, j]) / (fig.vmax - fig.vmin) * 100
    geo = pixel_error(fig, pts)
    return {
        "points": len(pts),
        "points_within_1pct_pct": float(100 * (err <= 1).mean()),
        "georef_error_px_median": float(np.median(geo)),
        "georef_error_px_max": float(geo.max()),
    }


def read_full_grid(path: Path, fig) -> np.ndarray:
    """grid.tif (cropped to the decoded pixels) placed back on the whole image, NaN around."""
    with rasterio.open(path) as src:
        band = src.read(1).astype(np.float64)
        west_px, north_px = src.transform.c, src.transform.f
    x0, y0, x1, y1 = fig.frame
    west, east, south, north = fig.extent
    c0 = round(x0 + (west_px - west) / (east - west) * (x1 - x0))
    r0 = round(y0 + (north - north_px) / (north - south) * (y1 - y0))
    full = np.full(fig.truth.shape, np.nan)
    full[r0 : r0 + band.shape[0], c0 : c0 + band.shape[1]] = band
    return full


def noisy_gcps(fig, path: Path, sigma: float, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    g = fig.gcps.copy()
    g[:, :2] += rng.normal(0, sigma, (len(g), 2))
    rows = ["col,row,lon,lat"] + [",".join(f"{v:.6f}" for v in r) for r in g]
    path.write_text("\n".join(rows) + "\n")


def measure(fig, work: Path, extra: list[str]) -> dict:
    image = work / ("map.jpg" if fig.jpeg_quality else "map.png")
    gcps = work / "gcps.csv"
    fig.save(image, gcps_path=gcps, quality=fig.jpeg_quality)
    run_cli(image, gcps, work / "exact", fig, extra)
    grid = read_full_grid(work / "exact" / "grid.tif", fig)
    pts = pyogrio.read_dataframe(work / "exact" / "points.gpkg", layer="points")
    result = {**grid_metrics(fig, grid), **point_metrics(fig, pts)}
    noisy_gcps(fig, work / "noisy.csv", 0.3)
    run_cli(image, work / "noisy.csv", work / "noisy", fig, extra)
    noisy = pyogrio.read_dataframe(work / "noisy" / "points.gpkg", layer="points")
    geo = pixel_error(fig, noisy)
    result["georef_noisy_gcps_px_median"] = float(np.median(geo))
    result["georef_noisy_gcps_px_max"] = float(geo.max())
    result["gcps"] = len(fig.gcps)
    return result


def verdict(result: dict) -> dict[str, bool]:
    ok = {}
    for key, (op, target) in TARGETS.items():
        value = result[key]
        ok[key] = value <= target if op == "<=" else value >= target
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=1000)
    parser.add_argument("--height", type=int, default=800)
    parser.add_argument("--cmap", default="jet_r")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jpeg", type=int, default=None, help="JPEG quality (default PNG)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("extra", nargs="*", help="extra options passed to geodigitize run")
    args = parser.parse_args()
    fig = render_figure(
        args.width,
        args.height,
        cmap=args.cmap,
        vmin=0.0,
        vmax=0.7,
        seed=args.seed,
        jpeg_quality=args.jpeg,
    )
    with tempfile.TemporaryDirectory() as tmp:
        result = measure(fig, Path(tmp), args.extra)
    ok = verdict(result)
    if args.json:
        print(json.dumps({"result": result, "pass": ok}, indent=2))
        return
    print(
        f"figure {args.width}x{args.height} {args.cmap} seed {args.seed}"
        f"{f' JPEG q{args.jpeg}' if args.jpeg else ' PNG'}, frame {fig.frame}"
    )
    for key, value in result.items():
        mark = ""
        if key in ok:
            op, target = TARGETS[key]
            mark = f"  target {op} {target}  {'PASS' if ok[key] else 'FAIL'}"
        print(
            f"  {key:32s} {value:12.4f}{mark}"
            if isinstance(value, float)
            else f"  {key:32s} {value:12d}{mark}"
        )
    print("all PASS" if all(ok.values()) else "some FAIL")


if __name__ == "__main__":
    main()
