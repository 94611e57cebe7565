"""Read short horizontal text (tick labels) in a part of a figure.

Text is found without a detection model: pixels of ink (far from the page's colour) are
grouped into connected components; components touching the searched box's border are
dropped (tick marks and frame lines reach the border of a strip cut beside the frame;
a label cut by the border would be misread); the rest are joined along rows into words.
Each word is painted alone on the page's colour (tick stubs, frame lines and neighbours
cleaned out, as minus signs are what a stub is read as) and recognised by the PP-OCRv4
recognition model of ``rapidocr_onnxruntime``, which carries its model in its wheel and
never downloads anything. Install it with ``pip install geodigitize[ocr]``.

The engine is created once per process, with as many threads as the machine has cores
(at most 2).

Notes
-----
Boxes are ``(x0, y0, x1, y1)`` pixel corners of the whole image (GDAL convention,
``docs/conventions.md``).
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from .errors import OCRUnavailableError

__all__ = ["OCRUnavailableError", "TextBox", "find_words", "read_text", "recognize"]

Box = tuple[float, float, float, float]

#: Largest channel difference (0-255) from the page's colour that makes a pixel ink.
INK = 90
#: Least recognition score kept.
MIN_SCORE = 0.5
#: Longest word read, in multiples of its height (a tick label has a few characters).
MAX_RATIO = 8.0
#: Height (pixels) crops are scaled to before recognition when smaller.
REC_HEIGHT = 32


@dataclass(frozen=True)
class TextBox:
    """A word read in the image.

    Attributes
    ----------
    text : str
        What the recogniser read ("" when nothing).
    box : (x0, y0, x1, y1)
        The word's ink, pixel corners of the whole image.
    score : float
        The recogniser's confidence, 0-1.
    """

    text: str
    box: Box
    score: float

    @property
    def centre(self) -> tuple[float, float]:
        """(col, row) of the box's centre."""
        x0, y0, x1, y1 = self.box
        return (x0 + x1) / 2, (y0 + y1) / 2

    def asdict(self) -> dict:
        """The word as a plain dict (for ``report.json``)."""
        return {
            "text": self.text,
            "box": [round(v, 2) for v in self.box],
            "score": round(self.score, 3),
        }


@functools.cache
def _engine():
    """The recogniser (PP-OCRv4 rec model), loaded once."""
    try:
        from rapidocr_onnxruntime.ch_ppocr_rec import TextRecognizer
        from rapidocr_onnxruntime.main import DEFAULT_CFG_PATH
        from rapidocr_onnxruntime.utils import read_yaml, update_model_path
    except ImportError:
        raise OCRUnavailableError(
            "reading the figure's labels needs the OCR engine: pip install "
            "'geodigitize[ocr]', or give `gcps` and `vmin`/`vmax`"
        ) from None
    config = update_model_path(read_yaml(str(DEFAULT_CFG_PATH)))["Rec"]
    threads = max(1, min(2, os.cpu_count() or 1))
    config.update(intra_op_num_threads=threads, inter_op_num_threads=1)
    return TextRecognizer(config)


def available() -> bool:
    """Whether the OCR engine can be loaded."""
    try:
        _engine()
    except OCRUnavailableError:
        return False
    return True


@dataclass(frozen=True, eq=False)
class Word:
    """Ink grouped as one word: its box (pixel corners of the image) and its pixels."""

    box: Box
    mask: np.ndarray  # (h, w) bool over the box

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]


def _clip(box: Box, shape: tuple[int, int]) -> tuple[int, int, int, int]:
    h, w = shape
    x0, y0, x1, y1 = box
    return (
        max(0, int(np.floor(x0))),
        max(0, int(np.floor(y0))),
        min(w, int(np.ceil(x1))),
        min(h, int(np.ceil(y1))),
    )


def ink_mask(rgb: np.ndarray, page: np.ndarray) -> np.ndarray:
    """Pixels whose colour is far from the page's (largest channel difference > INK)."""
    diff = np.abs(rgb.astype(np.int16) - np.asarray(page, np.int16)).max(axis=2)
    return diff > INK


