"""Run the pipeline on an image too large to hold, in strips of rows, with bounded memory.

The image is read once, top to bottom, in strips of rows through rasterio (GDAL decodes
PNG and TIFF row by row, the next strip on a thread while this one is numbered; Pillow
decodes a PNG in one piece). That first pass numbers the distinct colours, spools every
pixel's colour number to a scratch file (16 bits while there are fewer than 2**15
colours) and counts the candidate pixels of each colour, from which the automatic
distances (:func:`geodigitize.mask.auto_distances`, a median over the whole image)
follow exactly. Each strip is then decoded, masked, tested for flatness, labelled and
summarised on two worker threads; the main thread only joins strips and writes. The
results equal one-piece processing (:func:`geodigitize.pipeline.extract`) exactly:

- The halo rule masks pixels next to ink whose colour occurs nowhere away from ink
  (:func:`geodigitize.mask.field_colors`), a property of the whole image: once the
  distances are known, the spooled colour ids are read again (1 row of context per
  strip), strips spread over the image first, until every colour that can be data has
  been met away from ink (for a figure drawn from a colour table, after a few strips).
- Masking and the flat test look beyond a pixel: the halo rule's 3x3 dilation (1 row),
  the consistency check's 5x5 median over valid pixels and its second look at the first
  look's flags (2 + 2 rows more), the flat test's 4-neighbours (1 more). Each strip is
  masked with that many rows of context on either side (:func:`_context_rows`).
- Clusters are labelled per strip; those touching a seam between strips are joined
  exactly when equal-valued pixels across the seam are neighbours (4 or 8 connectivity,
  as DBSCAN's ``eps`` decides), by connected components over the strip labels.
- Representatives: a cluster is kept as runs along rows, from which its count, sum of
  columns and sum of rows follow (exact integers), and its member nearest the centroid:
  in each run the column nearest the centroid's, then the run with the smallest exact
  distance key (:func:`geodigitize.reduce.centroid_distance_key`), ties to the first in
  row order. Clusters inside one strip get their representative there; the runs of
  clusters that touch a seam wait until the merged centroids are known.
- The reconstruction check draws the same random sample of data pixels as one-piece
  processing: the scale index of every data pixel is spooled (2 bytes each) with a
  bit-packed data mask, and the sample is gathered once the number of data pixels is
  known.
- ``grid.tif``: scale entries are spooled strip by strip (16 bits), then written
  compressed once, cropped to the decoded pixels, with overviews
  (:class:`geodigitize.io.GridWriter`), while the clusters are merged and checked.

Memory is a few hundred bytes per pixel of a strip (2 million pixels by default, two
strips in flight) plus a 64 MB colour table, and a few bits per image pixel (0.7 GB peak
at 64 MP, 0.84 GB at 100 MP); spools go to disk. Only what DBSCAN with ``min_samples=1``
and ``eps < 2`` computes can be split this way (connected components); other parameters, a
colorbar-sampled scale and formats GDAL might decode differently from Pillow (JPEG, 16-bit
or 1-bit images) use one-piece processing (:func:`can_tile` says which).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .colormap import ColorScale
from .errors import GCPError, ImageError
from .filters import any_in_window
from .gcps import load_gcps
from .georef import Georeference, georeference
from .image import pending_corrections
from .mask import (
    AUTO,
    AUTO_DISTANCE,
    MaskFit,
    Reason,
    auto_distances,
    classify,
    field_colors,
    inconsistent_pixels,
    require_data,
)
from .options import Options
from .points import points_frame
from .progress import StageTimer
from .reconstruct import (
    DEFAULT_SAMPLE,
    ReconstructionCheck,
    interpolate_points,
    sample_positions,
)
from .reduce import (
    Clusters,
    centroid_distance_key,
    cluster_labels,
    flat_mask,
    nearest_members,
)
from .region import region_mask
from .report import build_report
from .scale import build_scale

__all__ = [
    "DEFAULT_STRIP_PIXELS",
    "TILE_THRESHOLD",
    "TiledExtraction",
    "can_tile",
    "extract_tiled",
    "should_tile",
]

#: Images with more pixels than this go through tiles in :func:`geodigitize.pipeline.run`.
#: Tiles are exact and faster whenever the reconstruction check samples (more than 2 M
#: data pixels): they query the sample in row order, where one-piece processing queries
#: it in random order, which makes scipy's simplex walk up to 30x slower.
TILE_THRESHOLD = 2_000_000

#: Pixels per strip (rounded to whole rows, at least 64).
DEFAULT_STRIP_PIXELS = 2_000_000

#: Rows of context on each side of a strip (halo dilation + flat test).
_HALO = 2
#: Threads masking strips at once (each holds one strip's work arrays).
_WORKERS = min(2, os.cpu_count() or 1)
#: Grid code of a masked pixel when the spooled grid holds scale entries (16 bits).
_MASKED_CODE = 65535
#: Neighbourhood half-size of the consistency check (as :func:`geodigitize.pipeline._mask`).
_CONSISTENCY_RADIUS = 2

_TILE_MODES = ("RGB", "RGBA", "L", "LA", "P")
_TILE_FORMATS = ("PNG", "TIFF")


# ----------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class ImageInfo:
    """What the report says about the input image (the part of MapImage tiles keep)."""

    path: str
    format: str
    mode: str
    shape: tuple[int, int]


def can_tile(path: str | Path, options) -> bool:
    """Whether `path` with `options` can be processed in strips with exact results.

    False (use one-piece processing) for anything Pillow cannot open (its errors are the
    ones to show), images above ``options.max_pixels``, formats other than PNG and
    (non-JPEG) TIFF, modes other than 8-bit RGB, RGBA, grey, grey+alpha and palette,
    colorbar-sampled scales, clustering other than ``min_samples=1, eps < 2``, and masking
    or outputs the strips do not reproduce yet (see :func:`strips_reproduce`).
    """
    if options.colorbar is not None or options.min_samples != 1 or options.eps >= 2:
        return False
    if not strips_reproduce(options) or options.transform not in ("affine", "helmert"):
        return False  # the streamed grid needs a geotransform
    try:
        from PIL import Image

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as pil:
                width, height = pil.size
                fmt, mode = pil.format, pil.mode
                compression = pil.info.get("compression", "")
                if pending_corrections(pil):  # GDAL reads it as stored, not as shown
                    return False
    except Exception:  # the one-piece reader reports it properly
        return False
    if width * height > options.max_pixels or min(width, height) < 2:
        return False
    return fmt in _TILE_FORMATS and mode in _TILE_MODES and "jpeg" not in str(compression)


def strips_reproduce(options) -> bool:
    """Whether strip processing gives exactly what one-piece processing gives for `options`.

    The strips apply colour distance (fixed or automatic), the halo rule, the region and
    the neighbourhood consistency check, so the default options are reproduced. They do
    not apply excluded colours, ``--region auto``, the smoothness check, refinement,
    contours or the preview: options asking for any of those run in one piece.
    """
    plain = (
        options.shaded is None
        and not options.exclude_color
        and options.region != "auto"
        and not getattr(options, "smoothness", None)
        and options.target_error is None
        and not options.contours
        and options.preview is None
    )
    return bool(plain)


def should_tile(path: str | Path, options, threshold: int = TILE_THRESHOLD) -> bool:
    """Whether :func:`geodigitize.pipeline.run` should process `path` in strips.

    True when the image has more than `threshold` pixels and :func:`can_tile` allows it.
    """
    try:
        from PIL import Image

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as pil:
                width, height = pil.size
    except Exception:  # the one-piece reader reports it properly
        return False
    return width * height > threshold and can_tile(path, options)


class StripReader:
    """Read an image top to bottom in strips of rows, as 8-bit RGB plus opacity.

    Conversions match :func:`geodigitize.image.read_image` (Pillow) for the modes
    :func:`can_tile` accepts: grey repeated to RGB, palette through its colour table
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
    out = r.astype(np.uint32) << 16
    out |= g.astype(np.uint32) << 8
    out |= b
    return out


