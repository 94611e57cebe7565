"""The engine: every image runs through here, in strips of rows, one strip or many.

An image comes from a row source (:mod:`geodigitize.sources`: ``StripReader`` reads PNG
and TIFF files row by row through GDAL; ``ArraySource`` holds an image Pillow decoded:
JPEG, EXIF-rotated or ICC-corrected images, 16-bit and 1-bit modes, PDF pages, arrays).
The engine reads it once, top to bottom (the next strip on a thread while this one is
numbered): that first pass numbers the distinct colours, spools every pixel's colour
number (16 bits while there are fewer than 2**15 colours) and counts the candidate
pixels of each colour.

What the mask stage needs from the whole image is then fitted, once, apart from the
options the user gave (:class:`Fitted`; :class:`geodigitize.mask.MaskFit` for the
distances, smoothness and region): the frame for ``region="auto"``
(:func:`geodigitize.frame.find_frame` on the image in memory, or on every k-th row and
column of a streamed one, see :func:`_find_frame`), the excluded colours
(:func:`geodigitize.mask.fit_exclusion`, per distinct colour), the automatic distances
(:func:`geodigitize.mask.auto_distances`, a median over the whole image, exact from the
per-colour counts) and the halo rule's field colours (:func:`geodigitize.mask.field_colors`
over the spooled ids, strips spread over the image first, stopping once every colour
that can be data has been met away from ink).

Each strip is then decoded and masked by :func:`geodigitize.mask.mask_rows` with the
rows of context :func:`geodigitize.mask.context_rows` declares (plus one for the flat
test), so its core rows get exactly what one strip of the whole image gets; masking
that needs the whole image (the smoothness check and JPEG restoration) declares no
depth, and the image then runs as one strip. Results go to sinks:

- Clusters are labelled per strip; those touching a seam are joined exactly when
  equal-valued pixels across the seam are neighbours (4 or 8 connectivity, as DBSCAN's
  ``eps`` decides), by connected components over the strip labels. A cluster is kept
  as runs along rows, from which its count and sums follow (exact integers), and its
  member nearest the centroid (:func:`geodigitize.reduce.centroid_distance_key`, ties
  to the first in row order).
- Per-pixel rows (:func:`geodigitize.store.pixel_codes`: scale entry or masking
  reason, 2 bytes; flat pixels; cluster ids when a later stage needs them), kept in
  memory when the image is (:class:`geodigitize.store.RowMemory`), else spooled to
  disk (:class:`geodigitize.store.RowSpool`), and read back through one
  :class:`geodigitize.store.SpoolStore`.
- The reconstruction check's sample: the data count of each strip, the sample drawn
  once the number of data pixels is known (the same pixels
  :func:`geodigitize.reconstruct.check_reconstruction` draws) and gathered from the
  spooled pixel codes (a data pixel's code is its scale entry).
- ``grid.tif``, streamed when the image is not kept: from the spooled pixel codes,
  written compressed once, cropped to the decoded pixels, with
  overviews (:class:`geodigitize.io.GridWriter`, which computes GDAL's averages as the
  rows are written, :mod:`geodigitize.overviews`), while the clusters are merged.

Memory for a streamed image is a few hundred bytes per pixel of a strip (1 million
pixels by default, two strips in flight) plus a 64 MB colour table, and a few bits per
image pixel; spools go to disk.

The whole-image stages after the strips (the ``--target-error`` search, contours, the
preview, a non-affine grid) read the per-pixel store
(:class:`geodigitize.store.SpoolStore`) a block of rows at a time. Clustering other than
DBSCAN's ``min_samples=1, eps < 2`` (connected components) runs strip by strip too, by
:class:`geodigitize.dbscan.StripDBSCAN` with its own rows of context. Only
``--colorbar auto`` needs the image kept in memory (:func:`needs_memory`); a colorbar
given as a box is read in the first pass (:class:`ScaleFromRows`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ._threads import WORKERS, in_order
from .colormap import ColorScale
from .colors import unpack_rgb
from .dbscan import DBSCANResult, StripDBSCAN
from .decode import Decoded, lookup_colors
from .errors import ColorScaleError
from .filters import any_in_window
from .frame import find_frame, frame_step
from .mask import (
    AUTO,
    Exclusion,
    MaskFit,
    Reason,
    context_rows,
    fit_mask,
    mask_rows,
    require_data,
)
from .preview import decimate, preview_step
from .reconstruct import (
    DEFAULT_SAMPLE,
    ReconstructionCheck,
    interpolate_points,
    sample_positions,
)
from .reduce import (
    Clusters,
    cluster_runs,
    equal_codes,
    flat_mask,
    labels_from_runs,
    nearest_in_runs,
    representatives_store,
    run_sums,
)
from .region import region_axes
from .shading import explain_colors
from .sources import default_strip_rows
from .store import RowMemory, RowSpool, SpoolStore, code_dtype, pixel_codes

__all__ = [
    "Fitted",
    "ScaleFromRows",
    "StripRun",
    "needs_memory",
    "run_strips",
    "strip_clusterable",
]


# ----------------------------------------------------------------------------- options


def strip_clusterable(options) -> bool:
    """Whether clusters can be found strip by strip and joined at the seams: DBSCAN with
    ``min_samples=1`` and ``eps < 2`` is connected components of equal values."""
    return options.min_samples == 1 and options.eps < 2


def needs_memory(options) -> bool:
    """Whether `options` need the image and its per-pixel results in memory.

    True only for ``colorbar="auto"`` (:func:`geodigitize.colorbar.locate_colorbar`
    searches the whole image); everything else runs strip by strip (see the module's
    notes).
    """
    colorbar = options.colorbar
    return isinstance(colorbar, str) and colorbar.strip().lower() == AUTO


# ----------------------------------------------------------------------------- strips


@dataclass
class _Strip:
    """One strip's decoded core rows (``row0 .. row0 + h``)."""

    row0: int
    entry_values: np.ndarray  # (K,) the scale's values: a pixel's is entry_values[index]
    index: np.ndarray  # (h, W) int32 scale index
    valid: np.ndarray  # (h, W) bool
    flat: np.ndarray  # (h, W) bool
    reason_counts: np.ndarray  # per Reason
    reason: np.ndarray | None = None  # (h, W) uint8
    clusters: _StripClusters | None = None  # filled by the worker, see summarise_runs()
    labels: np.ndarray | None = None  # (h, W) DBSCAN's provisional labels, when kept
    runs: tuple | None = None  # (rows, col0, col1, lab) of cluster_runs, when labels kept
    method: str = ""  # how its clusters were found (see reduce.cluster_labels)
    codes: np.ndarray | None = None  # (h, W) see geodigitize.store.pixel_codes
    near: tuple | None = None  # (row0, values, flat) with DBSCAN's context rows


class _ColorIds:
    """Number every distinct colour as met (one 2**24 table), look them all up at the end.

    Per pixel this costs one gather from the big table; scale index, distance and RGB
    then come from small per-colour arrays. Holds up to 64 MB.
    """

    def __init__(self) -> None:
        # id + 1 of each colour met, 0 for the others: zeros are mapped lazily, so only
        # the pages that hold a met colour are ever touched (np.full(-1) wrote all 64 MB,
        # 0.01-0.5 s of page faults at the start of every streamed run)
        self._id = np.zeros(1 << 24, dtype=np.int32)
        self._new: list[np.ndarray] = []
        self.n = 0

    def __call__(self, packed: np.ndarray) -> np.ndarray:
        """Colour id of each pixel of `packed` (packed RGB, any shape), numbering the
        colours not met before in the order of their packed values."""
        return self.resolve(packed, self.lookup(packed))

    def lookup(self, packed: np.ndarray) -> np.ndarray:
        """Each pixel's entry (id + 1, 0 for a colour not numbered yet), for
        :meth:`resolve`.

        The first pass runs this on its read-ahead thread while the main thread numbers
        the previous strip's new colours: an entry is only ever set once, from 0, so a
        lookup that ran too early only reads some 0 that :meth:`resolve` then finds
        numbered.
        """
        # indexed by the packed colours as they are: numpy casts the index in small
        # buffers, where ``np.take`` (or an ``astype(np.intp)`` for it) makes a whole
        # 8-byte copy of it, 800 MB of new memory over a 100 MP image
        return self._id[packed]

    def resolve(self, packed: np.ndarray, found: np.ndarray) -> np.ndarray:
        """Colour ids from a :meth:`lookup` of `packed`, numbering the colours met for
        the first time (in place: `found` becomes the ids)."""
        if found.min(initial=1) == 0:
            zero = found == 0
            colors = packed[zero]
            unseen = np.unique(_without_repeats(colors))
            new = unseen[self._id[unseen] == 0]  # not numbered since the lookup
            self._id[new] = np.arange(self.n + 1, self.n + 1 + new.size, dtype=np.int32)
            self._new.append(new)
            self.n += int(new.size)
            # only those pixels: every other entry was set before the lookup, and an
            # entry is set once (a strip's lookup again cost 2 ms a million pixels)
            found[zero] = self._id[colors]
        found -= 1
        return found

    def colors(self) -> np.ndarray:
        """Packed colour of each id, shape (n,), uint32."""
        return np.concatenate(self._new) if self._new else np.zeros(0, np.uint32)

    def colors_since(self, start: int) -> np.ndarray:
        """Packed colour of ids ``start ..``, shape (n - start,), uint32."""
        parts, first = [], self.n
        for new in reversed(self._new):
            if first <= start:
                break
            parts.append(new)
            first -= new.size
        if not parts:
            return np.zeros(0, np.uint32)
        return np.concatenate(parts[::-1])[start - first :]


