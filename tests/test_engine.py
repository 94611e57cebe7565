"""The engine's results do not depend on how the image is cut into strips, for every
option: each field of :class:`geodigitize.options.Options` is run with a value other than
its default on one strip and on strips of 1, 7 and 64 rows (and streamed from its file
or with its results spooled, when the options allow it), and everything a run reports
must agree. Masking that declares it needs the whole image (the smoothness check, JPEG
restoration) must run as one strip whatever the strip height asked for."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import rasterio
from PIL import Image

from geodigitize.colormap import from_cmap
from geodigitize.options import Options
from geodigitize.pipeline import extract
from geodigitize.strips import needs_memory
from geodigitize.synthetic import render_figure

SCALE = {"cmap": "jet_r", "vmin": 0.0, "vmax": 0.7}
BAR = {"cmap": None, "vmin": 0.0, "vmax": 0.7}
PDF = {"dpi": 72.0}

#: A value other than the default for every field of Options (with what it needs).
#: "pdf" runs the figure as a PDF page; "file" names a colour-table file to write.
VARIANTS: dict[str, dict] = {
    "cmap": {"cmap": "jet"},  # the same colours, values reversed
    "vmin": {"vmin": 0.1},
    "vmax": {"vmax": 0.6},
    "norm": {"norm": "log", "vmin": 0.01},
    "vcenter": {"norm": "twoslope", "vcenter": 0.3},
    "levels": {"levels": (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)},
    "colorbar": {**BAR, "colorbar": "208,50,213,131"},
    "colorbar_flip": {**BAR, "colorbar": "208,50,213,131", "colorbar_flip": True},
    "cmap_file": {"cmap": None, "vmin": None, "vmax": None, "cmap_file": "file"},
    "samples": {"samples": 300},
    "shaded": {"shaded": "soft"},
    "color_space": {"color_space": "lab"},
    "max_distance": {"max_distance": 30.0},
    "halo_distance": {"halo_distance": None},
    "consistency": {"consistency": 4.0},
    "exclude_color": {"exclude_color": "black,white"},
    "exclude_tol": {"exclude_color": "black", "exclude_tol": 40.0},
    "smoothness": {"smoothness": 4.0},
    "region": {"region": (20.0, 40.0, 210.0, 140.0)},
    "flat_tol": {"flat_tol": 0.01},
    "eps": {"eps": 1.5},
    "min_samples": {"min_samples": 2},
    "transform": {"transform": "projective"},
    "crs": {"crs": "EPSG:3857"},
    "gcp_crs": {"gcp_crs": "EPSG:4326"},
    "out_crs": {"out_crs": "EPSG:3857"},
    "max_pixels": {"max_pixels": 1_000_000},
    "page": {"pdf": True, "page": 1, **PDF},  # a one-page PDF has no other page
    "dpi": {"pdf": True, "dpi": 72.0},
    "pdf_image": {"pdf": True, "pdf_image": "render", **PDF},
    "pdf_password": {"pdf": True, "pdf_password": "unused", **PDF},
    "gcp_units": {"pdf": True, "gcp_units": "points"},
    "target_error": {"target_error": "2%"},
    "contours": {"contours": True},
    "contour_levels": {"contour_levels": (0.2, 0.4)},
    "preview": {"preview": "preview.png"},
    "extra": {"extra": {"note": "given"}},
}
#: Options whose strips run more than the default masking (their own case too).
MORE = {
    "region auto": {"region": "auto"},
    "eps 2.5": {"eps": 2.5},
    "exclude and region": {"exclude_color": "black", "region": (20.0, 40.0, 210.0, 140.0)},
    "shaded without halo": {"shaded": "multiply", "halo_distance": None},
}
STRIPS = (1, 7, 64)


def test_every_option_is_listed():
    """A new field of Options must say here how it is run at every strip height."""
    assert set(VARIANTS) == {f.name for f in dataclasses.fields(Options)}


@pytest.fixture(scope="module")
def figure(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("engine")
    fig = render_figure(240, 180, seed=2)
    png, gcps = tmp / "map.png", tmp / "gcps.csv"
    fig.save(png, gcps_path=gcps)
    pdf = tmp / "map.pdf"
    Image.fromarray(fig.image).save(pdf, resolution=72)
    table = tmp / "table.csv"
    scale = from_cmap("jet_r", 0.0, 0.7)
    rows = np.column_stack([scale.values[::8], scale.colors[::8]])
    np.savetxt(table, rows, delimiter=",", fmt="%g")
    return {"png": png, "pdf": pdf, "gcps": gcps, "file": table, "tmp": tmp}


def _options(figure, variant: dict) -> tuple[object, dict]:
    opts = {**SCALE, **variant}
    image = figure["pdf"] if opts.pop("pdf", False) else figure["png"]
    if opts.get("cmap_file") == "file":
        opts["cmap_file"] = str(figure["file"])
    if "preview" in opts:
        opts["preview"] = str(figure["tmp"] / opts["preview"])
    return image, opts


def _outputs(result, folder) -> dict:
    """Everything a run reports, the written grid included (timings and strips aside)."""
    report = result.report()
    report.pop("timings_s")
    report.pop("strips")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "grid.tif"
    result.writers()["grid.tif"](path)
    with rasterio.open(path) as grid:
        written = (grid.transform, grid.read(1))
    return {
        "points": result.points.drop(columns="geometry"),
        "xy": result.points.geometry.get_coordinates().to_numpy(),
        "counts": result.counts(),
        "report": report,
        "grid": written,
        "contours": None if result.contours is None else result.contours.to_wkt(),
    }


def _assert_same(a: dict, b: dict) -> None:
    assert a["points"].equals(b["points"])
    np.testing.assert_array_equal(a["xy"], b["xy"])
    assert a["counts"] == b["counts"]
    assert a["report"] == b["report"]
    assert a["grid"][0] == b["grid"][0]
    np.testing.assert_array_equal(a["grid"][1], b["grid"][1])
    if a["contours"] is None:
        assert b["contours"] is None
    else:
        assert a["contours"].equals(b["contours"])


@pytest.mark.parametrize("name", [*VARIANTS, *MORE])
def test_results_do_not_depend_on_the_strips(figure, name, tmp_path):
    image, opts = _options(figure, VARIANTS.get(name) or MORE[name])
    one = extract(image, gcps=figure["gcps"], **opts)
    assert one.strips["strips"] == 1
    expected = _outputs(one, tmp_path / "one")
    whole = one.fitted.context_rows is None  # the mask stage declared no depth
    for rows in STRIPS[1:2] if whole else STRIPS:
        many = extract(image, gcps=figure["gcps"], strip_rows=rows, **opts)
        assert many.strips["strips"] == (1 if whole else -(-180 // rows))
        _assert_same(expected, _outputs(many, tmp_path / f"rows{rows}"))
    if not needs_memory(Options(**opts)):  # streamed (PNG) or spooled (PDF)
        streamed = extract(
            image, gcps=figure["gcps"], strip_rows=7, in_memory=False, grid_dir=tmp_path, **opts
        )
        assert not streamed.pixels.kept
        got = _outputs(streamed, tmp_path / "streamed")
        # the streamed check queries the same pixels in row order (see strips._check)
        for r in (expected, got):
            r["report"]["reconstruction"] = {
                k: round(v, 9) if isinstance(v, float) else v
                for k, v in r["report"]["reconstruction"].items()
            }
        _assert_same(expected, got)
