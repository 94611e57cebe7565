"""Images read as a viewer shows them (issue 15): EXIF orientation, ICC profiles, bit depth
from the mode, the pixel limit, clear messages, and arrays and PIL images as input."""

import os
import struct

import numpy as np
import pytest
from PIL import Image, ImageCms

import geodigitize.image as image_module
from geodigitize.errors import GeodigitizeError, ImageError, InputTypeError
from geodigitize.image import MapImage, as_map_image, pending_corrections, read_image


def _s15(v: float) -> bytes:
    """An ICC s15Fixed16Number."""
    return struct.pack(">i", round(v * 65536))


def _xyz(x, y, z):
    return b"XYZ " + b"\0" * 4 + _s15(x) + _s15(y) + _s15(z)


def display_p3_icc() -> bytes:
    """A minimal ICC v2 matrix/TRC profile of Display P3 (P3 primaries, D65, sRGB curve)."""
    desc_text = b"Display P3\0"
    desc = (
        b"desc"
        + b"\0" * 4
        + struct.pack(">I", len(desc_text))
        + desc_text
        + b"\0" * 4
        + b"\0" * 4
        + b"\0" * 2
        + b"\0"
        + b"\0" * 67
    )
    lin = np.linspace(0, 1, 1024)
    srgb = np.where(lin <= 0.04045, lin / 12.92, ((lin + 0.055) / 1.055) ** 2.4)
    curve = (
        b"curv"
        + b"\0" * 4
        + struct.pack(">I", lin.size)
        + np.round(srgb * 65535).astype(">u2").tobytes()
    )
    tags = [
        (b"desc", desc),
        (b"cprt", b"text" + b"\0" * 4 + b"none\0"),
        (b"wtpt", _xyz(0.9642, 1.0, 0.8249)),
        # Display P3 colorants adapted to D50 (Bradford), as in Apple's profile
        (b"rXYZ", _xyz(0.515121, 0.241196, -0.001053)),
        (b"gXYZ", _xyz(0.291977, 0.692245, 0.041885)),
        (b"bXYZ", _xyz(0.157104, 0.066574, 0.784073)),
        (b"rTRC", curve),
        (b"gTRC", curve),
        (b"bTRC", curve),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, data = b"", b""
    for sig, body in tags:
        table += sig + struct.pack(">II", offset + len(data), len(body))
        data += body + b"\0" * (-len(body) % 4)
    size = offset + len(data)
    header = (
        struct.pack(">I", size)
        + b"lcms"
        + struct.pack(">I", 0x02100000)
        + b"mntr"
        + b"RGB "
        + b"XYZ "
        + b"\0" * 12
        + b"acsp"
        + b"\0" * 4
        + b"\0" * 4
        + b"\0" * 8
        + b"\0" * 8
        + b"\0" * 4
        + _s15(0.9642)
        + _s15(1.0)
        + _s15(0.8249)
    )
    header += b"\0" * (128 - len(header))
    return header + struct.pack(">I", len(tags)) + table + data


def _upright(h: int = 40, w: int = 64) -> np.ndarray:
    """A landscape image: red top-left quarter, blue bottom-right, grey elsewhere."""
    img = np.full((h, w, 3), 128, np.uint8)
    img[: h // 2, : w // 2] = (255, 0, 0)
    img[h // 2 :, w // 2 :] = (0, 0, 255)
    return img


def test_exif_orientation_6_is_turned_upright(tmp_path):
    upright = _upright()
    stored = np.ascontiguousarray(np.rot90(upright))  # the camera stored it sideways
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "phone.jpg"
    Image.fromarray(stored).save(path, quality=95, exif=exif.tobytes())
    img = read_image(path)
    assert img.shape == upright.shape[:2]
    assert np.abs(img.rgb.astype(int) - upright).mean() < 3
    assert img.corrections == ("EXIF orientation 6 applied (rotated 90° clockwise)",)


def _p3_expected(rgb: np.ndarray) -> np.ndarray:
    """Display P3 colours as sRGB, computed here from the published matrices."""
    p3_to_xyz = np.array(
        [
            [0.4865709, 0.2656677, 0.1982173],
            [0.2289746, 0.6917385, 0.0792869],
            [0.0, 0.0451134, 1.0439444],
        ]
    )
    xyz_to_srgb = np.array(
        [
            [3.2404542, -1.5371385, -0.4985314],
            [-0.9692660, 1.8760108, 0.0415560],
            [0.0556434, -0.2040259, 1.0572252],
        ]
    )
    c = rgb / 255.0
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    s = np.clip(lin @ p3_to_xyz.T @ xyz_to_srgb.T, 0, 1)
    return np.round(255 * np.where(s <= 0.0031308, 12.92 * s, 1.055 * s ** (1 / 2.4) - 0.055))


@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
def test_display_p3_png_decodes_as_its_srgb_appearance(tmp_path, mode):
    colours = np.array(
        [[[200, 100, 50], [30, 160, 90]], [[90, 60, 220], [128, 128, 128]]], np.uint8
    )
    pil = Image.fromarray(colours)
    if mode == "RGBA":
        pil.putalpha(Image.fromarray(np.array([[255, 0], [255, 255]], np.uint8)))
    path = tmp_path / "p3.png"
    pil.save(path, icc_profile=display_p3_icc())
    img = read_image(path)
    expected = _p3_expected(colours.reshape(-1, 3)).reshape(colours.shape)
    assert np.abs(img.rgb.astype(int) - expected).max() <= 1
    assert np.abs(img.rgb.astype(int) - colours).max() > 10  # not read as stored
    assert img.corrections == ("ICC profile 'Display P3' converted to sRGB",)
    assert img.opaque.tolist() == (
        [[True, False], [True, True]] if mode == "RGBA" else [[True, True], [True, True]]
    )


def test_srgb_profile_changes_nothing(tmp_path):
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    path = tmp_path / "s.png"
    Image.fromarray(_upright()).save(path, icc_profile=srgb)
    img = read_image(path)
    assert np.array_equal(img.rgb, _upright()) and img.corrections == ()


def test_dark_16_bit_grey_is_scaled_as_16_bit(tmp_path):
    dark = np.array([[0, 50], [100, 200]], np.uint16)  # max 200: nearly black in 16 bits
    path = tmp_path / "dark16.png"
    Image.fromarray(dark).save(path)
    img = read_image(path)
    assert img.mode.startswith("I")
    assert img.rgb[..., 0].tolist() == [[0, 0], [0, 1]]
    assert img.corrections == ("16-bit greyscale scaled to 8 bits (65535 -> 255)",)


def test_pillows_bomb_guard_follows_max_pixels(tmp_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # as if 89.5 MP were 1000 px
    path = tmp_path / "big.png"
    Image.fromarray(np.zeros((100, 100, 3), np.uint8)).save(path)
    assert read_image(path, max_pixels=10_000).shape == (100, 100)
    assert Image.MAX_IMAGE_PIXELS == 1000  # restored
    with pytest.raises(
        ImageError,
        match=r"10,000 pixels, more than the limit \(9,999\): "
        r"raise --max-pixels",
    ):
        read_image(path, max_pixels=9_999)
    with pytest.raises(ImageError, match=r"more than the limit \(4,000\): raise --max-pixels"):
        read_image(path, max_pixels=4_000)  # Pillow's own error, above twice its limit


def test_too_large_for_memory_does_not_suggest_max_pixels(tmp_path, monkeypatch):
    monkeypatch.setattr(image_module, "_memory_bytes", lambda: 1000)
    path = tmp_path / "big.png"
    Image.fromarray(np.zeros((100, 100, 3), np.uint8)).save(path)
    with pytest.raises(ImageError, match="crop or downsample") as info:
        read_image(path, max_pixels=9_999)
    assert "--max-pixels" not in str(info.value)


def test_one_pixel_image_is_too_small_not_damaged(tmp_path):
    path = tmp_path / "dot.png"
    Image.fromarray(np.zeros((1, 1, 3), np.uint8)).save(path)
    with pytest.raises(ImageError, match="1x1 pixels: too small to hold a map") as info:
        read_image(path)
    assert "damaged" not in str(info.value)


def test_symlink_loop_is_not_called_missing(tmp_path):
    loop = tmp_path / "loop.png"
    os.symlink(loop, loop)
    with pytest.raises(ImageError, match="is a symlink loop") as info:
        read_image(loop)
    assert "does not exist" not in str(info.value)
    dangling = tmp_path / "link.png"
    os.symlink(tmp_path / "gone.png", dangling)
    with pytest.raises(ImageError, match=r"is a symlink to .*gone\.png.*which does not exist"):
        read_image(dangling)


def test_non_ascii_file_names(tmp_path):
    path = tmp_path / "carte_élevée_地图.png"
    Image.fromarray(_upright()).save(path)
    assert read_image(path).path == str(path)
    with pytest.raises(ImageError, match=r"Ærø_кapтa\.png' does not exist"):
        read_image(tmp_path / "Ærø_кapтa.png")


@pytest.mark.parametrize("kind", ["rgb", "rgba", "grey", "grey16", "pil", "mapimage"])
def test_arrays_and_pil_images_are_images(kind):
    rgb = _upright()
    obj = {
        "rgb": rgb,
        "rgba": np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)]),
        "grey": rgb[..., 0],
        "grey16": rgb[..., 0].astype(np.uint16) * 257,
        "pil": Image.fromarray(rgb),
        "mapimage": MapImage(rgb, np.ones(rgb.shape[:2], bool)),
    }[kind]
    img = as_map_image(obj)
    expected = np.repeat(rgb[..., :1], 3, axis=2) if kind.startswith("grey") else rgb
    assert np.array_equal(img.rgb, expected) and img.opaque.all()
    assert read_image(obj).rgb.shape == rgb.shape  # read_image hands them on


@pytest.mark.parametrize(
    ("obj", "error", "builtin", "message"),
    [
        (42, InputTypeError, TypeError, "an image must be a file path, a MapImage, a PIL image"),
        (None, InputTypeError, TypeError, "got NoneType"),
        (np.zeros((4, 4, 3)), ImageError, ValueError, "got float64 of shape \\(4, 4, 3\\)"),
        (np.zeros((4, 4, 2), np.uint8), ImageError, ValueError, "of shape \\(4, 4, 2\\)"),
        (np.zeros((1, 5, 3), np.uint8), ImageError, ValueError, "1 pixels: too small"),
    ],
)
def test_bad_image_objects_are_geodigitize_errors(obj, error, builtin, message):
    with pytest.raises(error, match=message) as info:
        read_image(obj)
    assert isinstance(info.value, GeodigitizeError) and isinstance(info.value, builtin)


def test_pending_corrections_tell_strip_readers_to_stay_away(tmp_path):
    plain, p3 = tmp_path / "plain.png", tmp_path / "p3.png"
    Image.fromarray(_upright()).save(plain)
    Image.fromarray(_upright()).save(p3, icc_profile=display_p3_icc())
    Image.fromarray(np.zeros((4, 4), np.uint16)).save(tmp_path / "g16.png")
    exif = Image.Exif()
    exif[0x0112] = 8
    Image.fromarray(_upright()).save(tmp_path / "o.png", exif=exif.tobytes())
    found = {}
    for name in ("plain", "p3", "g16", "o"):
        with Image.open(tmp_path / f"{name}.png") as pil:
            found[name] = pending_corrections(pil)
    assert found == {
        "plain": (),
        "p3": ("ICC profile",),
        "g16": ("bit depth",),
        "o": ("EXIF orientation",),
    }


def test_palette_transparency_survives_the_profile(tmp_path):
    colours = np.array(
        [[[200, 100, 50], [30, 160, 90]], [[90, 60, 220], [128, 128, 128]]], np.uint8
    )
    pal = Image.fromarray(colours).convert("P", palette=Image.Palette.ADAPTIVE, colors=4)
    index = np.asarray(pal)[0, 1]
    path = tmp_path / "p.png"
    pal.save(path, icc_profile=display_p3_icc(), transparency=int(index))
    img = read_image(path)
    assert img.opaque.tolist() == [[True, False], [True, True]]
    assert img.corrections == ("ICC profile 'Display P3' converted to sRGB",)
    shown = _p3_expected(np.asarray(pal.convert("RGB")).reshape(-1, 3)).reshape(2, 2, 3)
    assert np.abs(img.rgb.astype(int) - shown)[img.opaque].max() <= 1


def _png_with_exif_after_the_pixels(path, orientation: int) -> None:
    """A PNG whose eXIf chunk comes after IDAT (where Pillow finds it only by decoding)."""
    import io
    import zlib

    buf = io.BytesIO()
    Image.new("RGB", (6, 4), (10, 20, 30)).save(buf, format="PNG")
    data = buf.getvalue()
    exif = Image.Exif()
    exif[0x0112] = orientation
    payload = exif.tobytes()
    chunk = (
        len(payload).to_bytes(4, "big")
        + b"eXIf"
        + payload
        + zlib.crc32(b"eXIf" + payload).to_bytes(4, "big")
    )
    end = data.rindex(b"IEND") - 4
    path.write_bytes(data[:end] + chunk + data[end:])


def test_pending_corrections_finds_late_exif_without_decoding(tmp_path):
    late = tmp_path / "late.png"
    _png_with_exif_after_the_pixels(late, 6)
    with Image.open(late) as pil:
        assert pending_corrections(pil) == ("EXIF orientation",)
    plain = tmp_path / "plain.png"
    Image.new("RGB", (6, 4)).save(plain)
    with Image.open(plain) as pil:
        assert pending_corrections(pil) == ()
        assert pil.tile  # still not decoded: the strip reader's whole point
