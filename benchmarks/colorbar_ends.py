"""Where ``--colorbar auto`` puts a bar's ends, against the truth, with and without
extension triangles (matplotlib's ``extend``).

The matplotlib figures of ``real_figures.py`` (imshow and pcolormesh; contourf draws no
triangles), each drawn four times: ``extend`` neither, both, min and max, rendered by
matplotlib's Agg or, with ``--pdf``, through PDF and pdftoppm; ``--jpeg Q`` saves each as
a JPEG of quality Q first. The truth is the colorbar
axes' box, which leaves the triangles out. :func:`geodigitize.colorbar.locate_colorbar`
finds the bar; the script prints each figure's errors at both ends along the bar (found
minus true, pixels) of the bar's ends (``profile.ends``: where its positions 0 and 1 are,
where the value range read from its labels is extrapolated to) and of its box (``box``:
where its colours show, inside a thick outline), then, over all figures, the ends that
carry a triangle apart from those that do not: median, 90th percentile and largest
|error|, and the share over 1 px.

``python benchmarks/colorbar_ends.py --seeds 7,8,9,10,11 [--pdf] [--jpeg 85]``
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import warnings
from dataclasses import replace
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._mpl_figures import draw
from benchmarks.real_figures import mpl_specs
from geodigitize.colorbar import locate_colorbar
from geodigitize.errors import ColorScaleError


def end_errors(spec, pdf: bool, tmp: Path, jpeg: int = 0) -> tuple[dict, np.ndarray] | None:
    """Found minus true position of the bar's two ends (smaller image coordinate first),
    of its ends and of its box, and which of them carries a triangle; None when no bar
    is found."""
    image, truth = draw(spec, tmp, pdf=pdf)
    truth = np.array(truth)
    if jpeg:  # saved as a JPEG of that quality (Pillow's 4:2:0) and read back
        Image.fromarray(np.ascontiguousarray(image)).save(tmp / "figure.jpg", quality=jpeg)
        image = np.asarray(Image.open(tmp / "figure.jpg").convert("RGB"))
    try:
        found = locate_colorbar(image)
    except ColorScaleError:
        return None
    horizontal = spec.orientation == "horizontal"
    along = [0, 2] if horizontal else [1, 3]
    # a horizontal bar's vmin is at the left; a vertical bar's vmax at the top
    low, high = ("min", "max") if horizontal else ("max", "min")
    triangle = np.array([spec.extend in (low, "both"), spec.extend in (high, "both")])
    errors = {
        "ends": (np.array(found.profile.ends) - truth)[along],
        "box": (np.array(found.box) - truth)[along],
    }
    return errors, triangle


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="7,8,9,10,11", help="real_figures.py seeds")
    parser.add_argument("--pdf", action="store_true", help="render through PDF")
    parser.add_argument("--jpeg", type=int, default=0, help="save as a JPEG of this quality")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    ends: dict[tuple[str, bool], list[float]] = {}
    missed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for seed in (int(s) for s in args.seeds.split(",")):
            for base in mpl_specs(seed):
                if base.plot == "contourf":
                    continue
                for extend in ("neither", "both", "min", "max"):
                    spec = replace(base, extend=extend)
                    got = end_errors(spec, args.pdf, Path(tmp), args.jpeg)
                    name = f"{seed} {spec.name} {spec.orientation} extend={extend}"
                    if got is None:
                        missed += 1
                        print(f"{name}: no colorbar found")
                        continue
                    errors, triangle = got
                    for what, err in errors.items():
                        for e, t in zip(err, triangle, strict=True):
                            ends.setdefault((what, bool(t)), []).append(abs(float(e)))
                    print(
                        f"{name}: ends {errors['ends'][0]:+.2f} {errors['ends'][1]:+.2f}, "
                        f"box {errors['box'][0]:+.2f} {errors['box'][1]:+.2f}",
                        flush=True,
                    )
    print()
    for (what, has), errors in sorted(
        ends.items(), key=lambda kv: (kv[0][0] != "ends", not kv[0][1])
    ):
        e = np.array(errors)
        label = f"{what}, {'with' if has else 'no'} triangle"
        if e.size:
            print(
                f"{label:>20}: {e.size} ends, median {np.median(e):.2f} px, "
                f"90 % {np.percentile(e, 90):.2f} px, largest {e.max():.2f} px, "
                f"over 1 px {100 * np.mean(e > 1):.0f} %"
            )
    print(f"{'no bar found':>20}: {missed}")


if __name__ == "__main__":
    main()
