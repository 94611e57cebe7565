"""Make the example figure shipped in this folder, from a known field.

`sst_jet_r.png` is a 1000 x 800 sea-surface-temperature-like map drawn with matplotlib's
``jet_r`` colormap between 0 and 0.7, with grey land, black coastlines, a graticule,
labels, a title, a colorbar and white margins; `sst_jet_r_gcps.csv` holds the exact pixel
positions of its graticule crossings (GDAL's pixel convention) with their lon/lat. The
map frame is the box 69,224,875,582 (pixels). Because the field is known, every pixel's
true value and position are known too (see ``benchmarks/accuracy.py``).

Run from the repository root::

    python examples/make_example.py [output folder]
"""

from __future__ import annotations

import sys
from pathlib import Path

from geodigitize.synthetic import render_figure


def main(folder: Path) -> None:
    fig = render_figure(1000, 800, cmap="jet_r", vmin=0.0, vmax=0.7, field="sst", seed=0)
    folder.mkdir(parents=True, exist_ok=True)
    fig.save(folder / "sst_jet_r.png", gcps_path=folder / "sst_jet_r_gcps.csv")
    x0, y0, x1, y1 = fig.frame
    print(f"wrote {folder / 'sst_jet_r.png'} and its GCPs; map frame {x0:g},{y0:g},{x1:g},{y1:g}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent)
