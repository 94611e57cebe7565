"""Wire the stages together: image -> colour scale -> decode -> mask -> reduce ->
georeference -> reconstruction check, and write the outputs.

This module only calls the stage modules; each stage is usable alone.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from . import __version__
from .colormap import ColorScale, build_scale
from .contours import trace, write_lines
from .decode import Decoded, decode, distinct_colors, pack_rgb, unpack_rgb
from .errors import GCPError, NoDataError
from .gcps import GCPSet, read_gcps
from .georef import Georeference, from_georeferenced_image, georeference
from .image import DEFAULT_MAX_PIXELS, MapImage, read_image
from .io import OutputSet, fault_point, write_grid, write_json, write_outputs, write_points
from .mask import (
    DEFAULT_CONSISTENCY,
    DEFAULT_SMOOTHNESS,
    Reason,
    auto_distances,
    classify,
    count_reasons,
    excluded_pixels,
    inconsistent_pixels,
    parse_box,
    parse_colors,
    region_mask,
)
from .preview import check_preview_path, plot_extraction
from .reconstruct import ReconstructionCheck, check_reconstruction
from .reduce import Clusters, reduce
from .refine import Refinement, parse_target, refine
from .styles import grid_style, points_style, write_style

__all__ = ["OUTPUT_NAMES", "Extraction", "Options", "extract"]

#: Files a run writes into its output folder.
OUTPUT_NAMES = ("points.gpkg", "grid.tif", "report.json", "grid.qml", "points.qml")

#: Called as ``progress(stage, state)`` with state ``"start"`` or ``"end"``.
Progress = Callable[[str, str], None]


@dataclass(frozen=True)
class Options:
    """Every parameter of a run (what ``report.json`` records under ``parameters``).

    See ``geodigitize run --help`` for each option; defaults here are the CLI's.
    """

    cmap: str | None = None
    vmin: float | None = None
    vmax: float | None = None
    norm: str = "linear"
    vcenter: float | None = None
    levels: tuple[float, ...] | None = None
    colorbar: str | None = None
    colorbar_flip: bool = False
    cmap_file: str | None = None
    samples: int = 10_000
    color_space: str = "rgb"
    max_distance: float | str = "auto"
    halo_distance: float | str | None = "auto"
    consistency: float | None = DEFAULT_CONSISTENCY
    exclude_color: str | None = None
    exclude_tol: float | None = None
    smoothness: float | None = None
    region: tuple[float, float, float, float] | str | None = None
    flat_tol: float = 0.0
    eps: float = 1.0
    min_samples: int = 1
    transform: str = "affine"
    crs: str | None = None
    gcp_crs: str | None = None
    out_crs: str = "EPSG:4326"
    max_pixels: int = DEFAULT_MAX_PIXELS
    target_error: float | None = None
    contours: bool = False
    contour_levels: tuple[float, ...] | None = None
    preview: str | None = None
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.region is not None and self.region != "auto":  # text or four numbers
            object.__setattr__(self, "region", parse_box(self.region))
        if self.levels is not None:
            object.__setattr__(self, "levels", tuple(float(v) for v in self.levels))
        if self.target_error is not None:
            object.__setattr__(self, "target_error", parse_target(self.target_error))
        if self.preview is not None:
            object.__setattr__(self, "preview", str(self.preview))
        if self.contour_levels is not None:
            levels = tuple(float(v) for v in self.contour_levels)
            object.__setattr__(self, "contour_levels", levels)
            object.__setattr__(self, "contours", True)


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
        return {
            "geodigitize_version": __version__,
            "input": {
                "image": self.image.path,
                "format": self.image.format,
                "mode": self.image.mode,
                "width": self.image.shape[1],
                "height": self.image.shape[0],
                "gcps": self.georef.gcps.source,
            },
            "parameters": _jsonable(asdict(self.options)),
            "color_scale": self.scale.to_dict(),
            "counts": self.counts(),
            "clustering": self.clusters.method,
            "georeference": self.georef.to_dict(),
            "reconstruction": self.check.to_dict(),
            **({"refinement": self.refinement.to_dict()} if self.refinement else {}),
            **({"contours": {"lines": len(self.contours),
                             "levels": sorted({float(v) for v in self.contours["value"]})}}
               if self.contours is not None else {}),
            "timings_s": {k: round(v, 4) for k, v in self.timings.items()},
        }

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
        if self.options.preview is not None:
            writers[str(self.options.preview)] = lambda p: plot_extraction(self, p)
        return writers

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


def _jsonable(obj):
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, tuple):
        return [_jsonable(v) for v in obj]
    return obj


class _Stages:
    """Times stages and reports their start and end to a progress callback."""

    def __init__(self, progress: Progress | None) -> None:
        self.progress = progress
        self.timings: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        if self.progress:
            self.progress(name, "start")
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = time.perf_counter() - start
            if self.progress:
                self.progress(name, "end")


def _load_gcps(gcps: str | Path | GCPSet | None, crs: str | None) -> GCPSet | None:
    if gcps is None or isinstance(gcps, GCPSet):
        return gcps
    return read_gcps(gcps, crs=crs)


def _georeference(gcpset: GCPSet | None, img: MapImage, opts: Options) -> Georeference:
    """Fit the GCPs, or without any use the image's own georeference (world file, GeoTIFF)."""
    if gcpset is not None:
        return georeference(gcpset, img.shape, kind=opts.transform, crs=opts.crs)
    geo = from_georeferenced_image(img.path, opts.crs, kind=opts.transform) if img.path else None
    if geo is None:
        raise GCPError(
            "no ground control points: give --gcps FILE (a CSV with col,row,lon,lat or a "
            "QGIS .points file), or put a world file (.pgw, .jgw, .tfw, .wld) beside the image"
        )
    return geo


