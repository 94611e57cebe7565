"""The content of ``report.json``: what a run was given, what it fitted, and what it
found, built from explicit parts so any run (one piece or strips) reports the same way."""

from __future__ import annotations

from dataclasses import asdict

from .version import __version__

__all__ = ["build_report", "jsonable"]


def jsonable(obj):
    """`obj` with tuples turned into lists, recursively through dicts (for JSON)."""
    if isinstance(obj, dict):
        return {k: jsonable(v) for k, v in obj.items()}
    if isinstance(obj, tuple):
        return [jsonable(v) for v in obj]
    return obj


def build_report(
    *,
    image,
    options,
    scale,
    counts: dict,
    clustering: dict,
    georef,
    check,
    timings: dict,
    refinement=None,
    contours=None,
    source=None,
) -> dict:
    """Assemble ``report.json``.

    Parameters
    ----------
    image : object with ``path``, ``format``, ``mode`` and ``shape`` (H, W)
        The input image, or what a strip run keeps of it.
    options : Options
        The options used, automatic choices included.
    scale : ColorScale
    counts : dict
        Pixel and point counts per stage.
    clustering : dict
        :attr:`geodigitize.reduce.Clusters.method`.
    georef : Georeference
    check : ReconstructionCheck
    timings : dict of stage name to seconds
    refinement : Refinement, optional
    contours : geopandas.GeoDataFrame, optional
    source : PDFSource, optional
        For a PDF, the page and how the image was taken from it.

    Returns
    -------
    dict
    """
    report = {
        "geodigitize_version": __version__,
        "input": {
            "image": image.path,
            "format": image.format,
            "mode": image.mode,
            "width": image.shape[1],
            "height": image.shape[0],
            "gcps": georef.gcps.source,
            "corrections": list(getattr(image, "corrections", ())),
        },
        "parameters": _without_secrets(jsonable(asdict(options))),
        "color_scale": scale.to_dict(),
        "counts": counts,
        "clustering": clustering,
        "georeference": georef.to_dict(),
        "reconstruction": check.to_dict(),
    }
    inferred = report["parameters"].get("extra", {}).pop("inferred", None)
    if inferred is not None:  # what was read from the figure (geodigitize.infer)
        report["inferred"] = inferred
    if source is not None:
        report["input"]["pdf"] = source.to_dict()
    if refinement is not None:
        report["refinement"] = refinement.to_dict()
    if contours is not None:
        levels = sorted({float(v) for v in contours["value"]})
        report["contours"] = {"lines": len(contours), "levels": levels}
    report["timings_s"] = {k: round(v, 4) for k, v in timings.items()}
    return report


def _without_secrets(parameters: dict) -> dict:
    """The parameters with a PDF password replaced by whether one was given."""
    if parameters.get("pdf_password") is not None:
        parameters["pdf_password"] = "(given)"
    return parameters
