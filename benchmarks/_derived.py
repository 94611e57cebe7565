"""Figures derived from other benchmark figures: resized screenshots and JPEG copies.

How the truth is derived
------------------------
* Resized (Pillow ``BILINEAR`` or ``LANCZOS`` by a factor ``s``): the new pixel
  ``(c, r)`` has its centre at ``((c + 0.5) / s, (r + 0.5) / s)`` in the parent. Its kind
  is the parent's kind there (nearest); its value is the parent's value there (the data
  cell holding that point, so the field re-sampled at the new centre). A new pixel whose
  filter reaches a parent pixel that is not data (Pillow's support: 1 parent pixel for
  bilinear, 3 for Lanczos, times ``max(1, 1 / s)``) is mixed (kind 6): its colour blends a
  line, text or the page. Frame, colorbar, GCPs and tick boxes are scaled by ``s``
  (pixel corners scale exactly).
* JPEG: the parent's truth unchanged (the damage is the benchmark).
"""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from benchmarks._truth import DATA, MIXED, Truth

_SUPPORT = {"bilinear": 1.0, "lanczos": 3.0}


def _scale_box(box, sx: float, sy: float) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = box
    return (float(x0) * sx, float(y0) * sy, float(x1) * sx, float(y1) * sy)


def resized(parent: Truth, folder: Path, scale: float, method: str) -> Truth:
    """`parent` resized by `scale` with Pillow's `method` (``bilinear`` or ``lanczos``)."""
    folder = Path(folder)
    with Image.open(folder / parent.image) as im:
        rgb = im.convert("RGB")
    height, width = parent.shape
    new = (round(width * scale), round(height * scale))
    sx, sy = new[0] / width, new[1] / height
    resample = Image.Resampling.BILINEAR if method == "bilinear" else Image.Resampling.LANCZOS
    out = rgb.resize(new, resample)
    cols = np.minimum(((np.arange(new[0]) + 0.5) / sx).astype(int), width - 1)
    rows = np.minimum(((np.arange(new[1]) + 0.5) / sy).astype(int), height - 1)
    kind = parent.kind[np.ix_(rows, cols)]
    value = parent.value[np.ix_(rows, cols)]
    radius = int(np.ceil(_SUPPORT[method] * max(1.0, 1.0 / scale)))
    not_data = ndimage.binary_dilation(
        parent.kind != DATA, structure=np.ones((2 * radius + 1,) * 2, bool)
    )
    mixed = (kind == DATA) & not_data[np.ix_(rows, cols)]
    kind = np.where(mixed, MIXED, kind).astype(np.uint8)
    value = np.where(kind == DATA, value, np.nan)
    cls = None
    if parent.class_index is not None and parent.levels.size:
        cls = np.where(kind == DATA, parent.class_index[np.ix_(rows, cols)], -1)
    name = f"{parent.name}_x{scale:g}_{method}"
    out.save(folder / f"{name}.png")
    gcps = parent.gcps.copy()
    gcps[:, 0] *= sx
    gcps[:, 1] *= sy
    a0, a1, b0, b1 = parent.px_affine
    return replace(
        parent,
        name=name,
        image=f"{name}.png",
        renderer="resized",
        value=value,
        kind=kind,
        frame=_scale_box(parent.frame, sx, sy),
        colorbar=_scale_box(parent.colorbar, sx, sy),
        gcps=gcps,
        px_affine=(a0 * sx, a1 * sx, b0 * sy, b1 * sy),
        class_index=None if cls is None else cls.astype(np.int16),
        tick_box=parent.tick_box * np.array([sx, sy, sx, sy]),
        meta={
            **parent.meta,
            "parent": parent.name,
            "scale": scale,
            "method": method,
            "mixed_px": int((kind == MIXED).sum()),
        },
    )


def jpeg(parent: Truth, folder: Path, quality: int) -> Truth:
    """`parent` saved as JPEG `quality` (Pillow, 4:2:0 chroma subsampling)."""
    folder = Path(folder)
    with Image.open(folder / parent.image) as im:
        rgb = im.convert("RGB")
    name = f"{parent.name}_q{quality}"
    buf = io.BytesIO()
    rgb.save(buf, "JPEG", quality=quality)
    (folder / f"{name}.jpg").write_bytes(buf.getvalue())
    return replace(
        parent,
        name=name,
        image=f"{name}.jpg",
        renderer="jpeg",
        meta={**parent.meta, "parent": parent.name, "quality": quality},
    )
