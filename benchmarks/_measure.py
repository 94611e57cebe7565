"""Run one measurement in a fresh process: wall time and peak memory (ru_maxrss)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, {root!r})
t0 = time.perf_counter()
{setup}
t = time.perf_counter()
{body}
elapsed = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print("@@" + json.dumps({{"seconds": elapsed, "peak_bytes": peak, "extra": locals().get("extra")}}))
"""


def measure(body: str, setup: str = "", timeout: float = 3600) -> dict:
    """Time `body` (after `setup`, untimed) in a new Python; return seconds, peak_bytes."""
    code = _CHILD.format(root=str(ROOT), setup=setup, body=body)
    # PYTHONPATH (not only sys.path) so batch's worker processes import this checkout too
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=env,
    )
    line = [x for x in out.stdout.splitlines() if x.startswith("@@")]
    if out.returncode or not line:
        raise RuntimeError(f"measurement failed:\n{out.stderr[-3000:]}")
    return json.loads(line[-1][2:])


def read_png_body(png: str) -> str:
    """The floor: just decode the image, strip by strip (rasterio), nothing kept."""
    return f"""
import rasterio, warnings
warnings.simplefilter("ignore")
with rasterio.open({png!r}) as src:
    step = max(1, 4_000_000 // src.width)
    for r0 in range(0, src.height, step):
        src.read(window=((r0, min(src.height, r0 + step)), (0, src.width)))
"""


def run_body(png, gcps, out, region, **options) -> str:
    """``geodigitize run`` on `png` in the measuring process (the command line's entry
    point, :func:`geodigitize.cli.main`, as a user runs it: issue 13's benchmark is stated
    in CLI flags, and the command line decodes a large image while it starts). `options`
    are Python names: ``exclude_color="black"`` is ``--exclude-color black``,
    ``contours=True`` is ``--contours``. The points and timings come back from
    report.json."""
    args = ["run", str(png), "--gcps", str(gcps), "--out", str(out), "--overwrite", "--quiet"]
    args += ["--cmap", "jet_r", "--vmin", "0.0", "--vmax", "0.7", "--region", str(region)]
    for name, value in options.items():
        flag = "--" + name.replace("_", "-")
        if value is True:
            args.append(flag)
        elif value is not None and value is not False:
            args += [flag, str(value)]
    report = str(Path(out) / "report.json")
    return f"""
import json
from geodigitize.cli import main
try:
    main({args!r})
except SystemExit as exc:
    if exc.code:
        raise
with open({report!r}) as f:
    report = json.load(f)
extra = {{"points": report["counts"]["points"], "timings": report["timings_s"]}}
"""