def _without_repeats(values: np.ndarray) -> np.ndarray:
    """`values` (1-D) without the elements equal to the one before: the same distinct
    values, from far fewer elements when equal values come in runs (a new colour's
    pixels, in row order, fill whole bands of a field), which makes ``np.unique`` of
    them ~5x faster."""
    if values.size < 2:
        return values
    return values[np.r_[True, values[1:] != values[:-1]]]


def _id_counts(ids: np.ndarray, n: int) -> np.ndarray:
    """Pixels of each id in `ids`: ``np.bincount(ids.ravel(), minlength=n)``.

    Counted per run of equal ids in row order where runs are long (a field's colours
    fill bands of rows): one weighted count of the runs costs about half as much as
    counting every pixel (1.1 vs 2.6 ms for a 1 M-pixel strip of the 100 MP benchmark
    figure, on the first pass's main thread). Where runs are short (noise, JPEG), every
    pixel is counted.

    Parameters
    ----------
    ids : ndarray of non-negative ints, any shape
    n : int
        Least length of the result.

    Returns
    -------
    ndarray of shape (max(n, ids.max() + 1),) and dtype int64
    """
    flat = ids.ravel()
    change = flat[1:] != flat[:-1]
    runs = int(np.count_nonzero(change)) + 1
    if flat.size < 2 or runs > flat.size // 4:
        return np.bincount(flat, minlength=n).astype(np.int64, copy=False)
    starts = np.empty(runs, dtype=np.intp)
    starts[0] = 0
    starts[1:] = np.flatnonzero(change) + 1
    lengths = np.diff(starts, append=flat.size)
    # float64 weights add whole numbers exactly up to 2**53
    return np.bincount(flat[starts], weights=lengths, minlength=n).astype(np.int64)


@dataclass
class _FirstPass:
    """What one read of the image leaves: colour ids and per-colour statistics."""

    ids: RowSpool | RowMemory  # (H, W) int32; ~id for transparent pixels
    colors: np.ndarray  # (n,) uint32 packed
    index: np.ndarray  # (n,) scale index
    distance: np.ndarray  # (n,) float32
    candidates: np.ndarray | None  # (n,) int64 candidate pixels per colour
    thumbnail: _Thumbnail | None = None  # a reduced view, see _Thumbnail
    scale: ColorScale | None = None  # the scale the colours were looked up in
    intensity: np.ndarray | None = None  # (n,) float32 explaining shading, shaded scales
    opaque: bool = False  # every pixel opaque (no ~id in `ids`)


class _Thumbnail:
    """A view of the whole image kept during the first pass for what needs to see it all
    (the frame): each `step` x `step` block of pixels reduced to its darkest pixel (its
    colour and colour id), so that lines thinner than a block (a frame's spines) stay.

    Darkness is the luma :func:`geodigitize.frame.darkest_in_blocks` ranks an image held
    in memory by (in 32 bits: 16 would wrap for light colours), computed once per
    distinct colour and looked up by colour id, not per pixel; ties go to the first pixel
    in row order, as there.
    """

    def __init__(self, step: int) -> None:
        self.step = step
        self.ids: list[np.ndarray] = []
        self._rows: np.ndarray | None = None  # rows not yet reduced
        self._luma = np.zeros(0, dtype=np.uint32)  # per colour id
        self._colors = np.zeros(0, dtype=np.uint32)  # packed colour per id

    def add(self, ids: np.ndarray, new_colors: np.ndarray) -> None:
        """The next rows of the image: colour ids (~id for transparent pixels), and the
        packed colours of the ids numbered since the last call (ids ``n ..`` where `n`
        ids were known then), shape (m,) uint32.

        Takes no :class:`_ColorIds`: the first pass calls this on a thread of its own
        while its main thread numbers the next rows' colours.
        """
        if new_colors.size:
            rgb = unpack_rgb(new_colors).astype(np.uint32)
            luma = 299 * rgb[..., 0] + 587 * rgb[..., 1] + 114 * rgb[..., 2]
            self._luma = np.concatenate([self._luma, luma])
            self._colors = np.concatenate([self._colors, new_colors])
        if self._rows is not None:
            ids = np.concatenate([self._rows, ids])
        k = self.step
        whole = ids.shape[0] // k * k
        self._rows = ids[whole:] if whole < ids.shape[0] else None
        if whole:
            self._reduce(ids[:whole])

    def _reduce(self, ids: np.ndarray) -> None:
        k = self.step
        whole = ids.shape[1] // k * k
        parts = [self._darkest(ids[:, :whole])] if whole else []
        if whole < ids.shape[1]:  # the last column block is narrower: repeat its last column
            pad = k - (ids.shape[1] - whole)
            parts.append(self._darkest(np.pad(ids[:, whole:], ((0, 0), (0, pad)), mode="edge")))
        self.ids.append(np.concatenate(parts, axis=1) if len(parts) > 1 else parts[0])

    def _darkest(self, ids: np.ndarray) -> np.ndarray:
        """The id of the darkest pixel of each k x k block of `ids` (k whole blocks each
        way), the first in row-major order on a tie.

        Each pixel gets one key, ``luma * k**2 + its place in its block`` (row-major),
        so that the smallest key of a block is its darkest pixel and, among equals, the
        first: the blocks' minima then come from k row-wise and k strided minimum
        passes over the image, with no copy of it reordered by block (twice as fast).
        """
        k = self.step
        h, w = ids.shape[0] // k, ids.shape[1] // k
        kk = k * k
        real = ids ^ (ids >> 31) if ids.min(initial=0) < 0 else ids  # ~id: transparent
        big = int(self._luma.max(initial=0)) * kk + kk >= 2**32  # keys beyond 32 bits
        key = (self._luma.astype(np.uint64 if big else np.uint32) * kk)[real]
        place = np.arange(k)[:, None] * k + np.arange(w * k)[None, :] % k  # in its block
        key = key.reshape(h, k, w * k)
        key += place.astype(key.dtype)
        rows = np.minimum.reduce(key, axis=1)  # (h, w * k): each column's best in its block
        best = rows[:, ::k].copy()
        for dc in range(1, k):
            np.minimum(best, rows[:, dc::k], out=best)
        dr, dc = np.divmod((best % kk).astype(np.intp), k)
        dr += np.arange(0, h * k, k)[:, None]
        dc += np.arange(0, w * k, k)[None, :]
        return ids[dr, dc]

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """The view's RGB (h, w, 3) uint8 and colour ids (h, w)."""
        if self._rows is not None:  # the last rows, a shorter block: repeat its last row
            extra = self.step - self._rows.shape[0]
            self._reduce(np.pad(self._rows, ((0, extra), (0, 0)), mode="edge"))
            self._rows = None
        ids = np.concatenate(self.ids)
        ids = np.where(ids >= 0, ids, ~ids)
        return unpack_rgb(self._colors[ids]), ids


