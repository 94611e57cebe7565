"""PDF input: a page rendered at a dpi, or the map's embedded image with its own pixels,
GCPs and boxes measured on the page, the text layer, and one-line errors."""

from __future__ import annotations

import shutil
import subprocess

import matplotlib as mpl
import numpy as np
import pytest
from matplotlib.figure import Figure

import geodigitize
from benchmarks.pdf_accuracy import AXES, FIG, accuracy, figure, frame, gcps_csv
from geodigitize.errors import ImageError
from geodigitize.pdf import embedded_images, page_text, read_pdf


def test_embedded_image_is_taken_with_its_own_pixels(tmp_path):
    """The image object's stored pixels, not a rendering: a 37 x 23 array drawn across
    most of the page comes back as exactly its 37 x 23 colours."""
    data = (np.arange(23 * 37).reshape(23, 37) * 7919 % 101) / 100
    fig = Figure(figsize=(4, 3))
    ax = fig.add_axes([0.1, 0.15, 0.7, 0.7])
    ax.imshow(
        data, cmap="viridis", interpolation="none", extent=(-180, 180, -90, 90), aspect="auto"
    )
    pdf = tmp_path / "embedded.pdf"
    fig.savefig(pdf)
    image, source = read_pdf(pdf, dpi=200)
    assert source.kind == "embedded" and source.image == 1
    np.testing.assert_array_equal(image.rgb, mpl.colormaps["viridis"](data, bytes=True)[..., :3])
    rendered, _ = read_pdf(pdf, dpi=200, pdf_image="render")
    assert rendered.shape == (600, 800)
    # page pixels at 200 dpi map onto the image: the axes' corners are its corners
    assert np.allclose(source.page_to_image @ (80, 90), (0, 0), atol=1e-4)
    assert np.allclose(source.page_to_image @ (640, 510), (37, 23), atol=1e-4)
    (found,) = embedded_images(pdf)
    assert found.pixels == (37, 23)


def test_gcps_on_the_page_georeference_the_embedded_image(tmp_path):
    blocks = np.linspace(0, 1, 18 * 9).reshape(9, 18)
    data = np.repeat(np.repeat(blocks, 2, axis=0), 2, axis=1)  # 2 x 2 flat cells
    fig = Figure(figsize=FIG)
    ax = fig.add_axes(AXES)
    ax.imshow(
        data, cmap="viridis", interpolation="none", extent=(-180, 180, -90, 90), aspect="auto"
    )
    pdf = tmp_path / "grid.pdf"
    fig.savefig(pdf)
    x0, y0, x1, y1 = frame(150)
    gcps = tmp_path / "inner.csv"  # cell centres: inside the embedded image
    gcps.write_text(
        "col,row,lon,lat\n"
        f"{x0 + (x1 - x0) / 72},{y0 + (y1 - y0) / 36},-175,85\n"
        f"{x1 - (x1 - x0) / 72},{y0 + (y1 - y0) / 36},175,85\n"
        f"{x0 + (x1 - x0) / 72},{y1 - (y1 - y0) / 36},-175,-85\n"
    )
    result = geodigitize.extract(pdf, gcps=gcps, cmap="viridis", vmin=0, vmax=1, dpi=150)
    assert result.source.kind == "embedded" and result.image.shape == (18, 36)
    assert result.georef.rmse < 1e-6
    pts = result.points
    lon = -180 + 10 * pts["col"].to_numpy()
    lat = 90 - 10 * pts["row"].to_numpy()
    np.testing.assert_allclose(pts.geometry.x, lon, atol=1e-6)
    np.testing.assert_allclose(pts.geometry.y, lat, atol=1e-6)
    cell = np.floor(pts["row"].to_numpy()).astype(int) * 36 + np.floor(pts["col"]).astype(int)
    assert np.max(np.abs(pts["value"].to_numpy() - data.ravel()[cell])) <= 1 / 256
    report = result.report()
    assert report["input"]["pdf"]["kind"] == "embedded"


