"""Matplotlib figures drawn the way papers draw them, to PNG (Agg) or PDF (poppler).

The figure uses matplotlib's own axes, ticks, tick labels, colorbar and ``imshow`` /
``pcolormesh`` / ``contourf`` of scalar data (not pre-coloured arrays).

How the truth is derived
------------------------
* The map axes and the colorbar axes are placed on whole pixels of a figure whose size
  in pixels is an integer, and saved without ``bbox_inches``; the frame box is read back
  from ``ax.get_window_extent()`` and the px <-> map transform follows from it and the
  axis limits (the axis is linear in lon/lat, or in EPSG:3395 metres for Mercator).
* The same figure is drawn again with one layer visible at a time (field, lines, text,
  land, colorbar ramp) -- only visibility and colours change, so the layout is identical.
  Agg layers are drawn on a transparent canvas (a pixel is touched when alpha > 0); PDF
  layers are rasterized by ``pdftoppm`` on white (touched when not pure white).
* A candidate data pixel is inside the frame, fully covered by the field (alpha 255 for
  Agg) and touched by no overlay. Its value is the value of the data cell holding its
  centre (``imshow``, ``pcolormesh``) or the class of the bilinearly interpolated node
  value at its centre (``contourf``). Candidates whose drawn colour differs from the
  colour of that value, or of the values one colour step (``1 / cmap.N`` of the range)
  either side, by more than 0 (Agg imshow) or 1 (vector fills, PDF) level in any channel
  are kind 6, mixed: cell and class edges that the renderer blended
  (``meta["mixed_px"]`` counts them).
* PDF: the figure is saved with ``savefig(dpi=D)`` and rasterized with
  ``pdftoppm -r D``; the page has the same pixel size as the Agg PNG and the frame box is
  the Agg one. ``meta["pdf_field_bbox"]`` is the box of pixels the field touches in the
  rasterized field layer; it exceeds the frame by at most one antialiased pixel row or
  column (poppler's image edges), which are outside the frame and so page pixels.
  A frame more than one pixel off the Agg frame raises ``RuntimeError``.
* Coastlines are GSHHG crude shorelines from ``gmt coast``; land is ``contourf`` of a
  0.25-degree ``gmt grdlandmask`` (grey). Without GMT, coastlines are two sine curves and
  the land a band north of one of them.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import matplotlib as mpl
import numpy as np
import pyproj
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from benchmarks._truth import (
    COLORBAR,
    DATA,
    LAND,
    LINE,
    MIXED,
    TEXT,
    Field,
    Truth,
    affine_from_box,
    classify,
    colour_consistent,
)

MERC = "EPSG:3395"
_TO_MERC = pyproj.Transformer.from_crs("EPSG:4326", MERC, always_xy=True)


@dataclass(frozen=True)
class MplSpec:
    """One matplotlib figure."""

    name: str
    plot: str = "imshow"  # imshow | pcolormesh | contourf
    projection: str = "platecarree"  # platecarree | mercator
    cmap: str = "viridis"
    vmin: float = 0.0
    vmax: float = 30.0
    nlevels: int = 0  # contourf classes
    extend: str = "neither"
    orientation: str = "vertical"
    font: str = "DejaVu Sans"
    fontsize: float = 9.0
    label_format: str = "hemisphere"  # hemisphere | signed | letter | decimal | unicode
    # axes: ticks and labels bottom and left; cartopy: labels on all four sides and no
    # tick marks (cartopy's gridliner); top_right: ticks and labels on the top and right
    layout: str = "axes"
    dpi: int = 100
    size: tuple[int, int] = (640, 400)  # pixels
    extent: tuple[float, float, float, float] = (-180.0, 180.0, -70.0, 70.0)
    cell_deg: float = 2.0
    step: float = 30.0  # graticule step, degrees
    coast: bool = True
    land: bool = False
    grid: bool = True
    title: str = ""
    inset_text: str = ""  # drawn inside the frame, top left (a panel label)
    contours: str = ""  # colour of contour lines drawn over the field ("" for none)
    seed: int = 0


def _fmt(value: float, axis: str, style: str) -> str:
    if style == "signed":
        return f"{value:g}"
    if style == "unicode":  # matplotlib's own formatter: a unicode minus
        return f"{value:g}".replace("-", "\N{MINUS SIGN}")
    if style == "decimal":
        return f"{value:.1f}"
    hemi = ("E", "W") if axis == "x" else ("N", "S")
    letter = "" if value == 0 else hemi[int(value < 0)]
    deg = "" if style == "letter" else "\N{DEGREE SIGN}"
    return f"{abs(value):g}{deg}{letter}"


def _y(spec: MplSpec, lat) -> np.ndarray:
    lat = np.asarray(lat, float)
    if spec.projection == "mercator":
        return _TO_MERC.transform(np.zeros_like(lat), lat)[1]
    return lat


def _x(spec: MplSpec, lon) -> np.ndarray:
    lon = np.asarray(lon, float)
    if spec.projection == "mercator":
        return _TO_MERC.transform(lon, np.zeros_like(lon))[0]
    return lon


def _layout(spec: MplSpec) -> tuple[tuple[int, int, int, int], tuple[int, int, int, int]]:
    """Frame and colorbar boxes in pixels (x0, y0, x1, y1 from the top-left)."""
    width, height = spec.size
    if spec.orientation == "vertical":
        frame = (
            round(0.11 * width),
            round(0.08 * height),
            round(0.80 * width),
            round(0.86 * height),
        )
        cbar = (round(0.84 * width), frame[1], round(0.87 * width), frame[3])
    else:
        frame = (
            round(0.10 * width),
            round(0.07 * height),
            round(0.92 * width),
            round(0.74 * height),
        )
        cbar = (round(0.2 * width), round(0.85 * height), round(0.82 * width), round(0.89 * height))
    return frame, cbar


def _rect(box, size) -> list[float]:
    x0, y0, x1, y1 = box
    width, height = size
    return [x0 / width, (height - y1) / height, (x1 - x0) / width, (y1 - y0) / height]


def _levels(spec: MplSpec) -> np.ndarray:
    return np.linspace(spec.vmin, spec.vmax, spec.nlevels + 1) if spec.nlevels else np.zeros(0)


def _grid(spec: MplSpec):
    """Cell edges in lon/lat and the field's cell (or node) values."""
    w, e, s, n = spec.extent
    fld = Field(
        spec.seed,
        spec.vmin + 0.01 * (spec.vmax - spec.vmin),
        spec.vmax - 0.01 * (spec.vmax - spec.vmin),
        spec.extent,
    )
    lon_e = np.linspace(w, e, round((e - w) / spec.cell_deg) + 1)
    lat_e = np.linspace(s, n, round((n - s) / spec.cell_deg) + 1)
    if spec.plot == "imshow" and spec.projection == "mercator":
        lat_e = pyproj.Transformer.from_crs("EPSG:4326", MERC, always_xy=True).transform(
            np.zeros_like(lat_e), np.linspace(*_y(spec, [s, n]), len(lat_e)), direction="INVERSE"
        )[1]
    if spec.plot == "contourf":
        glon, glat = np.meshgrid(lon_e, lat_e)
    else:
        glon, glat = np.meshgrid((lon_e[1:] + lon_e[:-1]) / 2, (lat_e[1:] + lat_e[:-1]) / 2)
    return lon_e, lat_e, fld(glon, glat)


