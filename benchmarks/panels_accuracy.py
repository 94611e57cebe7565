"""How well ``geodigitize run --panels auto`` reads a 2 x 2 figure with one shared colorbar.

Each figure is matplotlib's ``Figure.subplots(2, 2)`` (what ``plt.subplots(2, 2)``
makes) with four different known fields (:class:`benchmarks._truth.Field`, one seed
each) drawn by ``imshow`` or ``pcolormesh`` on 2- or 3-degree cells, GSHHG coastlines
(``gmt coast``; sine curves without GMT), dashed graticules, a bold panel label inside
each panel, titles and tick labels, and one colorbar shared by the four axes
(``fig.colorbar(..., ax=axs)``). One figure is saved as PDF and rasterized by
``pdftoppm`` (when installed) at the same dpi.

Per-pixel truth is derived as :mod:`benchmarks._mpl_figures` derives it: the figure is
drawn again with one layer visible at a time (field, lines, text, colorbar); a data pixel
lies inside a panel's frame (``ax.get_window_extent()``), is fully covered by the field,
touched by no other layer, and has the colour of its cell's value (or a colour one step
either side); its value is that cell's.

geodigitize then runs as a user would (:func:`geodigitize.panels.run_panels`, the
library call behind ``geodigitize run IMAGE --gcps gcps.csv --panels auto --cmap C --vmin A
--vmax B --out OUT``): frames found by itself, GCPs at the graticule intersections in
figure pixels without a panel column (each GCP goes to the frame it lies in); the scale
named (``cmap``: ``--cmap``, or ``--cmap-file`` with GMT's CPT), read from the bar
``--colorbar auto`` finds (``colorbar``), and read from the bar's true box, 2 px inside
its outline across the bar (``box``: ``--colorbar x0,y0,x1,y1``). Printed per panel: the frame found
(largest corner error against the truth), % of data decoded (and by a one-map run given
the panel's true frame, with the number of pixels decoded differently), median error
(% of the range), % of line and text pixels inside the frame decoded, pixels decoded
outside the panel's frame, and the georeferencing error of the written points (their
pixel position against the truth's position of their lon/lat, px).

Usage::

    python benchmarks/panels_accuracy.py             # seed 0
    python benchmarks/panels_accuracy.py --seed 1
"""

from __future__ import annotations

import argparse
import functools
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import matplotlib as mpl
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

if __package__ in (None, ""):  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._mpl_figures import coastlines
from benchmarks._truth import COLORBAR, DATA, LINE, MIXED, TEXT, Field, classify, colour_consistent

EXTENT = (-180.0, 180.0, -80.0, 80.0)
LON_TICKS = (-120.0, -60.0, 0.0, 60.0, 120.0)
LAT_TICKS = (-60.0, -30.0, 0.0, 30.0, 60.0)
LABELS = ("(a) DJF", "(b) MAM", "(c) JJA", "(d) SON")
#: The run's targets (issue 16): per panel.
TARGETS = {"data": 97.0, "median": 0.3, "overlay": 1.0, "outside": 0}


@dataclass(frozen=True)
class PanelSpec:
    """One 2 x 2 figure."""

    name: str
    seed: int
    cmap: str = "jet_r"
    plot: str = "imshow"  # imshow | pcolormesh
    pdf: bool = False
    orientation: str = "vertical"  # of the shared colorbar
    size: tuple[int, int] = (1400, 1000)
    dpi: int = 100
    vmin: float = 0.0
    vmax: float = 30.0
    cell_deg: float = 2.0


def specs(seed: int) -> list:
    """The figures of one seed: imshow PNG, pcolormesh PNG, imshow through PDF (with
    pdftoppm), GMT (with gmt and Ghostscript)."""
    out = [
        PanelSpec(f"panels_imshow_s{seed}", seed, "jet_r", "imshow"),
        PanelSpec(
            f"panels_pcolormesh_s{seed}",
            seed,
            "viridis",
            "pcolormesh",
            orientation="horizontal",
            cell_deg=3.0,
        ),
    ]
    if shutil.which("pdftoppm"):
        out.append(PanelSpec(f"panels_pdf_s{seed}", seed, "RdYlBu_r", "imshow", pdf=True))
    if shutil.which("gmt") and shutil.which("gs"):
        out.append(GmtPanelSpec(f"panels_gmt_s{seed}", seed))
    return out


