"""Time and peak memory of ``run`` with masking options that used to need the whole image
(issue 13: ``--exclude-color``, ``--shaded``), beside the default run and the read.

Each measurement runs in a fresh process (peak memory from ``resource.getrusage``); every
option here streams a PNG above 2 MP in strips, so the peak stays that of the default run.
``python benchmarks/masking_scale.py [--mp 13.6,100]``
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from _figures import make_figure, region
from _measure import measure, read_png_body, run_body

CASES = {
    "default": {},
    "--exclude-color black": {"exclude_color": "black"},
    "--shaded soft": {"shaded": "soft"},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mp", default="13.6,100")
    args = parser.parse_args()
    print(f"{'MP':>6} {'options':24s} {'read s':>7} {'run s':>7} {'run/read':>9} {'peak MB':>8}")
    for mp in (float(s) for s in args.mp.split(",")):
        png, gcps = make_figure(mp)
        read = measure(read_png_body(str(png)))
        for name, options in CASES.items():
            with tempfile.TemporaryDirectory() as tmp:
                ours = measure(run_body(png, gcps, Path(tmp) / "out", region(png), **options))
            print(
                f"{mp:6.1f} {name:24s} {read['seconds']:7.2f} {ours['seconds']:7.2f} "
                f"{ours['seconds'] / read['seconds']:9.1f} {ours['peak_bytes'] / 2**20:8.0f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
