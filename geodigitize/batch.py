"""Run many images: one result folder each, in parallel, locally or on a Dask cluster.

Each image runs :func:`geodigitize.pipeline.run` with the same :class:`Options` in its own
folder ``out/<stem>/``. A failing image is reported with its one-line error and does not
stop the others; images whose outputs are complete are skipped unless ``overwrite``.
Work goes to local worker processes (:class:`concurrent.futures.ProcessPoolExecutor`),
or to an existing ``dask.distributed`` scheduler given by address, so an archive can be
spread over many machines (each worker must see the same file paths).
"""

from __future__ import annotations

import csv
import glob
import json
import multiprocessing
import os
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path

from ._threads import serial_blas
from .errors import BatchError, GeodigitizeError
from .pipeline import OUTPUT_NAMES, Options

__all__ = [
    "BatchError",
    "BatchItem",
    "ImageResult",
    "is_complete",
    "plan",
    "process",
    "run_batch",
    "write_summary",
]

#: Columns of ``summary.csv``.
SUMMARY_COLUMNS = (
    "image",
    "status",
    "points",
    "clusters",
    "data_pixels",
    "gcp_rmse_px",
    "reconstruction_median_pct",
    "seconds",
    "out",
    "error",
)


@dataclass(frozen=True)
class BatchItem:
    """One image of a batch, its GCP file and its output folder."""

    image: Path
    gcps: Path | None
    out: Path


@dataclass(frozen=True)
class ImageResult:
    """How one image went: ``status`` is ``"done"``, ``"skipped"`` or ``"failed"``."""

    image: str
    status: str
    out: str
    points: int | None = None
    clusters: int | None = None
    data_pixels: int | None = None
    gcp_rmse_px: float | None = None
    reconstruction_median_pct: float | None = None
    seconds: float = 0.0
    error: str = ""


def expand(patterns: str | Iterable[str]) -> list[Path]:
    """Image paths matching glob `patterns` (or naming files), sorted, without repeats."""
    if isinstance(patterns, str | os.PathLike):
        patterns = [patterns]
    found: dict[str, Path] = {}
    for pattern in patterns:
        matches = sorted(glob.glob(str(pattern))) or (
            [str(pattern)] if Path(pattern).exists() else []
        )
        for m in matches:
            if Path(m).is_file():
                found.setdefault(str(Path(m).resolve()), Path(m))
    return list(found.values())


def plan(
    images: str | Iterable[str],
    out: str | Path,
    *,
    gcps: str | Path | None = None,
    gcps_dir: str | Path | None = None,
) -> list[BatchItem]:
    """Pair each image with its GCP file and output folder ``out/<stem>``.

    Parameters
    ----------
    images : glob pattern(s) or paths
    out : path
        Root of the output folders.
    gcps : path, optional
        One GCP file shared by every image.
    gcps_dir : path, optional
        Folder holding ``<stem>.csv`` for each image (a missing one fails that image only).

    Raises
    ------
    BatchError
        If nothing matches, both or neither of `gcps` and `gcps_dir` are given, or two
        images share a stem (their outputs would collide).
    """
    paths = expand(images)
    if not paths:
        raise BatchError(f"no image matches {images!r}: check the pattern (quote it)")
    if (gcps is None) == (gcps_dir is None):
        raise BatchError("give either --gcps FILE (shared) or --gcps-dir DIR (<stem>.csv each)")
    stems: dict[str, Path] = {}
    for p in paths:
        if p.stem in stems:
            raise BatchError(
                f"{str(stems[p.stem])!r} and {str(p)!r} share the name {p.stem!r}: their "
                "result folders would collide; rename one or run them separately"
            )
        stems[p.stem] = p
    return [
        BatchItem(
            p,
            Path(gcps) if gcps is not None else Path(gcps_dir) / f"{p.stem}.csv",
            Path(out) / p.stem,
        )
        for p in paths
    ]


