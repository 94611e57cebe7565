"""The preview as it was drawn before it read a PixelStore (commit daff090), kept verbatim as
the reference the store-based preview must draw identically for small images."""
# ruff: noqa

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from geodigitize.colormap import ColorScale
from geodigitize.errors import OutputError, OutputExistsError
from geodigitize.mask import Reason
from geodigitize.reconstruct import interpolate_points

if TYPE_CHECKING:  # matplotlib's figure machinery is imported when a picture is drawn
    from matplotlib import colors as mcolors
    from matplotlib.figure import Figure

__all__ = [
    "PANEL_TITLES",
    "PICTURE_FORMATS",
    "REASON_COLORS",
    "check_preview_path",
    "plot_extraction",
    "plot_gcps",
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


def _extent(shape: tuple[int, int]) -> tuple[float, float, float, float]:
    """imshow extent in pixel-corner coordinates (GDAL convention)."""
    height, width = shape
    return (0.0, float(width), float(height), 0.0)


def _reconstruction(result, side: int = RECONSTRUCTION_SIDE):
    """Reconstructed values and absolute error (% of range) on a grid of at most `side`."""
    kept = getattr(result, "kept", result.clusters)
    height, width = result.image.shape
    step = max(1, int(np.ceil(max(height, width) / side)))
    rows = np.arange(0, height, step)
    cols = np.arange(0, width, step)
    rr, cc = np.meshgrid(rows, cols, indexing="ij")
    valid = result.valid[rr, cc]
    rebuilt = np.full(rr.shape, np.nan)
    if len(kept) and valid.any():
        rebuilt[valid] = interpolate_points(
            kept.col, kept.row, kept.value, cc[valid] + 0.5, rr[valid] + 0.5
        )
    err = np.abs(rebuilt - result.decoded.values[rr, cc]) / result.scale.range * 100.0
    return rebuilt, err, (0.0, float(cols[-1] + step), float(rows[-1] + step), 0.0)


def _mask_panel(ax, reason: np.ndarray) -> None:
    codes = [r for r in Reason]
    from matplotlib import colors as mcolors
    from matplotlib.patches import Patch

    cmap = mcolors.ListedColormap([REASON_COLORS[r][0] for r in codes])
    norm = mcolors.BoundaryNorm(np.arange(len(codes) + 1) - 0.5, len(codes))
    ax.imshow(reason, cmap=cmap, norm=norm, interpolation="nearest", extent=_extent(reason.shape))
    present = np.bincount(reason.ravel(), minlength=len(codes))
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


def _points_panel(ax, result) -> None:
    kept = getattr(result, "kept", result.clusters)
    shape = result.image.shape
    labels = kept.labels
    shuffled = np.where(labels >= 0, (labels.astype(np.int64) * 2654435761) % 20, -1)
    ax.imshow(
        np.ma.masked_less(shuffled, 0),
        cmap="tab20",
        vmin=0,
        vmax=19,
        alpha=0.45,
        interpolation="nearest",
        extent=_extent(shape),
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
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(15, 9), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, 3, sharex=True, sharey=True).ravel()
    shape = result.image.shape
    cmap, norm = scale_cmap(result.scale)
    axes[0].imshow(result.image.rgb, interpolation="nearest", extent=_extent(shape))
    im = axes[1].imshow(
        result.values, cmap=cmap, norm=norm, interpolation="nearest", extent=_extent(shape)
    )
    fig.colorbar(im, ax=axes[1], shrink=0.8)
    _mask_panel(axes[2], result.reason)
    _points_panel(axes[3], result)
    rebuilt, err, ext = _reconstruction(result)
    axes[4].imshow(rebuilt, cmap=cmap, norm=norm, interpolation="nearest", extent=ext)
    vmax_err = max(float(np.nanpercentile(err, 99)), 1e-6) if np.isfinite(err).any() else 1.0
    im = axes[5].imshow(
        err, cmap="magma_r", vmin=0, vmax=vmax_err, interpolation="nearest", extent=ext
    )
    fig.colorbar(im, ax=axes[5], shrink=0.8, label="% of range")
    check = result.check
    for ax, title in zip(axes, PANEL_TITLES, strict=True):
        ax.set_title(title, fontsize=10)
        ax.tick_params(labelsize=7)
    axes[5].set_title(
        f"{PANEL_TITLES[5]}: median {check.median_pct:.3g}, p95 {check.p95_pct:.3g}", fontsize=10
    )
    name = Path(result.image.path).name if result.image.path else "image"
    fig.suptitle(f"geodigitize preview of {name} (pixel coordinates, GDAL convention)")
    if path is not None:
        fig.savefig(path)
    return fig


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
    from geodigitize.io import OutputSet

    path = check_preview_path(path, overwrite=overwrite)
    with OutputSet(None, outside=[path], overwrite=overwrite) as outputs:
        outputs.write({path: draw})
        outputs.commit()
    return path
