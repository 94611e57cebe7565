"""The one-piece target-error search as it was before it read a PixelStore (commit daff090),
kept verbatim as the reference the store-based search must equal exactly."""
# ruff: noqa

from __future__ import annotations

import contextlib
import logging
import math
from dataclasses import dataclass

import numpy as np
from scipy.spatial import ConvexHull, QhullError

from geodigitize.errors import OptionError
from geodigitize.reconstruct import interpolate_points, sample_positions
from geodigitize.reduce import Clusters, representatives

__all__ = ["Refinement", "Step", "hull_points", "parse_target", "refine", "tile_points"]

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
class Refinement:
    """The reduction :func:`refine` chose and the curve it explored.

    Attributes
    ----------
    clusters : Clusters
        The kept points (one per chosen piece); ``labels`` marks each piece's pixels.
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
    """

    clusters: Clusters
    target_pct: float
    met: bool
    curve: tuple[Step, ...]
    n_valid: int
    sample: int

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
    _height, width = valid.shape
    nx = -(-width // tile)
    rows, cols = np.nonzero(valid)
    tid = (rows // tile).astype(np.int64) * nx + cols // tile
    lab = labels[rows, cols].astype(np.int64) + 1  # 0: data pixel in no flat cluster
    _, piece, size = np.unique(
        tid * (int(lab.max(initial=0)) + 1) + lab, return_inverse=True, return_counts=True
    )
    piece = piece.ravel()
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
    piece_labels = np.full(valid.shape, -1, dtype=np.int32)
    piece_labels[rows, cols] = chosen[piece]
    reps = representatives(values, piece_labels, keep.size)
    return reps, p_tile[keep]


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
    r = np.concatenate([rows_any, rows_any, first_r, last_r])
    c = np.concatenate([first_c, last_c, cols_any, cols_any])
    flat = np.unique(r.astype(np.int64) * width + c)
    r, c = np.divmod(flat, width)
    if flat.size >= 3:
        with contextlib.suppress(QhullError):  # collinear: keep every boundary pixel
            vertices = ConvexHull(np.column_stack([c, r]).astype(np.float64)).vertices
            r, c = r[np.sort(vertices)], c[np.sort(vertices)]
    labels = np.full(valid.shape, -1, dtype=np.int32)
    return Clusters(
        c + 0.5,
        r + 0.5,
        values[r, c].astype(np.float64),
        np.ones(r.size, dtype=np.int64),
        labels,
        "hull",
    )


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
    """Leaves of a quadtree of tiles, from ``top`` pixels down to ``MIN_TILE``."""

    def __init__(self, values, valid, labels, top: int, min_tile: int) -> None:
        self.values, self.valid, self.labels = values, valid, labels
        self.levels = round(math.log2(top // min_tile)) + 1
        self.sizes = [top >> k for k in range(self.levels)]
        height, width = valid.shape
        self.shapes = [(-(-height // s), -(-width // s)) for s in self.sizes]
        self.offsets = np.cumsum([0] + [h * w for h, w in self.shapes])
        self._points: dict[int, tuple[Clusters, np.ndarray]] = {}
        self._lookup: dict[int, np.ndarray] = {}

    def points_at(self, level: int) -> tuple[Clusters, np.ndarray]:
        """Tile points of `level` and a (ny, nx) map tile -> point index (-1: none)."""
        if level not in self._points:
            reps, tiles = tile_points(self.values, self.valid, self.labels, self.sizes[level])
            lookup = np.full(self.shapes[level][0] * self.shapes[level][1], -1, np.int64)
            lookup[tiles] = np.arange(tiles.size)
            self._points[level], self._lookup[level] = reps, lookup
        return self._points[level], self._lookup[level]

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
        """The points of the given leaves, as one Clusters."""
        parts = []
        for level, is_leaf in enumerate(leaves):
            if not is_leaf.any():
                continue
            reps, lookup = self.points_at(level)
            idx = lookup[np.flatnonzero(is_leaf)]
            idx = idx[idx >= 0]
            parts.append((reps, idx))
        col = np.concatenate([r.col[i] for r, i in parts])
        row = np.concatenate([r.row[i] for r, i in parts])
        value = np.concatenate([r.value[i] for r, i in parts])
        n_pixels = np.concatenate([r.n_pixels[i] for r, i in parts])
        labels = np.full(self.valid.shape, -1, dtype=np.int32)
        start = 0
        for reps, idx in parts:
            remap = np.full(len(reps), -1, dtype=np.int32)
            remap[idx] = np.arange(start, start + idx.size, dtype=np.int32)
            where = reps.labels >= 0
            new = remap[reps.labels[where]]
            labels[where] = np.where(new >= 0, new, labels[where])
            start += idx.size
        return Clusters(col, row, value, n_pixels, labels, "refined")

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


def _sample(valid: np.ndarray, sample: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = np.nonzero(valid)
    if rows.size > sample:
        pick = sample_positions(rows.size, sample, seed)
        rows, cols = rows[pick], cols[pick]
    return rows, cols


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

    Notes
    -----
    The error is measured against the decoded grid, the only truth a run knows. On a
    colormap with few colours the decoded grid is itself quantised, so a reconstruction
    that meets the target against it is usually closer still to the field drawn.
    """
    target_pct = parse_target(target_pct)
    n_valid = int(valid.sum())
    rows, cols = _sample(valid, sample, seed)
    truth = values[rows, cols]
    tree = _Quadtree(values, valid, clusters.labels, _top_tile(valid.shape, min_tile), min_tile)
    hull = hull_points(values, valid)
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
    best = (step.median_pct, pts)
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
            best = (step.median_pct, pts)
    met = step.median_pct <= target_pct
    chosen = pts if met else best[1]
    return Refinement(chosen, target_pct, met, tuple(curve), n_valid, int(rows.size))


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
