"""Figures of several map panels sharing one colour scale (``--panels``).

Seasonal and multi-model figures put 2 to 12 maps in one figure with one shared colorbar.
A panel run reads the image and the colour scale once, finds every map frame (or takes
the frames given), gives each panel its own ground control points, runs
:func:`geodigitize.pipeline.extract` on each panel's frame, and writes one complete output
set per panel (``OUT/panel1/``, ``OUT/panel2/`` ... in reading order) plus ``panels.json``
and ``panels.csv``, all committed as one set: every panel or none.

Frames
------
:func:`find_panels` labels the connected areas of pixels on the colour scale (not the
page's colour); each area of at least :data:`MIN_PANEL_SHARE` of the largest is a panel
candidate, and its frame is found by :func:`geodigitize.frame.find_frame` in a window
around it, so a panel's frame follows the same rules (spines, band frames, tightening,
refusals) as a single map's. The colorbar's box is left out. Panels are numbered in
reading order: rows top to bottom, then left to right within a row.

GCPs
----
Pixel positions are always the whole figure's (GDAL convention). Each GCP belongs to a
panel by the GCP file's ``panel`` column (1-based, reading order), or without one to the
panel whose frame it lies on or next to (within :data:`GCP_REACH` pixels); with
``same_map`` the panels show the same map (same extent and projection) and the GCPs of
panel 1 are carried to every other panel by the affine map of panel 1's frame onto it.

A PDF page is rendered at ``dpi`` (the whole page: the panels and the colorbar are on
it); GCPs, frames and a colorbar box measured on the page are moved onto the rendering as
for one map (:func:`geodigitize.pdf.gcps_on_image`).

Notes
-----
Boxes are ``(x0, y0, x1, y1)`` pixel corners (``docs/conventions.md``).
"""

from __future__ import annotations

import csv
import io as _stdio
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from scipy import ndimage

from .colorbar import locate_colorbar
from .decode import Decoded, decode
from .errors import GCPError, OptionError, OutputError, RegionError
from .frame import find_frame, page_pixels
from .gcps import GCP, GCPSet, load_gcps, read_column
from .image import MapImage, read_image
from .io import OutputSet, check_outputs, write_json
from .options import Options
from .pdf import DEFAULT_DPI, PDFSource, box_on_image, gcps_on_image, is_pdf, read_pdf
from .pipeline import OUTPUT_NAMES, Extraction, extract
from .progress import Progress
from .region import Box, parse_box
from .scale import build_scale
from .shading import shaded_scale
from .version import __version__

__all__ = [
    "PanelLayout",
    "PanelRun",
    "extract_panels",
    "find_panels",
    "panel_gcps",
    "parse_panels",
    "run_panels",
]

log = logging.getLogger(__name__)

#: Least size of a panel's scale-coloured area, as a share of the largest one.
MIN_PANEL_SHARE = 0.25
#: Widest aspect ratio (long side / short side) of a panel's area: a colorbar is longer.
MAX_ASPECT = 8.0
#: How far (pixels) around a panel's area its frame is looked for (less where panels
#: are closer: half the gap to the next one).
SEARCH_PAD = 16
#: Largest difference in width or height between found frames, as a share of the median
#: (at least :data:`SIZE_SLACK_PX` pixels): frames of one figure's panels agree.
SIZE_TOL = 0.03
SIZE_SLACK_PX = 3.0
#: Farthest (pixels) a GCP may lie outside a frame and still belong to its panel (tick
#: marks on the spine are just outside the frame's inside).
GCP_REACH = 12.0
#: Header names of the GCP file's panel column.
PANEL_COLUMN = ("panel", "panel_id", "subplot")
#: Files of a panel run beside the panel folders.
SUMMARY_NAMES = ("panels.json", "panels.csv")


@dataclass(frozen=True)
class PanelLayout:
    """The panels of a figure.

    Attributes
    ----------
    frames : tuple of (x0, y0, x1, y1)
        Each panel's frame (inside of its spines), in reading order.
    how : str
        ``"found"`` (:func:`find_panels`) or ``"given"``.
    colorbar : (x0, y0, x1, y1) or None
        The shared colorbar's box when the scale is read from it.
    """

    frames: tuple[Box, ...]
    how: str
    colorbar: Box | None = None

    def __len__(self) -> int:
        return len(self.frames)


