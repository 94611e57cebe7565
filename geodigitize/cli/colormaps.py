"""``geodigitize colormaps``: list the colormap names ``--cmap`` accepts."""

from __future__ import annotations

from typing import Annotated

import typer

from ..catalogue import SOURCES, list_colormaps
from ._app import app
from ._common import cli_errors, console, fail


@app.command()
def colormaps(
    source: Annotated[
        str | None,
        typer.Option("--source", help=f"Only this source: {', '.join(SOURCES)}."),
    ] = None,
    search: Annotated[
        str | None, typer.Option("--search", help="Only names containing this text.")
    ] = None,
) -> None:
    """List the colormaps --cmap knows: name, source, colours, continuous or discrete.

    A name is looked up in the sources in the order listed (matplotlib, cmocean, Crameri,
    GMT, NCL) and the first that has it wins, ignoring case; add _r to reverse any map,
    and a prefix (mpl., cmo., cmc., gmt., ncl.) to pick the source of a shared name.
    """
    with cli_errors():
        found = list_colormaps(source=source, search=search)
    if not found:
        raise fail("no colormap matches: try a shorter --search or no --source", 3)
    width = max(len(info.name) for info in found)
    for info in found:
        console.print(
            f"{info.name:<{width}}  {info.source:<10}  {info.n_colors:>4} colours  {info.kind}",
            highlight=False,
            soft_wrap=True,
        )
