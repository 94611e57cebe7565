"""Wire the stages together: image -> colour scale -> decode -> mask -> reduce ->
georeference -> reconstruction check, and write the outputs.

This module only calls the stage modules; each stage is usable alone.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from . import __version__
from .colormap import ColorScale, build_scale
from .decode import Decoded, decode
from .errors import GCPError, NoDataError
from .gcps import GCPSet, read_gcps
from .georef import Georeference, georeference
from .image import DEFAULT_MAX_PIXELS, MapImage, read_image
from .io import check_outputs, write_grid, write_json, write_outputs, write_points
from .mask import Reason, classify, count_reasons, parse_box
from .reconstruct import ReconstructionCheck, check_reconstruction
from .reduce import Clusters, reduce

__all__ = ["OUTPUT_NAMES", "Extraction", "Options", "extract"]

#: Files a run writes into its output folder.
OUTPUT_NAMES = ("points.gpkg", "grid.tif", "report.json")

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
    max_distance: float = 70.0
    halo_distance: float | None = None
    region: tuple[float, float, float, float] | None = None
    flat_tol: float = 0.0
    eps: float = 1.0
    min_samples: int = 1
    transform: str = "affine"
    crs: str | None = None
    gcp_crs: str = "EPSG:4326"
    out_crs: str = "EPSG:4326"
    max_pixels: int = DEFAULT_MAX_PIXELS
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.region is not None and not isinstance(self.region, str):
            object.__setattr__(self, "region", parse_box(self.region))
        if isinstance(self.region, str) and self.region != "auto":
            object.__setattr__(self, "region", parse_box(self.region))
        if self.levels is not None:
            object.__setattr__(self, "levels", tuple(float(v) for v in self.levels))


@dataclass(frozen=True, eq=False)
class Extraction:
    """Everything a run produced.

    Attributes
    ----------
    image : MapImage
    scale : ColorScale
    decoded : Decoded
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
            "timings_s": {k: round(v, 4) for k, v in self.timings.items()},
        }

    def write(self, out_dir: str | Path, *, overwrite: bool = False) -> dict[str, Path]:
        """Write ``points.gpkg``, ``grid.tif`` and ``report.json`` into `out_dir`, atomically.

        Returns
        -------
        dict of file name to path
        """
        grid, gt, crs = self.georef.grid_placement(self.values)
        writers = {
            "points.gpkg": lambda p: write_points(p, self.points),
            "grid.tif": lambda p: write_grid(p, grid, gt, crs),
            "report.json": lambda p: write_json(p, self.report()),
        }
        return write_outputs(out_dir, writers, overwrite=overwrite)


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


def _load_gcps(gcps: str | Path | GCPSet | None, crs: str) -> GCPSet:
    if gcps is None:
        raise GCPError(
            "no ground control points: give --gcps FILE (a CSV with col,row,lon,lat)"
        )
    if isinstance(gcps, GCPSet):
        return gcps
    return read_gcps(gcps, crs=crs)


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
        geo = georeference(gcpset, img.shape, kind=opts.transform, crs=opts.crs)
    with stage("colour scale"):
        scale = build_scale(
            cmap=opts.cmap, vmin=opts.vmin, vmax=opts.vmax, norm=opts.norm,
            vcenter=opts.vcenter, levels=opts.levels, colorbar=opts.colorbar,
            colorbar_flip=opts.colorbar_flip, cmap_file=opts.cmap_file, image=img.rgb,
            samples=opts.samples,
        )
    with stage("decode"):
        decoded = decode(img.rgb, scale, color_space=opts.color_space)
    with stage("mask"):
        reason = classify(
            decoded.distance, max_distance=opts.max_distance, opaque=img.opaque,
            region=opts.region, halo_distance=opts.halo_distance,
        )
        _require_data(reason, img, opts)
    with stage("reduce"):
        valid = reason == Reason.DATA
        flat, clusters = reduce(
            decoded.values, valid, flat_tol=opts.flat_tol, eps=opts.eps,
            min_samples=opts.min_samples,
        )
    with stage("points"):
        points = _points_frame(clusters, geo, opts.out_crs)
    with stage("reconstruction check"):
        check = check_reconstruction(
            decoded.values, valid, clusters.col, clusters.row, clusters.value, scale.range
        )
    return Extraction(
        img, scale, decoded, reason, flat, clusters, geo, points, check, opts, stage.timings
    )


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
    **options,
) -> tuple[Extraction, dict[str, Path]]:
    """Check the outputs can be written, extract, and write them (what the CLI runs).

    Images above :data:`geodigitize.tiles.TILE_THRESHOLD` pixels are processed in strips
    with bounded memory (same outputs; see :mod:`geodigitize.tiles`); ``tiles=True`` or
    ``False`` forces either way.
    """
    check_outputs(out_dir, list(OUTPUT_NAMES), overwrite=overwrite)
    tiles = options.pop("tiles", None)
    opts = options.pop("options", None) or Options(**options)
    if _use_tiles(image, opts, tiles):
        from .tiles import extract_tiled

        result = extract_tiled(image, gcps=gcps, progress=progress, options=opts,
                               grid_dir=out_dir)
    else:
        result = extract(image, gcps=gcps, progress=progress, options=opts)
    if progress:
        progress("write", "start")
    paths = result.write(out_dir, overwrite=overwrite)
    if progress:
        progress("write", "end")
    return result, paths


def _use_tiles(image, opts: Options, tiles: bool | None) -> bool:
    from .tiles import can_tile, should_tile

    if isinstance(image, MapImage) or tiles is False:
        return False
    if tiles:
        return can_tile(image, opts)
    return should_tile(image, opts)