class _PreviewRows:
    """The image sampled as the preview draws it (every `step`-th row and column), kept
    during the first pass of a streamed image."""

    def __init__(self, shape: tuple[int, int]) -> None:
        self.step = preview_step(shape)
        self.packed: list[np.ndarray] = []
        self.opaque: list[np.ndarray] = []

    def add(self, r0: int, packed: np.ndarray, opaque: np.ndarray) -> None:
        """Rows ``r0 ..`` of the image (packed colours and opacity)."""
        self.packed.append(decimate(r0, packed, self.step))
        self.opaque.append(decimate(r0, opaque, self.step))

    def rgb(self) -> np.ndarray:
        """The sampled image, (h, w, 3) uint8, or (h, w, 4) when some pixel is
        transparent."""
        rgb = unpack_rgb(np.concatenate(self.packed))
        opaque = np.concatenate(self.opaque)
        if opaque.all():
            return rgb
        return np.dstack([rgb, np.where(opaque, 255, 0).astype(np.uint8)])


class _Behind:
    """Calls run in order on one thread, at most `depth` waiting, while the caller goes
    on (``depth`` 0: no thread, nothing submitted). Leaving the ``with`` block waits for
    them all and raises the first error; the caller must not change the arrays it
    passed until then."""

    def __init__(self, depth: int) -> None:
        self.depth = depth
        self._pool = ThreadPoolExecutor(1) if depth else None
        self._pending: list[Future] = []

    def submit(self, fn, *args) -> None:
        """Run ``fn(*args)`` after the calls submitted before it."""
        if len(self._pending) > self.depth:
            self._pending.pop(0).result()
        self._pending.append(self._pool.submit(fn, *args))

    def __enter__(self) -> _Behind:
        return self

    def __exit__(self, *exc) -> None:
        if self._pool is None:
            return
        try:
            for pending in self._pending:
                if exc[0] is None:
                    pending.result()
                else:
                    pending.cancel()
        finally:
            self._pool.shutdown(wait=True)


def _read_ahead(reader, strip_rows: int, then=None) -> Iterator[tuple[int, int, object]]:
    """Strips ``(a, b, future of reader.read(a, b))`` in order, the next one being read
    on a thread (GDAL decodes without the GIL) while the caller works on this one. With
    `then`, the future's result is ``then(*reader.read(a, b))``, worked out on that
    thread too."""

    def read(a: int, b: int):
        got = reader.read(a, b)
        return got if then is None else then(*got)

    height = reader.shape[0]
    starts = range(0, height, strip_rows)
    with ThreadPoolExecutor(1) as pool:  # one thread: strips are read in order
        ahead = None
        for a in starts:
            b = min(a + strip_rows, height)
            current = ahead if ahead is not None else pool.submit(read, a, b)
            ahead = pool.submit(read, b, min(b + strip_rows, height)) if b < height else None
            yield a, b, current


def _first_pass(
    reader,
    lookup_scale,
    color_space: str,
    strip_rows: int,
    region,
    count: bool,
    ids_file,
    timings: dict,
    thumbnail: _Thumbnail | None = None,
    preview: _PreviewRows | None = None,
) -> _FirstPass:
    """Read the image once: colour id of every pixel to `ids_file`, and with `count` the
    candidate pixels of each colour (opaque, inside the box `region`), which
    :func:`geodigitize.mask.auto_distances` weighs. `lookup_scale` is the colour scale,
    or a :class:`ScaleFromRows` whose rows and border are kept on the way."""
    bar = None
    if isinstance(lookup_scale, ScaleFromRows):
        bar = _BarRows(lookup_scale, reader.shape)
    if region is not None:
        inside = np.flatnonzero(region[1])
        cols = slice(inside[0], inside[-1] + 1) if inside.size else slice(0, 0)
    table = _ColorIds()
    counts = np.zeros(0, dtype=np.int64)
    every_opaque = True
    # the view of the whole image (a few gathers and minima per pixel) is reduced on a
    # thread of its own, a strip or two behind the main thread (numpy releases the GIL)
    thumbs = _Behind(1 if thumbnail is not None else 0)
    sent = 0  # colour ids whose colours the view was given
    with ids_file, thumbs:
        # the read-ahead thread also looks the colours up (about 2 ms of the main
        # thread's ~5 ms per million pixels); the main thread numbers the new ones
        then = lambda packed, opaque: (packed, opaque, table.lookup(packed))  # noqa: E731
        for a, b, pending in _read_ahead(reader, strip_rows, then):
            t = time.perf_counter()
            packed, opaque, found = pending.result()
            timings["read"] += time.perf_counter() - t
            t = time.perf_counter()
            ids = table.resolve(packed, found)
            all_opaque = bool(opaque.all())
            every_opaque &= all_opaque
            if count:  # the region is a box: slice it rather than mask
                rows = np.flatnonzero(region[0][a:b]) if region is not None else None
                part, part_opaque = ids, opaque
                if rows is not None:
                    box = (slice(rows[0], rows[-1] + 1) if rows.size else slice(0, 0), cols)
                    part, part_opaque = ids[box], opaque[box]
                c = _id_counts(part if all_opaque else part[part_opaque], table.n)
                counts = np.pad(counts, (0, table.n - counts.size)) + c
            if not all_opaque:
                ids = np.where(opaque, ids, ~ids)
            if thumbnail is not None:
                thumbs.submit(thumbnail.add, ids, table.colors_since(sent))
                sent = table.n
            if preview is not None:
                preview.add(a, packed, opaque)
            if bar is not None:
                bar.add(a, packed)
            # ids and ~ids fit in int16 while there are at most 2**15 - 1 colours
            ids_file.append(ids, np.int16 if table.n < 2**15 else np.int32)
            timings["decode"] += time.perf_counter() - t
    t = time.perf_counter()
    colors = table.colors()
    if bar is not None:
        lookup_scale = bar.scale()
    distance, index = lookup_colors(unpack_rgb(colors), lookup_scale, color_space)
    intensity = None
    if "shading" in lookup_scale.extra:  # each colour at its best shading (mask_image too)
        found = explain_colors(unpack_rgb(colors), index, lookup_scale, color_space)
        index, distance, intensity = found.index, found.distance, found.intensity
    timings["decode"] += time.perf_counter() - t
    return _FirstPass(
        ids_file,
        colors,
        index,
        distance,
        np.pad(counts, (0, colors.size - counts.size)) if count else None,
        thumbnail,
        lookup_scale,
        intensity,
        every_opaque,
    )


@dataclass(frozen=True, eq=False)
class ScaleFromRows:
    """A colour scale sampled from a colorbar box of a streamed image, built once the
    first pass has read the box's rows and the image's border (the page colour).

    Attributes
    ----------
    box : (x0, y0, x1, y1)
        The colorbar box, pixel corners of the whole image.
    build : callable
        ``build(image, box) -> ColorScale``: the scale from an image holding the box's
        pixels (:func:`geodigitize.scale.build_scale` with ``colorbar=box``).
    """

    box: tuple[float, float, float, float]
    build: Callable[[np.ndarray, tuple], ColorScale]


