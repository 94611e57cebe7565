"""Why a pixel is, or is not, data: the codes every masking rule writes.

Kept in a module of its own so the stages that mask (:mod:`geodigitize.mask`) and
restore (:mod:`geodigitize.jpeg`) pixels share them without importing each other.
"""

from __future__ import annotations

from enum import IntEnum

__all__ = ["Reason"]


class Reason(IntEnum):
    """Why a pixel is, or is not, data. Stored as uint8."""

    DATA = 0
    TRANSPARENT = 1
    OUTSIDE_REGION = 2
    OFF_SCALE = 3
    EXCLUDED_COLOR = 4
    HALO = 5
    INCONSISTENT = 6
    AMBIGUOUS = 7
