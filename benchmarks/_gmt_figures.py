"""GMT 6 figures: ``grdimage`` of a netCDF grid, coastlines, frame, colorbar, via PostScript.

How the truth is derived
------------------------
* Classic mode on a fixed page (``PS_MEDIA``) with a fixed map origin and no cropping, so
  ``gmt psconvert -Tg -E<dpi>`` (Ghostscript) puts the map at a known place: the frame's
  pixel box is the origin and the map size (from ``gmt mapproject -W``) times the dpi.
* Pixel <-> lon/lat comes from ``gmt mapproject`` itself: the pixel columns' and rows'
  centres are inverse-projected (the projections used are separable in x and y), and
  the graticule intersections (the GCPs) are projected forward. ``px_affine`` is fitted
  to those in EPSG:4326 (``-JQ``) or EPSG:3395 (``-JM``); its largest residual is kept in
  ``meta["affine_residual_px"]``.
* The grid is written by ``gmt xyz2grd`` (pixel registration, ``cell_deg`` cells). A
  pixel's value is the grid cell holding its centre's lon/lat.
* Layers: the same commands with one layer drawn (the grid alone; coast and frame with
  fonts in white; frame annotations and colorbar labels with pens in white; the colorbar
  alone with pens and fonts in white; the land fill ``pscoast -G200`` alone), each
  rasterized the same way; a pixel belongs to a layer when it is not pure white there.
* A candidate data pixel lies wholly in the frame and no overlay touches it; those whose
  colour is more than 2 levels per channel from the CPT colour of their value (or of the
  values one 1/256-of-range step either side) are mixed (kind 6): GMT and Ghostscript
  resample the grid into pixels.
* Tick labels: the frame annotations' text is GMT's default format (``-120°``) and each
  box is the blob of text pixels nearest its tick (not read from the PostScript);
  colorbar annotations are not recorded.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pyproj
from PIL import Image

from benchmarks._truth import (
    COLORBAR,
    DATA,
    LAND,
    LINE,
    MIXED,
    PAGE,
    TEXT,
    Field,
    Truth,
    classify,
    colour_consistent,
)

MERC = "EPSG:3395"


def available() -> bool:
    """True when ``gmt`` and Ghostscript are installed."""
    return shutil.which("gmt") is not None and shutil.which("gs") is not None


@dataclass(frozen=True)
class GmtSpec:
    """One GMT figure."""

    name: str
    projection: str = "platecarree"  # platecarree (-JQ) | mercator (-JM)
    cpt: str = "turbo"
    vmin: float = 0.0
    vmax: float = 30.0
    frame: str = "plain"  # plain | fancy
    dpi: int = 100
    width_in: float = 6.0
    extent: tuple[float, float, float, float] = (-180.0, 180.0, -70.0, 70.0)
    cell_deg: float = 0.5
    step: int = 30
    coast: bool = True
    land: bool = False
    orientation: str = "horizontal"
    seed: int = 0


def _gmt(args: list[str], cwd: Path, stdin: str | None = None) -> str:
    return _gmt_bytes(args, cwd, stdin).decode("latin-1")


def _gmt_bytes(args: list[str], cwd: Path, stdin: str | None = None) -> bytes:
    env = {**os.environ, "GMT_SESSION_NAME": f"figs{os.getpid()}"}
    res = subprocess.run(
        ["gmt", *args],
        cwd=cwd,
        capture_output=True,
        input=None if stdin is None else stdin.encode(),
        env=env,
        check=False,
    )
    if res.returncode:
        raise RuntimeError(f"gmt {' '.join(args)} failed: {res.stderr[-2000:].decode()}")
    return res.stdout


def _proj(spec: GmtSpec) -> tuple[str, str]:
    w, e, s, n = spec.extent
    j = f"-JQ0/{spec.width_in}i" if spec.projection == "platecarree" else (f"-JM{spec.width_in}i")
    return f"-R{w:g}/{e:g}/{s:g}/{n:g}", j


def read_cpt(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Slice ends (k, 2) and their colours (k, 2, 3) of a continuous ``z r/g/b z r/g/b``
    CPT."""
    zs, cs = [], []
    for line in Path(path).read_text().splitlines():
        parts = line.split("#")[0].split()
        if len(parts) < 4 or parts[0] in ("B", "F", "N"):
            continue
        zs.append([float(parts[0]), float(parts[2])])
        cs.append(
            [[float(v) for v in parts[1].split("/")], [float(v) for v in parts[3].split("/")]]
        )
    return np.array(zs), np.array(cs)