def is_complete(out_dir: str | Path) -> bool:
    """True when every output of a run exists in `out_dir` and the report is readable."""
    out = Path(out_dir)
    if not all((out / name).is_file() for name in OUTPUT_NAMES):
        return False
    try:
        json.loads((out / "report.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return True


def _from_report(item: BatchItem, status: str, seconds: float) -> ImageResult:
    report = json.loads((item.out / "report.json").read_text(encoding="utf-8"))
    counts = report.get("counts", {})
    return ImageResult(
        image=str(item.image),
        status=status,
        out=str(item.out),
        points=counts.get("points"),
        clusters=counts.get("clusters"),
        data_pixels=counts.get("data"),
        gcp_rmse_px=report.get("georeference", {}).get("rmse_px"),
        reconstruction_median_pct=report.get("reconstruction", {}).get("median_abs_error_pct"),
        seconds=round(seconds, 3),
    )


def process(item: BatchItem, options: Options, overwrite: bool = False) -> ImageResult:
    """Run one image; never raises (a failure is returned with its one-line error)."""
    from .pipeline import run

    start = time.perf_counter()
    if not overwrite and is_complete(item.out):
        return _from_report(item, "skipped", 0.0)
    try:
        # BLAS/OpenMP pools on one thread: the batch is parallel across images, and 2
        # workers on 2 cores ran the reconstruction check 9x slower with a pool each
        with serial_blas():
            run(item.image, item.out, gcps=item.gcps, overwrite=overwrite, options=options)
    except GeodigitizeError as exc:
        return ImageResult(
            str(item.image),
            "failed",
            str(item.out),
            seconds=round(time.perf_counter() - start, 3),
            error=str(exc),
        )
    except Exception as exc:  # an image must not stop the batch
        return ImageResult(
            str(item.image),
            "failed",
            str(item.out),
            seconds=round(time.perf_counter() - start, 3),
            error=f"unexpected {type(exc).__name__}: {exc}",
        )
    return _from_report(item, "done", time.perf_counter() - start)


def run_batch(
    items: list[BatchItem],
    options: Options,
    *,
    overwrite: bool = False,
    workers: int | None = None,
    scheduler: str | None = None,
    on_result: Callable[[ImageResult], None] | None = None,
) -> list[ImageResult]:
    """Process `items`, in parallel; results come back in the order of `items`.

    Parameters
    ----------
    items : list of BatchItem
        From :func:`plan`.
    options : Options
        Shared by every image.
    overwrite : bool
        Redo images whose outputs are complete (otherwise they are skipped).
    workers : int, optional
        Local worker processes (default: every core); 1 runs in this process.
    scheduler : str, optional
        Address of a running ``dask.distributed`` scheduler (``tcp://host:8786``); its
        workers do the work instead of local processes.
    on_result : callable, optional
        Called with each :class:`ImageResult` as it arrives (progress).
    """
    todo, results = [], {}
    for k, item in enumerate(items):  # skip finished images here, not on a worker
        if not overwrite and is_complete(item.out):
            results[k] = _from_report(item, "skipped", 0.0)
            if on_result:
                on_result(results[k])
        else:
            todo.append(k)
    if scheduler is not None:
        stream = _on_dask(items, todo, options, overwrite, scheduler)
    elif (workers or os.cpu_count() or 1) == 1 or len(todo) <= 1:
        stream = ((k, process(items[k], options, overwrite)) for k in todo)
    else:
        stream = _on_processes(items, todo, options, overwrite, workers or os.cpu_count())
    for k, result in stream:
        results[k] = result
        if on_result:
            on_result(result)
    return [results[k] for k in range(len(items))]


def _on_processes(items, todo, options, overwrite, workers) -> Iterator:
    # forkserver: workers start from a clean process that imported the pipeline once
    # (fork would copy this process's threads; spawn would import everything per worker)
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["geodigitize.pipeline", "geodigitize.batch"])
    with ProcessPoolExecutor(max_workers=min(workers, len(todo)), mp_context=ctx) as pool:
        futures = {pool.submit(process, items[k], options, overwrite): k for k in todo}
        for fut in as_completed(futures):
            yield futures[fut], _result_of(fut, items[futures[fut]])


#: How long to wait for a Dask scheduler to answer before giving up.
SCHEDULER_TIMEOUT = "10s"


def _on_dask(items, todo, options, overwrite, scheduler) -> Iterator:
    try:
        from distributed import Client
        from distributed import as_completed as dask_completed
    except ImportError:
        raise BatchError(
            "--scheduler needs dask.distributed: pip install 'geodigitize[dask]'"
        ) from None
    try:
        client = Client(scheduler, timeout=SCHEDULER_TIMEOUT, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise BatchError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
    with client:
        futures = {
            client.submit(
                process,
                items[k],
                options,
                overwrite,
                pure=False,
                key=f"geodigitize-{items[k].image.stem}-{k}",
            ): k
            for k in todo
        }
        for fut in dask_completed(list(futures), loop=client.loop):
            yield futures[fut], _result_of(fut, items[futures[fut]])


def _result_of(future, item: BatchItem) -> ImageResult:
    """The future's result, or a failure if the worker itself died."""
    try:
        return future.result()
    except Exception as exc:  # a worker crash (out of memory, killed)
        return ImageResult(
            str(item.image),
            "failed",
            str(item.out),
            error=f"worker failed: {type(exc).__name__}: {exc}",
        )


def write_summary(results: list[ImageResult], path: str | Path) -> Path:
    """Write the per-image summary table as CSV (atomically)."""
    from .io import write_outputs

    path = Path(path)

    def _write(tmp: Path) -> None:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=SUMMARY_COLUMNS)
            writer.writeheader()
            for r in results:
                writer.writerow({k: ("" if v is None else v) for k, v in asdict(r).items()})

    return write_outputs(path.parent, {path.name: _write}, overwrite=True)[path.name]
