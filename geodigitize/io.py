"""Write the outputs of a run: GeoPackage points, GeoTIFF grid, JSON report.

Every file of a run is committed as one set by :class:`OutputSet`; see its Notes for the
exact sequence, what a crash at each step leaves, and how the next run recovers. Existing
files are never replaced unless ``overwrite`` is given.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import json
import logging
import os
import secrets
import shutil
import signal
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.enums import Resampling

from .errors import OutputBusyError, OutputError, OutputExistsError
from .overviews import AveragePyramid, reproduces_gdal

__all__ = [
    "FAULT_ENV",
    "FAULT_SIGNAL_ENV",
    "GridWriter",
    "OutputSet",
    "check_outputs",
    "recover",
    "write_grid",
    "write_grid_bands",
    "write_json",
    "write_outputs",
    "write_point_arrays",
    "write_points",
]

logger = logging.getLogger(__name__)

Writer = Callable[[Path], None]

#: Marks of the files a run keeps beside its output folder ``out``:
#: ``.<out>.geodigitize-tmp-<pid>-<token>/`` (the new set being written),
#: ``.<out>.geodigitize-journal`` (a commit in progress) and
#: ``.<out>.geodigitize-lock`` (held for the length of a run).
TMP_MARK = "geodigitize-tmp"
JOURNAL_MARK = "geodigitize-journal"
LOCK_MARK = "geodigitize-lock"

#: Test-only hook: with this variable set to N, the process kills itself (SIGKILL) at the
#: N-th write or commit step (see :func:`fault_point`), so tests can check what a crash
#: at every step leaves. Unset, it costs one dictionary look-up per step.
FAULT_ENV = "GEODIGITIZE_FAULT_AT"
#: Test-only: the signal :data:`FAULT_ENV` sends (``KILL`` by default; ``TERM``, ``INT``).
FAULT_SIGNAL_ENV = "GEODIGITIZE_FAULT_SIGNAL"
_fault_count = 0


def fault_point(step: str) -> None:
    """Count a write/commit step; signal the process at the one :data:`FAULT_ENV` names."""
    global _fault_count
    at = os.environ.get(FAULT_ENV)
    if not at:
        return
    _fault_count += 1
    if _fault_count == int(at):
        logger.debug("fault injected at step %d (%s)", _fault_count, step)
        name = os.environ.get(FAULT_SIGNAL_ENV, "KILL")
        os.kill(os.getpid(), getattr(signal, f"SIG{name}"))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _owner_pid(name: str) -> int | None:
    """The process id recorded in a temporary name ``...-<pid>-<token>[suffix]``."""
    try:
        return int(name.rsplit(TMP_MARK + "-", 1)[1].split("-", 1)[0])
    except (IndexError, ValueError):
        return None


def _remove_tree(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _nearest_existing(path: Path) -> Path:
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return probe


def check_outputs(
    out_dir: str | Path | None,
    names: Sequence[str],
    *,
    overwrite: bool = False,
    outside: Sequence[str | Path] = (),
) -> Path | None:
    """Make sure every output can be written, before any work starts.

    Nothing is created: a missing output folder is checked through its nearest existing
    parent. Files given by their own path (`outside`, e.g. a preview elsewhere) need an
    existing, writable folder.

    Parameters
    ----------
    out_dir : path or None
        The output folder (None: only `outside` files).
    names : sequence of str
        File names the run writes into `out_dir`.
    overwrite : bool
        Existing files may be replaced.
    outside : sequence of paths
        Files written elsewhere.

    Raises
    ------
    OutputError
        If a folder is missing or not writable, a path is a folder, or two outputs are
        the same file.
    OutputExistsError
        If a file exists and not `overwrite`.
    """
    out = None if out_dir is None else Path(out_dir)
    existing: list[str] = []
    if out is not None:
        if out.exists() and not out.is_dir():
            raise OutputError(f"output {str(out)!r} is a file, not a folder: choose a folder")
        probe = _nearest_existing(out)
        if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
            raise OutputError(f"cannot write into {str(out)!r}: choose another --out")
        if out.exists() and not os.access(out, os.W_OK | os.X_OK):
            raise OutputError(f"cannot write into {str(out)!r}: choose another --out")
        existing += [n for n in names if (out / n).exists()]
        for n in names:
            if (out / n).is_dir():
                raise OutputError(f"{str(out / n)!r} is a folder: choose another file name")
    seen: dict[str, str] = {}
    for target in [*(str(out / n) for n in names if out is not None), *map(str, outside)]:
        key = os.path.abspath(target)
        if key in seen:
            raise OutputError(f"two outputs would be written to {target!r}: choose another name")
        seen[key] = target
    for target in map(Path, outside):
        if target.is_dir():
            raise OutputError(f"cannot write {str(target)!r}: it is a folder, give a file name")
        folder = target.parent
        if not folder.is_dir():
            raise OutputError(f"cannot write {str(target)!r}: folder {str(folder)!r} is missing")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise OutputError(
                f"cannot write {str(target)!r}: folder {str(folder)!r} is not writable"
            )
        if target.exists():
            existing.append(str(target))
    if existing and not overwrite:
        where = f" in {str(out)!r}" if out is not None else ""
        one = len(existing) == 1
        raise OutputExistsError(
            f"{', '.join(existing)} already exist{'s' if one else ''}{where}",
            hint=f"{'it' if one else 'them'}, or choose other outputs",
        )
    return out


def make_folder(out: Path) -> None:
    """Create the output folder (and its parents) or raise :class:`OutputError`."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create output folder {str(out)!r}: {exc.strerror}") from None


