"""Options check themselves: bad values raise OptionError naming the parameter."""

import dataclasses
import math

import numpy as np
import pytest

from geodigitize.errors import GeodigitizeError, NoDataError, OptionError
from geodigitize.mask import Reason, require_data
from geodigitize.options import MAX_SAMPLES, Options


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("eps", math.nan),
        ("eps", 0),
        ("eps", -1),
        ("flat_tol", -1),
        ("flat_tol", math.inf),
        ("max_distance", "nan"),
        ("max_distance", -2),
        ("halo_distance", math.nan),
        ("consistency", -1),
        ("exclude_tol", 0),
        ("smoothness", -0.5),
        ("vmin", "zero"),
        ("vmax", math.nan),
        ("vcenter", "x"),
        ("levels", "nan,0.3,0.7"),
        ("levels", (0.3, 0.2, 0.7)),
        ("levels", (0.5,)),
        ("contour_levels", (0.1, math.inf)),
        ("samples", MAX_SAMPLES + 1),
        ("samples", 1),
        ("samples", 2.5),
        ("min_samples", 0),
        ("max_pixels", 0),
        ("norm", "logarithmic"),
        ("color_space", "hsv"),
        ("transform", "spline"),
    ],
)
def test_bad_values_name_the_parameter(field, value):
    with pytest.raises(OptionError) as err:
        Options(**{field: value})
    assert f"`{field}`" in str(err.value)
    assert isinstance(err.value, GeodigitizeError) and isinstance(err.value, ValueError)


def test_good_values_are_normalised():
    opts = Options(
        vmin="0",
        vmax=1,
        levels="0,0.5,1",
        max_distance="AUTO",
        halo_distance=None,
        consistency=None,
        eps=1.5,
        samples=256.0,
        transform="TPS",
    )
    assert opts.vmin == 0.0 and isinstance(opts.vmin, float)
    assert opts.levels == (0.0, 0.5, 1.0)
    assert opts.max_distance == "auto" and opts.halo_distance is None
    assert opts.consistency is None
    assert opts.samples == 256 and isinstance(opts.samples, int)
    assert opts.transform == "tps"


def test_every_default_passes_its_own_check():
    defaults = Options()
    again = Options(**{f.name: getattr(defaults, f.name) for f in dataclasses.fields(Options)})
    assert again == defaults


def test_no_data_names_the_reason_that_masked_everything():
    counts = np.bincount(np.full(10, Reason.INCONSISTENT), minlength=len(Reason))
    counts[Reason.OFF_SCALE] = 3
    with pytest.raises(NoDataError, match=r"77% are inconsistent; raise `consistency`"):
        require_data(counts, "map.png", 12.0)
    counts = np.bincount(np.full(4, Reason.OFF_SCALE), minlength=len(Reason))
    with pytest.raises(NoDataError, match=r"farther than `max_distance` 12\.5\)"):
        require_data(counts, "map.png", 12.5)
    counts[Reason.DATA] = 1
    require_data(counts, "map.png", 12.5)  # some data: no error


def test_unknown_keyword_options_are_refused_with_a_suggestion():
    import geodigitize

    with pytest.raises(OptionError, match=r"unknown option `cmapp` \(did you mean `cmap`\?\)"):
        geodigitize.extract("map.png", cmapp="jet")
    with pytest.raises(OptionError, match="either `options` or keyword options"):
        geodigitize.extract("map.png", options=Options(cmap="jet"), vmin=0)
