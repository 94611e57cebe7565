"""Read map images into 8-bit RGB arrays with a mask of transparent pixels, as a viewer
shows them.

PNG, JPEG, TIFF, BMP and GIF (first frame) are read with Pillow; palette, grey, grey+alpha
and 16-bit images become 8-bit RGB; fully transparent pixels are reported so the mask
stage can exclude them. What a viewer applies is applied too, and recorded in
:attr:`MapImage.corrections`: the EXIF orientation (a phone photo stored sideways), the
embedded ICC colour profile (converted to sRGB), and the bit depth the file's mode gives
(a dark 16-bit image stays dark). A pixel limit guards against decompression bombs; it
also sets Pillow's own guard, so ``max_pixels`` alone decides.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import re
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image as PILImage
from PIL import ImageCms, ImageOps, UnidentifiedImageError

from .errors import ImageError, InputTypeError

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "LUMA",
    "MIN_SIDE",
    "MapImage",
    "as_map_image",
    "pending_corrections",
    "read_image",
    "to_rgb8",
]

#: Default largest image accepted, in pixels (a 16 000 x 15 625 scan).
DEFAULT_MAX_PIXELS = 250_000_000
#: Smallest width and height, in pixels, of an image that can hold a map.
MIN_SIDE = 2
#: Weights of R, G, B in luma (brightness, 0-255), ITU-R BT.601 as JPEG (JFIF) uses them.
LUMA = np.array([0.299, 0.587, 0.114])
#: Bytes per pixel that reading alone needs (RGB plus the opacity mask).
_BYTES_PER_PIXEL = 4
#: What each EXIF orientation tag value does to the stored image to show it upright.
_ORIENTATIONS = {
    2: "mirrored left-right",
    3: "rotated 180°",
    4: "mirrored top-bottom",
    5: "transposed",
    6: "rotated 90° clockwise",
    7: "transversed",
    8: "rotated 90° counter-clockwise",
}
# Pillow's decompression-bomb limit is a module global: set it under a lock while opening.
_GUARD_LOCK = threading.Lock()


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
    corrections : tuple of str
        What was done to show the image as a viewer does, one sentence each, e.g.
        ``"EXIF orientation 6 applied (rotated 90° clockwise)"``, ``"ICC profile 'Display
        P3' converted to sRGB"``, ``"16-bit greyscale scaled to 8 bits (65535 -> 255)"``.
    """

    rgb: np.ndarray
    opaque: np.ndarray
    path: str = ""
    format: str = ""
    mode: str = ""
    corrections: tuple[str, ...] = ()

    @property
    def shape(self) -> tuple[int, int]:
        """``(height, width)`` in pixels."""
        return self.rgb.shape[:2]


def _scale_grey(arr: np.ndarray, mode: str) -> tuple[np.ndarray, str]:
    """Wide grey (``I;16*``, ``I``, ``F``) to 8 bits by the depth its mode gives, and what
    was done; values are never used to guess the depth (a dark image stays dark)."""
    arr = np.asarray(arr)
    if mode == "F":
        out = np.clip(np.rint(arr * 255.0), 0, 255).astype(np.uint8)
        return out, "32-bit float greyscale scaled from 0..1 to 8 bits"
    if mode == "I" and arr.size and (arr.min() < 0 or arr.max() > 65535):
        raise ImageError(
            "the image is 32-bit integer greyscale with values beyond 16 bits "
            f"({int(arr.min())}..{int(arr.max())}): save it as 8- or 16-bit greyscale"
        )
    out = np.clip(np.rint(arr.astype(np.float64) * (255.0 / 65535.0)), 0, 255).astype(np.uint8)
    return out, "16-bit greyscale scaled to 8 bits (65535 -> 255)"


def to_rgb8(pil: PILImage.Image) -> tuple[np.ndarray, np.ndarray]:
    """Convert any Pillow image to (RGB uint8 (H, W, 3), opaque bool (H, W)).

    16-bit and 32-bit grey (modes ``I;16``, ``I``) are scaled by their mode's depth,
    65535 -> 255; floating grey (``F``) from 0..1. See :func:`read_image` for EXIF
    orientation and colour profiles, which this does not apply.
    """
    return _to_rgb8(pil)[:2]