def _hidden(out: Path, mark: str) -> Path:
    """``.<out name>.<mark>`` beside `out`."""
    return out.parent / f".{out.name}.{mark}"


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back until the block is done, then act on them as before.

    Python-level handlers, not a signal mask: the kernel hands a process's signal to any
    thread not masking it (GDAL's and BLAS's threads too). Main thread only (elsewhere
    Python delivers no signals anyway).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    held = (signal.SIGINT, signal.SIGTERM)
    old = {sig: signal.signal(sig, lambda signum, frame: caught.append(signum)) for sig in held}
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
        for sig in dict.fromkeys(caught):
            handler = old[sig]
            if callable(handler):
                handler(sig, None)
            elif handler == signal.SIG_DFL:
                signal.raise_signal(sig)


class OutputSet:
    """The files of one run, written beside the output folder and committed as one set.

    Use as a context manager around the whole run: entering checks every output path,
    takes the folder's lock and recovers what a killed run left; :meth:`path` gives where
    each writer writes; :meth:`commit` swaps the new set in; leaving without a commit
    removes every temporary file (also on KeyboardInterrupt).

    Parameters
    ----------
    out_dir : path or None
        Output folder (created at commit if missing); None for files given by path only.
    names : sequence of str
        Files written into `out_dir`; ``"sub/name"`` for a file in a subfolder of it (one
        set of outputs per panel of a figure), created as needed.
    outside : sequence of paths
        Files written elsewhere (a ``--preview`` or ``--save-points`` path); a path whose
        folder is `out_dir` joins `names`.
    overwrite : bool
        Replace existing files.

    Notes
    -----
    With ``out`` the output folder, ``P`` its parent, the sequence is:

    1. ``P/.out.geodigitize-lock`` is created and locked (``fcntl.flock``, exclusive, not
       waiting: a second run fails at once); missing parents of ``out`` are created.
    2. A journal left by a killed run is completed (roll forward, step 6 below), then any
       ``P/.out.geodigitize-tmp-*`` folder (no live run can own one: the lock is ours) and
       our temporary files beside outside paths whose process is dead are removed.
    3. The checks of :func:`check_outputs` run again, under the lock.
    4. The new set is written into ``S = P/.out.geodigitize-tmp-<pid>-<token>/``; outside
       files into ``.<name>.geodigitize-tmp-<pid>-<token><suffix>`` beside each target.
       A crash here leaves the old set untouched; step 2 of the next run removes ``S``.
    5. ``P/.out.geodigitize-journal`` is written (temporary name, fsync, rename): it lists
       ``S``, the names and the outside pairs. Its presence means "the new set is
       complete: finish the swap". SIGINT/SIGTERM are held back from here to the end.
    6. If ``out`` did not exist, ``S`` is renamed to ``out`` (one atomic rename);
       otherwise each ``S/name`` replaces ``out/name`` (``os.replace``, atomic per file;
       other files in ``out`` stay). Then each outside file replaces its target. A crash
       in this step leaves the journal: the next run into ``out`` (or :func:`recover`)
       repeats the remaining renames, so the folder ends with the complete new set.
    7. ``S`` (now empty) and the journal are removed; the lock file is removed and
       released.

    Outside temporary files are listed in ``P/.out.geodigitize-tmp-<pid>-<token>.outside``
    from step 4 on, so the next run into ``out`` removes them even without the same
    outside paths.

    A reader listing the folder during step 6 (a few renames) can see files of both sets;
    a crash there is repaired by the next run. Outside files are committed right after the
    folder, in the same step and under the same journal: "at once" means no file of
    the set is replaced before every file of the set is completely written.
    """

    def __init__(
        self,
        out_dir: str | Path | None,
        names: Sequence[str] = (),
        *,
        outside: Sequence[str | Path] = (),
        overwrite: bool = False,
    ) -> None:
        self.out = None if out_dir is None else Path(out_dir)
        # the folder's hidden companions go beside it, also for "." or "out/"
        self._abs = None if out_dir is None else Path(os.path.abspath(out_dir))
        self.names = list(names)
        self.outside: list[Path] = []
        for target in map(Path, outside):
            if self.out is not None and _same_folder(target.parent, self.out):
                self.names.append(target.name)
            else:
                self.outside.append(target)
        self.overwrite = overwrite
        self.committed = False
        #: final path of each output, filled by :meth:`commit`
        self.written: dict[str, Path] = {}
        self._decided = False  # journal written: the next run finishes, never discards
        self.staging: Path | None = None
        self._token = f"{TMP_MARK}-{os.getpid()}-{secrets.token_hex(4)}"
        self._staged: dict[Path, Path] = {}
        self._lock_fd: int | None = None
        self._created: list[Path] = []

    def check(self) -> None:
        """:func:`check_outputs` of every file (also run on entering, under the lock)."""
        check_outputs(self.out, self.names, overwrite=self.overwrite, outside=self.outside)

    def __enter__(self) -> OutputSet:
        self.check()
        if self.out is not None:
            self._make_parents()
            self._lock()
        try:
            if self.out is not None:
                recover(self._abs)
            for target in self.outside:
                _remove_stale(target.parent, f".{target.name}.{TMP_MARK}-")
            self.check()
            if self.out is not None:
                self.staging = self._abs.parent / f".{self._abs.name}.{self._token}"
                self.staging.mkdir()
                fault_point("staging created")
            self._staged = {
                t: t.parent / f".{t.name}.{self._token}{t.suffix}" for t in self.outside
            }
            if self.out is not None and self._staged:  # so that any next run can clean
                self._sidecar().write_text(json.dumps([str(p) for p in self._staged.values()]))
        except BaseException:
            self._release(failed=True)
            raise
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if not self.committed:
            self.discard()
        elif isinstance(exc, KeyboardInterrupt):  # arrived after the commit: say so
            exc.geodigitize_written = list(self.written.values())
        self._release(failed=not self.committed)

    def path(self, name: str | Path) -> Path:
        """Where the writer of `name` (a file name in the folder, or an outside path)
        writes its file."""
        target = Path(name)
        if target in self._staged:
            return self._staged[target]
        if self.out is not None and _same_folder(target.parent, self.out):
            target = Path(target.name)
        if str(target) not in self.names or self.staging is None:
            raise KeyError(f"{name} is not an output of this set")
        return self.staging / str(target)

    def write(self, writers: Mapping[str | Path, Writer]) -> None:
        """Call each writer with its temporary path; OSError becomes :class:`OutputError`
        (a full disk included), leaving every earlier output untouched."""
        for name, write in writers.items():
            tmp = self.path(name)
            fault_point(f"write {name}")
            try:
                tmp.parent.mkdir(exist_ok=True)  # a subfolder of the set
                write(tmp)
            except OSError as exc:
                reason = exc.strerror or str(exc)
                if exc.errno == errno.ENOSPC:
                    reason = "no space left on device"
                kept = "earlier outputs are unchanged" if self.overwrite else "nothing written"
                raise OutputError(f"cannot write {name}: {reason} ({kept})") from exc
            fault_point(f"wrote {name}")

    def commit(self) -> dict[str, Path]:
        """Swap the new set in (see Notes); returns each output's final path."""
        missing = [str(n) for n in [*self.names, *self.outside] if not self.path(n).exists()]
        if missing:
            raise OutputError(f"{', '.join(missing)} was not written: nothing was replaced")
        self.written = {n: self.out / n for n in self.names}
        self.written.update({str(t): t for t in self.outside})
        journal = {
            "pid": os.getpid(),
            "staging": None if self.staging is None else self.staging.name,
            "names": self.names,
            "outside": [[str(self._staged[t]), str(t)] for t in self.outside],
        }
        with _signals_deferred():
            jpath = None
            if self.out is not None:
                jpath = _hidden(self._abs, JOURNAL_MARK)
                _write_journal(jpath, journal, self._token)
                self._decided = True
            fault_point("journal written")
            _apply(self._abs, journal)
            if jpath is not None:
                jpath.unlink()
                fault_point("journal removed")
                self._sidecar().unlink(missing_ok=True)
            self.committed = True
        return self.written

    def discard(self) -> None:
        """Remove every temporary file of this set (not once its commit is decided)."""
        if self._decided:
            return
        if self.staging is not None:
            _remove_tree(self.staging)
        for tmp in self._staged.values():
            _remove_tree(tmp)
            _remove_tree(Path(f"{tmp}.aux.xml"))
        if self.out is not None:
            self._sidecar().unlink(missing_ok=True)

    def _sidecar(self) -> Path:
        """``P/.out.geodigitize-tmp-<pid>-<token>.outside``: the outside temporary files."""
        return self._abs.parent / f".{self._abs.name}.{self._token}.outside"

    def _make_parents(self) -> None:
        parent = self._abs.parent
        missing = []
        while not parent.exists() and parent != parent.parent:
            missing.append(parent)
            parent = parent.parent
        make_folder(self._abs.parent)
        self._created = missing  # deepest first

    def _lock(self) -> None:
        lock = _hidden(self._abs, LOCK_MARK)
        while True:
            try:
                fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise OutputError(f"cannot create the lock {str(lock)!r}: {exc.strerror}") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                owner = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
                os.close(fd)
                raise OutputBusyError(
                    f"another geodigitize run{f' (process {owner})' if owner else ''} is "
                    f"writing into {str(self.out)!r}: wait for it, or choose another --out"
                ) from None
            # the previous holder may have removed the file before we locked it: retry
            try:
                same = os.stat(lock).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._lock_fd = fd

    def _release(self, *, failed: bool) -> None:
        if self._lock_fd is not None:
            with contextlib.suppress(FileNotFoundError):
                _hidden(self._abs, LOCK_MARK).unlink()  # while still holding it
            os.close(self._lock_fd)
            self._lock_fd = None
        if failed:
            for folder in self._created:
                with contextlib.suppress(OSError):
                    folder.rmdir()  # only if empty


