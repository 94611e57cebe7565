"""Figures made the way papers make them, with the truth of every pixel, and geodigitize
measured on them.

The generator draws a seeded smooth field (Gaussians plus sinusoids over lon/lat) with
several renderers and keeps, beside each image, ``<name>.npz`` (:class:`Truth`): value and
kind of every pixel, frame and colorbar boxes, exact GCPs, colour scale, projection and
the tick labels drawn. How each renderer's truth is derived is documented in its module:

* ``mpl``      -- matplotlib Agg PNG (:mod:`benchmarks._mpl_figures`);
* ``mpl-pdf``  -- the same figures saved as PDF and rasterized by poppler's ``pdftoppm``;
* ``gmt``      -- GMT 6 ``grdimage`` + ``pscoast`` + ``psbasemap`` + ``psscale``, through
  Ghostscript (:mod:`benchmarks._gmt_figures`);
* ``resized``  -- Pillow BILINEAR / LANCZOS resizes by 0.7 and 1.5 (:mod:`benchmarks._derived`);
* ``jpeg``     -- JPEG quality 70 / 85 copies.

The harness then runs :func:`geodigitize.extract` on each figure with what works today --
the truth's frame as ``region``, its colour scale and its GCPs -- and prints per figure:
% of true data pixels decoded, median |error| as % of the colour range (contourf: % of
decoded data pixels in the right class), % of line / text / land pixels decoded, pixels
decoded outside the frame (page and colorbar), the georeferencing error in pixels over an
11 x 11 grid of frame positions, and the run time.

Hold-out discipline: figures depend only on ``--seed`` and ``--renderers``; keep some
seeds (and renderers) back when tuning automatic helpers. Seed 0 is the fixed set listed
in :func:`mpl_specs` and :func:`gmt_specs`; other seeds also draw the field, and the
fonts, label formats, colormaps, colorbar placement and GMT frames.

Usage::

    python benchmarks/real_figures.py                  # all renderers, seed 0
    python benchmarks/real_figures.py --quick          # one figure per renderer, small
    python benchmarks/real_figures.py --seed 3 --renderers mpl,gmt --out /tmp/figs
    python benchmarks/real_figures.py --generate-only  # images and truth, no measuring
    python benchmarks/real_figures.py --gcp-noise 0.3  # GCPs read with 0.3 px error
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import _derived, _gmt_figures, _mpl_figures
from benchmarks._gmt_figures import GmtSpec
from benchmarks._mpl_figures import MplSpec
from benchmarks._truth import DATA, KIND_NAMES, LAND, LINE, TEXT, Truth

RENDERERS = ("mpl", "mpl-pdf", "gmt", "resized", "jpeg")
DEFAULT_OUT = Path(__file__).resolve().parent / "_work" / "real"


def mpl_specs(seed: int, quick: bool = False) -> list[MplSpec]:
    """The matplotlib figures of `seed` (the PDF renderer draws the same ones)."""
    specs = [
        MplSpec(
            "imshow_pc",
            plot="imshow",
            cmap="viridis",
            font="DejaVu Sans",
            fontsize=9,
            label_format="hemisphere",
            dpi=100,
            size=(640, 400),
            cell_deg=2.0,
        ),
        MplSpec(
            "pcolormesh_merc",
            plot="pcolormesh",
            projection="mercator",
            cmap="turbo",
            contours="white",
            orientation="horizontal",
            extend="both",
            font="DejaVu Serif",
            fontsize=11,
            label_format="letter",
            dpi=150,
            size=(900, 600),
            cell_deg=2.5,
            extent=(-180.0, 180.0, -75.0, 75.0),
        ),
        MplSpec(
            "contourf_pc",
            plot="contourf",
            cmap="RdYlBu_r",
            nlevels=10,
            label_format="signed",
            font="DejaVu Sans",
            fontsize=7,
            dpi=120,
            size=(720, 450),
            cell_deg=3.0,
            land=True,
        ),
        MplSpec(
            "imshow_decimal",
            plot="imshow",
            cmap="jet",
            extend="max",
            label_format="decimal",
            font="DejaVu Serif",
            fontsize=14,
            dpi=200,
            size=(1000, 640),
            cell_deg=1.0,
            extent=(-150.0, 150.0, -60.0, 60.0),
            title="Field (units)",
            inset_text="(a)",
            grid=False,
        ),
    ]
    if quick:
        specs = specs[:1]
    specs = [replace(s, seed=1000 * seed + i) for i, s in enumerate(specs)]
    return specs if seed == 0 else [_vary_mpl(s, seed) for s in specs]


def _vary_mpl(spec: MplSpec, seed: int) -> MplSpec:
    """Seeds other than 0 also draw the style: font, label format, colormap, colorbar."""
    rng = np.random.default_rng([seed, spec.seed])
    cmaps = ["viridis", "turbo", "jet", "magma", "cividis", "coolwarm", "RdYlBu_r", "Spectral_r"]
    return replace(
        spec,
        font=str(rng.choice(["DejaVu Sans", "DejaVu Serif"])),
        fontsize=float(rng.integers(7, 12)),
        label_format=str(rng.choice(["hemisphere", "signed", "letter", "decimal"])),
        cmap=str(rng.choice(cmaps)),
        orientation=str(rng.choice(["vertical", "horizontal"])),
        extend=spec.extend if spec.plot == "contourf" else str(rng.choice(["neither", "both"])),
    )


def gmt_specs(seed: int, quick: bool = False) -> list[GmtSpec]:
    """The GMT figures of `seed`."""
    specs = [
        GmtSpec("gmt_q_plain", projection="platecarree", cpt="turbo", frame="plain", dpi=100),
        GmtSpec(
            "gmt_m_fancy",
            projection="mercator",
            cpt="viridis",
            frame="fancy",
            orientation="vertical",
            dpi=100,
        ),
        GmtSpec(
            "gmt_m_jet",
            projection="mercator",
            cpt="jet",
            frame="plain",
            dpi=150,
            width_in=5.0,
            land=True,
            extent=(-100.0, 40.0, -40.0, 70.0),
            cell_deg=0.25,
            step=20,
        ),
    ]
    if quick:
        specs = specs[:1]
    specs = [replace(s, seed=1000 * seed + 100 + i) for i, s in enumerate(specs)]
    if seed:
        rng = np.random.default_rng(seed)
        specs = [
            replace(
                s,
                cpt=str(rng.choice(["turbo", "viridis", "jet", "haxby", "polar"])),
                frame=str(rng.choice(["plain", "fancy"])),
                orientation=str(rng.choice(["vertical", "horizontal"])),
            )
            for s in specs
        ]
    return specs


def generate(
    seed: int = 0,
    renderers: Iterable[str] = RENDERERS,
    out: Path = DEFAULT_OUT,
    quick: bool = False,
) -> list[Truth]:
    """Render the figures of `seed` with `renderers` into `out`; return their truths.

    ``resized`` and ``jpeg`` derive from the ``mpl`` and ``gmt`` figures, rendered (but not
    returned) when their renderer is not asked for.
    """
    renderers = set(renderers)
    unknown = renderers - set(RENDERERS)
    if unknown:
        raise ValueError(f"unknown renderers {sorted(unknown)}; choose from {RENDERERS}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    figures: list[Truth] = []
    derive = renderers & {"resized", "jpeg"}
    specs = mpl_specs(seed, quick)
    mpl_figs = []
    if "mpl" in renderers or derive:
        mpl_figs = [_mpl_figures.render(s, out) for s in specs]
        figures += mpl_figs if "mpl" in renderers else []
    if "mpl-pdf" in renderers:
        figures += [
            _mpl_figures.render(replace(s, name=f"pdf_{s.name}"), out, pdf=True)
            for s in specs[: 1 if quick else 3]
        ]
    gmt_figs = []
    if ("gmt" in renderers or (derive and not quick)) and _gmt_figures.available():
        gmt_figs = [_gmt_figures.render(s, out) for s in gmt_specs(seed, quick)]
        figures += gmt_figs if "gmt" in renderers else []
    if "resized" in renderers:
        plan = [(mpl_figs[0], 0.7, "bilinear"), (mpl_figs[0], 1.5, "lanczos")]
        if not quick:
            plan += [(mpl_figs[1], 0.7, "lanczos")]
            plan += (
                [(gmt_figs[0], 0.7, "lanczos"), (gmt_figs[2], 1.5, "bilinear")] if gmt_figs else []
            )
        figures += [_derived.resized(f, out, s, m) for f, s, m in plan]
    if "jpeg" in renderers:
        plan = [(mpl_figs[0], 85)]
        if not quick:
            plan += [(mpl_figs[1], 70)] + ([(gmt_figs[0], 85)] if gmt_figs else [])
        figures += [_derived.jpeg(f, out, q) for f, q in plan]
    for fig in figures:
        fig.save(out)
    return figures


# --- running geodigitize and measuring it ------------------------------------------------
def options_for(fig: Truth, folder: Path) -> dict:
    """The options a user gives today: frame as region, colour scale, GCPs, map CRS."""
    opts: dict = {"region": tuple(float(v) for v in fig.frame), "transform": "affine"}
    if fig.cmap_file:
        opts["cmap_file"] = str(Path(folder) / fig.cmap_file)
    else:
        opts.update(cmap=fig.cmap, vmin=fig.vmin, vmax=fig.vmax)
    if fig.levels.size:
        opts["levels"] = tuple(float(v) for v in fig.levels)
    if fig.crs != "EPSG:4326":
        opts["crs"] = fig.crs
    return opts


def run_geodigitize(fig: Truth, folder: Path, gcp_noise: float = 0.0, seed: int = 0):
    """Run :func:`geodigitize.extract` on `fig`; return (result or error text, seconds).

    `gcp_noise` is a reading error (pixels, 1 sigma, seeded) added to the GCPs' pixel
    positions, as a person clicking graticule crossings would make.
    """
    import geodigitize

    if gcp_noise:
        rng = np.random.default_rng(seed)
        noisy = fig.gcps.copy()
        noisy[:, :2] += rng.normal(0.0, gcp_noise, noisy[:, :2].shape)
        fig = replace(fig, gcps=noisy)
    gcps = fig.write_gcps(Path(folder) / f"{fig.name}.gcps.csv")
    t0 = time.perf_counter()
    try:
        result = geodigitize.extract(
            Path(folder) / fig.image, gcps=gcps, **options_for(fig, folder)
        )
    except geodigitize.GeodigitizeError as err:
        return f"{type(err).__name__}: {err}", time.perf_counter() - t0
    return result, time.perf_counter() - t0


def measure(fig: Truth, result) -> dict:
    """Compare one extraction with the figure's truth.

    Parameters
    ----------
    fig : Truth
    result : geodigitize.Extraction
        ``values`` and ``valid`` of shape ``fig.shape``; ``georef``.

    Returns
    -------
    dict
        ``data_decoded_pct``, ``median_error_pct`` (continuous) or ``right_class_pct``
        (contourf), ``p95_error_pct``, ``line_decoded_pct``, ``text_decoded_pct``,
        ``land_decoded_pct``, ``mixed_decoded_pct``, ``outside_decoded_px`` (page and
        colorbar pixels decoded), ``georef_error_px_median`` and ``_max``.
    """
    decoded = np.asarray(result.valid, bool)
    values = np.asarray(result.values, float)
    kind = fig.kind
    data = kind == DATA
    good = decoded & data
    out: dict = {"data_decoded_pct": _pct(good.sum(), data.sum())}
    span = fig.vmax - fig.vmin
    if fig.levels.size and fig.class_index is not None:
        edges = fig.levels
        got = np.clip(np.digitize(values[good], edges) - 1, 0, len(edges) - 2)
        out["right_class_pct"] = _pct((got == fig.class_index[good]).sum(), good.sum())
    if good.any():
        err = np.abs(values[good] - fig.value[good]) / span * 100
        out["median_error_pct"] = float(np.median(err))
        out["p95_error_pct"] = float(np.percentile(err, 95))
    for name, k in (("line", LINE), ("text", TEXT), ("land", LAND)):
        mask = kind == k
        out[f"{name}_decoded_pct"] = _pct((decoded & mask).sum(), mask.sum())
    mixed = kind == KIND_NAMES.index("mixed")
    out["mixed_decoded_pct"] = _pct((decoded & mixed).sum(), mixed.sum())
    outside = (kind == KIND_NAMES.index("page")) | (kind == KIND_NAMES.index("colorbar"))
    out["outside_decoded_px"] = int((decoded & outside).sum())
    reason = getattr(result, "reason", None)
    if reason is not None:
        missed = np.bincount(np.asarray(reason)[data & ~decoded].ravel(), minlength=8)
        names = _reason_names()
        out["missed_by_reason_pct"] = {
            names.get(k, str(k)): _pct(v, data.sum()) for k, v in enumerate(missed) if v
        }
        # would the masked data pixels have decoded well? (their nearest-colour value)
        raw = getattr(getattr(result, "decoded", None), "values", None)
        if raw is not None:
            out["missed_median_error_pct"] = {
                names.get(k, str(k)): float(
                    np.median(np.abs(raw - fig.value)[data & (np.asarray(reason) == k)])
                    / span
                    * 100
                )
                for k, v in enumerate(missed)
                if v and k
            }
    out.update(georef_error(fig, result.georef))
    return out


def _reason_names() -> dict[int, str]:
    from geodigitize.reason import Reason

    return {int(r): r.name.lower() for r in Reason}


def georef_error(fig: Truth, georef, n: int = 11) -> dict:
    """Pixel distance between frame positions and where the truth puts the lon/lat the
    result's georeference gives them, over an `n` x `n` grid of the frame.

    The lon/lat difference is taken on the sphere's longitude circle (a frame edge at
    180 degrees may come back as -180) and turned into pixels with the truth's local
    derivatives, taken towards the frame's inside.
    """
    x0, y0, x1, y1 = fig.frame
    cc, rr = (a.ravel() for a in np.meshgrid(np.linspace(x0, x1, n), np.linspace(y0, y1, n)))
    lon, lat = georef.pixel_to_crs(cc, rr, "EPSG:4326")
    tlon, tlat = fig.pixel_to_lonlat(cc, rr)
    dlon = (np.asarray(lon) - tlon + 180.0) % 360.0 - 180.0
    dlat = np.asarray(lat) - tlat
    h = 1e-4
    slon = np.where(cc < (x0 + x1) / 2, 1.0, -1.0) * np.sign(fig.px_affine[1]) * h
    slat = np.where(rr < (y0 + y1) / 2, 1.0, -1.0) * np.sign(-fig.px_affine[3]) * -h
    dc_lon, dr_lon = (
        np.subtract(a, b) / slon
        for a, b in zip(fig.lonlat_to_pixel(tlon + slon, tlat), (cc, rr), strict=True)
    )
    dc_lat, dr_lat = (
        np.subtract(a, b) / slat
        for a, b in zip(fig.lonlat_to_pixel(tlon, tlat + slat), (cc, rr), strict=True)
    )
    err = np.hypot(dc_lon * dlon + dc_lat * dlat, dr_lon * dlon + dr_lat * dlat)
    return {
        "georef_error_px_median": float(np.median(err)),
        "georef_error_px_max": float(np.max(err)),
    }


def _pct(num, den) -> float:
    return float(100.0 * num / den) if den else float("nan")


def evaluate(figures: list[Truth], folder: Path, gcp_noise: float = 0.0) -> dict[str, dict]:
    """Run geodigitize on every figure and measure it; errors are kept as text."""
    rows = {}
    for i, fig in enumerate(figures):
        result, seconds = run_geodigitize(fig, folder, gcp_noise, seed=i)
        row = {
            "renderer": fig.renderer,
            "size": f"{fig.shape[1]}x{fig.shape[0]}",
            "data_px": int((fig.kind == DATA).sum()),
        }
        if isinstance(result, str):
            row["error"] = result
        else:
            row.update(measure(fig, result))
        row["seconds"] = seconds
        rows[fig.name] = row
    return rows


def table(rows: dict[str, dict]) -> str:
    """A Markdown table, one row per figure."""
    head = (
        "| figure | renderer | size | data px | data decoded % | median err % range "
        "(right class %) | line / text / land decoded % | mixed decoded % | "
        "outside frame decoded px | georef err px med / max | s | data missed as |"
    )
    lines = [head, "|" + "---|" * 12]
    for name, r in rows.items():
        if "error" in r:
            lines.append(
                f"| {name} | {r['renderer']} | {r['size']} | {r['data_px']} | "
                f"FAILED: {r['error'][:120]} | | | | | | {r['seconds']:.1f} | |"
            )
            continue
        acc = f"{r.get('median_error_pct', float('nan')):.2f}"
        if "right_class_pct" in r:
            acc += f" ({r['right_class_pct']:.1f})"
        lines.append(
            f"| {name} | {r['renderer']} | {r['size']} | {r['data_px']} | "
            f"{r['data_decoded_pct']:.1f} | {acc} | {r['line_decoded_pct']:.1f} / "
            f"{r['text_decoded_pct']:.1f} / {r['land_decoded_pct']:.1f} | "
            f"{r['mixed_decoded_pct']:.1f} | {r['outside_decoded_px']} | "
            f"{r['georef_error_px_median']:.3f} / {r['georef_error_px_max']:.3f} | "
            f"{r['seconds']:.1f} | {_missed(r)} |"
        )
    return "\n".join(lines)


def _missed(row: dict) -> str:
    """The reasons undecoded data pixels were masked, largest first (% of data pixels)."""
    missed = sorted(row.get("missed_by_reason_pct", {}).items(), key=lambda kv: -kv[1])
    return ", ".join(f"{k} {v:.1f}" for k, v in missed if v >= 0.05)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one small set of figures")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--renderers",
        default=",".join(RENDERERS),
        help=f"comma-separated subset of {','.join(RENDERERS)}",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--generate-only", action="store_true")
    parser.add_argument(
        "--gcp-noise",
        type=float,
        default=0.0,
        help="reading error added to the GCPs' pixel positions (pixels, 1 sigma) [0]",
    )
    parser.add_argument("--json", action="store_true", help="also print every number")
    args = parser.parse_args(argv)
    renderers = [r.strip() for r in args.renderers.split(",") if r.strip()]
    unknown = sorted(set(renderers) - set(RENDERERS))
    if unknown:
        parser.error(f"unknown renderers {unknown}; choose from {','.join(RENDERERS)}")
    if "gmt" in renderers and not _gmt_figures.available():
        print("gmt or gs not found: GMT figures skipped", file=sys.stderr)
    t0 = time.perf_counter()
    figures = generate(args.seed, renderers, args.out, args.quick)
    print(
        f"{len(figures)} figures in {args.out} ({time.perf_counter() - t0:.0f} s)", file=sys.stderr
    )
    if args.generate_only:
        return
    rows = evaluate(figures, args.out, args.gcp_noise)
    print(table(rows))
    if args.json:
        print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