# ----------------------------------------------------------------------------- strips


@dataclass
class _Strip:
    """One strip's decoded core rows (``row0 .. row0 + h``) and its context."""

    row0: int
    values: np.ndarray  # (h, W) float64
    index: np.ndarray  # (h, W) int32 scale index
    valid: np.ndarray  # (h, W) bool
    flat: np.ndarray  # (h, W) bool
    reason_counts: np.ndarray  # per Reason
    clusters: _StripClusters | None = None  # filled by the worker, see summarise()
    method: str = ""  # how its clusters were found (see reduce.cluster_labels)
    grid_rows: np.ndarray | None = None  # (h, W) as spooled, see _grid_codes
    data: tuple[bytes, np.ndarray, int] | None = None  # see _DataSpool.pack


class _ColorIds:
    """Number every distinct colour as met (one 2**24 table), look them all up at the end.

    Per pixel this costs one gather from the big table; scale index, distance and RGB
    then come from small per-colour arrays. Holds 64 MB.
    """

    def __init__(self) -> None:
        self._id = np.full(1 << 24, -1, dtype=np.int32)
        self._new: list[np.ndarray] = []
        self.n = 0

    def __call__(self, packed: np.ndarray) -> np.ndarray:
        ids = self._id[packed]
        missing = ids < 0
        if missing.any():
            new = np.unique(packed[missing])
            self._id[new] = np.arange(self.n, self.n + new.size, dtype=np.int32)
            self._new.append(new)
            self.n += int(new.size)
            ids = self._id[packed]
        return ids

    def colors(self) -> np.ndarray:
        """Packed colour of each id, shape (n,), uint32."""
        return np.concatenate(self._new) if self._new else np.zeros(0, np.uint32)


class _RowFile:
    """Rows of an (H, W) array spooled to a file block by block, read back by seeking (not
    mapped, so the pages read do not stay in the process's resident memory).

    Each block may be stored in a narrower type than `dtype` (e.g. colour ids as int16
    while there are fewer than 2**15 colours): half the bytes written and read back.
    """

    def __init__(self, path: Path, width: int, dtype) -> None:
        self.path, self.width, self.dtype = path, width, np.dtype(dtype)
        self._blocks: list[tuple[int, int, np.dtype, int]] = []  # row0, row1, type, offset
        self._f = None
        self.height = 0
        self._offset = 0

    @property
    def shape(self) -> tuple[int, int]:
        return (self.height, self.width)

    def __enter__(self) -> _RowFile:
        self._f = open(self.path, "wb")
        return self

    def __exit__(self, *exc) -> None:
        self._f.close()

    def append(self, rows: np.ndarray, stored=None) -> None:
        """Write the next rows, stored as `stored` (which must hold them exactly)."""
        data = rows.astype(stored or self.dtype, copy=False)
        data.tofile(self._f)
        h = rows.shape[0]
        self._blocks.append((self.height, self.height + h, data.dtype, self._offset))
        self.height += h
        self._offset += data.nbytes

    def __getitem__(self, rows: slice) -> np.ndarray:
        lo, hi, _ = rows.indices(self.height)
        out = np.empty((max(hi - lo, 0), self.width), dtype=self.dtype)
        with open(self.path, "rb") as f:
            for r0, r1, dt, offset in self._blocks:
                a, b = max(r0, lo), min(r1, hi)
                if a >= b:
                    continue
                f.seek(offset + (a - r0) * self.width * dt.itemsize)
                part = np.fromfile(f, dtype=dt, count=(b - a) * self.width)
                out[a - lo : b - lo] = part.reshape(b - a, self.width)
        return out


@dataclass
class _FirstPass:
    """What one read of the image leaves: colour ids on disk and per-colour statistics."""

    ids: _RowFile  # (H, W) int32; ~id for transparent pixels
    colors: np.ndarray  # (n,) uint32 packed
    index: np.ndarray  # (n,) scale index
    distance: np.ndarray  # (n,) float32
    candidates: np.ndarray | None  # (n,) int64 candidate pixels per colour


