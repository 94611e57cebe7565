"""The parameters of a run, as the user gives them (see ``geodigitize run --help``).

What a run *fitted* from the image (automatic distances, the frame, JPEG smoothness) is
kept apart from these: :class:`geodigitize.pipeline.Extraction` holds the options used,
with every automatic choice replaced by its value and listed under ``automatic``.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field, replace

from .colormap import NORMS
from .colors import COLOR_SPACES
from .errors import OptionError
from .image import DEFAULT_MAX_PIXELS
from .mask import AUTO, DEFAULT_CONSISTENCY, MaskFit
from .pdf import PAGE_UNITS, PDF_IMAGE_CHOICES
from .refine import parse_target
from .region import parse_box
from .shading import BLENDS
from .transforms import KINDS

__all__ = ["MAX_SAMPLES", "TRANSFORMS", "Options"]

#: Largest `samples` along a colormap: 8-bit colour cannot tell more than 2**24 apart,
#: and a million entries already resolve 0.0001 % of the range.
MAX_SAMPLES = 1_000_000
#: Transform kinds `transform` accepts.
TRANSFORMS = tuple(KINDS)


def _number(
    name: str, value, *, low: float | None = None, strict: bool = False, allow: tuple = (None,)
):
    """`value` as a finite float (or one of `allow` as is), at least `low` (above it if
    `strict`); :class:`OptionError` naming `name` otherwise."""
    if value in allow and not isinstance(value, float):
        return value
    if isinstance(value, str) and value.strip().lower() in allow:
        return value.strip().lower()
    try:
        num = float(value)
    except (TypeError, ValueError):
        num = math.nan
    bound = "" if low is None else f" {'>' if strict else '>='} {low:g}"
    ok = math.isfinite(num) and (low is None or (num > low if strict else num >= low))
    if not ok:
        also = [repr(a) for a in allow if a is not None]
        extra = f" (or {', '.join(also)})" if also else ""
        raise OptionError(f"`{name}` must be a finite number{bound}{extra}, got {value!r}")
    return num


def _numbers(name: str, values, *, increasing: bool = False) -> tuple[float, ...]:
    """`values` (a sequence or ``"a,b,c"``) as finite floats, strictly increasing if asked."""
    given = values
    if isinstance(values, str):
        values = [v for v in values.split(",") if v.strip()]
    try:
        nums = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        nums = (math.nan,)
    if not nums or not all(math.isfinite(v) for v in nums):
        raise OptionError(f"`{name}` must be finite numbers separated by commas, got {given!r}")
    if increasing and (len(nums) < 2 or any(b <= a for a, b in itertools.pairwise(nums))):
        raise OptionError(
            f"`{name}` must be at least two numbers in increasing order, got "
            f"{','.join(f'{v:g}' for v in nums)}"
        )
    return nums


def _choice(name: str, value: str, choices) -> str:
    if not isinstance(value, str) or value.lower() not in choices:
        raise OptionError(f"`{name}` must be one of {', '.join(choices)}, got {value!r}")
    return value.lower()


def _count(name: str, value, low: int, high: int | None = None) -> int:
    """`value` as an int from `low` to `high`; :class:`OptionError` naming `name` otherwise."""
    whole = (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value == int(value)
    )
    if not whole or value < low or (high is not None and value > high):
        top = "" if high is None else f" and at most {high:,}"
        raise OptionError(f"`{name}` must be a whole number >= {low}{top}, got {value!r}")
    return int(value)


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
    shaded: str | None = None
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
    page: int = 1
    dpi: float | None = None
    pdf_image: str | int = "auto"
    pdf_password: str | None = None
    gcp_units: str = "pixels"
    target_error: float | None = None
    contours: bool = False
    contour_levels: tuple[float, ...] | None = None
    preview: str | None = None
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Check every value and normalise it (numbers as floats, levels as tuples).

        Raises
        ------
        OptionError
            Naming the parameter, what it must be and what it was.
        """
        put = object.__setattr__
        for name in ("vmin", "vmax", "vcenter"):
            put(self, name, _number(name, getattr(self, name)))
        put(self, "norm", _choice("norm", self.norm, NORMS))
        put(self, "color_space", _choice("color_space", self.color_space, COLOR_SPACES))
        if self.shaded is not None:
            put(self, "shaded", _choice("shaded", self.shaded, BLENDS))
        put(self, "transform", _choice("transform", self.transform, TRANSFORMS))
        put(self, "samples", _count("samples", self.samples, 2, MAX_SAMPLES))
        put(self, "max_pixels", _count("max_pixels", self.max_pixels, 1))
        put(self, "min_samples", _count("min_samples", self.min_samples, 1))
        put(self, "page", _count("page", self.page, 1))
        put(self, "dpi", _number("dpi", self.dpi, low=0, strict=True))  # None: DEFAULT_DPI
        put(self, "gcp_units", _choice("gcp_units", self.gcp_units, PAGE_UNITS))
        if not isinstance(self.pdf_image, int) or isinstance(self.pdf_image, bool):
            pdf_image = str(self.pdf_image).strip().lower()
            if pdf_image.isdigit():
                pdf_image = int(pdf_image)
            elif pdf_image not in PDF_IMAGE_CHOICES:
                raise OptionError(
                    f"`pdf_image` must be one of {', '.join(PDF_IMAGE_CHOICES)} or an image "
                    f"number, got {self.pdf_image!r}"
                )
            put(self, "pdf_image", pdf_image)
        put(self, "max_distance", _number("max_distance", self.max_distance, low=0, allow=(AUTO,)))
        put(
            self,
            "halo_distance",
            _number("halo_distance", self.halo_distance, low=0, allow=(AUTO, None)),
        )
        put(self, "consistency", _number("consistency", self.consistency, low=0))
        put(self, "exclude_tol", _number("exclude_tol", self.exclude_tol, low=0, strict=True))
        put(self, "smoothness", _number("smoothness", self.smoothness, low=0))  # 0: off
        put(self, "flat_tol", _number("flat_tol", self.flat_tol, low=0))
        put(self, "eps", _number("eps", self.eps, low=0, strict=True))
        if self.region is not None and self.region != "auto":  # text or four numbers
            object.__setattr__(self, "region", parse_box(self.region))
        if self.levels is not None:
            put(self, "levels", _numbers("levels", self.levels, increasing=True))
        if self.target_error is not None:
            object.__setattr__(self, "target_error", parse_target(self.target_error))
        if self.preview is not None:
            object.__setattr__(self, "preview", str(self.preview))
        if self.contour_levels is not None:
            levels = _numbers("contour_levels", self.contour_levels)
            put(self, "contour_levels", levels)
            object.__setattr__(self, "contours", True)

    def with_fit(self, fit: MaskFit) -> Options:
        """These options with every automatic choice replaced by the value `fit` used
        (what ``report.json`` records under ``parameters``; how each was chosen under
        ``extra["automatic"]``)."""
        halo = fit.halo_distance_
        return replace(
            self,
            region=fit.region_,
            max_distance=round(fit.max_distance_, 3),
            halo_distance=None if halo is None else round(halo, 3),
            # 0 turned it off (not None: that would turn it on again for a JPEG)
            smoothness=fit.smoothness_ if fit.smoothness_ is not None else self.smoothness,
            exclude_tol=fit.exclude_tol_,
            extra={**self.extra, **({"automatic": fit.automatic} if fit.automatic else {})},
        )

    def scale_parameters(self) -> dict:
        """What :func:`geodigitize.scale.build_scale` takes from these options."""
        return {
            "cmap": self.cmap,
            "vmin": self.vmin,
            "vmax": self.vmax,
            "norm": self.norm,
            "vcenter": self.vcenter,
            "levels": self.levels,
            "colorbar": self.colorbar,
            "colorbar_flip": self.colorbar_flip,
            "cmap_file": self.cmap_file,
            "samples": self.samples,
        }

    def mask_parameters(self) -> dict:
        """What :func:`geodigitize.mask.mask_image` takes from these options."""
        return {
            "color_space": self.color_space,
            "max_distance": self.max_distance,
            "halo_distance": self.halo_distance,
            "consistency": self.consistency,
            "exclude_color": self.exclude_color,
            "exclude_tol": self.exclude_tol,
            "smoothness": self.smoothness,
            "region": self.region,
        }