def extract(
    image: str | Path | MapImage,
    *,
    gcps: str | Path | GCPSet | None = None,
    progress: Progress | None = None,
    **options,
) -> Extraction:
    """Run the whole pipeline on one image.

    Parameters
    ----------
    image : path or MapImage
        The map image.
    gcps : path or GCPSet
        Ground control points (CSV ``col,row,lon,lat``).
    progress : callable, optional
        Called as ``progress(stage, "start"|"end")`` around each stage.
    **options
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
    opts = options.pop("options", None) or Options(**options)
    stage = _Stages(progress)
    gcpset = _load_gcps(gcps, opts.gcp_crs)
    with stage("read"):
        img = image if isinstance(image, MapImage) else read_image(image, opts.max_pixels)
    with stage("georeference"):
        geo = _georeference(gcpset, img, opts)
    with stage("colour scale"):
        scale = build_scale(
            cmap=opts.cmap,
            vmin=opts.vmin,
            vmax=opts.vmax,
            norm=opts.norm,
            vcenter=opts.vcenter,
            levels=opts.levels,
            colorbar=opts.colorbar,
            colorbar_flip=opts.colorbar_flip,
            cmap_file=opts.cmap_file,
            image=img.rgb,
            samples=opts.samples,
        )
    with stage("decode"):
        decoded = decode(img.rgb, scale, color_space=opts.color_space)
    with stage("mask"):
        reason, opts, decoded = _mask(img, scale, decoded, opts)
        _require_data(reason, img, opts)
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
        points = _points_frame(kept, geo, opts.out_crs)
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
        img, scale, decoded, reason, flat, clusters, geo, points, check, opts, stage.timings,
        refinement, lines,
    )


#: Value of `max_distance` / `halo_distance` asking for a choice from the image's noise.
AUTO = "auto"
#: Default tolerance of --exclude-color, per colour space.
EXCLUDE_TOL = {"rgb": 24.0, "lab": 8.0}
#: Bounds of the automatic --max-distance, per colour space.
AUTO_DISTANCE = {"rgb": {"floor": 8.0, "cap": 40.0}, "lab": {"floor": 3.0, "cap": 15.0}}


def _mask(img: MapImage, scale: ColorScale, decoded: Decoded, opts: Options):
    """Classify every pixel; return the reasons, the options with every automatic
    choice (frame, distances, smoothness) replaced by the value used, for the report, and
    the decoded image (JPEG's restored pixels decoded anew, see :func:`_restore_jpeg`)."""
    auto = {}
    excluded = None
    if opts.exclude_color:
        tol = opts.exclude_tol
        if tol is None:
            tol = EXCLUDE_TOL.get(opts.color_space, 24.0)
            auto["exclude_tol"] = tol
        colors = parse_colors(opts.exclude_color, tol)
        excluded = excluded_pixels(img.rgb, colors, tol, scale, opts.color_space)
    region = opts.region
    if region == "auto":
        from .frame import find_frame

        region = find_frame(img.rgb, scale, decoded)
        auto["region"] = "auto"
    max_d, halo_d = opts.max_distance, opts.halo_distance
    if AUTO in (max_d, halo_d):
        cand = img.opaque.copy()
        if region is not None:
            cand &= region_mask(img.shape, region)
        if excluded is not None:
            cand &= ~excluded
        auto_max, auto_halo = auto_distances(
            decoded.distance, cand, **AUTO_DISTANCE.get(opts.color_space, {})
        )
        if max_d == AUTO:
            max_d, auto["max_distance"] = auto_max, AUTO
        if halo_d == AUTO:
            halo_d, auto["halo_distance"] = auto_halo, AUTO
    smooth = opts.smoothness
    if smooth is None and img.format.upper() in ("JPEG", "MPO"):
        smooth, auto["smoothness"] = DEFAULT_SMOOTHNESS, "auto (JPEG)"
    color_id = decoded.color_id
    if color_id is None:
        color_id = distinct_colors(pack_rgb(img.rgb))[1]
    reason = classify(
        decoded.distance, max_distance=float(max_d), opaque=img.opaque, region=region,
        halo_distance=halo_d, excluded=excluded, values=decoded.values, smoothness=smooth,
        color_id=color_id,
    )
    _mask_inconsistent(reason, img, decoded, scale, opts.consistency)
    if smooth is not None:
        decoded = _restore_jpeg(reason, img, decoded, scale)
    used = replace(
        opts, region=region, max_distance=round(float(max_d), 3),
        halo_distance=None if halo_d is None else round(float(halo_d), 3),
        smoothness=smooth, exclude_tol=auto.get("exclude_tol", opts.exclude_tol),
        extra={**opts.extra, **({"automatic": auto} if auto else {})},
    )
    return reason, used, decoded


def _restore_jpeg(
    reason: np.ndarray, img: MapImage, decoded: Decoded, scale: ColorScale
) -> Decoded:
    """Keep the masked pixels JPEG's chroma subsampling and ringing pushed off the scale
    (see :func:`geodigitize.jpeg.restore_pixels`), with the values that explain them.

    Runs with the smoothness check, i.e. for JPEG input. Updates `reason` in place and
    returns the decoded values and entries with the restored pixels changed. Skipped for
    class scales, whose values legitimately jump between neighbours.
    """
    if scale.is_discrete:
        return decoded
    from .jpeg import restore_pixels

    restored, index = restore_pixels(img.rgb, reason, decoded.index, scale.colors,
                                     scale.values)
    reason[restored] = Reason.DATA
    return replace(decoded, index=index, values=scale.values[index])


def _mask_inconsistent(
    reason: np.ndarray, img: MapImage, decoded: Decoded, scale: ColorScale, tol: float | None
) -> None:
    """Mark antialiased mixtures (see :func:`geodigitize.mask.inconsistent_pixels`).

    Skipped for class scales, whose values legitimately jump between neighbours.
    """
    if not tol or scale.is_discrete:
        return
    valid = reason == Reason.DATA
    color_id = id_rgb = None
    if decoded.color_id is not None:
        color_id, id_rgb = decoded.color_id, unpack_rgb(decoded.colors)
    bad = inconsistent_pixels(
        img.rgb, decoded.index, valid, scale.colors, scale.values, tolerance=tol,
        color_id=color_id, id_rgb=id_rgb,
    )
    reason[bad] = Reason.INCONSISTENT


def _require_data(reason: np.ndarray, img: MapImage, opts: Options) -> None:
    if np.any(reason == Reason.DATA):
        return
    raise NoDataError(
        f"no pixel of {img.path or 'the image'} is within --max-distance "
        f"{opts.max_distance:g} of the colour scale: check the colormap, vmin/vmax and "
        "--region, or raise --max-distance"
    )


def _points_frame(clusters: Clusters, geo: Georeference, out_crs: str):
    import geopandas as gpd

    x, y = geo.pixel_to_crs(clusters.col, clusters.row, out_crs)
    return gpd.GeoDataFrame(
        {
            "value": clusters.value.astype(np.float64),
            "col": clusters.col.astype(np.float64),
            "row": clusters.row.astype(np.float64),
            "n_pixels": clusters.n_pixels.astype(np.int64),
        },
        geometry=gpd.points_from_xy(x, y),
        crs=out_crs,
    )


def run(
    image: str | Path,
    out_dir: str | Path,
    *,
    gcps: str | Path | GCPSet | None = None,
    overwrite: bool = False,
    progress: Progress | None = None,
    save_points: str | Path | None = None,
    **options,
) -> tuple[Extraction, dict[str, Path]]:
    """Check every output can be written, extract, and commit the outputs as one set
    (what the CLI runs).

    Every output path is checked before any work; the run holds the output folder's
    lock throughout, and writes into a temporary folder beside it that is swapped in at
    the end (see :class:`geodigitize.io.OutputSet`): the folder holds the earlier
    complete set or the new one, and a failed or interrupted run leaves nothing behind.

    Images above :data:`geodigitize.tiles.TILE_THRESHOLD` pixels are processed in strips
    with bounded memory (same outputs; see :mod:`geodigitize.tiles`) when the options
    allow it; ``tiles=True`` or ``False`` forces either way.

    Parameters
    ----------
    save_points : path, optional
        Also write the GCP file's points with their residuals as a QGIS ``.points`` file,
        committed with the other outputs (needs `gcps` as a file).
    """
    tiles = options.pop("tiles", None)
    opts = options.pop("options", None) or Options(**options)
    outputs = output_set(out_dir, opts, overwrite=overwrite, save_points=save_points,
                         gcps=gcps)
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
    out_dir: str | Path, opts: Options, *, overwrite: bool = False,
    save_points: str | Path | None = None, gcps=None,
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
        outside.append(check_preview_path(opts.preview, overwrite=True, out_dir=out_dir,
                                          reserved=OUTPUT_NAMES))
    if save_points is not None:
        if gcps is None or isinstance(gcps, GCPSet):
            raise GCPError("save_points needs gcps as a file: there are no GCPs to save")
        outside.append(Path(save_points))
    outputs = OutputSet(out_dir, OUTPUT_NAMES, outside=outside, overwrite=overwrite)
    outputs.check()
    return outputs


def _write_gcp_points(gcps, opts: Options, path: Path, result) -> None:
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
