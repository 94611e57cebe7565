"""Reading images: formats and modes to 8-bit RGB, and every way a file can be bad."""

import numpy as np
import pytest
from PIL import Image

from geodigitize.errors import ImageError
from geodigitize.image import read_image

RGB = np.array([[[255, 0, 0], [0, 128, 255]], [[10, 20, 30], [250, 250, 250]]], np.uint8)


@pytest.mark.parametrize("suffix", [".png", ".bmp", ".tif", ".gif"])
def test_lossless_formats_round_trip(tmp_path, suffix):
    path = tmp_path / f"m{suffix}"
    Image.fromarray(RGB).save(path)
    img = read_image(path)
    assert img.rgb.dtype == np.uint8 and img.rgb.shape == (2, 2, 3)
    assert np.array_equal(img.rgb, RGB)
    assert img.opaque.all()


def test_jpeg_reads_as_rgb(tmp_path):
    path = tmp_path / "m.jpg"
    Image.fromarray(np.repeat(np.repeat(RGB, 8, 0), 8, 1)).save(path, quality=95)
    img = read_image(path)
    assert img.rgb.shape == (16, 16, 3) and img.format == "JPEG"
    assert np.abs(img.rgb[4, 4].astype(int) - RGB[0, 0]).max() < 12


def test_rgba_transparent_pixels_are_reported(tmp_path):
    rgba = np.dstack([RGB, np.array([[255, 0], [128, 255]], np.uint8)])
    path = tmp_path / "m.png"
    Image.fromarray(rgba, "RGBA").save(path)
    img = read_image(path)
    assert img.opaque.tolist() == [[True, False], [True, True]]
    assert np.array_equal(img.rgb, RGB)


def test_palette_and_grey_become_rgb(tmp_path):
    pal = Image.fromarray(RGB).convert("P", palette=Image.Palette.ADAPTIVE, colors=4)
    pal.save(tmp_path / "p.png")
    assert np.array_equal(read_image(tmp_path / "p.png").rgb, np.asarray(pal.convert("RGB")))
    grey = np.array([[0, 100], [200, 255]], np.uint8)
    Image.fromarray(grey, "L").save(tmp_path / "g.png")
    out = read_image(tmp_path / "g.png").rgb
    assert np.array_equal(out[..., 0], grey) and np.array_equal(out[..., 2], grey)


def test_sixteen_bit_grey_scaled_to_eight(tmp_path):
    grey16 = np.array([[0, 257], [32896, 65535]], np.uint16)
    Image.fromarray(grey16).save(tmp_path / "g16.png")
    out = read_image(tmp_path / "g16.png").rgb[..., 0]
    assert out.tolist() == [[0, 1], [128, 255]]


def test_gif_first_frame(tmp_path):
    frames = [Image.fromarray(np.full((4, 4, 3), v, np.uint8)) for v in (10, 200)]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:])
    assert read_image(tmp_path / "a.gif").rgb[0, 0, 0] == 10


def test_missing_file(tmp_path):
    with pytest.raises(ImageError, match="does not exist"):
        read_image(tmp_path / "nope.png")


def test_not_an_image(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("col,row,lon,lat\n")
    with pytest.raises(ImageError, match="not an image"):
        read_image(path)


def test_truncated_image(tmp_path):
    path = tmp_path / "t.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)).save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match="truncated or damaged"):
        read_image(path)


def test_pixel_limit(tmp_path):
    path = tmp_path / "big.png"
    Image.fromarray(np.zeros((100, 100, 3), np.uint8)).save(path)
    with pytest.raises(ImageError, match="more than the limit"):
        read_image(path, max_pixels=9_999)
    assert read_image(path, max_pixels=10_000).shape == (100, 100)
