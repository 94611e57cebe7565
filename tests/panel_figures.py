"""A small synthetic 2 x 2 figure with one shared colorbar and known truth, for the
panel tests: four framed maps of different known fields, black spines, a line and a
text-like block in each, and a vertical colorbar at the right."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from conftest import field, paint
from PIL import Image

EXTENT = (-180.0, 180.0, -80.0, 80.0)


@dataclass
class PanelFigure:
    image: np.ndarray  # (H, W, 3) uint8
    frames: list[tuple[int, int, int, int]]  # inside of each panel's spines, reading order
    truth: list[np.ndarray]  # per panel (H, W): value painted, NaN where not data
    gcps: np.ndarray  # (n, 5) col, row, lon, lat, panel
    colorbar: tuple[int, int, int, int]
    cmap: str = "jet_r"
    vmin: float = 0.0
    vmax: float = 0.7

    def write(self, folder, *, panel_column=True, only_panel=None):
        """Save map.png and gcps.csv into folder; return their paths."""
        img = folder / "map.png"
        Image.fromarray(self.image).save(img)
        rows = self.gcps if only_panel is None else self.gcps[self.gcps[:, 4] == only_panel]
        head = "col,row,lon,lat" + (",panel" if panel_column else "")
        lines = [head] + [
            ",".join(f"{v:.10g}" for v in (r if panel_column else r[:4])) for r in rows
        ]
        path = folder / "gcps.csv"
        path.write_text("\n".join(lines) + "\n")
        return img, path


def make_panel_figure(
    pw: int = 120,
    ph: int = 80,
    gap: int = 30,
    margin: int = 20,
    same_size: bool = True,
    land_panel: int | None = None,
) -> PanelFigure:
    """Four panels of `pw` x `ph` pixels (the frame's inside), `gap` apart; in panel
    `land_panel` (1-based) a grey L of land cuts off the top-right corner of the field."""
    cb_w = 12
    width = 2 * margin + 2 * pw + gap + 20 + cb_w
    height = 2 * margin + 2 * ph + gap
    image = np.full((height, width, 3), 255, np.uint8)
    frames, truths, gcps = [], [], []
    w, e, s, n = EXTENT
    for k in range(4):
        r, c = divmod(k, 2)
        x0 = margin + c * (pw + gap)
        y0 = margin + r * (ph + gap)
        fw = pw if same_size or k != 3 else pw - 20
        x1, y1 = x0 + fw, y0 + ph
        cols = np.arange(width) + 0.5
        rows = np.arange(height) + 0.5
        lon = w + (cols - x0) / (x1 - x0) * (e - w)
        lat = n - (rows - y0) / (y1 - y0) * (n - s)
        lon, lat = np.meshgrid(lon, lat)
        inside = np.zeros((height, width), bool)
        inside[y0:y1, x0:x1] = True
        values = field(lon + 60.0 * k, lat * (1 - 0.2 * k), 0.0, 0.7)
        image[inside] = paint(values[inside], "jet_r", 0.0, 0.7)
        image[y0 - 1, x0 - 1 : x1 + 1] = 0  # spines, just outside the frame
        image[y1, x0 - 1 : x1 + 1] = 0
        image[y0 - 1 : y1 + 1, x0 - 1] = 0
        image[y0 - 1 : y1 + 1, x1] = 0
        overlay = np.zeros((height, width), bool)
        overlay[y0 + 4 : y1 - 4, (x0 + x1) // 2] = True  # a meridian
        overlay[y0 + 6 : y0 + 12, x0 + 6 : x0 + 26] = True  # a label
        image[overlay] = 0
        if land_panel == k + 1:
            land = np.zeros((height, width), bool)
            land[y0 : y0 + 50, x0 + 50 : x0 + 58] = True
            land[y0 + 42 : y0 + 50, x0 + 50 : x1] = True
            image[land] = 190
            overlay |= land
        truths.append(np.where(inside & ~overlay, values, np.nan))
        frames.append((x0, y0, x1, y1))
        for col, lo in ((x0, w), (x1, e)):
            for row, la in ((y0, n), (y1, s)):
                gcps.append((col, row, lo, la, k + 1))
        gcps.append(((x0 + x1) / 2, (y0 + y1) / 2, (w + e) / 2, (s + n) / 2, k + 1))
    cx0 = margin + 2 * pw + gap + 20
    cy0, cy1 = margin, height - margin
    ramp = np.linspace(0.7, 0.0, cy1 - cy0)  # vmax at the top
    image[cy0:cy1, cx0 : cx0 + cb_w] = paint(ramp, "jet_r", 0.0, 0.7)[:, None, :]
    image[cy0 - 1, cx0 - 1 : cx0 + cb_w + 1] = 0
    image[cy1, cx0 - 1 : cx0 + cb_w + 1] = 0
    image[cy0 - 1 : cy1 + 1, cx0 - 1] = 0
    image[cy0 - 1 : cy1 + 1, cx0 + cb_w] = 0
    return PanelFigure(image, frames, truths, np.array(gcps, float), (cx0, cy0, cx0 + cb_w, cy1))
