"""QGIS layer styles (``.qml``) that draw the outputs with the figure's own colour scale.

QGIS loads ``grid.qml`` beside ``grid.tif`` (and ``points.qml`` for a layer of
``points.gpkg`` when asked to, *Layer Properties > Style > Load Style*), so the layers
open looking like the figure they came from:

- ``grid.qml``: a singleband pseudocolor renderer whose colour ramp items are the
  scale's colours at their values, between ``vmin`` and ``vmax`` (interpolated for a
  continuous scale, discrete classes for a class map).
- ``points.qml``: a graduated symbol renderer on the ``value`` column with the same
  colours (one range per class, or equal intervals along a continuous scale).

The XML follows what QGIS 3.22 LTS writes itself.
"""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from .colormap import ColorScale

__all__ = ["grid_style", "points_style", "ramp_items", "write_style"]

#: Version string written into the files (QGIS accepts styles from any 3.x).
QGIS_VERSION = "3.22.16-Białowieża"
#: Most colour ramp items written for a continuous scale.
MAX_ITEMS = 256
#: Graduated ranges for the points of a continuous scale.
POINT_CLASSES = 32


def _hex(rgb) -> str:
    r, g, b = (round(float(c)) for c in rgb)
    return f"#{r:02x}{g:02x}{b:02x}"


def _qcolor(rgb) -> str:
    r, g, b = (round(float(c)) for c in rgb)
    return f"{r},{g},{b},255"


def _fmt(value: float) -> str:
    return f"{float(value):.10g}"


def ramp_items(scale: ColorScale, max_items: int = MAX_ITEMS) -> list[tuple[float, np.ndarray]]:
    """``(value, rgb)`` stops of the scale, increasing, at most `max_items`.

    For a class map, one stop per class at the class's *upper* edge (QGIS's discrete
    ramp colours values up to and including each stop). For a continuous scale, the
    scale's colours at their values, thinned evenly when there are too many.
    """
    order = np.argsort(scale.values, kind="stable")
    values, colors = scale.values[order], scale.colors[order]
    if scale.is_discrete:
        edges = np.asarray(scale.levels, dtype=np.float64)
        idx = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, edges.size - 2)
        out = []
        for k in range(edges.size - 1):
            hit = np.flatnonzero(idx == k)
            if hit.size:
                out.append((float(edges[k + 1]), colors[hit[0]]))
        return out
    if values.size > max_items:
        pick = np.unique(np.round(np.linspace(0, values.size - 1, max_items)).astype(int))
        values, colors = values[pick], colors[pick]
    return [(float(v), c) for v, c in zip(values, colors, strict=True)]


def _root() -> ET.Element:
    return ET.Element(
        "qgis",
        {
            "version": QGIS_VERSION,
            "styleCategories": "AllStyleCategories",
            "hasScaleBasedVisibilityFlag": "0",
            "minScale": "1e+08",
            "maxScale": "0",
        },
    )


def _option(parent: ET.Element, name: str, value: str, kind: str = "QString") -> None:
    ET.SubElement(parent, "Option", {"name": name, "value": value, "type": kind})


def _gradient(parent: ET.Element, items, vmin: float, vmax: float, discrete: bool) -> None:
    """A QGIS gradient colour ramp through the items (positions 0-1 along vmin-vmax)."""
    ramp = ET.SubElement(parent, "colorramp", {"type": "gradient", "name": "[source]"})
    opts = ET.SubElement(ramp, "Option", {"type": "Map"})
    span = vmax - vmin
    _option(opts, "color1", _qcolor(items[0][1]))
    _option(opts, "color2", _qcolor(items[-1][1]))
    inner = [f"{min(max((v - vmin) / span, 0.0), 1.0):.6f};{_qcolor(c)}" for v, c in items[1:-1]]
    _option(opts, "discrete", "1" if discrete else "0")
    _option(opts, "rampType", "gradient")
    _option(opts, "stops", ":".join(inner))


def grid_style(scale: ColorScale) -> ET.ElementTree:
    """The ``grid.qml`` style: singleband pseudocolor with the scale's colours."""
    items = ramp_items(scale)
    vmin, vmax = _fmt(scale.vmin), _fmt(scale.vmax)
    root = _root()
    pipe = ET.SubElement(root, "pipe")
    renderer = ET.SubElement(
        pipe,
        "rasterrenderer",
        {
            "type": "singlebandpseudocolor",
            "band": "1",
            "opacity": "1",
            "alphaBand": "-1",
            "classificationMin": vmin,
            "classificationMax": vmax,
            "nodataColor": "",
        },
    )
    ET.SubElement(renderer, "rasterTransparency")
    origin = ET.SubElement(renderer, "minMaxOrigin")
    for tag, text in (
        ("limits", "None"),
        ("extent", "WholeRaster"),
        ("statAccuracy", "Estimated"),
        ("cumulativeCutLower", "0.02"),
        ("cumulativeCutUpper", "0.98"),
        ("stdDevFactor", "2"),
    ):
        ET.SubElement(origin, tag).text = text
    shader = ET.SubElement(
        ET.SubElement(renderer, "rastershader"),
        "colorrampshader",
        {
            "colorRampType": "DISCRETE" if scale.is_discrete else "INTERPOLATED",
            "classificationMode": "1",
            "clip": "0",
            "minimumValue": vmin,
            "maximumValue": vmax,
            "labelPrecision": "4",
        },
    )
    _gradient(shader, items, scale.vmin, scale.vmax, scale.is_discrete)
    for value, color in items:
        ET.SubElement(
            shader,
            "item",
            {
                "alpha": "255",
                "value": _fmt(value),
                "label": _fmt(value),
                "color": _hex(color),
            },
        )
    ET.SubElement(pipe, "brightnesscontrast", {"brightness": "0", "contrast": "0", "gamma": "1"})
    ET.SubElement(
        pipe,
        "huesaturation",
        {
            "saturation": "0",
            "grayscaleMode": "0",
            "colorizeOn": "0",
            "colorizeStrength": "100",
            "colorizeRed": "255",
            "colorizeGreen": "128",
            "colorizeBlue": "128",
            "invertColors": "0",
        },
    )
    ET.SubElement(pipe, "rasterresampler", {"maxOversampling": "2"})
    ET.SubElement(root, "blendMode").text = "0"
    return ET.ElementTree(root)


