"""How many points each reduction keeps and how well they rebuild the field, against truth.

Renders a realistic smooth-field figure (geodigitize.synthetic, 1000 x 800, jet_r, land,
coastlines, graticule, labels, colorbar), runs the seed's reduction (one point per flat
cluster) and ``--target-error`` at a few targets, and prints for each: points kept as %
of the data pixels, and the median / 95th-percentile reconstruction error as % of the
range measured against the decoded grid (what report.json says) and against the truth
(on the true data pixels the run decoded).

    PYTHONPATH=. python benchmarks/reduction_accuracy.py [--size 1000x800] [--field smooth]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from geodigitize import extract
from geodigitize.reconstruct import interpolate_points
from geodigitize.synthetic import render_figure


def against_truth(result, fig) -> tuple[float, float]:
    """Median and p95 |rebuilt - truth| (% of range) on true data pixels the run decoded."""
    rows, cols = np.nonzero(fig.data & result.valid)
    kept = result.kept
    rebuilt = interpolate_points(kept.col, kept.row, kept.value, cols + 0.5, rows + 0.5)
    err = np.abs(rebuilt - fig.truth[rows, cols]) / (fig.vmax - fig.vmin) * 100
    return float(np.median(err)), float(np.percentile(err, 95))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", default="1000x800")
    parser.add_argument("--field", default="smooth", choices=["smooth", "sst", "elevation"])
    parser.add_argument("--targets", default="0.5,0.3,0.2,0.1")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    fig = render_figure(width, height, field=args.field, seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        image, gcps = Path(tmp) / "map.png", Path(tmp) / "gcps.csv"
        fig.save(image, gcps_path=gcps)
        common = {
            "gcps": gcps,
            "cmap": fig.cmap,
            "vmin": fig.vmin,
            "vmax": fig.vmax,
            "region": fig.frame,
        }
        runs = [("seed (one point per flat cluster)", {})]
        runs += [
            (f"--target-error {t}%", {"target_error": float(t)}) for t in args.targets.split(",")
        ]
        print(f"{args.field} field, {width}x{height}, {fig.cmap} {fig.vmin}-{fig.vmax}")
        print(
            f"{'reduction':36s} {'points':>7s} {'% data':>7s} {'med dec':>8s} "
            f"{'p95 dec':>8s} {'med truth':>9s} {'p95 truth':>9s} {'time s':>7s}"
        )
        for name, extra in runs:
            start = time.perf_counter()
            result = extract(image, **common, **extra)
            elapsed = time.perf_counter() - start
            med, p95 = against_truth(result, fig)
            pct = 100 * len(result.points) / result.valid.sum()
            print(
                f"{name:36s} {len(result.points):7d} {pct:7.3f} "
                f"{result.check.median_pct:8.3f} {result.check.p95_pct:8.3f} "
                f"{med:9.3f} {p95:9.3f} {elapsed:7.1f}"
            )


if __name__ == "__main__":
    main()
