"""Stippling, hatching and labelled contour lines drawn over a field are masked."""

import pytest

import geodigitize
from benchmarks.overlay_accuracy import OVERLAYS, make_figure, measure


@pytest.mark.parametrize("kind", OVERLAYS)
def test_stipples_hatches_and_contour_labels_are_not_decoded(tmp_path, kind):
    """Issue 16's targets, on a seed the benchmark's table does not show."""
    fig = make_figure(kind, 3, tmp_path)
    assert fig["overlay"].sum() > 2000  # the overlay is really there
    result = geodigitize.extract(
        fig["png"], gcps=fig["gcps"], cmap="jet", vmin=0, vmax=1, region=fig["frame"]
    )
    m = measure(fig, result)
    assert m["data_pct"] >= 98.0
    assert m["overlay_pct"] <= 1.0
    assert m["median_pct"] <= 0.2
