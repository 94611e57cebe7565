"""Wire the stages together: image -> colour scale -> decode -> mask -> reduce ->
georeference -> reconstruction check, and write the outputs.

This module only calls the stage modules; each stage is usable alone.
"""

from __future__ import annotations

import contextlib
import difflib
import os
import time
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields, replace
from functools import cached_property
from pathlib import Path

import numpy as np

from .colormap import ColorScale
from .contours import trace_store, write_lines
from .decode import Decoded
from .errors import GCPError, OptionError
from .gcps import GCPSet, load_gcps
from .georef import Georeference, from_georeferenced_image, georeference
from .image import MapImage, read_image
from .infer import infer_missing, missing
from .io import (
    OutputSet,
    fault_point,
    finish_grid,
    import_writers,
    write_grid,
    write_grid_bands,
    write_json,
    write_outputs,
    write_point_arrays,
)
from .jpeg import JpegDamage, damage_note, jpeg_damage
from .mask import JPEG_FORMATS, Reason, explain_shading
from .options import Options
from .pdf import DEFAULT_DPI, PDFSource, box_on_image, gcps_on_image, is_pdf, read_pdf
from .points import PointTable, point_table
from .preview import check_preview_path, import_drawing, plot_extraction
from .progress import Progress, StageTimer
from .reconstruct import ReconstructionCheck, check_reconstruction
from .reduce import Clusters
from .refine import Refinement, refine_store
from .region import parse_box
from .report import build_report
from .scale import build_scale
from .shading import shaded_scale
from .sources import (
    IN_MEMORY_PIXELS,
    ArraySource,
    StripReader,
    gdal_reads_like_pillow,
    release_prefetched,
)
from .store import SpoolStore
from .strips import (
    Fitted,
    ScaleFromRows,
    needs_memory,
    run_strips,
)
from .styles import grid_style, points_style, write_style

__all__ = ["OUTPUT_NAMES", "SHADING_NAME", "Extraction", "Options", "extract"]

#: Files a run writes into its output folder.
OUTPUT_NAMES = ("points.gpkg", "grid.tif", "report.json", "grid.qml", "points.qml")
#: The file a run with `shaded` writes besides: the illumination of each data pixel.
SHADING_NAME = "shading.tif"


