"""Read map images into 8-bit RGB arrays with a mask of transparent pixels.

PNG, JPEG, TIFF, BMP and GIF (first frame) are read with Pillow; palette, grey, grey+alpha
and 16-bit images become 8-bit RGB; fully transparent pixels are reported so the mask
stage can exclude them. A pixel limit guards against decompression bombs.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image as PILImage
from PIL import UnidentifiedImageError

from .errors import ImageError

__all__ = ["DEFAULT_MAX_PIXELS", "LUMA", "MapImage", "read_image", "to_rgb8"]

#: Default largest image accepted, in pixels (a 16 000 x 15 625 scan).
DEFAULT_MAX_PIXELS = 250_000_000
#: Weights of R, G, B in luma (brightness, 0-255), ITU-R BT.601 as JPEG (JFIF) uses them.
LUMA = np.array([0.299, 0.587, 0.114])


@dataclass(frozen=True, eq=False)
class MapImage:
    """An image ready for decoding.

    Attributes
    ----------
    rgb : ndarray of shape (H, W, 3) and dtype uint8
    opaque : ndarray of shape (H, W) and dtype bool
        False where the pixel was fully transparent.
    path : str
        Where it was read from ("" for arrays).
    format : str
        The file format Pillow reported (``"PNG"``, ``"JPEG"`` ...).
    mode : str
        The original pixel mode (``"RGBA"``, ``"P"``, ``"I;16"`` ...).
    """

    rgb: np.ndarray
    opaque: np.ndarray
    path: str = ""
    format: str = ""
    mode: str = ""

    @property
    def shape(self) -> tuple[int, int]:
        """``(height, width)`` in pixels."""
        return self.rgb.shape[:2]


def _scale16(arr: np.ndarray) -> np.ndarray:
    """Map 16-bit (or wider) integers to 8 bits, 65535 -> 255."""
    arr = np.asarray(arr)
    if arr.dtype == np.uint8:
        return arr
    if np.issubdtype(arr.dtype, np.floating):
        return np.clip(np.rint(arr * 255.0), 0, 255).astype(np.uint8)
    top = 65535 if arr.max(initial=0) > 255 else 255
    return np.clip(np.rint(arr.astype(np.float64) * (255.0 / top)), 0, 255).astype(np.uint8)


def to_rgb8(pil: PILImage.Image) -> tuple[np.ndarray, np.ndarray]:
    """Convert any Pillow image to (RGB uint8 (H, W, 3), opaque bool (H, W))."""
    mode = pil.mode
    if mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        grey = _scale16(np.asarray(pil))
        return np.repeat(grey[..., None], 3, axis=2), np.ones(grey.shape, dtype=bool)
    if mode == "P":
        pil = pil.convert("RGBA")
    elif mode not in ("RGB", "RGBA", "LA", "L", "1"):
        pil = pil.convert("RGBA" if "A" in mode else "RGB")
    has_alpha = pil.mode in ("RGBA", "LA")
    rgba = np.asarray(pil.convert("RGBA" if has_alpha else "RGB"))
    rgb = np.ascontiguousarray(rgba[..., :3])
    opaque = rgba[..., 3] > 0 if has_alpha else np.ones(rgb.shape[:2], dtype=bool)
    return rgb, opaque


def read_image(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> MapImage:
    """Read an image file as 8-bit RGB.

    Parameters
    ----------
    path : str or Path
        A PNG, JPEG, TIFF, BMP or GIF file (a GIF's first frame).
    max_pixels : int
        Refuse images with more pixels than this (decompression-bomb guard).

    Returns
    -------
    MapImage

    Raises
    ------
    ImageError
        If the file is missing, unreadable, not an image, truncated or too large.
    """
    path = Path(path)
    if not path.exists():
        raise ImageError(f"image {str(path)!r} does not exist: check the path")
    if path.is_dir():
        raise ImageError(f"image {str(path)!r} is a folder, not an image file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", PILImage.DecompressionBombWarning)
            with PILImage.open(path) as pil:
                _check_size(pil.size, max_pixels, path)
                pil.seek(0)
                pil.load()
                fmt, mode = pil.format or "", pil.mode
                rgb, opaque = to_rgb8(pil)
    except UnidentifiedImageError:
        raise ImageError(
            f"{str(path)!r} is not an image Pillow can read (PNG, JPEG, TIFF, BMP, GIF)"
        ) from None
    except (PILImage.DecompressionBombError, PILImage.DecompressionBombWarning):
        raise ImageError(
            f"{str(path)!r} is larger than the pixel limit ({max_pixels:,}): raise "
            "--max-pixels if you trust the file"
        ) from None
    except PermissionError:
        raise ImageError(f"cannot read {str(path)!r}: permission denied") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(
            f"cannot read {str(path)!r}: the file is truncated or damaged ({exc})"
        ) from None
    return MapImage(rgb, opaque, str(path), fmt, mode)


def _check_size(size: tuple[int, int], max_pixels: int, path: Path) -> None:
    width, height = size
    if width * height > max_pixels:
        raise ImageError(
            f"{str(path)!r} has {width * height:,} pixels, more than the limit "
            f"({max_pixels:,}): raise --max-pixels if you trust the file"
        )
    if width < 2 or height < 2:
        raise ImageError(f"{str(path)!r} is {width}x{height} pixels: too small to be a map")
