"""Ground control points: pixel positions tied to map positions, and the files they live in.

A GCP ties a pixel position (``col``, ``row``: GDAL's convention, (0, 0) being the image's
top-left corner) to a map position (``x``, ``y``: longitude and latitude in degrees
unless the set's CRS says otherwise).
"""

from __future__ import annotations

import csv
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pyproj
from pyproj.enums import WktVersion

from .errors import CRSError, GCPError, InputTypeError

__all__ = [
    "GCP",
    "GCPSet",
    "as_gcpset",
    "check_map_crs",
    "load_gcps",
    "parse_crs",
    "read_column",
    "read_gcps",
    "read_gcps_csv",
    "read_qgis_points",
    "write_points",
]

# Accepted CSV header names, lower-cased, for each field. QGIS's sourceX/sourceY are not
# here: in a .points file sourceY is minus the row (see read_qgis_points).
_ALIASES = {
    "col": ("col", "x", "pixel_x", "pixelx", "px", "column", "pixel"),
    "row": ("row", "y", "pixel_y", "pixely", "py", "line"),
    "lon": ("lon", "longitude", "mapx", "map_x", "lng", "long", "easting"),
    "lat": ("lat", "latitude", "mapy", "map_y", "northing"),
}

#: The header QGIS 3's Georeferencer writes in a ``.points`` file.
QGIS_POINTS_HEADER = ("mapX", "mapY", "sourceX", "sourceY", "enable", "dX", "dY", "residual")


def parse_crs(crs) -> pyproj.CRS:
    """A pyproj CRS from anything pyproj understands (EPSG code, PROJ string, WKT).

    Raises
    ------
    CRSError
        If pyproj does not know `crs`; the message repeats the text given.
    """
    if isinstance(crs, pyproj.CRS):
        return crs
    try:
        return pyproj.CRS.from_user_input(crs)
    except (pyproj.exceptions.CRSError, TypeError, ValueError):
        text = " ".join(str(crs).split())
        text = text if len(text) <= 80 else text[:77] + "..."
        raise CRSError(
            f"unknown CRS {text!r}: give an EPSG code (EPSG:3857), a PROJ string "
            f"(+proj=merc +datum=WGS84) or WKT that pyproj understands"
        ) from None


def crs_text(crs) -> str:
    """A compact, portable text for `crs`: ``EPSG:n`` when exactly that, else WKT2."""
    parsed = parse_crs(crs)
    auth = parsed.to_authority(min_confidence=100)
    if auth is not None and auth[0] == "EPSG":
        return f"EPSG:{auth[1]}"
    return parsed.to_wkt()


def check_map_crs(crs, what: str = "CRS") -> pyproj.CRS:
    """Refuse a CRS whose x, y are not positions on a map (a geocentric CRS, say).

    Raises
    ------
    CRSError
        If `crs` is unknown, or neither geographic nor projected.
    """
    parsed = parse_crs(crs)
    if parsed.is_geographic or parsed.is_projected:
        return parsed
    kind = (
        "geocentric (X, Y, Z from the Earth's centre)"
        if parsed.is_geocentric
        else (f"a {parsed.type_name}")
    )
    raise CRSError(
        f"the {what} {parsed.name!r} is {kind}, not a 2-D map CRS: give longitude and "
        f"latitude (EPSG:4326) or the map's projection (EPSG:3857, a PROJ string)"
    )


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

    def deduplicated(self) -> tuple[GCPSet, int]:
        """The set without exact repeats of a point (same pixel and map position), and how
        many were dropped; points that conflict are kept (the fit refuses them)."""
        seen: set[tuple[float, float, float, float]] = set()
        kept = []
        for p in self.points:
            key = (p.col, p.row, p.x, p.y)
            if key not in seen:
                seen.add(key)
                kept.append(p)
        return GCPSet(tuple(kept), self.crs, self.source), len(self.points) - len(kept)

    def check_latitudes(self) -> None:
        """Refuse latitudes outside [-90, 90] when the map positions are geographic.

        Raises
        ------
        GCPError
            Naming the first such GCP and asking whether lon and lat are swapped.
        """
        if not len(self) or not parse_crs(self.crs).is_geographic:
            return
        lat = self.y
        bad = np.abs(lat) > 90
        if np.any(bad):
            i = int(np.argmax(bad))
            raise GCPError(
                f"GCP {self.ids[i]} has latitude {lat[i]:g}, outside [-90, 90]: are lon and "
                f"lat swapped? Put longitude in the lon column and latitude in the lat column"
            )

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