def parse_panels(panels) -> str | int | tuple[Box, ...]:
    """`panels` checked: ``"auto"``, a number of panels (>= 2), or boxes.

    Parameters
    ----------
    panels : "auto", int, str or sequence of boxes
        ``"auto"``; a count (``4``, ``"4"``); boxes as a sequence of four numbers each, or
        text ``"x0,y0,x1,y1;x0,y0,x1,y1;..."``.

    Raises
    ------
    OptionError, RegionError
    """
    if isinstance(panels, str):
        text = panels.strip().lower()
        if text == "auto":
            return "auto"
        if text.isdigit():
            panels = int(text)
        else:
            panels = [p for p in text.split(";") if p.strip()]
    if isinstance(panels, int | np.integer) and not isinstance(panels, bool):
        if panels < 2:
            raise OptionError(
                f"`panels` must be 'auto', a number of panels >= 2 or their frames, got "
                f"{panels}: for one map use `region`"
            )
        return int(panels)
    if isinstance(panels, Sequence) and not isinstance(panels, str):
        boxes = tuple(parse_box(b, f"panel {i} frame") for i, b in enumerate(panels, 1))
        if len(boxes) < 2:
            raise OptionError("`panels` needs at least two frames: for one map use `region`")
        return boxes
    raise OptionError(
        f"`panels` must be 'auto', a number of panels or their frames, got {panels!r}"
    )


def reading_order(boxes: Sequence[Box]) -> tuple[Box, ...]:
    """`boxes` in reading order: rows top to bottom (a box whose centre lies within the
    first box of a row joins that row), then left to right."""
    rest = sorted(boxes, key=lambda b: (b[1] + b[3]) / 2)
    ordered: list[Box] = []
    while rest:
        first = rest[0]
        row = [b for b in rest if first[1] <= (b[1] + b[3]) / 2 <= first[3]]
        ordered += sorted(row, key=lambda b: b[0])
        rest = [b for b in rest if b not in row]
    return tuple(ordered)


def find_panels(
    image: np.ndarray,
    decoded: Decoded,
    *,
    count: int | None = None,
    colorbar: Box | None = None,
    max_distance: float = 30.0,
) -> tuple[Box, ...]:
    """Find the map frame of every panel of a figure.

    Parameters
    ----------
    image : ndarray of shape (H, W, 3) and dtype uint8
    decoded : Decoded
        The image decoded with the shared colour scale (its distances tell which pixels
        are on the scale).
    count : int, optional
        The number of panels expected; another number found is refused.
    colorbar : (x0, y0, x1, y1), optional
        The colorbar's box, left out.
    max_distance : float
        Distance within which a pixel is on the scale.

    Returns
    -------
    tuple of (x0, y0, x1, y1)
        The frames in reading order.

    Raises
    ------
    RegionError
        Fewer than two panels (or not `count`), frames of different sizes, or a panel whose
        frame :func:`geodigitize.frame.find_frame` is not sure of; the message says to
        give the frames as `panels`.
    """
    img = np.asarray(image)
    on_scale = np.asarray(decoded.distance) <= max_distance
    areas = _panel_areas(on_scale & ~page_pixels(img), colorbar)
    give = "give each panel's frame as `panels` x0,y0,x1,y1;x0,y0,x1,y1;..."
    if len(areas) < 2 or (count is not None and len(areas) != count):
        found = ", ".join(_fmt(a) for a in areas) or "none"
        want = f"{count}" if count is not None else "several"
        raise RegionError(
            f"found {len(areas)} map area(s) ({found}) where {want} panels were expected: "
            f"{give} (for one map, leave out `panels`)"
        )
    frames = []
    for area, window in zip(areas, _windows(areas, img.shape[:2]), strict=True):
        frames.append(_panel_frame(img, decoded, area, window, max_distance, give))
    for i, a in enumerate(frames):
        for b in frames[i + 1 :]:
            if _overlap(a, b):
                raise RegionError(
                    f"two panels' frames found overlap ({_fmt(a)} and {_fmt(b)}): {give}"
                )
    _check_sizes(frames, give)
    return reading_order(frames)


