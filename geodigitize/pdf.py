"""Figures straight from a PDF page: rendered at a chosen resolution, or the map's own
embedded image at its native resolution, and the page's text with its position.

A figure in a paper is best read from the paper: a vector field renders crisply at any
resolution, an embedded raster map can be taken out with its original pixels (no
resampling, no screenshot), and the tick labels are text, not pixels. PDFium (through
pypdfium2, whose wheels carry the library) does the reading.

Coordinates
-----------
Positions on the page are given as *page pixels*: pixels of the page rendered at `dpi`,
GDAL convention (0, 0 is the page's top-left corner, x right, y down). PDF points are
page pixels at 72 dpi. :attr:`PDFSource.page_to_image` maps page pixels to pixels of the
image the run decodes, so GCPs and boxes measured on the rendered page serve for an
embedded image too.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from affine import Affine

from .errors import GCPError, ImageError
from .gcps import GCP, GCPSet
from .image import MapImage
from .region import Box

__all__ = [
    "DEFAULT_DPI",
    "PDF_IMAGE_CHOICES",
    "EmbeddedImage",
    "PDFSource",
    "TextBox",
    "box_on_image",
    "embedded_images",
    "gcps_on_image",
    "is_pdf",
    "page_text",
    "read_pdf",
]

#: Units of positions measured on a PDF page (`gcp_units`).
PAGE_UNITS = ("pixels", "points")

#: Resolution a page is rendered at unless told otherwise: fine enough for hairlines and
#: 6-point labels, a 4 x 3 inch figure is 0.5 MP.
DEFAULT_DPI = 200.0
#: Values of `pdf_image` besides an image's number.
PDF_IMAGE_CHOICES = ("auto", "render", "largest")
#: With ``pdf_image="auto"``, an embedded image covering at least this share of the page
#: is taken as the map's field.
AUTO_IMAGE_SHARE = 0.05
#: Largest page rendering, in pixels (a 300-dpi A0 poster is 140 MP).
MAX_RENDER_PIXELS = 250_000_000


@dataclass(frozen=True)
class PDFSource:
    """How an image was taken from a PDF.

    Attributes
    ----------
    path : str
    page : int
        1-based page number.
    dpi : float
        Resolution of page pixels (GCPs and boxes on the page are measured in them).
    kind : {"rendered", "embedded"}
    image : int or None
        1-based number of the embedded image taken (in the page's drawing order).
    page_to_image : Affine
        Page pixels at `dpi` to pixels of the image decoded (GDAL convention).
    page_size : (width, height)
        The page in PDF points.
    """

    path: str
    page: int
    dpi: float
    kind: str
    image: int | None
    page_to_image: Affine
    page_size: tuple[float, float] = (0.0, 0.0)

    def to_dict(self) -> dict:
        """For ``report.json``."""
        return {
            "path": self.path,
            "page": self.page,
            "dpi": self.dpi,
            "kind": self.kind,
            "image": self.image,
            "page_to_image": list(self.page_to_image)[:6],
            "page_size_pt": list(self.page_size),
        }

    def describe(self) -> str:
        """One line for the run's summary."""
        if self.kind == "embedded":
            return f"page {self.page}: embedded image {self.image} at its native resolution"
        return f"page {self.page} rendered at {self.dpi:g} dpi"


@dataclass(frozen=True)
class EmbeddedImage:
    """An image drawn on a page, with its own pixels.

    Attributes
    ----------
    number : int
        1-based, in the page's drawing order.
    pixels : (width, height)
    box : (x0, y0, x1, y1)
        Where it is drawn, in PDF points from the page's top-left corner (y down).
    image_to_page : Affine
        Image pixels (GDAL convention) to PDF points from the top-left corner.
    """

    number: int
    pixels: tuple[int, int]
    box: tuple[float, float, float, float]
    image_to_page: Affine

    @property
    def area(self) -> float:
        """Area drawn on the page, in square points."""
        x0, y0, x1, y1 = self.box
        return (x1 - x0) * (y1 - y0)


@dataclass(frozen=True)
class TextBox:
    """A run of text on the page and its box in page pixels (x0, y0, x1, y1)."""

    text: str
    box: tuple[float, float, float, float]


def is_pdf(path: str | Path) -> bool:
    """Whether `path` names a PDF (by its first bytes; a missing file is not one)."""
    try:
        with open(path, "rb") as f:
            return f.read(5) == b"%PDF-"
    except OSError:
        return False


@contextlib.contextmanager
def _page(path: str | Path, page: int, password: str | None) -> Iterator[tuple]:
    """The document and its 1-based `page`, with one-line errors for what goes wrong."""
    import pypdfium2 as pdfium

    name = str(path)
    try:
        doc = pdfium.PdfDocument(name, password=password)
    except pdfium.PdfiumError as exc:
        text = str(exc).lower()
        if "password" in text:
            hint = "a wrong password" if password else "no password"
            raise ImageError(
                f"{name!r} is an encrypted PDF and {hint} was given: give its password "
                "with --pdf-password"
            ) from None
        raise ImageError(f"cannot read {name!r} as a PDF: the file is damaged ({exc})") from None
    try:
        count = len(doc)
        if not 1 <= page <= count:
            raise ImageError(
                f"page {page} is out of range: {name!r} has {count} page"
                f"{'s' if count != 1 else ''}; give --page 1 to {count}"
            )
        pdf_page = doc[page - 1]
        try:
            yield doc, pdf_page
        finally:
            pdf_page.close()
    finally:
        doc.close()


def _top_left(page_height: float) -> Affine:
    """PDF user space (origin bottom-left, y up) to points from the top-left (y down)."""
    return Affine(1.0, 0.0, 0.0, 0.0, -1.0, page_height)


def _embedded(pdf_page) -> list[tuple[EmbeddedImage, object]]:
    import pypdfium2.raw as pdfium_c

    height = pdf_page.get_size()[1]
    flip = _top_left(height)
    out = []
    objects = pdf_page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE], max_depth=8)
    for k, obj in enumerate(objects, start=1):
        w, h = obj.get_px_size()
        if w <= 0 or h <= 0:
            continue
        a, b, c, d, e, f = obj.get_matrix().get()
        # the image's unit square (u right, v up) is placed by the matrix; pixel (col, row)
        # with row down sits at u = col / w, v = 1 - row / h
        unit = Affine(a, c, e, b, d, f)
        to_page = flip @ unit @ Affine(1.0 / w, 0.0, 0.0, 0.0, -1.0 / h, 1.0)
        corners = [to_page @ p for p in ((0, 0), (w, 0), (0, h), (w, h))]
        xs, ys = zip(*corners, strict=True)
        box = (min(xs), min(ys), max(xs), max(ys))
        out.append((EmbeddedImage(k, (int(w), int(h)), box, to_page), obj))
    return out


