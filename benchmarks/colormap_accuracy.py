"""Figures drawn with the colormaps papers use decode by name (the catalogue of issue 16).

Each figure is drawn by matplotlib itself with the colormap object of the package that
publishes it (``cmcrameri.cm.batlow``, ``cmocean.cm.thermal``, matplotlib's ``jet_r``):
a known smooth field on a lon/lat frame, drawn with ``imshow`` (one value per pixel) or
``pcolormesh`` (4 x 4 pixel cells), black coastline-like curves, a graticule and text
labels on top, axes, ticks and a colorbar around. The frame's pixel box is known, so
every pixel's true value is known; the overlays' pixels (the frame's outline included)
are found by drawing the figure a second time without them (antialiased fringes count
as overlay).

``geodigitize.extract`` then decodes each figure with ``cmap=NAME`` (the catalogue name,
not the object), the known vmin/vmax, the frame as ``region`` and GCPs at the frame's
corners, and the script prints, per figure: the share of true data pixels decoded, the
median |error| as % of the range, and the share of line/text pixels decoded (and decoded
more than 1 % of the range off). Targets: >= 99 % decoded, median <= 0.2 %.

Run: ``python benchmarks/colormap_accuracy.py`` (about half a minute); ``--json`` prints
every number.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import cmcrameri.cm
import cmocean.cm
import matplotlib.pyplot as plt
import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import geodigitize

WIDTH, HEIGHT, DPI = 900, 600, 100
FRAME = (90, 50, 810, 530)  # x0, y0, x1, y1 pixel corners of the axes (720 x 480)
EXTENT = (-180.0, 180.0, -80.0, 80.0)  # west, east, south, north
CELL = 4  # pcolormesh cell size in pixels
TARGETS = {"data_decoded_pct": (">=", 99.0), "median_error_pct": ("<=", 0.2)}


@dataclass(frozen=True)
class Case:
    """One figure: the name given to geodigitize, the package's own colormap, the drawing."""

    name: str
    cmap: object
    vmin: float
    vmax: float
    draw: str  # "imshow" or "pcolormesh"


CASES = [
    Case("batlow", cmcrameri.cm.batlow, -2.0, 30.0, "imshow"),
    Case("thermal", cmocean.cm.thermal, -2.0, 30.0, "imshow"),
    Case("jet_r", matplotlib.colormaps["jet_r"], 0.0, 0.7, "imshow"),
    Case("batlow", cmcrameri.cm.batlow, -2.0, 30.0, "pcolormesh"),
]


