"""Colour-table files as text: CSV ``value,r,g,b``, QGIS colour map exports and
colour-ramp XML, GMT ``.cpt``, parsed into segments.

A segment ``(z0, rgb0, z1, rgb1)`` is a stretch of values from `z0` to `z1` whose colour
goes linearly from `rgb0` to `rgb1` (0-255). Turning segments into a colour scale is
:mod:`geodigitize.cmapfile`'s; the catalogue of named colormaps reads its vendored GMT
tables with :func:`parse_table` too.
"""

from __future__ import annotations

import itertools
import re

import numpy as np

from .errors import ColorScaleError

__all__ = ["Segment", "parse_table"]

#: ``(z0, rgb0, z1, rgb1)``: values z0..z1 drawn from colour rgb0 to rgb1.
Segment = tuple[float, tuple[float, ...], float, tuple[float, ...]]


def parse_table(text: str, name: str = "colour table") -> tuple[str, list[Segment]]:
    """Recognise the format of `text` and return ``(format, segments)``."""
    stripped = text.lstrip()
    if stripped.startswith("<") or "<colorrampshader" in text:
        return "qgis-xml", _qgis_xml(text, name)
    if re.search(r"^\s*INTERPOLATION\s*:", text, flags=re.M | re.I):
        return "qgis", _qgis_text(text, name)
    if _looks_like_cpt(text):
        return "cpt", _cpt(text, name)
    return "csv", _csv(text, name)


# --------------------------------------------------------------------------- formats


def _fail(name: str, lineno: int | None, what: str) -> ColorScaleError:
    where = f"{name} line {lineno}" if lineno else name
    return ColorScaleError(f"{where}: {what}")


def _points_to_segments(points: list[tuple[float, tuple[float, ...]]]) -> list[Segment]:
    return [(z0, c0, z1, c1) for (z0, c0), (z1, c1) in itertools.pairwise(points)]


def _rgb_scale(rgbs: list[tuple[float, ...]]) -> float:
    """255 when the colours are 0-255, 1 when every component is within 0-1."""
    return 1.0 if all(max(c) <= 1.0 for c in rgbs) else 255.0


def _csv(text: str, name: str) -> list[Segment]:
    points = []
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = [p.strip() for p in re.split(r"[,;\t]", line)]
        try:
            nums = [float(p) for p in parts[:4]]
        except ValueError:
            if not points and not any(_is_number(p) for p in parts):
                continue  # a header line
            raise _fail(name, lineno, f"expected value,r,g,b numbers, got {line!r}") from None
        if len(nums) < 4:
            raise _fail(name, lineno, f"expected value,r,g,b, got {line!r}")
        points.append((nums[0], tuple(nums[1:4])))
    if not points:
        raise _fail(name, None, "no value,r,g,b rows: not a colour table (CSV, QGIS, GMT .cpt)")
    unit = _rgb_scale([c for _, c in points])
    points = [(z, tuple(v * 255.0 / unit for v in c)) for z, c in points]
    return _ramp(points, name)


def _qgis_text(text: str, name: str) -> list[Segment]:
    mode = None
    points = []
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = re.match(r"INTERPOLATION\s*:\s*(\w+)", line, flags=re.I)
        if m:
            mode = m.group(1).upper()
            continue
        parts = [p.strip() for p in line.split(",")]
        try:
            z = float(parts[0])
            rgb = tuple(float(p) for p in parts[1:4])
        except (ValueError, IndexError):
            raise _fail(name, lineno, f"expected value,r,g,b,alpha,label, got {line!r}") from None
        if len(rgb) < 3:
            raise _fail(name, lineno, f"expected value,r,g,b,alpha,label, got {line!r}")
        points.append((z, rgb))
    return _qgis_segments(points, mode or "INTERPOLATED", name)


def _qgis_xml(text: str, name: str) -> list[Segment]:
    import xml.etree.ElementTree as ET

    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise _fail(name, None, f"not well-formed XML ({exc})") from None
    shader = root if root.tag == "colorrampshader" else root.find(".//colorrampshader")
    if shader is None:
        raise _fail(name, None, "no <colorrampshader> element: not a QGIS colour ramp style")
    points = []
    for item in shader.iter("item"):
        try:
            z = float(item.get("value", ""))
            rgb = _hex(item.get("color", ""))
        except ValueError:
            raise _fail(
                name, None, f"bad <item value=... color=#rrggbb>: {ET.tostring(item)!r}"
            ) from None
        points.append((z, rgb))
    mode = shader.get("colorRampType", "INTERPOLATED").upper()
    return _qgis_segments(points, mode, name)


