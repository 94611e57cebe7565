"""Large test figures made quickly with numpy (matplotlib is too slow at 100 MP).

A smooth field painted through matplotlib's ``jet_r`` lookup table (exactly as
matplotlib colours it, 8-bit), a frame inside white margins (black spines just outside
the field, with ticks every 30 degrees pointing out, so ``--region auto`` finds it),
black coastline-like curves and grid lines, and the GCPs of the frame's corners. Files
go to ``benchmarks/_work/`` (git-ignored) and are reused when they exist.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
from PIL import Image

WORK = Path(__file__).resolve().parent / "_work"
CMAP, VMIN, VMAX = "jet_r", 0.0, 0.7
EXTENT = (-180.0, 180.0, -80.0, 80.0)

Image.MAX_IMAGE_PIXELS = None


def _paint_rows(r0: int, r1: int, width: int, height: int, margin: int) -> np.ndarray:
    lut = (matplotlib.colormaps[CMAP](np.linspace(0, 1, 256)) * 255).round().astype(np.uint8)
    lut = lut[:, :3]
    x0, y0, x1, y1 = margin, margin, width - margin, height - margin
    rows = np.arange(r0, r1)[:, None] + 0.5
    cols = np.arange(width)[None, :] + 0.5
    lon = -180 + (cols - x0) / (x1 - x0) * 360
    lat = 80 - (rows - y0) / (y1 - y0) * 160
    t = np.clip(
        0.05
        + 0.85 * np.cos(np.deg2rad(lat)) ** 2
        + 0.15 * np.sin(np.deg2rad(2 * lon)) * np.cos(np.deg2rad(3 * lat)),
        0,
        1,
    )
    img = lut[np.minimum((t * 256).astype(np.int32), 255)]
    inside = (rows >= y0) & (rows < y1) & (cols >= x0) & (cols < x1)
    img[~inside] = 255
    # coastline-like wiggly curves and a 30-degree graticule, a few pixels wide
    lw = max(1.0, width / 2000)
    coast = np.abs(lat - (20 * np.sin(np.deg2rad(3 * lon)) + 10 * np.cos(np.deg2rad(7 * lon))))
    px_per_deg = (y1 - y0) / 160
    line = coast * px_per_deg < lw
    line |= (np.abs(((lon + 180) % 30) - 15) > 15 - lw / px_per_deg * 0.5) & inside
    line |= (np.abs(((lat + 90) % 30) - 15) > 15 - lw / px_per_deg * 0.5) & inside
    img[line & inside] = 0
    # the spines: `lw` pixels just outside the field; ticks 4 lw long beyond them
    spine = max(1, round(lw))
    tick = 4 * spine
    near_x = (cols >= x0 - spine) & (cols < x1 + spine)
    near_y = (rows >= y0 - spine) & (rows < y1 + spine)
    frame = near_x & near_y & ~inside
    on_lon = np.abs(((lon + 180 + 15) % 30) - 15) * (x1 - x0) / 360 < spine / 2
    on_lat = np.abs(((lat + 90 + 15) % 30) - 15) * px_per_deg < spine / 2
    frame |= on_lon & (
        ((rows >= y0 - spine - tick) & (rows < y0)) | ((rows >= y1) & (rows < y1 + spine + tick))
    )
    frame |= on_lat & (
        ((cols >= x0 - spine - tick) & (cols < x0)) | ((cols >= x1) & (cols < x1 + spine + tick))
    )
    img[frame] = 0
    return img


def make_figure(megapixels: float, name: str | None = None) -> tuple[Path, Path]:
    """A ``4:3`` figure of about `megapixels`; returns (png, gcps.csv), cached."""
    width = round(float(np.sqrt(megapixels * 1e6 * 4 / 3)))
    height = round(width * 3 / 4)
    return make_figure_wh(width, height, name)


def make_figure_wh(width: int, height: int, name: str | None = None) -> tuple[Path, Path]:
    WORK.mkdir(parents=True, exist_ok=True)
    name = name or f"framed_{width}x{height}"  # (fig_*: the figures before the spines)
    png, gcps = WORK / f"{name}.png", WORK / f"{name}.gcps.csv"
    margin = max(10, width // 40)
    if not png.exists():
        img = np.empty((height, width, 3), np.uint8)
        step = max(1, 2_000_000 // width)
        for r0 in range(0, height, step):
            img[r0 : r0 + step] = _paint_rows(r0, min(r0 + step, height), width, height, margin)
        tmp = png.with_suffix(".tmp.png")
        Image.fromarray(img).save(tmp, compress_level=3)
        tmp.replace(png)
    x0, y0, x1, y1 = margin, margin, width - margin, height - margin
    w, e, s, n = EXTENT
    gcps.write_text(
        "col,row,lon,lat\n"
        f"{x0},{y0},{w},{n}\n{x1},{y0},{e},{n}\n{x0},{y1},{w},{s}\n{x1},{y1},{e},{s}\n"
    )
    return png, gcps


def region(png: Path) -> str:
    """The frame box ``x0,y0,x1,y1`` of a figure made here."""
    with Image.open(png) as im:
        width, height = im.size
    margin = max(10, width // 40)
    return f"{margin},{margin},{width - margin},{height - margin}"
