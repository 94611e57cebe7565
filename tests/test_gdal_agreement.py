"""Polynomials of order 1-3 and the thin plate spline agree with GDAL's GCP transformer.

``gdaltransform -gcp pixel line X Y ... -order N`` (or ``-tps``) is GDAL's own polynomial
(gdal_crs.c) and thin plate spline (gdal_tps.cpp) transformer; its pixel/line follow
GDAL's convention, which is geodigitize's. Agreement is required to 1e-6 pixel, forward
(pixel to map, converted to pixels by the map units per pixel) and inverse.
"""

import shutil
import subprocess

import numpy as np
import pytest

from geodigitize.transforms import AffineTransform, PolynomialTransform, TPSTransform

pytestmark = pytest.mark.skipif(
    shutil.which("gdaltransform") is None,
    reason="GDAL's gdaltransform is not installed (apt-get install gdal-bin)",
)

WIDTH, HEIGHT, PIXEL = 900, 600, 0.1  # image size, map units per pixel


def _gdaltransform(gcps: np.ndarray, method: list[str], pts: np.ndarray, inverse=False):
    args = ["gdaltransform", "-output_xy", *method]
    for g in gcps:
        args += ["-gcp", *(repr(float(v)) for v in g)]
    if inverse:
        args.append("-i")
    text = "\n".join(f"{float(a)!r} {float(b)!r}" for a, b in pts)
    out = subprocess.run(args, input=text, capture_output=True, text=True, check=True)
    return np.array(
        [[float(v) for v in line.split()[:2]] for line in out.stdout.strip().splitlines()]
    )


def _random_gcps(n: int, seed: int) -> np.ndarray:
    """A warped lon/lat graticule read with 0.2-pixel error: no polynomial fits exactly."""
    rng = np.random.default_rng(seed)
    col, row = rng.uniform(0, WIDTH, n), rng.uniform(0, HEIGHT, n)
    lon = -40 + PIXEL * col + 2e-5 * col * row + 1e-9 * col**3
    lat = 70 - PIXEL * row + 3e-5 * col**2 - 2e-8 * row**3
    lon = lon + rng.normal(0, 0.2 * PIXEL, n)
    lat = lat + rng.normal(0, 0.2 * PIXEL, n)
    return np.column_stack([col, row, lon, lat])


CASES = [
    (PolynomialTransform(1), ["-order", "1"], 3),
    (PolynomialTransform(1), ["-order", "1"], 15),
    (AffineTransform(), ["-order", "1"], 15),
    (PolynomialTransform(2), ["-order", "2"], 6),
    (PolynomialTransform(2), ["-order", "2"], 25),
    (PolynomialTransform(3), ["-order", "3"], 10),
    (PolynomialTransform(3), ["-order", "3"], 40),
    (TPSTransform(), ["-tps"], 3),
    (TPSTransform(), ["-tps"], 30),
]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(
    ("transform", "method", "n"), CASES, ids=[f"{t.kind}-{m[-1]}-{n}" for t, m, n in CASES]
)
def test_agrees_with_gdaltransform(transform, method, n, seed):
    gcps = _random_gcps(n, seed)
    transform.fit(*gcps.T)
    rng = np.random.default_rng(100 + seed)
    pixels = np.column_stack([rng.uniform(0, WIDTH, 40), rng.uniform(0, HEIGHT, 40)])
    expected = _gdaltransform(gcps, method, pixels)
    got = np.column_stack(transform.forward(pixels[:, 0], pixels[:, 1]))
    assert np.max(np.hypot(*(got - expected).T)) / PIXEL < 1e-6
    if isinstance(transform, AffineTransform):
        return  # its inverse is exact, GDAL's order-1 inverse is a separate fit
    maps = np.column_stack(transform.forward(pixels[:, 0], pixels[:, 1]))
    expected = _gdaltransform(gcps, method, maps, inverse=True)
    got = np.column_stack(transform.inverse(maps[:, 0], maps[:, 1]))
    assert np.max(np.hypot(*(got - expected).T)) < 1e-6