def _read_ahead(reader: StripReader, strip_rows: int) -> Iterator[tuple[int, int, object]]:
    """Strips ``(a, b, future of reader.read(a, b))`` in order, the next one being read
    on a thread (GDAL decodes without the GIL) while the caller works on this one."""

    height = reader.shape[0]
    starts = range(0, height, strip_rows)
    with ThreadPoolExecutor(1) as pool:  # one thread: strips are read in order
        ahead = None
        for a in starts:
            b = min(a + strip_rows, height)
            current = ahead if ahead is not None else pool.submit(reader.read, a, b)
            ahead = pool.submit(reader.read, b, min(b + strip_rows, height)) if b < height else None
            yield a, b, current


def _first_pass(
    reader: StripReader,
    lookup_scale: ColorScale,
    color_space: str,
    strip_rows: int,
    region,
    count: bool,
    spool: Path,
    timings: dict,
) -> _FirstPass:
    """Read the image once: colour id of every pixel to `spool`, candidate counts per colour.

    Candidates are what :func:`geodigitize.pipeline._mask` feeds
    :func:`geodigitize.mask.auto_distances`: opaque pixels inside the region.
    """
    from .colors import unpack_rgb
    from .decode import lookup_colors

    width = reader.shape[1]
    if region is not None:
        inside = np.flatnonzero(region[1])
        cols = slice(inside[0], inside[-1] + 1) if inside.size else slice(0, 0)
    table = _ColorIds()
    counts = np.zeros(0, dtype=np.int64)
    ids_file = _RowFile(spool, width, np.int32)
    with ids_file:
        for a, b, pending in _read_ahead(reader, strip_rows):
            t = time.perf_counter()
            packed, opaque = pending.result()
            timings["read"] += time.perf_counter() - t
            t = time.perf_counter()
            ids = table(packed)
            all_opaque = bool(opaque.all())
            if count:  # the region is a box: slice it rather than mask
                rows = np.flatnonzero(region[0][a:b]) if region is not None else None
                part, part_opaque = ids, opaque
                if rows is not None:
                    box = (slice(rows[0], rows[-1] + 1) if rows.size else slice(0, 0), cols)
                    part, part_opaque = ids[box], opaque[box]
                part = part.ravel() if all_opaque else part[part_opaque]
                c = np.bincount(part, minlength=table.n)
                counts = np.pad(counts, (0, table.n - counts.size)) + c
            if not all_opaque:
                ids = np.where(opaque, ids, ~ids)
            # ids and ~ids fit in int16 while there are at most 2**15 - 1 colours
            ids_file.append(ids, np.int16 if table.n < 2**15 else np.int32)
            timings["decode"] += time.perf_counter() - t
    t = time.perf_counter()
    colors = table.colors()
    distance, index = lookup_colors(unpack_rgb(colors), lookup_scale, color_space)
    timings["decode"] += time.perf_counter() - t
    return _FirstPass(
        ids_file,
        colors,
        index,
        distance,
        np.pad(counts, (0, colors.size - counts.size)) if count else None,
    )


def _field_colors(
    first: _FirstPass,
    max_d: float,
    strip_rows: int,
    region: tuple[np.ndarray, np.ndarray] | None,
    timings: dict,
    workers: int = 1,
) -> np.ndarray:
    """:func:`geodigitize.mask.field_colors` of the whole image, strip by strip: exact
    for every colour not off scale that occurs inside the region.

    Ink is what :func:`geodigitize.mask.classify` calls off scale (`max_d`); candidates
    are the opaque pixels inside the region, as in :func:`geodigitize.pipeline._mask`.
    Each strip is read with one row of context on either side for the 3x3 neighbourhood.
    """
    height = first.ids.shape[0]
    off_of = first.distance > max_d

    def work(a: int) -> tuple[np.ndarray, dict]:
        spent = dict.fromkeys(("read", "mask"), 0.0)
        b = min(a + strip_rows, height)
        lo, hi = max(a - 1, 0), min(b + 1, height)
        t = time.perf_counter()
        ids = first.ids[lo:hi]
        spent["read"] += time.perf_counter() - t
        t = time.perf_counter()
        opaque = ids >= 0
        core = slice(a - lo, b - lo)
        candidates = None
        if not opaque.all():
            ids = np.where(opaque, ids, ~ids)
            candidates = opaque[core]
        if region is not None:
            inside = region[0][a:b, None] & region[1][None, :]
            candidates = inside if candidates is None else candidates & inside
        ink = off_of[ids]
        seen = field_colors(
            ids[core], ink[core], candidates, off_of.size, near=any_in_window(ink, 3)[core]
        )
        spent["mask"] += time.perf_counter() - t
        return seen, spent

    # Only colours that can be data matter (not ink, met inside the region). Strips are
    # visited spread over the image, and the scan stops once each such colour has been
    # met away from ink: for a figure drawn from a colour table, after a few strips.
    wanted = ~off_of
    if first.candidates is not None:
        wanted &= first.candidates > 0
    starts = np.arange(0, height, strip_rows)
    spread = max(1, int(np.sqrt(starts.size)))
    order = np.concatenate([starts[k::spread] for k in range(spread)])
    field = np.zeros(off_of.size, dtype=bool)
    for seen, spent in _in_order(work, order, workers):
        field |= seen
        for k, v in spent.items():
            timings[k] += v
        if field[wanted].all():
            break
    return field


def _context_rows(opts, scale: ColorScale) -> int:
    """Rows beyond a strip that decide its core pixels.

    Halo dilation 1; the flat test 1; the consistency check's median looks ``radius``
    rows away at pixels whose validity looks one more, and its second look uses the
    first look's flags ``radius`` rows away: ``2 + 2 * radius + 1 + 1`` in all.
    """
    if _checks_consistency(opts, scale):
        return 2 * _CONSISTENCY_RADIUS + 2
    return _HALO


def _checks_consistency(opts, scale: ColorScale) -> bool:
    return bool(opts.consistency) and not scale.is_discrete


