"""Row sources of the strip engine (:mod:`geodigitize.strips`): an image read top to
bottom in strips of rows, as packed colours and opacity.

:class:`StripReader` reads PNG and TIFF files row by row through GDAL (rasterio), so a
large image is never held whole; :class:`ArraySource` serves the rows of an image held in
memory (what Pillow reads: JPEG, EXIF-rotated or ICC-corrected images, 16-bit and 1-bit
modes, PDF pages, arrays). :func:`gdal_reads_like_pillow` says when GDAL's pixels are
exactly Pillow's.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .colors import pack_rgb
from .errors import ImageError
from .image import MapImage, pending_corrections

__all__ = ["ArraySource", "ImageInfo", "StripReader", "gdal_reads_like_pillow"]

_GDAL_MODES = ("RGB", "RGBA", "L", "LA", "P")
_GDAL_FORMATS = ("PNG", "TIFF")


@dataclass(frozen=True)
class ImageInfo:
    """What the report says about an image read in strips (the part of MapImage kept)."""

    path: str
    format: str
    mode: str
    shape: tuple[int, int]
    corrections: tuple[str, ...] = ()

    @property
    def pixels(self) -> int:
        return self.shape[0] * self.shape[1]


def gdal_reads_like_pillow(path: str | Path, max_pixels: int) -> ImageInfo | None:
    """What the report says of `path` when :class:`StripReader` reads it exactly as
    :func:`geodigitize.image.read_image` does (PNG and non-JPEG TIFF in 8-bit RGB, RGBA,
    grey, grey+alpha or palette, no EXIF rotation or ICC profile pending, within
    `max_pixels`), else None (then Pillow reads it, and its errors are the ones shown)."""
    try:
        from PIL import Image

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as pil:
                width, height = pil.size
                fmt, mode = pil.format, pil.mode
                compression = pil.info.get("compression", "")
                if pending_corrections(pil):  # GDAL reads it as stored, not as shown
                    return None
    except Exception:
        return None
    if width * height > max_pixels or min(width, height) < 2:
        return None
    if fmt in _GDAL_FORMATS and mode in _GDAL_MODES and "jpeg" not in str(compression):
        return ImageInfo(str(path), fmt or "", mode, (height, width))
    return None


class ArraySource:
    """Rows of an image held in memory, as :class:`StripReader` gives them.

    Parameters
    ----------
    image : MapImage
    """

    def __init__(self, image: MapImage) -> None:
        self.image = image
        self.shape = image.shape
        self._packed = pack_rgb(image.rgb)

    def read(self, r0: int, r1: int) -> tuple[np.ndarray, np.ndarray]:
        """Rows ``r0 .. r1`` as packed colours (uint32 ``0xRRGGBB``) and opacity (bool)."""
        return self._packed[r0:r1], self.image.opaque[r0:r1]

    def close(self) -> None:
        self._packed = None


class StripReader:
    """Read an image top to bottom in strips of rows, as 8-bit RGB plus opacity.

    Conversions match :func:`geodigitize.image.read_image` (Pillow) for the modes
    :func:`gdal_reads_like_pillow` accepts: grey repeated to RGB, palette through its colour table
    (alpha from the table, missing entries black), alpha > 0 is opaque.
    """

    def __init__(self, path: str | Path) -> None:
        import rasterio

        self.path = str(path)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # NotGeoreferencedWarning
            try:
                self._src = rasterio.open(self.path)
            except rasterio.errors.RasterioIOError as exc:
                raise ImageError(f"cannot read {self.path!r}: {exc}") from None
        self.shape = (self._src.height, self._src.width)
        self._bands = self._src.count
        self._table = None
        if self._bands == 1 and self._palette():
            cmap = self._src.colormap(1)
            table = np.zeros((256, 4), dtype=np.uint8)
            table[:, 3] = 255
            for k, rgba in cmap.items():
                table[k] = rgba
            self._table = table
        self._next = 0

    def _palette(self) -> bool:
        from rasterio.enums import ColorInterp

        return self._src.colorinterp[0] == ColorInterp.palette

    def read(self, r0: int, r1: int) -> tuple[np.ndarray, np.ndarray]:
        """Rows ``r0 .. r1`` as packed colours (uint32 ``0xRRGGBB``) and opacity (bool).

        Strips must be asked for in order (GDAL decodes a PNG sequentially).
        """
        import rasterio

        try:
            bands = self._src.read(window=((r0, r1), (0, self.shape[1])))
        except rasterio.errors.RasterioIOError as exc:
            raise ImageError(
                f"cannot read {self.path!r}: the file is truncated or damaged ({exc})"
            ) from None
        self._next = r1
        if self._table is not None:
            rgba = self._table[bands[0]]
            return _pack(rgba[..., 0], rgba[..., 1], rgba[..., 2]), rgba[..., 3] > 0
        if self._bands in (1, 2):
            grey = bands[0].astype(np.uint32)
            packed = grey * np.uint32(0x010101)
        else:
            packed = _pack(bands[0], bands[1], bands[2])
        alpha = {2: 1, 4: 3}.get(self._bands)
        opaque = bands[alpha] > 0 if alpha is not None else np.ones(packed.shape, dtype=bool)
        return packed, opaque

    def close(self) -> None:
        self._src.close()


def _pack(r: np.ndarray, g: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``r << 16 | g << 8 | b`` as uint32, in four passes: ``g << 8 | b`` in 16 bits
    first (half the memory traffic of doing it in 32), then `r` shifted into 32 bits and
    the two or'ed (a little faster than placing the bytes of a 32-bit buffer one by one,
    on any byte order)."""
    low = np.left_shift(g, np.uint16(8), dtype=np.uint16)
    low |= b
    out = np.left_shift(r, np.uint32(16), dtype=np.uint32)
    out |= low
    return out
