"""The parameters of a run, as the user gives them (see ``geodigitize run --help``).

What a run *fitted* from the image (automatic distances, the frame, JPEG smoothness) is
kept apart from these: :class:`geodigitize.pipeline.Extraction` holds the options used,
with every automatic choice replaced by its value and listed under ``automatic``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .image import DEFAULT_MAX_PIXELS
from .mask import DEFAULT_CONSISTENCY
from .refine import parse_target
from .region import parse_box

__all__ = ["AUTO", "AUTO_DISTANCE", "EXCLUDE_TOL", "Options"]

#: Value of `max_distance` / `halo_distance` asking for a choice from the image's noise.
AUTO = "auto"
#: Default tolerance of --exclude-color, per colour space.
EXCLUDE_TOL = {"rgb": 24.0, "lab": 8.0}
#: Bounds of the automatic --max-distance, per colour space.
AUTO_DISTANCE = {"rgb": {"floor": 8.0, "cap": 40.0}, "lab": {"floor": 3.0, "cap": 15.0}}


@dataclass(frozen=True)
class Options:
    """Every parameter of a run (what ``report.json`` records under ``parameters``).

    See ``geodigitize run --help`` for each option; defaults here are the CLI's.
    """

    cmap: str | None = None
    vmin: float | None = None
    vmax: float | None = None
    norm: str = "linear"
    vcenter: float | None = None
    levels: tuple[float, ...] | None = None
    colorbar: str | None = None
    colorbar_flip: bool = False
    cmap_file: str | None = None
    samples: int = 10_000
    color_space: str = "rgb"
    max_distance: float | str = "auto"
    halo_distance: float | str | None = "auto"
    consistency: float | None = DEFAULT_CONSISTENCY
    exclude_color: str | None = None
    exclude_tol: float | None = None
    smoothness: float | None = None
    region: tuple[float, float, float, float] | str | None = None
    flat_tol: float = 0.0
    eps: float = 1.0
    min_samples: int = 1
    transform: str = "affine"
    crs: str | None = None
    gcp_crs: str | None = None
    out_crs: str = "EPSG:4326"
    max_pixels: int = DEFAULT_MAX_PIXELS
    target_error: float | None = None
    contours: bool = False
    contour_levels: tuple[float, ...] | None = None
    preview: str | None = None
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.region is not None and self.region != "auto":  # text or four numbers
            object.__setattr__(self, "region", parse_box(self.region))
        if self.levels is not None:
            object.__setattr__(self, "levels", tuple(float(v) for v in self.levels))
        if self.target_error is not None:
            object.__setattr__(self, "target_error", parse_target(self.target_error))
        if self.preview is not None:
            object.__setattr__(self, "preview", str(self.preview))
        if self.contour_levels is not None:
            levels = tuple(float(v) for v in self.contour_levels)
            object.__setattr__(self, "contour_levels", levels)
            object.__setattr__(self, "contours", True)
