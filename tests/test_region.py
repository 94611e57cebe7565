"""Region masks and mask reasons: exact pixel counts on tiny inputs."""

import numpy as np
import pytest

from geodigitize.errors import RegionError
from geodigitize.mask import Reason, classify, count_reasons
from geodigitize.region import parse_box, region_mask


def test_region_counts_pixel_centres():
    # box 2,3,5,6 holds the centres of cols 2..4 and rows 3..5: a 3x3 square
    mask = region_mask((10, 10), (2, 3, 5, 6))
    assert mask.sum() == 9
    assert mask[3:6, 2:5].all()
    assert (~mask).sum() == 91


def test_region_half_pixels():
    # 1.5 and 4.5 are pixel centres: included at both ends
    assert region_mask((10, 10), (1.5, 1.5, 4.5, 4.5)).sum() == 16
    assert region_mask((10, 10), (1.6, 1.6, 4.4, 4.4)).sum() == 4


@pytest.mark.parametrize(
    "box, message",
    [
        ("1,2,3", "four numbers"),
        ("a,b,c,d", "four numbers"),
        ("5,5,1,1", "is empty"),
        ("0,0,11,5", "outside"),
        ("-1,0,5,5", "outside"),
        ("2.1,2.1,2.4,2.4", "no pixel centre"),
    ],
)
def test_bad_regions(box, message):
    with pytest.raises(RegionError, match=message):
        region_mask((10, 10), parse_box(box) if "," in box and message != "four numbers" else box)


def test_classify_orders_reasons():
    distance = np.array([[0.0, 80.0, 5.0], [0.0, 0.0, 100.0]])
    opaque = np.array([[True, True, True], [False, True, True]])
    reason = classify(distance, max_distance=70, opaque=opaque, region=(0, 0, 2, 2))
    assert reason.tolist() == [
        [Reason.DATA, Reason.OFF_SCALE, Reason.OUTSIDE_REGION],
        [Reason.TRANSPARENT, Reason.DATA, Reason.OUTSIDE_REGION],
    ]
    counts = count_reasons(reason)
    assert counts["data"] == 2 and counts["outside_region"] == 2


def test_halo_masks_neighbours_of_off_scale_pixels_only_when_not_exact():
    distance = np.zeros((5, 5))
    distance[2, 2] = 200.0  # a line pixel
    distance[2, 3] = 20.0  # its antialiased neighbour: a mixture
    distance[0, 0] = 20.0  # far from any line: kept
    reason = classify(distance, max_distance=70, halo_distance=10)
    assert reason[2, 2] == Reason.OFF_SCALE
    assert reason[2, 3] == Reason.HALO
    assert reason[2, 1] == Reason.DATA and reason[0, 0] == Reason.DATA
