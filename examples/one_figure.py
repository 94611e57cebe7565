"""One figure, start to finish: points, grid, isolines, styles and a preview.

Renders a realistic SST-like map figure with known truth (geodigitize.synthetic), runs
the whole pipeline on it with ``--target-error 0.5%`` and ``--contours``, and checks the
kept points against the truth.

    python examples/one_figure.py [OUT_DIR] [--size 1000x800]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import geodigitize
from geodigitize.synthetic import render_figure


def main(out: str | Path = "example_one", size: tuple[int, int] = (1000, 800)) -> dict:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    fig = render_figure(*size, field="sst", seed=1)
    fig.save(out / "map.png", gcps_path=out / "gcps.csv")
    # the same as:
    # geodigitize run map.png --gcps gcps.csv --cmap jet_r --vmin 0 --vmax 0.7 \
    #   --region x0,y0,x1,y1 --target-error 0.5% --contours --preview preview.png
    result, paths = geodigitize.run(
        out / "map.png",
        out / "result",
        gcps=out / "gcps.csv",
        cmap="jet_r",
        vmin=0.0,
        vmax=0.7,
        region=fig.frame,
        target_error="0.5%",
        contours=True,
        preview="preview.png",
        overwrite=True,
    )
    pts = result.points
    rows, cols = (pts["row"] - 0.5).astype(int), (pts["col"] - 0.5).astype(int)
    point_err = np.abs(pts["value"].to_numpy() - fig.truth[rows, cols]) / 0.7 * 100
    summary = {
        "points": len(pts),
        "median_reconstruction_error_pct": result.check.median_pct,
        "median_point_error_pct": float(np.nanmedian(point_err)),
        "files": sorted(p.name for p in paths.values()),
    }
    print(summary)
    return summary


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", nargs="?", default="example_one")
    parser.add_argument("--size", default="1000x800")
    args = parser.parse_args()
    main(args.out, tuple(int(v) for v in args.size.split("x")))
