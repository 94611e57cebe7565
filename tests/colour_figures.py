"""Small figures drawn with numpy for the colour tests: colorbars, frames, halos.

Everything is painted exactly (8-bit colours as matplotlib's lookup table gives them), so
tests can assert exact answers.
"""

from __future__ import annotations

import matplotlib
import numpy as np

BLACK = np.array([0, 0, 0], np.uint8)
WHITE = np.array([255, 255, 255], np.uint8)


def lut(cmap: str, t: np.ndarray) -> np.ndarray:
    """8-bit colours of positions `t` (0-1) along a matplotlib colormap."""
    return matplotlib.colormaps[cmap](np.asarray(t), bytes=True)[..., :3]


def page(height: int, width: int) -> np.ndarray:
    return np.full((height, width, 3), 255, np.uint8)


def draw_colorbar(
    img: np.ndarray,
    box: tuple[int, int, int, int],
    cmap: str = "jet_r",
    *,
    vertical: bool = True,
    classes: int | None = None,
    outline: int = 1,
    ticks: tuple[float, ...] = (),
    tick_out: int = 4,
    text: bool = False,
) -> np.ndarray:
    """Paint a colorbar whose coloured area is `box` (x0, y0, x1, y1 integer corners).

    Position t of a line is (k + 0.5) / L counted from the vmin end (bottom or left); with
    `classes`, the bar shows that many equal blocks coloured like ``contourf``. Ticks are
    black lines crossing the whole bar at positions t and sticking out by `tick_out`.

    Returns the position t of every line, from the vmin end.
    """
    x0, y0, x1, y1 = box
    length = (y1 - y0) if vertical else (x1 - x0)
    t = (np.arange(length) + 0.5) / length
    if classes:
        k = np.minimum((t * classes).astype(int), classes - 1)
        colours = lut(cmap, (k + 0.5) / classes)
    else:
        colours = lut(cmap, t)
    if vertical:
        img[y0:y1, x0:x1] = colours[::-1, None, :]
    else:
        img[y0:y1, x0:x1] = colours[None, :, :]
    if outline:
        # as matplotlib draws a 1-pixel outline: strokes snapped to pixel centres, so an
        # edge at x is drawn in column x (over the area at the left/top edges, outside it
        # at the right/bottom ones)
        o = outline
        img[y0 : y0 + o, x0 : x1 + o] = BLACK
        img[y1 : y1 + o, x0 : x1 + o] = BLACK
        img[y0 : y1 + o, x0 : x0 + o] = BLACK
        img[y0 : y1 + o, x1 : x1 + o] = BLACK
    for tt in ticks:
        k = min(int(tt * length), length - 1)
        if vertical:
            r = y1 - 1 - k
            img[r, x0 : x1 + tick_out] = BLACK
        else:
            c = x0 + k
            img[y0 : y1 + tick_out, c] = BLACK
    if text:
        # a label partly over the bar, as a careless layout puts it
        if vertical:
            cy = (y0 + y1) // 3
            img[cy : cy + 6, x0 + (x1 - x0) // 2 : x1 + 10] = BLACK
        else:
            cx = (x0 + x1) // 3
            img[y0 + (y1 - y0) // 2 : y1 + 10, cx : cx + 6] = BLACK
    return t
