"""Choose a reduction that meets a target reconstruction error with few points.

The seed's reduction keeps one point per flat cluster. On a smooth field drawn with a
256-colour map, clusters are the colour bands: a long band is represented by one point
far from most of its pixels, while antialiased line halos leave thousands of one-pixel
clusters. :func:`refine` instead keeps one point per tile of an adaptive quadtree:

1. The image is cut into square tiles (a power of two, about an eighth of the image).
   In each tile, the flat clusters are cut along the tile's edges into *pieces*; the
   tile's point is the representative (member nearest the centroid) of its largest
   piece, so its value is a band-interior value, not an edge or halo pixel. A tile
   with data but no flat pixel falls back to its data pixels' representative.
2. The kept points are interpolated back (:func:`geodigitize.reconstruct.interpolate_points`,
   linear in pixel space) on a fixed random sample of data pixels, and each tile
   counts its sample pixels whose error exceeds the target.
   The data's convex hull vertices are always kept too, so the points' hull covers
   every data pixel and their linear interpolation (here, or a later regrid) reaches
   the data's edges instead of leaving them to extrapolation.
3. The tiles with the most such pixels are split in four (adding points where the
   reconstruction is worst), a batch at a time, until the median error meets the
   target; the last batch is then bisected so that the fewest tiles are split.

Counting pixels over the target, rather than taking each tile's worst pixel, keeps the
search from chasing isolated wrong pixels (antialiased halos) that no point can fix.

Every reduction evaluated is recorded, so ``report.json`` shows the curve of points
kept versus median error explored.

The search reads the image from a :class:`geodigitize.store.PixelStore` a window at a
time (:func:`refine_store`), so it runs on images of any size in bounded memory;
:func:`refine` is the same search over arrays in memory.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from scipy.spatial import ConvexHull, QhullError

from .errors import OptionError
from .reconstruct import interpolate_points, sample_positions
from .reduce import (
    Clusters,
    centroid_distance_key,
    cluster_sums,
    nearest_in_runs,
    nearest_members,
    run_sums,
)
from .store import ArrayStore, PixelStore, RowRuns

__all__ = [
    "Pieces",
    "Refinement",
    "Step",
    "hull_points",
    "parse_target",
    "refine",
    "refine_store",
    "tile_points",
]

logger = logging.getLogger(__name__)

#: Data pixels the search compares at most (a fixed-seed random sample).
DEFAULT_SAMPLE = 200_000
#: Smallest tile side, in pixels.
MIN_TILE = 2
#: Each refinement step splits about this fraction of the tiles over the target.
BATCH_FRACTION = 0.3
#: The search gives up when the points exceed this fraction of the data pixels (no
#: longer a reduction) or when this many steps in a row improve the median error by
#: less than 1 %: the target is then below what the decoded grid allows (its own
#: quantisation, or pixels no point can fix).
MAX_POINTS_FRACTION = 0.2
STALL_STEPS = 3
#: Runs of data pixels (:class:`geodigitize.store.RowRuns`, 24 bytes each) the search
#: keeps from its first read of the store; an image with more (a noisy one, whose runs
#: are a pixel or two long) has each window's runs read again when the search needs it.
MAX_RUNS = 16_000_000


def parse_target(text: str | float) -> float:
    """Read a target error given as % of the range: ``"0.5%"``, ``"0.5"`` or ``0.5``.

    Returns
    -------
    float
        The target in percent of ``vmax - vmin``.

    Raises
    ------
    OptionError
        If it is not a positive finite number.
    """
    raw = str(text).strip().removesuffix("%").strip()
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise OptionError(
            f"`target_error` must be a positive percentage of the range, e.g. 0.5%, got {text!r}"
        )
    return value


@dataclass(frozen=True)
class Step:
    """One reduction the search evaluated.

    Attributes
    ----------
    n_points : int
    median_pct, p95_pct : float
        Median and 95th percentile of the absolute reconstruction error on the sample,
        as % of the range.
    """

    n_points: int
    median_pct: float
    p95_pct: float

    def to_dict(self, n_valid: int) -> dict:
        """The step for ``report.json``."""
        return {
            "points": self.n_points,
            "points_pct_of_data": 100.0 * self.n_points / max(n_valid, 1),
            "median_abs_error_pct": self.median_pct,
            "p95_abs_error_pct": self.p95_pct,
        }


@dataclass(frozen=True, eq=False)
class Pieces:
    """The chosen pieces of a refinement, by tile: each pixel's piece, for any pixels,
    without a whole-image label array (a preview labels its sampled pixels with it).

    A piece is the part of its tile's chosen flat cluster inside the tile (or, in a tile
    without flat pixels, the tile's data pixels in no cluster); the tiles of the levels
    with leaves partition the image.

    Attributes
    ----------
    sizes, widths : tuple of int
        Tile side and tiles per row of each level with leaves.
    tiles : tuple of ndarray of int64
        Each level's leaf tiles holding a point, row-major indices, increasing.
    starts : tuple of int
        Index (among the kept points) of each level's first point.
    labels : tuple of ndarray of int64
        Flat-cluster label of each of those tiles' piece (-1: data in no cluster).
    """

    sizes: tuple[int, ...]
    widths: tuple[int, ...]
    tiles: tuple[np.ndarray, ...]
    starts: tuple[int, ...]
    labels: tuple[np.ndarray, ...]

    def labels_at(
        self, rows: np.ndarray, cols: np.ndarray, flat: np.ndarray, data: np.ndarray
    ) -> np.ndarray:
        """Index of the kept point whose piece holds each pixel, -1 for none.

        Parameters
        ----------
        rows, cols : ndarray of int, broadcast together
            Pixel positions.
        flat : ndarray of int, the broadcast shape
            Their flat-cluster labels (-1 outside any cluster).
        data : ndarray of bool, the broadcast shape
            Whether they are data pixels.

        Returns
        -------
        ndarray of int32
            What :func:`refine` marks at those pixels in ``clusters.labels``.
        """
        rows, cols = np.broadcast_arrays(np.asarray(rows, np.int64), np.asarray(cols, np.int64))
        out = np.full(rows.shape, -1, dtype=np.int32)
        for size, nx, tiles, start, label in zip(
            self.sizes, self.widths, self.tiles, self.starts, self.labels, strict=True
        ):
            if tiles.size == 0:
                continue
            tid = (rows // size) * nx + cols // size
            k = np.minimum(np.searchsorted(tiles, tid), tiles.size - 1)
            mine = (tiles[k] == tid) & data & (flat == label[k])
            out[mine] = start + k[mine]
        return out


@dataclass(frozen=True, eq=False)
class Refinement:
    """The reduction :func:`refine` chose and the curve it explored.

    Attributes
    ----------
    clusters : Clusters
        The kept points (one per chosen piece); ``labels`` marks each piece's pixels
        (shape (0, 0) from :func:`refine_store` without ``labels=True``).
    target_pct : float
        The target median error, % of the range.
    met : bool
        False when even the finest tiles did not meet the target; `clusters` is then
        the reduction with the lowest median error found.
    curve : tuple of Step
        Every reduction evaluated, in order.
    n_valid : int
        Data pixels.
    sample : int
        Data pixels compared during the search.
    pieces : Pieces or None
        Where the chosen pieces lie, to label any pixels later: what a preview of an
        image not kept in memory draws, where ``clusters.labels`` is empty.
    """

    clusters: Clusters
    target_pct: float
    met: bool
    curve: tuple[Step, ...]
    n_valid: int
    sample: int
    pieces: Pieces | None = None

    def to_dict(self) -> dict:
        """The search for ``report.json``."""
        curve = sorted(self.curve, key=lambda s: s.n_points)
        return {
            "method": "adaptive quadtree of flat-cluster pieces",
            "target_median_error_pct": self.target_pct,
            "met": self.met,
            "points": len(self.clusters),
            "points_pct_of_data": 100.0 * len(self.clusters) / max(self.n_valid, 1),
            "sample_pixels": self.sample,
            "curve": [s.to_dict(self.n_valid) for s in curve],
        }


# ------------------------------------------------------------------------ tile points
def tile_points(
    values: np.ndarray, valid: np.ndarray, labels: np.ndarray, tile: int
) -> tuple[Clusters, np.ndarray]:
    """One point per tile: the representative of the tile's largest flat-cluster piece.

    Parameters
    ----------
    values : ndarray of shape (H, W)
        Decoded values.
    valid : ndarray of shape (H, W) and dtype bool
        Data pixels.
    labels : ndarray of shape (H, W) and dtype int32
        Flat clusters (:attr:`Clusters.labels`), -1 outside any cluster.
    tile : int
        Tile side in pixels; tiles are anchored at the image's top-left corner.

    Returns
    -------
    clusters : Clusters
        One point per tile holding data; ``labels`` marks the chosen pieces.
    tile_index : ndarray of shape (N,) and dtype int64
        Row-major tile index of each point (``ty * n_tiles_x + tx``).
    """
    height, width = valid.shape
    nx = -(-width // tile)
    at = np.flatnonzero(valid)  # row-major, as np.nonzero
    tiles = (np.arange(height) // tile)[:, None] * nx + (np.arange(width) // tile)[None, :]
    tid = tiles.ravel()[at]
    lab = labels.ravel()[at].astype(np.int64)
    lab += 1  # 0: data pixel in no flat cluster
    _, piece = _unique_inverse(tid * (int(lab.max(initial=0)) + 1) + lab)
    size = np.bincount(piece)
    n_pieces = size.size
    # per piece: its tile and priority (flat pieces first, then the largest)
    first = np.zeros(n_pieces, dtype=np.int64)
    first[piece] = np.arange(piece.size)
    p_tile = tid[first]
    p_flat = lab[first] > 0
    order = np.lexsort((-size, ~p_flat, p_tile))
    keep = order[np.r_[True, p_tile[order][1:] != p_tile[order][:-1]]]
    chosen = np.full(n_pieces, -1, dtype=np.int32)
    chosen[keep] = np.arange(keep.size, dtype=np.int32)
    of_pixel = chosen[piece]
    piece_labels = np.full(valid.shape, -1, dtype=np.int32)
    piece_labels.ravel()[at] = of_pixel
    # representatives(values, piece_labels, keep.size), from the pixels already at hand
    mine = of_pixel >= 0
    flat_idx, lab = at[mine], of_pixel[mine]
    rows, cols = np.divmod(flat_idx, width)
    counts, sum_cols, sum_rows = cluster_sums(lab, rows, cols, keep.size)
    key = centroid_distance_key(lab, rows, cols, counts, sum_cols, sum_rows)
    best, _ = nearest_members(lab, key, flat_idx, keep.size)
    r, c = rows[best], cols[best]
    reps = Clusters(c + 0.5, r + 0.5, values[r, c].astype(np.float64), counts, piece_labels, "")
    return reps, p_tile[keep]


def _unique_inverse(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(keys, return_inverse=True)`` by hashing (``pandas.factorize``): the
    distinct keys in increasing order and the index of each key among them.

    Parameters
    ----------
    keys : ndarray of shape (n,) and integer dtype

    Returns
    -------
    distinct : ndarray of shape (m,), increasing
    inverse : ndarray of shape (n,) and dtype int64

    Notes
    -----
    Only the m distinct keys are sorted. Pieces are few for their pixels or runs (m
    below 1 % of n on ``benchmarks/every_option.py``'s figure), where this is 5x
    faster than numpy's sort of all n; with most keys distinct it is about 2x slower.
    """
    import pandas as pd

    codes, distinct = pd.factorize(keys, sort=False)
    order = np.argsort(distinct)
    rank = np.empty(distinct.size, dtype=np.int64)
    rank[order] = np.arange(distinct.size)
    return np.asarray(distinct)[order], rank[codes]