def cpt_colours(z: np.ndarray, ends: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """uint8 RGB of values `z` through a continuous CPT (linear within each slice)."""
    z = np.clip(z, ends[0, 0], ends[-1, 1])
    k = np.clip(np.searchsorted(ends[:, 1], z), 0, len(ends) - 1)
    t = ((z - ends[k, 0]) / (ends[k, 1] - ends[k, 0]))[:, None]
    rgb = colours[k, 0] + t * (colours[k, 1] - colours[k, 0])
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


def _layers(spec: GmtSpec, r: str, j: str, size: tuple[float, float]) -> dict[str, list]:
    """The GMT commands drawing each layer (``full`` is the figure itself)."""
    frame = [f"--MAP_FRAME_TYPE={spec.frame}", "--MAP_GRID_PEN_PRIMARY=0.25p,40/40/40,-"]
    ticks = f"-Bxa{2 * spec.step}f{spec.step}g{spec.step}", f"-Bya{spec.step}g{spec.step}"
    bar = (
        f"-Dx0i/-0.6i+w{size[0]:.4f}i/0.12i+h"
        if spec.orientation == "horizontal"
        else f"-Dx{size[0] + 0.25:.4f}i/0i+w{size[1]:.4f}i/0.15i+v"
    )
    white_font = ["--FONT_ANNOT_PRIMARY=10p,Helvetica,white", "--FONT_LABEL=white"]
    white_pen = [
        "--MAP_FRAME_PEN=white",
        "--MAP_TICK_PEN_PRIMARY=white",
        "--MAP_GRID_PEN_PRIMARY=white",
        "--MAP_DEFAULT_PEN=white",
        "--MAP_FRAME_TYPE=" + spec.frame,
    ]
    grid = [["grdimage", "grid.nc", r, j, "-Cfig.cpt"]]
    fill = ["-G200"] if spec.land else []
    coast = [["pscoast", r, j, "-Dc", "-W0.5p,black", "-A5000"]] if spec.coast else []
    land = [["pscoast", r, j, "-Dc", "-A5000", *fill]] if spec.land else []
    filled = [[*coast[0], *fill]] if coast else land
    base = [["psbasemap", r, j, *ticks, "-BWSne", *frame]]
    cbar = [["psscale", "-Cfig.cpt", bar, "-Bxaf"]]
    return {
        "full": grid + filled + base + cbar,
        "field": grid,
        "lines": [*coast, [*base[0], *white_font], [*cbar[0], *white_font]],
        "text": [[*base[0], *white_pen], [*cbar[0], *white_pen]],
        "colorbar": [[*cbar[0], *white_pen, *white_font]],
        "land": land,
    }


def _render_layer(cmds: list, cwd: Path, page: tuple[float, float], dpi: int, name: str):
    media = f"--PS_MEDIA={page[0]:g}ix{page[1]:g}i"
    origin = ["--MAP_ORIGIN_X=1i", "--MAP_ORIGIN_Y=1i", "-P"]
    ps = []
    for k, cmd in enumerate(cmds):
        flags = ([] if k == 0 else ["-O"]) + ([] if k == len(cmds) - 1 else ["-K"])
        args = [cmd[0], *cmd[1:], media, *flags]
        if k == 0:
            args += origin
        ps.append(_gmt_bytes(args, cwd))
    (cwd / f"{name}.ps").write_bytes(b"".join(ps))
    _gmt(["psconvert", f"{name}.ps", "-Tg", f"-E{dpi}"], cwd)
    with Image.open(cwd / f"{name}.png") as im:
        return np.array(im.convert("RGB"))


def render(spec: GmtSpec, out: Path) -> Truth:
    """Render `spec` to ``out/<name>.png`` and ``<name>.cpt``; return its truth."""
    out.mkdir(parents=True, exist_ok=True)
    r, j = _proj(spec)
    w, e, s, n = spec.extent
    fld = Field(
        spec.seed,
        spec.vmin + 0.01 * (spec.vmax - spec.vmin),
        spec.vmax - 0.01 * (spec.vmax - spec.vmin),
        spec.extent,
    )
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        cs = spec.cell_deg
        lon_c = np.arange(w + cs / 2, e, cs)
        lat_c = np.arange(s + cs / 2, n, cs)
        glon, glat = np.meshgrid(lon_c, lat_c)
        cells = fld(glon, glat)
        np.column_stack([glon.ravel(), glat.ravel(), cells.ravel()]).astype("<f8").tofile(
            tmp / "xyz.bin"
        )
        _gmt(["xyz2grd", "xyz.bin", "-bi3d", r, f"-I{cs:g}", "-r", "-fg", "-Ggrid.nc"], tmp)
        (tmp / "fig.cpt").write_text(
            _gmt(["makecpt", f"-C{spec.cpt}", "-Fr", f"-T{spec.vmin:g}/{spec.vmax:g}"], tmp)
        )
        unit = "--PROJ_LENGTH_UNIT=inch"
        size = [float(v) for v in _gmt(["mapproject", r, j, "-W", unit], tmp).split()]
        # whole half inches: whole points and whole pixels at 100 or 150 dpi
        page = (
            np.ceil(2 * (size[0] + 2.0 + (spec.orientation == "vertical"))) / 2,
            np.ceil(2 * (size[1] + 1.6)) / 2,
        )
        height = round(page[1] * spec.dpi)
        images = {
            name: _render_layer(cmds, tmp, page, spec.dpi, name)
            for name, cmds in _layers(spec, r, j, size).items()
            if cmds
        }
        shutil.copy(tmp / "fig.cpt", out / f"{spec.name}.cpt")
        # pixel <-> lon/lat from mapproject (both projections are separable)
        rows_px = np.arange(height) + 0.5
        width = images["full"].shape[1]
        cols_px = np.arange(width) + 0.5
        x_in = (cols_px / spec.dpi) - 1.0
        y_in = (height - rows_px) / spec.dpi - 1.0
        pts = np.column_stack(
            [
                np.concatenate([x_in, np.zeros_like(y_in)]),
                np.concatenate([np.zeros_like(x_in), y_in]),
            ]
        )
        inv = _gmt(
            ["mapproject", r, j, "-I", unit, "-fog"],
            tmp,
            "\n".join(f"{a:.8f} {b:.8f}" for a, b in pts),
        )
        ll = np.array([[float(v) for v in line.split()[:2]] for line in inv.splitlines()])
        lon_px, lat_px = ll[:width, 0], ll[width:, 1]
        g_lon, g_lat = np.meshgrid(
            np.arange(np.ceil(w / spec.step) * spec.step, e + 1e-9, spec.step),
            np.arange(np.ceil(s / spec.step) * spec.step, n + 1e-9, spec.step),
        )
        fwd = _gmt(
            ["mapproject", r, j, unit],
            tmp,
            "\n".join(f"{a} {b}" for a, b in zip(g_lon.ravel(), g_lat.ravel(), strict=True)),
        )
        xy = np.array([[float(v) for v in line.split()[:2]] for line in fwd.splitlines()])
    image = images["full"]
    if image.shape[0] != height:
        raise RuntimeError(f"{spec.name}: page is {image.shape[0]} rows, expected {height}")
    gc = (xy[:, 0] + 1.0) * spec.dpi
    gr = height - (xy[:, 1] + 1.0) * spec.dpi
    frame = (
        1.0 * spec.dpi,
        height - (1.0 + size[1]) * spec.dpi,
        (1.0 + size[0]) * spec.dpi,
        height - 1.0 * spec.dpi,
    )
    crs = "EPSG:4326" if spec.projection == "platecarree" else MERC
    affine, resid = _fit_affine(crs, g_lon.ravel(), g_lat.ravel(), gc, gr)
    x0, y0, x1, y1 = frame
    keep = (gc > x0 + 0.5) & (gc < x1 - 0.5) & (gr > y0 + 0.5) & (gr < y1 - 0.5)
    touched = {k: (v < 255).any(axis=2) for k, v in images.items()}
    rows, cols = np.mgrid[0:height, 0:width]
    inside = (cols >= np.ceil(x0 - 1e-6)) & (cols + 1 <= np.floor(x1 + 1e-6))
    inside &= (rows >= np.ceil(y0 - 1e-6)) & (rows + 1 <= np.floor(y1 + 1e-6))
    ys, xs = np.nonzero(touched["colorbar"])
    cbar = (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))
    cb_mask = touched["colorbar"]
    text = touched["text"] & ~_grow(cb_mask, 1)
    kind = classify(
        {
            DATA: inside & touched["field"],
            COLORBAR: cb_mask,
            LAND: touched.get("land", np.zeros_like(cb_mask)),
            LINE: touched["lines"] & ~cb_mask,
            TEXT: text,
        },
        (height, width),
    )
    lat_px = np.nan_to_num(lat_px, nan=s)  # rows beyond the Mercator page's poles
    ci = np.clip(((lat_px - s) / cs).astype(int), 0, cells.shape[0] - 1)
    cj = np.clip(((np.nan_to_num(lon_px, nan=w) - w) / cs).astype(int), 0, cells.shape[1] - 1)
    value = cells[np.ix_(ci, cj)]
    data = kind == DATA
    ends, colours = read_cpt(out / f"{spec.name}.cpt")
    step = (spec.vmax - spec.vmin) / 256
    expected = np.stack([cpt_colours(value[data] + k * step, ends, colours) for k in (-1, 0, 1)])
    ok = colour_consistent(image[data], expected)
    idx = np.flatnonzero(data.ravel())
    kind.ravel()[idx[~ok]] = MIXED
    kind[(kind == PAGE) & inside] = MIXED  # frame pixels the grid does not fully cover
    value = np.where(kind == DATA, value, np.nan)
    Image.fromarray(image).save(out / f"{spec.name}.png")
    ticks = _tick_labels(spec, kind == TEXT, frame, crs, affine)
    return Truth(
        name=spec.name,
        image=f"{spec.name}.png",
        renderer="gmt",
        value=value,
        kind=kind,
        frame=frame,
        colorbar=cbar,
        gcps=np.column_stack([gc, gr, g_lon.ravel(), g_lat.ravel()])[keep],
        cmap=spec.cpt,
        vmin=spec.vmin,
        vmax=spec.vmax,
        crs=crs,
        px_affine=affine,
        projection=spec.projection,
        cmap_file=f"{spec.name}.cpt",
        tick_text=ticks[0],
        tick_box=ticks[1],
        meta={
            "spec": asdict(spec),
            "affine_residual_px": resid,
            "mixed_px": int((kind == MIXED).sum()),
        },
    )