def embedded_images(
    path: str | Path, page: int = 1, *, password: str | None = None
) -> list[EmbeddedImage]:
    """The images drawn on a page, largest area first.

    Raises
    ------
    ImageError
        If the PDF cannot be read or the page does not exist.
    """
    with _page(path, page, password) as (_doc, pdf_page):
        found = [img for img, _ in _embedded(pdf_page)]
    return sorted(found, key=lambda img: -img.area)


def page_text(
    path: str | Path, page: int = 1, *, dpi: float = DEFAULT_DPI, password: str | None = None
) -> list[TextBox]:
    """The page's text, one box per line of text, in page pixels at `dpi`.

    This is what a figure's tick and colorbar labels are in a PDF made by a plotting
    program: exact text where a raster image would need OCR.

    Returns
    -------
    list of TextBox
        In the page's reading order; empty for a scanned page.
    """
    with _page(path, page, password) as (_doc, pdf_page):
        height = pdf_page.get_size()[1]
        to_pixels = Affine.scale(dpi / 72.0) @ _top_left(height)
        text = pdf_page.get_textpage()
        try:
            boxes = []
            for k in range(text.count_rects()):
                left, bottom, right, top = text.get_rect(k)
                content = text.get_text_bounded(left, bottom, right, top)
                content = content.replace("\r", "").replace("\n", "")
                if not content.strip():
                    continue
                (x0, y0), (x1, y1) = to_pixels @ (left, top), to_pixels @ (right, bottom)
                boxes.append(TextBox(content, (x0, y0, x1, y1)))
        finally:
            text.close()
    return [TextBox(b.text.strip(), b.box) for b in _join_runs(boxes)]