def find_words(
    rgb: np.ndarray, box: Box | None, page: np.ndarray, attached: str | None = None
) -> list[Word]:
    """Groups of ink inside `box` that look like words of horizontal text.

    Parameters
    ----------
    rgb : ndarray of shape (H, W, 3) and dtype uint8
    box : (x0, y0, x1, y1) or None
        Where to look (the whole image when None).
    page : ndarray of shape (3,)
        The page's colour.
    attached : {"top", "bottom", "left", "right"}, optional
        The border of `box` that lies on a frame or a colorbar: ink touching it (the
        outline, tick marks) is left out of the words. Ink touching any other border is
        a word cut by the box or the image's edge, and that whole word is left out.
        Without it, ink touching any border is left out alone.

    Returns
    -------
    list of Word
        Top to bottom, left to right.
    """
    x0, y0, x1, y1 = _clip(box or (0, 0, rgb.shape[1], rgb.shape[0]), rgb.shape[:2])
    if x1 - x0 < 3 or y1 - y0 < 3:
        return []
    ink = ink_mask(rgb[y0:y1, x0:x1], page)
    labels, n = ndimage.label(ink, structure=np.ones((3, 3), bool))
    if n == 0:
        return []
    hh, ww = ink.shape
    mark = np.zeros(n + 1, bool)  # touching the attached border
    cut = np.zeros(n + 1, bool)  # touching another border
    heights = []
    for k, (r, c) in enumerate(ndimage.find_objects(labels), start=1):
        touch = {
            "top": r.start == 0,
            "bottom": r.stop == hh,
            "left": c.start == 0,
            "right": c.stop == ww,
        }
        if (attached is None and any(touch.values())) or (attached and touch[attached]):
            mark[k] = True
        elif any(touch.values()):
            cut[k] = True
        else:
            heights.append(r.stop - r.start)
    if not heights:
        return []
    tall = [h for h in heights if h >= 3]
    size = float(np.median(tall)) if tall else float(np.median(heights))
    gap = max(2, round(0.45 * size))
    text = ~mark[labels] & ink
    joined = ndimage.binary_dilation(text, structure=np.ones((1, 2 * gap + 1), bool))
    groups, m = ndimage.label(joined)
    bad = np.zeros(m + 1, bool)
    bad[np.unique(groups[cut[labels]])] = True
    kept = text & ~cut[labels]
    words = []
    for k, sl in enumerate(ndimage.find_objects(groups), start=1):
        if bad[k]:
            continue
        sub = kept[sl] & (groups[sl] == k)
        if not sub.any():
            continue
        rows = np.flatnonzero(sub.any(axis=1))
        cols = np.flatnonzero(sub.any(axis=0))
        r0, r1 = sl[0].start + rows[0], sl[0].start + rows[-1] + 1
        c0, c1 = sl[1].start + cols[0], sl[1].start + cols[-1] + 1
        mask = kept[r0:r1, c0:c1] & (groups[r0:r1, c0:c1] == k)
        words.append(Word((x0 + c0, y0 + r0, x0 + c1, y0 + r1), mask))
    words.sort(key=lambda w: (w.box[1], w.box[0]))
    return words


def _crop(rgb: np.ndarray, word: Word, page: np.ndarray) -> np.ndarray:
    """The word alone on the page's colour, with a margin, scaled up when small; BGR."""
    x0, y0, x1, y1 = (int(v) for v in word.box)
    h, w = y1 - y0, x1 - x0
    pad = max(3, round(0.35 * h))
    canvas = np.empty((h + 2 * pad, w + 2 * pad, 3), np.uint8)
    canvas[:] = np.asarray(page, np.uint8)
    # antialiased edges one pixel out belong to the word; the word's own box holds them
    yy0, xx0 = max(0, y0 - 1), max(0, x0 - 1)
    yy1, xx1 = min(rgb.shape[0], y1 + 1), min(rgb.shape[1], x1 + 1)
    big = np.zeros((yy1 - yy0, xx1 - xx0), bool)
    big[y0 - yy0 : y0 - yy0 + h, x0 - xx0 : x0 - xx0 + w] = word.mask
    big = ndimage.binary_dilation(big, iterations=1)
    patch = canvas[pad - (y0 - yy0) : pad + h + (yy1 - y1), pad - (x0 - xx0) : pad + w + (xx1 - x1)]
    patch[big] = rgb[yy0:yy1, xx0:xx1][big]
    if canvas.shape[0] < REC_HEIGHT:
        from PIL import Image

        scale = REC_HEIGHT / canvas.shape[0]
        size = (max(1, round(canvas.shape[1] * scale)), REC_HEIGHT)
        canvas = np.asarray(Image.fromarray(canvas).resize(size, Image.Resampling.BICUBIC))
    return np.ascontiguousarray(canvas[..., ::-1])


def recognize(crops: list[np.ndarray]) -> list[tuple[str, float]]:
    """Text and score of each crop (BGR uint8 arrays of one line of text).

    Crops are packed side by side, page-coloured gaps between them, into lines as wide
    as the recogniser reads in one go (:data:`LINE_RATIO` times their height); each
    character the model emits is given to the crop under its position along the line.
    A tick label fills a third of that width, so this reads two or three labels for
    the price of one.
    """
    if not crops:
        return []
    eng = _engine()
    lines = _pack(crops)
    out: list[tuple[str, float]] = [("", 0.0)] * len(crops)
    for start in range(0, len(lines), BATCH):
        batch = lines[start : start + BATCH]
        ratio = max(LINE_RATIO, *(img.shape[1] / img.shape[0] for img, _ in batch))
        tensor = np.concatenate([eng.resize_norm_img(img, ratio)[None] for img, _ in batch])
        preds = eng.session(tensor.astype(np.float32))[0]
        for (img, spans), pred in zip(batch, preds, strict=True):
            width = tensor.shape[3] * img.shape[1] / img.shape[0] / ratio  # in the tensor
            scale = img.shape[1] / min(width, tensor.shape[3])
            for k, text, score in _split(pred, spans, tensor.shape[3] / pred.shape[0] * scale):
                out[k] = (text, score)
    return out


