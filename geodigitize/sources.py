"""Row sources of the strip engine (:mod:`geodigitize.strips`): an image read top to
bottom in strips of rows, as packed colours and opacity.

:class:`StripReader` reads PNG and TIFF files row by row through GDAL (rasterio), so a
large image is never held whole; :class:`ArraySource` serves the rows of an image held in
memory (what Pillow reads: JPEG, EXIF-rotated or ICC-corrected images, 16-bit and 1-bit
modes, PDF pages, arrays). :func:`gdal_reads_like_pillow` says when GDAL's pixels are
exactly Pillow's.
"""

from __future__ import annotations

import os
import queue
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .colors import pack_rgb
from .errors import ImageError
from .image import MapImage, pending_corrections

__all__ = [
    "DEFAULT_STRIP_PIXELS",
    "IN_MEMORY_PIXELS",
    "ArraySource",
    "ImageInfo",
    "StripReader",
    "default_strip_rows",
    "gdal_reads_like_pillow",
    "prefetch",
    "release_prefetched",
]

#: Images up to this many pixels are kept in memory (per-pixel arrays in the result);
#: larger PNG and TIFF files are streamed. Streaming is exact and faster whenever the
#: reconstruction check samples (more than 2 M data pixels): it queries the sample in
#: row order, where random order makes scipy's simplex walk up to 30x slower.
IN_MEMORY_PIXELS = 2_000_000

#: Pixels per strip (rounded to whole rows, at least 64). A strip's work arrays then
#: stay near a core's cache: masking, the flat test and the labels of a 100 MP figure's
#: strips (11547 pixels wide, 7 rows of context each side) cost 18 ns per core pixel at
#: 1 M pixels against 22 ns at 2 M (per window pixel 15.5 vs 20.7 ns; smaller strips pay
#: more in context rows than they gain).
DEFAULT_STRIP_PIXELS = 1_000_000

_GDAL_MODES = ("RGB", "RGBA", "L", "LA", "P")
_GDAL_FORMATS = ("PNG", "TIFF")