def _land_mask(extent, res: float = 0.25) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """lon, lat and a 0/1 land mask (GSHHG crude via ``gmt grdlandmask``; without GMT,
    the land is where the fallback coastline's sine curve is exceeded)."""
    w, e, s, n = extent
    lon = np.arange(w, e + res / 2, res)
    lat = np.arange(s, n + res / 2, res)
    if shutil.which("gmt"):
        with tempfile.TemporaryDirectory() as tmp:
            region = f"-R{w}/{e}/{s}/{n}"
            env = {"cwd": tmp, "capture_output": True, "check": True}
            subprocess.run(
                ["gmt", "grdlandmask", region, f"-I{res}", "-Dc", "-A5000", "-Gland.nc"], **env
            )
            raw = subprocess.run(["gmt", "grd2xyz", "land.nc", "-ZTLd"], **env).stdout
        mask = np.frombuffer(raw, "<f8").reshape(len(lat), len(lon))[::-1]
        return lon, lat, mask
    glon, glat = np.meshgrid(lon, lat)
    return lon, lat, (glat > 25 * np.sin(np.deg2rad(3 * glon))).astype(float) * (glat > 40)


def coastlines(extent) -> list[np.ndarray]:
    """GSHHG crude shorelines from ``gmt coast`` when GMT is installed, else sine waves."""
    w, e, s, n = extent
    if shutil.which("gmt"):
        with tempfile.TemporaryDirectory() as tmp:  # gmt writes gmt.history in its cwd
            out = subprocess.run(
                ["gmt", "coast", "-Dc", f"-R{w}/{e}/{s}/{n}", "-W", "-M", "-A5000"],
                capture_output=True,
                text=True,
                check=False,
                cwd=tmp,
            ).stdout
        lines, cur = [], []
        for row in out.splitlines():
            if row.startswith(">"):
                if len(cur) > 1:
                    lines.append(np.array(cur))
                cur = []
            elif row.strip():
                cur.append([float(v) for v in row.split()[:2]])
        if len(cur) > 1:
            lines.append(np.array(cur))
        if lines:
            return lines
    lon = np.linspace(w, e, 400)
    return [
        np.column_stack([lon, 25 * np.sin(np.deg2rad(3 * lon))]),
        np.column_stack([lon, -30 + 10 * np.cos(np.deg2rad(5 * lon))]),
    ]