@pytest.mark.parametrize("kind", ["imshow", "pcolormesh"])
def test_pdf_decodes_as_well_as_the_png_at_the_same_dpi(tmp_path, kind):
    dpi = 100
    png = figure(tmp_path / f"{kind}.png", kind, dpi)
    pdf = figure(tmp_path / f"{kind}.pdf", kind, dpi)
    x0, y0, x1, y1 = frame(dpi)
    region = (x0 + 1, y0 + 1, x1 - 1, y1 - 1)
    gcps = gcps_csv(tmp_path, dpi)
    from_png = geodigitize.extract(png, gcps=gcps, cmap="jet", vmin=0, vmax=1, region=region)
    from_pdf = geodigitize.extract(
        pdf, gcps=gcps, cmap="jet", vmin=0, vmax=1, region=region, dpi=dpi, pdf_image="render"
    )
    png_n, png_err = accuracy(from_png)
    pdf_n, pdf_err = accuracy(from_pdf)
    assert from_pdf.image.shape == from_png.image.shape
    assert pdf_n >= 0.995 * png_n
    assert pdf_err <= png_err + 0.01


def test_gcps_in_pdf_points(tmp_path):
    pdf = figure(tmp_path / "f.pdf", "imshow")
    x0, y0, x1, y1 = frame(72)
    region = f"{x0 + 1},{y0 + 1},{x1 - 1},{y1 - 1}"
    in_points = geodigitize.extract(
        pdf,
        gcps=gcps_csv(tmp_path, 72, "points"),
        cmap="jet",
        vmin=0,
        vmax=1,
        region=region,
        dpi=144,
        pdf_image="render",
        gcp_units="points",
    )
    in_pixels = geodigitize.extract(
        pdf,
        gcps=gcps_csv(tmp_path, 144),
        cmap="jet",
        vmin=0,
        vmax=1,
        region=tuple(2 * v for v in (x0 + 1, y0 + 1, x1 - 1, y1 - 1)),
        dpi=144,
        pdf_image="render",
    )
    np.testing.assert_array_equal(in_points.valid, in_pixels.valid)
    assert in_points.georef.rmse < 1e-6
    np.testing.assert_allclose(in_points.points.geometry.x, in_pixels.points.geometry.x)


def test_page_text_gives_the_labels(tmp_path):
    pdf = figure(tmp_path / "f.pdf", "pcolormesh")
    texts = page_text(pdf, dpi=100)
    words = [t.text for t in texts]
    assert "a field" in words
    assert "−100" in words  # a tick label, minus sign and digits joined
    (title,) = [t for t in texts if t.text == "a field"]
    x0, _, x1, y1 = title.box
    left, top, right, _ = frame(100)
    assert left < x0 < x1 < right and y1 < top  # centred above the map


def test_bad_pdfs_are_one_line_errors(tmp_path):
    pdf = figure(tmp_path / "f.pdf", "pcolormesh")
    fig = Figure(figsize=(3, 2))
    fig.add_axes((0.1, 0.1, 0.8, 0.8)).plot([0, 1], [0, 1])
    lines_only = tmp_path / "lines.pdf"
    fig.savefig(lines_only)
    damaged = tmp_path / "damaged.pdf"
    damaged.write_bytes(pdf.read_bytes()[:300])
    cases = [
        (damaged, {}, "is damaged"),
        (pdf, {"page": 3}, "page 3 is out of range"),
        (lines_only, {"pdf_image": "largest"}, "holds no embedded image"),
        (pdf, {"pdf_image": 4}, "has no embedded image 4"),
        (pdf, {"dpi": 5000}, "`dpi` must be a number from 1 to 2400"),
    ]
    for path, kwargs, words in cases:
        with pytest.raises(ImageError, match=words) as err:
            read_pdf(path, **kwargs)
        assert "\n" not in str(err.value)


@pytest.mark.skipif(
    shutil.which("gs") is None,
    reason="Ghostscript (gs) makes the encrypted PDF: apt-get install ghostscript",
)
def test_encrypted_pdf_needs_its_password(tmp_path):
    pdf = figure(tmp_path / "f.pdf", "imshow")
    locked = tmp_path / "locked.pdf"
    subprocess.run(
        [
            "gs",
            "-q",
            "-dNOPAUSE",
            "-dBATCH",
            "-sDEVICE=pdfwrite",
            "-sOwnerPassword=owner",
            "-sUserPassword=secret",
            f"-sOutputFile={locked}",
            str(pdf),
        ],
        check=True,
    )
    with pytest.raises(ImageError, match="encrypted PDF and no password"):
        read_pdf(locked)
    with pytest.raises(ImageError, match="a wrong password"):
        read_pdf(locked, password="guess")
    image, _ = read_pdf(locked, password="secret", pdf_image="render", dpi=50)
    assert image.shape == (175, 300)
