"""Average overviews of a float grid, as GDAL's ``AVERAGE`` resampling builds them.

``grid.tif`` carries average overviews (nodata-aware: NaN cells are left out of each
mean). GDAL builds them after the last row is written, reading every block back, on
one core: about 1.5 CPU-s of a 100-MP grid, at the very end of a run. The same numbers
are computed here with numpy from the rows as they are written (a block of rows in,
the overview rows it completes out), so the writer only has to store them.

The arithmetic is GDAL's (``GDALResampleChunk_AverageOrRMS``, nodata branch), step for
step in double precision, so each overview cell is the same float32 bit for bit:

- overview sizes are ``ceil(n / factor)`` and each level is computed from the level
  below it (GDAL cascades power-of-two levels);
- an overview cell ``i`` covers source cells ``i * r .. (i + 1) * r`` with ``r = n_src /
  n_dst`` (2, or just below 2 when ``n_src`` is odd); its first and last source cells
  count with the part of them it covers (weights ``1 - (i r - floor(i r))`` and
  ``1 - (ceil((i+1) r) - (i+1) r)``, with GDAL's 1e-8 guards), the one between in full;
- each source row is summed first (left, middle, right), then the rows (bottom,
  middle, top) weighted the same way; cells whose sources are all NaN stay NaN.

:func:`reproduces_gdal` says when this holds (tested against GDAL on odd, even and thin
grids, with and without NaN cells, at every level): GDAL computes differently from a
level one cell wide.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

__all__ = ["AveragePyramid", "overview_shapes", "reproduces_gdal"]


def overview_shapes(shape: tuple[int, int], factors: Sequence[int]) -> list[tuple[int, int]]:
    """Shape of each overview (GDAL's: ``ceil(n / factor)`` along each axis)."""
    h, w = shape
    return [(-(-h // f), -(-w // f)) for f in factors]


def reproduces_gdal(shape: tuple[int, int], factors: Sequence[int]) -> bool:
    """Whether :class:`AveragePyramid` gives GDAL's overviews of a grid of `shape`.

    True when the factors are 2, 4, 8, ... (each level from the one below) and every
    level computed from is at least 2 cells each way.
    """
    if not factors or list(factors) != [2 ** (k + 1) for k in range(len(factors))]:
        return False
    sources = [tuple(shape), *overview_shapes(shape, factors)[:-1]]
    return all(h >= 2 and w >= 2 for h, w in sources)


def _axis(n_src: int, n_dst: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per overview cell along one axis: first source cell, number of source cells
    (1 to 3), weight of the first and of the last (GDAL's expressions, in order)."""
    ratio = n_src / n_dst
    i = np.arange(n_dst, dtype=np.float64)
    start, stop = i * ratio, (i + 1) * ratio
    lo = (start + 1e-8).astype(np.int64)
    hi = np.ceil(stop - 1e-8).astype(np.int64)
    hi = np.minimum(np.where(hi == lo, lo + 1, hi), n_src)
    w_first = np.where(hi == lo + 1, 1.0, 1 - (start - lo))
    w_last = 1 - (hi - stop)
    return lo, hi - lo, w_first, w_last


def _segments(lo: np.ndarray, span: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Cells ``d0 .. d1`` whose sources start every 2 cells from ``s0`` and span the same
    number of cells: ``(d0, d1, s0, span)``. A few per axis (ratio 2 - 1/m puts the
    first and the last cell apart), so the sums slice rather than gather."""
    if lo.size == 0:
        return []
    cut = np.flatnonzero((np.diff(lo) != 2) | (np.diff(span) != 0)) + 1
    bounds = [0, *cut.tolist(), lo.size]
    return [(a, b, int(lo[a]), int(span[a])) for a, b in itertools.pairwise(bounds)]


def _reduce(src: np.ndarray, runs, axis: int, pick) -> np.ndarray:
    """`pick` (``np.fmin`` or ``np.fmax``: NaN skipped) over the sources of each cell
    along `axis`, cells and sources as :func:`_segments` gives them."""
    shape = list(src.shape)
    shape[axis] = runs[-1][1] if runs else 0
    out = np.empty(shape, src.dtype)

    def cut(arr: np.ndarray, a: int, b: int, step: int = 1) -> np.ndarray:
        at = [slice(None)] * arr.ndim
        at[axis] = slice(a, b, step)
        return arr[tuple(at)]

    for d0, d1, s0, span in runs:
        n = d1 - d0
        part = cut(out, d0, d1)
        sources = [cut(src, s0 + k, s0 + k + 2 * n - 1, 2) for k in range(span)]
        if span == 1:
            part[...] = sources[0]
            continue
        pick(sources[0], sources[1], out=part)
        if span == 3:
            pick(part, sources[2], out=part)
    return out


class _Level:
    """One overview level, from the rows of the level below, top to bottom.

    A cell whose non-NaN sources all hold one value ``v`` is ``v``: GDAL's weighted
    mean of equal values is ``v`` within a few double rounding errors, far below half a
    float32 step, so it rounds back to ``v``. Only the other cells (where values meet,
    a few percent of a decoded grid) are summed with GDAL's weights, in its order.
    Zeros of both signs make the one exception (the sum's sign depends on the order),
    so their cells are summed too once a ``-0.0`` occurs.
    """

    def __init__(self, src: tuple[int, int], dst: tuple[int, int]) -> None:
        self.src, self.dst = src, dst
        self.x = _axis(src[1], dst[1])
        self.x_runs = _segments(self.x[0], self.x[1])
        # the column of each cell's first, middle and last source (the last twice when
        # there are 2, the first thrice when 1)
        self.x_at = [self.x[0] + np.minimum(self.x[1] - 1, m) for m in range(3)]
        self.y = _axis(src[0], dst[0])
        self.stop = self.y[0] + self.y[1]  # source rows each overview row needs, increasing
        self.rows = np.zeros((0, src[1]), np.float32)  # source rows not used up yet
        self.first = 0  # source row of rows[0]
        self.done = 0  # overview rows given
        self.signed_zero = False  # a -0.0 met

    def add(self, rows: np.ndarray) -> np.ndarray:
        """The next source rows (float32, NaN where empty); returns the overview rows
        they complete, shape (k, dst width), float32 (k may be 0)."""
        rows = np.asarray(rows, dtype=np.float32)
        if not self.signed_zero:  # -0.0 is the one float32 whose bits are 0x80000000
            self.signed_zero = bool((rows.view(np.int32) == np.int32(-(2**31))).any())
        self.rows = np.concatenate([self.rows, rows]) if self.rows.size else rows
        received = self.first + self.rows.shape[0]
        j0 = self.done
        j1 = int(np.searchsorted(self.stop, received, side="right"))
        if j1 == j0:
            return np.zeros((0, self.dst[1]), np.float32)
        # the smallest and largest non-NaN source of each cell (in any order: rows
        # first, over whole rows, then the columns of half as many rows)
        y_runs = _segments(self.y[0][j0:j1] - self.first, self.y[1][j0:j1])
        low, high = (
            _reduce(_reduce(self.rows, y_runs, 0, pick), self.x_runs, 1, pick)
            for pick in (np.fmin, np.fmax)
        )
        out = np.where(low == high, low, np.float32(np.nan))  # NaN: every source is
        differ = low < high  # cells where values differ
        if self.signed_zero:
            differ |= low == 0
        differ = np.flatnonzero(differ)
        if differ.size:
            r, c = np.divmod(differ, self.dst[1])
            out.ravel()[differ] = self._weighted(r + j0, c)
        self.done = j1
        keep = int(self.y[0][j1]) if j1 < self.dst[0] else received
        self.rows = self.rows[keep - self.first :]
        self.first = keep
        return out

    def _weighted(self, j: np.ndarray, i: np.ndarray) -> np.ndarray:
        """GDAL's weighted mean of overview cells ``(j, i)``, float32: each source row
        summed left, middle, right, then the rows bottom, middle, top (a NaN source
        skipped), in double precision.

        A middle row or column that no cell has (every cell spans 2 sources that way:
        an even source size) is left out: it would add ``0 * line`` (+0 or -0) to
        sums that are never -0 (they start at +0), which changes no bit.
        """
        # np.take, not indexing: it releases the GIL (the caller's other threads run)
        x_span, x_first, x_last = (np.take(a, i) for a in self.x[1:])
        y_lo, y_span, y_first, y_last = (np.take(a, j) for a in self.y)
        flat = self.rows.ravel()
        width = self.src[1]
        y_weights = (
            y_first,
            np.where(y_span == 3, 1.0, 0.0),
            np.where(y_span >= 2, y_last, 0.0),
        )
        # per column source: where it is (the same for every row), whether the cell
        # has it, and its weight (None: 1, the middle one)
        columns = [(np.take(self.x_at[0], i), None, x_first)]
        if (x_span == 3).any():
            columns.append((np.take(self.x_at[1], i), x_span == 3, None))
        columns.append((np.take(self.x_at[2], i), x_span >= 2, x_last))
        rows = [0, 1, 2] if (y_span == 3).any() else [0, 2]
        # every row's line at once (shape (rows, cells)): the same sums, in the same
        # order, in a third of the numpy calls
        k = np.array(rows)[:, None]
        base = (y_lo + np.minimum(y_span - 1, k) - self.first) * width
        for at, has, wx in columns:
            v = np.take(flat, base + at)  # float32 (products: 64)
            ok = ~np.isnan(v)
            if has is None:  # the first source: set, not added
                line = np.where(ok, v * wx, 0.0)
                wline = np.where(ok, wx, 0.0)
                continue
            ok &= has
            line = np.where(ok, line + (v if wx is None else v * wx), line)
            wline = np.where(ok, wline + (1.0 if wx is None else wx), wline)
        total = weight = 0.0
        for at, row in enumerate(rows):  # a row a cell lacks adds 0 * line: nothing
            total = total + line[at] * y_weights[row]
            weight = weight + wline[at] * y_weights[row]
        return (total / weight).astype(np.float32)


class AveragePyramid:
    """GDAL's average overviews of a grid whose rows arrive top to bottom.

    Parameters
    ----------
    shape : (H, W)
        The grid.
    factors : sequence of int
        2, 4, 8, ... (see :func:`reproduces_gdal`).

    Examples
    --------
    >>> pyramid = AveragePyramid((5, 7), [2])
    >>> [(k, r0, rows.shape) for k, r0, rows in pyramid.add(np.ones((4, 7), np.float32))]
    [(0, 0, (2, 4))]
    """

    #: Rows taken at a time (the work arrays are a few times that many rows).
    CHUNK = 64

    def __init__(self, shape: tuple[int, int], factors: Sequence[int]) -> None:
        shapes = [tuple(shape), *overview_shapes(shape, factors)]
        self.shapes = shapes[1:]
        self.levels = [_Level(a, b) for a, b in itertools.pairwise(shapes)]

    def add(self, rows: np.ndarray) -> list[tuple[int, int, np.ndarray]]:
        """The grid's next rows, shape (h, W), float32 with NaN where empty; returns the
        overview rows completed: ``(level, first row, rows)``, levels from 0 (factor 2).
        """
        out = []
        for start in range(0, rows.shape[0], self.CHUNK):
            part = rows[start : start + self.CHUNK]
            for k, level in enumerate(self.levels):
                r0 = level.done
                part = level.add(part)
                if not part.shape[0]:
                    break
                out.append((k, r0, part))
        return out

    @property
    def complete(self) -> bool:
        """Every overview row given."""
        return all(level.done == level.dst[0] for level in self.levels)