def _strips(
    first: _FirstPass,
    scale: ColorScale,
    opts,
    max_d: float,
    halo_d: float | None,
    strip_rows: int,
    region: tuple[np.ndarray, np.ndarray] | None,
    timings: dict,
    workers: int = 1,
    book: _ClusterBook | None = None,
    data: _DataSpool | None = None,
    lut: np.ndarray | None = None,
) -> Iterator[_Strip]:
    """Decode, mask and flat-test the image strip by strip, from the first pass's colour ids.

    Each strip is processed with :func:`_context_rows` extra rows on either side, so
    its core rows get exactly what one-piece processing gives them; the halo rule's
    field colours come from a read of the whole image first (:func:`_field_colors`).
    With a `book`, the workers also cluster each strip and summarise its clusters, and
    with `data` pack its data pixels, leaving the caller only the joins and the writes.
    """
    from .colors import unpack_rgb

    height = first.ids.shape[0]
    context = _context_rows(opts, scale)
    consistency = _checks_consistency(opts, scale)
    rgb_of = unpack_rgb(first.colors) if consistency else None
    field = None
    if halo_d is not None:
        field = _field_colors(first, max_d, strip_rows, region, timings, workers)

    def work(a: int) -> tuple[_Strip, dict]:
        spent = dict.fromkeys(("read", "decode", "mask", "flat", "label", "grid"), 0.0)
        b = min(a + strip_rows, height)
        lo, hi = max(a - context, 0), min(b + context, height)
        t = time.perf_counter()
        ids = first.ids[lo:hi]
        spent["read"] += time.perf_counter() - t

        t = time.perf_counter()
        opaque = ids >= 0
        all_opaque = bool(opaque.all())
        if not all_opaque:
            ids = np.where(opaque, ids, ~ids)
        index = first.index[ids]
        distance = first.distance[ids]
        values = scale.values[index]
        spent["decode"] += time.perf_counter() - t

        t = time.perf_counter()
        reason = classify(
            distance,
            max_distance=max_d,
            halo_distance=halo_d,
            color_id=None if field is None else ids,
            field=field,
        )
        if region is not None:  # a box: rows and columns outside it
            reason[~region[0][lo:hi]] = Reason.OUTSIDE_REGION
            reason[:, ~region[1]] = Reason.OUTSIDE_REGION
        if not all_opaque:
            reason[~opaque] = Reason.TRANSPARENT
        valid = reason == Reason.DATA
        if consistency:
            bad = inconsistent_pixels(
                None,
                index,
                valid,
                scale.colors,
                scale.values,
                tolerance=opts.consistency,
                radius=_CONSISTENCY_RADIUS,
                color_id=ids,
                id_rgb=rgb_of,
            )
            reason[bad] = Reason.INCONSISTENT
            valid &= ~bad
        spent["mask"] += time.perf_counter() - t

        t = time.perf_counter()
        f0, f1 = max(a - 1, lo), min(b + 1, hi)  # core rows plus one each side
        flat = flat_mask(values[f0 - lo : f1 - lo], valid[f0 - lo : f1 - lo], opts.flat_tol)
        core = slice(a - lo, b - lo)
        spent["flat"] += time.perf_counter() - t
        strip = _Strip(
            row0=a,
            values=values[core],
            index=index[core],
            valid=valid[core],
            flat=flat[a - f0 : b - f0],
            reason_counts=np.bincount(reason[core].ravel(), minlength=len(Reason)),
        )
        if book is not None:
            t = time.perf_counter()
            labels, n, strip.method = cluster_labels(
                strip.values, strip.flat, eps=opts.eps, min_samples=opts.min_samples
            )
            strip.clusters = book.summarise(strip, labels, n, last=b >= height)
            spent["label"] += time.perf_counter() - t
        if data is not None:
            t = time.perf_counter()
            strip.data = data.pack(strip)
            strip.grid_rows = _grid_codes(strip, lut)
            spent["grid"] += time.perf_counter() - t
        return strip, spent

    for strip, spent in _in_order(work, range(0, height, strip_rows), workers):
        for k, v in spent.items():
            timings[k] += v
        yield strip


def _in_order(work, items, workers: int) -> Iterator:
    """``map(work, items)``, with up to `workers` items in progress on threads.

    numpy and scipy release the GIL in their loops, so strips are masked on all cores
    while the caller labels the previous one; at most `workers` results wait in memory.
    """
    if workers <= 1:
        yield from map(work, items)
        return
    from collections import deque

    todo = iter(items)
    with ThreadPoolExecutor(workers) as pool:
        pending = deque(
            pool.submit(work, item) for _, item in zip(range(workers), todo, strict=False)
        )
        while pending:
            done = pending.popleft().result()
            nxt = next(todo, None)
            if nxt is not None:
                pending.append(pool.submit(work, nxt))
            yield done


def _region_axes(shape: tuple[int, int], region) -> tuple[np.ndarray, np.ndarray] | None:
    """Rows and columns inside `region` (validated exactly as one-piece processing does)."""
    if region is None:
        return None
    region_mask(shape, region)  # raises the same RegionError; H x W bools, once
    x0, y0, x1, y1 = region
    rows = np.arange(shape[0]) + 0.5
    cols = np.arange(shape[1]) + 0.5
    return (rows >= y0) & (rows <= y1), (cols >= x0) & (cols <= x1)


# ----------------------------------------------------------------------------- clusters


@dataclass
class _StripClusters:
    """One strip's clusters as :meth:`_ClusterBook.summarise` leaves them."""

    n: int
    counts: np.ndarray
    sum_cols: np.ndarray
    sum_rows: np.ndarray
    first: np.ndarray  # flat index of each cluster's first pixel
    value: np.ndarray
    rep: np.ndarray  # flat index of the representative, -1 when seams decide it
    seam_runs: np.ndarray  # (k, 4) int64 row, col0, col1, strip-cluster id of seam clusters
    top: tuple[np.ndarray, np.ndarray]  # first row's labels and values
    bottom: tuple[np.ndarray, np.ndarray]  # last row's


