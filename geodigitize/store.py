"""What the strips leave behind, per pixel: read back in blocks of rows, in bounded memory.

Stages that need more of the image than a strip of rows (the ``--target-error``
search, contours, the preview, a non-affine grid, DBSCAN's clusters across strips) read
the decoded image from a :class:`PixelStore` a block of rows at a time. Two stores keep
one interface, so small and large images run the same code:

- :class:`ArrayStore` wraps arrays already in memory (one piece);
- :class:`SpoolStore` reads the rows the strips wrote, to a file (:class:`RowSpool`)
  or in memory (:class:`RowMemory`, images kept whole; the same rows, the same code):
  per pixel one code, the scale entry of a data pixel or, for a masked pixel, its
  :class:`geodigitize.reason.Reason` (see :func:`pixel_codes`), 2 bytes a pixel while
  the scale has fewer than ``65536 - 8`` entries, and optionally the flat-cluster
  label of every pixel (4 bytes a pixel) with the table that numbers them as one-piece
  clustering does.

Reading a block never maps the file: the pages read do not stay in the process's
resident memory (they stay in the system's file cache).
"""

from __future__ import annotations

import bisect
import shutil
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .reason import Reason

__all__ = [
    "DEFAULT_BLOCK_PIXELS",
    "ArrayStore",
    "PixelStore",
    "RowMemory",
    "RowRuns",
    "RowSpool",
    "SpoolStore",
    "code_dtype",
    "pixel_codes",
    "row_blocks",
    "row_runs",
]

#: Pixels per block of rows a stage reads at a time (rounded to whole rows, at least 1).
DEFAULT_BLOCK_PIXELS = 4_000_000


def row_blocks(height: int, rows: int, start: int = 0, stop: int | None = None):
    """``(r0, r1)`` blocks of at most `rows` rows covering ``start .. stop``.

    Parameters
    ----------
    height : int
        Rows of the image (`stop` defaults to it).
    rows : int
        Rows per block (at least 1).
    """
    stop = height if stop is None else min(stop, height)
    rows = max(1, int(rows))
    return [(r0, min(r0 + rows, stop)) for r0 in range(max(start, 0), stop, rows)]


