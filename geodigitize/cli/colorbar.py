"""``geodigitize colorbar``: list the boxes in a figure that look like colorbars."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ..colorbar import find_colorbars
from ..image import read_image
from ._app import app
from ._common import cli_errors, console, fail


@app.command()
def colorbar(
    image: Annotated[Path, typer.Argument(help="Figure image (PNG, JPEG, TIFF, BMP, GIF).")],
    max_candidates: Annotated[int, typer.Option("--max", help="Most candidates to list.")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print the candidates as JSON.")] = False,
) -> None:
    """Find colorbars: long thin boxes whose colour changes along one axis only.

    Prints each candidate's box x0,y0,x1,y1 (pixel corners, GDAL convention: the bar's
    coloured area without its outline) and a score in 0-1, best first. `run --colorbar
    auto` uses the first.
    """
    with cli_errors():
        img = read_image(image)
        found = find_colorbars(img.rgb, max_candidates=max_candidates)
    if as_json:
        typer.echo(json.dumps([{"box": list(b), "score": s} for b, s in found]))
        if not found:
            raise typer.Exit(3)
        return
    if not found:
        raise fail(
            f"no colorbar found in {image.name}: give its box to run with --colorbar x0,y0,x1,y1",
            3,
        )
    for box, score in found:
        x0, y0, x1, y1 = box
        shape = "vertical" if (y1 - y0) >= (x1 - x0) else "horizontal"
        console.print(f"{x0:g},{y0:g},{x1:g},{y1:g}  score {score:.3f}  {shape}", highlight=False)
