"""The whole pipeline on a small figure whose every pixel is known."""

from pathlib import Path

import numpy as np
import pytest
from affine import Affine
from conftest import make_figure, paint

from geodigitize import extract
from geodigitize.errors import NoDataError
from geodigitize.mask import Reason
from geodigitize.reconstruct import interpolate_points

STEP = 0.7 / 256  # one colour step of jet_r between 0 and 0.7


@pytest.fixture
def result(figure, tmp_path):
    img, gcps = figure.write(tmp_path)
    # the consistency check is tested on its own below; here masking must be exact
    return extract(
        img, gcps=gcps, cmap="jet_r", vmin=0, vmax=0.7, region=figure.frame, consistency=None
    )


def test_exactly_the_data_pixels_are_decoded(figure, result):
    assert np.array_equal(result.valid, figure.data)
    assert (result.reason[figure.overlay] == Reason.OFF_SCALE).all()
    outside = np.isnan(figure.truth)
    assert (result.reason[outside] == Reason.OUTSIDE_REGION).all()


def test_decoded_values_match_truth(figure, result):
    err = np.abs(result.values[figure.data] - figure.truth[figure.data])
    assert np.median(err) <= STEP / 4 * 1.1
    assert np.percentile(err, 99) <= 2 * STEP  # pure-blue run of jet spans a few steps


def test_affine_recovered_and_north_up(figure, result):
    x0, y0, x1, y1 = figure.frame
    a = 360 / (x1 - x0)
    e = -160 / (y1 - y0)
    expected = Affine(a, 0, -180 - x0 * a, 0, e, 80 - y0 * e)
    gt = result.georef.geotransform()
    assert gt.b == 0.0 and gt.d == 0.0  # exactly zero, not 1e-17
    assert np.allclose(gt[:6], expected[:6], rtol=0, atol=1e-9)
    assert result.georef.rmse < 1e-9


def test_points_sit_on_their_pixels_and_values(figure, result):
    pts = result.points
    assert list(pts.columns) == ["value", "col", "row", "n_pixels", "geometry"]
    assert pts.crs.to_epsg() == 4326
    i = (pts["row"] - 0.5).astype(int).to_numpy()
    j = (pts["col"] - 0.5).astype(int).to_numpy()
    assert np.allclose(pts.geometry.x, figure.lon[i, j], atol=1e-9)
    assert np.allclose(pts.geometry.y, figure.lat[i, j], atol=1e-9)
    assert np.array_equal(pts["value"].to_numpy(), result.decoded.values[i, j])
    assert np.all(np.abs(pts["value"] - figure.truth[i, j]) <= 2 * STEP)
    assert pts["n_pixels"].sum() == result.flat.sum()
    assert result.flat[i, j].all()


def test_every_cluster_holds_one_value(result):
    labels = result.clusters.labels
    vals = result.decoded.values
    for k in np.unique(labels[labels >= 0])[:200]:
        assert np.unique(vals[labels == k]).size == 1


def test_reconstruction_check_is_reported(result):
    check = result.check
    assert 0 <= check.median_pct <= check.p95_pct
    assert check.n_pixels == result.valid.sum()
    rows, cols = np.nonzero(result.valid)
    c = result.clusters
    rebuilt = interpolate_points(c.col, c.row, c.value, cols + 0.5, rows + 0.5)
    err = np.abs(rebuilt - result.decoded.values[rows, cols]) / 0.7 * 100
    assert check.median_pct == pytest.approx(np.median(err))


def test_counts_add_up(result):
    c = result.counts()
    assert c["data"] + c["masked"] == c["pixels"]
    assert sum(c["masked_by_reason"].values()) == c["pixels"]
    assert c["points"] == c["clusters"] == len(result.points)


def test_no_pixel_on_the_scale(tmp_path, figure):
    figure.image[:] = 128  # all grey: nothing near jet_r
    img, gcps = figure.write(tmp_path)
    with pytest.raises(NoDataError, match="no pixel"):
        extract(img, gcps=gcps, cmap="jet_r", vmin=0, vmax=0.7)


def test_rotated_figure_keeps_rotation_terms(tmp_path):
    """A genuinely rotated georeference is not snapped north-up."""
    fig = make_figure()
    img, _ = fig.write(tmp_path)
    rot = Affine.rotation(5)
    pts = ["col,row,lon,lat"]
    for c, r in [(10, 10), (150, 10), (10, 110), (150, 110)]:
        x, y = rot @ (c, r)
        pts.append(f"{c},{r},{x},{y}")
    (tmp_path / "rot.csv").write_text("\n".join(pts))
    res = extract(
        img, gcps=tmp_path / "rot.csv", cmap="jet_r", vmin=0, vmax=0.7, gcp_crs="EPSG:3857"
    )  # metres: the rotated "latitudes" pass 90
    assert not res.georef.snapped
    assert np.allclose(res.georef.geotransform()[:6], rot[:6], atol=1e-9)


