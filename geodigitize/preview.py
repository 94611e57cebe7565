"""Pictures a user looks at first: what a run decoded, masked, kept and lost.

:func:`plot_extraction` draws one figure of six panels (the input, the decoded grid, the
mask by reason, the kept points coloured by cluster, the reconstruction from those
points and its error); :func:`plot_gcps` draws the GCPs on the image with their residual
arrows. Both draw with matplotlib's Agg canvas (no display needed) and never use pyplot,
so they are safe in threads and on servers.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .colormap import ColorScale
from .errors import OutputError, OutputExistsError
from .mask import Reason
from .reconstruct import interpolate_points
from .store import ArrayStore, PixelStore

if TYPE_CHECKING:  # annotations: matplotlib's figure machinery is imported when drawing
    from matplotlib import colors as mcolors
    from matplotlib.figure import Figure

    from .refine import Pieces

__all__ = [
    "PANEL_TITLES",
    "PICTURE_FORMATS",
    "PREVIEW_SIDE",
    "PREVIEW_SIZE",
    "REASON_COLORS",
    "PreviewPixels",
    "check_preview_path",
    "decimate",
    "draw_step",
    "extraction_pixels",
    "plot_extraction",
    "plot_gcps",
    "plot_pixels",
    "preview_pixels",
    "preview_step",
    "scale_cmap",
    "write_preview",
]

#: Titles of the preview's panels, in order (left to right, top to bottom).
PANEL_TITLES = (
    "Input image",
    "Decoded values",
    "Mask: why pixels are not data",
    "Kept points (colour: cluster)",
    "Reconstruction from the points",
    "Reconstruction error (% of range)",
)

#: Colour and legend label of each mask reason.
REASON_COLORS = {
    Reason.DATA: ("#ffffff", "data"),
    Reason.TRANSPARENT: ("#d9d9d9", "transparent"),
    Reason.OUTSIDE_REGION: ("#969696", "outside region"),
    Reason.OFF_SCALE: ("#e41a1c", "off-scale colour"),
    Reason.EXCLUDED_COLOR: ("#984ea3", "excluded colour"),
    Reason.HALO: ("#ff7f00", "line halo"),
    Reason.INCONSISTENT: ("#377eb8", "inconsistent"),
    Reason.AMBIGUOUS: ("#a65628", "ambiguous shading"),
}

#: Longest side, in pixels, at which the reconstruction is drawn (it is interpolated).
RECONSTRUCTION_SIDE = 600


def scale_cmap(scale: ColorScale) -> tuple[mcolors.Colormap, mcolors.Normalize]:
    """A matplotlib colormap and norm drawing values with the scale's own colours."""
    order = np.argsort(scale.values, kind="stable")
    values, colors = scale.values[order], scale.colors[order] / 255.0
    if values.size > 1024:
        pick = np.unique(np.round(np.linspace(0, values.size - 1, 1024)).astype(int))
        values, colors = values[pick], colors[pick]
    span = values[-1] - values[0]
    pos = (values - values[0]) / span if span > 0 else np.linspace(0, 1, values.size)
    pos[0], pos[-1] = 0.0, 1.0
    from matplotlib import colors as mcolors

    cmap = mcolors.LinearSegmentedColormap.from_list(
        "scale", list(zip(pos, colors, strict=True)), N=max(256, values.size)
    ).with_extremes(bad=(1, 1, 1, 0))
    return cmap, mcolors.Normalize(values[0], values[-1])


#: Longest side, in pixels, at which the image panels are drawn: a larger image is
#: sampled every ``step``-th pixel (the six panels of a preview are about 450 pixels
#: wide at 100 dpi, so this loses nothing a screen shows).
PREVIEW_SIDE = 1500


#: Size of the preview figure, inches (six panels, two rows of three).
PREVIEW_SIZE = (15.0, 9.0)


