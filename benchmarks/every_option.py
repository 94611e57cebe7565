"""Issue 13's benchmark: time and peak memory of ``run`` with every whole-image option at
once, vs reading the image, at 16 and 100 MP.

Each size runs, each in a fresh process (peak memory from ``resource.getrusage``):

- ``read``: the image decoded strip by strip (rasterio), nothing kept: the floor;
- ``fixed cost``: ``run`` on a figure of the same kind of 0.05 MP (start-up, imports and
  writing the outputs, with hardly any pixels): what no image size is run without;
- ``default``: ``run`` with the colour scale and the frame given (what ``scale.py`` runs);
- ``all options``: ``--exclude-color black --region auto --contours --target-error 0.5%
  --preview`` (the frame found, the black ink excluded, isolines traced, the
  fewest-points search and the six-panel picture, each reading the per-pixel store).

Targets (issue 13): at 100 MP, ``all options`` <= 2 GB peak and <= 10x the read;
``default`` <= 5x the read. The figure (``_figures.make_figure``) has spines and ticks,
so ``--region auto`` finds its frame; the run is refused otherwise.

``python benchmarks/every_option.py [--sizes 16,100]``
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from _figures import make_figure, region
from _measure import measure, read_png_body, run_body

HERE = Path(__file__).resolve().parent

#: Size of the figure whose run measures a run's fixed cost (megapixels).
TINY_MP = 0.05
#: The options of issue 13's benchmark (as keyword arguments of ``run``).
ALL_OPTIONS = {"exclude_color": "black", "contours": True, "target_error": "0.5%"}


def _row(name: str, got: dict, read: dict) -> None:
    extra = got.get("extra") or {}
    timings = extra.get("timings", {})
    top = sorted(((v, k) for k, v in timings.items()), reverse=True)[:5]
    print(
        f"{name:>12} {got['seconds']:8.2f} {got['seconds'] / read['seconds']:7.2f} "
        f"{got['peak_bytes'] / 2**20:8.0f} {extra.get('points', ''):>8}  "
        + ", ".join(f"{k} {v:.1f}" for v, k in top),
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="16,100")
    args = parser.parse_args()
    for mp in (float(s) for s in args.sizes.split(",")):
        # made in a child: a process's peak memory (ru_maxrss) passes on to the processes
        # it starts, so painting 100 MP here would show in every measurement below
        measure(
            f"sys.path.insert(0, {str(HERE)!r})\nfrom _figures import make_figure\n"
            f"make_figure({mp})"
        )
        png, gcps = make_figure(mp)
        tiny_png, tiny_gcps = make_figure(TINY_MP)
        print(f"\n{mp:.0f} MP: {png.name}")
        print(f"{'run':>12} {'seconds':>8} {'x read':>7} {'peak MB':>8} {'points':>8}  slowest")
        read = measure(read_png_body(str(png)))
        _row("read", read, read)
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp)
            got = measure(run_body(tiny_png, tiny_gcps, out / "tiny", region(tiny_png)))
            _row("fixed cost", got, read)
            got = measure(run_body(png, gcps, out / "default", region(png)))
            _row("default", got, read)
            body = run_body(
                png, gcps, out / "all", "auto", preview=str(out / "preview.png"), **ALL_OPTIONS
            )
            got = measure(body)
            _row("all options", got, read)


if __name__ == "__main__":
    main()
