"""Ground control points: pixel positions tied to map positions, and the files they live in.

A GCP ties a pixel position (``col``, ``row``: GDAL's convention, (0, 0) being the image's
top-left corner) to a map position (``x``, ``y``: longitude and latitude in degrees
unless the set's CRS says otherwise).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .errors import GCPError

__all__ = ["GCP", "GCPSet", "read_gcps", "read_gcps_csv"]

# Accepted header names, lower-cased, for each field.
_ALIASES = {
    "col": ("col", "x", "pixel_x", "pixelx", "sourcex", "px", "column"),
    "row": ("row", "y", "pixel_y", "pixely", "sourcey", "py", "line"),
    "lon": ("lon", "longitude", "mapx", "map_x", "lng", "long", "easting"),
    "lat": ("lat", "latitude", "mapy", "map_y", "northing"),
}


@dataclass(frozen=True)
class GCP:
    """One ground control point.

    Attributes
    ----------
    col, row : float
        Pixel position, GDAL convention (the first pixel's centre is (0.5, 0.5)).
    x, y : float
        Map position (longitude, latitude in degrees for EPSG:4326).
    id : str
        A name for reports ("" gives the 1-based row number).
    enabled : bool
        Disabled points are read but not used in the fit.
    """

    col: float
    row: float
    x: float
    y: float
    id: str = ""
    enabled: bool = True

    def asdict(self) -> dict:
        """The point as a plain dict."""
        return asdict(self)

    @property
    def __geo_interface__(self) -> dict:
        return {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": (self.x, self.y)},
            "properties": {"id": self.id, "col": self.col, "row": self.row},
        }


@dataclass(frozen=True, eq=False)
class GCPSet:
    """Ground control points with the CRS of their map positions.

    Attributes
    ----------
    points : tuple of GCP
    crs : str
        CRS of ``x``, ``y`` (default ``"EPSG:4326"``).
    source : str
        Where they were read from.
    """

    points: tuple[GCP, ...]
    crs: str = "EPSG:4326"
    source: str = ""

    def __len__(self) -> int:
        return len(self.points)

    def __iter__(self) -> Iterator[GCP]:
        return iter(self.points)

    @classmethod
    def from_arrays(
        cls, col: Iterable, row: Iterable, x: Iterable, y: Iterable, crs: str = "EPSG:4326"
    ) -> GCPSet:
        """Build a set from four equal-length sequences."""
        pts = tuple(
            GCP(float(c), float(r), float(a), float(b), str(i + 1))
            for i, (c, r, a, b) in enumerate(zip(col, row, x, y, strict=True))
        )
        return cls(pts, crs)

    def enabled(self) -> GCPSet:
        """Only the enabled points."""
        return GCPSet(tuple(p for p in self.points if p.enabled), self.crs, self.source)

    def _column(self, name: str) -> np.ndarray:
        return np.array([getattr(p, name) for p in self.points], dtype=np.float64)

    @property
    def col(self) -> np.ndarray:
        """Pixel columns, shape (n,)."""
        return self._column("col")

    @property
    def row(self) -> np.ndarray:
        """Pixel rows, shape (n,)."""
        return self._column("row")

    @property
    def x(self) -> np.ndarray:
        """Map x (longitude), shape (n,)."""
        return self._column("x")

    @property
    def y(self) -> np.ndarray:
        """Map y (latitude), shape (n,)."""
        return self._column("y")

    @property
    def ids(self) -> list[str]:
        """Point names, 1-based row numbers where none were given."""
        return [p.id or str(i + 1) for i, p in enumerate(self.points)]

    def check_inside(self, shape: tuple[int, int]) -> None:
        """Refuse points whose pixel position lies outside an image of `shape` (H, W).

        Raises
        ------
        GCPError
        """
        height, width = shape
        for pid, p in zip(self.ids, self.points, strict=True):
            if not (0 <= p.col <= width and 0 <= p.row <= height):
                raise GCPError(
                    f"GCP {pid} at pixel ({p.col:g}, {p.row:g}) lies outside the "
                    f"{width}x{height} image: pixel positions are col (0..{width}) and "
                    f"row (0..{height}) from the top-left corner"
                )


def _find_column(header: list[str], field: str) -> int | None:
    lowered = [h.strip().lower() for h in header]
    for alias in _ALIASES[field]:
        if alias in lowered:
            return lowered.index(alias)
    return None


def _parse_float(text: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise GCPError(f"{where}: {text!r} is not a number") from None
    if not np.isfinite(value):
        raise GCPError(f"{where}: {text!r} is not a finite number")
    return value


def _parse_enabled(text: str) -> bool:
    return text.strip().lower() not in ("0", "false", "no", "off", "")


def read_gcps_csv(path: str | Path, crs: str = "EPSG:4326") -> GCPSet:
    """Read GCPs from a CSV file with a header.

    The header names the pixel columns (``col,row``; also ``x,y``, ``pixel_x,pixel_y``) and
    the map columns (``lon,lat``; also ``longitude,latitude``, ``mapX,mapY``); optional
    ``id`` and ``enable`` columns are honoured. Pixel positions follow GDAL's convention.

    Raises
    ------
    GCPError
        If the file is missing, a column is missing, or a cell is not a number.
    """
    path = Path(path)
    rows = _read_rows(path)
    header, body = rows[0], rows[1:]
    cols = {f: _find_column(header, f) for f in _ALIASES}
    # "x,y" alone are pixel columns only when map columns are named otherwise
    missing = [f for f, i in cols.items() if i is None]
    if missing or len(set(cols.values())) < 4:
        raise GCPError(
            f"{path}: the header must name pixel and map columns, e.g. 'col,row,lon,lat' "
            f"(found {','.join(h.strip() for h in header)})"
        )
    id_col = _find_named(header, ("id", "name", "label"))
    en_col = _find_named(header, ("enable", "enabled", "use"))
    points = []
    for n, cells in enumerate(body, start=2):
        if not any(c.strip() for c in cells):
            continue
        if len(cells) < len(header):
            raise GCPError(f"{path} line {n}: expected {len(header)} fields, got {len(cells)}")
        vals = {f: _parse_float(cells[i], f"{path} line {n}, column {header[i].strip()}")
                for f, i in cols.items()}
        pid = cells[id_col].strip() if id_col is not None else str(len(points) + 1)
        enabled = _parse_enabled(cells[en_col]) if en_col is not None else True
        points.append(GCP(vals["col"], vals["row"], vals["lon"], vals["lat"], pid, enabled))
    return GCPSet(tuple(points), crs, str(path))


def _find_named(header: list[str], names: tuple[str, ...]) -> int | None:
    lowered = [h.strip().lower() for h in header]
    return next((lowered.index(n) for n in names if n in lowered), None)


def _read_rows(path: Path) -> list[list[str]]:
    if not path.exists():
        raise GCPError(f"GCP file {str(path)!r} does not exist: check the path")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise GCPError(f"cannot read GCP file {str(path)!r}: {exc}") from None
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    rows = list(csv.reader(lines))
    if len(rows) < 2:
        raise GCPError(f"GCP file {str(path)!r} has no points: expected a header and rows")
    return rows


def read_gcps(path: str | Path, crs: str = "EPSG:4326") -> GCPSet:
    """Read a GCP file, choosing the reader from its content.

    Parameters
    ----------
    path : str or Path
        A CSV file with a header (see :func:`read_gcps_csv`).
    crs : str
        CRS of the map positions in the file.

    Returns
    -------
    GCPSet
    """
    return read_gcps_csv(path, crs)
