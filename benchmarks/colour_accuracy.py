"""Colour-fidelity benchmark (issue 4): decode synthetic figures against their truth.

Three figures of about 1000 x 700 pixels made by :func:`geodigitize.synthetic.render_figure`
(labels, ticks, graticule, colorbar, margins):

* ``gist_earth``: an elevation map, black labels on a white page, decoded from its
  colorbar only;
* ``RdYlBu_r`` 12 classes drawn like ``contourf``, black coastlines, grey land, decoded
  from its colorbar only;
* ``jet_r`` saved as JPEG quality 85 (decoded from its colorbar too).

Each is decoded with the given colorbar box and with ``--colorbar auto``, in RGB and in
CIELAB, and reports: % of true data pixels decoded, median error % of the range (or % of
decoded pixels in the right class), % of line+text pixels decoded, page pixels decoded
with ``--region auto``, and whether ``colorbar`` found the box within 3 pixels.

Run: ``python benchmarks/colour_accuracy.py`` (about a minute); ``--quick`` runs only
the default settings.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from geodigitize.colorbar import find_colorbars
from geodigitize.decode import decode
from geodigitize.mask import Reason
from geodigitize.scale import build_scale
from geodigitize.synthetic import render_figure

FIGURES = {
    "gist_earth elevation": dict(
        cmap="gist_earth",
        vmin=-4.0,
        vmax=4.0,
        field="elevation",
        land=False,
        coastlines=False,
    ),
    "RdYlBu_r 12 classes": dict(
        cmap="RdYlBu_r",
        vmin=0.0,
        vmax=30.0,
        levels=tuple(np.linspace(0, 30, 13)),
        field="sst",
    ),
    "jet_r JPEG q85": dict(cmap="jet_r", vmin=0.0, vmax=0.7, field="sst", jpeg_quality=85),
}

#: What a user gives on the command line for each figure besides the colorbar.
EXCLUDE = {
    "gist_earth elevation": "black,white",
    "RdYlBu_r 12 classes": "black,white",
    "jet_r JPEG q85": "black,white",
}


def decode_figure(fig, *, colorbar, exclude, color_space, region="auto", **overrides):
    """Run the pipeline's colour stages with its defaults; return (scale, decoded, reason,
    options used)."""
    from geodigitize.mask import mask_image
    from geodigitize.options import Options

    opts = Options(
        vmin=fig.vmin,
        vmax=fig.vmax,
        levels=fig.levels,
        colorbar=colorbar,
        exclude_color=exclude,
        color_space=color_space,
        region=region,
        **overrides,
    )
    scale = build_scale(
        vmin=fig.vmin, vmax=fig.vmax, levels=fig.levels, colorbar=colorbar, image=fig.image
    )
    decoded = decode(fig.image, scale, color_space=color_space)
    reason, decoded, fit = mask_image(
        fig.image,
        np.ones(fig.image.shape[:2], bool),
        decoded,
        scale,
        jpeg=bool(fig.jpeg_quality),
        **opts.mask_parameters(),
    )
    return scale, decoded, reason, opts.with_fit(fit)


def measure(fig, scale, decoded, reason) -> dict:
    """The issue's numbers for one decoded figure."""
    ok = reason == Reason.DATA
    data = fig.data
    out = {"data_decoded_pct": 100 * (ok & data).sum() / data.sum()}
    good = ok & data
    if fig.levels is not None:
        edges = np.asarray(fig.levels)
        true_cls = np.clip(np.digitize(fig.truth[good], edges) - 1, 0, len(edges) - 2)
        got_cls = np.clip(np.digitize(decoded.values[good], edges) - 1, 0, len(edges) - 2)
        out["right_class_pct"] = 100 * np.mean(true_cls == got_cls)
    else:
        err = np.abs(decoded.values[good] - fig.truth[good]) / (fig.vmax - fig.vmin)
        out["median_error_pct"] = 100 * float(np.median(err))
        out["p95_error_pct"] = 100 * float(np.percentile(err, 95))
    ink = fig.lines | fig.text
    out["line_text_decoded_pct"] = 100 * (ok & ink).sum() / ink.sum()
    inframe = ink & ~fig.page
    out["line_text_in_frame_decoded_pct"] = 100 * (ok & inframe).sum() / max(inframe.sum(), 1)
    out["land_decoded_pct"] = 100 * (ok & fig.land).sum() / max(fig.land.sum(), 1)
    out["page_decoded_px"] = int((ok & fig.page).sum())
    return out


def box_error(found, truth) -> float:
    return float(np.max(np.abs(np.subtract(found, truth))))


def run(quick: bool = False, seed: int = 1) -> dict:
    results = {}
    spaces = ["rgb", "lab"] if not quick else ["rgb"]
    for name, kw in FIGURES.items():
        t0 = time.perf_counter()
        fig = render_figure(1000, 700, seed=seed, **kw)
        found = find_colorbars(fig.image)
        cb_box = found[0][0] if found else None
        fig_res = {
            "colorbar_truth": list(fig.colorbar),
            "colorbar_found": list(cb_box) if cb_box else None,
            "colorbar_within_3px": bool(cb_box and box_error(cb_box, fig.colorbar) <= 3),
            "frame_truth": list(fig.frame),
        }
        for space in spaces:
            for cb_name, cb in (
                ("box", ",".join(f"{v:g}" for v in fig.colorbar)),
                ("auto", "auto"),
            ):
                scale, decoded, reason, used = decode_figure(
                    fig, colorbar=cb, exclude=EXCLUDE[name], color_space=space
                )
                res = measure(fig, scale, decoded, reason)
                res["frame_found"] = list(used.region)
                res["max_distance"] = used.max_distance
                res["halo_distance"] = used.halo_distance
                fig_res[f"{space}/colorbar {cb_name}"] = res
        fig_res["seconds"] = round(time.perf_counter() - t0, 2)
        results[name] = fig_res
    return results


def table(results: dict) -> str:
    """A Markdown table of the headline numbers."""
    rows = [
        "| figure | run | data decoded % | median err % range / right class % | "
        "line+text decoded % | page decoded px | max/halo distance | colorbar found |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, fr in results.items():
        for key, r in fr.items():
            if not isinstance(r, dict):
                continue
            acc = (
                f"{r['median_error_pct']:.3f}"
                if "median_error_pct" in r
                else f"{r['right_class_pct']:.2f} (class)"
            )
            rows.append(
                f"| {name} | {key} | {r['data_decoded_pct']:.2f} | {acc} | "
                f"{r['line_text_decoded_pct']:.2f} | {r['page_decoded_px']} | "
                f"{r['max_distance']:g}/{r['halo_distance']:g} | "
                f"{'yes' if fr['colorbar_within_3px'] else 'NO'} |"
            )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="also print every number")
    args = parser.parse_args()
    res = run(args.quick, args.seed)
    print(table(res))
    if args.json:
        print(json.dumps(res, indent=1, default=lambda v: round(float(v), 3)))


if __name__ == "__main__":
    main()
