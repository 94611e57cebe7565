"""Wire the stages together: image -> colour scale -> decode -> mask -> reduce ->
georeference -> reconstruction check, and write the outputs.

This module only calls the stage modules; each stage is usable alone.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np

from .colormap import ColorScale
from .contours import trace, write_lines
from .decode import Decoded, decode
from .errors import GCPError, OptionError
from .gcps import GCPSet, load_gcps
from .georef import Georeference, from_georeferenced_image, georeference
from .image import MapImage, read_image
from .infer import infer_missing
from .io import OutputSet, fault_point, write_grid, write_json, write_outputs, write_points
from .mask import (
    JPEG_FORMATS,
    Reason,
    count_reasons,
    explain_shading,
    mask_image,
    require_data,
)
from .options import Options
from .pdf import DEFAULT_DPI, PDFSource, box_on_image, gcps_on_image, is_pdf, read_pdf
from .points import points_frame
from .preview import check_preview_path, plot_extraction
from .progress import Progress, StageTimer
from .reconstruct import ReconstructionCheck, check_reconstruction
from .reduce import Clusters, reduce
from .refine import Refinement, refine
from .region import parse_box
from .report import build_report
from .scale import build_scale
from .shading import shaded_scale
from .styles import grid_style, points_style, write_style

__all__ = ["OUTPUT_NAMES", "SHADING_NAME", "Extraction", "Options", "extract"]

#: Files a run writes into its output folder.
OUTPUT_NAMES = ("points.gpkg", "grid.tif", "report.json", "grid.qml", "points.qml")
#: The file a run with `shaded` writes besides: the illumination of each data pixel.
SHADING_NAME = "shading.tif"


@dataclass(frozen=True, eq=False)
class Extraction:
    """Everything a run produced.

    Attributes
    ----------
    image : MapImage
    scale : ColorScale
    decoded : Decoded
        For JPEG input, the pixels restored by :func:`geodigitize.jpeg.restore_pixels`
        hold the scale entry that explains their damaged colour, not the nearest one.
    reason : ndarray of shape (H, W) and dtype uint8
        :class:`geodigitize.mask.Reason` of every pixel (0 = data).
    flat : ndarray of shape (H, W) and dtype bool
    clusters : Clusters
    georef : Georeference
    points : geopandas.GeoDataFrame
        One point per cluster: ``value``, ``col``, ``row``, ``n_pixels``, geometry in
        ``options.out_crs``.
    check : ReconstructionCheck
    options : Options
    timings : dict of stage name to seconds
    refinement : Refinement or None
        The ``--target-error`` search, when asked for; its points are the kept ones.
    contours : geopandas.GeoDataFrame or None
        Isolines (``value``, LineString in ``options.out_crs``) when asked for.
    source : PDFSource or None
        For a PDF, the page and how the image was taken from it (rendered or embedded).
    """

    image: MapImage
    scale: ColorScale
    decoded: Decoded
    reason: np.ndarray
    flat: np.ndarray
    clusters: Clusters
    georef: Georeference
    points: object
    check: ReconstructionCheck
    options: Options
    timings: dict
    refinement: Refinement | None = None
    contours: object = None
    source: PDFSource | None = None

    @property
    def kept(self) -> Clusters:
        """The kept points: the refined reduction if any, else one per flat cluster."""
        return self.refinement.clusters if self.refinement is not None else self.clusters

    @property
    def valid(self) -> np.ndarray:
        """Data pixels, shape (H, W), dtype bool."""
        return self.reason == Reason.DATA

    @property
    def values(self) -> np.ndarray:
        """Decoded values, NaN where masked; shape (H, W), dtype float64."""
        return np.where(self.valid, self.decoded.values, np.nan)

    @property
    def shading(self) -> np.ndarray | None:
        """The illumination intensity that explains each data pixel (0-1, 0.5 unshaded;
        see :func:`geodigitize.mask.explain_shading`), NaN where masked; shape (H, W),
        dtype float32. None unless the scale is shaded."""
        if "shading" not in self.scale.extra:
            return None
        _, intensity = explain_shading(self.image.rgb, self.decoded, self.scale)
        return np.where(self.valid, intensity, np.float32(np.nan))

    def counts(self) -> dict:
        """Pixel and point counts per stage."""
        height, width = self.image.shape
        return {
            "pixels": height * width,
            "distinct_colors": self.decoded.n_colors,
            "masked": int((~self.valid).sum()),
            "masked_by_reason": count_reasons(self.reason),
            "data": int(self.valid.sum()),
            "flat": int(self.flat.sum()),
            "clusters": len(self.clusters),
            "points": len(self.points),
        }

    def report(self) -> dict:
        """The content of ``report.json``."""
        return build_report(
            image=self.image,
            options=self.options,
            scale=self.scale,
            counts=self.counts(),
            clustering=self.clusters.method,
            georef=self.georef,
            check=self.check,
            timings=self.timings,
            refinement=self.refinement,
            contours=self.contours,
            source=self.source,
        )

    def writers(self) -> dict[str, Callable[[Path], None]]:
        """Each output's writer, ``writer(path)``, keyed by file name; a preview given
        with a folder is keyed by its path."""
        grid, gt, crs = self.georef.grid_placement(*_crop_to_data(self.values, self.valid))
        writers = {
            "points.gpkg": self._write_gpkg,
            "grid.tif": lambda p: write_grid(p, grid, gt, crs),
            "report.json": lambda p: write_json(p, self.report()),
            "grid.qml": lambda p: write_style(p, grid_style(self.scale)),
            "points.qml": lambda p: write_style(p, points_style(self.scale)),
        }
        if "shading" in self.scale.extra:
            writers[SHADING_NAME] = self._write_shading
        if self.options.preview is not None:
            writers[str(self.options.preview)] = lambda p: plot_extraction(self, p)
        return writers

    def _write_shading(self, path: Path) -> None:
        band, gt, crs = self.georef.grid_placement(*_crop_to_data(self.shading, self.valid))
        write_grid(path, band, gt, crs, description="shading")

    def write(self, out_dir: str | Path, *, overwrite: bool = False) -> dict[str, Path]:
        """Write ``points.gpkg``, ``grid.tif``, ``report.json``, the styles and any preview
        into `out_dir`, committed as one set (see :class:`geodigitize.io.OutputSet`).

        Returns
        -------
        dict of file name (or the preview's path) to path
        """
        return write_outputs(out_dir, self.writers(), overwrite=overwrite)

    def _write_gpkg(self, path: Path) -> None:
        write_points(path, self.points)
        if self.contours is not None:
            fault_point("points written, contours next")
            write_lines(path, self.contours, layer="contours")


def _crop_to_data(values: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
    """The bounding box of the decoded pixels, and its top-left pixel (col, row).

    Margins, titles and colorbars hold no data; cropping them keeps the grid's extent to
    the map (a plate carree page would otherwise reach past latitude 90).
    """
    rows = np.flatnonzero(valid.any(axis=1))
    cols = np.flatnonzero(valid.any(axis=0))
    r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    return values[r0:r1, c0:c1], (int(c0), int(r0))


def _georeference(
    gcpset: GCPSet | None, img: MapImage, opts: Options, source: PDFSource | None = None
) -> Georeference:
    """Fit the GCPs, or without any use the image's own georeference (world file, GeoTIFF).

    GCPs measured on a PDF page may lie beyond the edges of an image embedded in it.
    """
    if gcpset is not None:
        embedded = source is not None and source.kind == "embedded"
        return georeference(
            gcpset, img.shape, kind=opts.transform, crs=opts.crs, inside=not embedded
        )
    geo = from_georeferenced_image(img.path, opts.crs, kind=opts.transform) if img.path else None
    if geo is None:
        raise GCPError(
            "no ground control points: give --gcps FILE (a CSV with col,row,lon,lat or a "
            "QGIS .points file), or put a world file (.pgw, .jgw, .tfw, .wld) beside the image"
        )
    return geo


def extract(
    image,
    *,
    gcps=None,
    progress: Progress | None = None,
    options: Options | None = None,
    **kwargs,
) -> Extraction:
    """Run the whole pipeline on one image.

    Parameters
    ----------
    image : path, MapImage, ndarray or PIL image
        The map image: a file (PNG, JPEG, TIFF ...; a PDF page with ``page``, ``dpi`` and
        ``pdf_image``), or pixels (an (H, W, 3|4) uint8 or (H, W) array, a PIL image).
    gcps : path, GCPSet, DataFrame or array of shape (N, 4)
        Ground control points (a CSV ``col,row,lon,lat`` or a QGIS ``.points`` file, a
        DataFrame with those columns, or rows of them). Without them, the image's world
        file or GeoTIFF georeference.
    progress : callable, optional
        Called as ``progress(stage, "start"|"end")`` around each stage.
    options : Options, optional
        All options at once; or give them as keyword arguments (`kwargs`), not both.
    **kwargs
        Any field of :class:`Options` (``cmap``, ``vmin``, ``vmax``, ``region`` ...).

    Returns
    -------
    Extraction

    Raises
    ------
    GeodigitizeError
        For any bad input; nothing is written by this function.

    Examples
    --------
    >>> result = extract("map.png", gcps="gcps.csv", cmap="jet_r", vmin=0, vmax=0.7)
    ... # doctest: +SKIP
    >>> result.write("result/")  # doctest: +SKIP
    """
    opts = _options(options, kwargs)
    stage = StageTimer(progress)
    gcpset = load_gcps(gcps, opts.gcp_crs)
    with stage("read"):
        img, source = _read(image, opts)
    if source is not None:  # positions the user measured on the page, on the image
        gcpset, opts = _on_image(gcpset, opts, source)
    with stage("infer"):  # what was not given, read from the figure (geodigitize.infer)
        opts, gcpset, _ = infer_missing(img, opts, gcpset, source)
    with stage("georeference"):
        geo = _georeference(gcpset, img, opts, source)
    with stage("colour scale"):
        scale = build_scale(**opts.scale_parameters(), image=img.rgb)
        if opts.shaded is not None:
            scale = shaded_scale(scale, opts.shaded)
    with stage("decode"):
        decoded = decode(img.rgb, scale, color_space=opts.color_space)
    with stage("mask"):
        reason, decoded, fit = mask_image(
            img.rgb,
            img.opaque,
            decoded,
            scale,
            jpeg=img.format.upper() in JPEG_FORMATS,
            **opts.mask_parameters(),
        )
        opts = opts.with_fit(fit)
        require_data(
            np.bincount(reason.ravel(), minlength=len(Reason)),
            img.path or "the image",
            opts.max_distance,
        )
    with stage("reduce"):
        valid = reason == Reason.DATA
        flat, clusters = reduce(
            decoded.values,
            valid,
            flat_tol=opts.flat_tol,
            eps=opts.eps,
            min_samples=opts.min_samples,
        )
    refinement = None
    if opts.target_error is not None:
        with stage("refine"):
            refinement = refine(decoded.values, valid, clusters, scale.range, opts.target_error)
    kept = refinement.clusters if refinement is not None else clusters
    with stage("points"):
        points = points_frame(kept, geo, opts.out_crs)
    lines = None
    if opts.contours:
        with stage("contours"):
            lines = trace(decoded.values, valid, scale, opts.contour_levels)
            lines = lines.to_frame(geo, opts.out_crs)
    with stage("reconstruction check"):
        check = check_reconstruction(
            decoded.values, valid, kept.col, kept.row, kept.value, scale.range
        )
    return Extraction(
        img,
        scale,
        decoded,
        reason,
        flat,
        clusters,
        geo,
        points,
        check,
        opts,
        stage.timings,
        refinement,
        lines,
        source,
    )


def _options(options: Options | None, kwargs: dict) -> Options:
    """`options`, or :class:`Options` built from `kwargs`; an unknown name is refused."""
    if options is not None:
        if kwargs:
            raise OptionError(
                f"give either `options` or keyword options, not both (got {', '.join(kwargs)})"
            )
        return options
    known = {f.name for f in fields(Options)}
    unknown = sorted(set(kwargs) - known)
    if unknown:
        close = {n: difflib.get_close_matches(n, known, 1) for n in unknown}
        hints = [f"`{n}`" + (f" (did you mean `{c[0]}`?)" if c else "") for n, c in close.items()]
        raise OptionError(f"unknown option {', '.join(hints)}: see geodigitize.Options")
    return Options(**kwargs)


def _read(image: str | Path | MapImage, opts: Options) -> tuple[MapImage, PDFSource | None]:
    """The image to decode, and for a PDF how it was taken from the page."""
    if isinstance(image, MapImage):
        return image, None
    if isinstance(image, str | os.PathLike) and is_pdf(image):
        pdf_image = opts.pdf_image
        on_page = opts.colorbar is not None or (opts.cmap is None and opts.cmap_file is None)
        if pdf_image == "auto" and on_page:
            pdf_image = "render"  # the colorbar is on the page, not in the field's image
        dpi = DEFAULT_DPI if opts.dpi is None else opts.dpi
        return read_pdf(
            image,
            page=opts.page,
            dpi=dpi,
            pdf_image=pdf_image,
            password=opts.pdf_password,
            max_pixels=opts.max_pixels,
        )
    return read_image(image, opts.max_pixels), None


def _on_image(
    gcpset: GCPSet | None, opts: Options, source: PDFSource
) -> tuple[GCPSet | None, Options]:
    """GCPs, region and colorbar box measured on a PDF page, in the decoded image's pixels.

    Pixel positions on a page mean nothing without the resolution they were measured at,
    so they need `dpi` given (points need nothing).
    """
    boxes = [n for n in ("region", "colorbar") if _is_box(getattr(opts, n))]
    if opts.gcp_units == "pixels" and opts.dpi is None and (gcpset is not None or boxes):
        what = " and ".join((["GCPs"] if gcpset is not None else []) + [f"`{n}`" for n in boxes])
        raise GCPError(
            f"{what} measured on a PDF page need the resolution they were measured at: give "
            "`dpi` (pixels per inch of the page), or measure in PDF points with `gcp_units` "
            "points"
        )
    if gcpset is not None:
        gcpset = gcps_on_image(gcpset, source, opts.gcp_units)
    moved = {n: box_on_image(parse_box(getattr(opts, n), n), source, opts.gcp_units) for n in boxes}
    return gcpset, replace(opts, **moved) if moved else opts


def _is_box(value) -> bool:
    """A region or colorbar given as a box (not None, not "auto")."""
    return value is not None and not (isinstance(value, str) and value.strip().lower() == "auto")


def run(
    image: str | Path,
    out_dir: str | Path,
    *,
    gcps: str | Path | GCPSet | None = None,
    overwrite: bool = False,
    progress: Progress | None = None,
    save_points: str | Path | None = None,
    options: Options | None = None,
    tiles: bool | None = None,
    **kwargs,
) -> tuple[Extraction, dict[str, Path]]:
    """Check every output can be written, extract, and commit the outputs as one set
    (what the CLI runs).

    Every output path is checked before any work; the run holds the output folder's
    lock throughout, and writes into a temporary folder beside it that is swapped in at
    the end (see :class:`geodigitize.io.OutputSet`): the folder holds the earlier
    complete set or the new one, and a failed or interrupted run leaves nothing behind.

    Images above :data:`geodigitize.tiles.TILE_THRESHOLD` pixels are processed in strips
    with bounded memory (same outputs; see :mod:`geodigitize.tiles`) when the options
    allow it.

    Parameters
    ----------
    image, gcps, progress
        As :func:`extract`.
    out_dir : path
        The output folder.
    overwrite : bool
        Replace outputs that exist.
    save_points : path, optional
        Also write the GCP file's points with their residuals as a QGIS ``.points`` file,
        committed with the other outputs (needs `gcps` as a file).
    options : Options, optional
        All options at once; or give them as keyword arguments (`kwargs`), not both.
    tiles : bool, optional
        Force strips (True) or one piece (False); None chooses by size.
    **kwargs
        Fields of :class:`Options`.
    """
    opts = _options(options, kwargs)
    outputs = output_set(out_dir, opts, overwrite=overwrite, save_points=save_points, gcps=gcps)
    with outputs:
        if _use_tiles(image, opts, tiles, gcps):
            result = _extract_tiled(image, outputs.staging, gcps, progress, opts)
        else:
            result = extract(image, gcps=gcps, progress=progress, options=opts)
        if progress:
            progress("write", "start")
        writers = result.writers()
        if save_points is not None:
            writers[str(save_points)] = lambda p: _write_gcp_points(gcps, opts, p, result)
        outputs.write(writers)
        paths = outputs.commit()
        if progress:
            progress("write", "end")
    return result, paths


def output_set(
    out_dir: str | Path,
    opts: Options,
    *,
    overwrite: bool = False,
    save_points: str | Path | None = None,
    gcps=None,
) -> OutputSet:
    """The :class:`geodigitize.io.OutputSet` of a run, every path checked (nothing
    created yet).

    Raises
    ------
    OutputError
        A clash (a preview named like an output, two outputs on one file), a missing or
        read-only folder, a picture format matplotlib cannot write, or an existing file
        without `overwrite`.
    GCPError
        `save_points` without GCPs from a file.
    """
    outside: list[Path] = []
    if opts.preview is not None:
        outside.append(
            check_preview_path(opts.preview, overwrite=True, out_dir=out_dir, reserved=OUTPUT_NAMES)
        )
    if save_points is not None:
        if gcps is None or isinstance(gcps, GCPSet):
            raise GCPError("save_points needs gcps as a file: there are no GCPs to save")
        outside.append(Path(save_points))
    names = OUTPUT_NAMES + ((SHADING_NAME,) if opts.shaded is not None else ())
    outputs = OutputSet(out_dir, names, outside=outside, overwrite=overwrite)
    outputs.check()
    return outputs


def _write_gcp_points(gcps, opts: Options, path: Path, result) -> None:
    from .gcps import read_gcps
    from .gcps import write_points as write_gcp_file

    write_gcp_file(read_gcps(gcps, crs=opts.gcp_crs), path, georef=result.georef)


def _extract_tiled(image, grid_dir: Path | None, gcps, progress, opts: Options) -> Extraction:
    """Strip processing, which streams grid.tif into `grid_dir` as it goes: the run's
    temporary folder, so the grid is committed with the other outputs."""
    from .tiles import extract_tiled

    return extract_tiled(image, gcps=gcps, progress=progress, options=opts, grid_dir=grid_dir)


def _use_tiles(image, opts: Options, tiles: bool | None, gcps=None) -> bool:
    from .tiles import can_tile, should_tile

    if isinstance(image, MapImage) or tiles is False:
        return False
    if gcps is None:  # strips need GCPs; one piece reads a world file or says what's missing
        return False
    if tiles:
        return can_tile(image, opts)
    return should_tile(image, opts)