def draw_step(shape: tuple[int, int], dpi: float) -> int:
    """Keep every k-th row and column of a sampled panel of `shape` when drawing at `dpi`.

    A panel of the :data:`PREVIEW_SIZE` figure is at most a third of its width and half
    its height on screen, so an array k times that size in both directions still has at
    least one sample per screen pixel: matplotlib's nearest-pixel resampling shows the
    same picture, and resamples (twice per save: layout, then drawing) k² times fewer.
    """
    most_w = PREVIEW_SIZE[0] * dpi / 3
    most_h = PREVIEW_SIZE[1] * dpi / 2
    return max(1, min(int(shape[1] // most_w), int(shape[0] // most_h)))


def preview_step(shape: tuple[int, int], side: int = PREVIEW_SIDE) -> int:
    """Sampling step of the image panels: 1 up to `side` pixels a side."""
    return max(1, math.ceil(max(shape) / side))


def decimate(r0: int, rows: np.ndarray, step: int) -> np.ndarray:
    """The pixels of rows ``r0 .. r0 + len(rows)`` that a preview with `step` samples:
    rows and columns at multiples of `step`, shape (h', W') + rest.

    Concatenating the results of consecutive strips gives ``image[::step, ::step]``.
    """
    return rows[(-r0) % step :: step, ::step]


@dataclass(frozen=True, eq=False)
class PreviewPixels:
    """The pixels a preview draws, sampled every `step`-th row and column.

    Attributes
    ----------
    shape : (H, W)
        The whole image's.
    step : int
    rgb : ndarray of shape (h, w, 3|4) and dtype uint8, or None
        The input image (``h = ceil(H / step)``, ``w = ceil(W / step)``).
    values : ndarray of shape (h, w) and dtype float64
        Decoded values, NaN where masked.
    reason : ndarray of shape (h, w) and dtype uint8
    labels : ndarray of shape (h, w) and dtype int32, or None
        Cluster of each pixel behind the kept points (-1: none).
    reason_counts : ndarray of shape (len(Reason),) and dtype int64
        Pixels of the whole image per reason (the mask legend).
    recon_step : int
        Step of the reconstruction panels (:data:`RECONSTRUCTION_SIDE`).
    recon_values : ndarray of shape (hr, wr) and dtype float64
        Decoded values every `recon_step`-th pixel, NaN where masked.
    """

    shape: tuple[int, int]
    step: int
    rgb: np.ndarray | None
    values: np.ndarray
    reason: np.ndarray
    labels: np.ndarray | None
    reason_counts: np.ndarray
    recon_step: int
    recon_values: np.ndarray

    @property
    def extent(self) -> tuple[float, float, float, float]:
        """imshow extent of the sampled panels, pixel corners (GDAL convention)."""
        h, w = self.values.shape
        return (0.0, float(w * self.step), float(h * self.step), 0.0)


def _sampled(store: PixelStore, step: int, labels: bool = False):
    """Every `step`-th row and column of the image (:meth:`PixelStore.sample
    <geodigitize.store.PixelStore.sample>`): values, reasons and labels (or None). Only
    the rows sampled are read, about a block's worth at a time."""
    height = store.shape[0]
    chunk = max(1, store.block_rows) * step
    parts = [
        store.sample(r0, min(r0 + chunk, height), step, labels=labels)
        for r0 in range(0, height, chunk)
    ]
    values, reasons, ids = zip(*parts, strict=True)
    return np.concatenate(values), np.concatenate(reasons), np.concatenate(ids) if labels else None


def preview_pixels(
    store: PixelStore,
    *,
    rgb: np.ndarray | None = None,
    labels: np.ndarray | None = None,
    reason_counts: np.ndarray | None = None,
    side: int = PREVIEW_SIDE,
    pieces: Pieces | None = None,
) -> PreviewPixels:
    """Read what :func:`plot_pixels` draws from `store`, in bounded memory.

    Parameters
    ----------
    store : PixelStore
        The decoded image (values, data pixels, reasons; its labels when it has them).
    rgb : ndarray of shape (H, W, 3|4), or (h, w, 3|4) already sampled, optional
        The input image (sample it strip by strip with :func:`decimate` and
        :func:`preview_step`).
    labels : ndarray of shape (H, W) and dtype int32, optional
        Clusters of the kept points (a refinement's pieces); default the store's
        flat-cluster labels when it has them.
    reason_counts : ndarray of shape (len(Reason),), optional
        Pixels per reason over the whole image; counted from `store` when not given.
    side : int
        Longest side drawn (see :func:`preview_step`).
    pieces : geodigitize.refine.Pieces, optional
        Without `labels`: a refinement's pieces, which label the sampled pixels from
        their flat-cluster labels in the store (the labels it would mark there).

    Returns
    -------
    PreviewPixels
        For an image of at most `side` pixels a side, its pixels themselves.
    """
    shape = store.shape
    step = preview_step(shape, side)
    if rgb is not None and rgb.shape[:2] == shape:
        rgb = rgb[::step, ::step]

    read_labels = labels is None and store.has_labels
    values, reason, read = _sampled(store, step, labels=read_labels)
    if labels is not None and labels.shape == shape:
        labels = labels[::step, ::step]
    elif read is not None and pieces is not None:
        rows = np.arange(values.shape[0])[:, None] * step
        cols = np.arange(values.shape[1])[None, :] * step
        labels = pieces.labels_at(rows, cols, read, reason == Reason.DATA)
    else:
        labels = read
    if reason_counts is None:
        reason_counts = np.zeros(len(Reason), dtype=np.int64)
        for r0, r1 in store.blocks():
            reason_counts += np.bincount(store.reasons(r0, r1).ravel(), minlength=len(Reason))
    recon_step = max(1, int(np.ceil(max(shape) / RECONSTRUCTION_SIDE)))
    recon = _sampled(store, recon_step)[0]
    return PreviewPixels(
        shape, step, rgb, values, reason, labels, np.asarray(reason_counts), recon_step, recon
    )


def _extent(shape: tuple[int, int]) -> tuple[float, float, float, float]:
    """imshow extent in pixel-corner coordinates (GDAL convention)."""
    height, width = shape
    return (0.0, float(width), float(height), 0.0)


def _reconstruction(kept, pixels: PreviewPixels, value_range: float):
    """Reconstructed values and absolute error (% of range) every ``recon_step`` pixels."""
    step = pixels.recon_step
    truth = pixels.recon_values
    rr, cc = np.meshgrid(
        np.arange(truth.shape[0]) * step, np.arange(truth.shape[1]) * step, indexing="ij"
    )
    valid = ~np.isnan(truth)
    rebuilt = np.full(rr.shape, np.nan)
    if len(kept) and valid.any():
        rebuilt[valid] = interpolate_points(
            kept.col, kept.row, kept.value, cc[valid] + 0.5, rr[valid] + 0.5
        )
    err = np.abs(rebuilt - truth) / value_range * 100.0
    h, w = truth.shape
    return rebuilt, err, (0.0, float(w * step), float(h * step), 0.0)


def _mask_panel(ax, pixels: PreviewPixels, k: int = 1) -> None:
    codes = [r for r in Reason]
    from matplotlib import colors as mcolors
    from matplotlib.patches import Patch

    cmap = mcolors.ListedColormap([REASON_COLORS[r][0] for r in codes])
    norm = mcolors.BoundaryNorm(np.arange(len(codes) + 1) - 0.5, len(codes))
    ax.imshow(
        pixels.reason[::k, ::k], cmap=cmap, norm=norm, interpolation="nearest", extent=pixels.extent
    )
    present = pixels.reason_counts
    handles = [
        Patch(
            facecolor=REASON_COLORS[r][0],
            edgecolor="black",
            linewidth=0.5,
            label=f"{REASON_COLORS[r][1]} ({present[r]:,})",
        )
        for r in codes
        if present[r]
    ]
    ax.legend(handles=handles, loc="lower left", fontsize=6, framealpha=0.85)


def _points_panel(ax, kept, pixels: PreviewPixels, k: int = 1) -> None:
    shape = pixels.shape
    if pixels.labels is not None:
        labels = pixels.labels[::k, ::k]
        shuffled = np.where(labels >= 0, (labels.astype(np.int64) * 2654435761) % 20, -1)
        ax.imshow(
            np.ma.masked_less(shuffled, 0),
            cmap="tab20",
            vmin=0,
            vmax=19,
            alpha=0.45,
            interpolation="nearest",
            extent=pixels.extent,
        )
    colors = (np.arange(len(kept)) * 2654435761) % 20
    ax.scatter(
        kept.col,
        kept.row,
        c=colors,
        cmap="tab20",
        vmin=0,
        vmax=19,
        s=6,
        edgecolors="black",
        linewidths=0.3,
    )
    ax.set_xlim(0, shape[1])
    ax.set_ylim(shape[0], 0)
    ax.text(
        0.01,
        0.99,
        f"{len(kept):,} points",
        transform=ax.transAxes,
        va="top",
        fontsize=7,
        bbox={"facecolor": "white", "alpha": 0.8, "linewidth": 0},
    )


def plot_extraction(result, path: str | Path | None = None, *, dpi: int = 100) -> Figure:
    """Draw the six-panel preview of an extraction.

    Parameters
    ----------
    result : Extraction
        What :func:`geodigitize.extract` returned.
    path : path, optional
        Save the figure there (format from the suffix, PNG usually).
    dpi : int

    Returns
    -------
    matplotlib.figure.Figure
        Six axes titled :data:`PANEL_TITLES`, plus two colorbars.
    """
    kept = getattr(result, "kept", result.clusters)
    pixels = extraction_pixels(result)
    name = Path(result.image.path).name if result.image.path else "image"
    return plot_pixels(pixels, kept, result.scale, result.check, name, path, dpi=dpi)


def extraction_pixels(result) -> PreviewPixels:
    """What :func:`plot_extraction` draws of an extraction's pixels
    (:func:`preview_pixels`): the same for an image kept in memory and one streamed.

    Parameters
    ----------
    result : Extraction

    Returns
    -------
    PreviewPixels
    """
    kept = getattr(result, "kept", result.clusters)
    store = result.pixels
    if not isinstance(store, PixelStore):
        store = ArrayStore(result.decoded.values, result.valid, result.reason)
    rgb = getattr(result.image, "rgb", None)
    if rgb is None:  # a streamed image, sampled as it was read
        rgb = getattr(result, "preview_rgb", None)
    by_reason = result.counts().get("masked_by_reason")
    counts = None
    if by_reason is not None:
        counts = np.array([by_reason[r.name.lower()] for r in Reason], dtype=np.int64)
    labels = kept.labels if kept.labels.shape == store.shape else None
    # a streamed refinement marks no pixels: its pieces label the sampled ones
    refinement = getattr(result, "refinement", None)
    pieces = None if labels is not None or refinement is None else refinement.pieces
    return preview_pixels(store, rgb=rgb, labels=labels, reason_counts=counts, pieces=pieces)


def import_drawing() -> None:
    """Import what :func:`plot_pixels` draws with (matplotlib's figure and Agg canvas:
    0.2-0.4 s at the first picture of a process). A run asked for a preview calls this
    on a thread once its search is done, while the check runs, so the preview drawn
    after the run does not wait for the imports."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: F401
    from matplotlib.figure import Figure  # noqa: F401


def plot_pixels(
    pixels: PreviewPixels,
    kept,
    scale: ColorScale,
    check,
    name: str,
    path: str | Path | None = None,
    *,
    dpi: int = 100,
) -> Figure:
    """Draw the six-panel preview from :func:`preview_pixels` (any image size).

    Parameters
    ----------
    pixels : PreviewPixels
    kept : Clusters
        The kept points (``col``, ``row``, ``value``).
    scale : ColorScale
    check : ReconstructionCheck
        Its median and 95th percentile title the error panel.
    name : str
        The image's name, in the title.
    path : path, optional
        Save the figure there (format from the suffix, PNG usually).
    dpi : int

    Returns
    -------
    matplotlib.figure.Figure
        Six axes titled :data:`PANEL_TITLES`, plus two colorbars.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=PREVIEW_SIZE, dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, 3, sharex=True, sharey=True).ravel()
    cmap, norm = scale_cmap(scale)
    k = draw_step(pixels.values.shape, dpi)
    if pixels.rgb is not None:
        axes[0].imshow(pixels.rgb[::k, ::k], interpolation="nearest", extent=pixels.extent)
    im = axes[1].imshow(
        pixels.values[::k, ::k], cmap=cmap, norm=norm, interpolation="nearest", extent=pixels.extent
    )
    fig.colorbar(im, ax=axes[1], shrink=0.8)
    _mask_panel(axes[2], pixels, k)
    _points_panel(axes[3], kept, pixels, k)
    rebuilt, err, ext = _reconstruction(kept, pixels, scale.range)
    axes[4].imshow(rebuilt, cmap=cmap, norm=norm, interpolation="nearest", extent=ext)
    vmax_err = max(float(np.nanpercentile(err, 99)), 1e-6) if np.isfinite(err).any() else 1.0
    im = axes[5].imshow(
        err, cmap="magma_r", vmin=0, vmax=vmax_err, interpolation="nearest", extent=ext
    )
    fig.colorbar(im, ax=axes[5], shrink=0.8, label="% of range")
    for ax, title in zip(axes, PANEL_TITLES, strict=True):
        ax.set_title(title, fontsize=10)
        ax.tick_params(labelsize=7)
    axes[5].set_title(
        f"{PANEL_TITLES[5]}: median {check.median_pct:.3g}, p95 {check.p95_pct:.3g}", fontsize=10
    )
    fig.suptitle(f"geodigitize preview of {name} (pixel coordinates, GDAL convention)")
    if path is not None:
        _save_laid_out(fig, path)
    return fig


def _save_laid_out(fig: Figure, path: str | Path) -> None:
    """``fig.savefig(path)`` for a figure with a layout engine, drawn once instead of twice.

    savefig lays such a figure out in a first draw with the drawing turned off, then
    draws it for real with the layout engine off; the first draw runs the engine first
    and then goes through every artist (resampling every image) for nothing. Here the
    engine runs alone, as at the start of that draw, and the figure is saved without an
    engine: the same layout, the same picture, a third less time.
    """
    import matplotlib

    engine = fig.get_layout_engine()
    if engine is None or not fig.axes:
        fig.savefig(path)
        return
    try:  # as Figure.draw runs it
        engine.execute(fig)
    except ValueError:
        pass
    # no engine while saving: with these rc settings off, None means none (savefig
    # too sets None back when done)
    no_layout = {"figure.autolayout": False, "figure.constrained_layout.use": False}
    with matplotlib.rc_context(no_layout):
        fig.set_layout_engine(None)
        try:
            fig.savefig(path)
        finally:
            fig.set_layout_engine(engine)


#: Largest magnification of residual arrows in :func:`plot_gcps`.
MAX_ARROW_SCALE = 1000.0


def plot_gcps(
    image: np.ndarray,
    georef,
    path: str | Path | None = None,
    *,
    dpi: int = 100,
    arrow_scale: float | None = None,
) -> Figure:
    """Draw the GCPs on the image with their residual arrows.

    Parameters
    ----------
    image : ndarray of shape (H, W, 3) and dtype uint8
    georef : Georeference
        Fitted transform; its ``gcps`` and ``residuals`` (pixels) are drawn.
    path : path, optional
        Save the figure there.
    arrow_scale : float, optional
        Draw residual arrows this many times their length; default makes the longest
        about 5 % of the image's longer side.

    Returns
    -------
    matplotlib.figure.Figure
        One axes; each GCP is a marker labelled with its id and residual, and an arrow
        from where the fitted transform puts it to where it was read.
    """
    height, width = image.shape[:2]
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 10 * height / max(width, 1) + 0.8), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    ax.imshow(image, interpolation="nearest", extent=_extent((height, width)))
    gcps = georef.gcps
    col, row = np.asarray(gcps.col, float), np.asarray(gcps.row, float)
    res = np.asarray(georef.residuals, float)
    norms = np.hypot(res[:, 0], res[:, 1])
    if arrow_scale is None:
        # residuals below 0.01 px are reading noise at most: never magnify them into arrows
        longest = max(float(norms.max(initial=0)), 0.01)
        arrow_scale = min(0.05 * max(height, width) / longest, MAX_ARROW_SCALE)
    # arrow from the fitted position (col - dcol) to the read one, magnified
    ax.quiver(
        col,
        row,
        res[:, 0],
        res[:, 1],
        angles="xy",
        scale_units="xy",
        scale=1.0 / arrow_scale,
        color="red",
        width=0.003,
        pivot="tip",
    )
    ax.scatter(col, row, s=40, marker="+", color="black", linewidths=1.5)
    for pid, c, r, n in zip(gcps.ids, col, row, norms, strict=True):
        ax.annotate(
            f"{pid}: {n:.2f} px",
            (c, r),
            xytext=(4, 4),
            textcoords="offset points",
            fontsize=7,
            bbox={"facecolor": "white", "alpha": 0.7, "linewidth": 0},
        )
    ax.set_xlim(0, width)
    ax.set_ylim(height, 0)
    ax.set_title(f"GCPs and residuals (arrows x{arrow_scale:.3g}); RMSE {georef.rmse:.3f} px")
    if path is not None:
        fig.savefig(path)
    return fig


#: Picture formats matplotlib's Agg canvas saves (by file suffix).
PICTURE_FORMATS = ("png", "jpg", "jpeg", "pdf", "svg", "svgz", "eps", "ps", "tif", "tiff", "webp")


def check_preview_path(
    path: str | Path,
    *,
    overwrite: bool = False,
    out_dir: str | Path | None = None,
    reserved: tuple[str, ...] = (),
) -> Path:
    """Make sure a picture can be written at `path`: a picture suffix, its folder exists,
    no clobbering, no clash with a run's own outputs.

    Parameters
    ----------
    path : path
        A bare name goes into `out_dir` when that is given.
    overwrite : bool
        An existing file may be replaced.
    out_dir : path, optional
        The run's output folder (need not exist yet).
    reserved : tuple of str
        The run's own file names in `out_dir`, which the picture must not replace.

    Returns
    -------
    Path
        Where the picture goes.

    Raises
    ------
    OutputError
    """
    path = Path(path)
    if out_dir is not None and path.name == str(path):
        path = Path(out_dir) / path
    inside = out_dir is not None and os.path.abspath(path.parent) == os.path.abspath(out_dir)
    suffix = path.suffix.lower().lstrip(".")
    if suffix not in PICTURE_FORMATS:
        raise OutputError(
            f"cannot draw a picture into {str(path)!r}: {('.' + suffix) if suffix else 'no'} "
            f"suffix is not a picture format; name it e.g. preview.png "
            f"({', '.join(PICTURE_FORMATS[:5])} ...)"
        )
    if inside and path.name in reserved:
        raise OutputError(
            f"the preview {path.name!r} would replace the run's own {path.name}: choose "
            "another name, e.g. preview.png"
        )
    if path.is_dir():
        raise OutputError(f"cannot write {path}: it is a folder, give a file name")
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path} already exists")
    if not inside and not path.parent.is_dir():
        raise OutputError(f"cannot write {path}: folder {path.parent} is missing")
    return path


def write_preview(result, path: str | Path, *, overwrite: bool = False) -> Path:
    """Draw :func:`plot_extraction` into `path` atomically (temporary file, then rename)."""
    return write_picture(lambda p: plot_extraction(result, p), path, overwrite=overwrite)


def write_picture(draw, path: str | Path, *, overwrite: bool = False) -> Path:
    """Call ``draw(temporary_path)`` and rename the picture to `path` when it succeeded.

    Raises
    ------
    OutputError
        If `path` exists and not `overwrite`, its folder is missing, or writing fails.
    """
    from .io import OutputSet

    path = check_preview_path(path, overwrite=overwrite)
    with OutputSet(None, outside=[path], overwrite=overwrite) as outputs:
        outputs.write({path: draw})
        outputs.commit()
    return path