def _grid(spec: PanelSpec, k: int):
    """Cell edges and the values of panel `k`'s field at the cell centres."""
    w, e, s, n = EXTENT
    lon_e = np.arange(w, e + 1e-9, spec.cell_deg)
    lat_e = np.arange(s, n + 1e-9, spec.cell_deg)
    lon_c, lat_c = np.meshgrid((lon_e[1:] + lon_e[:-1]) / 2, (lat_e[1:] + lat_e[:-1]) / 2)
    vals = Field(100 * spec.seed + k, spec.vmin, spec.vmax, EXTENT)(lon_c, lat_c)
    return lon_e, lat_e, vals


@functools.lru_cache
def _coasts() -> tuple[np.ndarray, ...]:
    return tuple(coastlines(EXTENT))


def build(spec: PanelSpec, layers: frozenset[str], transparent: bool):
    """The figure with only `layers` visible (``field lines text colorbar page``)."""
    width, height = spec.size
    fig = Figure(figsize=(width / spec.dpi, height / spec.dpi), dpi=spec.dpi)
    FigureCanvasAgg(fig)
    fig.patch.set_alpha(0.0 if transparent or "page" not in layers else 1.0)
    ink = "black"
    text_col = ink if "text" in layers else "none"
    line_col = ink if "lines" in layers else "none"
    norm = mpl.colors.Normalize(spec.vmin, spec.vmax)
    axs = fig.subplots(2, 2)
    w, e, s, n = EXTENT
    arts = []
    for k, ax in enumerate(axs.flat):
        ax.patch.set_visible(False)
        lon_e, lat_e, vals = _grid(spec, k)
        if spec.plot == "imshow":
            art = ax.imshow(
                vals[::-1],
                cmap=spec.cmap,
                norm=norm,
                interpolation="nearest",
                extent=(w, e, s, n),
                aspect="auto",
            )
        else:
            art = ax.pcolormesh(lon_e, lat_e, vals, cmap=spec.cmap, norm=norm, shading="flat")
        art.set_visible("field" in layers)
        arts.append(art)
        ax.set_xlim(w, e)
        ax.set_ylim(s, n)
        if "lines" in layers:
            for line in _coasts():
                ax.plot(line[:, 0], line[:, 1], color=ink, lw=0.6)
        ax.set_xticks(
            LON_TICKS, [f"{abs(v):g}°{'W' if v < 0 else 'E' if v else ''}" for v in LON_TICKS]
        )
        ax.set_yticks(
            LAT_TICKS, [f"{abs(v):g}°{'S' if v < 0 else 'N' if v else ''}" for v in LAT_TICKS]
        )
        ax.tick_params(color=line_col, labelcolor=text_col, labelsize=8)
        ax.grid(True, color="0.2" if "lines" in layers else "none", lw=0.5, ls="--")
        for spine in ax.spines.values():
            spine.set_visible("lines" in layers)
        ax.set_title(f"model {k + 1}", color=text_col, fontsize=9)
        ax.text(
            0.02, 0.96, LABELS[k], transform=ax.transAxes, va="top", fontweight="bold",
            color=text_col, fontsize=9,
        )  # fmt: skip
    shrink = 0.9 if spec.orientation == "vertical" else 0.6
    cb = fig.colorbar(arts[0], ax=axs, orientation=spec.orientation, shrink=shrink)
    if cb.solids is not None:
        cb.solids.set_visible("colorbar" in layers)
    cb.outline.set_visible("lines" in layers)
    cb.ax.tick_params(color=line_col, labelcolor=text_col)
    cb.set_label("temperature (°C)", color=text_col)
    fig.canvas.draw()
    return fig, {"axes": list(axs.flat), "arts": arts, "cax": cb.ax}


def _window_box(ax, height: int) -> tuple[float, float, float, float]:
    bb = ax.get_window_extent()
    return (float(bb.x0), float(height - bb.y1), float(bb.x1), float(height - bb.y0))


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