def _to_rgb8(pil: PILImage.Image) -> tuple[np.ndarray, np.ndarray, str]:
    mode = pil.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        grey, note = _scale_grey(np.asarray(pil), mode)
        return np.repeat(grey[..., None], 3, axis=2), np.ones(grey.shape, dtype=bool), note
    if mode == "P":
        pil = pil.convert("RGBA")
    elif mode not in ("RGB", "RGBA", "LA", "L", "1"):
        pil = pil.convert("RGBA" if "A" in mode else "RGB")
    has_alpha = pil.mode in ("RGBA", "LA")
    rgba = np.asarray(pil.convert("RGBA" if has_alpha else "RGB"))
    rgb = np.ascontiguousarray(rgba[..., :3])
    opaque = rgba[..., 3] > 0 if has_alpha else np.ones(rgb.shape[:2], dtype=bool)
    return rgb, opaque, ""


def _orient(pil: PILImage.Image) -> tuple[PILImage.Image, str]:
    """The image turned as its EXIF orientation says, and what was done ("" if nothing)."""
    try:
        tag = int(pil.getexif().get(0x0112, 1))
    except (TypeError, ValueError, SyntaxError, OSError):
        return pil, ""
    if tag not in _ORIENTATIONS:
        return pil, ""
    upright = ImageOps.exif_transpose(pil)
    return upright, f"EXIF orientation {tag} applied ({_ORIENTATIONS[tag]})"


_SRGB = ImageCms.createProfile("sRGB")


def _to_srgb(pil: PILImage.Image, icc: bytes | None) -> tuple[PILImage.Image, str]:
    """The image's colours converted from its embedded ICC profile to sRGB, and a note.

    sRGB profiles are left alone; a profile that cannot be applied leaves the colours
    as stored and says so.
    """
    if not icc:
        return pil, ""
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        name = (profile.profile.profile_description or "unnamed").strip()
    except (ImageCms.PyCMSError, OSError, TypeError, ValueError) as exc:
        return pil, f"ICC profile unreadable ({exc}); colours read as stored"
    if name.lower().startswith("srgb"):
        return pil, ""
    if pil.mode in ("P", "PA"):
        pil = pil.convert("RGBA")  # keeps a palette's transparency
    alpha = pil.getchannel("A") if pil.mode in ("RGBA", "LA") else None
    source = pil
    if pil.mode in ("LA", "RGBA", "1"):
        source = pil.convert("L" if pil.mode in ("LA", "1") else "RGB")
    if source.mode not in ("RGB", "L", "CMYK"):
        return pil, f"ICC profile {name!r} not applied to a {pil.mode} image; colours as stored"
    try:
        out = ImageCms.profileToProfile(source, profile, _SRGB, outputMode="RGB")
    except ImageCms.PyCMSError as exc:
        return pil, f"ICC profile {name!r} could not be applied ({exc}); colours as stored"
    if alpha is not None:
        out.putalpha(alpha)
    return out, f"ICC profile {name!r} converted to sRGB"


def pending_corrections(pil: PILImage.Image) -> tuple[str, ...]:
    """What :func:`read_image` would correct in an opened (not yet decoded) image.

    For readers that bypass :func:`read_image` (strips read through GDAL): they must not
    process an image this returns anything for, or they read it as stored, not as shown.

    Returns
    -------
    tuple of str
        Among ``"EXIF orientation"``, ``"ICC profile"`` and ``"bit depth"``.
    """
    out = []
    try:
        if _may_have_exif(pil) and int(pil.getexif().get(0x0112, 1)) in _ORIENTATIONS:
            out.append("EXIF orientation")
    except (TypeError, ValueError, SyntaxError, OSError):
        pass
    icc = _icc_of(pil)
    if icc and _to_srgb_needed(icc):
        out.append("ICC profile")
    if pil.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        out.append("bit depth")
    return tuple(out)


def _may_have_exif(pil: PILImage.Image) -> bool:
    """Whether an opened image can hold EXIF, found without decoding its pixels.

    Pillow's ``getexif`` decodes a whole PNG to look for an ``eXIf`` chunk after the
    image data (0.7 s and 300 MB at 100 MP, the cost the strip reader exists to avoid),
    so a PNG's chunk headers are scanned instead.
    """
    if pil.format != "PNG" or "exif" in pil.info:
        return True
    try:
        with open(pil.filename, "rb") as f:
            f.seek(8)  # the signature
            while header := f.read(8):
                if len(header) < 8:
                    return False
                length, kind = int.from_bytes(header[:4], "big"), header[4:]
                if kind == b"eXIf":
                    return True
                if kind == b"IEND":
                    return False
                f.seek(length + 4, 1)  # data and CRC
    except (OSError, AttributeError, TypeError):
        return True
    return False


