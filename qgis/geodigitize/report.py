"""The GCP residual report of ``geodigitize gcps --json`` as a self-contained HTML page."""

from __future__ import annotations

import base64
import html
import math
from typing import Any

__all__ = ["gcps_html"]

_STYLE = (
    "body{font-family:sans-serif;font-size:13px}table{border-collapse:collapse}"
    "td,th{border:1px solid #bbb;padding:2px 6px;text-align:right}"
    "td:first-child,th:first-child{text-align:left}tr.worst{background:#fdd}"
    "img{max-width:100%}"
)


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return html.escape(str(value))


def _summary(report: dict[str, Any]) -> list[str]:
    lines = [
        f"RMSE {_fmt(report.get('rmse_px'))} px; QGIS mean error "
        f"{_fmt(report.get('mean_error_px'))} px; leave-one-out RMSE "
        f"{_fmt(report.get('loo_rmse_px'))} px",
    ]
    auto = report.get("auto")
    if auto:
        lines.append(f"auto: {html.escape(str(auto.get('reason', '')))}")
    worst = report.get("worst_gcp")
    if worst and worst.get("stands_out"):
        lines.append(
            f"GCP {html.escape(str(worst['id']))} stands out: {html.escape(worst['measure'])} "
            f"error {_fmt(worst['error_px'])} px against a median of "
            f"{_fmt(worst['others_median_px'])} px for the others; check it"
        )
    return lines


def _table(report: dict[str, Any]) -> str:
    worst = report.get("worst_gcp") or {}
    flagged = worst.get("index") if worst.get("stands_out") else None
    head = "".join(
        f"<th>{name}</th>"
        for name in ("id", "col", "row", "x", "y", "resid. px", "resid. map", "LOO px")
    )
    rows = []
    for i, r in enumerate(report.get("residuals", [])):
        cells = [
            _fmt(r.get("id")),
            _fmt(r.get("col"), 2),
            _fmt(r.get("row"), 2),
            f"{r['x']:.7g}",
            f"{r['y']:.7g}",
            _fmt(r.get("residual_px")),
            f"{r['residual_map']:.3g}" if r.get("residual_map") is not None else "n/a",
            _fmt(r.get("loo_px")),
        ]
        css = ' class="worst"' if i == flagged else ""
        rows.append(f"<tr{css}>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def gcps_html(report: dict[str, Any], image_name: str, plot_png: bytes | None = None) -> str:
    """An HTML page with the fit's summary, the per-GCP table and the residual plot.

    Parameters
    ----------
    report : dict
        ``geodigitize gcps --json``'s output (``Georeference.to_dict()``).
    image_name : str
        Name of the image, for the title.
    plot_png : bytes, optional
        The PNG of ``--plot``, embedded so the page stands alone.

    Returns
    -------
    str
    """
    title = (
        f"GCPs of {html.escape(image_name)}: {html.escape(str(report.get('transform')))}, "
        f"fitted in {html.escape(str(report.get('crs')))}, {report.get('n_gcps')} GCPs"
    )
    parts = [
        f"<html><head><meta charset='utf-8'><title>{title}</title>",
        f"<style>{_STYLE}</style></head><body><h2>{title}</h2>",
        *(f"<p>{line}</p>" for line in _summary(report)),
        _table(report),
        "<p>Residuals in pixels and in map units; leave-one-out: the error of each GCP "
        "predicted without it.</p>",
    ]
    if plot_png:
        data = base64.b64encode(plot_png).decode("ascii")
        parts.append(f"<p><img alt='GCP residuals' src='data:image/png;base64,{data}'></p>")
    parts.append("</body></html>")
    return "\n".join(parts)