#: Width of a packed line, in multiples of its height (the recogniser's own 320 x 48).
LINE_RATIO = 320 / 48
#: Lines read per model run.
BATCH = 6


def _pack(crops: list[np.ndarray]) -> list[tuple[np.ndarray, list[tuple[int, int, int]]]]:
    """Crops of one height packed into lines; each line with the (crop index, x0, x1) of
    its crops."""
    height = max(c.shape[0] for c in crops)
    gap = max(4, round(0.6 * height))
    lines, parts, spans, x = [], [], [], 0

    def close():
        if parts:
            lines.append((np.concatenate(parts, axis=1), list(spans)))

    for k, crop in enumerate(crops):
        if crop.shape[0] != height:
            pad = np.empty((height, crop.shape[1], 3), np.uint8)
            pad[:] = crop[:1, :1]
            top = (height - crop.shape[0]) // 2
            pad[top : top + crop.shape[0]] = crop
            crop = pad
        width = crop.shape[1] + (gap if parts else 0)
        if parts and x + width > LINE_RATIO * height:
            close()
            parts, spans, x = [], [], 0
            width = crop.shape[1]
        if parts:
            blank = np.empty((height, gap, 3), np.uint8)
            blank[:] = crop[:1, :1]
            parts.append(blank)
            x += gap
        parts.append(crop)
        spans.append((k, x, x + crop.shape[1]))
        x += crop.shape[1]
    close()
    return lines


def _split(pred: np.ndarray, spans, step: float):
    """CTC decoding of one line, each character given to the crop under its time step
    (`step`: line pixels per time step)."""
    chars = _engine().postprocess_op.character
    idx = pred.argmax(axis=1)
    prob = pred.max(axis=1)
    keep = (idx != 0) & np.r_[True, idx[1:] != idx[:-1]]
    found = {k: ([], []) for k, _, _ in spans}
    for t in np.flatnonzero(keep):
        x = (t + 0.5) * step
        k = min(spans, key=lambda s: max(s[1] - x, x - s[2], 0))[0]
        found[k][0].append(chars[idx[t]])
        found[k][1].append(float(prob[t]))
    for k, (text, probs) in found.items():
        yield k, "".join(text), float(np.mean(probs)) if probs else 0.0


def read_text(
    rgb: np.ndarray, box: Box | None = None, *, page: np.ndarray | None = None
) -> tuple[TextBox, ...]:
    """The words written inside `box`, read by OCR.

    Parameters
    ----------
    rgb : ndarray of shape (H, W, 3) and dtype uint8
    box : (x0, y0, x1, y1), optional
        Where to read (pixel corners); the whole image when None. Ink touching its
        border (tick marks, an outline) is left out.
    page : ndarray of shape (3,), optional
        The page's colour; white when not given.

    Returns
    -------
    tuple of TextBox
        Words scoring at least :data:`MIN_SCORE`, top to bottom, left to right.

    Raises
    ------
    OCRUnavailableError
        When ``rapidocr_onnxruntime`` is not installed.
    """
    page = np.array([255, 255, 255]) if page is None else np.asarray(page)
    return read_words(rgb, find_words(rgb, box, page), page)


def read_words(rgb: np.ndarray, words: list[Word], page: np.ndarray) -> tuple[TextBox, ...]:
    """Recognise `words` (from :func:`find_words`); those scoring under MIN_SCORE dropped,
    and those longer than :data:`MAX_RATIO` times their height not read (not a label;
    they would widen the recogniser's whole batch)."""
    words = [w for w in words if w.box[2] - w.box[0] <= MAX_RATIO * (w.box[3] - w.box[1])]
    read = recognize([_crop(rgb, w, page) for w in words])
    return tuple(
        TextBox(_minus(text.strip(), w), tuple(float(v) for v in w.box), score)
        for w, (text, score) in zip(words, read, strict=True)
        if score >= MIN_SCORE and text.strip()
    )


def _minus(text: str, word: Word) -> str:
    """`text` with its first character a minus sign when the word starts with one: its
    first columns, over at least a third of its height, hold a bar under a third of its
    height about its middle (long dashes upscaled are read as a ``1``)."""
    if not text:
        return text
    mask = word.mask
    h = mask.shape[0]
    run = 0
    for col in mask.T:
        rows = np.flatnonzero(col)
        if rows.size == 0:
            break
        span, middle = rows[-1] - rows[0] + 1, (rows[0] + rows[-1] + 1) / 2
        if span > h / 3 or not 0.3 * h <= middle <= 0.75 * h:
            break
        run += 1
    dash = run >= max(2, h / 3) and run < mask.shape[1]
    if not dash or text[0] == "-" or text[0] == "\N{MINUS SIGN}":
        return text
    if text[0] in "1lI|—–_~":
        return "-" + text[1:]
    return "-" + text if text[0].isdigit() else text