def _to_srgb_needed(icc: bytes) -> bool:
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
    except (ImageCms.PyCMSError, OSError, TypeError, ValueError):
        return False
    name = (profile.profile.profile_description or "").strip().lower()
    return not name.startswith("srgb")


def as_map_image(obj, max_pixels: int = DEFAULT_MAX_PIXELS) -> MapImage:
    """A :class:`MapImage` from whatever the Python API was given.

    Parameters
    ----------
    obj : str, Path, MapImage, PIL.Image.Image or ndarray
        A file (see :func:`read_image`); a MapImage (returned as is); a Pillow image
        (EXIF orientation and ICC profile applied as for a file); or an array of shape
        (H, W, 3) or (H, W, 4) and dtype uint8 (RGB, RGBA: alpha 0 is transparent), or
        (H, W) grey of dtype uint8 or uint16.
    max_pixels : int
        Refuse images with more pixels than this.

    Returns
    -------
    MapImage

    Raises
    ------
    InputTypeError
        `obj` is none of the above (also a TypeError).
    ImageError
        An array of another shape or dtype, a too small or too large image, or a file
        :func:`read_image` refuses.
    """
    if isinstance(obj, MapImage):
        return obj
    if isinstance(obj, (str, os.PathLike)):
        return read_image(obj, max_pixels)
    if isinstance(obj, PILImage.Image):
        _check_size(obj.size, max_pixels, "the image")
        return _from_pil(obj, "", _icc_of(obj))
    if isinstance(obj, np.ndarray):
        return _from_array(obj, max_pixels)
    raise InputTypeError(
        f"an image must be a file path, a MapImage, a PIL image or a numpy array of shape "
        f"(H, W, 3), (H, W, 4) or (H, W); got {type(obj).__name__}"
    )


def _from_array(arr: np.ndarray, max_pixels: int) -> MapImage:
    shape_ok = arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] in (3, 4))
    dtype_ok = arr.dtype == np.uint8 or (arr.ndim == 2 and arr.dtype == np.uint16)
    if not (shape_ok and dtype_ok):
        raise ImageError(
            f"an image array must be uint8 of shape (H, W, 3) or (H, W, 4), or grey (H, W) "
            f"of uint8 or uint16; got {arr.dtype} of shape {arr.shape}: convert it with "
            f"numpy (e.g. (a * 255).astype(np.uint8) for floats in 0..1)"
        )
    _check_size((arr.shape[1], arr.shape[0]), max_pixels, "the image array")
    notes: tuple[str, ...] = ()
    if arr.ndim == 2:
        grey = arr
        if arr.dtype == np.uint16:
            grey, note = _scale_grey(arr, "I;16")
            notes = (note,)
        rgb, opaque = np.repeat(grey[..., None], 3, axis=2), np.ones(arr.shape, dtype=bool)
    else:
        rgb = np.ascontiguousarray(arr[..., :3])
        opaque = arr[..., 3] > 0 if arr.shape[2] == 4 else np.ones(arr.shape[:2], dtype=bool)
    mode = {2: "L" if arr.dtype == np.uint8 else "I;16", 3: "RGB"}.get(arr.ndim, "RGB")
    if arr.ndim == 3 and arr.shape[2] == 4:
        mode = "RGBA"
    return MapImage(rgb, opaque, "", "array", mode, notes)


def _icc_of(pil: PILImage.Image) -> bytes | None:
    return pil.info.get("icc_profile") or None


def _from_pil(pil: PILImage.Image, path: str, icc: bytes | None) -> MapImage:
    fmt, mode = pil.format or "", pil.mode
    pil, turned = _orient(pil)
    pil, colour = _to_srgb(pil, icc)
    rgb, opaque, depth = _to_rgb8(pil)
    corrections = tuple(c for c in (turned, colour, depth) if c)
    return MapImage(rgb, opaque, path, fmt, mode, corrections)


