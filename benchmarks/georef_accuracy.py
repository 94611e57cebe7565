"""Georeferencing accuracy on Mercator and Lambert conformal figures with graticule GCPs.

Each figure is rendered by :func:`geodigitize.synthetic.render_figure`, which returns the
graticule intersections inside the frame as GCPs (col, row, lon, lat) and the exact
lon/lat of every pixel centre. For every frame pixel the fitted georeference places the
pixel centre at a lon/lat; its error is the distance to the true lon/lat measured in
*true pixels* (both projected into the figure's own CRS, where the frame is linear, and
divided by the pixel size there). Rows:

- ``--crs`` (the figure's projection) with an affine fit: target every pixel <= 0.3 px;
- ``auto`` without ``--crs`` (fitted in lon/lat): target every pixel <= 1 px;
- the old least-squares affine in lon/lat, for comparison.

Each case runs with exact GCPs and with GCPs read with 0.2 px (1 sigma) reading error.

Run: ``python benchmarks/georef_accuracy.py`` (``--quick`` for a smaller figure).
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import pyproj

from geodigitize.gcps import GCPSet
from geodigitize.georef import georeference
from geodigitize.synthetic import render_figure

CASES = [
    ("--crs, affine", "affine", True),
    ("auto, no --crs", "auto", False),
    ("affine, no --crs", "affine", False),
]


def _truth_pixel_size(fig, to_map: pyproj.Transformer) -> tuple[float, float]:
    """Projected size of one pixel (x, y): the frame is linear in the figure's CRS."""
    x, y = to_map.transform(fig.lon, fig.lat)
    x, y = np.asarray(x), np.asarray(y)
    dx = np.nanmedian(np.diff(x, axis=1))
    dy = np.nanmedian(np.diff(y, axis=0))
    return float(dx), float(dy)


def _errors(fig, geo, to_map, pixel) -> np.ndarray:
    rows, cols = np.nonzero(np.isfinite(fig.lon))
    lon, lat = geo.pixel_to_crs(cols + 0.5, rows + 0.5, "EPSG:4326")
    xp, yp = to_map.transform(lon, lat)
    xt, yt = to_map.transform(fig.lon[rows, cols], fig.lat[rows, cols])
    return np.hypot((np.asarray(xp) - xt) / pixel[0], (np.asarray(yp) - yt) / pixel[1])


def run(width: int, height: int, gcp_step: float, seed: int = 0) -> list[dict]:
    results = []
    for projection in ("mercator", "lcc"):
        fig = render_figure(width, height, projection=projection, gcp_step=gcp_step, seed=seed)
        to_map = pyproj.Transformer.from_crs("EPSG:4326", fig.crs, always_xy=True)
        pixel = _truth_pixel_size(fig, to_map)
        shape = fig.image.shape[:2]
        rng = np.random.default_rng(seed)
        noise = rng.normal(0.0, 0.2, (len(fig.gcps), 2))
        for reading, jitter in (("exact", 0.0), ("0.2 px", 1.0)):
            col = fig.gcps[:, 0] + jitter * noise[:, 0]
            row = fig.gcps[:, 1] + jitter * noise[:, 1]
            gcps = GCPSet.from_arrays(col, row, fig.gcps[:, 2], fig.gcps[:, 3])
            for name, kind, use_crs in CASES:
                start = time.perf_counter()
                geo = georeference(gcps, shape, kind=kind, crs=fig.crs if use_crs else None)
                elapsed = time.perf_counter() - start
                err = _errors(fig, geo, to_map, pixel)
                results.append(
                    {
                        "figure": projection,
                        "gcps": len(gcps),
                        "reading": reading,
                        "case": name,
                        "chosen": (geo.selection or {}).get("projection") or geo.transform.kind,
                        "median": float(np.median(err)),
                        "p99": float(np.percentile(err, 99)),
                        "max": float(err.max()),
                        "fit_s": elapsed,
                    }
                )
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="500 x 400 figures")
    parser.add_argument(
        "--gcp-step", type=float, default=10.0, help="graticule spacing of the GCPs, degrees"
    )
    args = parser.parse_args(argv)
    width, height = (500, 400) if args.quick else (1000, 800)
    results = run(width, height, args.gcp_step)
    cmd = "python benchmarks/georef_accuracy.py" + (" --quick" if args.quick else "")
    if args.gcp_step != 10.0:
        cmd += f" --gcp-step {args.gcp_step:g}"
    print(
        f"georeferencing error over every frame pixel of {width}x{height} figures, "
        f"in true pixels ({cmd})"
    )
    print(
        f"{'figure':9} {'GCPs':>4} {'reading':8} {'case':18} {'chosen':18} "
        f"{'median':>8} {'p99':>8} {'max':>8} {'target':>7} {'fit s':>6}"
    )
    ok = True
    for r in results:
        target = {"--crs, affine": 0.3, "auto, no --crs": 1.0}.get(r["case"])
        verdict = ""
        if target is not None:
            passed = r["max"] <= target
            ok &= passed or r["reading"] != "exact"
            verdict = f"{'ok' if passed else 'MISS'} {target:g}"
        print(
            f"{r['figure']:9} {r['gcps']:>4} {r['reading']:8} {r['case']:18} "
            f"{r['chosen']:18} {r['median']:8.3f} {r['p99']:8.3f} {r['max']:8.3f} "
            f"{verdict:>7} {r['fit_s']:6.2f}"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