class _BarRows:
    """The rows of a colorbar box and the image's border, kept during the first pass.

    The colorbar sampler reads the pixels inside its box and the page colour (the most
    common colour of the image's border, :func:`geodigitize.frame.page_color`). It is
    given the box's pixels framed by rows of the page colour, enough of them that the
    page colour stays the most common colour of that small image's border: the same
    pixels and the same page as in the whole image.
    """

    def __init__(self, late: ScaleFromRows, shape: tuple[int, int]) -> None:
        height, width = shape
        x0, y0, x1, y1 = late.box
        if x0 < 0 or y0 < 0 or x1 > width or y1 > height:
            raise ColorScaleError(
                f"colorbar box {x0:g},{y0:g},{x1:g},{y1:g} reaches outside the "
                f"{width}x{height} image: keep 0 <= x <= {width} and 0 <= y <= {height}"
            )
        self.late, self.shape = late, shape
        self.rows = (max(int(np.ceil(y0 - 0.5)), 0), min(int(np.floor(y1 - 0.5)) + 1, height))
        self.cols = (max(int(np.ceil(x0 - 0.5)), 0), min(int(np.floor(x1 - 0.5)) + 1, width))
        self.band: list[np.ndarray] = []
        self.border: list[np.ndarray] = []

    def add(self, a: int, packed: np.ndarray) -> None:
        """Rows ``a ..`` of the image, packed."""
        b = a + packed.shape[0]
        if a == 0:
            self.border.append(packed[0])
        if b == self.shape[0]:
            self.border.append(packed[-1])
        self.border += [packed[:, 0], packed[:, -1]]
        r0, r1 = max(a, self.rows[0]), min(b, self.rows[1])
        if r0 < r1:
            self.band.append(packed[r0 - a : r1 - a, self.cols[0] : self.cols[1]].copy())

    def scale(self) -> ColorScale:
        colors, counts = np.unique(np.concatenate(self.border), return_counts=True)
        page = colors[np.argmax(counts)]
        width = self.cols[1] - self.cols[0]
        band = np.concatenate(self.band) if self.band else np.zeros((0, width), np.uint32)
        n = band.shape[0] // 2 + 2  # page rows above and below: the border's commonest
        frame = np.full((n, max(width, 1)), page, dtype=np.uint32)[:, :width]
        image = unpack_rgb(np.concatenate([frame, band, frame]))
        dx, dy = self.cols[0], self.rows[0] - n
        x0, y0, x1, y1 = self.late.box
        scale = self.late.build(image, (x0 - dx, y0 - dy, x1 - dx, y1 - dy))
        box = scale.extra.get("colorbar_box")
        if box is not None:  # in the whole image's pixels
            scale.extra["colorbar_box"] = [
                round(v + d, 2) for v, d in zip(box, (dx, dy) * 2, strict=True)
            ]
        return scale


