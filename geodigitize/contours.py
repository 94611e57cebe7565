"""Isolines of the decoded grid: where the figure changes from one value or class to the next.

For a class map (a scale with ``levels``) the boundaries between classes are exactly the
information the figure holds; they are traced at the class edges. For a continuous scale
the lines are traced at given levels, or at about ten round levels across the data.

Lines are traced with matplotlib's marching-squares generator (:mod:`contourpy`) on the
pixel-centre lattice (GDAL convention: the pixel ``[i, j]`` sits at ``(j + 0.5, i + 0.5)``)
and do not cross masked pixels. A class map is traced on the class index (0, 1, 2 ...)
at ``k + 0.5``, so a boundary between neighbouring classes runs halfway between the
pixel centres on either side, along the pixels' shared edge.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import contourpy
import numpy as np

from .colormap import ColorScale
from .store import ArrayStore, PixelStore

#: Largest distance, in pixels, between two computations of the point where a line
#: crosses a seam (they differ by rounding only; distinct crossings are far apart).
_ON_SEAM = 1e-6

#: Pixels per block :func:`trace_store` traces at once (about 45 rows at 100 MP). Each
#: level that crosses a block costs contourpy a pass over all of the quads it is given
#: (its cache of the level), crossing or not, so thin blocks, which fewer levels cross
#: over fewer columns (see :func:`_spans`), trace faster: at 100 MP, 0.63 s of CPU
#: instead of 2.1-2.8 s with the store's blocks of 4 MP and whole rows (the lines are
#: the same at every block height).
TRACE_BLOCK_PIXELS = 2**19

__all__ = ["ContourLines", "contour_levels", "trace", "trace_store", "write_lines"]


class ContourLines:
    """Traced lines in pixel coordinates.

    Attributes
    ----------
    lines : list of ndarray of shape (n, 2)
        ``(col, row)`` vertices of each line (pixel convention, GDAL).
    values : ndarray of shape (len(lines),) and dtype float64
        The value each line separates at (the class edge, or the contour level).
    """

    def __init__(self, lines: list[np.ndarray], values: np.ndarray) -> None:
        self.lines = lines
        self.values = np.asarray(values, dtype=np.float64)

    def __len__(self) -> int:
        return len(self.lines)

    def to_frame(self, georef, out_crs: str):
        """The lines as a GeoDataFrame (column ``value``, LineString geometries in `out_crs`).

        Parameters
        ----------
        georef : Georeference
            Places pixel positions (its ``pixel_to_crs``).
        out_crs : str
        """
        import geopandas as gpd
        import shapely

        if not self.lines:
            return gpd.GeoDataFrame({"value": np.zeros(0)}, geometry=[], crs=out_crs)
        sizes = np.array([len(line) for line in self.lines])
        xy = np.concatenate(self.lines)
        x, y = georef.pixel_to_crs(xy[:, 0], xy[:, 1], out_crs)
        coords = np.column_stack([np.asarray(x, float), np.asarray(y, float)])
        geoms = shapely.linestrings(coords, indices=np.repeat(np.arange(sizes.size), sizes))
        return gpd.GeoDataFrame({"value": self.values}, geometry=geoms, crs=out_crs)


def contour_levels(
    scale: ColorScale, values: np.ndarray, levels: Sequence[float] | None = None, n: int = 10
) -> np.ndarray:
    """Levels to trace: given `levels`, the class edges of a class map, or round levels.

    Parameters
    ----------
    scale : ColorScale
    values : ndarray of shape (H, W)
        Decoded values, NaN where masked.
    levels : sequence of float, optional
        Explicit levels.
    n : int
        About how many round levels for a continuous scale.

    Returns
    -------
    ndarray of dtype float64, increasing
    """
    if levels is not None or scale.is_discrete:
        return _levels(scale, levels, 0.0, 0.0, n)
    return _levels(scale, None, float(np.nanmin(values)), float(np.nanmax(values)), n)


def _levels(scale: ColorScale, levels, lo: float, hi: float, n: int = 10) -> np.ndarray:
    """:func:`contour_levels` from the data's smallest and largest value."""
    if levels is not None:
        return np.unique(np.asarray(levels, dtype=np.float64))
    if scale.is_discrete:
        return np.asarray(scale.levels[1:-1], dtype=np.float64)
    from matplotlib.ticker import MaxNLocator

    if not hi > lo:
        return np.zeros(0)
    ticks = MaxNLocator(n).tick_values(lo, hi)
    return ticks[(ticks > lo) & (ticks < hi)]


