"""A figure whose colormap is unknown: read the colour scale from its own colorbar.

Only the colorbar's box (pixels) and the values at its ends are needed:

    geodigitize run map.png --gcps gcps.csv --colorbar x0,y0,x1,y1 --vmin 0 --vmax 0.7

    python examples/colorbar_only.py [OUT_DIR] [--size 1000x800]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import geodigitize
from geodigitize.synthetic import render_figure


def main(out: str | Path = "example_colorbar", size: tuple[int, int] = (1000, 800)) -> dict:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    # a colormap the user does not know the name of
    fig = render_figure(*size, cmap="RdYlBu_r", vmin=-2.0, vmax=30.0, field="sst", seed=2)
    fig.save(out / "map.png", gcps_path=out / "gcps.csv")
    x0, y0, x1, y1 = fig.colorbar  # a vertical colorbar: vmin at the bottom
    box = f"{x0 + 1:g},{y0 + 1:g},{x1 - 1:g},{y1 - 1:g}"  # inside its outline
    result, _ = geodigitize.run(
        out / "map.png",
        out / "result",
        gcps=out / "gcps.csv",
        colorbar=box,
        vmin=fig.vmin,
        vmax=fig.vmax,
        region=fig.frame,
        overwrite=True,
    )
    data = result.valid & fig.data
    err = np.abs(result.decoded.values[data] - fig.truth[data]) / (fig.vmax - fig.vmin) * 100
    summary = {
        "colorbar": box,
        "decoded_pixels": int(data.sum()),
        "median_value_error_pct": float(np.median(err)),
    }
    print(summary)
    return summary


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", nargs="?", default="example_colorbar")
    parser.add_argument("--size", default="1000x800")
    args = parser.parse_args()
    main(args.out, tuple(int(v) for v in args.size.split("x")))