def _window(
    first: _FirstPass, lo: int, hi: int, dtype=None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Colour ids of rows ``lo .. hi`` (as `dtype`: ``np.intp`` for the strips, which
    gather with them several times) and their opacity (None when all opaque)."""
    ids = first.ids.read(lo, hi, dtype)
    if first.opaque:
        return ids, None
    opaque = ids >= 0
    if opaque.all():
        return ids, None
    return np.where(opaque, ids, ~ids), opaque


def _inside(region, lo: int, hi: int) -> np.ndarray | None:
    """Pixels of rows ``lo .. hi`` inside the region (its row and column axes)."""
    if region is None:
        return None
    return region[0][lo:hi, None] & region[1][None, :]


@dataclass(frozen=True, eq=False)
class Fitted:
    """What the engine fitted from the whole image, apart from the options given.

    Attributes
    ----------
    mask : MaskFit
        Distances, smoothness and region used, and which were automatic.
    exclusion : Exclusion or None
        `exclude_color`'s decision per distinct colour.
    field_ : ndarray of shape (n_colors,) and dtype bool, or None
        The halo rule's field colours (None when the rule is off).
    context_rows : int or None
        Rows of context the mask stage declared (None: the whole image, one strip).
    """

    mask: MaskFit
    exclusion: Exclusion | None
    field_: np.ndarray | None
    context_rows: int | None

    def to_dict(self) -> dict:
        """What ``report.json`` records under ``fitted``, beside the given
        ``parameters``."""
        fit = self.mask
        out = {
            "max_distance_": round(fit.max_distance_, 6),
            "halo_distance_": None if fit.halo_distance_ is None else round(fit.halo_distance_, 6),
            "region_": None if fit.region_ is None else [float(v) for v in fit.region_],
            "smoothness_": fit.smoothness_,
            "exclude_tol_": fit.exclude_tol_,
            "automatic": dict(fit.automatic),
            "context_rows": self.context_rows,
        }
        if self.field_ is not None:
            out["field_colors_"] = int(self.field_.sum())
        if self.exclusion is not None:
            out["excluded_colors_"] = int(self.exclusion.excluded_.sum())
            out["mixture_colors_"] = int(self.exclusion.mixture_.sum())
        return out


def _fit(first, source, scale, opts, strip_rows, timings, jpeg, workers):
    """The mask stage's whole-image facts (:class:`Fitted`): decided by
    :func:`geodigitize.mask.fit_mask`, looking at the first pass's spooled colour ids;
    then the field colours and the context rows the mask stage declares."""
    if first.candidates is not None:  # counted in the first pass
        counts = lambda region, exclusion: first.candidates  # noqa: E731
    else:

        def counts(region, exclusion):
            axes = None if region is None else region_axes(source.shape, region)
            return _count_candidates(first, axes, exclusion, strip_rows, workers)

    fit, exclusion = fit_mask(
        first.colors,
        first.distance,
        scale,
        frame=lambda: _find_frame(first, source, scale, opts.color_space),
        counts=counts,
        jpeg=jpeg,
        color_space=opts.color_space,
        max_distance=opts.max_distance,
        halo_distance=opts.halo_distance,
        exclude_color=opts.exclude_color,
        exclude_tol=opts.exclude_tol,
        smoothness=opts.smoothness,
        region=opts.region,
    )
    axes = None if fit.region_ is None else region_axes(source.shape, fit.region_)
    context = context_rows(fit, scale, opts.consistency, exclusion)
    field = None
    if fit.halo_distance_ is not None:
        rows = strip_rows if context is not None else source.shape[0]
        field = _field_colors(first, fit.max_distance_, rows, axes, exclusion, timings, workers)
    return Fitted(fit, exclusion, field, context), axes


def _frame_step(shape: tuple[int, int]) -> int:
    """Keep every k-th row and column for the frame of a streamed image
    (:func:`geodigitize.frame.frame_step`: the view an image in memory is searched in)."""
    return frame_step(shape)


def _find_frame(first: _FirstPass, source, scale: ColorScale, color_space: str):
    """:func:`geodigitize.frame.find_frame` for ``region="auto"``, with each pixel's
    distance to the scale from the first pass.

    On the image when it is in memory. A streamed image keeps the darkest pixel of each
    k x k block in its first pass (:data:`~geodigitize.frame.FRAME_PIXELS` pixels at
    most; all of them up to that): the frame is found on that view and its box scaled
    back by k, so above :data:`~geodigitize.frame.FRAME_PIXELS` its sides are known to k
    pixels. :func:`~geodigitize.frame.find_frame` reduces an image in memory to the same
    view, so both find the same frame.
    """
    image = getattr(source, "image", None)
    thumb = first.thumbnail
    if image is not None:
        ids, _ = _window(first, 0, source.shape[0])
        rgb, step = image.rgb, 1
    else:
        rgb, ids = thumb.arrays()
        step = thumb.step
    decoded = Decoded(
        values=scale.values[first.index[ids]],
        distance=first.distance[ids],
        index=first.index[ids],
        color_space=color_space,
        n_colors=int(first.colors.size),
        color_id=ids,
        colors=first.colors,
    )
    box = find_frame(rgb, scale, decoded)
    if step == 1:
        return box
    height, width = source.shape
    x0, y0, x1, y1 = (float(v) * step for v in box)
    return (x0, y0, min(x1, float(width)), min(y1, float(height)))


def _count_candidates(
    first, axes, exclusion: Exclusion | None, strip_rows: int, workers: int = 1
) -> np.ndarray:
    """Candidate pixels of each colour (opaque, inside the region, not excluded), read
    from the spooled ids with the exclusion's rows of context, strips on `workers`
    threads."""
    height = first.ids.shape[0]
    context = 0 if exclusion is None else exclusion.context
    n = first.colors.size

    def work(a: int) -> np.ndarray:
        b = min(a + strip_rows, height)
        lo, hi = max(a - context, 0), min(b + context, height)
        ids, opaque = _window(first, lo, hi)
        core = slice(a - lo, b - lo)
        # every pixel counted, less those not candidates (few: transparent, outside the
        # region, excluded): cheaper than picking out the candidates first
        drop = np.zeros((b - a, ids.shape[1]), dtype=bool)
        if opaque is not None:
            drop |= ~opaque[core]
        inside = _inside(axes, a, b)
        if inside is not None:
            drop |= ~inside
        if exclusion is not None:
            drop |= exclusion.pixels(ids)[core]
        counts = np.bincount(ids[core].reshape(-1), minlength=n)
        counts -= np.bincount(ids[core][drop], minlength=n)
        return counts

    counts = np.zeros(n, dtype=np.int64)
    for part in in_order(work, range(0, height, strip_rows), workers):
        counts += part
    return counts


def _field_colors(
    first: _FirstPass,
    max_d: float,
    strip_rows: int,
    axes,
    exclusion: Exclusion | None,
    timings: dict,
    workers: int = 1,
) -> np.ndarray:
    """:func:`geodigitize.mask.field_colors` of the whole image, strip by strip: exact
    for every colour not off scale that occurs inside the region.

    Ink is what :func:`geodigitize.mask.classify` calls off scale (`max_d`) or excluded;
    candidates are the opaque pixels inside the region. Each strip is read with the rows
    of context the 3 x 3 neighbourhood and the exclusion's halo need.

    Each strip looks only at the pixels of colours not yet found (off-scale colours are
    ink, never found: a pixel is in its own neighbourhood), so a colour's answer is the
    one the whole image gives; once few pixels are left to look at (after the first
    strips, for a figure drawn from a colour table), their neighbourhoods are checked
    one by one (:func:`_far_from_ink`) instead of filtering the whole strip.
    """
    height = first.ids.shape[0]
    off_of = first.distance > max_d
    context = 1 + (0 if exclusion is None else exclusion.context)
    field = np.zeros(off_of.size, dtype=bool)  # replaced, not changed, as colours are found

    def work(a: int) -> tuple[np.ndarray, dict]:
        spent = dict.fromkeys(("read", "mask"), 0.0)
        sought = ~(off_of | field)  # not off scale, not found yet (as this strip starts)
        b = min(a + strip_rows, height)
        lo, hi = max(a - context, 0), min(b + context, height)
        t = time.perf_counter()
        ids, opaque = _window(first, lo, hi, np.intp)
        spent["read"] += time.perf_counter() - t
        t = time.perf_counter()
        core = slice(a - lo, b - lo)
        look = np.take(sought, ids[core])  # candidates of the colours sought
        if opaque is not None:
            look &= opaque[core]
        inside = _inside(axes, a, b)
        if inside is not None:
            look &= inside
        seen = np.zeros(off_of.size, dtype=bool)
        if look.any():
            ink = np.take(off_of, ids)
            if exclusion is not None:
                ink |= exclusion.pixels(ids)
            seen[ids[core][_far_from_ink(look, ink, a - lo)]] = True
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
    for seen, spent in in_order(work, order, workers):
        field = field | seen
        for k, v in spent.items():
            timings[k] += v
        if field[wanted].all():
            break
    return field


def _far_from_ink(look: np.ndarray, ink: np.ndarray, row0: int) -> np.ndarray:
    """Pixels of `look` with no ink in their 3 x 3 neighbourhood (outside the window
    counts as no ink), as :func:`geodigitize.filters.any_in_window` decides.

    Parameters
    ----------
    look : ndarray of shape (h, W) and dtype bool
        The pixels asked about: rows ``row0 .. row0 + h`` of `ink`'s window.
    ink : ndarray of shape (H, W) and dtype bool
        Ink over a window holding `look`'s rows and the rows of context around them.
    row0 : int

    Returns
    -------
    ndarray of shape (h, W) and dtype bool
    """
    if np.count_nonzero(look) * 9 > look.size // 4:  # many: filter the whole window once
        return look & ~any_in_window(ink, 3)[row0 : row0 + look.shape[0]]
    rows, cols = np.nonzero(look)
    padded = np.pad(ink, 1)  # the window's border: no ink beyond it
    rows += row0 + 1
    cols += 1
    near = np.zeros(rows.size, dtype=bool)
    for dr in (-1, 0, 1):
        for dc in (-1, 0, 1):
            near |= padded[rows + dr, cols + dc]
    far = np.zeros_like(look)
    far[rows[~near] - row0 - 1, cols[~near] - 1] = True
    return far


def _strips(
    first: _FirstPass,
    scale: ColorScale,
    opts,
    fitted: Fitted,
    strip_rows: int,
    axes,
    timings: dict,
    workers: int = 1,
    book: _ClusterBook | None = None,
    labels: bool = False,
    dbscan_rows: int | None = None,
) -> Iterator[_Strip]:
    """Decode, mask and flat-test the image strip by strip, from the first pass's colour ids.

    Each strip is masked by :func:`geodigitize.mask.mask_rows` with the context rows
    the mask stage declared and one more for the flat test, so its core rows get exactly
    what one strip of the whole image gives them. With a `book`, the workers also
    cluster each strip and summarise its clusters, leaving the caller only the joins
    and the writes; with `labels` each strip
    also carries its cluster labels. Each strip carries its pixel codes
    (:func:`geodigitize.store.pixel_codes`). With `dbscan_rows` (general DBSCAN, see
    :class:`geodigitize.dbscan.StripDBSCAN`) the flat test covers that many more rows
    each side, and each strip carries those rows' values and flat pixels (``near``).
    """
    height = first.ids.shape[0]
    labels_wanted = labels
    # the flat test's 4-neighbours look one row further; no depth: one strip
    near = dbscan_rows or 0  # DBSCAN's own context, beyond the core rows
    context = height if fitted.context_rows is None else fitted.context_rows + 1 + near
    n_colors = int(first.colors.size)
    id_values = scale.values[first.index]  # the value of each colour
    # The flat test (tol 0) and the labels only compare values: they compare small codes
    # of the colours' values instead, gathered in a byte (see reduce.equal_codes).
    codes = equal_codes(scale.values) if opts.flat_tol == 0 else None
    id_codes = None if codes is None else codes[first.index]

    def work(a: int) -> tuple[_Strip, dict]:
        spent = dict.fromkeys(("read", "decode", "mask", "flat", "label", "grid"), 0.0)
        b = min(a + strip_rows, height)
        lo, hi = max(a - context, 0), min(b + context, height)
        t = time.perf_counter()
        ids, opaque = _window(first, lo, hi, np.intp)
        spent["read"] += time.perf_counter() - t

        t = time.perf_counter()
        # np.take with intp ids: twice as fast as indexing (the same values)
        index = np.take(first.index, ids)
        decoded = Decoded(
            values=None,  # gathered below where needed: mask_rows seldom reads them
            distance=np.take(first.distance, ids),
            index=index,
            color_space=opts.color_space,
            n_colors=n_colors,
            color_id=ids,
            colors=first.colors,
        )
        spent["decode"] += time.perf_counter() - t

        t = time.perf_counter()
        reason, decoded = mask_rows(
            decoded,
            scale,
            fitted.mask,
            opaque=opaque,
            inside=_inside(axes, lo, hi),
            excluded=None if fitted.exclusion is None else fitted.exclusion.pixels(ids),
            field=fitted.field_,
            consistency=opts.consistency,
            intensity=None if first.intensity is None else first.intensity[ids],
            id_index=first.index,
        )
        valid = reason == Reason.DATA
        spent["mask"] += time.perf_counter() - t

        def values(r0: int, r1: int) -> np.ndarray:
            """Values of rows ``r0 .. r1``: from the colour ids unless decoded anew."""
            if decoded.values is None:  # then `decoded.index` is `index`
                return np.take(id_values, ids[r0 - lo : r1 - lo])
            return decoded.values[r0 - lo : r1 - lo]

        t = time.perf_counter()
        f0, f1 = max(a - 1 - near, lo), min(b + 1 + near, hi)  # and one more each side
        if id_codes is not None and decoded.index is index:  # not decoded anew (JPEG)
            same = np.take(id_codes, ids[f0 - lo : f1 - lo])
        else:
            same = values(f0, f1)
        flat = flat_mask(same, valid[f0 - lo : f1 - lo], opts.flat_tol)
        core = slice(a - lo, b - lo)
        spent["flat"] += time.perf_counter() - t
        strip = _Strip(
            row0=a,
            entry_values=scale.values,
            index=decoded.index[core],
            valid=valid[core],
            flat=flat[a - f0 : b - f0],
            reason_counts=_reason_counts(reason[core]),
            reason=reason[core],
        )
        if dbscan_rows is not None:
            d0, d1 = max(a - near, 0), min(b + near, height)
            strip.near = (d0, values(d0, d1), flat[d0 - f0 : d1 - f0])
            strip.method = "dbscan"
        if book is not None:  # min_samples 1, eps < 2: clusters as runs, no pixel labels
            t = time.perf_counter()
            *runs, n, strip.method = cluster_runs(  # equality of `same` is of values
                same[a - f0 : b - f0], strip.flat, eps=opts.eps
            )
            strip.clusters = book.summarise_runs(strip, runs, n, last=b >= height)
            if labels_wanted:  # the labels are drawn from the runs as they are spooled
                strip.runs = tuple(runs)
            spent["label"] += time.perf_counter() - t
        t = time.perf_counter()
        strip.codes = pixel_codes(strip.index, strip.reason, scale.values.size)
        spent["grid"] += time.perf_counter() - t
        return strip, spent

    for strip, spent in in_order(work, range(0, height, strip_rows), workers):
        for k, v in spent.items():
            timings[k] += v
        yield strip


def _reason_counts(reason: np.ndarray) -> np.ndarray:
    """Pixels per :class:`Reason` (``np.bincount`` of the few masked pixels: counting
    every pixel would first widen each to a 64-bit index)."""
    masked = reason[reason != Reason.DATA]
    counts = np.bincount(masked, minlength=len(Reason)).astype(np.int64)
    counts[Reason.DATA] = reason.size - masked.size
    return counts


# ----------------------------------------------------------------------------- clusters


@dataclass
class _StripClusters:
    """One strip's clusters as :meth:`_ClusterBook.summarise_runs` leaves them."""

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


def _row_labels(rows, c0, c1, lab, row: int, width: int) -> np.ndarray:
    """The labels (-1 for none) of one row of runs along rows (see
    :meth:`_ClusterBook.summarise_runs`)."""
    at = slice(*np.searchsorted(rows, [row, row + 1]))
    return labels_from_runs(rows[at] - row, c0[at], c1[at], lab[at], (1, width))[0]


def _nearest_flat(rows, c0, c1, lab, sums, width, n):
    """:func:`geodigitize.reduce.nearest_in_runs` as flat indices: each present
    cluster's member nearest its centroid, and the clusters present."""
    pos, col, present = nearest_in_runs(rows, c0, c1, lab, sums, width, n)
    return rows[pos] * width + col, present


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

    def summarise_runs(self, strip: _Strip, runs: tuple, n: int, last: bool) -> _StripClusters:
        """One strip's clusters (``n`` of them, as runs along rows: rows, first columns,
        end columns and labels 0..n-1 in row-major order, from
        :func:`geodigitize.reduce.cluster_runs`) reduced to what the book keeps: sums,
        first pixels and, for clusters inside the strip, their representative. Reads
        nothing the book changes, so strips are summarised on worker threads while
        :meth:`add` joins them in order."""
        w = strip.flat.shape[1]
        rows, c0, c1, lab = runs
        top_labels = _row_labels(rows, c0, c1, lab, 0, w)
        bottom_labels = _row_labels(rows, c0, c1, lab, strip.flat.shape[0] - 1, w)
        rows = rows + strip.row0
        counts, sum_cols, sum_rows = run_sums(rows, c0, c1, lab, n)
        first = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(first, lab, rows * w + c0)
        at = first - strip.row0 * w
        value = strip.entry_values[strip.index.ravel()[at]] if n else np.zeros(0)

        touching = np.zeros(n, dtype=bool)
        if self.conn and strip.row0 > 0:
            touching[top_labels[top_labels >= 0]] = True
        if self.conn and not last:
            touching[bottom_labels[bottom_labels >= 0]] = True
        rep = np.full(n, -1, dtype=np.int64)
        inner = ~touching[lab]
        if inner.any():
            flat, present = _nearest_flat(
                rows[inner], c0[inner], c1[inner], lab[inner], (counts, sum_cols, sum_rows), w, n
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
            top=(top_labels, strip.entry_values[strip.index[0]]),
            bottom=(bottom_labels, strip.entry_values[strip.index[-1]]),
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
        """Join clusters across seams; return rep flat index, value, size, per cluster,
        and the cluster of each strip cluster (in the order :meth:`add` numbered them).

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
            flat, present = _nearest_flat(
                rows, c0, c1, root[lab], (total, tcols, trows), self.width, m
            )
            trep[present] = flat
        order = np.argsort(tfirst, kind="stable")
        rank = np.empty(m, dtype=np.int64)
        rank[order] = np.arange(m)
        return trep[order], tvalue[order], total[order], rank[root]


# ----------------------------------------------------------------------------- sample


class _DataSpool:
    """Where the data pixels are: the data count of each strip, and the pixel codes
    (:func:`geodigitize.store.pixel_codes`, a data pixel's code is its scale entry)
    read back for the pixels drawn.

    Lets the reconstruction check draw the same sample as
    :func:`geodigitize.reconstruct.check_reconstruction` once the number of data pixels
    is known, with nothing spooled but the codes.
    """

    def __init__(self, codes: RowSpool, table_size: int) -> None:
        self.codes = codes
        self.table_size = table_size
        self.counts: list[int] = []
        self.row0: list[int] = []
        self.row1: list[int] = []
        self.sample: tuple | None = None  # ((n, k, seed), gather's arrays), see _check

    def add(self, strip: _Strip) -> None:
        """Count the next strip (strips in order)."""
        self.counts.append(int(strip.reason_counts[Reason.DATA]))
        self.row0.append(strip.row0)
        self.row1.append(strip.row0 + strip.valid.shape[0])

    def gather(self, picks: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Rows, columns and scale indices of the data pixels at sorted positions `picks`."""
        starts = np.cumsum([0, *self.counts])
        rows, cols, idx = [], [], []
        for k, (row0, row1) in enumerate(zip(self.row0, self.row1, strict=True)):
            lo, hi = np.searchsorted(picks, [starts[k], starts[k + 1]])
            if lo == hi:
                continue
            codes = self.codes.read(row0, row1).ravel()
            local = picks[lo:hi] - starts[k]
            where = np.flatnonzero(codes < self.table_size)[local]
            r, c = np.divmod(where, width)
            rows.append(r + row0)
            cols.append(c)
            idx.append(codes[where])
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
    # to rounding where a pixel centre lies on a triangle edge); gathered once per run
    # (a refinement's points are checked against the same sample)
    key = (n, sample, seed)
    if spool.sample is None or spool.sample[0] != key:
        spool.sample = (key, spool.gather(picks, width))
    rows, cols, index = spool.sample[1]
    rebuilt = interpolate_points(clusters.col, clusters.row, clusters.value, cols + 0.5, rows + 0.5)
    err = np.abs(rebuilt - scale.values[index]) / scale.range * 100.0
    return ReconstructionCheck(
        float(np.median(err)), float(np.percentile(err, 95)), int(rows.size), sampled
    )


def _write_grid(codes: RowSpool, table: np.ndarray, path: Path, window, gt, crs, rows: int) -> None:
    """The spooled pixel codes inside `window` as a compressed GeoTIFF grid with overviews
    (values of the scale entries, NaN where masked)."""
    from affine import Affine

    from .io import GridWriter

    c0, r0, c1, r1 = window
    n = table.size
    lut = None
    if codes.dtype == np.uint16:  # one gather per pixel
        lut = np.full(1 << 16, np.nan, dtype=np.float32)
        lut[:n] = table
    # whole rows of GeoTIFF blocks at a time: GDAL then compresses each block once,
    # on all cores, instead of holding part-written blocks in its cache
    block = GridWriter.BLOCK
    rows = max(block, -(-rows // block) * block)
    with GridWriter(path, (r1 - r0, c1 - c0), gt @ Affine.translation(c0, r0), crs) as out:
        for top in range(r0, r1, rows):
            bottom = min(top + rows, r1)
            part = codes[top:bottom][:, c0:c1]
            if lut is None:
                valid = part < n
                grid = np.where(valid, table[np.where(valid, part, 0)], np.nan)
                out.write_rows(top - r0, grid.astype(np.float32), owned=True)
            else:
                out.write_rows(top - r0, np.take(lut, part), owned=True)


def _decoder(first: _FirstPass, scale: ColorScale, color_space: str, codes, index=None):
    """``decode(store) -> Decoded`` of every pixel: the first pass's colour lookups, with
    the scale entry each data pixel was given (JPEG restoration may change it) from the
    pixel codes; with `index` (H, W), every pixel's entry as the mask left it."""

    def decode(store) -> Decoded:
        ids = first.ids[:]
        opaque = ids >= 0
        if not opaque.all():
            ids = np.where(opaque, ids, ~ids)
        entries = index
        if entries is None:
            entries = first.index[ids]
            raw = codes[:]
            valid = raw < scale.values.size
            entries[valid] = raw[valid]
        return Decoded(
            values=scale.values[entries],
            distance=first.distance[ids],
            index=entries,
            color_space=color_space,
            n_colors=int(first.colors.size),
            color_id=ids,
            colors=first.colors,
        )

    return decode


# ----------------------------------------------------------------------------- driver


@dataclass(frozen=True, eq=False)
class StripRun:
    """What :func:`run_strips` found.

    Attributes
    ----------
    counts : dict
        Pixels, distinct colours, masked (by reason), data, flat, clusters.
    scale : ColorScale
        The colour scale (built in the first pass from a :class:`ScaleFromRows`).
    clusters : Clusters
        ``labels`` is (H, W) when the image was kept, else empty.
    fitted : Fitted
    pixels : geodigitize.store.SpoolStore
        Per-pixel results: codes in memory when the image was kept, spooled otherwise;
        the flat-cluster labels when kept or when `opts` refine or preview.
    check : ReconstructionCheck or None
        Of `clusters`, when the image was streamed and no `target_error` asks for other
        points (kept, or a target error: the caller checks the points it keeps, see
        `recheck`).
    recheck : callable or None
        ``recheck(clusters) -> ReconstructionCheck`` of other points (a refinement's)
        against the same spooled sample, when the image was streamed.
    preview_rgb : ndarray of shape (h, w, 3|4) and dtype uint8, or None
        A streamed image sampled as the preview draws it
        (:func:`geodigitize.preview.decimate`), when `opts` ask for a preview.
    grid_path : Path or None
        The streamed ``grid.tif`` (streamed images only), cropped to `data_window`;
        still being written until :meth:`wait_grid` returns.
    data_window : (col0, row0, col1, row1) or None
    strips : dict
        ``strip_rows`` and the number of ``strips``.
    timings : dict of stage name to seconds
        Without the grid's writing (see :meth:`wait_grid`).
    grid_writing : Future or None
        The writing of `grid_path` (its result: the seconds it took).
    """

    counts: dict
    clusters: Clusters
    fitted: Fitted
    pixels: SpoolStore
    scale: ColorScale
    check: ReconstructionCheck | None
    grid_path: Path | None
    data_window: tuple[int, int, int, int] | None
    strips: dict
    timings: dict
    recheck: Callable | None = None
    preview_rgb: np.ndarray | None = None
    grid_writing: Future | None = None

    def wait_grid(self) -> float:
        """Wait for the streamed ``grid.tif`` (written on a thread after the strips, while
        the caller goes on); the seconds its writing took (0 without one).

        Raises
        ------
        Exception
            The writer's error.
        """
        return 0.0 if self.grid_writing is None else float(self.grid_writing.result())

    def discard_grid(self) -> None:
        """Wait for the streamed ``grid.tif`` to be written (ignoring its error), then
        remove it: for a run that fails after its strips."""
        _discard_grid(self.grid_writing, self.grid_path)


def run_strips(
    source,
    scale: ColorScale,
    opts,
    *,
    keep: bool,
    strip_rows: int | None = None,
    grid: tuple | None = None,
    grid_dir: str | Path | None = None,
    sample: int | None = None,
    jpeg: bool = False,
    name: str = "the image",
    stage=None,
) -> StripRun:
    """Decode, mask, reduce and (when streamed) check an image in strips of rows.

    Parameters
    ----------
    source : geodigitize.sources.StripReader or ArraySource
        Rows of the image: ``.shape`` and ``.read(r0, r1) -> (packed, opaque)``.
    scale : ColorScale or ScaleFromRows
    opts : Options
    keep : bool
        Keep the per-pixel arrays in memory (else spool them, and stream ``grid.tif``).
    strip_rows : int, optional
        Rows per strip; default about :data:`geodigitize.sources.DEFAULT_STRIP_PIXELS`
        pixels (one strip for most figures). The results do not depend on it.
    grid : (Affine, crs), optional
        Placement of the streamed grid (needed when not `keep`).
    grid_dir : path, optional
        Folder for the streamed ``grid.tif`` (a hidden temporary name there).
    sample : int, optional
        Pixels compared by the reconstruction check (default :data:`DEFAULT_SAMPLE`).
    jpeg : bool
        The pixels carry JPEG damage (smoothness check and restoration).
    name : str
        The image, as an error names it.
    stage : StageTimer, optional
        Times (and reports to a progress callback) the merge and the check of a
        streamed image.

    Returns
    -------
    StripRun

    Raises
    ------
    NoDataError
        When no pixel is data.
    """
    height, width = source.shape
    rows = min(strip_rows or default_strip_rows(width), height)
    box = opts.region if opts.region not in (None, AUTO) else None
    axes = None if box is None else region_axes(source.shape, box)  # checks it first
    count = (
        AUTO in (opts.max_distance, opts.halo_distance)
        and opts.region != AUTO
        and not opts.exclude_color
    )
    timings = dict.fromkeys(("read", "decode", "mask", "flat", "label", "grid"), 0.0)
    scratch = Path(tempfile.mkdtemp(prefix="geodigitize-"))
    try:
        if keep:
            ids = RowMemory(height, width, np.int32)
        else:
            ids = RowSpool(scratch / "ids.bin", width, np.int32)
        thumbnail = preview = None
        if getattr(source, "image", None) is None:  # streamed: what needs to see it all
            if opts.region == AUTO:
                thumbnail = _Thumbnail(_frame_step(source.shape))
            if opts.preview is not None:
                preview = _PreviewRows(source.shape)
        first = _first_pass(
            source, scale, opts.color_space, rows, axes, count, ids, timings, thumbnail, preview
        )
        scale = first.scale
        fitted, axes = _fit(first, source, scale, opts, rows, timings, jpeg, WORKERS)
        if fitted.context_rows is None:
            rows = height  # the mask stage needs the whole image: one strip
        work = _Work(first, scale, opts, fitted, axes, rows, keep, scratch, timings)
        if stage is not None:
            work.stage = stage
        result = work.run(grid, grid_dir, DEFAULT_SAMPLE if sample is None else sample, name)
        if preview is not None:
            result = replace(result, preview_rgb=preview.rgb())
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    if keep:
        shutil.rmtree(scratch, ignore_errors=True)
    return result


@dataclass
class _Work:
    """One run's strips and sinks (see :func:`run_strips`)."""

    first: _FirstPass
    scale: ColorScale
    opts: object
    fitted: Fitted
    axes: object
    rows: int
    keep: bool
    scratch: Path
    timings: dict
    stage: Callable = field(default=lambda name: contextlib.nullcontext())

    def run(self, grid, grid_dir, sample: int, name: str) -> StripRun:
        first, opts, scale = self.first, self.opts, self.scale
        height, width = first.ids.shape
        conn = 0 if opts.eps < 1 else (4 if opts.eps < np.sqrt(2) else 8)
        book = dbscan = None
        if strip_clusterable(opts):
            book = _ClusterBook(width, conn)
        else:  # general DBSCAN, with its context rows
            dbscan = StripDBSCAN((height, width), opts.eps, opts.min_samples)
        # the flat-cluster labels: for the refinement's search and the preview's overlay
        # (and DBSCAN's representatives, picked in a second read)
        want_labels = self.keep or opts.target_error is not None or opts.preview is not None
        rows = self._rows(width, want_labels or dbscan is not None)
        data = None if self.keep else _DataSpool(rows["codes"], len(scale.values))
        sums = _Sums(width)
        index: list[np.ndarray] = []
        with contextlib.ExitStack() as files:
            for spool in rows.values():
                files.enter_context(spool)
            for strip in _strips(
                first,
                scale,
                opts,
                self.fitted,
                self.rows,
                self.axes,
                self.timings,
                workers=WORKERS,
                book=book,
                labels=want_labels,
                dbscan_rows=None if dbscan is None else dbscan.context,
            ):
                sums.add(strip)
                t = time.perf_counter()
                offset = 0
                if book is not None:
                    offset = book.n
                    book.add(strip.clusters)
                else:  # provisional ids, numbered by finish()'s remap
                    a, b = strip.row0, strip.row0 + strip.flat.shape[0]
                    strip.labels = dbscan.add(*strip.near, a, b)
                    strip.near = None
                self.timings["label"] += time.perf_counter() - t
                t = time.perf_counter()
                rows["codes"].append(strip.codes)
                rows["flat"].append(strip.flat.view(np.uint8))
                if "labels" in rows:  # strip ids, numbered as the book numbers them
                    # 16 bits while the ids fit (halves what is written and read back)
                    if book is not None:  # drawn from the runs with the book's numbers
                        *runs, lab = strip.runs
                        narrow = strip.clusters.n == 0 or offset + strip.clusters.n <= 2**15
                        lab = (lab + offset).astype(np.int16 if narrow else np.int32)
                        labels = labels_from_runs(*runs, lab, strip.flat.shape)
                    else:
                        labels = strip.labels
                        narrow = labels.size == 0 or int(labels.max()) < 2**15
                    rows["labels"].append(labels, np.int16 if narrow else None)
                if self.keep:
                    index.append(strip.index)
                else:
                    data.add(strip)
                self.timings["grid"] += time.perf_counter() - t
        require_data(sums.reasons, name, self.fitted.mask.max_distance_)
        window = sums.window(height)
        merge = book.finish if book is not None else dbscan.finish
        if self.keep:
            return self._kept(merge, rows, np.concatenate(index), sums, window)
        return self._streamed(merge, rows, data, sums, window, grid, grid_dir, sample)

    def _merge(self, finish, rows: dict, method: str) -> tuple[Clusters, np.ndarray]:
        """The clusters (one point each, no labels) and the final label of each id the
        strips spooled, from the book's or DBSCAN's `finish`."""
        found = finish()
        if isinstance(found, DBSCANResult):  # representatives in a second read
            ids = SpoolStore(rows["codes"], self.scale.values, rows["labels"], found.remap)
            return representatives_store(ids, found), found.remap
        rep, value, n_pixels, rank = found
        empty = np.zeros((0, 0), np.int32)
        return self._clusters(rep, value, n_pixels, empty, method), rank.astype(np.int32)

    def _rows(self, width: int, labels: bool) -> dict:
        """Where the strips' per-pixel rows go: pixel codes, flat pixels and (with
        `labels`) cluster ids; in memory when the image is kept, else spooled."""
        height = self.first.ids.shape[0]
        types = {"codes": code_dtype(self.scale.values.size), "flat": np.uint8}
        if labels:
            types["labels"] = np.int32
        if self.keep:
            return {k: RowMemory(height, width, t) for k, t in types.items()}
        return {k: RowSpool(self.scratch / f"{k}.bin", width, t) for k, t in types.items()}

    def _counts(self, sums: _Sums, clusters: Clusters) -> dict:
        height, width = self.first.ids.shape
        reasons = sums.reasons
        return {
            "pixels": height * width,
            "distinct_colors": int(self.first.colors.size),
            "masked": int(height * width - reasons[Reason.DATA]),
            "masked_by_reason": {r.name.lower(): int(reasons[r]) for r in Reason},
            "data": int(reasons[Reason.DATA]),
            "flat": sums.flat,
            "clusters": len(clusters),
        }

    def _timings(self) -> dict:
        """Seconds per stage: reduce is the flat test and the clustering."""
        t = dict(self.timings)
        t["reduce"] = t.pop("flat") + t.pop("label")
        if self.keep:
            t.pop("grid")
        return t

    def _strip_info(self) -> dict:
        height = self.first.ids.shape[0]
        return {"strip_rows": self.rows, "strips": -(-height // self.rows)}

    def _kept(self, merge, rows: dict, index: np.ndarray, sums: _Sums, window) -> StripRun:
        """Cluster labels over the image, from the ids the strips gave."""
        t = time.perf_counter()
        opts = self.opts
        clusters, remap = self._merge(merge, rows, sums.method)
        labels = np.append(remap, np.int32(-1))[rows["labels"][:]]  # id -1: the last
        clusters = replace(clusters, labels=labels)
        self.timings["label"] += time.perf_counter() - t
        store = SpoolStore(
            rows["codes"],
            self.scale.values,
            RowMemory.of(clusters.labels),
            flat=rows["flat"],
            decode=_decoder(self.first, self.scale, opts.color_space, rows["codes"], index),
        )
        return StripRun(
            self._counts(sums, clusters),
            clusters,
            self.fitted,
            store,
            self.scale,
            None,
            None,
            window,
            self._strip_info(),
            self._timings(),
        )

    def _clusters(self, rep, value, n_pixels, labels, method) -> Clusters:
        width = self.first.ids.shape[1]
        r, c = np.divmod(rep, width)
        return Clusters(c + 0.5, r + 0.5, value, n_pixels, labels, method)

    def _streamed(self, merge, rows, data, sums, window, grid, grid_dir, sample):
        """Clusters merged and checked while ``grid.tif`` is compressed (GDAL, no GIL);
        no grid written without a placement (a non-affine fit: the caller grids the
        store)."""
        width = self.first.ids.shape[1]
        grid_path = None if grid is None else _grid_path(grid_dir)

        def write_grid() -> float:
            t = time.perf_counter()
            if grid_path is not None:
                gt, crs = grid
                table = self.scale.values
                _write_grid(rows["codes"], table, grid_path, window, gt, crs, self.rows)
            return time.perf_counter() - t

        # the grid is written on a thread that outlives this call: what the caller does
        # next (the search, the contours, the outputs) overlaps GDAL's compression, and
        # the caller waits for it (StripRun.wait_grid) before the grid is used
        pool = ThreadPoolExecutor(1)
        writing = pool.submit(write_grid)
        pool.shutdown(wait=False)  # its thread ends with the write
        try:
            with self.stage("merge"):
                clusters, remap = self._merge(merge, rows, sums.method)
            check = None  # with a target error its points are checked instead
            if self.opts.target_error is None:
                with self.stage("reconstruction check"):
                    check = _check(data, self.scale, width, clusters, sample)
        except BaseException:
            _discard_grid(writing, grid_path)
            raise
        store = SpoolStore(
            rows["codes"],
            self.scale.values,
            rows.get("labels"),
            remap,
            flat=rows["flat"],
            decode=_decoder(self.first, self.scale, self.opts.color_space, rows["codes"]),
            scratch=self.scratch,
        )
        scale = self.scale
        return StripRun(
            self._counts(sums, clusters),
            clusters,
            self.fitted,
            store,
            self.scale,
            check,
            grid_path,
            window,
            self._strip_info(),
            self._timings(),
            recheck=lambda points: _check(data, scale, width, points, sample),
            grid_writing=writing,
        )


def _discard_grid(writing: Future | None, grid_path: Path | None) -> None:
    """Wait for a grid being written (its error, if any, ignored: another one is on its
    way up), then remove the file."""
    if writing is not None:
        with contextlib.suppress(Exception):
            writing.result()
    if grid_path is not None:
        Path(grid_path).unlink(missing_ok=True)


class _Sums:
    """Counts and the data's bounding box, strip by strip."""

    def __init__(self, width: int) -> None:
        self.reasons = np.zeros(len(Reason), dtype=np.int64)
        self.flat = 0
        self.method = ""
        self.rows: list[int] = []
        self.cols = np.zeros(width, dtype=bool)

    def add(self, strip: _Strip) -> None:
        any_row = np.flatnonzero(strip.valid.any(axis=1))
        if any_row.size:
            self.rows += [strip.row0 + int(any_row[0]), strip.row0 + int(any_row[-1]) + 1]
        self.cols |= strip.valid.any(axis=0)
        self.reasons += strip.reason_counts
        self.flat += int(np.count_nonzero(strip.flat))
        self.method = strip.method or self.method

    def window(self, height: int) -> tuple[int, int, int, int]:
        """(col0, row0, col1, row1) of the data pixels (the whole image when none)."""
        cols = np.flatnonzero(self.cols)
        if not cols.size:
            return (0, 0, self.cols.size, height)
        return (int(cols[0]), min(self.rows), int(cols[-1]) + 1, max(self.rows))


def _grid_path(grid_dir) -> Path:
    """A hidden temporary name for the streamed grid in `grid_dir` (default: the
    system's temporary folder)."""
    folder = Path(grid_dir) if grid_dir is not None else Path(tempfile.gettempdir())
    fd, name = tempfile.mkstemp(prefix=".grid.", suffix=".tif", dir=folder)
    os.close(fd)
    os.unlink(name)
    return Path(name)