def _draw(fig: Figure, spec: PanelSpec, tmp: Path, name: str) -> np.ndarray:
    if spec.pdf:
        return _pdf(fig, spec.dpi, tmp, name)
    fig.canvas.draw()
    return np.array(fig.canvas.buffer_rgba())


@dataclass(frozen=True)
class PanelTruth:
    image: np.ndarray  # (H, W, 3) uint8
    kind: np.ndarray  # (H, W) uint8, _truth kinds
    frames: list[tuple[float, float, float, float]]
    values: list[np.ndarray]  # per panel (H, W): value at data pixels of that panel, NaN else
    extent: tuple[float, float, float, float] = EXTENT  # every panel's W, E, S, N
    cmap_file: str = ""  # a GMT figure's CPT (its colour scale by file)
    colorbar: tuple[float, float, float, float] | None = None  # the bar's ramp, pixel corners


def render(spec: PanelSpec) -> PanelTruth:
    """The figure and the truth of every pixel."""
    width, height = spec.size
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        fig, info = build(spec, frozenset({"field", "lines", "text", "colorbar", "page"}), False)
        image = _draw(fig, spec, tmp, "full")[..., :3]
        frames = [_window_box(ax, height) for ax in info["axes"]]
        bar = _window_box(info["cax"], height)
        touched, cover = {}, None
        for layer in ("field", "lines", "text", "colorbar"):
            lfig, _ = build(spec, frozenset([layer]), transparent=not spec.pdf)
            px = _draw(lfig, spec, tmp, layer)
            touched[layer] = (px < 255).any(axis=2) if spec.pdf else px[..., 3] > 0
            if layer == "field":
                cover = touched[layer] if spec.pdf else px[..., 3] == 255
    if image.shape[:2] != (height, width):
        raise RuntimeError(f"{spec.name}: image is {image.shape[:2]}, expected {(height, width)}")
    rows, cols = np.mgrid[0:height, 0:width]
    inside_any = np.zeros((height, width), bool)
    insides = []
    for x0, y0, x1, y1 in frames:
        inside = (cols >= np.ceil(x0 - 1e-6)) & (cols + 1 <= np.floor(x1 + 1e-6))
        inside &= (rows >= np.ceil(y0 - 1e-6)) & (rows + 1 <= np.floor(y1 + 1e-6))
        insides.append(inside)
        inside_any |= inside
    kind = classify(
        {
            DATA: inside_any & cover,
            COLORBAR: touched["colorbar"],
            LINE: touched["lines"],
            TEXT: touched["text"],
        },
        (height, width),
    )
    values = []
    cmap = mpl.colormaps[spec.cmap]
    sm = mpl.cm.ScalarMappable(mpl.colors.Normalize(spec.vmin, spec.vmax), cmap)
    step = (spec.vmax - spec.vmin) / cmap.N
    w, e, s, n = EXTENT
    for k, ((x0, y0, x1, y1), inside) in enumerate(zip(frames, insides, strict=True)):
        _, _, vals = _grid(spec, k)
        lon = w + (cols + 0.5 - x0) / (x1 - x0) * (e - w)
        lat = n - (rows + 0.5 - y0) / (y1 - y0) * (n - s)
        j = np.clip(((lon - w) // spec.cell_deg).astype(int), 0, vals.shape[1] - 1)
        i = np.clip(((lat - s) // spec.cell_deg).astype(int), 0, vals.shape[0] - 1)
        value = vals[i, j]
        data = inside & (kind == DATA)
        expected = np.stack(
            [sm.to_rgba(value[data] + d * step, bytes=True)[..., :3] for d in (-1, 0, 1)]
        )
        tol = 0 if spec.plot == "imshow" and not spec.pdf else 1
        diff = np.abs(expected.astype(np.int16) - image[data][None].astype(np.int16)).max(axis=2)
        ok = (diff <= tol).any(axis=0)
        idx = np.flatnonzero(data.ravel())
        kind.ravel()[idx[~ok]] = MIXED
        data = inside & (kind == DATA)
        values.append(np.where(data, value, np.nan))
    return PanelTruth(image, kind, frames, values, colorbar=bar)


def gcp_rows(truth: PanelTruth) -> list[tuple[float, float, float, float]]:
    """Graticule intersections of every panel in figure pixels: col, row, lon, lat."""
    w, e, s, n = truth.extent
    out = []
    for x0, y0, x1, y1 in truth.frames:
        for lon in LON_TICKS:
            for lat in LAT_TICKS:
                col = x0 + (lon - w) / (e - w) * (x1 - x0)
                row = y0 + (n - lat) / (n - s) * (y1 - y0)
                out.append((col, row, lon, lat))
    return out


def _near(gcp, frame, reach: float = 2.0) -> bool:
    x0, y0, x1, y1 = frame
    return x0 - reach <= gcp[0] <= x1 + reach and y0 - reach <= gcp[1] <= y1 + reach


def measure(spec: PanelSpec, truth: PanelTruth, run, out: Path, options: dict) -> list[dict]:
    """Per panel: frame error, data decoded (and by a one-map run given the true frame),
    median error, overlays decoded, outside."""
    import geopandas as gpd

    from geodigitize import extract

    height, width = truth.kind.shape
    rows, cols = np.mgrid[0:height, 0:width]
    span = spec.vmax - spec.vmin
    w, e, s, n = truth.extent
    found = run.layout.frames
    table = []
    for k, (frame, value, result) in enumerate(
        zip(truth.frames, truth.values, run.results, strict=True)
    ):
        x0, y0, x1, y1 = frame
        centre_in = (
            (cols + 0.5 >= x0) & (cols + 0.5 <= x1) & (rows + 0.5 >= y0) & (rows + 0.5 <= y1)
        )
        decoded = ~np.isnan(result.values)
        data = ~np.isnan(value)
        err = np.abs(result.values[data & decoded] - value[data & decoded]) / span * 100
        overlay = centre_in & np.isin(truth.kind, (LINE, TEXT))
        pts = gpd.read_file(out / f"panel{k + 1}" / "points.gpkg", layer="points")
        col_t = x0 + (pts.geometry.x - w) / (e - w) * (x1 - x0)
        row_t = y0 + (n - pts.geometry.y) / (n - s) * (y1 - y0)
        geo = np.hypot(col_t - pts["col"], row_t - pts["row"])
        alone = extract(
            truth.image,
            gcps=[g for g in gcp_rows(truth) if _near(g, frame)],
            region=frame,
            **options,
        )
        table.append(
            {
                "panel": k + 1,
                "alone_pct": 100 * float(alone.valid[data].mean()),
                "alone_diff_px": int((alone.valid != decoded).sum()),
                "frame_err_px": float(np.abs(np.subtract(found[k], frame)).max()),
                "data_px": int(data.sum()),
                "data_pct": 100 * float(decoded[data].mean()),
                "median_pct": float(np.median(err)),
                "overlay_pct": 100 * float(decoded[overlay].mean()),
                "outside_px": int((decoded & ~centre_in).sum()),
                "georef_px": float(geo.max()),
            }
        )
    return table


def run_figure(spec: PanelSpec, work: Path, scale: str) -> tuple[list[dict], float]:
    """Render `spec` (once per folder), run the panels with the scale from ``cmap`` or
    ``colorbar``, and measure."""
    from geodigitize.panels import run_panels

    truth = _render_cached(spec)
    folder = work / spec.name
    folder.mkdir(parents=True, exist_ok=True)
    png = folder / f"{spec.name}.png"
    Image.fromarray(np.ascontiguousarray(truth.image)).save(png)
    gcps = folder / "gcps.csv"
    gcps.write_text(
        "col,row,lon,lat\n"
        + "".join(f"{c:.4f},{r:.4f},{lo:g},{la:g}\n" for c, r, lo, la in gcp_rows(truth))
    )
    options = {"vmin": spec.vmin, "vmax": spec.vmax}
    if scale == "colorbar":
        options["colorbar"] = "auto"
    elif scale == "box":  # the bar's true box, 2 px inside its outline across the bar
        x0, y0, x1, y1 = truth.colorbar
        if x1 - x0 < y1 - y0:
            x0, x1 = np.ceil(x0) + 2, np.floor(x1) - 2
        else:
            y0, y1 = np.ceil(y0) + 2, np.floor(y1) - 2
        options["colorbar"] = ",".join(f"{v:.3f}" for v in (x0, y0, x1, y1))
    elif truth.cmap_file:
        shutil.copy(truth.cmap_file, folder / "fig.cpt")
        options = {"cmap_file": str(folder / "fig.cpt")}
    else:
        options["cmap"] = spec.cmap
    out = folder / f"out_{scale}"
    start = time.perf_counter()
    run, _ = run_panels(png, out, gcps=gcps, panels="auto", overwrite=True, **options)
    seconds = time.perf_counter() - start
    return measure(spec, truth, run, out, options), seconds


@functools.lru_cache(maxsize=1)
def _render_cached(spec) -> PanelTruth:
    return render_gmt(spec) if isinstance(spec, GmtPanelSpec) else render(spec)


# --- a GMT 6 figure: four grdimage panels and one psscale on one page ---------------------
GMT_EXTENT = (-180.0, 180.0, -72.0, 72.0)


@dataclass(frozen=True)
class GmtPanelSpec:
    """A 2 x 2 GMT figure (classic mode, plate carree ``-JQ``), one CPT, one colorbar."""

    name: str
    seed: int
    cpt: str = "turbo"
    vmin: float = 0.0
    vmax: float = 30.0
    dpi: int = 100
    width_in: float = 3.6
    cell_deg: float = 1.0


def _gmt(args: list[str], cwd: Path) -> bytes:
    res = subprocess.run(["gmt", *args], cwd=cwd, capture_output=True, check=False)
    if res.returncode:
        raise RuntimeError(f"gmt {' '.join(args)} failed: {res.stderr[-2000:].decode()}")
    return res.stdout


def _gmt_origins(spec: GmtPanelSpec) -> tuple[list[tuple[float, float]], float, tuple]:
    """Each panel's origin (inches from the page's bottom-left), the map height, the page."""
    w, e, s, n = GMT_EXTENT
    width = spec.width_in
    height = width * (n - s) / (e - w)
    origins = [
        (0.8 + c * (width + 0.9), 0.7 + (1 - r) * (height + 0.7)) for r in (0, 1) for c in (0, 1)
    ]
    page = (0.8 + 2 * width + 0.9 + 1.4, 0.7 + 2 * height + 0.9 + 0.6)
    return origins, height, page


def _gmt_layers(spec: GmtPanelSpec, origins, height: float) -> dict[str, list[list[str]]]:
    """The commands drawing each layer, each with its absolute shift."""
    w, e, s, n = GMT_EXTENT
    r, j = f"-R{w:g}/{e:g}/{s:g}/{n:g}", f"-JQ0/{spec.width_in}i"
    fonts = ["--FONT_ANNOT_PRIMARY=9p,Helvetica", "--FONT_TITLE=12p,Helvetica", "--FONT_LABEL=10p"]
    white_font = [f"{f},white" if "," in f else f"{f},Helvetica,white" for f in fonts]
    white_pen = [
        "--MAP_FRAME_PEN=white",
        "--MAP_TICK_PEN_PRIMARY=white",
        "--MAP_GRID_PEN_PRIMARY=white",
        "--MAP_DEFAULT_PEN=white",
    ]
    grid_pen = "--MAP_GRID_PEN_PRIMARY=0.25p,40/40/40,-"
    layers: dict[str, list[list[str]]] = {
        k: [] for k in ("full", "field", "lines", "text", "colorbar")
    }
    for k, (x, y) in enumerate(origins):
        at = [f"-Xa{x:g}i", f"-Ya{y:g}i"]
        grd = ["grdimage", f"grid{k}.nc", r, j, "-Cfig.cpt", *at]
        coast = ["pscoast", r, j, "-Dc", "-W0.5p,black", "-A5000", *at]
        base = [
            "psbasemap",
            r,
            j,
            "-Bxa60g60",
            "-Bya30g30",
            f"-BWSne+tmodel {k + 1}",
            grid_pen,
            *at,
        ]
        base = [*base[:1], *fonts, *base[1:]]
        label = ["pstext", r, j, "-F+cTL+f10p,Helvetica-Bold", "-D0.06i/-0.06i", *at]
        text = f"{LABELS[k]}\n"
        layers["full"] += [grd, coast, base, [*label, text]]
        layers["field"].append(grd)
        layers["lines"] += [coast, [*base, *white_font]]
        layers["text"] += [[*base, *white_pen], [*label, text]]
    x_bar = origins[1][0] + spec.width_in + 0.3
    bar = [
        "psscale",
        "-Cfig.cpt",
        f"-Dx0i/0i+w{2 * height + 0.9:g}i/0.15i+v",
        "-Bxaf+ltemperature",
        *fonts,
    ]
    bar += [f"-Xa{x_bar:g}i", f"-Ya{origins[2][1]:g}i"]
    layers["full"].append(bar)
    layers["lines"].append([*bar, *white_font])
    layers["text"].append([*bar, *white_pen])
    layers["colorbar"].append([*bar, *white_pen, *white_font])
    return layers


def _gmt_render(cmds: list[list[str]], cwd: Path, page, dpi: int, name: str) -> np.ndarray:
    media = f"--PS_MEDIA={page[0]:g}ix{page[1]:g}i"
    ps = []
    for k, cmd in enumerate(cmds):
        text = cmd[-1] if cmd[0] == "pstext" else None
        args = cmd[:-1] if text is not None else cmd
        flags = ([] if k == 0 else ["-O"]) + ([] if k == len(cmds) - 1 else ["-K"])
        first = ["--MAP_ORIGIN_X=0i", "--MAP_ORIGIN_Y=0i", "-P"] if k == 0 else []
        full = ["gmt", *args, media, *flags, *first]
        res = subprocess.run(
            full, cwd=cwd, capture_output=True, input=(text or "").encode(), check=False
        )
        if res.returncode:
            raise RuntimeError(f"{' '.join(full)} failed: {res.stderr[-2000:].decode()}")
        ps.append(res.stdout)
    (cwd / f"{name}.ps").write_bytes(b"".join(ps))
    _gmt(["psconvert", f"{name}.ps", "-Tg", f"-E{dpi}"], cwd)
    with Image.open(cwd / f"{name}.png") as im:
        return np.array(im.convert("RGB"))


def render_gmt(spec: GmtPanelSpec) -> PanelTruth:
    """The GMT figure and the truth of every pixel (as :mod:`benchmarks._gmt_figures`
    derives it: a layer's pixels are those not pure white when it is drawn alone)."""
    from benchmarks._gmt_figures import cpt_colours, read_cpt

    w, e, s, n = GMT_EXTENT
    cs = spec.cell_deg
    glon, glat = np.meshgrid(np.arange(w + cs / 2, e, cs), np.arange(s + cs / 2, n, cs))
    cells = [
        Field(100 * spec.seed + k, spec.vmin + 0.3, spec.vmax - 0.3, GMT_EXTENT)(glon, glat)
        for k in range(4)
    ]
    origins, height_in, page = _gmt_origins(spec)
    keep = Path(tempfile.mkdtemp(prefix="gmt_panels_"))
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        for k, vals in enumerate(cells):
            np.column_stack([glon.ravel(), glat.ravel(), vals.ravel()]).astype("<f8").tofile(
                tmp / "xyz.bin"
            )
            r = f"-R{w:g}/{e:g}/{s:g}/{n:g}"
            _gmt(["xyz2grd", "xyz.bin", "-bi3d", r, f"-I{cs:g}", "-r", "-fg", f"-Ggrid{k}.nc"], tmp)
        cpt = _gmt(["makecpt", f"-C{spec.cpt}", "-Fr", f"-T{spec.vmin:g}/{spec.vmax:g}"], tmp)
        (tmp / "fig.cpt").write_bytes(cpt)
        shutil.copy(tmp / "fig.cpt", keep / "fig.cpt")
        images = {
            name: _gmt_render(cmds, tmp, page, spec.dpi, name)
            for name, cmds in _gmt_layers(spec, origins, height_in).items()
        }
    image = images["full"]
    height, width = image.shape[:2]
    dpi = spec.dpi
    frames = [
        (x * dpi, height - (y + height_in) * dpi, (x + spec.width_in) * dpi, height - y * dpi)
        for x, y in origins
    ]
    touched = {k: (v < 255).any(axis=2) for k, v in images.items()}
    rows, cols = np.mgrid[0:height, 0:width]
    insides = []
    for x0, y0, x1, y1 in frames:
        inside = (cols >= np.ceil(x0 - 1e-6)) & (cols + 1 <= np.floor(x1 + 1e-6))
        inside &= (rows >= np.ceil(y0 - 1e-6)) & (rows + 1 <= np.floor(y1 + 1e-6))
        insides.append(inside)
    kind = classify(
        {
            DATA: np.any(insides, axis=0) & touched["field"],
            COLORBAR: touched["colorbar"],
            LINE: touched["lines"] & ~touched["colorbar"],
            TEXT: touched["text"] & ~touched["colorbar"],
        },
        (height, width),
    )
    ends, colours = read_cpt(keep / "fig.cpt")
    step = (spec.vmax - spec.vmin) / 256
    values = []
    for (x0, y0, x1, y1), inside, vals in zip(frames, insides, cells, strict=True):
        lon = w + (cols + 0.5 - x0) / (x1 - x0) * (e - w)
        lat = n - (rows + 0.5 - y0) / (y1 - y0) * (n - s)
        j = np.clip(((lon - w) // cs).astype(int), 0, vals.shape[1] - 1)
        i = np.clip(((lat - s) // cs).astype(int), 0, vals.shape[0] - 1)
        value = vals[i, j]
        data = inside & (kind == DATA)
        expected = np.stack(
            [cpt_colours(value[data] + d * step, ends, colours) for d in (-1, 0, 1)]
        )
        ok = colour_consistent(image[data], expected)
        kind.ravel()[np.flatnonzero(data.ravel())[~ok]] = MIXED
        data = inside & (kind == DATA)
        values.append(np.where(data, value, np.nan))
    ys, xs = np.nonzero(touched["colorbar"])  # the ramp alone: pens and fonts white
    bar = (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))
    return PanelTruth(image, kind, frames, values, GMT_EXTENT, str(keep / "fig.cpt"), bar)


def _ok(row: dict) -> bool:
    return (
        row["data_pct"] >= TARGETS["data"]
        and row["median_pct"] <= TARGETS["median"]
        and row["overlay_pct"] <= TARGETS["overlay"]
        and row["outside_px"] <= TARGETS["outside"]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "panels_bench")
    parser.add_argument("--scale", choices=("cmap", "colorbar", "box", "all"), default="all")
    args = parser.parse_args(argv)
    scales = ("cmap", "colorbar", "box") if args.scale == "all" else (args.scale,)
    print(
        "| figure | scale | panel | frame err px | data px | data decoded % | ... one map, "
        "true frame % | px decoded differently | median err % range | line + text decoded % "
        "| outside frame px | "
        "georef err px (max) | targets |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    failed = 0
    for spec in specs(args.seed):
        for scale in scales:
            try:
                table, seconds = run_figure(spec, args.out, scale)
            except Exception as exc:  # a refusal is a result too
                print(f"| {spec.name} | {scale} | - | refused: {exc} |")
                failed += 1
                continue
            for row in table:
                ok = _ok(row)
                failed += not ok
                print(
                    f"| {spec.name} | {scale} | {row['panel']} | {row['frame_err_px']:.1f} | "
                    f"{row['data_px']:,} | {row['data_pct']:.2f} | {row['alone_pct']:.2f} | "
                    f"{row['alone_diff_px']} | "
                    f"{row['median_pct']:.3f} | "
                    f"{row['overlay_pct']:.2f} | {row['outside_px']} | {row['georef_px']:.4f} | "
                    f"{'met' if ok else 'MISSED'} |"
                )
            print(f"|  | {scale} | all | {seconds:.1f} s |", file=sys.stderr)
    print(f"\n{failed} panel(s) missing a target")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
