"""The preview figure and the GCP plot: rendered, panels checked."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from geodigitize import extract
from geodigitize.errors import OutputError
from geodigitize.preview import (
    PANEL_TITLES,
    PREVIEW_SIZE,
    draw_step,
    plot_extraction,
    plot_gcps,
    write_preview,
)


@pytest.fixture
def result(figure, tmp_path):
    img, gcps = figure.write(tmp_path)
    return extract(img, gcps=gcps, cmap="jet_r", vmin=0, vmax=0.7, region=figure.frame)


def test_preview_panels(result, tmp_path):
    path = tmp_path / "preview.png"
    fig = plot_extraction(result, path, dpi=50)
    titled = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in titled[:5]] == list(PANEL_TITLES[:5])
    assert titled[5].get_title().startswith(PANEL_TITLES[5])
    assert len(fig.axes) == 8  # six panels and two colorbars
    legend = titled[2].get_legend()
    labels = [t.get_text() for t in legend.get_texts()]
    assert any(label.startswith("off-scale colour") for label in labels)
    assert any(label.startswith("outside region") for label in labels)
    with Image.open(path) as png:
        assert png.size == (750, 450)  # 15 x 9 inches at 50 dpi


def test_preview_written_by_run(figure, tmp_path):
    img, gcps = figure.write(tmp_path)
    result = extract(
        img, gcps=gcps, cmap="jet_r", vmin=0, vmax=0.7, region=figure.frame, preview="look.png"
    )
    paths = result.write(tmp_path / "out")
    assert paths["look.png"].is_file()
    elsewhere = tmp_path / "elsewhere.png"
    result2 = extract(img, gcps=gcps, cmap="jet_r", vmin=0, vmax=0.7, preview=str(elsewhere))
    paths = result2.write(tmp_path / "out2")
    assert paths[str(elsewhere)] == elsewhere and elsewhere.is_file()
    with pytest.raises(OutputError, match="already exists"):
        write_preview(result2, elsewhere)


def test_plot_gcps_draws_residual_arrows(result, tmp_path):
    path = tmp_path / "gcps.png"
    fig = plot_gcps(result.image.rgb, result.georef, path, dpi=50)
    ax = fig.axes[0]
    assert "RMSE" in ax.get_title()
    quiver = [c for c in ax.collections if c.__class__.__name__ == "Quiver"]
    assert len(quiver) == 1 and quiver[0].N == len(result.georef.gcps)
    assert len(ax.texts) == len(result.georef.gcps)
    assert path.is_file()
    np.testing.assert_array_equal(np.asarray(quiver[0].U), result.georef.residuals[:, 0])


def test_gcps_command_plots_residual_arrows(tmp_path):
    """`geodigitize gcps --plot` draws the image with the GCPs; refuses to overwrite."""
    from conftest import make_figure
    from PIL import Image
    from typer.testing import CliRunner

    from geodigitize.cli import app

    img, gcps = make_figure().write(tmp_path)
    plot = tmp_path / "gcps.png"
    args = ["gcps", str(img), "--gcps", str(gcps), "--plot", str(plot)]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    with Image.open(plot) as pic:
        assert pic.size[0] > 100 and pic.size[1] > 100
    again = CliRunner().invoke(app, args)
    assert again.exit_code != 0 and "--overwrite" in again.stderr
    assert CliRunner().invoke(app, [*args, "--overwrite"]).exit_code == 0
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_draw_step_keeps_a_sample_per_screen_pixel():
    # at 100 dpi a panel is at most 500 x 450 screen pixels
    assert PREVIEW_SIZE == (15.0, 9.0)
    assert draw_step((1083, 1444), 100) == 2  # 542 x 722 drawn
    assert draw_step((1083, 1444), 50) == 4  # 271 x 361 for at most 225 x 250
    assert draw_step((899, 1444), 100) == 1  # 899 < 2 x 450: all rows needed
    assert draw_step((300, 400), 100) == 1
    for shape in [(1083, 1444), (1500, 1125), (4000, 30), (1499, 1500)]:
        for dpi in (30, 50, 100, 200):
            k = draw_step(shape, dpi)
            assert -(-shape[0] // k) >= min(shape[0], PREVIEW_SIZE[1] * dpi / 2)
            assert -(-shape[1] // k) >= min(shape[1], PREVIEW_SIZE[0] * dpi / 3)


def test_preview_draws_sampled_panels_over_the_whole_image(result):
    # the drawn arrays keep every k-th pixel but span the whole image (same extent)
    fig = plot_extraction(result, dpi=10)
    panels = [ax for ax in fig.axes if ax.get_title()]
    h, w = result.valid.shape
    k = draw_step((h, w), 10)
    assert k > 1
    shown = panels[1].get_images()[0]
    assert shown.get_array().shape == result.valid[::k, ::k].shape
    assert shown.get_extent() == [0.0, float(w), float(h), 0.0]


def test_saving_laid_out_once_draws_the_same_picture(tmp_path):
    """_save_laid_out (the layout engine run alone, then one draw) writes the pixels
    savefig writes (a layout draw, then the drawing), and keeps the engine."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from geodigitize.preview import _save_laid_out

    rng = np.random.default_rng(0)

    def figure():
        fig = Figure(figsize=(6.0, 4.0), dpi=80, layout="constrained")
        FigureCanvasAgg(fig)
        axes = fig.subplots(2, 3, sharex=True, sharey=True).ravel()
        for k, ax in enumerate(axes):
            im = ax.imshow(rng.random((40, 60)), interpolation="nearest", extent=(0, 600, 400, 0))
            ax.set_title(f"panel {k}", fontsize=10)
            if k in (1, 5):
                fig.colorbar(im, ax=ax, shrink=0.8, label="% of range")
        axes[3].scatter([100, 300], [50, 350], s=4)
        fig.suptitle("a six-panel figure")
        return fig

    import matplotlib

    for rc in ({}, {"figure.autolayout": True}):  # no engine while saving, whatever rc says
        with matplotlib.rc_context(rc):
            state = rng.bit_generator.state
            fig = figure()
            fig.savefig(tmp_path / "plain.png")
            rng.bit_generator.state = state
            fig = figure()
            engine = fig.get_layout_engine()
            _save_laid_out(fig, tmp_path / "once.png")
            assert fig.get_layout_engine() is engine
        plain = np.asarray(Image.open(tmp_path / "plain.png"))
        once = np.asarray(Image.open(tmp_path / "once.png"))
        assert plain.shape == once.shape
        assert np.array_equal(plain, once)
