"""A matplotlib figure as PNG and as PDF, decoded against the truth:
`python benchmarks/pdf_accuracy.py [--dpi 100]`.

The figure is a jet map of a known smooth field (``imshow`` with its image embedded in
the PDF, and a 90 x 45-cell ``pcolormesh`` drawn as vector quads), with a line, a title
and a colorbar. The PNG is saved by Agg at `dpi`; the PDF is read by geodigitize at the
same dpi, rendered (``--pdf-image render``) and, for ``imshow``, as the embedded image at
its native resolution. Each row gives the data pixels decoded and the median error
against the field, as % of the range; GCPs are the map's corners measured on the page.
Issue 16: the PDF reaches the accuracy of the PNG at the same dpi.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import geodigitize

#: Figure 6 x 3.5 inches, map axes at [0.1, 0.15, 0.7, 0.7] of it.
FIG = (6.0, 3.5)
AXES = (0.1, 0.15, 0.7, 0.7)


def field(lon, lat):
    return 0.5 + 0.3 * np.sin(np.radians(lon) * 2) * np.cos(np.radians(lat) * 3) + 0.15 * lat / 90


def frame(dpi):
    """The map axes on the page, in page pixels at `dpi`: x0, y0 (top), x1, y1."""
    w, h = FIG[0] * dpi, FIG[1] * dpi
    left, bottom, width, height = AXES
    return left * w, (1 - bottom - height) * h, (left + width) * w, (1 - bottom) * h


def figure(path, kind, dpi=100, cells=(90, 45)):
    """A jet map of :func:`_field` with a line, a title and a colorbar."""
    fig = Figure(figsize=FIG)
    ax = fig.add_axes(AXES)
    if kind == "pcolormesh":
        lon = np.linspace(-180, 180, cells[0] + 1)
        lat = np.linspace(-90, 90, cells[1] + 1)
        lo, la = np.meshgrid((lon[:-1] + lon[1:]) / 2, (lat[:-1] + lat[1:]) / 2)
        drawn = ax.pcolormesh(lon, lat, field(lo, la), cmap="jet", vmin=0, vmax=1)
    else:
        lo, la = np.meshgrid(np.linspace(-179.5, 179.5, 360), np.linspace(89.5, -89.5, 180))
        drawn = ax.imshow(
            field(lo, la),
            cmap="jet",
            vmin=0,
            vmax=1,
            aspect="auto",
            extent=(-180, 180, -90, 90),
            interpolation="none",
        )
    ax.set_xlim(-180, 180)
    ax.set_ylim(-90, 90)
    ax.plot([-180, 180], [0, 0], "k", lw=0.8)
    ax.set_title("a field")
    fig.colorbar(drawn, cax=fig.add_axes([0.85, 0.15, 0.03, 0.7]))
    fig.savefig(path, dpi=dpi)
    return path


def gcps_csv(tmp_path, dpi, units="pixels"):
    """The map's corners, measured on the page (pixels at `dpi`, or PDF points)."""
    x0, y0, x1, y1 = frame(72 if units == "points" else dpi)
    path = tmp_path / f"gcps_{units}.csv"
    path.write_text(
        f"col,row,lon,lat\n{x0},{y0},-180,90\n{x1},{y0},180,90\n"
        f"{x0},{y1},-180,-90\n{x1},{y1},180,-90\n"
    )
    return path


def accuracy(result):
    """Share of frame pixels decoded and median error (% of range) against the field."""
    rows, cols = np.nonzero(result.valid)
    lon, lat = result.georef.pixel_to_crs(cols + 0.5, rows + 0.5, "EPSG:4326")
    err = np.abs(result.values[rows, cols] - field(np.asarray(lon), np.asarray(lat))) * 100
    return rows.size, float(np.median(err))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dpi", type=float, default=100)
    args = parser.parse_args()
    dpi = args.dpi
    x0, y0, x1, y1 = frame(dpi)
    region = (x0 + 1, y0 + 1, x1 - 1, y1 - 1)
    print("| figure | read as | image | data pixels decoded | median error |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        gcps = gcps_csv(folder, dpi)
        for kind in ("imshow", "pcolormesh"):
            png = figure(folder / f"{kind}.png", kind, dpi)
            pdf = figure(folder / f"{kind}.pdf", kind, dpi)
            runs = [("PNG", png, {}), ("PDF, rendered", pdf, {"pdf_image": "render"})]
            if kind == "imshow":
                runs.append(("PDF, embedded image", pdf, {"pdf_image": "largest"}))
            for how, path, extra in runs:
                kwargs = {"region": region} if "embedded" not in how else {}
                if path.suffix == ".pdf":
                    kwargs["dpi"] = dpi
                result = geodigitize.extract(
                    path, gcps=gcps, cmap="jet", vmin=0, vmax=1, **kwargs, **extra
                )
                n, err = accuracy(result)
                h, w = result.image.shape
                print(f"| {kind} | {how} | {w} x {h} | {n:,} | {err:.3f} % |")


if __name__ == "__main__":
    main()