class RowSpool:
    """Rows of an (H, W) array spooled to a file block by block, read back by seeking.

    Not mapped, so the pages read do not stay in the process's resident memory. Each
    block may be stored in a narrower type than `dtype` (colour ids as int16 while there
    are fewer than 2**15 colours, say): half the bytes written and read back.

    Parameters
    ----------
    path : Path
        The file (created or truncated on ``__enter__``).
    width : int
    dtype : numpy dtype
        Type of the rows read back.

    Examples
    --------
    >>> with RowSpool(path, width, np.uint16) as spool:  # doctest: +SKIP
    ...     for rows in strips:
    ...         spool.append(rows)
    >>> spool[10:20]  # doctest: +SKIP
    """

    def __init__(self, path: str | Path, width: int, dtype) -> None:
        self.path, self.width, self.dtype = Path(path), int(width), np.dtype(dtype)
        self._blocks: list[tuple[int, int, np.dtype, int]] = []  # row0, row1, type, offset
        self._f = None
        self.height = 0
        self._offset = 0

    @classmethod
    def open(cls, path: str | Path, shape: tuple[int, int], dtype) -> RowSpool:
        """A spool over a file that holds an (H, W) array of `dtype`, row-major (one
        written by :meth:`append` in one type, say by another process).

        Raises
        ------
        ValueError
            When the file's size does not match.
        """
        spool = cls(path, shape[1], dtype)
        expected = shape[0] * shape[1] * spool.dtype.itemsize
        if spool.path.stat().st_size != expected:
            raise ValueError(f"{spool.path} does not hold {shape} values of {spool.dtype}")
        spool._blocks = [(0, int(shape[0]), spool.dtype, 0)]
        spool.height = int(shape[0])
        spool._offset = expected
        return spool

    @property
    def shape(self) -> tuple[int, int]:
        """(rows written, width)."""
        return (self.height, self.width)

    def __enter__(self) -> RowSpool:
        self._f = open(self.path, "wb")
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Finish writing (reading works after)."""
        if self._f is not None:
            self._f.close()
            self._f = None

    def append(self, rows: np.ndarray, stored=None) -> None:
        """Write the next rows, shape (h, W), stored as `stored` (which must hold them
        exactly; default `dtype`)."""
        if self._f is None:
            raise RuntimeError("RowSpool.append outside its `with` block")
        data = np.ascontiguousarray(rows.astype(stored or self.dtype, copy=False))
        data.tofile(self._f)
        h = rows.shape[0]
        self._blocks.append((self.height, self.height + h, data.dtype, self._offset))
        self.height += h
        self._offset += data.nbytes

    def __getitem__(self, rows: slice) -> np.ndarray:
        """Rows ``rows.start .. rows.stop`` every ``rows.step``, shape (h, W) and type
        `dtype`."""
        lo, hi, step = rows.indices(self.height)
        if step != 1:
            return self._take(range(lo, hi, step))
        return self.read(lo, hi)

    def read(self, lo: int, hi: int, dtype=None) -> np.ndarray:
        """Rows ``lo .. hi`` (within the rows written), shape (h, W), as `dtype` (default
        `dtype`; ``np.intp`` saves the conversion numpy makes of indices before a
        gather)."""
        out = np.empty((max(hi - lo, 0), self.width), dtype=dtype or self.dtype)
        if self._f is not None:
            self._f.flush()
        with open(self.path, "rb") as f:
            for r0, r1, dt, offset in self._blocks:
                a, b = max(r0, lo), min(r1, hi)
                if a >= b:
                    continue
                f.seek(offset + (a - r0) * self.width * dt.itemsize)
                if dt == out.dtype:  # straight into the rows returned: one copy less
                    into = out[a - lo : b - lo]
                    if f.readinto(memoryview(into).cast("B")) != into.nbytes:
                        raise EOFError(f"{self.path} holds fewer rows than were written")
                    continue
                part = np.fromfile(f, dtype=dt, count=(b - a) * self.width)
                out[a - lo : b - lo] = part.reshape(b - a, self.width)
        return out

    def _take(self, rows: range) -> np.ndarray:
        """The rows `rows` (increasing), one seek each."""
        out = np.empty((len(rows), self.width), dtype=self.dtype)
        if self._f is not None:
            self._f.flush()
        starts = [b[0] for b in self._blocks]
        with open(self.path, "rb") as f:
            for k, row in enumerate(rows):
                r0, _, dt, offset = self._blocks[bisect.bisect_right(starts, row) - 1]
                f.seek(offset + (row - r0) * self.width * dt.itemsize)
                out[k] = np.fromfile(f, dtype=dt, count=self.width)
        return out


class RowMemory:
    """Rows of an (H, W) array kept in memory, with :class:`RowSpool`'s interface.

    Parameters
    ----------
    height, width : int
        The whole array's (rows are appended up to `height`).
    dtype : numpy dtype
    """

    def __init__(self, height: int, width: int, dtype) -> None:
        self.dtype = np.dtype(dtype)
        self._rows = np.empty((int(height), int(width)), dtype=self.dtype)
        self.width = int(width)
        self.height = 0

    @classmethod
    def of(cls, array: np.ndarray) -> RowMemory:
        """All rows of `array`, shape (H, W), as they are (no copy)."""
        rows = cls(0, array.shape[1], array.dtype)
        rows._rows, rows.height = array, array.shape[0]
        return rows

    @property
    def shape(self) -> tuple[int, int]:
        """(rows written, width)."""
        return (self.height, self.width)

    def __enter__(self) -> RowMemory:
        return self

    def __exit__(self, *exc) -> None:
        pass

    def close(self) -> None:
        """Nothing to finish (:class:`RowSpool`'s interface)."""

    def append(self, rows: np.ndarray, stored=None) -> None:
        """Write the next rows, shape (h, W) (`stored` is ignored: kept as `dtype`)."""
        self._rows[self.height : self.height + rows.shape[0]] = rows
        self.height += rows.shape[0]

    def __getitem__(self, rows: slice) -> np.ndarray:
        """Rows ``rows.start .. rows.stop`` every ``rows.step`` (a view)."""
        return self._rows[: self.height][rows]

    def read(self, lo: int, hi: int, dtype=None) -> np.ndarray:
        """Rows ``lo .. hi`` as `dtype` (:meth:`RowSpool.read`; a view when the type is
        the same)."""
        return self._rows[lo:hi].astype(dtype or self.dtype, copy=False)


def code_dtype(n_entries: int) -> np.dtype:
    """The pixel-code type for a scale of `n_entries` colours: uint16 while the entries
    and the masking reasons fit, else uint32."""
    return np.dtype(np.uint16 if n_entries <= 65536 - len(Reason) else np.uint32)


def pixel_codes(index: np.ndarray, reason: np.ndarray, n_entries: int) -> np.ndarray:
    """One code per pixel: the scale entry of a data pixel, ``max - reason`` of a masked one.

    Parameters
    ----------
    index : ndarray of shape (h, W), integer
        Scale entry of each pixel (ignored where masked).
    reason : ndarray of shape (h, W) and dtype uint8
        :class:`geodigitize.reason.Reason` of each pixel (0 = data).
    n_entries : int
        Entries of the scale (``len(scale.values)``).

    Returns
    -------
    ndarray of shape (h, W) and dtype :func:`code_dtype` (`n_entries`)
    """
    dtype = code_dtype(n_entries)
    codes = index.astype(dtype)  # no int64 temporaries: this runs on every pixel
    top = dtype.type(np.iinfo(dtype).max)
    np.subtract(top, reason, out=codes, where=reason != Reason.DATA, casting="unsafe")
    return codes


@dataclass(frozen=True, eq=False)
class RowRuns:
    """Data pixels as runs along rows: the pixels ``(row[k], col0[k] .. col1[k] - 1)``
    share one flat-cluster label and one value, in row-major order.

    On a figure drawn from a colour scale a run holds tens of pixels, so stages that
    only ask which pixels share a cluster (the ``--target-error`` search) work on the
    runs instead of the pixels.

    Attributes
    ----------
    row, col0, col1 : ndarray of shape (n,) and dtype int64
        Row, first column and end column (exclusive) of each run.
    label : ndarray of shape (n,) and dtype int32
        Flat-cluster label of the run's pixels (-1: in no cluster).
    value : ndarray of shape (n,) and dtype float64
        Decoded value of the run's pixels.
    """

    row: np.ndarray
    col0: np.ndarray
    col1: np.ndarray
    label: np.ndarray
    value: np.ndarray

    def __len__(self) -> int:
        return int(self.row.size)

    @classmethod
    def concat(cls, parts: list[RowRuns]) -> RowRuns:
        """The runs of consecutive blocks of rows, in order, as one."""
        if not parts:
            i64 = np.zeros(0, np.int64)
            return cls(i64, i64, i64, np.zeros(0, np.int32), np.zeros(0))
        return cls(
            *(
                np.concatenate([getattr(p, name) for p in parts])
                for name in ("row", "col0", "col1", "label", "value")
            )
        )


def row_runs(valid: np.ndarray, keys: tuple[np.ndarray, ...], row0: int = 0):
    """Runs along rows of data pixels on which every array of `keys` is constant.

    Parameters
    ----------
    valid : ndarray of shape (h, W) and dtype bool
        Data pixels.
    keys : tuple of ndarray of shape (h, W)
        A run ends where one of them changes (``!=``: floats compare as numbers, so view
        them as integers to tell -0.0 from 0.0), at a row's end, and where `valid`
        changes unless a key already tells data pixels from the others.
    row0 : int
        Row of the first row of `valid` in the image.

    Returns
    -------
    rows, col0, col1 : ndarray of shape (n,) and dtype int64
        Each run's row (plus `row0`), first column and end column (exclusive).
    first : ndarray of shape (n,) and dtype int64
        Flat index (in `valid`) of each run's first pixel.
    """
    w = valid.shape[1]
    size = valid.size
    if size == 0:
        empty = np.zeros(0, np.int64)
        return empty, empty, empty, empty
    # ends[i]: pixel i is the last of its run (pixel i + 1 differs, or a row ends)
    ends = np.zeros(size, dtype=bool)
    step = np.empty(size - 1, dtype=bool)
    for key in keys:
        flat = key.reshape(-1)
        np.not_equal(flat[1:], flat[:-1], out=step)
        ends[:-1] |= step
    ends[w - 1 :: w] = True
    vflat = valid.reshape(-1)
    starts = np.empty(size, dtype=bool)
    starts[0] = True
    starts[1:] = ends[:-1]
    starts &= vflat
    ends &= vflat
    first = np.flatnonzero(starts)
    last = np.flatnonzero(ends)
    rows, col0 = np.divmod(first, w)
    return rows + row0, col0, last - rows * w + 1, first


class PixelStore:
    """The decoded image, read a block of rows at a time.

    Subclasses implement :meth:`rows`, :meth:`reasons` and :meth:`labels`.

    Attributes
    ----------
    shape : (H, W)
    has_labels : bool
        Whether :meth:`labels` holds flat-cluster labels.
    """

    shape: tuple[int, int]
    has_labels: bool = False
    block_pixels: int = DEFAULT_BLOCK_PIXELS

    def rows(self, r0: int, r1: int, step: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Rows ``r0 .. r1`` (every `step`-th): values, shape (h, W) float64 (a masked
        pixel's value is unspecified, its scale entry or NaN), and data pixels, shape
        (h, W) bool."""
        raise NotImplementedError

    def reasons(self, r0: int, r1: int, step: int = 1) -> np.ndarray:
        """Rows ``r0 .. r1`` (every `step`-th) of the
        :class:`~geodigitize.reason.Reason` codes, uint8."""
        raise NotImplementedError

    def labels(self, r0: int, r1: int, step: int = 1) -> np.ndarray:
        """Rows ``r0 .. r1`` (every `step`-th) of the flat-cluster labels (int32, -1 in
        no cluster), as :func:`geodigitize.reduce.cluster_labels` numbers them."""
        raise NotImplementedError

    def valid(self, r0: int, r1: int) -> np.ndarray:
        """Rows ``r0 .. r1`` of the data pixels, bool (cheaper than :meth:`rows`)."""
        return self.rows(r0, r1)[1]

    def data_rows(self, r0: int, r1: int, step: int = 1) -> np.ndarray:
        """Rows ``r0 .. r1`` (every `step`-th) of the decoded values, NaN where masked,
        shape (h, W) float64."""
        values, valid = self.rows(r0, r1, step)
        return np.where(valid, values, np.nan)

    def sample(
        self, r0: int, r1: int, step: int, *, labels: bool = False
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Every `step`-th row and column of rows ``r0 .. r1`` (rows ``r0, r0 + step, ..``,
        columns ``0, step, ..``): the decoded values (:meth:`data_rows`), the reasons
        (:meth:`reasons`) and, with `labels`, the flat-cluster labels (:meth:`labels`;
        else None), each shape (h, w)."""
        values = self.data_rows(r0, r1, step)[:, ::step]
        reasons = self.reasons(r0, r1, step)[:, ::step]
        ids = self.labels(r0, r1, step)[:, ::step] if labels else None
        return values, reasons, ids

    def value_limits(self) -> tuple[float, float] | None:
        """Smallest and largest value of a data pixel, or None without data."""
        lo, hi = np.inf, -np.inf
        for r0, r1 in self.blocks():
            values = self.data_rows(r0, r1)
            lo = min(lo, float(np.fmin.reduce(values, axis=None, initial=np.inf)))
            hi = max(hi, float(np.fmax.reduce(values, axis=None, initial=-np.inf)))
        return (lo, hi) if lo <= hi else None

    def runs(self, r0: int, r1: int) -> RowRuns:
        """Rows ``r0 .. r1`` of the data pixels as :class:`RowRuns` of one flat-cluster
        label and one value (needs :attr:`has_labels`)."""
        values, valid = self.rows(r0, r1)
        labels = self.labels(r0, r1)
        bits = np.ascontiguousarray(values).view(np.int64)  # -0.0 is not 0.0 here
        rows, col0, col1, first = row_runs(valid, (valid.view(np.int8), bits, labels), r0)
        return RowRuns(
            rows, col0, col1, labels.reshape(-1)[first], values.reshape(-1)[first].copy()
        )

    @property
    def block_rows(self) -> int:
        """Rows per block: about :attr:`block_pixels` pixels."""
        return max(1, self.block_pixels // max(self.shape[1], 1))

    def blocks(self, rows: int | None = None) -> list[tuple[int, int]]:
        """``(r0, r1)`` blocks of `rows` rows (default :attr:`block_rows`) over the image."""
        return row_blocks(self.shape[0], rows or self.block_rows)

    def __iter__(self) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        """``(r0, values, valid)`` for each block of :meth:`blocks`."""
        for r0, r1 in self.blocks():
            yield (r0, *self.rows(r0, r1))

    def values_at(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Values at pixels ``(rows, cols)`` (any order), float64, NaN where masked."""
        rows, cols = np.asarray(rows, np.int64), np.asarray(cols, np.int64)
        out = np.full(rows.shape, np.nan)
        if rows.size == 0:
            return out
        order = np.argsort(rows, kind="stable")
        sorted_rows = rows[order]
        for r0, r1 in self.blocks():
            lo, hi = np.searchsorted(sorted_rows, [r0, r1])
            if lo == hi:
                continue
            values, valid = self.rows(r0, r1)
            pick = order[lo:hi]
            r, c = rows[pick] - r0, cols[pick]
            out[pick] = np.where(valid[r, c], values[r, c], np.nan)
        return out


class ArrayStore(PixelStore):
    """A store over arrays in memory (one piece).

    Parameters
    ----------
    values : ndarray of shape (H, W)
        Decoded values.
    valid : ndarray of shape (H, W) and dtype bool
        Data pixels.
    reason : ndarray of shape (H, W) and dtype uint8, optional
        Masking reasons (default: DATA where valid, else OFF_SCALE).
    labels : ndarray of shape (H, W) and dtype int32, optional
        Flat-cluster labels.
    block_pixels : int
        Pixels per block read.
    """

    def __init__(
        self,
        values: np.ndarray,
        valid: np.ndarray,
        reason: np.ndarray | None = None,
        labels: np.ndarray | None = None,
        *,
        block_pixels: int = DEFAULT_BLOCK_PIXELS,
    ) -> None:
        self.values, self._valid = np.asarray(values), np.asarray(valid, dtype=bool)
        self.shape = self._valid.shape
        self._reason = reason
        self._labels = labels
        self.has_labels = labels is not None
        self.block_pixels = int(block_pixels)

    def rows(self, r0: int, r1: int, step: int = 1) -> tuple[np.ndarray, np.ndarray]:
        values = self.values[r0:r1:step].astype(np.float64, copy=False)
        return values, self._valid[r0:r1:step]

    def valid(self, r0: int, r1: int) -> np.ndarray:
        return self._valid[r0:r1]

    def reasons(self, r0: int, r1: int, step: int = 1) -> np.ndarray:
        if self._reason is not None:
            return self._reason[r0:r1:step]
        valid = self._valid[r0:r1:step]
        return np.where(valid, Reason.DATA, Reason.OFF_SCALE).astype(np.uint8)

    def labels(self, r0: int, r1: int, step: int = 1) -> np.ndarray:
        if self._labels is None:
            raise ValueError("this store holds no cluster labels")
        return self._labels[r0:r1:step]


class SpoolStore(PixelStore):
    """A store over the pixel codes the strips spooled (see :func:`pixel_codes`).

    Parameters
    ----------
    codes : RowSpool
        Per pixel its code, all rows written.
    table : ndarray of shape (n,) and dtype float64
        Value of each scale entry (``scale.values``).
    labels : RowSpool, optional
        Per pixel an int32 cluster id (-1: in no cluster), numbered as the strips found
        them.
    remap : ndarray of shape (m,) and dtype int32, optional
        Final label of each id in `labels` (as one-piece clustering numbers them); the
        ids are read as they are without it.
    block_pixels : int
        Pixels per block read.
    flat : RowSpool or RowMemory, optional
        Per pixel whether it is a flat data pixel (uint8 or bool), for :attr:`flat`.
    decode : callable, optional
        ``decode(store) -> Decoded``: every pixel decoded, for :attr:`decoded` (the
        engine knows the colours behind the codes).
    scratch : Path, optional
        A folder removed with this store (the spools' files).

    Attributes
    ----------
    kept : bool
        The codes are in memory (:class:`RowMemory`), not spooled to a file.
    """

    def __init__(
        self,
        codes: RowSpool | RowMemory,
        table: np.ndarray,
        labels: RowSpool | RowMemory | None = None,
        remap: np.ndarray | None = None,
        *,
        block_pixels: int = DEFAULT_BLOCK_PIXELS,
        flat: RowSpool | RowMemory | None = None,
        decode: Callable[[SpoolStore], object] | None = None,
        scratch: str | Path | None = None,
    ) -> None:
        self._codes, self._label_spool, self._remap = codes, labels, remap
        self._flat, self._decode, self._decoded = flat, decode, None
        self.kept = isinstance(codes, RowMemory)
        if scratch is not None:
            weakref.finalize(self, shutil.rmtree, str(scratch), True)
        self.shape = codes.shape
        top = np.iinfo(codes.dtype).max
        self._top = top
        self._n = int(np.asarray(table).size)
        self.table = np.asarray(table, dtype=np.float64)
        self._lut: np.ndarray | None = None  # value of each 16-bit code (see data_rows)
        self.has_labels = labels is not None
        self.block_pixels = int(block_pixels)

    def rows(self, r0: int, r1: int, step: int = 1) -> tuple[np.ndarray, np.ndarray]:
        return self._values_of(self._codes[r0:r1:step])

    def _values_of(self, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`rows` of `codes`: the scale entries' values (any value where masked)
        and the data pixels."""
        valid = codes < self._n
        values = self.table[np.where(valid, codes, 0)] if self._n else np.full(codes.shape, np.nan)
        return values, valid

    def valid(self, r0: int, r1: int) -> np.ndarray:
        return self._codes[r0:r1] < self._n

    def data_rows(self, r0: int, r1: int, step: int = 1) -> np.ndarray:
        return self._data_of(self._codes[r0:r1:step])

    def _data_of(self, codes: np.ndarray) -> np.ndarray:
        """The decoded values of `codes`, NaN for the masking codes."""
        if codes.dtype.itemsize > 2:
            values, valid = self._values_of(codes)
            return np.where(valid, values, np.nan)
        # one lookup per pixel: the scale entries' values, NaN for the masking codes
        if self._lut is None:
            lut = np.full(1 << 16, np.nan)
            lut[: self._n] = self.table
            self._lut = lut
        return self._lut[codes]

    def sample(
        self, r0: int, r1: int, step: int, *, labels: bool = False
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        # the codes read once for values and reasons, and the columns dropped before
        # the lookups (a preview keeps one pixel in step x step)
        codes = self._codes[r0:r1:step][:, ::step]
        ids = None
        if labels:
            ids = self._labels_of(self._label_spool_rows(r0, r1, step)[:, ::step])
        return self._data_of(codes), self._reasons_of(codes), ids

    def value_limits(self) -> tuple[float, float] | None:
        # from which codes occur, not from the values
        table = self.table
        if self._n and (np.all(table[1:] >= table[:-1]) or np.all(table[1:] <= table[:-1])):
            return self._ordered_limits()
        seen = np.zeros(self._n, dtype=bool)
        for r0, r1 in self.blocks():
            codes = self._codes[r0:r1].reshape(-1)
            if codes.dtype.itemsize > 2:  # the masking codes are near 2**32
                codes = codes[codes < self._n]
            counts = np.bincount(codes, minlength=self._n)
            seen |= counts[: self._n] > 0
        if not seen.any():
            return None
        values = self.table[seen]
        return float(values.min()), float(values.max())

    def _ordered_limits(self) -> tuple[float, float] | None:
        """:meth:`value_limits` for a table in order (either way): the values of the
        smallest and largest data code, two reductions per block where a count of every
        code (``np.bincount``) first widens each code to 64 bits."""
        low, high = None, None
        for r0, r1 in self.blocks():
            codes = self._codes[r0:r1]
            valid = codes < self._n  # the masking codes are the largest
            if not valid.any():
                continue
            lo, hi = int(codes.min()), int(np.max(codes, where=valid, initial=0))
            low = lo if low is None else min(low, lo)
            high = hi if high is None else max(high, hi)
        if low is None:
            return None
        a, b = float(self.table[low]), float(self.table[high])
        return (min(a, b), max(a, b))

    def runs(self, r0: int, r1: int) -> RowRuns:
        # from the raw codes and the strips' cluster ids: runs of one id and one code
        # (a code tells data from masked pixels), then one remap and one lookup per run
        ids = self._label_spool_rows(r0, r1, 1)
        codes = self._codes[r0:r1]
        rows, col0, col1, first = row_runs(codes < self._n, (codes, ids), r0)
        label = self._labels_of(ids.reshape(-1)[first])
        value = self.table[codes.reshape(-1)[first]] if self._n else np.zeros(first.size)
        return RowRuns(rows, col0, col1, label, value)

    def reasons(self, r0: int, r1: int, step: int = 1) -> np.ndarray:
        return self._reasons_of(self._codes[r0:r1:step])

    def _reasons_of(self, codes: np.ndarray) -> np.ndarray:
        """The :class:`~geodigitize.reason.Reason` of `codes`, uint8."""
        masked = codes >= self._n
        out = np.zeros(codes.shape, dtype=np.uint8)
        out[masked] = self._top - codes[masked]
        return out

    def labels(self, r0: int, r1: int, step: int = 1) -> np.ndarray:
        return self._labels_of(self._label_spool_rows(r0, r1, step))

    def _label_spool_rows(self, r0: int, r1: int, step: int) -> np.ndarray:
        """Rows of the cluster ids as the strips numbered them."""
        if self._label_spool is None:
            raise ValueError("this store holds no cluster labels")
        return self._label_spool[r0:r1:step]

    def _labels_of(self, ids: np.ndarray) -> np.ndarray:
        """The final labels of the strips' cluster `ids`, int32."""
        if self._remap is None:
            return ids.astype(np.int32, copy=False)
        remap = np.append(np.asarray(self._remap, dtype=np.int32), np.int32(-1))
        return remap[ids]  # id -1 takes the -1 at the end

    @property
    def reason(self) -> np.ndarray:
        """:class:`~geodigitize.reason.Reason` of every pixel, shape (H, W), uint8 (the
        whole image: read back from a spool at each call)."""
        return self.reasons(0, self.shape[0])

    @property
    def flat(self) -> np.ndarray:
        """Flat data pixels, shape (H, W), bool (the whole image)."""
        if self._flat is None:
            raise ValueError("this store holds no flat pixels")
        return self._flat[0 : self.shape[0]].astype(bool, copy=False)

    @property
    def decoded(self):
        """Every pixel decoded (:class:`geodigitize.decode.Decoded`), by the `decode`
        given; built once when :attr:`kept`, at each call otherwise."""
        if self._decoded is not None:
            return self._decoded
        if self._decode is None:
            raise ValueError("this store cannot decode its pixels")
        decoded = self._decode(self)
        if self.kept:
            self._decoded = decoded
        return decoded