def _parse_float(text: str, where: str, decimal_comma: bool = False) -> float:
    clean = text.strip()
    if decimal_comma and re.fullmatch(r"[+-]?\d*,\d+", clean):
        clean = clean.replace(",", ".")
    try:
        value = float(clean)
    except ValueError:
        hint = ""
        if re.fullmatch(r"[+-]?\d*,\d+", clean):
            hint = ": write decimal points (1.5), or separate the fields with ';'"
        raise GCPError(f"{where}: {text!r} is not a number{hint}") from None
    if not np.isfinite(value):
        raise GCPError(f"{where}: {text!r} is not a finite number")
    return value


_NUM = r"(\d+(?:[.,]\d+)?)"
_DMS = re.compile(
    rf"""^\s*(?P<h1>[NSEW])?\s*(?P<sign>[+-])?\s*{_NUM}\s*(?:°|º|deg|d)?\s*
    (?:{_NUM}\s*(?:'|′|’|m)\s*)?(?:{_NUM}\s*(?:"|″|''|s)\s*)?(?P<h2>[NSEW])?\s*$""",
    re.IGNORECASE | re.VERBOSE,
)
_HEMISPHERES = {"lon": "EW", "lat": "NS"}


def _parse_coordinate(text: str, where: str, axis: str, decimal_comma: bool) -> float:
    """A longitude or latitude cell: a number, or degrees with minutes, seconds and a
    hemisphere letter (``30°W``, ``45°30'N``, ``12 30 00 E`` is not accepted)."""
    if not re.search(r"[°º'′’\"″NSEWnsew]", text):
        return _parse_float(text, where, decimal_comma)
    try:
        return _parse_float(text, where, decimal_comma)  # 1e-3, nan (refused there), ...
    except GCPError as exc:
        if "finite" in str(exc):
            raise
    match = _DMS.match(text)
    if match is None:
        raise GCPError(
            f"{where}: cannot read {text!r} as degrees: write decimal degrees (-30.5) or "
            f"degrees, minutes and seconds with a hemisphere (30°30'W)"
        )
    h1, h2 = match.group("h1"), match.group("h2")
    if h1 and h2:
        raise GCPError(f"{where}: {text!r} names two hemispheres: keep one (30°W)")
    hemisphere = (h1 or h2 or "").upper()
    if hemisphere and hemisphere not in _HEMISPHERES[axis]:
        raise GCPError(
            f"{where}: {text!r} is a {'latitude' if hemisphere in 'NS' else 'longitude'} in "
            f"the {axis} column: are lon and lat swapped?"
        )
    deg, mins, secs = (float(g.replace(",", ".")) if g else 0.0 for g in match.groups()[2:5])
    if mins >= 60 or secs >= 60:
        raise GCPError(f"{where}: {text!r} has minutes or seconds of 60 or more: check it")
    if (match.group("sign") == "-") and hemisphere:
        raise GCPError(f"{where}: {text!r} has both a sign and a hemisphere: keep one")
    value = deg + mins / 60 + secs / 3600
    negative = match.group("sign") == "-" or hemisphere in ("S", "W")
    return -value if negative else value


def _parse_enabled(text: str) -> bool:
    return text.strip().lower() not in ("0", "0.0", "false", "no", "off")


def read_gcps_csv(path: str | Path, crs: str = "EPSG:4326") -> GCPSet:
    """Read GCPs from a CSV file with a header.

    The header names the pixel columns (``col,row``; also ``x,y``, ``pixel_x,pixel_y``) and
    the map columns (``lon,lat``; also ``longitude,latitude``, ``mapX,mapY``); optional
    ``id`` and ``enable`` columns are honoured. Pixel positions follow GDAL's convention.

    Fields are separated by ``,``, or by ``;`` or tabs when the header is (numbers may
    then have decimal commas). Geographic map positions may be written as degrees,
    minutes and seconds with a hemisphere letter (``30°W``, ``45°30'N``, ``12°30'15"S``).

    Raises
    ------
    GCPError
        If the file is missing, a column is missing, a row has more or fewer fields than
        the header (decimal commas in a comma-separated file), or a cell is not a number.
    """
    path = Path(path)
    geographic = parse_crs(crs).is_geographic
    rows, delimiter = _read_rows(path)
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
    decimal_comma = delimiter != ","
    points = []
    for n, cells in enumerate(body, start=2):
        if not any(c.strip() for c in cells):
            continue
        _check_field_count(path, n, header, cells, delimiter)
        vals = {}
        for f, i in cols.items():
            where = f"{path} line {n}, column {header[i].strip()}"
            if f in _HEMISPHERES and geographic:
                vals[f] = _parse_coordinate(cells[i], where, f, decimal_comma)
            else:
                vals[f] = _parse_float(cells[i], where, decimal_comma)
        pid = cells[id_col].strip() if id_col is not None else str(len(points) + 1)
        enabled = _parse_enabled(cells[en_col]) if en_col is not None else True
        points.append(GCP(vals["col"], vals["row"], vals["lon"], vals["lat"], pid, enabled))
    return GCPSet(tuple(points), crs, str(path))