def trace(
    values: np.ndarray,
    valid: np.ndarray,
    scale: ColorScale,
    levels: Sequence[float] | None = None,
) -> ContourLines:
    """Trace isolines of the decoded grid in pixel coordinates.

    Parameters
    ----------
    values : ndarray of shape (H, W)
        Decoded values.
    valid : ndarray of shape (H, W) and dtype bool
        Data pixels; lines never cross other pixels.
    scale : ColorScale
        Its ``levels`` make a class map (traced at the class edges).
    levels : sequence of float, optional
        Trace these levels instead.

    Returns
    -------
    ContourLines
        Lines by level, then in :func:`trace_store`'s order.

    Notes
    -----
    This is :func:`trace_store` over the arrays (one block of rows).
    """
    store = ArrayStore(values, valid, block_pixels=max(values.size, 1))
    return trace_store(store, scale, levels, block_rows=max(values.shape[0], 1))


def trace_store(
    store: PixelStore,
    scale: ColorScale,
    levels: Sequence[float] | None = None,
    *,
    block_rows: int | None = None,
    data_limits: tuple[float, float] | None = None,
) -> ContourLines:
    """:func:`trace` over a :class:`geodigitize.store.PixelStore`, a block of rows at a time.

    Each block is traced with the first row of the next (the quads between them are
    the block's), and the pieces of a line cut at a seam are joined where one ends
    and the next starts: marching squares puts both on the same point of the edge
    between two pixels of the seam row, computed from the same two values, so the
    points are equal exactly. The lines do not depend on the block height.

    Parameters
    ----------
    store : PixelStore
    scale, levels
        As :func:`trace`.
    block_rows : int, optional
        Rows per block (default: :data:`TRACE_BLOCK_PIXELS` pixels, at most
        ``store.block_rows`` rows).
    data_limits : (float, float), optional
        Smallest and largest data value, when the caller knows them (strips can keep
        them as they go): saves a read of the store. Without data, None.

    Returns
    -------
    ContourLines
        For each level in increasing order, its lines ordered by the quad (pixel-centre
        cell, row-major) their first segment lies in, then by their first vertex (row,
        col). Each line is contourpy's (same vertices, same direction); a closed line
        starts at the first vertex of its segment in the first such quad.

    Notes
    -----
    contourpy's serial generator lists lines in about that order and starts closed
    lines about there too, but not always: compared with one call on the whole grid,
    the lines are the same up to their order and the starting vertex of closed lines.

    Memory: one block of rows (about 40 bytes a pixel while tracing) and the lines. A
    seam never falls on a row holding a data value equal to a traced level (see
    :func:`_blocks`); given levels equal to decoded values on most rows (a level at a
    class's own value, say) make blocks grow toward the whole image.
    """
    height, width = store.shape
    rows = block_rows or max(1, min(store.block_rows, TRACE_BLOCK_PIXELS // max(width, 1)))
    blocks = store.blocks(rows)
    lo, hi, any_data = np.inf, -np.inf, False
    if data_limits is not None:
        (lo, hi), any_data = data_limits, True
    elif levels is None and not scale.is_discrete:
        limits = store.value_limits()
        if limits is not None:
            (lo, hi), any_data = limits, True
    else:
        any_data = any(store.valid(r0, r1).any() for r0, r1 in blocks)
    if not any_data:
        return ContourLines([], np.zeros(0))
    at = _levels(scale, levels, lo, hi)
    edges = np.asarray(scale.levels, dtype=np.float64) if scale.is_discrete else None
    by_class = edges is not None and levels is None
    # trace the class index at k + 0.5: exactly between neighbouring classes
    trace_at = np.arange(1, edges.size - 1) - 0.5 if by_class else at
    pieces: list[list[np.ndarray]] = [[] for _ in trace_at]
    seams = set()
    x = np.arange(width) + 0.5  # pixel-centre columns

    def read(r0: int, r1: int) -> np.ndarray:
        values = store.data_rows(r0, r1)  # NaN where masked: contourpy masks them
        if by_class:
            masked = np.isnan(values)
            index = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, edges.size - 2)
            values = index.astype(np.float64)
            values[masked] = np.nan
        return values

    for r0, r1, field in _blocks(read, height, rows, trace_at):
        if r1 < height:
            seams.add(r1 + 0.5)
        if min(field.shape) < 2:  # no quad: nothing to trace
            continue
        for q0, q1, crossing in _spans(field, trace_at):
            part = field[q0 : q1 + 1]  # the pixel rows around quad rows q0 .. q1 - 1
            # and within them, the quad columns c0 .. c1 - 1 the levels cross (7 % of
            # the columns of a 100-MP smooth field in blocks of TRACE_BLOCK_PIXELS)
            for c0, c1, levels_here in _spans(part, trace_at[crossing], axis=0):
                gen = _generator(x[c0 : c1 + 1], r0 + q0, part[:, c0 : c1 + 1])
                for k in crossing[levels_here]:
                    lines = gen.lines(float(trace_at[k]))
                    pieces[k].extend(np.asarray(line, dtype=np.float64) for line in lines)
    lines, out_values = [], []
    for found, value in zip(pieces, at, strict=True):
        joined = [line for line in _join(found, seams, width) if len(line) >= 2]
        lines.extend(joined)
        out_values.extend([value] * len(joined))
    return ContourLines(lines, np.asarray(out_values, dtype=np.float64))


def _spans(field: np.ndarray, trace_at: np.ndarray, axis: int = 1):
    """``(q0, q1, crossing)``: runs of quad rows ``q0 .. q1 - 1`` of `field` (the quad row
    q lies between pixel rows q and q + 1) that a traced level may cross, with the
    levels (indices into `trace_at`) that may cross each run; with ``axis=0``, runs of
    quad columns (between pixel columns q and q + 1) instead.

    Marching squares counts ``z <= level`` below and ``z > level`` above, so a level
    crosses a quad only between the quad's smallest and largest (unmasked) value, and
    never crosses a quad row whose two pixel rows hold no such pair. A line cannot leave
    a run either: it goes on to the next quad row through an edge the two quad rows
    share, which makes both crossed. Each run is traced on its own rows (the same quads,
    the same vertices), and contourpy's scans of the rows no level crosses are saved:
    a smooth field's levels each cross a band of about a fifth of the rows. The same
    holds for columns.
    """
    low = np.fmin.reduce(field, axis=axis, initial=np.inf)  # inf on a row without data
    high = np.fmax.reduce(field, axis=axis, initial=-np.inf)
    q_low = np.minimum(low[:-1], low[1:])
    q_high = np.maximum(high[:-1], high[1:])
    cross = (trace_at[None, :] >= q_low[:, None]) & (trace_at[None, :] < q_high[:, None])
    crossed = np.r_[False, cross.any(axis=1), False]
    edges = np.flatnonzero(crossed[1:] != crossed[:-1])  # run starts and ends
    for q0, q1 in zip(edges[::2], edges[1::2], strict=True):
        yield int(q0), int(q1), np.flatnonzero(cross[q0:q1].any(axis=0))


def _generator(x: np.ndarray, r0: int, z: np.ndarray):
    """contourpy's line generator over `z`, shape (h, w), NaN where masked: the image
    rows from `r0`, at the pixel-centre columns `x`, shape (w,). What
    ``contourpy.contour_generator(x, y, z, name="threaded", thread_count=1,
    line_type=Separate, corner_mask=True)`` builds (the same x, y, z and mask), without
    its masked-array round trip.

    The threaded generator on one thread and one chunk traces as the serial one does
    (the same lines, in the same order) but releases the GIL while it marches, which
    the serial one does not: the pipeline traces on a thread while the target-error
    search runs, and with the serial generator the two took turns on one core.
    """
    z = np.ascontiguousarray(z)
    h, w = z.shape
    xs, ys = np.empty((h, w)), np.empty((h, w))
    xs[:] = x  # contourpy takes both coordinates as full 2-D arrays
    ys[:] = (np.arange(r0, r0 + h) + 0.5)[:, None]
    mask = np.isnan(z)
    return contourpy.ThreadedContourGenerator(
        xs,
        ys,
        z,
        mask if mask.any() else None,
        corner_mask=True,
        line_type=contourpy.LineType.Separate,
        fill_type=contourpy.FillType.OuterOffset,
        quad_as_tri=False,
        z_interp=contourpy.ZInterp.Linear,
        thread_count=1,
    )


def _touches(field: np.ndarray, trace_at: np.ndarray) -> np.ndarray:
    """Per row: a data pixel's value is one of the levels traced exactly (a masked
    pixel is NaN, never equal to a level)."""
    return np.isin(field, trace_at).any(axis=1)


def _blocks(read, height: int, rows: int, trace_at: np.ndarray):
    """``(r0, r1, field)``: blocks of about `rows` rows with the next block's first row
    (``field`` holds rows ``r0 .. r1 + 1``).

    A seam row (the first row of the next block) never holds a value equal to a level
    traced: a line through such a pixel centre passes through a lattice point where
    several edges meet, and the pieces on either side could not be matched by position.
    The block grows to the next row without one (a class map never has one: it is
    traced halfway between classes).
    """
    r0 = 0
    while r0 < height:
        r1 = min(r0 + rows, height)
        parts = [read(r0, min(r1 + 1, height))]
        while r1 < height and _touches(parts[-1][-1:], trace_at)[0]:
            more = read(r1 + 1, min(r1 + 1 + rows, height))
            if more.shape[0] == 0:  # the seam would be the last row: no seam
                r1 = height
                break
            clean = np.flatnonzero(~_touches(more, trace_at))
            take = int(clean[0]) + 1 if clean.size else more.shape[0]
            parts.append(more[:take])
            r1 += take
        field = parts[0] if len(parts) == 1 else np.concatenate(parts)
        yield r0, r1, field
        r0 = r1


def _quads(line: np.ndarray, width: int) -> np.ndarray:
    """Row-major index of the quad (cell between four pixel centres) of each segment."""
    mid = (line[:-1] + line[1:]) / 2
    return np.floor(mid[:, 1] - 0.5).astype(np.int64) * width + np.floor(mid[:, 0] - 0.5).astype(
        np.int64
    )


def _seam_of(y: float, seams: set[float]) -> float | None:
    """The seam row a vertex lies on (contourpy's interpolation may leave it an ulp off)."""
    row = math.floor(y) + 0.5
    return row if abs(y - row) < _ON_SEAM and row in seams else None


def _join(pieces: list[np.ndarray], seams: set[float], width: int) -> list[np.ndarray]:
    """Lines of one level from the pieces the blocks traced: a piece ending on a seam
    row continues with the piece starting at the same point; chains that come back to
    their start are closed lines. Ordered as :func:`trace_store` says.

    The point where a line crosses a seam is computed from the same two pixels in both
    blocks; the joined line keeps the one of the piece that reaches it first (as one
    trace of the whole grid computes it, leaving the earlier quad).
    """
    starts: dict[float, list[tuple[float, int]]] = {}
    ends: dict[float, list[tuple[float, int]]] = {}
    for k, line in enumerate(pieces):
        if _closed(line):
            continue
        for where, vertex in ((starts, line[0]), (ends, line[-1])):
            seam = _seam_of(vertex[1], seams)
            if seam is not None:
                where.setdefault(seam, []).append((vertex[0], k))
    nxt = np.full(len(pieces), -1)
    has_prev = np.zeros(len(pieces), dtype=bool)
    for seam, found in ends.items():
        cand = sorted(starts.get(seam, []))
        xs = np.array([x for x, _ in cand])
        for x, k in found:
            i = int(np.searchsorted(xs, x - _ON_SEAM))
            if i < xs.size and xs[i] - x <= _ON_SEAM:
                nxt[k] = cand[i][1]
                has_prev[cand[i][1]] = True
    used = np.zeros(len(pieces), dtype=bool)
    out = []
    for first in [*np.flatnonzero(~has_prev), *np.flatnonzero(has_prev)]:
        if used[first]:
            continue
        chain, k = [], first
        while k >= 0 and not used[k]:
            used[k] = True
            chain.append(pieces[k] if not chain else pieces[k][1:])
            k = nxt[k]
        line = np.concatenate(chain) if len(chain) > 1 else chain[0]
        if k == first:  # back at the start: the first vertex stands for the joint
            line[-1] = line[0]
        out.append(_start_closed(line, width) if _closed(line) else line)
    keys = []
    for line in out:
        quad = _quads(line, width)[0] if len(line) >= 2 else np.iinfo(np.int64).max
        keys.append((quad, line[0, 1], line[0, 0]))
    return [out[i] for i in sorted(range(len(out)), key=keys.__getitem__)]


def _closed(line: np.ndarray) -> bool:
    return len(line) > 2 and np.array_equal(line[0], line[-1])


def _start_closed(line: np.ndarray, width: int) -> np.ndarray:
    """A closed line started at the first vertex of its segment in its first quad
    (row-major; among segments in that quad, the first vertex by row, then col)."""
    quads = _quads(line, width)
    cand = np.flatnonzero(quads == quads.min())
    k = cand[np.lexsort((line[cand, 0], line[cand, 1]))[0]]
    ring = line[:-1]
    return np.concatenate([ring[k:], ring[:k], ring[k : k + 1]])


def write_lines(path, frame, layer: str = "contours") -> None:
    """Add a LineString layer to a GeoPackage (created if missing), even when empty."""
    import pyogrio

    pyogrio.write_dataframe(
        frame,
        path,
        layer=layer,
        driver="GPKG",
        geometry_type="LineString",
        append=False,
        promote_to_multi=False,
    )
