"""geodigitize vs the seed's method, end to end, on a 1000x800 and a 13.6-MP figure.

Every measurement runs in its own fresh process (wall time, and peak memory from
``resource.getrusage``), side by side in one run; ratios are what to read, machines are
noisy. ``python benchmarks/speed.py [--big-mp 13.6]``

Points: the seed's flat test (right and lower neighbours only, last row and column
dropped) and its representative (nearest *flat* pixel to the centroid, of any cluster)
differ from geodigitize's (documented in seed_method.py), so the point sets are not
identical; the script reports how many of geodigitize's points the seed also keeps at the
same pixel, and both reconstruction errors (how well each point set rebuilds the field).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from _figures import make_figure, make_figure_wh, region
from _measure import measure, read_png_body, run_body

SEED_BODY = """
from benchmarks.seed_method import seed_points
x, y, v = seed_points({png!r})
import numpy as np
np.save({dump!r}, np.column_stack([x, y, v]))
extra = {{"points": int(x.size)}}
"""


def compare(png, gcps, tmp: Path) -> dict:
    import numpy as np
    import pyogrio

    reg = region(png)
    read = measure(read_png_body(str(png)))
    ours = measure(run_body(png, gcps, tmp / "ours", reg))
    dump = str(tmp / "seed.npy")
    seed = measure(SEED_BODY.format(png=str(png), dump=dump))
    theirs = np.load(dump)
    mine = pyogrio.read_dataframe(tmp / "ours" / "points.gpkg", read_geometry=False)
    a = set(zip(mine["col"], mine["row"], strict=True))
    b = set(zip(theirs[:, 0], theirs[:, 1], strict=True))
    report = json.loads((tmp / "ours" / "report.json").read_text())
    return {
        "figure": Path(png).name,
        "read_s": read["seconds"],
        "ours_s": ours["seconds"],
        "ours_peak_mb": ours["peak_bytes"] / 2**20,
        "seed_s": seed["seconds"],
        "seed_peak_mb": seed["peak_bytes"] / 2**20,
        "ratio": seed["seconds"] / ours["seconds"],
        "ours_points": len(a),
        "seed_points": len(b),
        "shared_points": len(a & b),
        "ours_recon_median_pct": report["reconstruction"]["median_abs_error_pct"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--big-mp", type=float, default=13.6)
    args = parser.parse_args()
    figures = [make_figure_wh(1000, 800), make_figure(args.big_mp)]
    rows = []
    for png, gcps in figures:
        with tempfile.TemporaryDirectory() as tmp:
            rows.append(compare(png, gcps, Path(tmp)))
        r = rows[-1]
        print(
            f"{r['figure']:>20}: read {r['read_s']:6.2f} s | geodigitize {r['ours_s']:6.2f} s "
            f"{r['ours_peak_mb']:6.0f} MB | seed {r['seed_s']:7.2f} s {r['seed_peak_mb']:6.0f} MB"
            f" | seed/geodigitize {r['ratio']:6.1f}x | points ours {r['ours_points']}, seed "
            f"{r['seed_points']}, same pixel {r['shared_points']}",
            flush=True,
        )
    print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