def build(spec: MplSpec, layers: frozenset[str], transparent: bool) -> tuple[Figure, dict]:
    """The figure with only `layers` visible (``field lines text land colorbar page``)."""
    width, height = spec.size
    fig = Figure(figsize=(width / spec.dpi, height / spec.dpi), dpi=spec.dpi)
    FigureCanvasAgg(fig)
    fig.patch.set_alpha(0.0 if transparent or "page" not in layers else 1.0)
    rc = {
        "font.family": "serif" if "Serif" in spec.font else "sans-serif",
        "font.serif": [spec.font],
        "font.sans-serif": [spec.font],
        "font.size": spec.fontsize,
        "path.snap": True,
    }
    frame, cbox = _layout(spec)
    with mpl.rc_context(rc):
        ax = fig.add_axes(_rect(frame, spec.size))
        ax.patch.set_visible(False)
        w, e, s, n = spec.extent
        lon_e, lat_e, vals = _grid(spec)
        norm = mpl.colors.Normalize(spec.vmin, spec.vmax)
        if spec.plot == "imshow":
            art = ax.imshow(
                vals[::-1],
                cmap=spec.cmap,
                norm=norm,
                interpolation="nearest",
                extent=(*_x(spec, [w, e]), *_y(spec, [s, n])),
                aspect="auto",
            )
        elif spec.plot == "pcolormesh":
            art = ax.pcolormesh(
                _x(spec, lon_e), _y(spec, lat_e), vals, cmap=spec.cmap, norm=norm, shading="flat"
            )
        else:
            art = ax.contourf(
                _x(spec, lon_e),
                _y(spec, lat_e),
                vals,
                levels=_levels(spec),
                cmap=spec.cmap,
                extend=spec.extend,
            )
        art.set_visible("field" in layers)
        ax.set_xlim(*_x(spec, [w, e]))
        ax.set_ylim(*_y(spec, [s, n]))
        ink = "black"
        if spec.land:
            lon_l, lat_l, is_land = _land_mask(spec.extent)
            ax.contourf(
                _x(spec, lon_l), _y(spec, lat_l), is_land, levels=[0.5, 1.5], colors=["0.75"]
            ).set_visible("land" in layers)
        if spec.coast and "lines" in layers:
            for line in coastlines(spec.extent):
                ax.plot(_x(spec, line[:, 0]), _y(spec, line[:, 1]), color=ink, lw=0.6)
        if spec.contours and "lines" in layers:
            cx, cy = _x(spec, lon_e), _y(spec, lat_e)
            if spec.plot != "contourf":
                cx, cy = (cx[1:] + cx[:-1]) / 2, (cy[1:] + cy[:-1]) / 2
            ax.contour(cx, cy, vals, levels=6, colors=spec.contours, linewidths=0.7)
        if spec.inset_text:
            ax.text(
                0.02,
                0.97,
                spec.inset_text,
                transform=ax.transAxes,
                va="top",
                fontweight="bold",
                color=ink if "text" in layers else "none",
            )
        xstep = 2 * spec.step if spec.size[0] < 1100 else spec.step
        xt = np.arange(np.ceil(w / xstep) * xstep, e + 1e-9, xstep)
        yt = np.arange(np.ceil(s / spec.step) * spec.step, n + 1e-9, spec.step)
        ax.set_xticks(_x(spec, xt), [_fmt(v, "x", spec.label_format) for v in xt])
        ax.set_yticks(_y(spec, yt), [_fmt(v, "y", spec.label_format) for v in yt])
        lines_col = ink if "lines" in layers else "none"
        ax.tick_params(color=lines_col, labelcolor=ink if "text" in layers else "none")
        if spec.layout == "cartopy":
            ax.tick_params(length=0, top=True, right=True, labeltop=True, labelright=True)
        elif spec.layout == "top_right":
            ax.tick_params(top=True, labeltop=True, bottom=False, labelbottom=False)
            ax.tick_params(right=True, labelright=True, left=False, labelleft=False)
        if spec.grid:
            ax.grid(True, color="0.2" if "lines" in layers else "none", lw=0.5, ls="--")
        for spine in ax.spines.values():
            spine.set_visible("lines" in layers)
        if spec.title:
            ax.set_title(spec.title, color=ink if "text" in layers else "none")
        cax = fig.add_axes(_rect(cbox, spec.size))
        cax.patch.set_visible(False)
        cb = fig.colorbar(
            art,
            cax=cax,
            orientation=spec.orientation,
            extend="neither" if spec.plot == "contourf" else spec.extend,
        )
        cb.solids.set_visible("colorbar" in layers) if cb.solids is not None else None
        for patch in getattr(cb, "_extend_patches", []):
            patch.set_visible("colorbar" in layers)
        cb.outline.set_visible("lines" in layers)
        cax.tick_params(color=lines_col, labelcolor=ink if "text" in layers else "none")
        cb.set_label("value", color=ink if "text" in layers else "none")
        fig.canvas.draw()
        info = {"ax": ax, "cax": cax, "art": art, "xt": xt, "yt": yt}
    return fig, info


