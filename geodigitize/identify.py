"""Name the colormap a colorbar draws, when a known one draws it within the bar's noise.

The bar's line colours (a :class:`~geodigitize.colorbar.ColorbarProfile`) are compared
with every continuous colormap of the catalogue's matplotlib and GMT sources and their
reverses, each evaluated as its renderer draws it (:func:`drawn_tables`): matplotlib
colours a value with one of its ``N`` colours (entry ``floor(x * N)``), GMT interpolates
between its CPT's nodes (the catalogue's fine lookup table of a GMT table), so a GMT
figure's ``turbo`` is ``gmt.turbo``, not matplotlib's ``turbo``.

The bar's ends are known to a pixel or two only (antialiased outlines, extend triangles,
resampled images, rasterized PDFs), and a table's colours a pixel off are several 8-bit
units off where the table is steep. Each table's start and end are therefore fitted
within :data:`REACH_LINES` lines (or 1 % of the bar) before the bar's colours are
compared with it (:func:`match_table`).

A name is taken when the best table is within the bar's own colour noise
(:func:`name_tolerance`) and every other table (copies of it in another source aside) is
:data:`NAME_MARGIN` times farther; otherwise :func:`identify_cmap` answers None and the
caller samples the bar (:func:`geodigitize.colorbar.scale_from_colorbar`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from .catalogue import CatalogueEntry, list_names

__all__ = [
    "CmapMatch",
    "DrawnTables",
    "TableFit",
    "drawn_tables",
    "identify_cmap",
    "match_table",
    "name_tolerance",
]

#: Positions at which every table is held (a multiple of 256, so matplotlib's 256-colour
#: tables are exact on it).
GRID = 2048
#: How far (lines along the bar) a table's start and end may be moved to fit the bar.
REACH_LINES = 4.0
#: Median RGB distance between a bar and a table that is always within noise (8-bit
#: rounding, antialiasing of the bar's edges): a clean PNG's bar sits 0.3-1 away from its
#: table.
NAME_BASE = 1.5
#: Times the bar's own noise (the spread of a line's pixels about its colour) added to
#: :data:`NAME_BASE`.
NAME_NOISE = 1.5
#: The 90th percentile may reach this many times the median's tolerance.
P90_FACTOR = 2.5
#: Every other table's mean distance must be this many times the best's.
NAME_MARGIN = 1.5
#: Tables within this mean RGB distance of each other are one table drawn two ways
#: (matplotlib's turbo, one of 256 colours per value, and GMT's, which interpolates
#: between them: up to a whole step apart where the colours change fast).
SAME_TABLE = 3.0
#: A table GMT interpolates is taken over the same table as matplotlib draws it only
#: when its mean distance is at most this share of the latter's. GMT's bars measure
#: 0.1-0.6 of it; a resampled or rasterized matplotlib bar's colours lie between
#: matplotlib's a little too (0.8-0.85 on a PDF whose bar poppler smoothed while its map,
#: drawn as vector cells, kept matplotlib's colours).
INTERPOLATED_GAIN = 0.75
#: Largest median tolerance, however noisy the bar.
NAME_MAX = 5.0
#: Tables kept after the first, coarse comparison.
SHORTLIST = 8
#: Most lines used in the coarse comparison, and in the search for a table's ends.
SCREEN_LINES = 128
FIT_LINES = 384


@dataclass(frozen=True)
class CmapMatch:
    """A named colormap that draws the colorbar's colours.

    Attributes
    ----------
    name : str
        The catalogue name (``"viridis"``, ``"gmt.jet_r"``).
    median, p90, mean : float
        RGB distances between the bar's lines and the table at their fitted positions.
    tolerance : float
        The median distance allowed (:func:`name_tolerance` of the bar's noise).
    runner_up : str
        The nearest other table ("" if none).
    runner_up_mean : float
    ends : (float, float)
        Where the bar's two ends fall on the table (0-1).
    drawn : {"lookup", "resampled", "interpolated"}
        How the table drew the bar (see :class:`DrawnTables`).
    """

    name: str
    median: float
    p90: float
    mean: float
    tolerance: float
    runner_up: str
    runner_up_mean: float
    ends: tuple[float, float] = (0.0, 1.0)
    drawn: str = "lookup"

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "median_rgb_distance": round(self.median, 3),
            "p90_rgb_distance": round(self.p90, 3),
            "mean_rgb_distance": round(self.mean, 3),
            "tolerance": round(self.tolerance, 3),
            "runner_up": self.runner_up,
            "runner_up_mean": round(self.runner_up_mean, 3),
            "bar_ends_on_table": [round(v, 4) for v in self.ends],
            "drawn": self.drawn,
        }


@dataclass(frozen=True)
class TableFit:
    """How well one table draws a bar (see :func:`match_table`)."""

    index: int
    mean: float
    median: float
    p90: float
    ends: tuple[float, float]


@dataclass(frozen=True, eq=False)
class DrawnTables:
    """The catalogue's continuous colormaps, each as a renderer draws it.

    Attributes
    ----------
    names : tuple of str
        Catalogue names: matplotlib's plain, GMT's prefixed (``gmt.turbo``), ``_r`` for
        reverses.
    drawn : tuple of str
        How each is drawn: ``"lookup"`` (matplotlib: the entry ``floor(x * N)`` of its
        ``N`` colours), ``"resampled"`` (matplotlib's colours interpolated linearly
        between their centres, as a resampled or rasterized image of a matplotlib bar
        shows them) or ``"interpolated"`` (GMT: linear between the CPT's nodes).
    tables : ndarray of shape (K, GRID, 3) and dtype float32
        Colour (0-255) drawn at position ``(i + 0.5) / GRID``.
    """

    names: tuple[str, ...]
    drawn: tuple[str, ...]
    tables: np.ndarray


@functools.cache
def drawn_tables() -> DrawnTables:
    """Every continuous matplotlib and GMT colormap and its reverse, as drawn (built
    once per process, about 0.15 s)."""
    centres = (np.arange(GRID) + 0.5) / GRID
    names, drawn, tables = [], [], []

    def add(label: str, how: str, table: np.ndarray) -> None:
        table = table.astype(np.float32)
        names.extend([label, label + "_r"])
        drawn.extend([how, how])
        tables.extend([table, table[::-1]])

    for name, source in list_names(("matplotlib", "gmt"), continuous=True):
        cmap = CatalogueEntry(name, source).load()
        n = cmap.N
        if source == "gmt":  # figures hold colours rounded to 8 bits
            add(f"gmt.{name}", "interpolated", np.rint(cmap(centres)[:, :3] * 255.0))
            continue
        lut = np.rint(cmap((np.arange(n) + 0.5) / n)[:, :3] * 255.0)
        add(name, "lookup", lut[np.minimum((centres * n).astype(np.int64), n - 1)])
        at = np.clip(centres * n - 0.5, 0, n - 1)
        resampled = np.stack([np.interp(at, np.arange(n), lut[:, c]) for c in range(3)], 1)
        add(name, "resampled", resampled)
    return DrawnTables(tuple(names), tuple(drawn), np.stack(tables))


def name_tolerance(noise: float) -> float:
    """Largest median RGB distance at which a table draws a bar whose lines' pixels
    spread by `noise` (RGB distance, see :attr:`ColorbarProfile.noise`), at most
    :data:`NAME_MAX`."""
    return min(NAME_BASE + NAME_NOISE * float(noise), NAME_MAX)


def _same_table(tables: np.ndarray, k: int) -> np.ndarray:
    """(K,) bool: the tables within :data:`SAME_TABLE` of table `k` in mean."""
    diff = tables - tables[k]
    return np.sqrt(np.einsum("kgc,kgc->kg", diff, diff)).mean(axis=1) <= SAME_TABLE


def _at(tables: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Colours of `tables` (K, GRID, 3) at `positions` (any shape) in 0-1."""
    idx = np.clip((positions * GRID).astype(np.int64), 0, GRID - 1)
    return tables[:, idx]


def _distance(tables: np.ndarray, positions: np.ndarray, colors: np.ndarray) -> np.ndarray:
    """RGB distance of `colors` (..., L, 3) to `tables` at `positions` (..., L)."""
    diff = _at(tables, positions) - colors.astype(np.float32)
    return np.sqrt(np.einsum("...k,...k->...", diff, diff))


def match_table(
    table: np.ndarray, colors: np.ndarray, positions: np.ndarray, reach: float, index: int = -1
) -> TableFit:
    """Fit the bar's two ends onto one table and measure the distance left.

    Parameters
    ----------
    table : ndarray of shape (GRID, 3)
    colors : ndarray of shape (L, 3)
        The bar's line colours, 0-255.
    positions : ndarray of shape (L,)
        The lines' positions along the bar, 0-1.
    reach : float
        How far (0-1 units) each end may move.
    index : int
        Recorded in the result.

    Returns
    -------
    TableFit
        Distances at the ends (a search over a grid of each end's shift, then a finer one
        around the best) that give the least mean distance.
    """
    t = table[None]
    best = (np.inf, 0.0, 0.0)
    centre = (0.0, 0.0)
    take = _spread(colors.shape[0], FIT_LINES)
    for step in (reach / 4.0, reach / 16.0):
        shifts = np.arange(-4, 5) * step
        s0 = centre[0] + shifts[:, None, None]
        s1 = centre[1] + shifts[None, :, None]
        pos = s0 + positions[take] * (1.0 + s1 - s0)  # (9, 9, L)
        mean = _distance(t, pos, colors[take])[0].mean(axis=-1)
        i, j = np.unravel_index(int(np.argmin(mean)), mean.shape)
        if mean[i, j] < best[0]:
            best = (float(mean[i, j]), float(s0[i, 0, 0]), float(s1[0, j, 0]))
        centre = (best[1], best[2])
    _, e0, e1 = best
    d = _distance(t, e0 + positions * (1.0 + e1 - e0), colors)[0]
    return TableFit(
        index,
        float(d.mean()),
        float(np.median(d)),
        float(np.percentile(d, 90)),
        (e0, 1.0 + e1),
    )


def identify_cmap(
    colors: np.ndarray, positions: np.ndarray, *, lines: int | None = None, noise: float = 0.0
) -> CmapMatch | None:
    """The known colormap whose colours at `positions` are the bar's `colors`, or None.

    Parameters
    ----------
    colors : ndarray of shape (L, 3)
        The bar's line colours (0-255), from its vmin end.
    positions : ndarray of shape (L,)
        Their positions along the bar, 0 (vmin) to 1 (vmax).
    lines : int, optional
        Lines along the whole bar (default L): sets how far its ends may move.
    noise : float
        The spread of a line's pixels about its colour (RGB distance).

    Returns
    -------
    CmapMatch or None
        None unless the best table is within :func:`name_tolerance` (median) and
        :data:`P90_FACTOR` times it (90th percentile), and every table that is not the
        same table is :data:`NAME_MARGIN` times farther in mean.
    """
    colors = np.asarray(colors, dtype=np.float64)
    positions = np.asarray(positions, dtype=np.float64)
    if colors.shape[0] < 16:
        return None
    known = drawn_tables()
    n = int(lines or colors.shape[0])
    reach = max(REACH_LINES, 0.01 * n) / n
    fits = [
        match_table(known.tables[k], colors, positions, reach, k)
        for k in _shortlist(known.tables, colors, positions, reach)
    ]
    fits.sort(key=lambda f: f.mean)
    same = _same_table(known.tables, fits[0].index)
    family = [f for f in fits if same[f.index]]
    chosen = _drawn_as(family, known.drawn)
    tol = name_tolerance(noise)
    best = family[0]  # the name is proved by the family's best drawing
    if best.median > tol or best.p90 > P90_FACTOR * tol:
        return None
    other = next((f for f in fits if not same[f.index]), None)
    if other is not None and other.mean < NAME_MARGIN * max(best.mean, 0.5):
        return None
    return CmapMatch(
        known.names[chosen.index],
        chosen.median,
        chosen.p90,
        chosen.mean,
        tol,
        known.names[other.index] if other is not None else "",
        other.mean if other is not None else float("inf"),
        chosen.ends,
        known.drawn[chosen.index],
    )


def _drawn_as(family: list[TableFit], drawn: tuple[str, ...]) -> TableFit:
    """Which drawing of one table decodes the figure: matplotlib's lookup unless the
    bar's colours lie between its colours (another drawing :data:`INTERPOLATED_GAIN`
    times nearer), then GMT's interpolated copy if there is one.

    `family` is sorted by mean distance.
    """
    lookup = next((f for f in family if drawn[f.index] == "lookup"), None)
    smooth = next((f for f in family if drawn[f.index] != "lookup"), None)
    if lookup is not None and (smooth is None or smooth.mean > INTERPOLATED_GAIN * lookup.mean):
        return lookup
    gmt = next((f for f in family if drawn[f.index] == "interpolated"), None)
    return gmt or lookup or family[0]


def _shortlist(
    tables: np.ndarray, colors: np.ndarray, positions: np.ndarray, reach: float
) -> list[int]:
    """The :data:`SHORTLIST` tables nearest the bar when each line may move by `reach`
    on its own (a coarse comparison of every table on a few hundred lines)."""
    take = _spread(colors.shape[0], SCREEN_LINES)
    c, p = colors[take], positions[take]
    shifts = np.linspace(-reach, reach, 5)[:, None]
    d = _distance(tables, p[None] + shifts, np.broadcast_to(c, (shifts.size, *c.shape)))
    score = d.min(axis=1).mean(axis=1)  # (K,)
    return [int(k) for k in np.argsort(score)[:SHORTLIST]]


def _spread(n: int, most: int) -> np.ndarray:
    """Indices of at most `most` of `n` items, evenly spread, first and last included."""
    if n <= most:
        return np.arange(n)
    return np.unique(np.round(np.linspace(0, n - 1, most)).astype(int))
