"""``geodigitize regrid``: interpolate a run's points onto a regular grid (a GeoTIFF)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..io import check_outputs
from ..regrid import METHODS, read_points
from ..regrid import regrid as regrid_points
from ._app import app
from ._common import cli_errors, console, parse_floats


@app.command()
def regrid(
    points: Annotated[Path, typer.Argument(help="points.gpkg from `geodigitize run`.")],
    res: Annotated[float, typer.Option(help="Cell size, in --out-crs units (degrees).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output GeoTIFF.")] = Path(
        "regridded.tif"
    ),
    method: Annotated[str, typer.Option(help=f"Interpolation: {', '.join(METHODS)}.")] = "linear",
    bounds: Annotated[
        str | None,
        typer.Option(
            help="Grid bounds W,S,E,N in --out-crs units (W > E crosses the "
            "antimeridian). Default: the points' extent."
        ),
    ] = None,
    crs: Annotated[
        str | None,
        typer.Option(
            help="Projected CRS in metres to interpolate in. Default: a local "
            "equal-area one centred on the points."
        ),
    ] = None,
    out_crs: Annotated[str, typer.Option(help="CRS of the output grid.")] = "EPSG:4326",
    max_distance: Annotated[
        float | None,
        typer.Option(help="Cells farther than this (metres) from any point are nodata."),
    ] = None,
    layer: Annotated[str, typer.Option(help="Layer holding the points.")] = "points",
    column: Annotated[str, typer.Option(help="Column holding the values.")] = "value",
    overwrite: Annotated[bool, typer.Option(help="Replace an existing --out.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing.")] = False,
) -> None:
    """Interpolate extracted points onto a regular grid and write it as a GeoTIFF.

    Points are interpolated in a metric CRS, never in raw degrees; cells outside the
    points' hull or farther than --max-distance from any point are nodata. Kriging
    writes its variance as a second band.
    """
    box = parse_floats(bounds, "--bounds")
    if box is not None and len(box) != 4:
        raise typer.BadParameter("--bounds must be four numbers W,S,E,N")
    with cli_errors():
        check_outputs(None, [], overwrite=overwrite, outside=[out])  # before any work
        lon, lat, values = read_points(points, layer=layer, column=column)
        result = regrid_points(
            lon,
            lat,
            values,
            res=res,
            bounds=box,
            method=method,
            crs=crs,
            max_distance=max_distance,
            out_crs=out_crs,
        )
        result.write(out, overwrite=overwrite)
    if not quiet:
        ny, nx = result.data.shape
        filled = int((result.data == result.data).sum())
        console.print(
            f"regridded {values.size:,} points with {method} onto {nx} x {ny} cells "
            f"({filled:,} with a value); wrote {out}"
        )