def _window_box(artist_axes, height: int) -> tuple[float, float, float, float]:
    bb = artist_axes.get_window_extent()
    box = (bb.x0, height - bb.y1, bb.x1, height - bb.y0)
    return tuple(round(float(v), 6) for v in box)


def _ticks(info: dict, height: int) -> tuple[np.ndarray, np.ndarray]:
    texts, boxes = [], []
    for axis in (info["ax"].xaxis, info["ax"].yaxis, info["cax"].xaxis, info["cax"].yaxis):
        labels = [lab for t in axis.get_major_ticks() for lab in (t.label1, t.label2)]
        for label in labels:
            if label.get_visible() and label.get_text():
                texts.append(label.get_text())
                boxes.append(_window_box(label, height))
    return np.array(texts, dtype=str), np.array(boxes, float).reshape(-1, 4)


def _agg(fig: Figure) -> np.ndarray:
    fig.canvas.draw()
    return np.array(fig.canvas.buffer_rgba())


def _pdf(fig: Figure, dpi: int, tmp: Path, name: str) -> np.ndarray:
    pdf = tmp / f"{name}.pdf"
    fig.savefig(pdf, dpi=dpi)
    subprocess.run(
        ["pdftoppm", "-r", str(dpi), "-png", "-singlefile", str(pdf), str(tmp / name)],
        check=True,
        capture_output=True,
    )
    with Image.open(tmp / f"{name}.png") as im:
        return np.array(im.convert("RGB"))


