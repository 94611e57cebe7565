"""Small matplotlib figures with tick labels, drawn in the test from a known field, for
the tests of reading a figure by itself (OCR, inference, the command line)."""

from __future__ import annotations

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

VMIN, VMAX = 0.0, 30.0


def field(lon, lat):
    """A smooth field spanning most of 0..30 over the globe."""
    lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    return 15 + 13 * np.cos(np.deg2rad(lat)) * np.sin(np.deg2rad(lon)) * np.cos(np.deg2rad(lat))


def _hemisphere(v, pos, neg):
    return "0°" if v == 0 else f"{abs(v):g}°{pos if v > 0 else neg}"


def draw(
    path,
    *,
    ticks: bool = True,
    colorbar: bool = True,
    colorbar_labels: bool = True,
    lon_labels=None,
    size=(560, 340),
    dpi=100,
    fontsize=9,
):
    """Draw the field with ``imshow`` (plate carrée, 180W..180E, 70S..70N), viridis,
    0..30, and write it to `path` (PNG).

    Returns
    -------
    (x0, y0, x1, y1)
        The frame's inside, pixel corners.
    """
    width, height = size
    fig = Figure(figsize=(width / dpi, height / dpi), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_axes([0.1, 0.12, 0.68, 0.8])
    lon = np.linspace(-179.5, 179.5, 360)
    lat = np.linspace(69.5, -69.5, 140)
    grid = field(*np.meshgrid(lon, lat))
    art = ax.imshow(
        grid,
        cmap="viridis",
        vmin=VMIN,
        vmax=VMAX,
        extent=(-180, 180, -70, 70),
        aspect="auto",
        interpolation="nearest",
    )
    xt = np.arange(-180, 181, 60)
    yt = np.arange(-60, 61, 30)
    if ticks:
        labels = lon_labels or [_hemisphere(v, "E", "W") for v in xt]
        ax.set_xticks(xt, labels, fontsize=fontsize)
        ax.set_yticks(yt, [_hemisphere(v, "N", "S") for v in yt], fontsize=fontsize)
    else:
        ax.set_xticks([])
        ax.set_yticks([])
    if colorbar:
        cax = fig.add_axes([0.82, 0.12, 0.03, 0.8])
        cb = fig.colorbar(art, cax=cax)
        if not colorbar_labels:
            cb.set_ticks([])
        else:
            cax.tick_params(labelsize=fontsize)
    fig.savefig(path, dpi=dpi)
    bb = ax.get_window_extent()
    return (bb.x0, height - bb.y1, bb.x1, height - bb.y0)