def _groups(positions: np.ndarray, width: int) -> Iterator[tuple[int, int]]:
    """``(first, last + 1)`` of sorted `positions` taken in groups: each from the first
    position not yet taken to the last one before ``first + width``."""
    i = 0
    while i < positions.size:
        first = int(positions[i])
        j = int(np.searchsorted(positions, first + width))
        yield first, int(positions[j - 1]) + 1
        i = j


def _tile_points_runs(runs: RowRuns, size: int, want: np.ndarray, ty0: int, width: int):
    """:func:`tile_points` of the tiles `want` from the runs of their rows.

    Parameters
    ----------
    runs : RowRuns
        The data pixels of tile rows ``ty0 ..`` (rows ``ty0 * size ..``).
    size : int
        Tile side.
    want : ndarray of shape (ny, nx) and dtype bool
        The tiles of those tile rows asked for.
    ty0 : int
        The first tile row.
    width : int
        Image width.

    Returns
    -------
    (col, row, value, n_pixels, label, tile) of each wanted tile holding data, in tile
    order (``label`` the flat-cluster label of its piece, -1 for data in no cluster;
    ``tile`` the row-major index of the tile in the image), or None when none does.

    Notes
    -----
    Each run is cut at the tile edges, into the wanted tiles only; a piece (a flat
    cluster within a tile) is the set of its cut runs. Pieces are numbered by (tile,
    label) as :func:`tile_points` numbers them, so ties between pieces go the same way,
    and the nearest member is found per run (:func:`geodigitize.reduce.nearest_in_runs`):
    the same points as :func:`tile_points` on the pixels.
    """
    nx = want.shape[1]
    wide = (a.astype(np.int64) for a in (runs.row, runs.col0, runs.col1))
    runs = RowRuns(*wide, runs.label, runs.value)
    flat_want = want.reshape(-1)
    before = np.zeros(flat_want.size + 1, dtype=np.int64)  # wanted tiles before each
    np.cumsum(flat_want, out=before[1:])
    base = (runs.row // size - ty0) * nx
    lo = before[base + runs.col0 // size]
    cuts = before[base + (runs.col1 - 1) // size + 1] - lo  # wanted tiles per run
    total = int(cuts.sum())
    if total == 0:
        return None
    run = np.repeat(np.arange(len(runs)), cuts)
    k = np.arange(total) - np.repeat(np.cumsum(cuts) - cuts, cuts)
    tile = np.flatnonzero(flat_want)[np.repeat(lo, cuts) + k]
    tx = tile % nx
    c0 = np.maximum(runs.col0[run], tx * size)
    c1 = np.minimum(runs.col1[run], (tx + 1) * size)
    rows = runs.row[run]
    lab = runs.label[run].astype(np.int64) + 1  # 0: data pixels in no flat cluster
    m = int(lab.max()) + 1
    keys, piece = _unique_inverse(tile * m + lab)
    size_p = np.bincount(piece, weights=c1 - c0, minlength=keys.size).astype(np.int64)
    p_tile, p_flat = keys // m, keys % m > 0
    # per tile its largest piece, flat pieces first (ties: the lowest label)
    order = np.lexsort((-size_p, ~p_flat, p_tile))
    keep = order[np.r_[True, p_tile[order][1:] != p_tile[order][:-1]]]
    chosen = np.full(keys.size, -1, dtype=np.int64)
    chosen[keep] = np.arange(keep.size)
    of_run = chosen[piece]
    mine = of_run >= 0
    rows, c0, c1, of_run, run = rows[mine], c0[mine], c1[mine], of_run[mine], run[mine]
    sums = run_sums(rows, c0, c1, of_run, keep.size)
    pos, col, _ = nearest_in_runs(rows, c0, c1, of_run, sums, width, keep.size)
    return (
        col + 0.5,
        rows[pos] + 0.5,
        runs.value[run[pos]],
        sums[0],
        keys[keep] % m - 1,
        p_tile[keep] + ty0 * nx,
    )


def hull_points(values: np.ndarray, valid: np.ndarray) -> Clusters:
    """The data pixels at the vertices of the data's convex hull, as one-pixel points.

    Parameters
    ----------
    values : ndarray of shape (H, W)
        Decoded values.
    valid : ndarray of shape (H, W) and dtype bool
        Data pixels.

    Returns
    -------
    Clusters
        One point per hull vertex (pixel centres, GDAL convention), ``n_pixels`` 1; all
        data pixel centres lie in these points' convex hull. ``labels`` is all -1.

    Notes
    -----
    Only the first and last data pixel of every row and column can be hull vertices,
    so the hull is taken over those (at most ``2 (H + W)`` pixels).
    """
    height, width = valid.shape
    rows_any = np.flatnonzero(valid.any(axis=1))
    cols_any = np.flatnonzero(valid.any(axis=0))
    first_c = valid[rows_any].argmax(axis=1)
    last_c = width - 1 - valid[rows_any, ::-1].argmax(axis=1)
    first_r = valid[:, cols_any].argmax(axis=0)
    last_r = height - 1 - valid[::-1, cols_any].argmax(axis=0)
    r, c = _hull_vertices(
        np.concatenate([rows_any, rows_any, first_r, last_r]),
        np.concatenate([first_c, last_c, cols_any, cols_any]),
        width,
    )
    labels = np.full(valid.shape, -1, dtype=np.int32)
    return _hull_clusters(r, c, values[r, c], labels)


def _hull_vertices(r: np.ndarray, c: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixels (rows, cols) among the candidates `r`, `c` at the vertices of their convex
    hull, in row-major order (every candidate when they are collinear)."""
    flat = np.unique(r.astype(np.int64) * width + c)
    r, c = np.divmod(flat, width)
    if flat.size >= 3:
        with contextlib.suppress(QhullError):  # collinear: keep every boundary pixel
            vertices = ConvexHull(np.column_stack([c, r]).astype(np.float64)).vertices
            r, c = r[np.sort(vertices)], c[np.sort(vertices)]
    return r, c


def _hull_clusters(r: np.ndarray, c: np.ndarray, values: np.ndarray, labels) -> Clusters:
    return Clusters(
        c + 0.5,
        r + 0.5,
        np.asarray(values, dtype=np.float64),
        np.ones(r.size, dtype=np.int64),
        labels,
        "hull",
    )


@dataclass(frozen=True)
class _DataSample:
    """What two passes over a store tell the search: data pixels, the search's sample
    of them (row-major) with their values, and the hull points."""

    n_valid: int
    rows: np.ndarray
    cols: np.ndarray
    truth: np.ndarray
    hull: Clusters


def _sample_store(store: PixelStore, sample: int, seed: int) -> _DataSample:
    """The sample :func:`refine` draws (the same pixels as ``np.nonzero(valid)`` then
    :func:`geodigitize.reconstruct.sample_positions`) and :func:`hull_points`, read
    from `store` block by block."""
    width = store.shape[1]
    counts, rows_any, first_c, last_c = [], [], [], []
    first_r = np.full(width, -1, dtype=np.int64)
    last_r = np.full(width, -1, dtype=np.int64)
    blocks = store.blocks()
    for r0, r1 in blocks:
        valid = store.valid(r0, r1)
        counts.append(int(np.count_nonzero(valid)))
        ra = np.flatnonzero(valid.any(axis=1))
        rows_any.append(ra + r0)
        first_c.append(valid[ra].argmax(axis=1))
        last_c.append(width - 1 - valid[ra, ::-1].argmax(axis=1))
        col_any = valid.any(axis=0)
        first_r = np.where((first_r < 0) & col_any, valid.argmax(axis=0) + r0, first_r)
        last_r = np.where(col_any, r1 - 1 - valid[::-1].argmax(axis=0), last_r)
    cols_any = np.flatnonzero(first_r >= 0)
    cat = lambda parts: np.concatenate(parts) if parts else np.zeros(0, np.int64)  # noqa: E731
    rows_any = cat(rows_any)
    hr, hc = _hull_vertices(
        np.concatenate([rows_any, rows_any, first_r[cols_any], last_r[cols_any]]),
        np.concatenate([cat(first_c), cat(last_c), cols_any, cols_any]),
        width,
    )
    n_valid = int(sum(counts))
    picks = sample_positions(n_valid, sample, seed)
    starts = np.cumsum([0, *counts])
    rows, cols, truth = [], [], []
    hull_values = np.zeros(hr.size)
    for k, (r0, r1) in enumerate(blocks):
        lo, hi = np.searchsorted(picks, [starts[k], starts[k + 1]])
        in_hull = (hr >= r0) & (hr < r1)
        if lo == hi and not in_hull.any():
            continue
        values, valid = store.rows(r0, r1)
        where = np.flatnonzero(valid.ravel())[picks[lo:hi] - starts[k]]
        r, c = np.divmod(where, width)
        rows.append(r + r0)
        cols.append(c)
        truth.append(values.ravel()[where])
        hull_values[in_hull] = values[hr[in_hull] - r0, hc[in_hull]]
    hull = _hull_clusters(hr, hc, hull_values, np.zeros((0, 0), dtype=np.int32))
    return _DataSample(n_valid, cat(rows), cat(cols), np.concatenate([np.zeros(0), *truth]), hull)


def _read_runs(store: PixelStore, limit: int):
    """One read of `store`: its runs (:meth:`geodigitize.store.PixelStore.runs`, rows
    and columns kept as int32: 24 bytes a run), or None when there are more than
    `limit`, and each column's first and last data row (-1 in a column without data)."""
    width = store.shape[1]
    first_r = np.full(width, -1, dtype=np.int64)
    last_r = np.full(width, -1, dtype=np.int64)
    names = ("row", "col0", "col1", "label", "value")
    parts: dict[str, list[np.ndarray]] | None = {name: [] for name in names}
    small = np.int32 if max(store.shape) < 2**31 else np.int64
    n = 0
    blocks = store.blocks()
    last_block = np.full(width, -1, dtype=np.int64)  # the last block with data, per column
    for k, (r0, r1) in enumerate(blocks):
        valid = store.valid(r0, r1)
        col_any = valid.any(axis=0)
        new = (first_r < 0) & col_any  # columns meeting data for the first time
        if new.any():
            first_r[new] = valid[:, new].argmax(axis=0) + r0
        last_block[col_any] = k
        if parts is None:
            continue
        part = store.runs(r0, r1)
        n += len(part)
        if n > limit:
            parts = None
            continue
        for name in names:
            array = getattr(part, name)
            parts[name].append(array.astype(small) if name in names[:3] else array)
    # each column's last data row, from the last block holding one (read again: one or
    # two blocks, where a search of every block for it cost a pass over the image)
    for k in np.unique(last_block[last_block >= 0]):
        r0, r1 = blocks[k]
        cols = np.flatnonzero(last_block == k)
        last_r[cols] = r1 - 1 - store.valid(r0, r1)[::-1, cols].argmax(axis=0)
    if parts is None:
        return None, first_r, last_r
    # one field at a time: the blocks' pieces go as each field is joined
    joined = {name: np.concatenate(parts.pop(name)) for name in names}
    return RowRuns(**joined), first_r, last_r


def _sample_runs(
    runs: RowRuns, first_r: np.ndarray, last_r: np.ndarray, width: int, sample: int, seed: int
) -> _DataSample:
    """:func:`_sample_store` from the image's runs and its columns' first and last data
    rows: the same sample and hull."""
    length = runs.col1 - runs.col0
    end = np.cumsum(length)
    n_valid = int(end[-1]) if end.size else 0
    picks = sample_positions(n_valid, sample, seed)
    k = np.searchsorted(end, picks, side="right")  # the run of each picked data pixel
    rows = runs.row[k].astype(np.int64)
    cols = runs.col0[k] + picks - (end[k] - length[k])
    new_row = np.r_[True, runs.row[1:] != runs.row[:-1]] if len(runs) else np.zeros(0, bool)
    row_end = np.r_[new_row[1:], True] if len(runs) else new_row
    rows_any = runs.row[new_row]
    cols_any = np.flatnonzero(first_r >= 0)
    hr, hc = _hull_vertices(
        np.concatenate([rows_any, rows_any, first_r[cols_any], last_r[cols_any]]),
        np.concatenate([runs.col0[new_row], runs.col1[row_end] - 1, cols_any, cols_any]),
        width,
    )
    starts = runs.row.astype(np.int64) * width + runs.col0
    at = np.searchsorted(starts, hr * width + hc, side="right") - 1
    hull = _hull_clusters(hr, hc, runs.value[at], np.zeros((0, 0), dtype=np.int32))
    return _DataSample(n_valid, rows, cols, runs.value[k], hull)


def with_points(base: Clusters, extra: Clusters) -> Clusters:
    """`base` plus the points of `extra` at positions `base` does not hold yet.

    The added points keep ``labels`` -1 (they stand for their own pixel only).
    """
    new = ~np.isin(_pixel_keys(extra), _pixel_keys(base))
    return Clusters(
        np.concatenate([base.col, extra.col[new]]),
        np.concatenate([base.row, extra.row[new]]),
        np.concatenate([base.value, extra.value[new]]),
        np.concatenate([base.n_pixels, extra.n_pixels[new]]),
        base.labels,
        base.method,
    )


def _pixel_keys(clusters: Clusters) -> np.ndarray:
    """One integer per point's pixel (points sit on pixel centres)."""
    row = np.floor(clusters.row).astype(np.int64)
    return row << 32 | np.floor(clusters.col).astype(np.int64)


# ------------------------------------------------------------------------- the search
class _Quadtree:
    """Leaves of a quadtree of tiles, from ``top`` pixels down to ``MIN_TILE``, over a
    :class:`geodigitize.store.PixelStore`.

    Tile points are computed on demand, for the tiles asked for only, a window of rows
    and tile columns (about the store's block) at a time, and kept: tiles are
    independent, so a tile's point does not depend on which other tiles were computed
    with it.
    """

    def __init__(
        self, store: PixelStore, top: int, min_tile: int, runs: RowRuns | None = None
    ) -> None:
        self.store = store
        self.runs = runs  # the whole image's, when kept
        if runs is not None:  # first run of each row
            self._row_start = np.searchsorted(runs.row, np.arange(store.shape[0] + 1))
        self.levels = round(math.log2(top // min_tile)) + 1
        self.sizes = [top >> k for k in range(self.levels)]
        height, width = store.shape
        self.shapes = [(-(-height // s), -(-width // s)) for s in self.sizes]
        self.offsets = np.cumsum([0] + [h * w for h, w in self.shapes])
        self._done: dict[int, np.ndarray] = {}
        self._lookup: dict[int, np.ndarray] = {}
        self._points: dict[int, list[np.ndarray]] = {}

    def _windows(self, level: int, tiles: np.ndarray):
        """``(r0, c0, reps, tile_index)`` of the tiles `tiles` of `level`, window by window:
        :func:`tile_points` of each window (its pixels outside `tiles` left out), with
        positions and tile indices in the whole image."""
        size = self.sizes[level]
        nx = self.shapes[level][1]
        height, width = self.store.shape
        for b0, b1, want in self._bands(level, tiles):
            r0, r1 = b0 * size, min(b1 * size, height)
            values, valid = self.store.rows(r0, r1)
            labels = self.store.labels(r0, r1)
            span = max(1, self.store.block_pixels // max((r1 - r0) * size, 1))  # tile columns
            for t0, t1 in _groups(np.flatnonzero(want.any(axis=0)), span):
                c0, c1 = t0 * size, min(t1 * size, width)
                inside = np.repeat(np.repeat(want[:, t0:t1], size, 0), size, 1)
                sel = valid[:, c0:c1] & inside[: r1 - r0, : c1 - c0]
                if sel.any():
                    reps, tid = tile_points(values[:, c0:c1], sel, labels[:, c0:c1], size)
                    ty, tx = np.divmod(tid, t1 - t0)
                    yield r0, c0, reps, (ty + b0) * nx + tx + t0

    def _runs_of(self, r0: int, r1: int) -> RowRuns:
        """The runs of rows ``r0 .. r1``: from those kept, else read from the store."""
        if self.runs is None:
            return self.store.runs(r0, r1)
        a, b = self._row_start[r0], self._row_start[r1]
        runs = self.runs
        return RowRuns(
            runs.row[a:b], runs.col0[a:b], runs.col1[a:b], runs.label[a:b], runs.value[a:b]
        )

    def _run_windows(self, level: int, tiles: np.ndarray):
        """``(col, row, value, n_pixels, label, tile)`` of the tiles `tiles` of `level` (see
        :func:`_tile_points_runs`), a band of tile rows (about the store's block) at a
        time."""
        size = self.sizes[level]
        height = self.store.shape[0]
        for b0, b1, want in self._bands(level, tiles):
            runs = self._runs_of(b0 * size, min(b1 * size, height))
            found = _tile_points_runs(runs, size, want, b0, self.store.shape[1])
            if found is not None:
                yield found

    def _bands(self, level: int, tiles: np.ndarray):
        """``(b0, b1, want)``: the tile rows ``b0 .. b1`` of `level` holding tiles of
        `tiles`, about the store's block of rows at a time, and which of their tiles are
        in `tiles` (bool, shape ``(b1 - b0, nx)``)."""
        size = self.sizes[level]
        ny, nx = self.shapes[level]
        want = np.zeros(ny * nx, dtype=bool)
        want[tiles] = True
        want = want.reshape(ny, nx)
        band_rows = max(1, self.store.block_rows // size)  # tile rows per band
        for b0, b1 in _groups(np.flatnonzero(want.any(axis=1)), band_rows):
            yield b0, b1, want[b0:b1]

    def _ensure(self, level: int, tiles: np.ndarray) -> None:
        """Compute the points of the tiles `tiles` of `level` not computed yet."""
        n_tiles = self.shapes[level][0] * self.shapes[level][1]
        if level not in self._done:
            self._done[level] = np.zeros(n_tiles, dtype=bool)
            self._lookup[level] = np.full(n_tiles, -1, dtype=np.int64)
            empty = (np.float64, np.float64, np.float64, np.int64, np.int64)
            self._points[level] = [np.zeros(0, dtype=t) for t in empty]
        missing = tiles[~self._done[level][tiles]]
        if missing.size == 0:
            return
        parts = self._points[level]
        for *new, tid in self._run_windows(level, missing):
            self._lookup[level][tid] = parts[0].size + np.arange(tid.size)
            parts[:] = [np.concatenate([a, b]) for a, b in zip(parts, new, strict=True)]
        self._done[level][missing] = True

    def _leaf_points(self, leaves: list[np.ndarray]):
        """Per level with leaves: (level, point indices, their tiles), in gather order."""
        out = []
        for level, is_leaf in enumerate(leaves):
            if not is_leaf.any():
                continue
            tiles = np.flatnonzero(is_leaf)
            self._ensure(level, tiles)
            idx = self._lookup[level][tiles]
            out.append((level, idx[idx >= 0], tiles[idx >= 0]))
        return out

    def leaf_ids(self, leaves: list[np.ndarray], rows: np.ndarray, cols: np.ndarray):
        """Global leaf id (level offset + tile index) of each pixel."""
        out = np.full(rows.size, -1, dtype=np.int64)
        for level, is_leaf in enumerate(leaves):
            size = self.sizes[level]
            tid = (rows // size) * self.shapes[level][1] + cols // size
            hit = is_leaf[tid]
            out[hit] = self.offsets[level] + tid[hit]
        return out

    def gather(self, leaves: list[np.ndarray]) -> Clusters:
        """The points of the given leaves, as one Clusters (``labels`` left empty: see
        :meth:`piece_labels`)."""
        parts = self._leaf_points(leaves)
        cat = [
            np.concatenate([self._points[level][k][idx] for level, idx, _ in parts])
            for k in range(4)
        ]
        labels = np.zeros((0, 0), dtype=np.int32)
        return Clusters(cat[0], cat[1], cat[2], cat[3].astype(np.int64), labels, "refined")

    def piece_labels(self, leaves: list[np.ndarray]) -> np.ndarray:
        """Shape (H, W) int32: each pixel's point in :meth:`gather` order when it belongs to
        the piece its leaf's point stands for, else -1."""
        labels = np.full(self.store.shape, -1, dtype=np.int32)
        start = 0
        for level, idx, tiles in self._leaf_points(leaves):
            for r0, c0, reps, tid in self._windows(level, tiles):
                position = (start + np.searchsorted(tiles, tid)).astype(np.int32)
                h, w = reps.labels.shape
                window = labels[r0 : r0 + h, c0 : c0 + w]
                mine = reps.labels >= 0
                window[mine] = position[reps.labels[mine]]
            start += idx.size
        return labels

    def pieces(self, leaves: list[np.ndarray]) -> Pieces:
        """Where the pieces of the leaves' points lie (:class:`Pieces`): what
        :meth:`piece_labels` marks, for any pixels."""
        parts = self._leaf_points(leaves)
        starts = np.cumsum([0] + [idx.size for _, idx, _ in parts])[:-1]
        return Pieces(
            tuple(self.sizes[level] for level, _, _ in parts),
            tuple(self.shapes[level][1] for level, _, _ in parts),
            tuple(tiles for _, _, tiles in parts),
            tuple(int(a) for a in starts),
            tuple(self._points[level][4][idx] for level, idx, _ in parts),
        )

    def split(self, leaves: list[np.ndarray], ids: np.ndarray) -> list[np.ndarray]:
        """New leaves with the leaves `ids` (global) replaced by their four children."""
        out = [leaf.copy() for leaf in leaves]
        level = np.searchsorted(self.offsets, ids, side="right") - 1
        for lv in np.unique(level):
            tid = ids[level == lv] - self.offsets[lv]
            out[lv][tid] = False
            ny, nx = self.shapes[lv + 1]
            ty, tx = np.divmod(tid, self.shapes[lv][1])
            for dy in (0, 1):
                for dx in (0, 1):
                    cy, cx = 2 * ty + dy, 2 * tx + dx
                    ok = (cy < ny) & (cx < nx)
                    out[lv + 1][cy[ok] * nx + cx[ok]] = True
        return out


def _top_tile(shape: tuple[int, int], min_tile: int) -> int:
    """Largest tile: a power of two about an eighth of the image's longer side."""
    target = max(shape) / 8
    return max(min_tile, 1 << max(0, math.floor(math.log2(max(target, 1)))))


def refine(
    values: np.ndarray,
    valid: np.ndarray,
    clusters: Clusters,
    value_range: float,
    target_pct: float,
    *,
    sample: int = DEFAULT_SAMPLE,
    seed: int = 0,
    min_tile: int = MIN_TILE,
) -> Refinement:
    """Find the reduction with the fewest points whose median reconstruction error
    meets `target_pct`.

    Parameters
    ----------
    values : ndarray of shape (H, W)
        Decoded values.
    valid : ndarray of shape (H, W) and dtype bool
        Data pixels.
    clusters : Clusters
        Flat clusters from :func:`geodigitize.reduce.reduce` (their ``labels`` are used).
    value_range : float
        ``vmax - vmin``; errors are in % of it.
    target_pct : float
        Target median absolute error, % of the range (see :func:`parse_target`).
    sample : int
        Compare at most this many data pixels (fixed-seed random sample).
    seed : int
        Seed of that sample.
    min_tile : int
        Smallest tile side in pixels (a power of two).

    Returns
    -------
    Refinement
        Its ``clusters.labels`` marks the chosen pieces, shape (H, W).

    Notes
    -----
    The error is measured against the decoded grid, the only truth a run knows. On a
    colormap with few colours the decoded grid is itself quantised, so a reconstruction
    that meets the target against it is usually closer still to the field drawn.

    This is :func:`refine_store` over the arrays (:class:`geodigitize.store.ArrayStore`).
    """
    store = ArrayStore(values, valid, labels=clusters.labels)
    return refine_store(
        store, value_range, target_pct, sample=sample, seed=seed, min_tile=min_tile, labels=True
    )


def refine_store(
    store: PixelStore,
    value_range: float,
    target_pct: float,
    *,
    sample: int = DEFAULT_SAMPLE,
    seed: int = 0,
    min_tile: int = MIN_TILE,
    labels: bool = False,
) -> Refinement:
    """:func:`refine` over a :class:`geodigitize.store.PixelStore`, in bounded memory.

    The image is read once, a block of rows at a time, as runs of one flat cluster and
    one value along rows (:meth:`geodigitize.store.PixelStore.runs`); the sample, the
    hull and every tile's point come from those runs (each tile's point computed once,
    when the search first needs it). Past :data:`MAX_RUNS` runs (a noisy image) the
    runs are not kept: the sample and hull take two more reads, and each band of tiles
    is read again when needed. The result equals :func:`refine` on the same pixels
    exactly.

    Parameters
    ----------
    store : PixelStore
        Decoded values, data pixels and flat-cluster labels (``store.has_labels``).
    value_range, target_pct, sample, seed, min_tile
        As :func:`refine`.
    labels : bool
        Also mark the chosen pieces in ``clusters.labels``, shape (H, W) int32 (a
        whole-image array: for images that fit in memory). Without it ``labels`` has
        shape (0, 0).

    Returns
    -------
    Refinement

    Notes
    -----
    Memory: the runs (24 bytes each, at most :data:`MAX_RUNS`; one run per 7 data
    pixels on ``benchmarks/every_option.py``'s 16-MP figure), the sample (``sample`` pixels), one
    block of rows, and per quadtree level reached 9 bytes a tile (``(H / s) (W / s)``
    tiles of side ``s``, 25 MB per level at 100 MP for 2-pixel tiles) plus 32 bytes per
    tile point computed.
    """
    target_pct = parse_target(target_pct)
    if not store.has_labels:
        raise ValueError("refine_store needs a store with the flat-cluster labels")
    runs, first_r, last_r = _read_runs(store, MAX_RUNS)
    if runs is not None:
        data = _sample_runs(runs, first_r, last_r, store.shape[1], sample, seed)
    else:
        data = _sample_store(store, sample, seed)
    n_valid, rows, cols, truth, hull = data.n_valid, data.rows, data.cols, data.truth, data.hull
    tree = _Quadtree(store, _top_tile(store.shape, min_tile), min_tile, runs)
    curve: list[Step] = []

    def evaluate(leaves):
        pts = with_points(tree.gather(leaves), hull)
        rebuilt = interpolate_points(pts.col, pts.row, pts.value, cols + 0.5, rows + 0.5)
        err = np.abs(rebuilt - truth) / value_range * 100.0
        step = Step(len(pts), float(np.median(err)), float(np.percentile(err, 95)))
        curve.append(step)
        logger.debug("refine: %d points, median error %.4f %%", step.n_points, step.median_pct)
        return pts, err, step

    leaves = [np.zeros(h * w, dtype=bool) for h, w in tree.shapes]
    leaves[0][:] = True
    pts, err, step = evaluate(leaves)
    best = (step.median_pct, pts, leaves)
    stalled = 0
    while step.median_pct > target_pct and stalled < STALL_STEPS:
        if step.n_points > MAX_POINTS_FRACTION * n_valid:
            break
        ranked = _worst_leaves(tree, leaves, rows, cols, err, target_pct)
        if ranked.size == 0:
            break
        batch = ranked[: max(4, math.ceil(BATCH_FRACTION * ranked.size))]
        new_leaves = tree.split(leaves, batch)
        new_pts, new_err, new_step = evaluate(new_leaves)
        if new_step.median_pct <= target_pct:
            leaves, pts, step = _bisect(
                tree, leaves, batch, evaluate, target_pct, (new_leaves, new_pts, new_step)
            )
            break
        stalled = stalled + 1 if new_step.median_pct > 0.99 * step.median_pct else 0
        leaves, pts, err, step = new_leaves, new_pts, new_err, new_step
        if step.median_pct < best[0]:
            best = (step.median_pct, pts, leaves)
    met = step.median_pct <= target_pct
    chosen, chosen_leaves = (pts, leaves) if met else best[1:]
    if labels:
        marks = tree.piece_labels(chosen_leaves)
        chosen = Clusters(
            chosen.col, chosen.row, chosen.value, chosen.n_pixels, marks, chosen.method
        )
    pieces = tree.pieces(chosen_leaves)
    return Refinement(chosen, target_pct, met, tuple(curve), n_valid, int(rows.size), pieces)


def _worst_leaves(tree, leaves, rows, cols, err, target_pct) -> np.ndarray:
    """Splittable leaves ranked by how many sample pixels exceed the target in them."""
    leaf = tree.leaf_ids(leaves, rows, cols)
    over = np.bincount(leaf[err > target_pct], minlength=int(tree.offsets[-1]))
    finest = tree.offsets[-2]
    candidates = np.flatnonzero(over[:finest] > 0)
    return candidates[np.argsort(-over[candidates], kind="stable")]


def _bisect(tree, leaves, batch, evaluate, target_pct, full):
    """Split about the fewest leading leaves of `batch` that still meet the target.

    Bisects down to 1/16 of the batch (at most 4 more evaluations after the first).
    """
    lo, hi = 0, batch.size  # lo fails (not meeting), hi meets
    found = full
    while hi - lo > max(1, batch.size // 16):
        mid = (lo + hi) // 2
        trial = tree.split(leaves, batch[:mid])
        pts, _, step = evaluate(trial)
        if step.median_pct <= target_pct:
            hi, found = mid, (trial, pts, step)
        else:
            lo = mid
    return found
