"""Thread pools of the numerical libraries underneath (OpenBLAS, OpenMP)."""

from __future__ import annotations

import contextlib


def serial_blas():
    """Context in which BLAS/LAPACK (and OpenMP) pools use one thread.

    scipy's triangulation-based interpolators compute a barycentric transform per
    triangle with tiny LAPACK calls. With a multi-threaded OpenBLAS, each call wakes its
    pool, and when other threads or processes keep the cores busy the pool spin-waits:
    measured on 2 busy cores, the transforms of 240,000 triangles took 38-85 s instead
    of 0.23 s. One thread costs nothing for 2 x 2 matrices.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - scikit-learn depends on it
        return contextlib.nullcontext()
    return threadpool_limits(1)
