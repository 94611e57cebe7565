"""Tick labels as numbers: longitudes, latitudes and colorbar values, as plotting
programs write them and as OCR reads them.

Pure text functions; where the labels are and how they are read is
:mod:`geodigitize.labels` and :mod:`geodigitize.ocr`.

Longitude and latitude labels accepted (one axis at a time): ``30°E``, ``30E``, ``30°W``
(negative), ``-30``, ``−30`` (unicode minus), ``0°``, ``180°``, ``60°N``, ``60S``,
``30.5``, ``45°30'N``, ``45°30′15″S``. A hemisphere letter must belong to the axis (``N`` on
a longitude axis is refused) and never comes with a sign. Values accepted on a colorbar:
``0``, ``0.35``, ``-2``, ``−2``, ``1e3``, ``1e-3``, ``1.5×10³``, ``10⁻³``, ``10^4``.

OCR confusions are undone only where the reading is unambiguous: ``O``/``o`` for ``0``
and ``l``/``I``/``|`` for ``1`` between digits, ``*``/``º``/``˚`` for the degree sign, and a
final ``5`` read for ``S`` right after a degree sign on a latitude axis.
"""

from __future__ import annotations

import re

__all__ = ["parse_coordinate", "parse_value"]

_MINUS = str.maketrans({"−": "-", "–": "-", "—": "-", "‐": "-", "‒": "-", "﹣": "-", "－": "-"})
_DEGREE = str.maketrans({"º": "°", "˚": "°", "*": "°", "⁰": "°"})
_PRIME = str.maketrans({"′": "'", "’": "'", "‘": "'", "″": '"', "”": '"', "“": '"'})
_SUPERSCRIPT = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁺", "0123456789-+")

_COORD = re.compile(
    r"""^(?P<sign>[-+]?)
        (?P<deg>\d+(?:\.\d+)?)°?
        (?:(?P<min>\d+(?:\.\d+)?)'(?:(?P<sec>\d+(?:\.\d+)?)")?)?
        (?P<hemi>[NSEW]?)$""",
    re.VERBOSE,
)
_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_VALUE = re.compile(rf"^(?P<mant>{_NUMBER})$")
_POWER = re.compile(rf"^(?:(?P<mant>{_NUMBER})[x×·*])?10\^?(?P<exp>[-+]?\d+)$")

#: Hemisphere letters of each axis, with their sign.
HEMISPHERES = {"lon": {"E": 1.0, "W": -1.0}, "lat": {"N": 1.0, "S": -1.0}}
#: Largest magnitude a label of each axis may have.
LIMITS = {"lon": 360.0, "lat": 90.0}


def _clean(text: str) -> str:
    """Spaces out, minus signs, primes and degree signs in one spelling each."""
    text = text.translate(_MINUS).translate(_PRIME)
    return "".join(text.split())


def _digit_confusions(text: str) -> str:
    """``O``/``o`` -> ``0`` and ``l``/``I``/``|`` -> ``1`` where a digit, a sign, a point or
    the text's start or end is next to them (never a hemisphere letter)."""
    chars = list(text)
    for i, ch in enumerate(chars):
        if ch in "Oo" or ch in "lI|":
            before = chars[i - 1] if i else ""
            after = chars[i + 1] if i + 1 < len(chars) else ""
            near = lambda c: c == "" or c.isdigit() or c in "-+.°'"  # noqa: E731
            if near(before) and near(after):
                chars[i] = "0" if ch in "Oo" else "1"
    return "".join(chars)


def parse_coordinate(text: str, axis: str) -> float | None:
    """The longitude or latitude a tick label says, or None if it says none.

    Parameters
    ----------
    text : str
        The label as read (``"30°W"``, ``"−30"``, ``"45°30'N"`` ...).
    axis : {"lon", "lat"}

    Returns
    -------
    float or None
        Degrees, west and south negative; None when the text is not one coordinate of
        `axis` (another axis's letter, a sign with a letter, out of range).

    Examples
    --------
    >>> parse_coordinate("30°W", "lon"), parse_coordinate("45°30'N", "lat")
    (-30.0, 45.5)
    >>> parse_coordinate("60N", "lon") is None
    True
    """
    if axis not in HEMISPHERES:
        raise ValueError(f"axis must be 'lon' or 'lat', got {axis!r}")
    t = _digit_confusions(_clean(text).translate(_DEGREE)).upper()
    if axis == "lat" and t.endswith("°5"):
        t = t[:-1] + "S"
    m = _COORD.match(t)
    if m is None:
        return None
    hemi = m["hemi"]
    if hemi and (hemi not in HEMISPHERES[axis] or m["sign"]):
        return None
    value = float(m["deg"])
    for part, div in (("min", 60.0), ("sec", 3600.0)):
        if m[part] is not None:
            extra = float(m[part])
            if extra >= 60:
                return None
            value += extra / div
    if m["sign"] == "-":
        value = -value
    if hemi:
        value *= HEMISPHERES[axis][hemi]
    return value if abs(value) <= LIMITS[axis] else None


def parse_value(text: str) -> float | None:
    """The number a colorbar tick label says, or None.

    Parameters
    ----------
    text : str
        ``"0.35"``, ``"−2"``, ``"1e-3"``, ``"1.5×10³"``, ``"10⁻³"``, ``"10^4"`` ...

    Returns
    -------
    float or None

    Examples
    --------
    >>> parse_value("−0.5"), parse_value("10⁻³"), parse_value("2×10^3")
    (-0.5, 0.001, 2000.0)
    """
    t = _clean(text)
    t = re.sub("[⁻⁺]?[⁰¹²³⁴⁵⁶⁷⁸⁹]+", lambda m: "^" + m[0].translate(_SUPERSCRIPT), t)
    t = _digit_confusions(t)
    m = _VALUE.match(t)
    if m is not None:
        return float(m["mant"])
    m = _POWER.match(t)
    if m is not None:
        mant = 1.0 if m["mant"] is None else float(m["mant"])
        exp = int(m["exp"])
        if abs(exp) > 300:
            return None
        return mant * 10.0**exp
    return None