def _overlap(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _merged(boxes: list[Box]) -> list[Box]:
    """`boxes` with overlapping ones joined into their union (one map's ocean split by
    land into several areas is one panel)."""
    boxes = list(boxes)
    joined = True
    while joined:
        joined = False
        for i, a in enumerate(boxes):
            for j in range(i + 1, len(boxes)):
                b = boxes[j]
                if _overlap(a, b):
                    boxes[i] = (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))
                    del boxes[j]
                    joined = True
                    break
            if joined:
                break
    return boxes


def _panel_areas(cand: np.ndarray, colorbar: Box | None) -> list[Box]:
    """Bounding boxes of the connected scale-coloured areas large enough to be panels."""
    if colorbar is not None:
        x0, y0, x1, y1 = (round(v) for v in colorbar)
        cand = cand.copy()
        cand[max(y0 - 3, 0) : y1 + 3, max(x0 - 3, 0) : x1 + 3] = False
    cand = ndimage.binary_closing(cand, structure=np.ones((5, 5), bool))
    labels, n = ndimage.label(cand)
    if n == 0:
        return []
    sizes = np.bincount(labels.ravel())[1:]
    boxes: list[Box] = []
    for size, sl in zip(sizes, ndimage.find_objects(labels), strict=True):
        h, w = sl[0].stop - sl[0].start, sl[1].stop - sl[1].start
        if size >= MIN_PANEL_SHARE * sizes.max() and max(h, w) <= MAX_ASPECT * min(h, w):
            boxes.append(
                (float(sl[1].start), float(sl[0].start), float(sl[1].stop), float(sl[0].stop))
            )
    return _merged(boxes)