def _point_ranges(scale: ColorScale) -> list[tuple[float, float, np.ndarray]]:
    """``(lower, upper, rgb)`` graduated ranges covering vmin-vmax."""
    order = np.argsort(scale.values, kind="stable")
    values, colors = scale.values[order], scale.colors[order]
    if scale.is_discrete:
        edges = np.asarray(scale.levels, dtype=np.float64)
        items = dict(ramp_items(scale))
        return [
            (float(lo), float(hi), items[float(hi)])
            for lo, hi in itertools.pairwise(edges)
            if float(hi) in items
        ]
    edges = np.linspace(scale.vmin, scale.vmax, POINT_CLASSES + 1)
    mids = 0.5 * (edges[:-1] + edges[1:])
    nearest = np.clip(np.searchsorted(values, mids), 0, values.size - 1)
    return [
        (float(lo), float(hi), colors[k])
        for lo, hi, k in zip(edges[:-1], edges[1:], nearest, strict=True)
    ]


def _marker(parent: ET.Element, name: str, rgb) -> None:
    symbol = ET.SubElement(
        parent,
        "symbol",
        {
            "type": "marker",
            "name": name,
            "alpha": "1",
            "clip_to_extent": "1",
            "force_rhr": "0",
        },
    )
    layer = ET.SubElement(
        symbol,
        "layer",
        {
            "class": "SimpleMarker",
            "pass": "0",
            "locked": "0",
            "enabled": "1",
        },
    )
    opts = ET.SubElement(layer, "Option", {"type": "Map"})
    for key, value in (
        ("angle", "0"),
        ("color", _qcolor(rgb)),
        ("name", "circle"),
        ("outline_color", "35,35,35,255"),
        ("outline_style", "solid"),
        ("outline_width", "0.1"),
        ("outline_width_unit", "MM"),
        ("scale_method", "diameter"),
        ("size", "1.8"),
        ("size_unit", "MM"),
        ("joinstyle", "bevel"),
        ("offset", "0,0"),
        ("offset_unit", "MM"),
    ):
        _option(opts, key, value)


def points_style(scale: ColorScale, attribute: str = "value") -> ET.ElementTree:
    """The ``points.qml`` style: graduated symbols on `attribute` with the scale's colours."""
    ranges = _point_ranges(scale)
    root = _root()
    renderer = ET.SubElement(
        root,
        "renderer-v2",
        {
            "type": "graduatedSymbol",
            "attr": attribute,
            "graduatedMethod": "GraduatedColor",
            "symbollevels": "0",
            "enableorderby": "0",
            "forceraster": "0",
        },
    )
    ranges_el = ET.SubElement(renderer, "ranges")
    symbols = ET.SubElement(renderer, "symbols")
    for k, (lo, hi, rgb) in enumerate(ranges):
        ET.SubElement(
            ranges_el,
            "range",
            {
                "lower": _fmt(lo),
                "upper": _fmt(hi),
                "symbol": str(k),
                "label": f"{lo:.4g} - {hi:.4g}",
                "render": "true",
            },
        )
        _marker(symbols, str(k), rgb)
    source = ET.SubElement(renderer, "source-symbol")
    _marker(source, "0", ranges[0][2])
    _gradient(renderer, ramp_items(scale), scale.vmin, scale.vmax, scale.is_discrete)
    ET.SubElement(
        renderer,
        "classificationMethod",
        {"id": "EqualInterval" if not scale.is_discrete else "Fixed"},
    )
    ET.SubElement(root, "blendMode").text = "0"
    ET.SubElement(root, "layerGeometryType").text = "0"
    return ET.ElementTree(root)


def write_style(path: str | Path, tree: ET.ElementTree) -> None:
    """Write a style as QGIS does: UTF-8, ``<!DOCTYPE qgis ...>`` header, indented."""
    ET.indent(tree, space="  ")
    body = ET.tostring(tree.getroot(), encoding="unicode")
    text = "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n" + body + "\n"
    Path(path).write_text(text, encoding="utf-8")