def default_strip_rows(width: int) -> int:
    """Rows of the strips an image `width` pixels wide is read and worked in by default:
    about :data:`DEFAULT_STRIP_PIXELS` pixels, at least 64 rows."""
    return max(64, DEFAULT_STRIP_PIXELS // width)


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
        self._ahead = _claim(self.path)  # rows decoded ahead of time (see prefetch)

    def _palette(self) -> bool:
        from rasterio.enums import ColorInterp

        return self._src.colorinterp[0] == ColorInterp.palette

    def read(self, r0: int, r1: int) -> tuple[np.ndarray, np.ndarray]:
        """Rows ``r0 .. r1`` as packed colours (uint32 ``0xRRGGBB``) and opacity (bool).

        Strips must be asked for in order (GDAL decodes a PNG sequentially).
        """
        import rasterio

        try:
            if self._ahead is not None:
                bands = self._ahead.rows(r0, r1)
            else:
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
        if self._ahead is not None:
            self._ahead.stop()
            self._ahead = None
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


# ---------------------------------------------------------------------- decoding ahead

#: Bytes of decoded bands a prefetch holds at most before its consumer takes them.
PREFETCH_BYTES = 256 * 2**20


_PREFETCHED: dict[tuple, _Prefetch] = {}


def _file_key(path: str | Path) -> tuple | None:
    """The file behind `path` (its real path, size and modification time), or None."""
    try:
        real = os.path.realpath(path)
        stat = os.stat(real)
    except OSError:
        return None
    return (real, stat.st_size, stat.st_mtime_ns)


class _Prefetch:
    """Strips of an image's bands decoded top to bottom on a thread of their own, into a
    queue holding at most :data:`PREFETCH_BYTES`; :meth:`rows` hands them out in order.

    GDAL decodes without Python's lock, so the decoding goes on while the caller's
    thread imports modules or works on earlier rows. The thread uses its own dataset
    (a GDAL dataset is not shared between threads).
    """

    def __init__(self, src, key: tuple, strip_rows: int) -> None:
        self.key = key
        height, width = src.height, src.width
        self._step = strip_rows
        per_strip = max(1, self._step * width * src.count)
        self._queue: queue.Queue = queue.Queue(max(2, PREFETCH_BYTES // per_strip))
        self._stopped = threading.Event()
        self._parts: list[np.ndarray] = []  # decoded rows not yet handed out
        self._row = 0  # first row of _parts
        self._thread = threading.Thread(
            target=self._decode, args=(src, height, width), name="prefetch", daemon=True
        )
        self._thread.start()

    def _decode(self, src, height: int, width: int) -> None:
        try:
            for r0 in range(0, height, self._step):
                if self._stopped.is_set():
                    return
                r1 = min(r0 + self._step, height)
                self._put(src.read(window=((r0, r1), (0, width))))
            self._put(None)
        except BaseException as exc:  # handed to the reader, which raises it
            self._put(exc)
        finally:
            src.close()

    def _put(self, item) -> None:
        while not self._stopped.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def rows(self, r0: int, r1: int) -> np.ndarray:
        """Bands of rows ``r0 .. r1`` (shape (bands, r1 - r0, W)), asked for in order."""
        if r0 != self._row:
            raise ValueError(f"rows asked out of order: {r0}, expected {self._row}")
        have = sum(part.shape[1] for part in self._parts)
        while have < r1 - r0:
            item = self._queue.get()
            if isinstance(item, BaseException):
                raise item
            if item is None:
                raise ValueError(f"rows {r0}..{r1} past the image's end")
            self._parts.append(item)
            have += item.shape[1]
        bands = self._parts[0] if len(self._parts) == 1 else np.concatenate(self._parts, axis=1)
        self._parts = [bands[:, r1 - r0 :]] if have > r1 - r0 else []
        self._row = r1
        return bands[:, : r1 - r0]

    def stop(self) -> None:
        """Stop decoding and drop what was decoded."""
        self._stopped.set()
        self._parts = []
        self._thread.join()
        while not self._queue.empty():
            self._queue.get_nowait()


def prefetch(path: str | Path, min_pixels: int, *, strip_rows: int | None = None) -> bool:
    """Start decoding `path` (PNG or TIFF, larger than `min_pixels`) on a thread, for the
    next :class:`StripReader` of the same file to read from; True when started.

    The rows are decoded `strip_rows` at a time (default :func:`default_strip_rows`: the
    strips the engine reads, each then handed out as it was decoded, not joined from two).

    The command line calls this before it imports the pipeline, so the image is decoded
    while Python imports scipy, matplotlib and the rest (about 0.6 s, the time of
    decoding some 60 MP of PNG). At most :data:`PREFETCH_BYTES` of decoded rows wait;
    what no reader claims is dropped by :func:`release_prefetched`. Any failure here
    (not an image, unreadable) leaves the file to be read, and its error told, as usual.
    """
    import rasterio

    key = _file_key(path)
    if key is None or key in _PREFETCHED:
        return False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # NotGeoreferencedWarning
            src = rasterio.open(key[0])
    except Exception:
        return False
    if src.driver not in ("PNG", "GTiff") or src.width * src.height <= min_pixels:
        src.close()
        return False
    _PREFETCHED[key] = _Prefetch(src, key, strip_rows or default_strip_rows(src.width))
    return True


def _claim(path: str | Path) -> _Prefetch | None:
    """The prefetch started for the file at `path`, if any (claimed once)."""
    if not _PREFETCHED:
        return None
    key = _file_key(path)
    return None if key is None else _PREFETCHED.pop(key, None)


def release_prefetched() -> None:
    """Stop every prefetch that no reader claimed, and drop its rows."""
    while _PREFETCHED:
        _PREFETCHED.popitem()[1].stop()
