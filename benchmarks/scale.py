"""Time and peak memory of ``run`` at 1, 4, 16, 64 and 100 MP vs just reading the image.

Each measurement runs in a fresh process (peak memory from ``resource.getrusage``).
Targets (issue 5): at 100 MP, end to end within 8x the read time and <= 2 GB peak;
time growing linearly with pixels. ``python benchmarks/scale.py [--sizes 1,4,16,64,100]``
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from _figures import make_figure, region
from _measure import measure, read_png_body, run_body


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,4,16,64,100")
    args = parser.parse_args()
    print(
        f"{'MP':>6} {'read s':>8} {'run s':>8} {'run/read':>9} {'s per MP':>9} "
        f"{'peak MB':>8} {'points':>8}  slowest stages",
        flush=True,
    )
    for mp in (float(s) for s in args.sizes.split(",")):
        png, gcps = make_figure(mp)
        read = measure(read_png_body(str(png)))
        with tempfile.TemporaryDirectory() as tmp:
            ours = measure(run_body(png, gcps, Path(tmp) / "out", region(png)))
        timings = ours["extra"]["timings"]
        top = sorted(((v, k) for k, v in timings.items() if k != "strips"), reverse=True)[:4]
        print(
            f"{mp:6.0f} {read['seconds']:8.2f} {ours['seconds']:8.2f} "
            f"{ours['seconds'] / read['seconds']:9.1f} {ours['seconds'] / mp:9.3f} "
            f"{ours['peak_bytes'] / 2**20:8.0f} {ours['extra']['points']:8d}  "
            + ", ".join(f"{k} {v:.1f}" for v, k in top),
            flush=True,
        )


if __name__ == "__main__":
    main()
