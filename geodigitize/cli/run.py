"""``geodigitize run``: one image to points.gpkg, grid.tif and report.json."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from ..mask import JPEG_FORMATS
from ..pdf import DEFAULT_DPI
from ..pipeline import Extraction, Options
from ..pipeline import run as run_pipeline
from ._app import app
from ._common import (
    check_progress_mode,
    cli_errors,
    console,
    err_console,
    parse_distance,
    parse_floats,
    progress_display,
)
from .gcps import check_save_points

_SCALE = "Colour scale"
_MASK = "Masking"
_REDUCE = "Reduction"
_GEO = "Georeferencing"
_OUT = "Output"
_PDF = "PDF input"

#: The library's defaults, which the options below show and use.
DEFAULTS = Options()


@app.command()
def run(
    image: Annotated[
        Path, typer.Argument(help="Map image (PNG, JPEG, TIFF, BMP, GIF) or a PDF page.")
    ],
    gcps: Annotated[
        Path | None,
        typer.Option(
            "--gcps",
            help="GCP file: CSV with header col,row,lon,lat, or a QGIS "
            ".points file. Without it, the image's world file or GeoTIFF "
            "georeference, else the frame's lon/lat tick labels (the ocr extra).",
            rich_help_panel=_GEO,
        ),
    ] = None,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Output folder.", rich_help_panel=_OUT)
    ] = Path("result"),
    cmap: Annotated[
        str | None,
        typer.Option(help="matplotlib colormap name, e.g. jet_r.", rich_help_panel=_SCALE),
    ] = None,
    vmin: Annotated[
        float | None, typer.Option(help="Value at the colormap's start.", rich_help_panel=_SCALE)
    ] = None,
    vmax: Annotated[
        float | None, typer.Option(help="Value at the colormap's end.", rich_help_panel=_SCALE)
    ] = None,
    norm: Annotated[
        str, typer.Option(help="linear, log or twoslope.", rich_help_panel=_SCALE)
    ] = DEFAULTS.norm,
    vcenter: Annotated[
        float | None,
        typer.Option(help="Centre value for --norm twoslope.", rich_help_panel=_SCALE),
    ] = None,
    levels: Annotated[
        str | None,
        typer.Option(help="Class edges a,b,c,... for discrete classes.", rich_help_panel=_SCALE),
    ] = None,
    colorbar: Annotated[
        str | None,
        typer.Option(
            help="Colorbar box x0,y0,x1,y1 (pixels) to sample the scale from, or 'auto'.",
            rich_help_panel=_SCALE,
        ),
    ] = None,
    colorbar_flip: Annotated[
        bool, typer.Option(help="The colorbar runs from vmax to vmin.", rich_help_panel=_SCALE)
    ] = False,
    cmap_file: Annotated[
        str | None,
        typer.Option(
            help="Colour table file (CSV value,r,g,b, QGIS ramp, GMT .cpt).", rich_help_panel=_SCALE
        ),
    ] = None,
    samples: Annotated[
        int, typer.Option(help="Values sampled along the colormap.", rich_help_panel=_SCALE)
    ] = DEFAULTS.samples,
    shaded: Annotated[
        str | None,
        typer.Option(
            help="The figure is hillshaded: decode each colour at any illumination, "
            "blended as soft, overlay, hsv (matplotlib's LightSource), multiply, or gmt "
            "(GMT's grdimage -I).",
            rich_help_panel=_SCALE,
        ),
    ] = DEFAULTS.shaded,
    color_space: Annotated[
        str, typer.Option(help="Colour distance in rgb or lab.", rich_help_panel=_MASK)
    ] = DEFAULTS.color_space,
    max_distance: Annotated[
        str,
        typer.Option(
            help="Pixels farther than this from the scale are not data (colour-space "
            "units); 'auto' takes max(8, 12 x the median distance of the frame's pixels).",
            rich_help_panel=_MASK,
        ),
    ] = DEFAULTS.max_distance,
    halo_distance: Annotated[
        str,
        typer.Option(
            help="Pixels touching off-scale or excluded pixels must be this close to the "
            "scale, and of a colour also found away from them (antialiased line halos); "
            "'auto' takes max(0.5, 1.5 x the median distance); a negative value turns it "
            "off.",
            rich_help_panel=_MASK,
        ),
    ] = DEFAULTS.halo_distance,
    consistency: Annotated[
        float,
        typer.Option(
            help="Largest RGB distance between a pixel and the colour of its "
            "neighbourhood's median value; antialiased mixtures of lines and text "
            "fail it. 0 turns the check off.",
            rich_help_panel=_MASK,
        ),
    ] = DEFAULTS.consistency,
    exclude_color: Annotated[
        str | None,
        typer.Option(
            help="Never decode these colours nor their antialiased halo: names, "
            "hex or grey levels, e.g. black,white,#cccccc.",
            rich_help_panel=_MASK,
        ),
    ] = None,
    exclude_tol: Annotated[
        float | None,
        typer.Option(
            help="Distance within which a pixel is an excluded colour "
            "(default 24 in rgb, 8 in lab).",
            rich_help_panel=_MASK,
        ),
    ] = None,
    smoothness: Annotated[
        float | None,
        typer.Option(
            help="Mask pixels departing from their neighbours' median value by more "
            "than this many times the image's typical local variation (default 4 "
            "for JPEG, off otherwise; 0 turns it off). While on, pixels masked for their "
            "colour are decoded again where JPEG's chroma subsampling and ringing explain "
            "it; both need the whole image in memory (about 130 bytes a pixel).",
            rich_help_panel=_MASK,
        ),
    ] = None,
    region: Annotated[
        list[str] | None,
        typer.Option(
            help="Map frame x0,y0,x1,y1 in pixels (GDAL convention); pixels whose "
            "centre is outside are ignored. 'auto' finds the frame from the axes' spines. "
            "Given more than once: the frames of a figure's panels (see --panels).",
            rich_help_panel=_MASK,
        ),
    ] = None,
    panels: Annotated[
        str | None,
        typer.Option(
            help="A figure of several maps sharing one colour scale: 'auto' finds every "
            "map frame, N finds exactly N, or the frames themselves as "
            "'x0,y0,x1,y1;x0,y0,x1,y1;...' (or each with a repeated --region). "
            "Each panel is written to OUT/panel1/, OUT/panel2/ ... in reading order (rows "
            "top to bottom, left to right), with OUT/panels.json and panels.csv. GCPs are "
            "figure pixels; a 'panel' column (1-based) says whose each is, else the panel "
            "whose frame it is on.",
            rich_help_panel=_MASK,
        ),
    ] = None,
    same_map: Annotated[
        bool,
        typer.Option(
            help="With --panels: every panel shows the same map (extent, projection); GCPs "
            "given on panel 1 are carried to the others by their frames.",
            rich_help_panel=_GEO,
        ),
    ] = False,
    flat_tol: Annotated[
        float,
        typer.Option(help="Largest value step still counted as flat.", rich_help_panel=_REDUCE),
    ] = DEFAULTS.flat_tol,
    eps: Annotated[
        float, typer.Option(help="DBSCAN radius in pixels.", rich_help_panel=_REDUCE)
    ] = DEFAULTS.eps,
    min_samples: Annotated[
        int, typer.Option(help="DBSCAN core-point count.", rich_help_panel=_REDUCE)
    ] = DEFAULTS.min_samples,
    target_error: Annotated[
        str | None,
        typer.Option(
            help="Keep the fewest points whose reconstruction's median error "
            "meets this, e.g. 0.5% (of vmax - vmin).",
            rich_help_panel=_REDUCE,
        ),
    ] = None,
    contours: Annotated[
        bool,
        typer.Option(
            help="Add isolines (class edges, or round levels) as a "
            "'contours' layer of points.gpkg.",
            rich_help_panel=_OUT,
        ),
    ] = False,
    contour_levels: Annotated[
        str | None,
        typer.Option(help="Isoline levels a,b,c,... (implies --contours).", rich_help_panel=_OUT),
    ] = None,
    preview: Annotated[
        str | None,
        typer.Option(
            help="Draw a preview PNG (input, decoded, mask, points, "
            "reconstruction, error); a bare name goes into --out.",
            rich_help_panel=_OUT,
        ),
    ] = None,
    transform: Annotated[
        str,
        typer.Option(
            help="Pixel-to-map transform: helmert, affine, projective, poly2, poly3, tps or auto.",
            rich_help_panel=_GEO,
        ),
    ] = DEFAULTS.transform,
    crs: Annotated[
        str | None,
        typer.Option(help="CRS the map is drawn in (EPSG code, PROJ, WKT).", rich_help_panel=_GEO),
    ] = None,
    gcp_crs: Annotated[
        str | None,
        typer.Option(
            help="CRS of the GCPs' map positions (default: a .points file's #CRS, else EPSG:4326).",
            rich_help_panel=_GEO,
        ),
    ] = None,
    save_points: Annotated[
        Path | None,
        typer.Option(
            help="Also write the GCPs with their residuals as a QGIS .points file.",
            rich_help_panel=_GEO,
        ),
    ] = None,
    out_crs: Annotated[
        str, typer.Option(help="CRS of points.gpkg.", rich_help_panel=_OUT)
    ] = DEFAULTS.out_crs,
    max_pixels: Annotated[
        int, typer.Option(help="Refuse larger images (decompression-bomb guard).")
    ] = DEFAULTS.max_pixels,
    page: Annotated[
        int, typer.Option(help="Page of a PDF to read (1 is the first).", rich_help_panel=_PDF)
    ] = DEFAULTS.page,
    dpi: Annotated[
        float | None,
        typer.Option(
            help="Resolution of pixel positions measured on a PDF page (GCPs, --region, "
            f"--colorbar), and of its rendering (default {DEFAULT_DPI:g} when no position "
            "is given in pixels).",
            rich_help_panel=_PDF,
        ),
    ] = DEFAULTS.dpi,
    pdf_image: Annotated[
        str,
        typer.Option(
            help="'render' the page; 'largest' or N: take that embedded image with its own "
            "pixels; 'auto': the largest image when it is the map's field, else render.",
            rich_help_panel=_PDF,
        ),
    ] = str(DEFAULTS.pdf_image),
    pdf_password: Annotated[
        str | None, typer.Option(help="Password of an encrypted PDF.", rich_help_panel=_PDF)
    ] = DEFAULTS.pdf_password,
    gcp_units: Annotated[
        str,
        typer.Option(
            help="Units of positions measured on a PDF page: pixels (at --dpi) or points "
            "(1/72 inch, from the page's top-left corner).",
            rich_help_panel=_PDF,
        ),
    ] = DEFAULTS.gcp_units,
    overwrite: Annotated[
        bool, typer.Option(help="Replace existing outputs.", rich_help_panel=_OUT)
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print no summary.")] = False,
    progress: Annotated[
        str,
        typer.Option(
            help="How stages are shown on stderr: 'auto' (a spinner on a terminal) or "
            "'json' (one JSON line per stage start and end, for programs).",
            callback=check_progress_mode,
        ),
    ] = "auto",
) -> None:
    """Decode a colour-mapped map image into georeferenced points and a GeoTIFF.

    Writes points.gpkg (one point per flat cluster), grid.tif (every decoded pixel) and
    report.json (parameters, counts, GCP residuals, reconstruction check) into --out.
    """
    values = {k: v for k, v in locals().items() if k not in NOT_OPTIONS}
    hint = lambda: memory_hint(image, samples, ";".join(region or []) or None, smoothness)  # noqa: E731
    if panels is not None or same_map or len(region or []) > 1:
        with cli_errors(memory_hint=hint):
            _run_panels(image, out, gcps, values, overwrite, quiet, progress, save_points)
        return
    with cli_errors(memory_hint=hint), progress_display(not quiet, progress) as stages:
        check_save_points(save_points, gcps, overwrite)
        result, paths = run_pipeline(
            image,
            out,
            gcps=gcps,
            overwrite=overwrite,
            progress=stages,
            save_points=save_points,
            options=options_from_cli(**values),
        )
    if not quiet:
        _summary(result, {k: v for k, v in paths.items() if k != str(save_points)})
        if save_points is not None:
            console.print(f"wrote the GCPs with their residuals to {save_points}", highlight=False)


def _run_panels(image, out, gcps, values, overwrite, quiet, progress, save_points) -> None:
    """A figure of several panels (:mod:`geodigitize.cli.panels`)."""
    from .panels import run_panel_figure

    regions, panels = values.pop("region") or [], values.pop("panels")
    same_map = values.pop("same_map")
    if len(regions) > 1 and panels is not None:
        raise typer.BadParameter("give the panels' frames as repeated --region, or --panels")
    if save_points is not None:
        raise typer.BadParameter("--save-points is not written for panels: run one panel alone")
    if len(regions) == 1:
        values["region"] = regions[0]  # refused by the panel run, naming --panels
    run_panel_figure(
        image,
        out,
        gcps=gcps,
        panels=regions if len(regions) > 1 else (panels or "auto"),
        same_map=same_map,
        overwrite=overwrite,
        quiet=quiet,
        progress=progress,
        options=options_from_cli(**values),
    )


def memory_hint(
    image: Path, samples: int, region: str | None, smoothness: float | None = None
) -> str:
    """What to say after "out of memory" in a run: the image's size and the options that
    weigh, and what to change (the cause is a guess: the image is not always it)."""
    from PIL import Image

    said, whole = [], smoothness not in (None, 0)
    try:
        with Image.open(image) as pil:
            said.append(f"image of {pil.size[0] * pil.size[1] / 1e6:.1f} MP")
            whole |= smoothness is None and pil.format in JPEG_FORMATS
    except Exception:
        pass
    if samples != DEFAULTS.samples:
        said.append(f"--samples {samples}")
    said.append(f"--region {region}" if region else "no --region")
    if whole:  # one strip: see geodigitize.mask.context_rows
        return (
            f" ({', '.join(said)}, the smoothness check on): JPEG restoration and the "
            "smoothness check hold the whole image in memory; --smoothness 0 turns them "
            "off, and the image is then read in strips"
        )
    return f" ({', '.join(said)}): try --region, fewer --samples, or a smaller image"


#: run's parameters that are not options of the map (batch has its own of these).
NOT_OPTIONS = ("image", "gcps", "out", "overwrite", "quiet", "save_points", "progress")


def options_from_cli(**values) -> Options:
    """:class:`Options` from the command line's values (run's and batch's).

    Parses what the command line keeps as text: lists of levels, distances that may be
    ``auto``, and 0 meaning "no consistency check".
    """
    region = values.get("region")
    if isinstance(region, list):  # run's --region may be repeated (panels)
        if len(region) > 1:
            raise typer.BadParameter(
                "--region is one frame: several are the panels of one figure (geodigitize "
                "run --panels)"
            )
        values["region"] = region[0] if region else None
    values.pop("panels", None)
    values.pop("same_map", None)
    values["levels"] = parse_floats(values.get("levels"), "--levels")
    values["contour_levels"] = parse_floats(values.get("contour_levels"), "--contour-levels")
    values["max_distance"] = parse_distance(values["max_distance"], "--max-distance")
    values["halo_distance"] = parse_distance(
        values["halo_distance"], "--halo-distance", can_be_off=True
    )
    values["consistency"] = values.get("consistency") or None
    return Options(**values)


def _inputs(result: Extraction, counts: dict) -> list[str]:
    """Lines saying how the input was read, when that changed anything (`counts`:
    :meth:`Extraction.counts`)."""
    said = []
    if result.source is not None:
        said.append(f"read {result.source.describe()}")
    inferred = result.options.extra.get("inferred")
    if inferred:
        said.append(f"read from the figure: {'; '.join(inferred['summary'])}")
    if result.image.corrections:
        said.append(f"read as a viewer shows it: {'; '.join(result.image.corrections)}")
    shading = result.scale.extra.get("shading")
    if shading is not None:
        said.append(
            f"shaded relief ({shading['blend']}): "
            f"{counts['masked_by_reason'].get('ambiguous', 0):,} pixels of "
            "ambiguous shading masked"
        )
    return said


def _summary(result: Extraction, paths: dict[str, Path]) -> None:
    counts = result.counts()
    check = result.check
    geo = result.georef
    console.print(
        f"[bold]{Path(result.image.path).name}[/]: {counts['pixels']:,} pixels, "
        f"{counts['data']:,} decoded ({counts['masked']:,} masked), "
        f"{counts['flat']:,} flat, {counts['points']:,} points"
    )
    for said in _inputs(result, counts):
        console.print(said, highlight=False)
    fit = geo.summary() if len(geo.gcps) else f"georeference from the image's {geo.origin}"
    if geo.selection:
        console.print(f"transform: {geo.selection['reason']}", highlight=False)
    for warning in (*geo.warnings, *result.warnings()):
        err_console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)
    console.print(
        f"{fit}; "
        f"reconstruction error median {check.median_pct:.3f} %, "
        f"95th percentile {check.p95_pct:.3f} % of the range"
    )
    if result.refinement is not None and not result.refinement.met:
        console.print(
            f"[yellow]warning:[/] --target-error {result.refinement.target_pct:g}% was not "
            "reached; kept the reduction with the lowest error (see report.json)"
        )
    folder = next(iter(paths.values())).parent
    console.print(f"wrote {', '.join(paths)} to {folder}/")