def read_column(path: str | Path, names: tuple[str, ...]) -> list[str] | None:
    """The cells of an extra column of a GCP CSV, one per point :func:`read_gcps_csv`
    reads, in the same order; None when the file has no column named in `names` (or is
    a QGIS ``.points`` file).

    Used for columns the GCP reader does not keep, such as the ``panel`` of a figure with
    several maps (:mod:`geodigitize.panels`).
    """
    path = Path(path)
    lines = _read_text(path).splitlines()
    if path.suffix.lower() == ".points" or _is_points_file(lines):
        return None
    rows, _ = _read_rows(path)
    index = _find_named(rows[0], names)
    if index is None:
        return None
    body = [cells for cells in rows[1:] if any(c.strip() for c in cells)]
    return [cells[index].strip() if index < len(cells) else "" for cells in body]


def as_gcpset(obj, crs: str | None = None) -> GCPSet:
    """GCPs from whatever the Python API was given.

    Parameters
    ----------
    obj : GCPSet, str, Path, pandas.DataFrame or array_like of shape (N, 4)
        A set; a GCP file (see :func:`read_gcps`); a DataFrame whose columns are named as
        a CSV header may name them (``col,row,lon,lat`` and aliases, optional ``id`` and
        ``enable``); or rows of ``col, row, lon, lat``.
    crs : str, optional
        CRS of the map positions; None: the set's or file's own, else EPSG:4326.

    Returns
    -------
    GCPSet

    Raises
    ------
    InputTypeError
        `obj` is none of the above (also a TypeError).
    GCPError
        Missing columns, a wrong shape, or values that are not numbers.
    """
    if isinstance(obj, GCPSet):
        return obj if crs is None else GCPSet(obj.points, crs, obj.source)
    if isinstance(obj, (str, os.PathLike)):
        return read_gcps(obj, crs=crs)
    crs = crs or "EPSG:4326"
    if hasattr(obj, "columns") and hasattr(obj, "to_numpy"):
        return _from_dataframe(obj, crs)
    if isinstance(obj, (np.ndarray, list, tuple)):
        return _from_array(obj, crs)
    raise InputTypeError(
        f"GCPs must be a GCPSet, a file path, a pandas DataFrame with col,row,lon,lat "
        f"columns or an array of shape (N, 4) of col, row, lon, lat; got {type(obj).__name__}"
    )


def _from_array(obj, crs: str) -> GCPSet:
    try:
        arr = np.asarray(obj, dtype=np.float64)
    except (TypeError, ValueError):
        raise GCPError(
            "GCPs given as an array must be numbers, one row of col, row, lon, lat per point"
        ) from None
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise GCPError(
            f"GCPs given as an array must have shape (N, 4), columns col, row, lon, lat; "
            f"got shape {arr.shape}"
        )
    if not np.all(np.isfinite(arr)):
        raise GCPError("GCPs contain NaN or infinite coordinates: fix or remove those rows")
    parse_crs(crs)
    return GCPSet.from_arrays(*arr.T, crs=crs)


def _from_dataframe(frame, crs: str) -> GCPSet:
    header = [str(c) for c in frame.columns]
    cols = {f: _find_column(header, f) for f in _ALIASES}
    if any(i is None for i in cols.values()) or len(set(cols.values())) < 4:
        raise GCPError(
            f"the GCP DataFrame must have pixel and map columns, e.g. col,row,lon,lat "
            f"(found {','.join(header)})"
        )
    geographic = parse_crs(crs).is_geographic
    id_col = _find_named(header, ("id", "name", "label"))
    en_col = _find_named(header, ("enable", "enabled", "use"))
    cells = frame.to_numpy(dtype=object)
    points = []
    for n, values in enumerate(cells):
        vals = {}
        for f, i in cols.items():
            where = f"GCP DataFrame row {n}, column {header[i]}"
            text = str(values[i])
            if f in _HEMISPHERES and geographic:
                vals[f] = _parse_coordinate(text, where, f, False)
            else:
                vals[f] = _parse_float(text, where)
        pid = str(values[id_col]) if id_col is not None else str(n + 1)
        enabled = _parse_enabled(str(values[en_col])) if en_col is not None else True
        points.append(GCP(vals["col"], vals["row"], vals["lon"], vals["lat"], pid, enabled))
    return GCPSet(tuple(points), crs, "DataFrame")