def _same_folder(a: Path, b: Path) -> bool:
    return os.path.abspath(a) == os.path.abspath(b)


def _write_journal(path: Path, journal: dict, token: str) -> None:
    tmp = path.parent / f"{path.name}.{token}"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(journal, f)
        f.flush()
        os.fsync(f.fileno())
    fault_point("journal tmp written")
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _apply(out: Path | None, journal: dict) -> None:
    """Step 6 of :class:`OutputSet`: move what is still staged into place. Idempotent."""
    if out is not None and journal.get("staging"):
        staging = out.parent / journal["staging"]
        if not out.exists() and staging.is_dir():
            os.rename(staging, out)
            fault_point("folder renamed")
        elif staging.is_dir():
            for name in journal["names"]:
                if (staging / name).exists():
                    (out / name).parent.mkdir(exist_ok=True)  # a set's subfolder (panels)
                    os.replace(staging / name, out / name)
                    fault_point(f"renamed {name}")
            _remove_tree(staging)
            fault_point("staging removed")
        _fsync_dir(out.parent)
    for staged, target in journal.get("outside", []):
        if Path(staged).exists():
            os.replace(staged, target)
            fault_point(f"renamed {target}")


def recover(out_dir: str | Path) -> bool:
    """Finish a commit a killed run left in `out_dir`, and remove its temporary files.

    Call with the folder's lock held (:class:`OutputSet` does). Returns True when a
    journal was found (the folder then holds the complete set of that run).
    """
    out = Path(os.path.abspath(out_dir))  # "." has a name and a parent too
    jpath = _hidden(out, JOURNAL_MARK)
    found = False
    if jpath.exists():
        try:
            journal = json.loads(jpath.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            journal = None  # written by rename: never partial; unreadable means not ours
        if isinstance(journal, dict):
            logger.warning(
                "completing the interrupted commit of process %s into %s", journal.get("pid"), out
            )
            _apply(out, journal)
            found = True
        jpath.unlink()
    if out.parent.is_dir():
        for entry in out.parent.iterdir():
            if entry.name.startswith(
                (f".{out.name}.{TMP_MARK}-", f".{out.name}.{JOURNAL_MARK}.{TMP_MARK}-")
            ):
                logger.info("removing %s, left by a killed run", entry)
                if entry.name.endswith(".outside"):
                    _remove_listed(entry)
                _remove_tree(entry)
    return found


def _remove_listed(sidecar: Path) -> None:
    """Remove the outside temporary files a killed run listed in `sidecar`."""
    try:
        listed = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    for name in listed if isinstance(listed, list) else []:
        tmp = Path(str(name))
        if TMP_MARK in tmp.name:  # never anything but our own temporary files
            _remove_tree(tmp)
            _remove_tree(Path(f"{tmp}.aux.xml"))


def _remove_stale(folder: Path, prefix: str) -> None:
    """Remove our temporary files starting with `prefix` whose process is dead."""
    if not folder.is_dir():
        return
    for entry in folder.iterdir():
        if entry.name.startswith(prefix):
            pid = _owner_pid(entry.name)
            if pid is not None and pid != os.getpid() and not _pid_alive(pid):
                logger.info("removing %s, left by a killed run", entry)
                _remove_tree(entry)


def write_outputs(
    out_dir: str | Path, writers: Mapping[str, Writer], *, overwrite: bool = False
) -> dict[str, Path]:
    """Write several files into `out_dir` and commit them as one set (:class:`OutputSet`).

    Parameters
    ----------
    out_dir : path
        Output folder (created if missing).
    writers : mapping of file name to callable(path)
        Each callable writes its file at the path it is given; a key with a folder
        (``pics/preview.png``) is a file outside `out_dir`, committed with the set.
    overwrite : bool
        Replace existing files.

    Returns
    -------
    dict of file name (or outside path) to final path
    """
    names = [str(k) for k in writers if Path(k).name == str(k)]
    outside = [Path(k) for k in writers if Path(k).name != str(k)]
    with OutputSet(out_dir, names, outside=outside, overwrite=overwrite) as outputs:
        outputs.write(writers)
        return outputs.commit()


#: GeoPackage version written: 1.2 opens without warnings in GDAL 3.6 and QGIS 3.22 LTS,
#: which report newer (1.4) files as "may only be partially supported".
GPKG_VERSION = "1.2"


def write_points(path: Path, frame, layer: str = "points") -> None:
    """Write a GeoDataFrame of points as a GeoPackage layer (through pyogrio)."""
    frame.to_file(
        path,
        layer=layer,
        driver="GPKG",
        engine="pyogrio",
        dataset_options={"VERSION": GPKG_VERSION},
    )


def import_writers() -> None:
    """Import what :func:`write_point_arrays` writes with (pyogrio, which brings pandas
    and geopandas: about 0.2 s), ahead of time (see
    :func:`geodigitize.pipeline.import_late`)."""
    import pyogrio.raw  # noqa: F401


def write_point_arrays(
    path: Path,
    x: np.ndarray,
    y: np.ndarray,
    fields: dict[str, np.ndarray],
    crs: str,
    layer: str = "points",
) -> None:
    """Write points given as arrays as a GeoPackage layer, the file
    :func:`write_points` writes for the GeoDataFrame of the same points, without
    importing geopandas (pyogrio's raw writer, each point's WKB built in numpy).

    Parameters
    ----------
    path : Path
    x, y : ndarray of shape (N,)
        The points in `crs`.
    fields : dict of str to ndarray of shape (N,)
        The attribute columns in order (their dtypes decide the field types:
        float64 is Real, int64 Integer64).
    crs : str
        Anything pyproj reads; written as ``EPSG:<code>`` when it has one, else as
        GDAL's WKT1 (what geopandas hands pyogrio).
    layer : str
    """
    import pyogrio.raw
    import pyproj

    crs_ = pyproj.CRS.from_user_input(crs)
    epsg = crs_.to_epsg()
    pyogrio.raw.write(
        path,
        geometry=point_wkb(x, y),
        field_data=[np.asarray(v) for v in fields.values()],
        fields=list(fields),
        layer=layer,
        driver="GPKG",
        crs=f"EPSG:{epsg}" if epsg else crs_.to_wkt("WKT1_GDAL"),
        # what geopandas infers: the one geometry type of the rows, Unknown for none
        geometry_type="Point" if len(x) else "Unknown",
        dataset_options={"VERSION": GPKG_VERSION},
    )


def point_wkb(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Well-known binary of 2D points (little-endian: byte order 1, type 1, x, y), as
    shapely writes them; shape (N,), dtype object (bytes)."""
    rows = np.zeros(len(x), dtype=[("order", "u1"), ("kind", "<u4"), ("x", "<f8"), ("y", "<f8")])
    rows["order"], rows["kind"], rows["x"], rows["y"] = 1, 1, x, y
    raw = rows.tobytes()  # 21 bytes a point: the packed record is the WKB
    out = np.empty(len(x), dtype=object)
    out[:] = [raw[k : k + 21] for k in range(0, len(raw), 21)]
    return out


def _gdal_library():
    """The GDAL library rasterio loaded, through ctypes (None where its functions cannot
    be found that way, as on Windows, where a module's exports do not include those of
    the libraries it links)."""
    from rasterio import _io

    try:
        lib = ctypes.CDLL(_io.__file__)
        lib.GDALOpenEx.restype = ctypes.c_void_p
        lib.GDALOpenEx.argtypes = [ctypes.c_char_p, ctypes.c_uint, *[ctypes.c_void_p] * 3]
        lib.GDALBuildOverviews.restype = ctypes.c_int
        lib.GDALBuildOverviews.argtypes = [
            ctypes.c_void_p,
            ctypes.c_char_p,
            ctypes.c_int,
            ctypes.POINTER(ctypes.c_int),
            ctypes.c_int,
            ctypes.c_void_p,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        lib.GDALClose.restype = ctypes.c_int
        lib.GDALClose.argtypes = [ctypes.c_void_p]
        lib.GDALGetOpenDatasets.restype = None
        lib.GDALGetOpenDatasets.argtypes = [
            ctypes.POINTER(ctypes.POINTER(ctypes.c_void_p)),
            ctypes.POINTER(ctypes.c_int),
        ]
        lib.GDALGetDescription.restype = ctypes.c_char_p
        lib.GDALGetDescription.argtypes = [ctypes.c_void_p]
        lib.CPLGetLastErrorMsg.restype = ctypes.c_char_p
        lib.GDALGetRasterBand.restype = ctypes.c_void_p
        lib.GDALGetRasterBand.argtypes = [ctypes.c_void_p, ctypes.c_int]
        lib.GDALGetOverview.restype = ctypes.c_void_p
        lib.GDALGetOverview.argtypes = [ctypes.c_void_p, ctypes.c_int]
        lib.GDALRasterIO.restype = ctypes.c_int
        lib.GDALRasterIO.argtypes = [ctypes.c_void_p, *[ctypes.c_int] * 5, ctypes.c_void_p]
        lib.GDALRasterIO.argtypes += [ctypes.c_int] * 5
        lib.GDALFlushCache.argtypes = [ctypes.c_void_p]
        lib.GDALSetMetadataItem.restype = ctypes.c_int
        lib.GDALSetMetadataItem.argtypes = [ctypes.c_void_p, *[ctypes.c_char_p] * 3]
    except (OSError, AttributeError):  # pragma: no cover - platform-dependent
        return None
    return lib


def _open_handle(lib, name: str):
    """The GDAL handle of the one open dataset described as `name` (None unless exactly
    one is)."""
    handles = ctypes.POINTER(ctypes.c_void_p)()
    count = ctypes.c_int()
    lib.GDALGetOpenDatasets(ctypes.byref(handles), ctypes.byref(count))
    found = [
        handles[k]
        for k in range(count.value)
        if lib.GDALGetDescription(handles[k]) == os.fsencode(name)
    ]
    return found[0] if len(found) == 1 else None


def build_overviews(path: Path, factors: Sequence[int], dataset=None) -> None:
    """Add average overviews (nodata-aware) to the GeoTIFF at `path`, releasing the GIL.

    rasterio's ``build_overviews`` holds Python's GIL for the whole call (about 1 s of a
    100 MP grid): threads running Python meanwhile stop. The same GDAL call through
    ctypes releases it (the same overviews: the same function of the same library).
    Call inside the ``rasterio.Env`` whose options (threads, cache) should apply.

    Parameters
    ----------
    path : Path
        A GeoTIFF, closed unless `dataset` is given.
    factors : sequence of int
        Decimation factors, as ``rasterio``'s ``build_overviews`` takes them.
    dataset : rasterio dataset, optional
        `path` open for writing: its overviews are built before it is closed, from the
        blocks still in GDAL's cache (reopening the file decompresses them all again:
        0.5 s more CPU at 100 MP).

    Raises
    ------
    OutputError
        When GDAL cannot open the file or build the overviews.
    """
    lib = _gdal_library()
    handle = None if lib is None or dataset is None else _open_handle(lib, dataset.name)
    if lib is None or (dataset is not None and handle is None):  # pragma: no cover
        if dataset is not None:
            dataset.build_overviews(list(factors), Resampling.average)
            return
        with rasterio.open(path, "r+") as grid:
            grid.build_overviews(list(factors), Resampling.average)
        return
    own = handle is None
    if own:  # GDAL_OF_RASTER | GDAL_OF_UPDATE | GDAL_OF_VERBOSE_ERROR
        handle = lib.GDALOpenEx(os.fsencode(path), 0x02 | 0x01 | 0x40, None, None, None)
        if not handle:
            msg = lib.CPLGetLastErrorMsg().decode(errors="replace")
            raise OutputError(f"cannot reopen {path} to add overviews: {msg}; check the folder")
    levels = (ctypes.c_int * len(factors))(*factors)
    try:
        err = lib.GDALBuildOverviews(handle, b"AVERAGE", len(factors), levels, 0, None, None, None)
    finally:
        closed = lib.GDALClose(handle) if own else 0
    if err or closed:
        msg = lib.CPLGetLastErrorMsg().decode(errors="replace")
        raise OutputError(f"cannot add overviews to {path}: {msg}; check the disk space")


def _tag_average(lib, path: Path, n: int) -> None:
    """Mark the `n` overviews of the closed GeoTIFF at `path` as averages, as GDAL marks
    those it builds (``RESAMPLING=AVERAGE``; GDAL writes it when it makes the levels,
    and levels made empty to be filled do not get it). Set on the file reopened: set
    while it is being written, GDAL loses the next level's directory."""
    handle = lib.GDALOpenEx(os.fsencode(path), 0x02 | 0x01 | 0x40, None, None, None)
    if not handle:  # pragma: no cover - the file was just written
        msg = lib.CPLGetLastErrorMsg().decode(errors="replace")
        raise OutputError(f"cannot reopen {path} to describe its overviews: {msg}")
    try:
        band = lib.GDALGetRasterBand(handle, 1)
        for k in range(n):
            lib.GDALSetMetadataItem(lib.GDALGetOverview(band, k), b"RESAMPLING", b"AVERAGE", None)
    finally:
        closed = lib.GDALClose(handle)
    if closed:  # pragma: no cover - disk full
        msg = lib.CPLGetLastErrorMsg().decode(errors="replace")
        raise OutputError(f"cannot describe the overviews of {path}: {msg}; check the disk")


def _overview_factors(shape: tuple[int, int], smallest: int = 256) -> list[int]:
    factors, f = [], 2
    while max(shape) / f >= smallest:
        factors.append(f)
        f *= 2
    return factors


def write_grid(
    path: Path, values: np.ndarray, transform: Affine, crs: str, *, description: str = "value"
) -> None:
    """Write a float32 GeoTIFF: NaN nodata, Zstandard with horizontal differencing, tiled.

    Parameters
    ----------
    path : Path
    values : ndarray of shape (H, W)
        NaN where masked.
    transform : Affine
        Geotransform (GDAL pixel-corner convention).
    crs : str
        Anything rasterio understands (``"EPSG:4326"``, WKT, PROJ).
    description : str
        The band's description.
    """
    with GridWriter(path, values.shape, transform, crs, description=description) as grid:
        grid.write_rows(0, values)


def write_grid_bands(
    path: Path,
    shape: tuple[int, int],
    transform: Affine,
    crs: str,
    bands: Iterable[tuple[int, np.ndarray]],
) -> None:
    """:func:`write_grid` from bands of rows, as
    :meth:`geodigitize.georef.Georeference.grid_blocks` gives them (bounded memory).

    Parameters
    ----------
    path : Path
    shape : (H, W)
        The grid's.
    transform : Affine
    crs : str
    bands : iterable of (row0, ndarray of shape (h, W))
        Rows ``row0 .. row0 + h`` of the grid, NaN where masked.
    """
    with GridWriter(path, shape, transform, crs) as grid:
        for row0, rows in bands:
            grid.write_rows(row0, rows)


class GridWriter:
    """Write the grid GeoTIFF of :func:`write_grid` a band of rows at a time.

    Memory stays bounded (GDAL's block cache is capped at `cache_mb` while writing).
    Average overviews are computed as the rows come, top to bottom, on a thread
    (:class:`geodigitize.overviews.AveragePyramid`: GDAL's values bit for bit), and
    stored a row of blocks at a time; rows written in another order, or a grid too thin
    for that, get GDAL's own overviews on :meth:`close`. Use as a context manager; on
    an exception the file is closed without overviews (the caller's temporary file is
    then discarded).

    Parameters
    ----------
    path : Path
    shape : (H, W)
    transform : Affine
    crs : str
    cache_mb : int
        GDAL block cache while this writer is open.
    num_threads : str
        GDAL threads compressing blocks and building overviews (``"ALL_CPUS"`` or a
        number).

    Examples
    --------
    >>> with GridWriter(path, (h, w), gt, "EPSG:4326") as grid:  # doctest: +SKIP
    ...     for row0, rows in strips:
    ...         grid.write_rows(row0, rows)
    """

    BLOCK = 256

    def __init__(
        self,
        path: Path,
        shape: tuple[int, int],
        transform: Affine,
        crs: str,
        *,
        cache_mb: int = 256,
        num_threads: str = "ALL_CPUS",
        description: str = "value",
    ) -> None:
        height, width = shape
        self.path = Path(path)
        self.shape = (int(height), int(width))
        self.description = description
        profile = {
            "driver": "GTiff",
            "height": height,
            "width": width,
            "count": 1,
            "dtype": "float32",
            "crs": crs,
            "transform": transform,
            "nodata": np.nan,
            # Zstandard at its fastest level: measured on the 100 MP benchmark's grid
            # (with overviews) against deflate, 17.4 vs 18.6 MB and 1.9 vs 2.9 s of CPU
            # (lossless either way; GDAL >= 2.3 reads it, so QGIS 3 does).
            "compress": "zstd",
            "zstd_level": 1,
            # A decoded grid holds few distinct values in runs: differencing them as
            # integers (2) leaves runs of zeros. Measured on a 100 MP grid against the
            # float predictor (3): 18.6 vs 22.6 MB, writing and overviews 1.5 vs 3.2 s.
            "predictor": 2,
            "tiled": True,
            "blockxsize": self.BLOCK,
            "blockysize": self.BLOCK,
            "BIGTIFF": "IF_SAFER",
            "NUM_THREADS": num_threads,  # deflate blocks in parallel (same bytes)
        }
        self._env = rasterio.Env(GDAL_CACHEMAX=cache_mb, GDAL_NUM_THREADS=num_threads)
        self._env.__enter__()
        try:
            self._dst = rasterio.open(path, "w", **profile)
        except BaseException:
            self._env.__exit__(None, None, None)
            raise
        self._factors = _overview_factors(self.shape)
        self._next_row = 0  # rows written in order so far
        self._pyramid: AveragePyramid | None = None  # overviews computed as rows come
        self._levels: list = []  # GDAL handles of the overview bands, once made
        self._pending: dict[int, list[np.ndarray]] = {}  # overview rows not yet written
        self._pool: ThreadPoolExecutor | None = None  # computes them, see write_rows
        self._queue: deque = deque()  # its results, in row order

    def write_rows(self, row0: int, values: np.ndarray, *, owned: bool = False) -> None:
        """Write `values` (shape (h, W), NaN where masked) at rows ``row0 .. row0 + h``.

        Rows written top to bottom also feed the overviews: :mod:`geodigitize.overviews`
        computes GDAL's on a thread while the caller prepares the next rows (written in
        another order, GDAL builds them on :meth:`close`). With `owned`, the caller
        leaves `values` unchanged after the call (no copy is kept for that thread).
        """
        from rasterio.windows import Window

        given = values
        values = values.astype(np.float32, copy=False)
        h = values.shape[0]
        self._dst.write(values, 1, window=Window(0, row0, self.shape[1], h))
        if row0 == 0 and self._next_row == 0 and not self._levels:
            self._start_overviews()
        if self._pyramid is not None and row0 != self._next_row:
            self._stop_overviews()  # out of order: GDAL builds them on close
        self._next_row = row0 + h
        if self._pyramid is not None:
            feed = values.copy() if values is given and not owned else values
            self._queue.append(self._pool.submit(self._pyramid.add, feed))
            self._drain(keep=1)  # at most one block of rows waits for that thread

    def _start_overviews(self) -> None:
        """Make the overview levels, empty, to be filled as rows come (only where
        :func:`geodigitize.overviews.reproduces_gdal`, through GDAL's C API)."""
        if not reproduces_gdal(self.shape, self._factors):
            return
        lib = _gdal_library()
        handle = None if lib is None else _open_handle(lib, self._dst.name)
        if handle is None:  # pragma: no cover - platform-dependent
            return
        levels = (ctypes.c_int * len(self._factors))(*self._factors)
        if lib.GDALBuildOverviews(handle, b"NONE", len(levels), levels, 0, None, None, None):
            return  # pragma: no cover - GDAL then builds them on close
        band = lib.GDALGetRasterBand(handle, 1)
        self._lib = lib
        self._levels = [lib.GDALGetOverview(band, k) for k in range(len(self._factors))]
        self._pyramid = AveragePyramid(self.shape, self._factors)
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="overviews")

    def _drain(self, keep: int) -> None:
        """Write the overview rows computed so far, in order, waiting until at most
        `keep` blocks of rows remain in computation (GDAL is called from this thread
        only: a dataset is not to be used from two threads at once)."""
        while self._queue and (len(self._queue) > keep or self._queue[0].done()):
            for level, r0, rows in self._queue.popleft().result():
                self._add_level_rows(level, r0, rows)

    def _stop_overviews(self) -> None:
        """Stop computing overviews (GDAL builds them on close, if asked)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        self._queue.clear()
        self._pyramid = None

    def _add_level_rows(self, level: int, row0: int, rows: np.ndarray) -> None:
        """Keep overview rows until they fill a row of blocks (or end the level), then
        write them: a block written in parts may be compressed, dropped from GDAL's
        cache and read back between the parts (more work, and a larger file)."""
        pending = self._pending.setdefault(level, [])
        pending.append(rows)
        first = row0 + rows.shape[0] - sum(p.shape[0] for p in pending)
        end = row0 + rows.shape[0]
        height = self._pyramid.shapes[level][0]
        if end == height or end // self.BLOCK > first // self.BLOCK:
            whole = end if end == height else end // self.BLOCK * self.BLOCK
            rows = np.concatenate(pending) if len(pending) > 1 else pending[0]
            self._write_level(level, first, rows[: whole - first])
            self._pending[level] = [rows[whole - first :]] if whole < end else []

    def _write_level(self, level: int, row0: int, rows: np.ndarray) -> None:
        rows = np.ascontiguousarray(rows, dtype=np.float32)
        h, w = rows.shape
        # GF_Write (1), a window of the overview from a buffer of GDT_Float32 (6)
        err = self._lib.GDALRasterIO(
            self._levels[level], 1, 0, row0, w, h, rows.ctypes.data, w, h, 6, 0, 0
        )
        if err:
            msg = self._lib.CPLGetLastErrorMsg().decode(errors="replace")
            raise OutputError(f"cannot write overviews of {self.path}: {msg}; check the disk")

    def close(self, *, overviews: bool = True) -> None:
        """Describe the band, finish the overviews (average) and close the file."""
        if self._dst.closed:
            return
        own = bool(self._levels)
        try:
            done = False  # every overview row computed and written
            if overviews and self._pyramid is not None:
                self._drain(keep=0)
                done = self._pyramid.complete
            self._stop_overviews()
            self._dst.set_band_description(1, self.description)
            if overviews and self._factors and not done:  # GIL released: see build_overviews
                build_overviews(self.path, self._factors, self._dst)
            elif not overviews and own:  # remove the levels made for the rows
                handle = _open_handle(self._lib, self._dst.name)
                self._lib.GDALFlushCache(handle)
                self._lib.GDALBuildOverviews(handle, b"NONE", 0, None, 0, None, None, None)
                own = False
        finally:
            self._stop_overviews()
            self._dst.close()
            self._env.__exit__(None, None, None)
        if own:
            _tag_average(self._lib, self.path, len(self._factors))

    def __enter__(self) -> GridWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(overviews=exc_type is None)


def finish_grid(
    src: Path,
    dst: Path,
    window: tuple[int, int, int, int],
    rows: int = 1024,
    *,
    overviews: bool = True,
) -> None:
    """Move a streamed full-image grid to `dst`, cropped to `window`, with overviews.

    Parameters
    ----------
    src : Path
        A grid written by :class:`GridWriter` without overviews, one cell per pixel.
    dst : Path
    window : (col0, row0, col1, row1)
        Pixels to keep (the decoded pixels' bounding box).
    rows : int
        Rows copied at a time (memory stays bounded).
    overviews : bool
        Build overviews when the whole grid is kept (False: `src` has them already).
    """
    from rasterio.windows import Window

    c0, r0, c1, r1 = window
    with rasterio.open(src) as grid:
        full = (c0, r0, c1, r1) == (0, 0, grid.width, grid.height)
        if not full:
            gt = grid.transform @ Affine.translation(c0, r0)
            with GridWriter(dst, (r1 - r0, c1 - c0), gt, grid.crs) as out:
                for top in range(r0, r1, rows):
                    h = min(rows, r1 - top)
                    out.write_rows(top - r0, grid.read(1, window=Window(c0, top, c1 - c0, h)))
    if full:
        os.replace(src, dst)
        factors = _overview_factors((r1 - r0, c1 - c0))
        if factors and overviews:
            with rasterio.Env(GDAL_NUM_THREADS="ALL_CPUS"):
                build_overviews(dst, factors)
    else:
        os.unlink(src)


def write_json(path: Path, data: dict) -> None:
    """Write `data` as indented JSON (NaN written as null)."""
    path.write_text(json.dumps(_clean(data), indent=2) + "\n", encoding="utf-8")


def _clean(obj):
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    if isinstance(obj, Path):
        return str(obj)
    return obj
