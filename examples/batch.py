"""A batch: many figures of one series, one GCP file each, one command.

    geodigitize batch 'maps/*.png' --gcps-dir gcps/ --cmap jet_r --vmin 0 --vmax 0.7 \
        --out results/

Each ``maps/NAME.png`` is paired with ``gcps/NAME.csv`` and written to ``results/NAME/``.

    python examples/batch.py [OUT_DIR] [--size 1000x800] [--count 3]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from geodigitize.cli import app
from geodigitize.synthetic import render_figure


def main(
    out: str | Path = "example_batch", size: tuple[int, int] = (1000, 800), count: int = 3
) -> list[Path]:
    out = Path(out)
    (out / "maps").mkdir(parents=True, exist_ok=True)
    (out / "gcps").mkdir(exist_ok=True)
    frame = None
    for month in range(count):
        fig = render_figure(*size, field="sst", seed=10 + month)
        name = f"sst_{month + 1:02d}"
        fig.save(out / "maps" / f"{name}.png", gcps_path=out / "gcps" / f"{name}.csv")
        frame = fig.frame
    args = [
        "batch",
        str(out / "maps" / "*.png"),
        "--gcps-dir",
        str(out / "gcps"),
        "--cmap",
        "jet_r",
        "--vmin",
        "0",
        "--vmax",
        "0.7",
        "--region",
        ",".join(f"{v:g}" for v in frame),
        "--out",
        str(out / "results"),
        "--overwrite",
        "--quiet",
    ]
    app(args, standalone_mode=False)
    results = sorted(p.parent for p in (out / "results").glob("*/points.gpkg"))
    print(f"{len(results)} figures extracted into {out / 'results'}")
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", nargs="?", default="example_batch")
    parser.add_argument("--size", default="1000x800")
    parser.add_argument("--count", type=int, default=3)
    args = parser.parse_args()
    main(args.out, tuple(int(v) for v in args.size.split("x")), args.count)
