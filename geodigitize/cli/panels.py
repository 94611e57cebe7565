"""``geodigitize run --panels``: a figure of several maps, one output folder per panel.

Not a command of its own: ``run`` hands a multi-panel figure here (``--panels``, or
``--region`` given more than once), so every option of ``run`` applies to each panel.
"""

from __future__ import annotations

from pathlib import Path

from ..options import Options
from ..panels import PanelRun, run_panels
from ._common import console, progress_display


def run_panel_figure(
    image: Path,
    out: Path,
    *,
    gcps: Path | None,
    panels,
    same_map: bool,
    overwrite: bool,
    quiet: bool,
    progress: str,
    options: Options,
) -> None:
    """Run every panel of `image` into ``out/panelN/`` and print a table of them."""
    with progress_display(not quiet, progress) as stages:
        result, _ = run_panels(
            image,
            out,
            gcps=gcps,
            panels=panels,
            same_map=same_map,
            overwrite=overwrite,
            progress=stages,
            options=options,
        )
    if not quiet:
        summary(result, out)


def summary(result: PanelRun, out: Path) -> None:
    """One line per panel: its frame, counts, GCP fit and reconstruction error."""
    how = "found" if result.layout.how == "found" else "given"
    console.print(
        f"[bold]{Path(result.results[0].image.path).name}[/]: {len(result.results)} panels "
        f"({how}), one colour scale",
        highlight=False,
        soft_wrap=True,
    )
    if result.source is not None:
        console.print(f"read {result.source.describe()}", highlight=False, soft_wrap=True)
    for row, res in zip(result.rows(), result.results, strict=True):
        console.print(
            f"panel {row['panel']} [{row['frame']}]: {row['data_pixels']:,} decoded, "
            f"{row['points']:,} points; {row['gcps']} GCPs ({row['gcps_from']}), RMSE "
            f"{res.georef.rmse:.3f} px; reconstruction median {res.check.median_pct:.3f} %",
            highlight=False,
            soft_wrap=True,
        )
    console.print(
        f"wrote panel1/ ... panel{len(result.results)}/ (points.gpkg, grid.tif, report.json, "
        f"styles), panels.json, panels.csv to {out}/",
        highlight=False,
        soft_wrap=True,
    )
