"""``geodigitize gcps``: fit GCPs and report each one's residual and leave-one-out error."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import numpy as np
import typer

from ..errors import GCPError
from ..gcps import read_gcps, write_points
from ..georef import Georeference, from_georeferenced_image, georeference
from ..image import DEFAULT_MAX_PIXELS, read_image
from ..io import OutputSet, check_outputs
from ..preview import check_preview_path, plot_gcps
from ..transforms import AUTO_TOLERANCE_PX
from ._app import app
from ._common import cli_errors, console

if TYPE_CHECKING:
    from rich.table import Table

__all__ = ["check_save_points", "gcps_report", "save_gcps_points"]


def check_save_points(target: Path | None, gcps: Path | None, overwrite: bool) -> None:
    """Refuse ``--save-points`` without ``--gcps``, into a missing or read-only folder, or
    over a file without ``--overwrite`` (before any work)."""
    if target is None:
        return
    if gcps is None:
        raise GCPError("--save-points needs --gcps: there are no GCPs to save")
    check_outputs(None, [], overwrite=overwrite, outside=[target])


def save_gcps_points(
    gcps: Path | None, gcp_crs: str | None, target: Path | None, geo: Georeference
) -> Path | None:
    """Write the GCP file's points (all of them) as QGIS .points with `geo`'s residuals."""
    if target is None or gcps is None:
        return None
    return write_points(read_gcps(gcps, crs=gcp_crs), target, georef=geo)


def _fmt(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def gcps_report(geo: Georeference) -> tuple[Table, list[str]]:
    """The per-GCP table and the summary lines of a fit."""
    from rich.table import Table  # here: see _progress in cli/batch.py

    report = geo.to_dict()
    worst = report["worst_gcp"]
    table = Table(
        title=f"GCPs ({report['transform']}, fitted in {_short(geo.crs)})",
        caption="residuals in pixels and in map units; leave-one-out: the error "
        "of each GCP predicted without it",
    )
    for name in ("id", "col", "row", "x", "y", "resid. px", "resid. map", "LOO px", ""):
        table.add_column(name, justify="left" if name == "id" else "right", no_wrap=True)
    for i, r in enumerate(report["residuals"]):
        flag = "worst" if worst and worst["index"] == i and worst["stands_out"] else ""
        table.add_row(
            r["id"],
            f"{r['col']:.2f}",
            f"{r['row']:.2f}",
            f"{r['x']:.7g}",
            f"{r['y']:.7g}",
            _fmt(r["residual_px"]),
            f"{r['residual_map']:.3g}",
            _fmt(r["loo_px"]),
            f"[bold red]{flag}[/]" if flag else "",
        )
    lines = [
        f"RMSE {_fmt(report['rmse_px'])} px; QGIS mean error {_fmt(report['mean_error_px'])} "
        f"px (n - {report['min_gcps']} degrees of freedom); leave-one-out RMSE "
        f"{_fmt(report['loo_rmse_px'])} px",
    ]
    if report["roundtrip_error_px"] is not None:
        lines.append(
            f"inverse round-trip error up to {_fmt(report['roundtrip_error_px'], 4)} "
            "px over the image (the inverse is fitted separately)"
        )
    if report["auto"]:
        lines.append(f"auto: {report['auto']['reason']}")
    if worst and worst["stands_out"]:
        lines.append(
            f"GCP {worst['id']} stands out: {worst['measure']} error {worst['error_px']:.3f} "
            f"px against a median of {worst['others_median_px']:.3f} px for the others; "
            f"check it"
        )
    if report["geotransform"]:
        lines.append("geotransform " + ", ".join(f"{v:.10g}" for v in report["geotransform"]))
    return table, lines


def _short(crs: str) -> str:
    return crs if len(crs) < 40 else crs[:37] + "..."


@app.command("gcps")
def gcps_command(
    image: Annotated[Path, typer.Argument(help="Map image the GCPs were read off.")],
    gcps: Annotated[
        Path | None,
        typer.Option(
            "--gcps",
            help="GCP file: CSV (col,row,lon,lat) or QGIS .points. "
            "Without it, the image's own GCPs or world file.",
        ),
    ] = None,
    transform: Annotated[
        str, typer.Option(help="helmert, affine, projective, poly2, poly3, tps or auto.")
    ] = "affine",
    crs: Annotated[
        str | None, typer.Option(help="CRS the map is drawn in (EPSG code, PROJ, WKT).")
    ] = None,
    gcp_crs: Annotated[
        str | None,
        typer.Option(help="CRS of the GCPs (default: a .points file's #CRS, else EPSG:4326)."),
    ] = None,
    tolerance: Annotated[
        float, typer.Option(help="Reading error in pixels that auto accepts.")
    ] = AUTO_TOLERANCE_PX,
    save_points: Annotated[
        Path | None, typer.Option(help="Write the GCPs and residuals as QGIS .points.")
    ] = None,
    plot: Annotated[
        Path | None,
        typer.Option(help="Draw the GCPs with their residual arrows on the image (PNG)."),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option(help="Replace the files of --save-points and --plot.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    max_pixels: Annotated[
        int, typer.Option(help="Refuse larger images (decompression-bomb guard).")
    ] = DEFAULT_MAX_PIXELS,
) -> None:
    """Fit a transform to GCPs and report each GCP's residual and leave-one-out error."""
    with cli_errors():
        check_save_points(save_points, gcps, overwrite)
        if plot is not None:
            check_preview_path(plot, overwrite=overwrite)
        img = read_image(image, max_pixels)
        shape = img.shape
        if gcps is not None:
            geo = georeference(
                read_gcps(gcps, crs=gcp_crs), shape, kind=transform, crs=crs, tolerance=tolerance
            )
        else:
            geo = from_georeferenced_image(image, crs, kind=transform)
            if geo is None:
                raise GCPError(
                    f"{image.name} carries no georeference: give --gcps FILE (CSV "
                    f"col,row,lon,lat or a QGIS .points file)"
                )
        writers = {}
        if save_points is not None:
            writers[save_points] = lambda p: write_points(
                read_gcps(gcps, crs=gcp_crs), p, georef=geo
            )
        if plot is not None:
            writers[plot] = lambda p: plot_gcps(img.rgb, geo, p)
        with OutputSet(None, outside=list(writers), overwrite=overwrite) as outputs:
            outputs.write(writers)
            outputs.commit()
    if as_json:
        typer.echo(json.dumps(geo.to_dict(), indent=2, allow_nan=False))
        return
    table, lines = gcps_report(geo)
    console.print(table)
    for line in lines:
        console.print(line, highlight=False)
    for written in (save_points, plot):
        if written is not None:
            console.print(f"wrote {written}", highlight=False)