def read_image(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> MapImage:
    """Read an image file as 8-bit RGB, as a viewer shows it.

    Parameters
    ----------
    path : str or Path
        A PNG, JPEG, TIFF, BMP or GIF file (a GIF's first frame). Arrays, Pillow images
        and MapImages are passed to :func:`as_map_image`.
    max_pixels : int
        Refuse images with more pixels than this (decompression-bomb guard; Pillow's own
        guard follows it while reading).

    Returns
    -------
    MapImage
        With the EXIF orientation and the ICC profile applied and the bit depth taken
        from the file's mode, each recorded in :attr:`MapImage.corrections`.

    Raises
    ------
    ImageError
        If the file is missing (or a symlink loop), unreadable, not an image, truncated,
        too small or too large.
    """
    if not isinstance(path, (str, os.PathLike)):
        return as_map_image(path, max_pixels)
    path = Path(path)
    _check_path(path)
    try:
        with _pillow_guard(max_pixels):
            pil = PILImage.open(path)
        with pil:
            _check_size(pil.size, max_pixels, repr(str(path)))
            pil.seek(0)
            pil.load()
            return _from_pil(pil, str(path), _icc_of(pil))
    except ImageError:
        raise
    except UnidentifiedImageError:
        raise ImageError(
            f"{str(path)!r} is not an image Pillow can read (PNG, JPEG, TIFF, BMP, GIF)"
        ) from None
    except PILImage.DecompressionBombError as exc:
        found = re.search(r"\((\d+) pixels\)", str(exc))
        pixels = int(found.group(1)) if found else 2 * max_pixels + 1
        raise ImageError(_too_large(repr(str(path)), pixels, max_pixels)) from None
    except PermissionError:
        raise ImageError(f"cannot read {str(path)!r}: permission denied") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(
            f"cannot read {str(path)!r}: the file is truncated or damaged ({exc})"
        ) from None


def _check_path(path: Path) -> None:
    if path.is_symlink():
        try:
            path.resolve(strict=True)
        except RuntimeError:  # Python < 3.13
            raise ImageError(
                f"image {str(path)!r} is a symlink loop: point the link at the image file"
            ) from None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise ImageError(
                    f"image {str(path)!r} is a symlink loop: point the link at the image file"
                ) from None
            raise ImageError(
                f"image {str(path)!r} is a symlink to {os.readlink(path)!r}, which does not "
                f"exist: fix the link or give the image itself"
            ) from None
    if not path.exists():
        raise ImageError(f"image {str(path)!r} does not exist: check the path")
    if path.is_dir():
        raise ImageError(f"image {str(path)!r} is a folder, not an image file")


@contextlib.contextmanager
def _pillow_guard(max_pixels: int) -> Iterator[None]:
    """Pillow's decompression-bomb limit set to `max_pixels` (its warning silenced: the
    exact check is ours), restored on exit."""
    with _GUARD_LOCK, warnings.catch_warnings():
        saved = PILImage.MAX_IMAGE_PIXELS
        PILImage.MAX_IMAGE_PIXELS = max(int(max_pixels), 1)
        warnings.simplefilter("ignore", PILImage.DecompressionBombWarning)
        try:
            yield
        finally:
            PILImage.MAX_IMAGE_PIXELS = saved


def _memory_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def _too_large(name: str, pixels: int, max_pixels: int) -> str:
    """Why an image is refused as too large, suggesting --max-pixels only when raising it
    can help (reading needs at least :data:`_BYTES_PER_PIXEL` bytes a pixel)."""
    head = f"{name} has {pixels:,} pixels, more than the limit ({max_pixels:,})"
    memory = _memory_bytes()
    if memory is not None and pixels * _BYTES_PER_PIXEL > memory:
        return (
            f"{head} and more than this machine's {memory / 2**30:.0f} GiB of memory can "
            f"read: crop or downsample the image first"
        )
    return f"{head}: raise --max-pixels if you trust the file"


def _check_size(size: tuple[int, int], max_pixels: int, name: str) -> None:
    width, height = size
    if width * height > max_pixels:
        raise ImageError(_too_large(name, width * height, max_pixels))
    if width < MIN_SIDE or height < MIN_SIDE:
        raise ImageError(
            f"{name} is {width}x{height} pixels: too small to hold a map (it needs at least "
            f"{MIN_SIDE}x{MIN_SIDE}); check that this is the map image"
        )