def _runs(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Runs of equal labels along rows: row, first col, end col (exclusive), label.

    In row-major order; label -1 (no cluster) is left out.
    """
    w = labels.shape[1]
    flat = labels.ravel()
    change = flat[1:] != flat[:-1]
    member = flat >= 0
    start = np.empty(flat.size, dtype=bool)
    start[0] = True
    start[1:] = change
    start[::w] = True  # rows start runs
    start &= member
    end = np.empty(flat.size, dtype=bool)
    end[-1] = True
    end[:-1] = change
    end[w - 1 :: w] = True
    end &= member
    first = np.flatnonzero(start)
    rows, c0 = np.divmod(first, w)
    c1 = np.flatnonzero(end) - rows * w + 1
    return rows, c0, c1, flat[first]


def _run_stats(rows, c0, c1, lab, n):
    """Member count, sum of columns and sum of rows per cluster, from its runs (exact)."""
    length = c1 - c0
    counts = np.bincount(lab, weights=length, minlength=n).astype(np.int64)
    # float64 sums of integers are exact below 2**53; (c0 + c1 - 1) * length is even
    sum_cols = np.bincount(lab, weights=(c0 + c1 - 1) * length // 2, minlength=n)
    sum_rows = np.bincount(lab, weights=rows * length, minlength=n)
    return counts, sum_cols.astype(np.int64), sum_rows.astype(np.int64)


def _nearest_in_runs(rows, c0, c1, lab, counts, sum_cols, sum_rows, width, n):
    """Each cluster's member nearest its centroid (ties: first in row-major order), as
    :func:`geodigitize.reduce.representatives` finds it over all members.

    Within a run the nearest member is the column nearest the centroid's (the lower on
    a tie), clamped to the run; the exact key of
    :func:`geodigitize.reduce.centroid_distance_key` then compares runs. Returns the
    flat index of the chosen member and the clusters present.
    """
    n_k, s_c = counts[lab], sum_cols[lab]
    best = -((n_k - 2 * s_c) // (2 * n_k))  # ceil(s_c / n_k - 1/2): nearest, lower on ties
    col = np.clip(best, c0, c1 - 1)
    key = centroid_distance_key(lab, rows, col, counts, sum_cols, sum_rows)
    flat = rows * width + col
    pos, present = nearest_members(lab, key, flat, n)
    return flat[pos], present


class _ClusterBook:
    """Clusters found strip by strip, joined across seams, with exact representatives.

    Keeps each cluster as runs along rows, never as pixels: sums, first pixel and the
    member nearest the centroid all follow from the runs, so the cost is proportional
    to the runs (a few per row and cluster), not to the clustered pixels.
    """

    def __init__(self, width: int, conn: int) -> None:
        self.width = width
        self.conn = conn
        self.n = 0  # strip clusters so far (graph nodes)
        self.counts: list[np.ndarray] = []
        self.sum_cols: list[np.ndarray] = []
        self.sum_rows: list[np.ndarray] = []
        self.first: list[np.ndarray] = []
        self.value: list[np.ndarray] = []
        self.rep: list[np.ndarray] = []  # flat index, -1 when decided after the merge
        self.seam_runs: list[np.ndarray] = []  # runs of clusters touching a seam
        self.edges: list[np.ndarray] = []
        self._prev_row: tuple[np.ndarray, np.ndarray] | None = None  # labels, values

    def summarise(self, strip: _Strip, labels: np.ndarray, n: int, last: bool) -> _StripClusters:
        """One strip's clusters (labels 0..n-1, -1 for none) reduced to what the book
        keeps: sums, first pixels and, for clusters inside the strip, their
        representative. Reads nothing the book changes, so strips are summarised on
        worker threads while :meth:`add` joins them in order."""
        w = labels.shape[1]
        rows, c0, c1, lab = _runs(labels)
        rows += strip.row0
        counts, sum_cols, sum_rows = _run_stats(rows, c0, c1, lab, n)
        first = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(first, lab, rows * w + c0)
        value = strip.values.ravel()[first - strip.row0 * w] if n else np.zeros(0)

        touching = np.zeros(n, dtype=bool)
        if self.conn and strip.row0 > 0:
            touching[labels[0][labels[0] >= 0]] = True
        if self.conn and not last:
            touching[labels[-1][labels[-1] >= 0]] = True
        rep = np.full(n, -1, dtype=np.int64)
        inner = ~touching[lab]
        if inner.any():
            flat, present = _nearest_in_runs(
                rows[inner], c0[inner], c1[inner], lab[inner], counts, sum_cols, sum_rows, w, n
            )
            rep[present] = flat
        seam = ~inner
        return _StripClusters(
            n=n,
            counts=counts,
            sum_cols=sum_cols,
            sum_rows=sum_rows,
            first=first,
            value=value,
            rep=rep,
            seam_runs=np.column_stack([rows[seam], c0[seam], c1[seam], lab[seam]]),
            top=(labels[0].copy(), strip.values[0].copy()),
            bottom=(labels[-1].copy(), strip.values[-1].copy()),
        )

    def add(self, part: _StripClusters) -> None:
        """Append the next strip's summary (strips in order), joining it to the last."""
        if part.seam_runs.size:
            runs = part.seam_runs.copy()
            runs[:, 3] += self.n
            self.seam_runs.append(runs)
        top, top_values = part.top
        bottom, bottom_values = part.bottom
        if self._prev_row is not None and self.conn:
            self._join(np.where(top >= 0, top + self.n, -1), top_values)
        self._prev_row = (np.where(bottom >= 0, bottom + self.n, -1), bottom_values)
        for lst, arr in (
            (self.counts, part.counts),
            (self.sum_cols, part.sum_cols),
            (self.sum_rows, part.sum_rows),
            (self.first, part.first),
            (self.value, part.value),
            (self.rep, part.rep),
        ):
            lst.append(arr)
        self.n += part.n

    def _join(self, below: np.ndarray, below_values: np.ndarray) -> None:
        """Edges between the previous strip's last row and this strip's first row."""
        above, above_values = self._prev_row
        shifts = (0, -1, 1) if self.conn == 8 else (0,)
        w = above.size
        for dj in shifts:
            a = above[max(0, -dj) : w - max(0, dj)]
            av = above_values[max(0, -dj) : w - max(0, dj)]
            b = below[max(0, dj) : w - max(0, -dj)]
            bv = below_values[max(0, dj) : w - max(0, -dj)]
            ok = (a >= 0) & (b >= 0) & (av == bv)
            if ok.any():
                self.edges.append(np.column_stack([a[ok], b[ok]]))

    def finish(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Join clusters across seams; return rep flat index, value, size, per cluster.

        Clusters are ordered by their first pixel in row-major order.
        """
        from scipy.sparse import coo_matrix
        from scipy.sparse.csgraph import connected_components

        def cat(parts, dt):
            return np.concatenate(parts).astype(dt) if parts else np.zeros(0, dt)

        counts = cat(self.counts, np.int64)
        sum_cols, sum_rows = cat(self.sum_cols, np.int64), cat(self.sum_rows, np.int64)
        first, value, rep = (
            cat(self.first, np.int64),
            cat(self.value, np.float64),
            cat(self.rep, np.int64),
        )
        n = self.n
        if self.edges:
            e = np.concatenate(self.edges)
            graph = coo_matrix((np.ones(len(e), np.int8), (e[:, 0], e[:, 1])), shape=(n, n))
            m, root = connected_components(graph, directed=False)
        else:
            m, root = n, np.arange(n)
        total = np.bincount(root, weights=counts, minlength=m).astype(np.int64)
        tcols = np.bincount(root, weights=sum_cols, minlength=m).astype(np.int64)
        trows = np.bincount(root, weights=sum_rows, minlength=m).astype(np.int64)
        tfirst = np.full(m, np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(tfirst, root, first)
        tvalue = np.zeros(m)
        tvalue[root] = value
        trep = np.full(m, -1, dtype=np.int64)
        decided = rep >= 0
        trep[root[decided]] = rep[decided]
        if self.seam_runs:  # the merged clusters' representatives, from their runs
            rows, c0, c1, lab = np.concatenate(self.seam_runs).T
            flat, present = _nearest_in_runs(
                rows, c0, c1, root[lab], total, tcols, trows, self.width, m
            )
            trep[present] = flat
        order = np.argsort(tfirst, kind="stable")
        return trep[order], tvalue[order], total[order], n


# ----------------------------------------------------------------------------- sample


class _DataSpool:
    """Scale index of every data pixel (row-major) on disk, data mask bit-packed in memory.

    Lets the reconstruction check draw the same sample as one-piece processing once the
    number of data pixels is known.
    """

    def __init__(self, path: Path, table_size: int) -> None:
        self.dtype = np.uint16 if table_size <= 65536 else np.int32
        self.path = path
        self._f = open(path, "wb")  # closed in close()
        self.bits: list[np.ndarray] = []
        self.counts: list[int] = []
        self.row0: list[int] = []

    def pack(self, strip: _Strip) -> tuple[bytes, np.ndarray, int]:
        """A strip's part (thread-safe): index bytes, packed data mask, data count."""
        return (
            strip.index[strip.valid].astype(self.dtype).tobytes(),
            np.packbits(strip.valid.ravel()),
            int(strip.valid.sum()),
        )

    def add(self, strip: _Strip) -> None:
        """Append the next strip (strips in order)."""
        raw, bits, count = strip.data if strip.data is not None else self.pack(strip)
        self._f.write(raw)
        self.bits.append(bits)
        self.counts.append(count)
        self.row0.append(strip.row0)

    def close(self) -> None:
        self._f.close()

    def gather(self, picks: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Rows, columns and scale indices of the data pixels at sorted positions `picks`."""
        starts = np.cumsum([0, *self.counts])
        rows, cols, idx = [], [], []
        with open(self.path, "rb") as f:
            for k, (bits, count, row0) in enumerate(
                zip(self.bits, self.counts, self.row0, strict=True)
            ):
                lo, hi = np.searchsorted(picks, [starts[k], starts[k + 1]])
                chunk = np.fromfile(f, dtype=self.dtype, count=count)
                if lo == hi:
                    continue
                local = picks[lo:hi] - starts[k]
                where = np.flatnonzero(np.unpackbits(bits))[local]
                r, c = np.divmod(where, width)
                rows.append(r + row0)
                cols.append(c)
                idx.append(chunk[local])
        cat = lambda a: np.concatenate(a) if a else np.zeros(0, np.int64)  # noqa: E731
        return cat(rows), cat(cols), cat(idx)


def _check(
    spool: _DataSpool,
    scale: ColorScale,
    width: int,
    clusters: Clusters,
    sample: int,
    seed: int = 0,
) -> ReconstructionCheck:
    """:func:`geodigitize.reconstruct.check_reconstruction` from the spooled data pixels."""
    n = int(sum(spool.counts))
    sampled = n > sample
    picks = sample_positions(n, sample, seed)
    if n == 0 or len(clusters) == 0:
        return ReconstructionCheck(float("nan"), float("nan"), 0, sampled)
    # queries in row order: scipy's simplex walk then starts next door (5x faster than
    # the sample's random order; the same pixels, so the same median and percentile up
    # to rounding where a pixel centre lies on a triangle edge)
    rows, cols, index = spool.gather(picks, width)
    rebuilt = interpolate_points(clusters.col, clusters.row, clusters.value, cols + 0.5, rows + 0.5)
    err = np.abs(rebuilt - scale.values[index]) / scale.range * 100.0
    return ReconstructionCheck(
        float(np.median(err)), float(np.percentile(err, 95)), int(rows.size), sampled
    )


# ----------------------------------------------------------------------------- driver


@dataclass(frozen=True)
class _Counts:
    values: dict

    def __call__(self) -> dict:
        return dict(self.values)


@dataclass(frozen=True, eq=False)
class TiledExtraction:
    """What a tiled run produced: the same report and points as an Extraction.

    Per-pixel arrays are not kept (that is the point); ``grid.tif`` was written while the
    strips went by, to `grid_path`, and :meth:`write` moves it into the output folder.
    """

    image: ImageInfo
    scale: ColorScale
    clusters: Clusters
    georef: Georeference
    points: object
    check: object
    options: object
    timings: dict
    counts: _Counts
    grid_path: Path | None
    tiles: dict = field(default_factory=dict)
    #: (col0, row0, col1, row1) bounding box of the decoded pixels: grid.tif's extent
    data_window: tuple[int, int, int, int] | None = None
    # strips run only without refinement and contours (see strips_reproduce)
    refinement: None = None
    contours: None = None

    def report(self) -> dict:
        """The content of ``report.json`` (as one-piece processing, plus ``tiles``)."""
        out = build_report(
            image=self.image,
            options=self.options,
            scale=self.scale,
            counts=self.counts(),
            clustering=self.clusters.method,
            georef=self.georef,
            check=self.check,
            timings=self.timings,
        )
        out["tiles"] = self.tiles
        return out

    def writers(self) -> dict:
        """Each output's writer, ``writer(path)``, keyed by file name; ``grid.tif``'s
        moves the streamed grid (a rename when it was streamed into the same folder)."""
        from .io import finish_grid, write_json, write_points
        from .styles import grid_style, points_style, write_style

        if self.grid_path is None or not Path(self.grid_path).exists():
            raise RuntimeError("the grid was not streamed or was already moved")
        return {
            "points.gpkg": lambda p: write_points(p, self.points),
            "grid.tif": lambda p: finish_grid(
                self.grid_path, p, self._grid_extent(), overviews=False
            ),  # built when streamed
            "report.json": lambda p: write_json(p, self.report()),
            "grid.qml": lambda p: write_style(p, grid_style(self.scale)),
            "points.qml": lambda p: write_style(p, points_style(self.scale)),
        }

    def write(self, out_dir: str | Path, *, overwrite: bool = False) -> dict[str, Path]:
        """Write ``points.gpkg``, ``report.json`` and the streamed ``grid.tif``, committed
        as one set (see :class:`geodigitize.io.OutputSet`)."""
        from .io import write_outputs

        return write_outputs(out_dir, self.writers(), overwrite=overwrite)

    def _grid_extent(self) -> tuple[int, int, int, int]:
        """The streamed grid is already cropped to :attr:`data_window`."""
        c0, r0, c1, r1 = self.data_window
        return (0, 0, c1 - c0, r1 - r0)

    def discard(self) -> None:
        """Remove the streamed grid (when not writing it)."""
        if self.grid_path is not None:
            with contextlib.suppress(FileNotFoundError):
                Path(self.grid_path).unlink()


def extract_tiled(
    image: str | Path,
    *,
    gcps=None,
    options=None,
    progress=None,
    grid_dir: str | Path | None = None,
    strip_rows: int | None = None,
    sample: int = DEFAULT_SAMPLE,
    **kwargs,
) -> TiledExtraction:
    """:func:`geodigitize.pipeline.extract` in strips of rows, with bounded memory.

    Parameters
    ----------
    image : path
        A PNG or TIFF that :func:`can_tile` accepts.
    gcps : path or GCPSet
    options : Options, optional
        Or its fields as keyword arguments.
    progress : callable, optional
        ``progress(stage, "start"|"end")``.
    grid_dir : path, optional
        Folder for the streamed ``grid.tif`` (a hidden temporary name there); the output
        folder, so :meth:`TiledExtraction.write` is a rename. Default: the system's.
    strip_rows : int, optional
        Rows per strip (default: about :data:`DEFAULT_STRIP_PIXELS` pixels).
    sample : int
        Pixels compared by the reconstruction check (as one-piece processing).

    Returns
    -------
    TiledExtraction
        Points, counts, check and report equal to one-piece processing's.
    """
    opts = options or Options(**kwargs)
    stage = StageTimer(progress)
    gcpset = load_gcps(gcps, opts.gcp_crs)
    if gcpset is None:  # strips fit GCPs only (no world file): say so before any work
        raise GCPError(
            "no ground control points: strip processing needs --gcps FILE (a CSV with "
            "col,row,lon,lat or a QGIS .points file)"
        )
    reader = StripReader(image)
    try:
        with stage("georeference"):
            geo = georeference(gcpset, reader.shape, kind=opts.transform, crs=opts.crs)
            _, gt, crs = geo.grid_placement(np.empty((0, 0)))
        with stage("colour scale"):
            scale = build_scale(**opts.scale_parameters(), image=None)
        region = _region_axes(reader.shape, opts.region)
        rows = strip_rows or max(64, DEFAULT_STRIP_PIXELS // reader.shape[1])
        with stage("strips"), _work_files(grid_dir) as (grid_path, spool_dir):
            result = _run_strips(
                reader, scale, opts, rows, region, gt, crs, grid_path, spool_dir, sample, stage
            )
    finally:
        reader.close()
    counts, clusters, check, strip_timings, window, opts = result
    if counts["data"] == 0:
        _discard(grid_path)
        by_reason = [counts["masked_by_reason"][r.name.lower()] for r in Reason]
        require_data(np.array(by_reason), str(image), opts.max_distance)
    with stage("points"):
        points = points_frame(clusters, geo, opts.out_crs)
    timings = {**strip_timings, **stage.timings}
    info = ImageInfo(str(image), *_format_mode(image), reader.shape)
    counts["points"] = len(points)
    return TiledExtraction(
        info,
        scale,
        clusters,
        geo,
        points,
        check,
        opts,
        timings,
        _Counts(counts),
        grid_path,
        {"strip_rows": rows, "strips": -(-reader.shape[0] // rows)},
        window,
    )


def _format_mode(path) -> tuple[str, str]:
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with Image.open(path) as pil:
            return pil.format or "", pil.mode


def _discard(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        Path(path).unlink()


@contextlib.contextmanager
def _work_files(grid_dir) -> Iterator[tuple[Path, Path]]:
    """A hidden temporary grid path (kept on success) and a scratch folder (always removed)."""
    folder = Path(grid_dir) if grid_dir is not None else Path(tempfile.gettempdir())
    fd, name = tempfile.mkstemp(prefix=".grid.", suffix=".tif", dir=folder)
    os.close(fd)
    os.unlink(name)
    grid = Path(name)
    try:
        with tempfile.TemporaryDirectory(prefix="geodigitize-") as scratch:
            yield grid, Path(scratch)
    except BaseException:
        _discard(grid)
        raise


def _distances(first: _FirstPass, opts) -> tuple[float, float | None, object]:
    """Masking distances as :func:`geodigitize.mask.mask_image` chooses them, and the
    options it reports (automatic choices replaced by the values used)."""
    max_d, halo_d = opts.max_distance, opts.halo_distance
    auto = {}
    if AUTO in (max_d, halo_d):
        auto_max, auto_halo = auto_distances(
            first.distance, counts=first.candidates, **AUTO_DISTANCE[opts.color_space]
        )
        if max_d == AUTO:
            max_d, auto["max_distance"] = auto_max, AUTO
        if halo_d == AUTO:
            halo_d, auto["halo_distance"] = auto_halo, AUTO
    halo_d = None if halo_d is None else float(halo_d)
    fit = MaskFit(float(max_d), halo_d, opts.region, opts.exclude_tol, opts.smoothness, auto)
    return float(max_d), halo_d, opts.with_fit(fit)


def _grid_lut(scale: ColorScale) -> np.ndarray | None:
    """Value (float32) of each spooled grid code: scale entries, then NaN for masked
    pixels (code 65535); None when the scale has too many entries for 16-bit codes."""
    if scale.values.size >= _MASKED_CODE:
        return None
    lut = np.full(_MASKED_CODE + 1, np.nan, dtype=np.float32)
    lut[: scale.values.size] = scale.values
    return lut


def _grid_codes(strip: _Strip, lut: np.ndarray | None) -> np.ndarray:
    """A strip's grid rows as spooled: scale entries (or values when `lut` is None)."""
    if lut is None:
        return np.where(strip.valid, strip.values, np.nan).astype(np.float32)
    return np.where(strip.valid, strip.index, _MASKED_CODE).astype(np.uint16)


def _write_grid(
    raw: _RowFile, lut: np.ndarray | None, path: Path, window, gt, crs, rows: int
) -> None:
    """The spooled grid inside `window` as a compressed GeoTIFF with overviews."""
    from affine import Affine

    from .io import GridWriter

    c0, r0, c1, r1 = window
    # whole rows of GeoTIFF blocks at a time: GDAL then compresses each block once,
    # on all cores, instead of holding part-written blocks in its cache
    block = GridWriter.BLOCK
    rows = max(block, -(-rows // block) * block)
    with GridWriter(path, (r1 - r0, c1 - c0), gt @ Affine.translation(c0, r0), crs) as out:
        for top in range(r0, r1, rows):
            bottom = min(top + rows, r1)
            codes = raw[top:bottom][:, c0:c1]
            out.write_rows(top - r0, codes if lut is None else lut[codes])


def _run_strips(reader, scale, opts, rows, region, gt, crs, grid_path, spool_dir, sample, stage):
    height, width = reader.shape
    conn = 0 if opts.eps < 1 else (4 if opts.eps < np.sqrt(2) else 8)
    book = _ClusterBook(width, conn)
    data = _DataSpool(spool_dir / "data.bin", len(scale.values))
    timings = dict.fromkeys(("read", "decode", "mask", "flat", "label", "grid"), 0.0)
    first = _first_pass(
        reader,
        scale,
        opts.color_space,
        rows,
        region,
        AUTO in (opts.max_distance, opts.halo_distance),
        spool_dir / "ids.bin",
        timings,
    )
    max_d, halo_d, opts = _distances(first, opts)
    reasons = np.zeros(len(Reason), dtype=np.int64)
    flat_total = 0
    method = ""
    data_rows: list[int] = []
    data_cols = np.zeros(width, dtype=bool)
    # values go to a raw file first: grid.tif is compressed once, cropped to the data
    lut = _grid_lut(scale)
    grid_raw = _RowFile(spool_dir / "grid.bin", width, np.float32 if lut is None else np.uint16)
    with grid_raw:
        for strip in _strips(
            first,
            scale,
            opts,
            max_d,
            halo_d,
            rows,
            region,
            timings,
            workers=_WORKERS,
            book=book,
            data=data,
            lut=lut,
        ):
            any_row = np.flatnonzero(strip.valid.any(axis=1))
            if any_row.size:
                data_rows += [strip.row0 + int(any_row[0]), strip.row0 + int(any_row[-1]) + 1]
            data_cols |= strip.valid.any(axis=0)
            t = time.perf_counter()
            book.add(strip.clusters)
            data.add(strip)
            method = strip.method
            timings["label"] += time.perf_counter() - t
            t = time.perf_counter()
            grid_raw.append(strip.grid_rows)
            timings["grid"] += time.perf_counter() - t
            reasons += strip.reason_counts
            flat_total += int(strip.flat.sum())
    data.close()
    cols = np.flatnonzero(data_cols)
    window = (
        (int(cols[0]), min(data_rows), int(cols[-1]) + 1, max(data_rows))
        if cols.size
        else (0, 0, width, height)
    )

    def write_grid() -> float:
        t = time.perf_counter()
        _write_grid(grid_raw, lut, grid_path, window, gt, crs, rows)
        return time.perf_counter() - t

    # GDAL compresses the grid (without the GIL) while the clusters are merged and checked
    with ThreadPoolExecutor(1) as pool:
        writing = pool.submit(write_grid)
        with stage("merge"):
            rep, value, n_pixels, _ = book.finish()
        r, c = np.divmod(rep, width)
        clusters = Clusters(c + 0.5, r + 0.5, value, n_pixels, np.zeros((0, 0), np.int32), method)
        with stage("reconstruction check"):
            check = _check(data, scale, width, clusters, sample)
        timings["grid"] += writing.result()
    counts = {
        "pixels": height * width,
        "distinct_colors": int(first.colors.size),
        "masked": int(height * width - reasons[Reason.DATA]),
        "masked_by_reason": {r.name.lower(): int(reasons[r]) for r in Reason},
        "data": int(reasons[Reason.DATA]),
        "flat": flat_total,
        "clusters": len(clusters),
    }
    timings = {f"strips: {k}": v for k, v in timings.items()}
    return counts, clusters, check, timings, window, opts
