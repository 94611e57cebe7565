"""DBSCAN of flat pixels on the pixel lattice, strip by strip, equal to scikit-learn's.

:func:`geodigitize.reduce.cluster_labels` clusters kept pixels as scikit-learn's DBSCAN
does on ``(col, row, value code x (eps + 1))``: pixels of different values are never
neighbours, pixels of one value are when ``dcol**2 + drow**2 <= eps**2``. On a lattice
that is a fixed set of offsets, so DBSCAN's three steps are array operations:

1. a pixel is *core* when at least ``min_samples`` kept pixels of its value (itself
   included) lie within `eps`;
2. clusters are the connected components of core pixels linked within `eps`, numbered in
   the row-major order of their first core pixel (scikit-learn grows clusters from the
   points in input order, the row-major order of ``np.nonzero``);
3. a kept pixel that is not core joins the lowest-numbered cluster with a core pixel
   within `eps` (the first to reach it), else it is noise (-1).

:class:`StripDBSCAN` does this over strips of rows, in order: each strip is given with
``2 floor(eps)`` rows of context on either side (:func:`context_rows`), which decide the
core status of every pixel within ``floor(eps)`` rows of the strip and so every link
across its seams. Pixels get provisional ids as strips go; :meth:`StripDBSCAN.finish`
returns the table that numbers them as one-piece DBSCAN does (see
:class:`geodigitize.store.SpoolStore`), and :func:`geodigitize.reduce.representatives_store`
picks each cluster's member nearest its centroid in a second read.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from .errors import GeodigitizeError

__all__ = [
    "DBSCANResult",
    "StripDBSCAN",
    "context_rows",
    "lattice_dbscan",
    "neighbour_offsets",
]

_NONE = np.iinfo(np.int64).max
_FOUR = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], dtype=bool)


def neighbour_offsets(eps: float) -> np.ndarray:
    """Offsets ``(drow, dcol)`` of the pixels within `eps` of a pixel, itself excluded.

    Returns
    -------
    ndarray of shape (k, 2) and dtype int64
        ``drow**2 + dcol**2 <= eps**2`` as scikit-learn compares them (squared
        distances against ``eps * eps`` in float64).
    """
    r = math.floor(eps)
    dr, dc = np.mgrid[-r : r + 1, -r : r + 1]
    near = (dr * dr + dc * dc).astype(np.float64) <= eps * eps
    near[r, r] = False
    return np.column_stack([dr[near], dc[near]]).astype(np.int64)


def context_rows(eps: float) -> int:
    """Rows of context a strip needs on either side: ``2 floor(eps)``."""
    return 2 * math.floor(eps)


def _shift(arr: np.ndarray, dr: int, dc: int, fill) -> np.ndarray:
    """``out[i, j] = arr[i + dr, j + dc]``, `fill` outside."""
    h, w = arr.shape
    out = np.full_like(arr, fill)
    rs, re = max(0, -dr), min(h, h - dr)
    cs, ce = max(0, -dc), min(w, w - dc)
    if rs < re and cs < ce:
        out[rs:re, cs:ce] = arr[rs + dr : re + dr, cs + dc : ce + dc]
    return out


@dataclass(frozen=True)
class DBSCANResult:
    """What :meth:`StripDBSCAN.finish` returns.

    Attributes
    ----------
    remap : ndarray of shape (m,) and dtype int32
        Final cluster label of every provisional id :meth:`StripDBSCAN.add` returned
        (-1: noise).
    n : int
        Clusters.
    counts, sum_cols, sum_rows : ndarray of shape (n,) and dtype int64
        Members of each cluster, and the sums of their columns and rows (exact).
    """

    remap: np.ndarray
    n: int
    counts: np.ndarray
    sum_cols: np.ndarray
    sum_rows: np.ndarray


class StripDBSCAN:
    """DBSCAN of kept pixels of equal value (see the module), fed strips in order.

    Parameters
    ----------
    shape : (H, W)
        The image's.
    eps : float
        DBSCAN's radius, in pixels.
    min_samples : int
        DBSCAN's core-point count (the point itself included).

    Notes
    -----
    Memory: one strip with its context (about 60 bytes a pixel), and per provisional id
    (one per cluster piece a strip holds, one per pixel that is not core but has a core
    neighbour) about 40 bytes until :meth:`finish`.

    Examples
    --------
    >>> dbscan = StripDBSCAN(values.shape, 2.5, 4)  # doctest: +SKIP
    >>> for a, b in strips:  # doctest: +SKIP
    ...     lo, hi = max(a - dbscan.context, 0), min(b + dbscan.context, height)
    ...     ids = dbscan.add(lo, values[lo:hi], flat[lo:hi], a, b)
    >>> result = dbscan.finish()  # doctest: +SKIP
    >>> labels = np.where(ids >= 0, result.remap[ids], -1)  # doctest: +SKIP
    """

    def __init__(self, shape: tuple[int, int], eps: float, min_samples: int) -> None:
        if eps <= 0 or min_samples < 1:
            raise GeodigitizeError(
                f"eps must be > 0 and min_samples >= 1, got {eps}, {min_samples}"
            )
        self.shape = (int(shape[0]), int(shape[1]))
        self.eps, self.min_samples = float(eps), int(min_samples)
        self.reach = math.floor(eps)
        self.context = context_rows(eps)
        offsets = neighbour_offsets(eps)
        self._offsets = offsets
        # each link once: the later pixel of the pair in row-major order
        later = (offsets[:, 0] > 0) | ((offsets[:, 0] == 0) & (offsets[:, 1] > 0))
        self._forward = offsets[later]
        self._n = 0  # provisional ids so far
        self._is_core: list[np.ndarray] = []  # per id: a cluster piece (True) or a pixel
        self._first: list[np.ndarray] = []  # per id: first core pixel (flat index)
        self._links: list[np.ndarray] = []  # (2, k) pairs of ids in one cluster
        self._border: list[np.ndarray] = []  # (2, k) border id, candidate piece id
        self._sums: list[tuple] = []  # (ids, (3, k) count, sum of cols, sum of rows)
        self._carry: tuple[int, np.ndarray] | None = None  # (row0, ids) of the overlap
        self._next_row = 0

    def add(self, r0: int, values: np.ndarray, keep: np.ndarray, a: int, b: int) -> np.ndarray:
        """Cluster the strip ``a .. b`` (the strips must come in order, covering the image).

        Parameters
        ----------
        r0 : int
            Image row of ``values[0]``.
        values : ndarray of shape (h, W)
            Decoded values of rows ``r0 .. r0 + h``, which hold rows ``a - context ..
            b + context`` (clipped to the image).
        keep : ndarray of shape (h, W) and dtype bool
            The pixels clustered (the flat ones).
        a, b : int
            The strip's rows.

        Returns
        -------
        ndarray of shape (b - a, W) and dtype int64
            Provisional id of each pixel (-1: not kept, or noise for sure); the final
            label is ``finish().remap[id]``.
        """
        height, width = self.shape
        if a != self._next_row or not a < b <= height:
            raise ValueError(f"strips must come in order: expected rows from {self._next_row}")
        lo, hi = max(a - self.context, 0), min(b + self.context, height)
        if r0 > lo or r0 + values.shape[0] < hi:
            raise ValueError(f"the strip {a}..{b} needs rows {lo}..{hi} of context")
        values, keep = values[lo - r0 : hi - r0], keep[lo - r0 : hi - r0]
        self._next_row = b
        # core status where it is exact: rows a - reach .. b + reach
        c0, c1 = max(a - self.reach, 0), min(b + self.reach, height)
        core = keep.copy()
        if self.min_samples > 1:  # with 1, every kept pixel is core
            core &= self._counts(values, keep) >= self.min_samples
        core[: c0 - lo], core[c1 - lo :] = False, False
        first_id = self._n  # this strip's ids: first_id .. self._n when it is done
        piece, n_pieces = self._pieces(values, core)  # -1 off core
        ids = np.where(piece >= 0, piece + self._n, -1)
        rows = np.arange(lo, hi)[:, None]
        flat = rows * width + np.arange(width)[None, :]
        first = np.full(n_pieces, _NONE, dtype=np.int64)
        np.minimum.at(first, piece[core], flat[core])
        self._is_core.append(np.ones(n_pieces, dtype=bool))
        self._first.append(first)
        self._n += n_pieces
        self._link_carry(lo, ids)
        # pixels of the strip that are kept but not core: border or noise
        sa, sb = a - lo, b - lo
        border = keep[sa:sb] & ~core[sa:sb]
        out = ids[sa:sb].copy()
        out[border] = self._border_ids(values, core, ids, border, sa)
        self._add_sums(out, a, first_id)
        # the rows the next strip also sees as core rows: b - reach .. b + reach
        keep_from = max(b - self.reach, 0)
        self._carry = (keep_from, ids[keep_from - lo : c1 - lo])
        return out

    # -- steps -----------------------------------------------------------------------
    def _counts(self, values: np.ndarray, keep: np.ndarray) -> np.ndarray:
        """Kept pixels of the same value within eps of each pixel, itself included."""
        count = keep.astype(np.int32)
        for dr, dc in self._offsets:
            near = _shift(keep, dr, dc, False)
            near &= _shift(values, dr, dc, np.nan) == values
            count += near
        return count

    def _pieces(self, values: np.ndarray, core: np.ndarray) -> tuple[np.ndarray, int]:
        """Connected components of core pixels (links within eps, equal values); -1 off
        core.

        Edge neighbours are within any ``eps >= 1``: the components start from
        :func:`scipy.ndimage.label`'s, and only links between two of those make graph
        edges (few: flat pixels of one band are edge-connected already).
        """
        if len(self._forward) == 0:  # eps < 1: every core pixel on its own
            idx = np.full(core.shape, -1, dtype=np.int64)
            idx[core] = np.arange(int(core.sum()))
            return idx, int(core.sum())
        base, n = ndimage.label(core, structure=_FOUR)
        if n == 0:
            return np.full(core.shape, -1, dtype=np.int64), 0
        if any(
            (core & _shift(core, dr, dc, False) & (_shift(values, dr, dc, np.nan) != values)).any()
            for dr, dc in ((0, 1), (1, 0))
        ):  # edge neighbours of different values (a flat tolerance): start from pixels
            base = np.zeros(core.shape, dtype=np.int64)
            n = int(core.sum())
            base[core] = np.arange(1, n + 1)
        src, dst = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
        for dr, dc in self._forward:
            other = _shift(base, dr, dc, 0)
            link = (other > 0) & (other != base) & core
            link &= _shift(values, dr, dc, np.nan) == values
            src.append(base[link].astype(np.int64) - 1)
            dst.append(other[link].astype(np.int64) - 1)
        s, d = np.concatenate(src), np.concatenate(dst)
        graph = coo_matrix((np.ones(s.size, dtype=np.int8), (s, d)), shape=(n, n))
        n, comp = connected_components(graph, directed=False)
        idx = np.full(core.shape, -1, dtype=np.int64)
        idx[core] = comp[base[core] - 1]
        return idx, n

    def _link_carry(self, lo: int, ids: np.ndarray) -> None:
        """Join this strip's pieces with the previous strip's on the rows both saw."""
        if self._carry is None:
            return
        row0, prev = self._carry
        here = ids[row0 - lo : row0 - lo + prev.shape[0]]
        both = (prev >= 0) & (here >= 0)
        if both.any():
            self._links.append(np.unique(np.stack([prev[both], here[both]]), axis=1))

    def _border_ids(self, values, core, ids, border, sa) -> np.ndarray:
        """A new id per border pixel with a core neighbour (-1 for noise); its candidate
        pieces are recorded."""
        w = border.shape[1]
        rows, cols = np.nonzero(border)
        out = np.full(rows.size, -1, dtype=np.int64)
        if rows.size == 0:
            return out
        pix, cand = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
        value = values[rows + sa, cols]
        for dr, dc in self._offsets:
            r, c = rows + sa + dr, cols + dc
            ok = (r >= 0) & (r < core.shape[0]) & (c >= 0) & (c < w)
            k = np.flatnonzero(ok)
            hit = core[r[k], c[k]] & (values[r[k], c[k]] == value[k])
            pix.append(k[hit])
            cand.append(ids[r[k[hit]], c[k[hit]]])
        pix, cand = np.concatenate(pix), np.concatenate(cand)
        reached = np.unique(pix)
        out[reached] = self._n + np.arange(reached.size)
        self._border.append(np.stack([out[pix], cand]))
        self._is_core.append(np.zeros(reached.size, dtype=bool))
        self._first.append(np.full(reached.size, _NONE, dtype=np.int64))
        self._n += reached.size
        return out

    def _add_sums(self, out: np.ndarray, a: int, first_id: int) -> None:
        """Count and coordinate sums of the strip's pixels per provisional id (the strip's
        own ids, ``first_id .. self._n``)."""
        flat = np.flatnonzero(out >= 0)
        lab = out.ravel()[flat] - first_id
        rows, cols = np.divmod(flat, out.shape[1])
        n = self._n - first_id
        sums = [np.bincount(lab, weights=w, minlength=n) for w in (None, cols, rows + a)]
        uid = np.arange(first_id, self._n)
        self._sums.append((uid, np.stack(sums).astype(np.int64)))  # exact below 2**53

    # -- the end ---------------------------------------------------------------------
    def finish(self) -> DBSCANResult:
        """Number the clusters as one-piece DBSCAN does; every strip must have been added."""
        if self._next_row != self.shape[0]:
            raise ValueError(f"strips end at row {self._next_row} of {self.shape[0]}")
        n = self._n
        is_core = np.concatenate(self._is_core) if self._is_core else np.zeros(0, bool)
        first = np.concatenate(self._first) if self._first else np.zeros(0, np.int64)
        links = np.concatenate(self._links, axis=1) if self._links else np.zeros((2, 0), int)
        graph = coo_matrix(
            (np.ones(links.shape[1], dtype=np.int8), (links[0], links[1])), shape=(n, n)
        )
        _, comp = connected_components(graph, directed=False)
        n_comp = int(comp.max(initial=-1)) + 1
        comp_first = np.full(n_comp, _NONE, dtype=np.int64)
        np.minimum.at(comp_first, comp[is_core], first[is_core])
        clusters = np.flatnonzero(comp_first < _NONE)
        rank = np.full(n_comp, -1, dtype=np.int64)
        rank[clusters[np.argsort(comp_first[clusters], kind="stable")]] = np.arange(clusters.size)
        remap = np.where(is_core, rank[comp], -1)
        if self._border:
            border = np.concatenate(self._border, axis=1)
            best = np.full(n, _NONE, dtype=np.int64)
            np.minimum.at(best, border[0], remap[border[1]])
            on = ~is_core & (best < _NONE)
            remap[on] = best[on]
        sums = np.zeros((3, n), dtype=np.int64)
        for uid, part in self._sums:
            sums[:, uid] += part
        final = remap >= 0
        per = [
            np.bincount(remap[final], weights=s[final], minlength=clusters.size).astype(np.int64)
            for s in sums
        ]
        return DBSCANResult(remap.astype(np.int32), int(clusters.size), *per)


def lattice_dbscan(
    values: np.ndarray, keep: np.ndarray, eps: float, min_samples: int, *, strip_rows: int = 0
) -> tuple[np.ndarray, int]:
    """DBSCAN of kept pixels of equal value, as :func:`geodigitize.reduce.cluster_labels`.

    Parameters
    ----------
    values : ndarray of shape (H, W)
    keep : ndarray of shape (H, W) and dtype bool
    eps : float
    min_samples : int
    strip_rows : int
        Rows per strip (0: one piece); the labels do not depend on it.

    Returns
    -------
    labels : ndarray of shape (H, W) and dtype int32
        0..n-1 in the row-major order of each cluster's first core pixel, -1 for pixels
        not kept and noise: scikit-learn's labels exactly.
    n : int
    """
    height = values.shape[0]
    dbscan = StripDBSCAN(values.shape, eps, min_samples)
    rows = strip_rows or max(height, 1)
    parts = []
    for a in range(0, height, rows):
        b = min(a + rows, height)
        lo, hi = max(a - dbscan.context, 0), min(b + dbscan.context, height)
        parts.append(dbscan.add(lo, values[lo:hi], keep[lo:hi], a, b))
    result = dbscan.finish()
    ids = np.concatenate(parts) if parts else np.full(values.shape, -1, dtype=np.int64)
    labels = np.append(result.remap, -1).astype(np.int32)[ids]  # id -1: the -1 at the end
    return labels, result.n