def _truth_values(spec: MplSpec, affine, shape, info):
    """Value (and class) at every pixel centre, from the data cells or contourf nodes."""
    height, width = shape
    a0, a1, b0, b1 = affine
    x = (np.arange(width) + 0.5 - a0) / a1
    y = (np.arange(height) + 0.5 - b0) / b1
    lon_e, lat_e, vals = _grid(spec)
    xe, ye = _x(spec, lon_e), _y(spec, lat_e)
    if spec.plot == "imshow" and spec.projection == "mercator":
        ye = np.linspace(ye[0], ye[-1], len(ye))
    if spec.plot != "contourf":
        i = np.clip(np.searchsorted(ye, y) - 1, 0, len(ye) - 2)
        j = np.clip(np.searchsorted(xe, x) - 1, 0, len(xe) - 2)
        return vals[np.ix_(i, j)], None
    from scipy.interpolate import RegularGridInterpolator

    interp = RegularGridInterpolator((ye, xe), vals, bounds_error=False, fill_value=None)
    yy, xx = np.meshgrid(y, x, indexing="ij")
    v = interp(np.column_stack([yy.ravel(), xx.ravel()])).reshape(shape)
    edges = _levels(spec)
    cls = np.clip(np.digitize(v, edges) - 1, 0, len(edges) - 2).astype(np.int16)
    return (edges[cls] + edges[cls + 1]) / 2, cls


def _expected_colours(spec: MplSpec, info, value, cls) -> np.ndarray:
    art = info["art"]
    if cls is not None:
        layers = np.asarray(art.layers)
        return art.to_rgba(layers[cls], bytes=True)[None, ..., :3]
    step = (spec.vmax - spec.vmin) / mpl.colormaps[spec.cmap].N
    return np.stack([art.to_rgba(value + k * step, bytes=True)[..., :3] for k in (-1, 0, 1)])


def _drawn(spec: MplSpec, tmp: Path, pdf: bool) -> tuple[np.ndarray, dict]:
    """The whole figure of `spec` as an (H, W, 3) RGB array (through PDF and pdftoppm
    when `pdf`, files in `tmp`) and :func:`build`'s record of its axes."""
    layers = frozenset(("field", "lines", "text", "land", "colorbar", "page"))
    fig, info = build(spec, layers, transparent=False)
    image = _pdf(fig, spec.dpi, tmp, "full") if pdf else _agg(fig)[..., :3]
    return image, info


def draw(spec: MplSpec, tmp: Path, *, pdf: bool = False) -> tuple[np.ndarray, tuple]:
    """The figure of `spec` as an (H, W, 3) RGB array (through PDF and pdftoppm when
    `pdf`, files in `tmp`) and its colorbar axes' box in pixel corners (the ramp, without
    extension triangles): :func:`render` without the per-layer truth."""
    image, info = _drawn(spec, tmp, pdf)
    return image, _window_box(info["cax"], spec.size[1])