def _find_named(header: list[str], names: tuple[str, ...]) -> int | None:
    lowered = [h.strip().lower() for h in header]
    return next((lowered.index(n) for n in names if n in lowered), None)


def _read_rows(path: Path) -> tuple[list[list[str]], str]:
    """The rows of a CSV file and its delimiter: ``;`` or a tab when the header is
    separated by them (then decimal commas are read as decimal points), else ``,``."""
    text = _read_text(path)
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    header = lines[0] if lines else ""
    delimiter = ";" if ";" in header else "\t" if "\t" in header and "," not in header else ","
    rows = list(csv.reader(lines, delimiter=delimiter))
    if len(rows) < 2:
        raise GCPError(f"GCP file {str(path)!r} has no points: expected a header and rows")
    return rows, delimiter


def _check_field_count(
    path: Path, n: int, header: list[str], cells: list[str], delimiter: str
) -> None:
    """Refuse rows with fewer fields than the header, or with more that are not empty
    (decimal commas in a comma-separated file shift every column)."""
    extra = [c for c in cells[len(header) :] if c.strip()]
    if len(cells) >= len(header) and not extra:
        return
    hint = ""
    if delimiter == "," and len(cells) > len(header):
        hint = ": decimal commas? write decimal points (1.5), or separate the fields with ';'"
    raise GCPError(
        f"{path} line {n}: expected {len(header)} fields "
        f"({','.join(h.strip() for h in header)}), got {len(cells)}{hint}"
    )


def _is_points_file(rows: list[str]) -> bool:
    first = rows[0].strip().lower() if rows else ""
    if first.startswith("#crs"):
        return True
    header = next((r for r in rows if r.strip() and not r.startswith("#")), "")
    fields = [f.strip().lower() for f in header.replace("\t", ",").split(",")]
    return (
        len(fields) >= 4 and fields[:2] == ["mapx", "mapy"] and fields[2] in ("sourcex", "pixelx")
    )


def read_gcps(path: str | Path, crs: str | None = None) -> GCPSet:
    """Read a GCP file, choosing the reader from its content.

    Parameters
    ----------
    path : str or Path
        A CSV file with a header (see :func:`read_gcps_csv`) or a QGIS Georeferencer
        ``.points`` file (see :func:`read_qgis_points`), recognised by its ``#CRS:`` line
        or its ``mapX,mapY,sourceX,sourceY`` header.
    crs : str, optional
        CRS of the map positions. None: the ``.points`` file's ``#CRS:`` line when it has
        one, else EPSG:4326 (lon, lat in degrees).

    Returns
    -------
    GCPSet

    Raises
    ------
    GCPError
        Missing file, missing or unexpected columns, cells that are not numbers.
    CRSError
        A CRS pyproj does not know.
    """
    path = Path(path)
    lines = _read_text(path).splitlines()
    if path.suffix.lower() == ".points" or _is_points_file(lines):
        return read_qgis_points(path, crs)
    return read_gcps_csv(path, crs or "EPSG:4326")


def _read_text(path: Path) -> str:
    if not path.exists():
        raise GCPError(f"GCP file {str(path)!r} does not exist: check the path")
    try:
        return path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise GCPError(f"cannot read GCP file {str(path)!r}: {exc}") from None


