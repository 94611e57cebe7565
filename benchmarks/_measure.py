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
    opts = ", ".join(f"{k}={v!r}" for k, v in options.items())
    return f"""
from geodigitize.pipeline import run
res, _ = run({str(png)!r}, {str(out)!r}, gcps={str(gcps)!r}, overwrite=True, cmap="jet_r",
             vmin=0.0, vmax=0.7, region={region!r}, {opts})
extra = {{"points": len(res.points), "timings": res.timings}}
"""