def _join_runs(boxes: list[TextBox]) -> list[TextBox]:
    """Join boxes that continue one another on a line (PDFium splits a label such as
    ``−100`` where the font changes): the next box starts within half a line height of
    the previous one's end and shares most of its height."""
    out: list[TextBox] = []
    for box in boxes:
        if out:
            prev = out[-1]
            px0, py0, px1, py1 = prev.box
            x0, y0, x1, y1 = box.box
            height = max(py1 - py0, y1 - y0)
            overlap = min(py1, y1) - max(py0, y0)
            if overlap > 0.5 * min(py1 - py0, y1 - y0) and -0.1 * height <= x0 - px1 <= (
                0.5 * height
            ):
                out[-1] = TextBox(prev.text + box.text, (px0, min(py0, y0), x1, max(py1, y1)))
                continue
        out.append(box)
    return out


def read_pdf(
    path: str | Path,
    *,
    page: int = 1,
    dpi: float = DEFAULT_DPI,
    pdf_image: str | int = "auto",
    password: str | None = None,
    max_pixels: int = MAX_RENDER_PIXELS,
) -> tuple[MapImage, PDFSource]:
    """An image from a PDF page, ready for decoding, and how it was taken.

    Parameters
    ----------
    path : path
    page : int
        1-based page number.
    dpi : float
        Resolution of page pixels: the rendering's, and the unit of GCPs and boxes
        measured on the page.
    pdf_image : {"auto", "render", "largest"} or int
        ``"render"`` renders the page; ``"largest"`` takes the largest embedded image at
        its native resolution; a number takes that embedded image (1-based, drawing
        order; see :func:`embedded_images`); ``"auto"`` takes the largest embedded image
        when it covers at least :data:`AUTO_IMAGE_SHARE` of the page (a map drawn as an
        image, as ``imshow`` is), and renders the page otherwise (a vector field).
    password : str, optional
        For an encrypted PDF.
    max_pixels : int
        Largest rendering.

    Returns
    -------
    image : MapImage
        Format ``"PDF"``; ``path`` is the PDF's.
    source : PDFSource

    Raises
    ------
    ImageError
        For a damaged or encrypted PDF, a page out of range, no such embedded image, or
        a rendering above `max_pixels`.
    """
    if not (isinstance(dpi, int | float) and 1 <= dpi <= 2400):
        raise ImageError(f"`dpi` must be a number from 1 to 2400, got {dpi!r}")
    if isinstance(pdf_image, str) and pdf_image not in PDF_IMAGE_CHOICES:
        try:
            pdf_image = int(pdf_image)
        except ValueError:
            raise ImageError(
                f"`pdf_image` must be one of {', '.join(PDF_IMAGE_CHOICES)} or an image "
                f"number, got {pdf_image!r}"
            ) from None
    name = str(path)
    with _page(path, page, password) as (_doc, pdf_page):
        width_pt, height_pt = pdf_page.get_size()
        chosen = _choose_image(_embedded(pdf_page), pdf_image, width_pt * height_pt, name, page)
        to_pixels = Affine.scale(dpi / 72.0)
        if chosen is None:
            w, h = round(width_pt * dpi / 72.0), round(height_pt * dpi / 72.0)
            if w * h > max_pixels:
                raise ImageError(
                    f"page {page} of {name!r} at {dpi:g} dpi is {w * h / 1e6:.0f} MP, above "
                    f"the {max_pixels / 1e6:.0f} MP limit: lower --dpi"
                )
            bitmap = pdf_page.render(
                scale=dpi / 72.0, rev_byteorder=True, fill_color=(255, 255, 255, 255)
            )
            rgb = np.ascontiguousarray(bitmap.to_numpy()[..., :3])
            source = PDFSource(
                name, page, float(dpi), "rendered", None, Affine.identity(), (width_pt, height_pt)
            )
        else:
            info, obj = chosen
            rgb, image_to_page = _upright(_image_pixels(obj, name), info.image_to_page)
            page_to_image = ~image_to_page @ ~to_pixels
            source = PDFSource(
                name,
                page,
                float(dpi),
                "embedded",
                info.number,
                page_to_image,
                (width_pt, height_pt),
            )
    opaque = np.ones(rgb.shape[:2], dtype=bool)
    return MapImage(rgb, opaque, name, "PDF", "RGB"), source