def _tick_labels(spec: GmtSpec, text: np.ndarray, frame, crs: str, affine):
    """The frame annotations (west and south sides) and their pixel boxes.

    GMT's positions are not read back from the PostScript: the text pixels are grouped
    into blobs, and each annotation takes the blob nearest to its tick (its text is
    GMT's default ``ddd`` format, e.g. ``-120°``)."""
    from scipy import ndimage

    labels, count = ndimage.label(_grow(text, 2))
    labels = np.where(text, labels, 0)
    boxes = ndimage.find_objects(labels, count)
    x0, _, _, y1 = frame
    w, e, s, n = spec.extent
    tf = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    texts, found = [], []
    ticks = [
        ("x", v)
        for v in np.arange(np.ceil(w / (2 * spec.step)) * 2 * spec.step, e + 1e-9, 2 * spec.step)
    ]
    ticks += [("y", v) for v in np.arange(np.ceil(s / spec.step) * spec.step, n + 1e-9, spec.step)]
    for axis, v in ticks:
        x, y = tf.transform(v if axis == "x" else (w + e) / 2, v if axis == "y" else 0.0)
        col, row = affine[0] + affine[1] * x, affine[2] + affine[3] * y
        best, dist = None, 40.0
        for box in boxes:
            if box is None:
                continue
            bc = (box[1].start + box[1].stop) / 2
            br = (box[0].start + box[0].stop) / 2
            if axis == "x" and br > y1 and box[0].start < y1 + 40 and abs(bc - col) < dist:
                best, dist = box, abs(bc - col)
            if axis == "y" and bc < x0 and box[1].stop > x0 - 60 and abs(br - row) < dist:
                best, dist = box, abs(br - row)
        if best is not None:
            texts.append(f"{v:g}\N{DEGREE SIGN}")
            found.append((best[1].start, best[0].start, best[1].stop, best[0].stop))
    return np.array(texts, dtype=str), np.array(found, float).reshape(-1, 4)


def _grow(mask: np.ndarray, r: int) -> np.ndarray:
    from scipy import ndimage

    return ndimage.binary_dilation(mask, iterations=r)


def _fit_affine(crs, lon, lat, col, row) -> tuple[tuple[float, float, float, float], float]:
    x, y = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(lon, lat)
    a1, a0 = np.polyfit(x, col, 1)
    b1, b0 = np.polyfit(y, row, 1)
    resid = max(np.abs(a0 + a1 * x - col).max(), np.abs(b0 + b1 * y - row).max())
    return (float(a0), float(a1), float(b0), float(b1)), float(resid)