def field(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """A smooth field in 0.02-0.98 (fraction of the range) at `lon`, `lat` (degrees)."""
    t = (
        0.05
        + 0.8 * np.cos(np.deg2rad(lat)) ** 2
        + 0.12 * np.sin(np.deg2rad(2 * lon)) * np.cos(np.deg2rad(3 * lat))
    )
    return np.clip(t, 0.02, 0.98)


def truth(case: Case) -> np.ndarray:
    """True value of every frame pixel, shape (rows, cols) of the frame."""
    x0, y0, x1, y1 = FRAME
    west, east, south, north = EXTENT
    step = CELL if case.draw == "pcolormesh" else 1
    cols = (np.arange(x1 - x0) // step * step + step / 2) / (x1 - x0)
    rows = (np.arange(y1 - y0) // step * step + step / 2) / (y1 - y0)
    lon = west + cols[None, :] * (east - west)
    lat = north - rows[:, None] * (north - south)
    return case.vmin + field(lon, lat) * (case.vmax - case.vmin)


def draw(case: Case, overlays: bool) -> np.ndarray:
    """The figure as an (HEIGHT, WIDTH, 3) uint8 array, drawn by matplotlib."""
    x0, y0, x1, y1 = FRAME
    west, east, south, north = EXTENT
    fig = plt.figure(figsize=(WIDTH / DPI, HEIGHT / DPI), dpi=DPI)
    ax = fig.add_axes((x0 / WIDTH, 1 - y1 / HEIGHT, (x1 - x0) / WIDTH, (y1 - y0) / HEIGHT))
    values = truth(case)
    if case.draw == "imshow":
        mappable = ax.imshow(
            values,
            extent=EXTENT,
            origin="upper",
            interpolation="nearest",
            aspect="auto",
            cmap=case.cmap,
            vmin=case.vmin,
            vmax=case.vmax,
        )
    else:
        lon_edges = np.linspace(west, east, (x1 - x0) // CELL + 1)
        lat_edges = np.linspace(north, south, (y1 - y0) // CELL + 1)
        mappable = ax.pcolormesh(
            lon_edges,
            lat_edges,
            values[::CELL, ::CELL],
            cmap=case.cmap,
            vmin=case.vmin,
            vmax=case.vmax,
        )
    ax.set_xlim(west, east)
    ax.set_ylim(south, north)
    ax.set_xlabel("longitude")
    ax.set_ylabel("latitude")
    ax.set_title(f"{case.name} ({case.draw})", fontsize=9)
    cax = fig.add_axes((830 / WIDTH, 1 - y1 / HEIGHT, 15 / WIDTH, (y1 - y0) / HEIGHT))
    fig.colorbar(mappable, cax=cax)
    if not overlays:  # the bare field: the frame's outline is an overlay too
        for spine in ax.spines.values():
            spine.set_visible(False)
    else:
        lon = np.linspace(west, east, 721)
        ax.plot(
            lon,
            20 * np.sin(np.deg2rad(3 * lon)) + 10 * np.cos(np.deg2rad(7 * lon)),
            color="black",
            lw=1.2,
        )
        for v in range(-150, 180, 30):
            ax.axvline(v, color="black", lw=0.6, alpha=0.6)
        for v in (-60, -30, 0, 30, 60):
            ax.axhline(v, color="black", lw=0.6, alpha=0.6)
        ax.text(-100, -55, "Southern Ocean", fontsize=11)
        ax.text(40, 50, "Eurasia", fontsize=11, color="white")
    fig.canvas.draw()
    rgb = np.asarray(fig.canvas.buffer_rgba())[:, :, :3].copy()
    plt.close(fig)
    return rgb


def measure(case: Case, work: Path) -> dict:
    """Decode one figure with geodigitize and compare every frame pixel with the truth."""
    image, plain = draw(case, overlays=True), draw(case, overlays=False)
    png, gcps = work / "figure.png", work / "gcps.csv"
    Image.fromarray(image).save(png)
    x0, y0, x1, y1 = FRAME
    west, east, south, north = EXTENT
    gcps.write_text(
        "col,row,lon,lat\n"
        f"{x0},{y0},{west},{north}\n{x1},{y0},{east},{north}\n"
        f"{x0},{y1},{west},{south}\n{x1},{y1},{east},{south}\n"
    )
    result = geodigitize.extract(
        png,
        gcps=gcps,
        cmap=case.name,
        vmin=case.vmin,
        vmax=case.vmax,
        region=",".join(str(v) for v in FRAME),
    )
    got = result.values[y0:y1, x0:x1]
    ink = np.any(image != plain, axis=2)[y0:y1, x0:x1]
    data = ~ink
    decoded = ~np.isnan(got)
    err = np.abs(got - truth(case)) / (case.vmax - case.vmin) * 100
    return {
        "figure": f"{case.name} {case.draw}",
        "cmap_source": result.scale.to_dict().get("cmap_source", ""),
        "data_decoded_pct": float(100 * decoded[data].mean()),
        "median_error_pct": float(np.median(err[decoded & data])),
        "p95_error_pct": float(np.percentile(err[decoded & data], 95)),
        "line_text_decoded_pct": float(100 * decoded[ink].mean()),
        "line_text_wrong_pct": float(100 * (decoded & ink & (err > 1)).sum() / ink.sum()),
    }


def passes(row: dict) -> bool:
    return all(row[k] >= t if op == ">=" else row[k] <= t for k, (op, t) in TARGETS.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print every number as JSON")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for case in CASES:
            rows.append(measure(case, Path(tmp)))
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(
        f"figures {WIDTH}x{HEIGHT}, frame {FRAME}; targets: data decoded >= 99 %, "
        "median error <= 0.2 % of the range"
    )
    print(
        f"{'figure':20s} {'source':18s} {'data %':>8s} {'median %':>9s} {'p95 %':>7s} "
        f"{'line/text %':>12s} {'wrong %':>8s}  verdict"
    )
    for r in rows:
        print(
            f"{r['figure']:20s} {r['cmap_source']:18s} {r['data_decoded_pct']:8.2f} "
            f"{r['median_error_pct']:9.3f} {r['p95_error_pct']:7.3f} "
            f"{r['line_text_decoded_pct']:12.2f} {r['line_text_wrong_pct']:8.2f}  "
            f"{'PASS' if passes(r) else 'FAIL'}"
        )
    print("all PASS" if all(passes(r) for r in rows) else "some FAIL")


if __name__ == "__main__":
    main()