@dataclass(frozen=True, eq=False)
class Extraction:
    """Everything a run produced, at every image size.

    Per-pixel results (:attr:`decoded`, :attr:`reason`, :attr:`flat`, :attr:`values`,
    :attr:`valid`) are held in memory for images kept whole (up to
    :data:`geodigitize.sources.IN_MEMORY_PIXELS`, or with ``in_memory=True``) and read
    back from the run's spools otherwise.

    Attributes
    ----------
    image : MapImage or ImageInfo
        The image (its pixels when it was kept in memory).
    scale : ColorScale
    pixels : geodigitize.store.SpoolStore
        Per-pixel results (in memory when ``pixels.kept``, else spooled).
    clusters : Clusters
        ``labels`` is (H, W) when the image was kept in memory, else empty.
    georef : Georeference
    point_table : PointTable
        One point per kept cluster, as arrays (what ``points.gpkg`` is written from);
        :attr:`points` is the same as a GeoDataFrame.
    check : ReconstructionCheck
    options : Options
        The options given, each automatic choice replaced by the value used.
    timings : dict of stage name to seconds
    refinement : Refinement or None
        The ``--target-error`` search, when asked for; its points are the kept ones.
    contours : geopandas.GeoDataFrame or None
        Isolines (``value``, LineString in ``options.out_crs``) when asked for.
    source : PDFSource or None
        For a PDF, the page and how the image was taken from it (rendered or embedded).
    fitted : Fitted or None
        What the run fitted from the whole image (:class:`geodigitize.strips.Fitted`).
    strips : dict
        ``strip_rows`` and the number of ``strips`` the engine ran.
    grid_path : Path or None
        The streamed ``grid.tif`` of an image not kept in memory (moved by
        :meth:`write`), cropped to `data_window`.
    data_window : (col0, row0, col1, row1) or None
        Bounding box of the decoded pixels.
    pixel_counts : dict
        Pixels per stage (see :meth:`counts`).
    preview_rgb : ndarray of shape (h, w, 3|4) and dtype uint8, or None
        A streamed image as the preview samples it (an image in memory is sampled from
        ``image.rgb``).
    """

    image: object
    scale: ColorScale
    pixels: SpoolStore
    clusters: Clusters
    georef: Georeference
    point_table: PointTable
    check: ReconstructionCheck
    options: Options
    timings: dict
    refinement: Refinement | None = None
    contours: object = None
    source: PDFSource | None = None
    fitted: Fitted | None = None
    strips: dict = field(default_factory=dict)
    grid_path: Path | None = None
    data_window: tuple[int, int, int, int] | None = None
    pixel_counts: dict = field(default_factory=dict)
    preview_rgb: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.grid_path is not None:  # a streamed grid never written goes with us
            weakref.finalize(self, _unlink, str(self.grid_path))

    @cached_property
    def points(self):
        """One point per kept cluster, a geopandas.GeoDataFrame: ``value``, ``col``,
        ``row``, ``n_pixels``, geometry in ``options.out_crs`` (built when first asked
        for: a run writes ``points.gpkg`` without geopandas)."""
        return self.point_table.to_frame()

    @property
    def kept(self) -> Clusters:
        """The kept points: the refined reduction if any, else one per flat cluster."""
        return self.refinement.clusters if self.refinement is not None else self.clusters

    @property
    def decoded(self) -> Decoded:
        """Every pixel decoded; for JPEG input the pixels restored by
        :func:`geodigitize.jpeg.restore_pixels` hold the scale entry that explains their
        damaged colour, not the nearest one."""
        return self.pixels.decoded

    @property
    def reason(self) -> np.ndarray:
        """:class:`geodigitize.mask.Reason` of every pixel (0 = data); (H, W) uint8."""
        return self.pixels.reason

    @property
    def flat(self) -> np.ndarray:
        """Flat data pixels; (H, W) bool."""
        return self.pixels.flat

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
        rgb = getattr(self.image, "rgb", None)  # needed only without colour ids
        _, intensity = explain_shading(rgb, self.decoded, self.scale)
        return np.where(self.valid, intensity, np.float32(np.nan))

    def counts(self) -> dict:
        """Pixel and point counts per stage."""
        return {**self.pixel_counts, "points": len(self.point_table)}

    def report(self) -> dict:
        """The content of ``report.json``."""
        out = build_report(
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
        if self.fitted is not None:
            out["fitted"] = self.fitted.to_dict()
        out["strips"] = dict(self.strips)
        damage = self.jpeg
        if damage is not None:
            out["input"]["jpeg"] = damage.to_dict()
        out["warnings"] = self.warnings()
        return out

    @cached_property
    def jpeg(self) -> JpegDamage | None:
        """What the input JPEG file's header says about its colour damage (quality and
        chroma subsampling); None for other formats and for arrays. Read once: the
        report and the warnings both need it."""
        if self.image.format.upper() not in JPEG_FORMATS or not self.image.path:
            return None
        return jpeg_damage(self.image.path)

    def warnings(self) -> list[str]:
        """One line for each way the input is known to limit the result (a lossy JPEG:
        :func:`geodigitize.jpeg.damage_note`); the georeference's own warnings are
        :attr:`Georeference.warnings`."""
        note = damage_note(self.jpeg, self.counts())
        return [] if note is None else [note]

    def writers(self) -> dict[str, Callable[[Path], None]]:
        """Each output's writer, ``writer(path)``, keyed by file name; a preview given
        with a folder is keyed by its path."""
        writers = {
            "points.gpkg": self._write_gpkg,
            "grid.tif": self._grid_writer(),
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

    def discard(self) -> None:
        """Remove the streamed grid, when not writing it."""
        if self.grid_path is not None:
            with contextlib.suppress(FileNotFoundError):
                Path(self.grid_path).unlink()

    def _grid_writer(self) -> Callable[[Path], None]:
        """``grid.tif``'s writer: from the values in memory, or the streamed grid moved
        (a rename when it was streamed into the same folder)."""
        if self.grid_path is None and self.pixels.kept:
            grid, gt, crs = self.georef.grid_placement(*_crop_to_data(self.values, self.valid))
            return lambda p: write_grid(p, grid, gt, crs)
        if self.grid_path is None:  # not streamed (a non-affine fit): warped from the store
            return lambda p: write_grid_bands(
                p, *self.georef.grid_blocks(self.pixels, self.data_window)
            )
        if not Path(self.grid_path).exists():
            raise RuntimeError("the streamed grid was already moved")
        c0, r0, c1, r1 = self.data_window
        extent = (0, 0, c1 - c0, r1 - r0)  # streamed already cropped, with overviews
        return lambda p: finish_grid(self.grid_path, p, extent, overviews=False)

    def _write_gpkg(self, path: Path) -> None:
        table = self.point_table
        write_point_arrays(path, table.x, table.y, table.fields(), table.crs)
        if self.contours is not None:
            fault_point("points written, contours next")
            write_lines(path, self.contours, layer="contours")


def _unlink(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


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
    strip_rows: int | None = None,
    in_memory: bool | None = None,
    grid_dir: str | Path | None = None,
    **kwargs,
) -> Extraction:
    """Run the whole pipeline on one image (through the strip engine,
    :func:`geodigitize.strips.run_strips`, at every size).

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
    strip_rows : int, optional
        Rows per strip (default: about :data:`geodigitize.sources.DEFAULT_STRIP_PIXELS`
        pixels, one strip for most figures); the results do not depend on it.
    in_memory : bool, optional
        Keep the image and the per-pixel results in memory (True), or stream a PNG or
        TIFF from its file (False); None keeps images up to
        :data:`geodigitize.sources.IN_MEMORY_PIXELS` pixels.
    grid_dir : path, optional
        Folder for the streamed ``grid.tif`` of a streamed image (default: the system's
        temporary folder); :meth:`Extraction.write` moves it.
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
        may_infer = _may_infer(image, opts, gcpset)
        source, img, pdf = _source(image, opts, in_memory, whole=may_infer)
    try:
        if pdf is not None:  # positions the user measured on the page, on the image
            gcpset, opts = _on_image(gcpset, opts, pdf)
        if may_infer:  # what was not given, read from the figure (geodigitize.infer)
            with stage("infer"):
                opts, gcpset, _ = infer_missing(img, opts, gcpset, pdf)
        with stage("georeference"):
            geo = _georeference(gcpset, img, opts, pdf)
        whole = isinstance(source, ArraySource)  # the image is in memory
        small = img.shape[0] * img.shape[1] <= IN_MEMORY_PIXELS
        keep = whole and (needs_memory(opts) or (small if in_memory is None else in_memory))
        with stage("colour scale"):
            if whole or opts.colorbar is None:
                scale = _scale(opts, getattr(img, "rgb", None))
            else:  # sampled from the box's rows as the first pass reads them
                box = parse_box(opts.colorbar, "colorbar")
                scale = ScaleFromRows(box, lambda image, b: _scale(opts, image, colorbar=b))
        streamed_grid = not keep and geo.geotransform() is not None  # else warped later
        grid = geo.grid_placement(np.empty((0, 0)))[1:] if streamed_grid else None
        with stage("strips"):
            found = run_strips(
                source,
                scale,
                opts,
                keep=keep,
                strip_rows=strip_rows,
                grid=grid,
                grid_dir=grid_dir,
                jpeg=img.format.upper() in JPEG_FORMATS,
                name=img.path or "the image",
                stage=stage,
            )
    finally:
        source.close()
    opts = opts.with_fit(found.fitted.mask)
    clusters, scale = found.clusters, found.scale
    try:
        return _finish(img, scale, geo, opts, found, clusters, stage, pdf)
    except BaseException:
        found.discard_grid()  # once its writer is done with it
        raise


def _finish(img, scale, geo, opts, found, clusters, stage, pdf) -> Extraction:
    """The whole-image stages after the strips: refinement, points, contours, check,
    each reading the per-pixel store a block of rows at a time."""
    store = found.pixels
    with ThreadPoolExecutor(2) as pool:
        # contours on a thread while the search runs: both read the store, and both
        # release the GIL in their loops (contourpy's threaded generator, numpy); the
        # grid's compression, on its own thread, overlaps both
        tracing = pool.submit(_contours, store, scale, geo, opts) if opts.contours else None
        refinement = None
        if opts.target_error is not None:
            with stage("refine"):  # the pieces' labels only for an image in memory
                refinement = refine_store(store, scale.range, opts.target_error, labels=store.kept)
        if opts.preview is not None:
            # the preview's drawing imports, off the path after the run: now, while the
            # check runs and the other threads are mostly done, not beside the search
            pool.submit(import_drawing)
        kept = refinement.clusters if refinement is not None else clusters
        with stage("points"):
            points = point_table(kept, geo, opts.out_crs)
        check = found.check
        if check is None or refinement is not None:  # while the contours are traced
            with stage("reconstruction check"):
                if found.recheck is not None:  # the streamed sample, as the engine drew it
                    check = found.recheck(kept)
                else:
                    values, valid = store.decoded.values, store.reason == Reason.DATA
                    check = check_reconstruction(
                        values, valid, kept.col, kept.row, kept.value, scale.range
                    )
        lines = None
        if tracing is not None:
            with stage("contours"):
                lines, seconds = tracing.result()
            stage.timings["contours"] = seconds  # its own time, not the wait
    # the streamed grid was written on a thread while the stages above ran
    strip_timings = dict(found.timings)
    grid_seconds = found.wait_grid()
    if found.grid_writing is not None:
        strip_timings["grid"] = strip_timings.get("grid", 0.0) + grid_seconds
    return Extraction(
        img,
        scale,
        store,
        clusters,
        geo,
        points,
        check,
        opts,
        _timings(stage.timings, strip_timings),
        refinement,
        lines,
        pdf,
        found.fitted,
        found.strips,
        found.grid_path,
        found.data_window,
        found.counts,
        found.preview_rgb,
    )


def _contours(store: SpoolStore, scale: ColorScale, geo: Georeference, opts: Options):
    """The isolines as a GeoDataFrame (:func:`geodigitize.contours.trace_store`), and the
    seconds they took."""
    start = time.perf_counter()
    lines = trace_store(store, scale, opts.contour_levels).to_frame(geo, opts.out_crs)
    return lines, time.perf_counter() - start


def _scale(opts: Options, image, **given) -> ColorScale:
    """The colour scale of `opts` (with `given` parameters replaced), shaded if asked."""
    scale = build_scale(**{**opts.scale_parameters(), **given}, image=image)
    if opts.shaded is not None:
        scale = shaded_scale(scale, opts.shaded)
    return scale


def _timings(stages: dict, strips: dict) -> dict:
    """Seconds per stage; the engine's parts (read, decode, mask, reduce ...) added to
    the stages timed around it (the read of an image held in memory)."""
    out = dict(stages)
    for name, seconds in strips.items():
        out[name] = out.get(name, 0.0) + seconds
    return out


def _may_infer(image, opts: Options, gcpset: GCPSet | None) -> bool:
    """Whether :func:`geodigitize.infer.infer_missing` may have to read the figure, which
    needs the image in memory (:func:`geodigitize.infer.missing`; an image file's own
    georeference stands for GCPs, a PDF's is looked for once it is read)."""
    path = image if isinstance(image, str | os.PathLike) and not is_pdf(image) else None
    return bool(missing(opts, gcpset, path))


def _source(image, opts: Options, in_memory: bool | None, *, whole: bool = False):
    """The row source of `image`, what the report says of the image, and for a PDF how
    it was taken from the page.

    A PNG or TIFF that GDAL reads as Pillow does is streamed (:class:`StripReader`) when
    it has more than :data:`IN_MEMORY_PIXELS` pixels, or when `in_memory` is False, and
    the options need nothing of the whole image in memory
    (:func:`geodigitize.strips.needs_memory`) and nothing is to be read from the figure
    (`whole` False); every other image is read whole by Pillow
    (its per-pixel results are still spooled above :data:`IN_MEMORY_PIXELS` pixels).
    """
    streamable = not (whole or needs_memory(opts))
    if in_memory is not True and isinstance(image, str | os.PathLike) and streamable:
        info = gdal_reads_like_pillow(image, opts.max_pixels)
        if info is not None and (in_memory is False or info.pixels > IN_MEMORY_PIXELS):
            return StripReader(image), info, None
    release_prefetched()  # read whole: rows the command line decoded ahead go unused
    img, pdf = _read(image, opts)
    return ArraySource(img), img, pdf


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


def import_late() -> None:
    """Import the libraries a run needs only near its end: pyogrio for points.gpkg
    (:func:`geodigitize.io.import_writers`) and scipy.interpolate for the reconstruction
    check. The command line calls this on a thread while a large image is read."""
    import_writers()
    import scipy.interpolate  # noqa: F401  (reconstruct.interpolate_points)


def run(
    image: str | Path,
    out_dir: str | Path,
    *,
    gcps: str | Path | GCPSet | None = None,
    overwrite: bool = False,
    progress: Progress | None = None,
    save_points: str | Path | None = None,
    options: Options | None = None,
    strip_rows: int | None = None,
    in_memory: bool | None = None,
    **kwargs,
) -> tuple[Extraction, dict[str, Path]]:
    """Check every output can be written, extract, and commit the outputs as one set
    (what the CLI runs).

    Every output path is checked before any work; the run holds the output folder's
    lock throughout, and writes into a temporary folder beside it that is swapped in at
    the end (see :class:`geodigitize.io.OutputSet`): the folder holds the earlier
    complete set or the new one, and a failed or interrupted run leaves nothing behind.
    A streamed image's ``grid.tif`` is written straight into that temporary folder.

    Parameters
    ----------
    image, gcps, progress, strip_rows, in_memory
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
    **kwargs
        Fields of :class:`Options`.
    """
    opts = _options(options, kwargs)
    outputs = output_set(out_dir, opts, overwrite=overwrite, save_points=save_points, gcps=gcps)
    with outputs:
        result = extract(
            image,
            gcps=gcps,
            progress=progress,
            options=opts,
            strip_rows=strip_rows,
            in_memory=in_memory,
            grid_dir=outputs.staging,
        )
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