def render(spec: MplSpec, out: Path, *, pdf: bool = False) -> Truth:
    """Render `spec` to ``out/<name>.png`` (via PDF + pdftoppm when `pdf`); return truth."""
    out.mkdir(parents=True, exist_ok=True)
    width, height = spec.size
    layer_names = ("field", "lines", "text", "land", "colorbar")
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        image, info = _drawn(spec, tmp, pdf)
        frame = _window_box(info["ax"], height)
        cbar = _window_box(info["cax"], height)
        ticks = _ticks(info, height)
        touched = {}
        for layer in layer_names:
            lfig, _ = build(spec, frozenset([layer]), transparent=not pdf)
            if pdf:
                touched[layer] = (_pdf(lfig, spec.dpi, tmp, layer) < 255).any(axis=2)
                if layer == "field":
                    field_rgb = _pdf(lfig, spec.dpi, tmp, layer)
            else:
                rgba = _agg(lfig)
                touched[layer] = rgba[..., 3] > 0
                if layer == "field":
                    full_cover = rgba[..., 3] == 255
    if image.shape[:2] != (height, width):
        raise RuntimeError(f"{spec.name}: image is {image.shape[:2]}, expected {(height, width)}")
    w, e, s, n = spec.extent
    bounds = (*_x(spec, [w, e]), *_y(spec, [s, n]))
    affine = affine_from_box(frame, bounds)
    rows, cols = np.mgrid[0:height, 0:width]
    x0, y0, x1, y1 = frame
    inside = (cols >= np.ceil(x0 - 1e-6)) & (cols + 1 <= np.floor(x1 + 1e-6))
    inside &= (rows >= np.ceil(y0 - 1e-6)) & (rows + 1 <= np.floor(y1 + 1e-6))
    cover = touched["field"] if pdf else full_cover
    candidate = inside & cover
    kind = classify(
        {
            DATA: candidate,
            COLORBAR: touched["colorbar"],
            LAND: touched["land"],
            LINE: touched["lines"],
            TEXT: touched["text"],
        },
        (height, width),
    )
    kind[(kind == DATA) & ~candidate] = MIXED
    value, cls = _truth_values(spec, affine, (height, width), info)
    data = kind == DATA
    expected = _expected_colours(spec, info, value[data], None if cls is None else cls[data])
    # imshow colours go through the same 8-bit lookup as to_rgba(bytes=True); vector fills
    # (pcolormesh, contourf) and PDF round float colours their own way, 1 level apart
    exact = spec.plot == "imshow" and not pdf
    ok = colour_consistent(image[data], expected, tolerance=0 if exact else 1)
    idx = np.flatnonzero(data.ravel())
    kind.ravel()[idx[~ok]] = MIXED
    data = kind == DATA
    value = np.where(data, value, np.nan)
    check = {}
    if pdf:
        ys, xs = np.nonzero(touched["field"] & ~(field_rgb > 250).all(axis=2))
        check["pdf_field_bbox"] = [
            int(xs.min()),
            int(ys.min()),
            int(xs.max()) + 1,
            int(ys.max()) + 1,
        ]
        offset = np.abs(np.subtract(check["pdf_field_bbox"], frame)).max()
        if offset > 1.0:
            raise RuntimeError(f"{spec.name}: the PDF frame is {offset:.1f} px off the Agg one")
    name_ext = f"{spec.name}.png"
    Image.fromarray(np.ascontiguousarray(image)).save(out / name_ext)
    xt, yt = np.meshgrid(info["xt"], info["yt"])
    g_lon, g_lat = xt.ravel(), yt.ravel()
    gc = affine[0] + affine[1] * _x(spec, g_lon)
    gr = affine[2] + affine[3] * _y(spec, g_lat)
    keep = (gc > x0) & (gc < x1) & (gr > y0) & (gr < y1)
    meta = {
        "spec": {k: v for k, v in asdict(spec).items()},
        "mixed_px": int((kind == MIXED).sum()),
        **check,
    }
    return Truth(
        name=spec.name,
        image=name_ext,
        renderer="mpl-pdf" if pdf else "mpl",
        value=value,
        kind=kind,
        frame=frame,
        colorbar=cbar,
        gcps=np.column_stack([gc, gr, g_lon, g_lat])[keep],
        cmap=spec.cmap,
        vmin=spec.vmin,
        vmax=spec.vmax,
        crs=MERC if spec.projection == "mercator" else "EPSG:4326",
        px_affine=affine,
        projection=spec.projection,
        levels=_levels(spec),
        class_index=None if cls is None else np.where(data, cls, -1).astype(np.int16),
        tick_text=ticks[0],
        tick_box=ticks[1],
        meta=meta,
    )
