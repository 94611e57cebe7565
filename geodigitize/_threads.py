"""Threads: ours (work mapped in order over a pool) and the pools of the numerical
libraries underneath (OpenBLAS, OpenMP)."""

from __future__ import annotations

import contextlib
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor

#: Threads that share the work: strips masked at once (each holds one strip's work
#: arrays), or the parts of one strip's JPEG restoration and smoothness check.
WORKERS = min(2, os.cpu_count() or 1)


def in_order(work: Callable, items: Iterable, workers: int) -> Iterator:
    """``map(work, items)``, with up to `workers` items in progress on threads.

    numpy and scipy release the GIL in their loops, so the items are worked on all
    cores while the caller takes the results in order; at most `workers` results wait
    in memory.
    """
    if workers <= 1:
        yield from map(work, items)
        return
    todo = iter(items)
    with ThreadPoolExecutor(workers) as pool:
        pending = deque(
            pool.submit(work, item) for _, item in zip(range(workers), todo, strict=False)
        )
        while pending:
            done = pending.popleft().result()
            nxt = next(todo, None)
            if nxt is not None:
                pending.append(pool.submit(work, nxt))
            yield done


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