def read_qgis_points(path: str | Path, crs: str | None = None) -> GCPSet:
    """Read a QGIS Georeferencer ``.points`` file.

    The file is what QGIS 3 writes: an optional ``#CRS: <WKT>`` first line, then the
    header ``mapX,mapY,sourceX,sourceY,enable,dX,dY,residual``; older files name the pixel
    columns ``pixelX,pixelY``, may stop after ``enable``, use tabs, or have no header.
    ``sourceY`` is minus the pixel row (QGIS's image y axis points up) and is converted
    here; ``dX``, ``dY`` and ``residual`` are ignored (they are recomputed).

    Parameters
    ----------
    path : str or Path
    crs : str, optional
        CRS of mapX, mapY; overrides the ``#CRS:`` line. None: that line, else EPSG:4326.

    Raises
    ------
    GCPError
        Unexpected columns (a ``.points`` file from another QGIS version), short rows,
        cells that are not numbers.
    """
    path = Path(path)
    lines = [ln for ln in _read_text(path).splitlines() if ln.strip()]
    file_crs = None
    if lines and lines[0].lstrip().lower().startswith("#crs:"):
        file_crs = lines[0].split(":", 1)[1].strip() or None
    lines = [ln for ln in lines if not ln.lstrip().startswith("#")]
    if not lines:
        raise GCPError(f"QGIS points file {str(path)!r} has no points")
    delimiter = "," if "," in lines[0] else "\t"
    rows = list(csv.reader(lines, delimiter=delimiter))
    header = [h.strip() for h in rows[0]]
    if _all_numbers(header):
        header = list(QGIS_POINTS_HEADER[: len(header)])
    else:
        rows = rows[1:]
    _check_points_header(path, header)
    has_enable = len(header) > 4
    points = []
    for n, cells in enumerate(rows, start=1):
        if len(cells) != len(header):
            raise GCPError(
                f"{path} point {n}: expected {len(header)} fields "
                f"({','.join(header)}), got {len(cells)}"
            )
        mx, my, sx, sy = (
            _parse_float(cells[i], f"{path} point {n}, column {header[i]}") for i in range(4)
        )
        enabled = _parse_enabled(cells[4]) if has_enable else True
        points.append(GCP(sx, -sy, mx, my, str(n), enabled))
    if crs is None:
        crs = file_crs or "EPSG:4326"
    parse_crs(crs)
    return GCPSet(tuple(points), crs, str(path))


def _all_numbers(cells: list[str]) -> bool:
    try:
        [float(c) for c in cells]
    except ValueError:
        return False
    return True


def _check_points_header(path: Path, header: list[str]) -> None:
    lowered = [h.lower() for h in header]
    expected = [h.lower() for h in QGIS_POINTS_HEADER]
    pixel_ok = lowered[2:4] in (["sourcex", "sourcey"], ["pixelx", "pixely"])
    tail_ok = lowered[4:] == expected[4 : len(lowered)]
    if len(lowered) < 4 or lowered[:2] != ["mapx", "mapy"] or not pixel_ok or not tail_ok:
        raise GCPError(
            f"{path}: unexpected columns {','.join(header)} in a QGIS .points file "
            f"(expected {','.join(QGIS_POINTS_HEADER)}, or pixelX,pixelY in older files): "
            f"save the GCPs again from QGIS 3's Georeferencer or convert them to a CSV "
            f"with col,row,lon,lat"
        )


def _qgs_number(value: float) -> str:
    """A number as QGIS writes it (fixed notation, no trailing zeros), exact."""
    return np.format_float_positional(float(value), unique=True, trim="-")


def write_points(gcpset: GCPSet, path: str | Path, georef=None) -> Path:
    """Write GCPs as a QGIS Georeferencer ``.points`` file (QGIS 3 layout).

    Parameters
    ----------
    gcpset : GCPSet
        All points, enabled or not; map positions in ``gcpset.crs``.
    path : str or Path
        Output file, written atomically (temporary file, then rename).
    georef : Georeference, optional
        A fit whose residuals fill the ``dX``, ``dY`` and ``residual`` columns (pixels,
        predicted minus observed, as QGIS); zeros without it.

    Returns
    -------
    Path

    Notes
    -----
    ``sourceY`` is written as minus the row, as QGIS expects; the ``#CRS:`` line holds
    the map CRS as single-line WKT1 (GDAL flavour), as QGIS writes it.
    """
    path = Path(path)
    parsed = parse_crs(gcpset.crs)
    wkt = parsed.to_wkt(WktVersion.WKT1_GDAL) or parsed.to_wkt()
    if georef is not None:
        res = -np.asarray(georef.pixel_residuals(gcpset), dtype=np.float64)
    else:
        res = np.zeros((len(gcpset), 2))
    lines = [f"#CRS: {wkt}", ",".join(QGIS_POINTS_HEADER)]
    for p, (dx, dy) in zip(gcpset, res, strict=True):
        cells = [p.x, p.y, p.col, -p.row]
        lines.append(
            ",".join(
                [
                    *(_qgs_number(c) for c in cells),
                    str(int(p.enabled)),
                    *(_qgs_number(c) for c in (dx, dy, np.hypot(dx, dy))),
                ]
            )
        )
    _write_atomic(path, "\n".join(lines) + "\n")
    return path


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(
        dir=path.parent if str(path.parent) else ".", prefix=f".{path.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_gcps(gcps, crs: str | None = None) -> GCPSet | None:
    """:func:`as_gcpset`, with None (no GCPs given) passed through."""
    return None if gcps is None else as_gcpset(gcps, crs)