def _qgis_segments(points, mode: str, name: str) -> list[Segment]:
    """QGIS semantics: INTERPOLATED ramps between items; DISCRETE gives each item's colour
    to the values above the previous item up to its own; EXACT colours only its value (a
    class reaching halfway to its neighbours here)."""
    points = sorted(points, key=lambda p: p[0])
    if len(points) < 2:
        raise _fail(name, None, "needs at least 2 colour entries")
    if mode == "INTERPOLATED":
        return _ramp(points, name)
    z = np.array([p[0] for p in points])
    if mode == "DISCRETE":
        finite = z[np.isfinite(z)]
        if finite.size < 2:
            raise _fail(name, None, "a DISCRETE table needs at least 2 finite values")
        step = finite[1] - finite[0]
        upper = np.where(np.isfinite(z), z, finite[-1] + (finite[-1] - finite[-2]))
        lower = np.concatenate([[upper[0] - step], upper[:-1]])
    elif mode == "EXACT":
        mid = (z[1:] + z[:-1]) / 2
        lower = np.concatenate([[z[0] - (mid[0] - z[0])], mid])
        upper = np.concatenate([mid, [z[-1] + (z[-1] - mid[-1])]])
    else:
        raise _fail(
            name, None, f"unknown INTERPOLATION {mode}: use INTERPOLATED, DISCRETE or EXACT"
        )
    return [(float(a), c, float(b), c) for a, b, (_, c) in zip(lower, upper, points, strict=True)]


def _looks_like_cpt(text: str) -> bool:
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("#") and "COLOR_MODEL" in line.upper():
            return True
        if not line or line.startswith("#"):
            continue
        if re.match(r"^[BFN]\s", line):
            return True
        return "," not in line and len(line.split()) >= 4
    return False


def _cpt(text: str, name: str) -> list[Segment]:
    segments = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.split(";")[0].strip()
        if line.startswith("#"):
            m = re.search(r"COLOR_MODEL\s*=\s*\+?(\w+)", line, flags=re.I)
            if m and m.group(1).upper() != "RGB":
                raise _fail(
                    name,
                    lineno,
                    f"COLOR_MODEL {m.group(1)} is not supported: "
                    "convert the table to RGB (gmt makecpt -Fr)",
                )
            continue
        if not line or re.match(r"^[BFN]\s", line):
            continue
        tokens = line.split()
        if tokens[-1] in ("L", "U", "B"):
            tokens = tokens[:-1]
        try:
            z0, c0, rest = _cpt_entry(tokens)
            z1, c1, rest = _cpt_entry(rest)
        except (ValueError, IndexError):
            raise _fail(
                name, lineno, f"expected 'z0 r g b z1 r g b' (or r/g/b), got {raw.strip()!r}"
            ) from None
        if rest:
            raise _fail(name, lineno, f"unexpected {' '.join(rest)!r} after the two colours")
        if z1 <= z0:
            raise _fail(name, lineno, f"z1 {z1:g} must be greater than z0 {z0:g}")
        segments.append((z0, c0, z1, c1))
    if not segments:
        raise _fail(name, None, "no 'z0 r g b z1 r g b' lines: not a GMT colour table")
    segments.sort(key=lambda s: s[0])
    return segments


def _cpt_entry(tokens: list[str]) -> tuple[float, tuple[float, ...], list[str]]:
    """One ``z colour`` entry of a .cpt line, where colour is ``r g b``, ``r/g/b``,
    ``#rrggbb`` or a name; returns the rest of the tokens."""
    z = float(tokens[0])
    tok = tokens[1]
    if "/" in tok:
        rgb = tuple(float(v) for v in tok.split("/"))
        if len(rgb) != 3:
            raise ValueError(tok)
        return z, rgb, tokens[2:]
    if _is_number(tok):
        if len(tokens) < 4:
            raise ValueError("incomplete colour")
        return z, tuple(float(v) for v in tokens[1:4]), tokens[4:]
    if tok.startswith("#"):
        return z, _hex(tok), tokens[2:]
    from matplotlib import colors as mcolors

    return z, tuple(255.0 * v for v in mcolors.to_rgb(tok)), tokens[2:]


def _hex(text: str) -> tuple[float, ...]:
    m = re.fullmatch(r"#?([0-9a-fA-F]{6})([0-9a-fA-F]{2})?", text.strip())
    if not m:
        raise ValueError(text)
    h = m.group(1)
    return tuple(float(int(h[i : i + 2], 16)) for i in (0, 2, 4))


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _ramp(points, name: str) -> list[Segment]:
    points = sorted(points, key=lambda p: p[0])
    z = [p[0] for p in points]
    if len(points) < 2:
        raise _fail(name, None, "needs at least 2 colour entries")
    if len(set(z)) != len(z):
        raise _fail(name, None, "two entries share a value: values must be distinct")
    return _points_to_segments(points)