def _choose_image(found, pdf_image, page_area: float, name: str, page: int):
    """The (EmbeddedImage, object) `pdf_image` asks for, or None to render the page."""
    if pdf_image == "render":
        return None
    if isinstance(pdf_image, int):
        for info, obj in found:
            if info.number == pdf_image:
                return info, obj
        numbers = ", ".join(str(i.number) for i, _ in found) or "none"
        raise ImageError(
            f"page {page} of {name!r} has no embedded image {pdf_image} (it has: {numbers}); "
            "give another --pdf-image, or --pdf-image render"
        )
    if not found:
        if pdf_image == "largest":
            raise ImageError(
                f"page {page} of {name!r} holds no embedded image: use --pdf-image render"
            )
        return None
    largest = max(found, key=lambda pair: pair[0].area)
    if pdf_image == "auto" and largest[0].area < AUTO_IMAGE_SHARE * page_area:
        return None
    return largest


def _upright(rgb: np.ndarray, to_page: Affine) -> tuple[np.ndarray, Affine]:
    """The image as it shows on the page: rows down, columns right (PDF writers such as
    matplotlib store images bottom-up and flip them when drawing). Rotated or skewed
    placements are left as stored."""
    if to_page.b != 0 or to_page.d != 0:
        return rgb, to_page
    h, w = rgb.shape[:2]
    if to_page.e < 0:
        rgb, to_page = rgb[::-1], to_page @ Affine(1, 0, 0, 0, -1, h)
    if to_page.a < 0:
        rgb, to_page = rgb[:, ::-1], to_page @ Affine(-1, 0, w, 0, 1, 0)
    return np.ascontiguousarray(rgb), to_page


def _image_pixels(obj, name: str) -> np.ndarray:
    """An image object's own pixels as (H, W, 3) uint8 RGB, without resampling."""
    import pypdfium2 as pdfium

    try:
        bitmap = obj.get_bitmap(render=False)
    except pdfium.PdfiumError as exc:
        raise ImageError(f"cannot take the embedded image out of {name!r}: {exc}") from None
    arr = bitmap.to_numpy()
    mode = bitmap.mode
    if arr.ndim == 2 or mode == "L":
        grey = arr if arr.ndim == 2 else arr[..., 0]
        return np.repeat(grey[..., None], 3, axis=2).astype(np.uint8)
    if mode.startswith("BGR"):
        return np.ascontiguousarray(arr[..., 2::-1]).astype(np.uint8)
    return np.ascontiguousarray(arr[..., :3]).astype(np.uint8)


def _page_affine(source: PDFSource, units: str) -> Affine:
    """Page positions in `units` to pixels of the image decoded."""
    if units not in PAGE_UNITS:
        raise ImageError(f"`gcp_units` must be one of {', '.join(PAGE_UNITS)}, got {units!r}")
    to_pixels = Affine.scale(source.dpi / 72.0) if units == "points" else Affine.identity()
    return source.page_to_image @ to_pixels


def gcps_on_image(gcps: GCPSet, source: PDFSource, units: str = "pixels") -> GCPSet:
    """GCPs measured on the page (page pixels at the source's dpi, or PDF points from
    the top-left corner) as pixels of the image decoded.

    Raises
    ------
    GCPError
        If a GCP lies outside the page (measured at another dpi, or in other units).
    """
    per_unit = 1.0 if units == "points" else source.dpi / 72.0
    width, height = (v * per_unit for v in source.page_size)
    for k, p in enumerate(gcps.points, start=1):
        if not (0 <= p.col <= width and 0 <= p.row <= height):
            raise GCPError(
                f"GCP {p.id or k} at ({p.col:g}, {p.row:g}) lies outside page {source.page} "
                f"({width:.0f} x {height:.0f} {units}"
                f"{f' at {source.dpi:g} dpi' if units == 'pixels' else ''}): measure GCPs "
                "on the page in pixels at `dpi`, or in points with `gcp_units`"
            )
    move = _page_affine(source, units)
    if move == Affine.identity():
        return gcps
    points = tuple(GCP(*(move @ (p.col, p.row)), p.x, p.y, p.id, p.enabled) for p in gcps.points)
    return GCPSet(points, gcps.crs, f"{gcps.source} (page {units} -> image pixels)")


def box_on_image(box: Box, source: PDFSource, units: str = "pixels") -> Box:
    """A box measured on the page (as :func:`gcps_on_image`) in pixels of the image."""
    move = _page_affine(source, units)
    x0, y0, x1, y1 = box
    xs, ys = zip(*(move @ p for p in ((x0, y0), (x1, y0), (x0, y1), (x1, y1))), strict=True)
    return (min(xs), min(ys), max(xs), max(ys))
