"""``geodigitize batch``: many images, one result folder each, a summary table.

Takes every option of ``geodigitize run`` that describes the map (colour scale, masking,
reduction, georeferencing): they are copied from ``run``'s signature, so both commands
always offer the same ones with the same help.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Annotated

import typer

from ..batch import ImageResult, plan, run_batch, write_summary
from . import run as _run
from ._app import app
from ._common import cli_errors, console, err_console

_BATCH = "Batch"
#: run's parameters that batch defines itself (one per image there, many here) or lacks.
_OWN = (*_run.NOT_OPTIONS, "panels", "same_map")


def batch(
    images: Annotated[
        list[str],
        typer.Argument(help="Images or quoted glob patterns, e.g. 'scans/*.png'."),
    ],
    gcps: Annotated[
        Path | None,
        typer.Option(
            "--gcps",
            help="One GCP file (col,row,lon,lat) shared by every image.",
            rich_help_panel=_BATCH,
        ),
    ] = None,
    gcps_dir: Annotated[
        Path | None,
        typer.Option(
            "--gcps-dir",
            help="Folder with one GCP file per image, <stem>.csv.",
            rich_help_panel=_BATCH,
        ),
    ] = None,
    out: Annotated[
        Path,
        typer.Option(
            "--out", "-o", help="Root folder: one sub-folder per image.", rich_help_panel=_BATCH
        ),
    ] = Path("results"),
    workers: Annotated[
        int | None,
        typer.Option(
            help="Local worker processes (default: all cores).", min=1, rich_help_panel=_BATCH
        ),
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(
            help="Address of a running dask.distributed scheduler, e.g. "
            "tcp://host:8786 (instead of local processes).",
            rich_help_panel=_BATCH,
        ),
    ] = None,
    overwrite: Annotated[
        bool,
        typer.Option(
            help="Redo images whose outputs are complete (default: skip).", rich_help_panel=_BATCH
        ),
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing.")] = False,
    **options,
) -> None:
    """Run many map images with the same options, in parallel.

    Writes points.gpkg, grid.tif and report.json into OUT/<stem>/ for each image, and
    OUT/summary.csv with each image's counts, GCP RMSE and status. A failing image is
    listed with its error and does not stop the others; the exit code is 1 if any failed.
    """
    finished = "images finished before keep their outputs; the one in progress left nothing"
    with cli_errors(written=finished):
        opts = _run.options_from_cli(**options)
        items = plan(images, out, gcps=gcps, gcps_dir=gcps_dir)
        with _progress(not quiet, len(items)) as advance:
            results = run_batch(
                items,
                opts,
                overwrite=overwrite,
                workers=workers,
                scheduler=scheduler,
                on_result=advance,
            )
        summary = write_summary(results, Path(out) / "summary.csv")
    if not quiet:
        _table(results, summary)
    if any(r.status == "failed" for r in results):
        raise typer.Exit(1)


#: batch's --region: one frame for every image (run's may be repeated, for panels).
_REGION = Annotated[
    str | None,
    typer.Option(
        help="Map frame x0,y0,x1,y1 in pixels (GDAL convention) of every image; pixels whose "
        "centre is outside are ignored. 'auto' finds each image's frame.",
        rich_help_panel="Masking",
    ),
]


def _run_options() -> list[inspect.Parameter]:
    """run's map options, as keyword-only parameters of batch."""
    params = inspect.signature(_run.run, eval_str=True).parameters.values()
    return [
        p.replace(
            kind=inspect.Parameter.KEYWORD_ONLY,
            **({"annotation": _REGION} if p.name == "region" else {}),
        )
        for p in params
        if p.name not in _OWN
    ]


def _install_signature() -> None:
    own = [
        p
        for p in inspect.signature(batch, eval_str=True).parameters.values()
        if p.kind is not inspect.Parameter.VAR_KEYWORD
    ]
    params = own + _run_options()
    batch.__signature__ = inspect.Signature(params)
    batch.__annotations__ = {p.name: p.annotation for p in params}


_install_signature()
app.command()(batch)


class _progress:  # lower case: reads like a function in the with statement
    """A progress bar over images on stderr (nothing when disabled)."""

    def __init__(self, enabled: bool, total: int) -> None:
        # imported here: every command is registered at start-up, and rich's progress
        # and table modules (16 ms) would then be imported by every `geodigitize run`
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.bar = Progress(
            TextColumn("[bold]images"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[last]}"),
            TimeElapsedColumn(),
            console=err_console,
            transient=False,
            disable=not enabled,
        )
        self.task = self.bar.add_task("images", total=total, last="")

    def __enter__(self):
        self.bar.start()
        return self.advance

    def advance(self, result: ImageResult) -> None:
        self.bar.update(self.task, advance=1, last=f"{Path(result.image).name} {result.status}")

    def __exit__(self, *exc) -> None:
        self.bar.stop()


def _table(results: list[ImageResult], summary: Path) -> None:
    from rich.table import Table

    table = Table(title=None, show_edge=False, pad_edge=False)
    for col in ("image", "status", "points", "GCP RMSE px", "recon. median %", "s", "error"):
        table.add_column(col, overflow="fold")
    styles = {"done": "green", "skipped": "dim", "failed": "red"}
    for r in results:
        table.add_row(
            Path(r.image).name,
            f"[{styles[r.status]}]{r.status}[/]",
            "" if r.points is None else f"{r.points:,}",
            "" if r.gcp_rmse_px is None else f"{r.gcp_rmse_px:.3f}",
            "" if r.reconstruction_median_pct is None else f"{r.reconstruction_median_pct:.3f}",
            f"{r.seconds:.1f}",
            r.error,
        )
    console.print(table)
    counts = {s: sum(r.status == s for r in results) for s in styles}
    console.print(
        f"{counts['done']} done, {counts['skipped']} skipped, {counts['failed']} failed; "
        f"summary in {summary}"
    )