def _windows(areas: list[Box], shape: tuple[int, int]) -> list[tuple[int, int, int, int]]:
    """A search window around each area, :data:`SEARCH_PAD` wide but at most half the
    gap to any other area it faces."""
    height, width = shape
    out = []
    for i, a in enumerate(areas):
        pads = [SEARCH_PAD] * 4  # left, top, right, bottom
        for j, b in enumerate(areas):
            if i == j:
                continue
            rows_meet = b[1] < a[3] and a[1] < b[3]
            cols_meet = b[0] < a[2] and a[0] < b[2]
            if rows_meet and b[2] <= a[0]:
                pads[0] = min(pads[0], int((a[0] - b[2]) // 2))
            if cols_meet and b[3] <= a[1]:
                pads[1] = min(pads[1], int((a[1] - b[3]) // 2))
            if rows_meet and b[0] >= a[2]:
                pads[2] = min(pads[2], int((b[0] - a[2]) // 2))
            if cols_meet and b[1] >= a[3]:
                pads[3] = min(pads[3], int((b[1] - a[3]) // 2))
        x0, y0, x1, y1 = (int(v) for v in a)
        out.append(
            (
                max(x0 - pads[0], 0),
                max(y0 - pads[1], 0),
                min(x1 + pads[2], width),
                min(y1 + pads[3], height),
            )
        )
    return out


def _panel_frame(img, decoded: Decoded, area: Box, window, max_distance: float, give: str) -> Box:
    """:func:`find_frame` in `window`, shifted back to the figure's pixels."""
    c0, r0, c1, r1 = window
    win = (slice(r0, r1), slice(c0, c1))
    sub = Decoded(
        decoded.values[win], decoded.distance[win], decoded.index[win], decoded.color_space, 0
    )
    try:
        x0, y0, x1, y1 = find_frame(img[win], decoded=sub, max_distance=max_distance)
    except RegionError as exc:
        raise RegionError(f"the panel near {_fmt(area)}: {exc}; or {give}") from None
    return (x0 + c0, y0 + r0, x1 + c0, y1 + r0)


def _check_sizes(frames: Sequence[Box], give: str) -> None:
    """Refuse frames whose widths or heights differ beyond :data:`SIZE_TOL`."""
    size = np.array([(b[2] - b[0], b[3] - b[1]) for b in frames])
    median = np.median(size, axis=0)
    off = np.abs(size - median) > np.maximum(SIZE_TOL * median, SIZE_SLACK_PX)
    if off.any():
        sizes = ", ".join(f"{w:g}x{h:g}" for w, h in size)
        raise RegionError(f"the map frames found differ in size ({sizes}): {give}")


def panel_gcps(
    gcpset: GCPSet,
    frames: Sequence[Box],
    panel: Sequence[int] | None = None,
    *,
    same_map: bool = False,
) -> list[tuple[GCPSet, str]]:
    """Each panel's GCPs, and where they came from.

    Parameters
    ----------
    gcpset : GCPSet
        GCPs at figure pixels.
    frames : sequence of (x0, y0, x1, y1)
        The panels' frames, in reading order.
    panel : sequence of int, optional
        Each GCP's panel (1-based); None: the panel whose frame the GCP lies on or
        within :data:`GCP_REACH` pixels of.
    same_map : bool
        Every panel shows panel 1's map: panel 1's GCPs are carried to each panel by the
        affine map of panel 1's frame onto the panel's.

    Returns
    -------
    list of (GCPSet, str), one per panel

    Raises
    ------
    GCPError
        A panel number out of range, a GCP on no panel's frame, a panel without GCPs, or
        with `same_map` GCPs on another panel than 1 or frames of different sizes.
    """
    n = len(frames)
    if panel is None:
        panel = [_panel_of(p, frames) for p in gcpset]
        how = "on its frame"
    else:
        bad = [p for p in panel if not 1 <= p <= n]
        if bad:
            raise GCPError(f"GCP panel {bad[0]} is not a panel of this figure: panels are 1 to {n}")
        how = "panel column"
    groups = [
        [g for g, k in zip(gcpset.points, panel, strict=True) if k == i] for i in range(1, n + 1)
    ]
    if same_map:
        if any(groups[1:]):
            k = next(i for i, g in enumerate(groups) if i and g) + 1
            raise GCPError(
                f"with `same_map` give GCPs on panel 1 only (found some on panel {k}): they "
                "are carried to the other panels"
            )
        _check_same_size(frames)
        groups = [[_carry(g, frames[0], f) for g in groups[0]] for f in frames]
    for i, group in enumerate(groups, 1):
        if not group:
            raise GCPError(
                f"no GCPs on panel {i} (frame {_fmt(frames[i - 1])}): add some measured on it "
                "(a 'panel' column in the GCP file names each point's panel), or give "
                "`same_map` when every panel shows the same map"
            )
    source = "panel 1, carried (same map)" if same_map else how
    return [
        (GCPSet(tuple(g), gcpset.crs, gcpset.source), source if i else how)
        for i, g in enumerate(groups)
    ]


def _panel_of(point: GCP, frames: Sequence[Box]) -> int:
    """The 1-based panel whose frame `point` is on or next to."""
    dist = [
        np.hypot(
            max(b[0] - point.col, 0, point.col - b[2]), max(b[1] - point.row, 0, point.row - b[3])
        )
        for b in frames
    ]
    best = int(np.argmin(dist))
    if dist[best] > GCP_REACH:
        raise GCPError(
            f"GCP {point.id} at {point.col:g},{point.row:g} is on no panel's frame (nearest: "
            f"panel {best + 1}, {dist[best]:.0f} px away): add a 'panel' column to the GCP file"
        )
    return best + 1


def _check_same_size(frames: Sequence[Box]) -> None:
    w0, h0 = frames[0][2] - frames[0][0], frames[0][3] - frames[0][1]
    for i, b in enumerate(frames[1:], 2):
        w, h = b[2] - b[0], b[3] - b[1]
        if abs(w - w0) > max(SIZE_TOL * w0, SIZE_SLACK_PX) or abs(h - h0) > max(
            SIZE_TOL * h0, SIZE_SLACK_PX
        ):
            raise GCPError(
                f"`same_map` needs frames of one size: panel 1 is {w0:g}x{h0:g}, panel {i} "
                f"{w:g}x{h:g}; give each panel its own GCPs"
            )


def _carry(point: GCP, src: Box, dst: Box) -> GCP:
    """`point` moved from frame `src` to the same place in frame `dst`."""
    sx = (dst[2] - dst[0]) / (src[2] - src[0])
    sy = (dst[3] - dst[1]) / (src[3] - src[1])
    col = dst[0] + (point.col - src[0]) * sx
    row = dst[1] + (point.row - src[1]) * sy
    return replace(point, col=col, row=row)


@dataclass(frozen=True, eq=False)
class PanelRun:
    """Every panel's extraction.

    Attributes
    ----------
    layout : PanelLayout
    results : tuple of Extraction
        One per panel, in reading order; each ran with ``region`` its frame.
    gcps_from : tuple of str
        How each panel got its GCPs (``"panel column"``, ``"on its frame"``, ``"panel 1,
        carried (same map)"``).
    source : PDFSource or None
        For a PDF, the page rendered (frames, GCPs and points are in its pixels).
    """

    layout: PanelLayout
    results: tuple[Extraction, ...]
    gcps_from: tuple[str, ...]
    source: PDFSource | None = None

    def rows(self) -> list[dict]:
        """One summary row per panel (``panels.csv``)."""
        rows = []
        for i, (frame, result, how) in enumerate(
            zip(self.layout.frames, self.results, self.gcps_from, strict=True), 1
        ):
            counts = result.counts()
            rows.append(
                {
                    "panel": i,
                    "folder": f"panel{i}",
                    "frame": ",".join(f"{v:g}" for v in frame),
                    "data_pixels": counts["data"],
                    "points": counts["points"],
                    "gcps": len(result.georef.gcps),
                    "gcps_from": how,
                    "gcp_rmse_px": round(float(result.georef.rmse), 4),
                    "reconstruction_median_pct": round(float(result.check.median_pct), 4),
                }
            )
        return rows

    def _panel_entry(self, i: int) -> dict:
        """What ``panelN/report.json`` says about its panel (``"panel"``)."""
        frame = self.layout.frames[i - 1]
        return {
            "number": i,
            "of": len(self.results),
            "frame": list(frame),
            "frames": self.layout.how,
            "gcps_from": self.gcps_from[i - 1],
            "pdf": None if self.source is None else self.source.to_dict(),
        }

    def report(self) -> dict:
        """The content of ``panels.json``."""
        first = self.results[0]
        return {
            "geodigitize_version": __version__,
            "image": first.image.path,
            "pdf": None if self.source is None else self.source.to_dict(),
            "panels": self.rows(),
            "frames": {"how": self.layout.how, "boxes": [list(f) for f in self.layout.frames]},
            "colorbar": None if self.layout.colorbar is None else list(self.layout.colorbar),
            "color_scale": first.scale.to_dict(),
        }

    def writers(self) -> dict[str, Callable[[Path], None]]:
        """Every output's writer, keyed by its name in the output folder
        (``panel1/points.gpkg`` ..., ``panels.json``, ``panels.csv``)."""
        writers: dict[str, Callable[[Path], None]] = {}
        for i, result in enumerate(self.results, 1):
            for name, write in result.writers().items():
                writers[f"panel{i}/{name}"] = write
            writers[f"panel{i}/report.json"] = lambda p, i=i, r=result: write_json(
                p, {**r.report(), "panel": self._panel_entry(i)}
            )
        writers["panels.json"] = lambda p: write_json(p, self.report())
        writers["panels.csv"] = lambda p: p.write_text(_csv(self.rows()), encoding="utf-8")
        return writers


def _csv(rows: list[dict]) -> str:
    buf = _stdio.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def output_names(n: int) -> list[str]:
    """The files a run of `n` panels writes into its output folder."""
    return [f"panel{i}/{name}" for i in range(1, n + 1) for name in OUTPUT_NAMES] + list(
        SUMMARY_NAMES
    )


def _read(image, opts: Options) -> tuple[MapImage, PDFSource | None]:
    """The figure, and for a PDF how its page was rendered (GCPs are measured on it)."""
    if isinstance(image, MapImage):
        return image, None
    if not (isinstance(image, str | os.PathLike) and is_pdf(image)):
        return read_image(image, opts.max_pixels), None
    if opts.pdf_image not in ("auto", "render"):
        raise OptionError(
            "panels are read from the rendered page: leave out `pdf_image` (got "
            f"{opts.pdf_image!r})"
        )
    if opts.gcp_units == "pixels" and opts.dpi is None:
        raise GCPError(
            "GCPs and frames measured on a PDF page need the resolution they were measured "
            "at: give `dpi` (pixels per inch of the page), or measure in PDF points with "
            "`gcp_units` points"
        )
    return read_pdf(
        image,
        page=opts.page,
        dpi=DEFAULT_DPI if opts.dpi is None else opts.dpi,
        pdf_image="render",
        password=opts.pdf_password,
        max_pixels=opts.max_pixels,
    )


def _on_page(panels, opts: Options, source: PDFSource | None):
    """Frames and a colorbar box measured on a PDF page, in pixels of the rendered page."""
    if source is None:
        return panels, opts
    units = opts.gcp_units
    if not isinstance(panels, str | int):
        panels = tuple(box_on_image(b, source, units) for b in panels)
    cb = opts.colorbar
    if cb is not None and not (isinstance(cb, str) and cb.strip().lower() == "auto"):
        box = box_on_image(parse_box(cb, "colorbar"), source, units)
        opts = replace(opts, colorbar=",".join(f"{v:g}" for v in box))
    return panels, opts


def _check_options(opts: Options) -> None:
    if opts.region is not None:
        raise OptionError(
            "give the panels' frames with `panels` (or find them with `panels` auto), not `region`"
        )
    if opts.preview is not None:
        raise OptionError(
            "`preview` is not drawn for panels: run one panel alone with its frame as "
            "`region` to preview it"
        )


def layout_panels(img: MapImage, opts: Options, panels) -> tuple[PanelLayout, Options]:
    """The panels' frames (found or given) and the options every panel runs with (the
    colorbar, when found, given as its box so that it is read once)."""
    panels = parse_panels(panels)
    colorbar = None
    cb = opts.colorbar
    if isinstance(cb, str) and cb.strip().lower() == "auto":
        colorbar = locate_colorbar(img.rgb).search_box
        opts = replace(opts, colorbar=",".join(f"{v:g}" for v in colorbar))
    elif cb is not None:
        colorbar = parse_box(cb, "colorbar")
    if not isinstance(panels, str | int):
        return PanelLayout(panels, "given", colorbar), opts
    scale = build_scale(**opts.scale_parameters(), image=img.rgb)
    if opts.shaded is not None:
        scale = shaded_scale(scale, opts.shaded)
    decoded = decode(img.rgb, scale, color_space=opts.color_space)
    count = None if panels == "auto" else panels
    frames = find_panels(img.rgb, decoded, count=count, colorbar=colorbar)
    log.info("found %d panels: %s", len(frames), frames)
    return PanelLayout(frames, "found", colorbar), opts


def _panel_numbers(gcps) -> list[int] | None:
    """The GCP file's (or DataFrame's) panel column as whole numbers, or None."""
    if isinstance(gcps, str | os.PathLike):
        cells = read_column(gcps, PANEL_COLUMN)
    elif hasattr(gcps, "columns"):
        name = next((c for c in gcps.columns if str(c).strip().lower() in PANEL_COLUMN), None)
        cells = None if name is None else [str(v) for v in gcps[name]]
    else:
        cells = None
    if cells is None:
        return None
    try:
        numbers = [float(c) for c in cells]
    except ValueError:
        numbers = [np.nan]
    if not all(np.isfinite(v) and v == int(v) for v in numbers):
        raise GCPError("the GCP file's panel column must hold panel numbers 1, 2, ... on every row")
    return [int(v) for v in numbers]


def extract_panels(
    image,
    *,
    gcps=None,
    panels="auto",
    same_map: bool = False,
    progress: Progress | None = None,
    options: Options | None = None,
    **kwargs,
) -> PanelRun:
    """Run the pipeline on every panel of a multi-panel figure.

    Parameters
    ----------
    image : path, MapImage, ndarray or PIL image
        The figure: an image, or a PDF page (``page``), rendered at ``dpi``; GCPs and
        frames are then measured on the page in pixels at ``dpi`` or in points
        (``gcp_units``), as for one map.
    gcps : path, GCPSet, DataFrame or array of shape (N, 4)
        GCPs at figure pixels; a CSV or DataFrame may have a ``panel`` column (1-based,
        reading order); without it each GCP belongs to the panel whose frame it is on.
    panels : "auto", int or sequence of boxes
        Find the frames (``"auto"``: two or more; a number: exactly that many), or the
        frames themselves.
    same_map : bool
        Every panel shows the same map: GCPs are given on panel 1 only.
    progress : callable, optional
        As :func:`geodigitize.pipeline.extract`, for each panel in turn.
    options : Options, optional
        All options at once, or as keyword arguments (`kwargs`). `region` and `preview`
        are not used with panels.

    Returns
    -------
    PanelRun

    Raises
    ------
    GeodigitizeError
        Bad input, panels not found as asked, a panel without GCPs.
    """
    plan = _plan(image, gcps, panels, same_map, options, kwargs)
    return _extract(plan, progress)


@dataclass(frozen=True, eq=False)
class _Plan:
    """What a panel run knows before decoding any panel."""

    image: MapImage
    layout: PanelLayout
    options: Options
    gcps: list[tuple[GCPSet, str]]
    source: PDFSource | None = None


def _plan(image, gcps, panels, same_map: bool, options: Options | None, kwargs: dict) -> _Plan:
    if options is not None and kwargs:
        raise OptionError("give either `options` or keyword options, not both")
    opts = Options(**kwargs) if options is None else options
    _check_options(opts)
    if gcps is None:
        raise GCPError(
            "panels need ground control points: give `gcps` (a CSV col,row,lon,lat[,panel])"
        )
    numbers = _panel_numbers(gcps)
    gcpset = load_gcps(gcps, opts.gcp_crs)
    panels = parse_panels(panels)
    img, source = _read(image, opts)
    if source is not None:
        gcpset = gcps_on_image(gcpset, source, opts.gcp_units)
        panels, opts = _on_page(panels, opts, source)
    layout, opts = layout_panels(img, opts, panels)
    per_panel = panel_gcps(gcpset, layout.frames, numbers, same_map=same_map)
    return _Plan(img, layout, opts, per_panel, source)


def _extract(plan: _Plan, progress: Progress | None) -> PanelRun:
    results = tuple(
        extract(
            plan.image,
            gcps=g,
            progress=_prefixed(progress, f"panel {i}: "),
            options=replace(plan.options, region=f),
        )
        for i, (f, (g, _)) in enumerate(zip(plan.layout.frames, plan.gcps, strict=True), 1)
    )
    return PanelRun(plan.layout, results, tuple(how for _, how in plan.gcps), plan.source)


def _prefixed(progress: Progress | None, prefix: str) -> Progress | None:
    """`progress` with every stage name prefixed (``panel 2: decode``)."""
    if progress is None:
        return None
    return lambda stage, state: progress(prefix + stage, state)


def run_panels(
    image,
    out_dir: str | Path,
    *,
    gcps=None,
    panels="auto",
    same_map: bool = False,
    overwrite: bool = False,
    progress: Progress | None = None,
    options: Options | None = None,
    **kwargs,
) -> tuple[PanelRun, dict[str, Path]]:
    """:func:`extract_panels`, then write every panel's outputs into ``out_dir/panelN/``
    and ``panels.json``, ``panels.csv`` into `out_dir`, committed as one set (see
    :class:`geodigitize.io.OutputSet`): every panel or none.

    Returns
    -------
    PanelRun, dict of output name (``panel1/grid.tif`` ...) to path

    Raises
    ------
    GeodigitizeError
        As :func:`extract_panels`; :class:`OutputError` when an output cannot be written
        or exists without `overwrite` (nothing is written then).
    """
    check_outputs(out_dir, [], overwrite=overwrite)
    plan = _plan(image, gcps, panels, same_map, options, kwargs)
    outputs = OutputSet(out_dir, output_names(len(plan.layout)), overwrite=overwrite)
    out = Path(out_dir)
    for i in range(1, len(plan.layout) + 1):
        if (out / f"panel{i}").exists() and not (out / f"panel{i}").is_dir():
            raise OutputError(f"{str(out / f'panel{i}')!r} is a file: choose another `out_dir`")
    outputs.check()
    with outputs:
        result = _extract(plan, progress)
        if progress:
            progress("write", "start")
        outputs.write(result.writers())
        paths = outputs.commit()
        if progress:
            progress("write", "end")
    return result, paths


def _fmt(box: Box) -> str:
    return ",".join(f"{v:g}" for v in box)