def test_consistency_check_masks_antialiased_fringes_only(tmp_path):
    """A line's antialiased fringe decodes to wrong values; the check removes it, and so
    does the halo rule where the fringe's colours occur nowhere else."""
    fig = make_figure(400, 300, margin=20, lines=False)
    image = fig.image.copy()
    row = 150
    image[row] = 0  # a 1-pixel black line ...
    for r, alpha in ((row - 1, 0.25), (row + 1, 0.12)):  # ... with its antialiasing
        image[r] = np.rint(image[r] * (1 - alpha)).astype(np.uint8)
    fig.image = image
    img, gcps = fig.write(tmp_path)
    inside = ~np.isnan(fig.truth)
    fringe = np.zeros_like(inside)
    fringe[[row - 1, row + 1]] = True
    fringe &= inside
    # fixed distances: the automatic halo alone would already catch most of this fringe
    fixed = dict(max_distance=70.0, halo_distance=3.0)
    kw = dict(gcps=gcps, cmap="jet_r", vmin=0, vmax=0.7, region=fig.frame)
    off = extract(img, **kw, consistency=None, max_distance=70.0, halo_distance=None)
    # without the check (nor the halo rule), darkened reds and blues pass as other reds
    # and blues of jet_r
    assert off.valid[fringe].mean() > 0.2
    # the check alone masks nearly all of them ...
    alone = extract(img, **kw, max_distance=70.0, halo_distance=None)
    assert alone.valid[fringe].mean() < 0.05
    # ... and so does the halo rule alone: the fringe's colours occur only along the line
    halo = extract(img, **kw, consistency=None, **fixed)
    assert halo.valid[fringe].mean() < 0.1
    on = extract(img, **kw, **fixed)
    # fringe pixels whose colour moved by more than the tolerance (8 RGB) are masked
    # (all but a few where the field peaks and a one-sided plane matches the mixture)
    pure = fig.image.astype(float)
    pure[inside] = paint(fig.truth[inside], "jet_r", 0, 0.7)
    moved = np.sqrt(((image.astype(float) - pure) ** 2).sum(-1)) > 8
    assert on.valid[fringe & moved].mean() <= 0.01
    assert on.valid[fringe].mean() < 0.05
    newly_masked = fringe & off.valid & ~on.valid
    assert np.isin(on.reason[newly_masked], [Reason.HALO, Reason.INCONSISTENT]).all()
    clean = inside & ~fringe
    clean[row] = False
    assert on.valid[clean].mean() > 0.999


@pytest.mark.parametrize("kind", ["affine", "helmert", "auto"])
def test_north_up_snap_writes_exact_zeros_for_every_affine_kind(figure, tmp_path, kind):
    """Rotation terms within reading error are exactly zero, whatever affine kind fits."""
    img, gcps = figure.write(tmp_path)
    res = extract(img, gcps=gcps, cmap="jet_r", vmin=0, vmax=0.7, transform=kind)
    gt = res.georef.geotransform()
    assert res.georef.snapped
    assert gt.b == 0.0 and gt.d == 0.0


def test_extract_takes_arrays_pil_images_and_dataframes():
    """The Python API takes pixels and GCP tables as well as files, with equal results."""
    import pandas as pd
    from PIL import Image

    root = Path(__file__).resolve().parents[1] / "examples"
    kwargs = dict(cmap="jet_r", vmin=0, vmax=0.7, region=(69, 224, 875, 582))
    by_path = extract(root / "sst_jet_r.png", gcps=root / "sst_jet_r_gcps.csv", **kwargs)
    table = pd.read_csv(root / "sst_jet_r_gcps.csv")
    with Image.open(root / "sst_jet_r.png") as pil:
        pixels = np.asarray(pil.convert("RGB"))
        by_pil = extract(pil, gcps=table.to_numpy()[:, :4], **kwargs)
    by_array = extract(pixels, gcps=table, **kwargs)
    for other in (by_array, by_pil):
        np.testing.assert_array_equal(other.values, by_path.values)
        np.testing.assert_allclose(other.points.geometry.x, by_path.points.geometry.x)
