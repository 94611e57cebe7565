"""Run the ``geodigitize`` command in its own environment: arguments, progress, errors.

This module imports nothing from QGIS, so it can be tested without it. The command is
always started from a list of arguments, never through a shell; text the user typed
(``EXTRA``, file names, a colormap name) only ever reaches geodigitize as arguments.

Results are written into a staging folder beside the destination and moved into place
only when the command succeeds, so a cancelled or failed run leaves no files.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

__all__ = [
    "RUN_OUTPUTS",
    "CommandError",
    "CommandResult",
    "Feedback",
    "build_gcps_args",
    "build_regrid_args",
    "build_run_args",
    "error_line",
    "find_executable",
    "gcps_beside",
    "move_outputs",
    "run_command",
    "split_extra",
    "staging_folder",
]

#: Files ``geodigitize run`` writes into its output folder.
RUN_OUTPUTS = ("points.gpkg", "grid.tif", "report.json", "grid.qml", "points.qml")

#: Variables of QGIS's own environment that would make another Python or another
#: GDAL/PROJ installation pick up QGIS's libraries or data instead of its own.
FOREIGN_ENVIRONMENT = (
    "PYTHONHOME",
    "PYTHONPATH",
    "PYTHONSTARTUP",
    "GDAL_DATA",
    "GDAL_DRIVER_PATH",
    "PROJ_LIB",
    "PROJ_DATA",
)

#: Rough share of a run's time at the start of each stage geodigitize reports, in %.
STAGE_PROGRESS = {
    "read": 2,
    "georeference": 5,
    "colour scale": 8,
    "decode": 15,
    "strips": 15,
    "mask": 30,
    "reduce": 50,
    "refine": 60,
    "merge": 60,
    "points": 65,
    "contours": 70,
    "reconstruction check": 75,
    "write": 90,
}

_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-_]")
_BOX = "│╭╮╰╯─┃┏┓┗┛━|"


class Feedback(Protocol):
    """What :func:`run_command` needs of a ``QgsProcessingFeedback``."""

    def isCanceled(self) -> bool: ...

    def setProgress(self, progress: float) -> None: ...

    def pushInfo(self, info: str) -> None: ...

    def pushDebugInfo(self, info: str) -> None: ...

    def pushConsoleInfo(self, info: str) -> None: ...


class CommandError(Exception):
    """geodigitize refused or failed; the message is one line, geodigitize's own."""


@dataclass(frozen=True)
class CommandResult:
    """What a finished command printed.

    Attributes
    ----------
    returncode : int
        The command's exit code (negative: killed by that signal).
    stdout : str
        Standard output, ANSI codes removed.
    stderr_lines : list of str
        Standard error split at line ends and carriage returns, ANSI codes removed.
    canceled : bool
        The feedback asked to cancel and the command was stopped.
    """

    returncode: int
    stdout: str
    stderr_lines: list[str] = field(default_factory=list)
    canceled: bool = False


def find_executable(setting: str | None) -> str | None:
    """The geodigitize command to run: `setting` when given, else ``geodigitize`` on PATH.

    Parameters
    ----------
    setting : str or None
        Value of the ``GEODIGITIZE_EXECUTABLE`` Processing setting: a path to the
        executable, or empty.

    Returns
    -------
    str or None
        An absolute path, or None when nothing usable was found.
    """
    text = (setting or "").strip()
    if text:
        path = Path(text).expanduser()
        if path.is_dir():
            path = path / ("geodigitize.exe" if os.name == "nt" else "geodigitize")
        return str(path) if path.is_file() and os.access(path, os.X_OK) else None
    return shutil.which("geodigitize")


def split_extra(extra: str | None) -> list[str]:
    """Split the EXTRA parameter into arguments as a POSIX shell would, without one.

    Raises
    ------
    CommandError
        On unbalanced quotes, or when EXTRA tries to set the output (``--out``, ``-o``),
        which the OUTPUT parameter owns.
    """
    if not extra or not extra.strip():
        return []
    try:
        args = shlex.split(extra)
    except ValueError as exc:
        raise CommandError(f"EXTRA cannot be split into arguments: {exc}") from None
    for arg in args:
        if arg == "--out" or arg.startswith(("--out=", "-o")):
            raise CommandError(f"EXTRA must not contain {arg}: set OUTPUT instead")
    return args


def gcps_beside(image: str | Path) -> Path | None:
    """The QGIS Georeferencer file ``IMAGE.points`` beside `image`, if there is one."""
    candidate = Path(f"{image}.points")
    return candidate if candidate.is_file() else None


def _number(value: float) -> str:
    return repr(float(value))


def build_run_args(
    executable: str,
    image: str,
    out: str | Path,
    *,
    gcps: str | None = None,
    cmap: str | None = None,
    vmin: float | None = None,
    vmax: float | None = None,
    region: str | None = None,
    extra: Sequence[str] = (),
) -> list[str]:
    """The argument list of ``geodigitize run``; options without a value are left out.

    The image comes last, after ``--``, so a file name starting with ``-`` is never
    read as an option. Stages are asked for as JSON lines (``--progress json``).
    """
    args = [executable, "run", "--progress", "json"]
    if gcps:
        args += ["--gcps", gcps]
    if cmap:
        args += ["--cmap", cmap]
    if vmin is not None:
        args += ["--vmin", _number(vmin)]
    if vmax is not None:
        args += ["--vmax", _number(vmax)]
    if region:
        args += ["--region", region]
    return [*args, *extra, "--out", str(out), "--", image]


def build_gcps_args(
    executable: str,
    image: str,
    *,
    gcps: str | None = None,
    transform: str | None = None,
    crs: str | None = None,
    plot: str | Path | None = None,
    extra: Sequence[str] = (),
) -> list[str]:
    """The argument list of ``geodigitize gcps --json`` (the report as JSON on stdout)."""
    args = [executable, "gcps", "--json"]
    if gcps:
        args += ["--gcps", gcps]
    if transform:
        args += ["--transform", transform]
    if crs:
        args += ["--crs", crs]
    if plot:
        args += ["--plot", str(plot)]
    return [*args, *extra, "--", image]


def build_regrid_args(
    executable: str,
    points: str,
    out: str | Path,
    *,
    res: float,
    layer: str | None = None,
    column: str | None = None,
    method: str | None = None,
    extra: Sequence[str] = (),
) -> list[str]:
    """The argument list of ``geodigitize regrid``."""
    args = [executable, "regrid", "--res", _number(res)]
    if layer:
        args += ["--layer", layer]
    if column:
        args += ["--column", column]
    if method:
        args += ["--method", method]
    return [*args, *extra, "--out", str(out), "--", points]


def error_line(stderr_lines: Sequence[str], returncode: int) -> str:
    """geodigitize's one-line error from its standard error.

    geodigitize prints ``error: MESSAGE``; a command-line usage error comes in a box
    (typer) or as ``Error: MESSAGE`` (click); a crash ends with the exception's line.

    Returns
    -------
    str
        MESSAGE on one line, or a sentence naming the exit code when stderr said nothing.
    """
    lines = [line.strip() for line in stderr_lines if line.strip()]
    for line in reversed(lines):
        if line.lower().startswith("error:"):
            return _one_line(line[len("error:") :])
    boxed = [line.strip(_BOX + " ") for line in lines if line[0] in _BOX]
    boxed = [line for line in boxed if line and not line.lower().startswith("error")]
    if boxed:
        return _one_line(" ".join(boxed))
    if lines:
        return _one_line(lines[-1])
    return f"geodigitize stopped with exit code {returncode} and printed no error"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def child_environment(base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment geodigitize runs in: QGIS's, without what points into QGIS.

    Also asks for output without colours, unbuffered and in UTF-8.
    """
    env = dict(os.environ if base is None else base)
    for name in FOREIGN_ENVIRONMENT:
        env.pop(name, None)
    env.update(
        NO_COLOR="1",
        COLUMNS="200",
        PYTHONUNBUFFERED="1",
        PYTHONIOENCODING="utf-8",
    )
    return env


def _reader(stream, name: str, lines: queue.Queue) -> None:
    """Put `stream`'s lines (split at ``\\n`` and ``\\r``) on `lines` as (name, text)."""
    pending = ""
    for chunk in iter(lambda: stream.read1(4096), b""):
        pending += chunk.decode("utf-8", errors="replace")
        *complete, pending = re.split(r"\r\n|\r|\n", pending)
        for line in complete:
            lines.put((name, _ANSI.sub("", line)))
    if pending:
        lines.put((name, _ANSI.sub("", pending)))
    lines.put((name, None))


def _popen(args: Sequence[str], cwd: str | Path | None) -> subprocess.Popen:
    kwargs: dict = {}
    if os.name == "nt":
        kwargs["creationflags"] = subprocess.CREATE_NO_WINDOW | subprocess.CREATE_NEW_PROCESS_GROUP
    else:
        kwargs["start_new_session"] = True
    return subprocess.Popen(
        list(args),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=cwd,
        env=child_environment(),
        shell=False,
        **kwargs,
    )


def stop(process: subprocess.Popen, grace: float = 3.0) -> None:
    """Stop `process` and everything it started: terminate, then kill after `grace` s."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if os.name == "nt":
            process.terminate()
        else:
            os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if os.name == "nt":
                process.kill()
            else:
                os.killpg(process.pid, signal.SIGKILL)
        process.wait()


class _StageReporter:
    """Turns geodigitize's ``--progress json`` lines into feedback: stage names and a
    rough progress."""

    def __init__(self, feedback: Feedback, progress: Callable[[float], None]) -> None:
        self.feedback = feedback
        self.progress = progress
        self.stage: str | None = None
        self.reached = 0.0

    def __call__(self, line: str) -> bool:
        """Report `line` if it starts a new stage; True when it was a progress line."""
        try:
            record = json.loads(line)
        except ValueError:
            return False
        if not isinstance(record, dict) or "progress" not in record:
            return False
        stage = str(record.get("stage", ""))
        if record["progress"] == "start" and stage != self.stage:
            self.stage = stage
            self.feedback.pushInfo(f"geodigitize: {stage}…")
            self.reached = max(self.reached, STAGE_PROGRESS.get(stage, self.reached))
            self.progress(self.reached)
        return True


def run_command(
    args: Sequence[str],
    feedback: Feedback,
    *,
    cwd: str | Path | None = None,
    poll: float = 0.1,
    shown_as: tuple[str, str] | None = None,
) -> CommandResult:
    """Run `args` (no shell), report its stages to `feedback`, stop it when cancelled.

    Parameters
    ----------
    args : sequence of str
        The executable and its arguments.
    feedback : Feedback
        A ``QgsProcessingFeedback``: stages go to ``pushInfo`` and ``setProgress``,
        standard output to ``pushConsoleInfo``, other standard error to ``pushDebugInfo``.
    cwd : path, optional
        Working folder of the command.
    poll : float
        Seconds between looks at ``feedback.isCanceled()``.
    shown_as : (str, str), optional
        Replace the first text by the second in the output shown to the user (the staging
        folder by the folder its files are moved to).

    Returns
    -------
    CommandResult
    """
    lines: queue.Queue = queue.Queue()
    process = _popen(args, cwd)
    readers = [
        threading.Thread(target=_reader, args=(process.stdout, "out", lines), daemon=True),
        threading.Thread(target=_reader, args=(process.stderr, "err", lines), daemon=True),
    ]
    for reader in readers:
        reader.start()
    stdout: list[str] = []
    stderr: list[str] = []
    stages = _StageReporter(feedback, feedback.setProgress)
    open_streams, canceled = 2, False
    try:
        while open_streams:
            if feedback.isCanceled():
                canceled = True
                stop(process)
            try:
                name, line = lines.get(timeout=poll)
            except queue.Empty:
                continue
            if line is None:
                open_streams -= 1
            elif name == "out":
                stdout.append(line)
                if line.strip():
                    feedback.pushConsoleInfo(line.replace(*shown_as) if shown_as else line)
            elif not stages(line) and line.strip():
                stderr.append(line)
                feedback.pushDebugInfo(line)
        process.wait()
    finally:
        stop(process)
        for reader in readers:
            reader.join(1.0)
        for stream in (process.stdout, process.stderr):
            stream.close()
    canceled = canceled or feedback.isCanceled()
    return CommandResult(process.returncode, "\n".join(stdout), stderr, canceled)


def check(result: CommandResult) -> CommandResult:
    """`result` when the command succeeded.

    Raises
    ------
    CommandError
        With geodigitize's one-line error, or a sentence when it was cancelled.
    """
    if result.canceled:
        raise CommandError("canceled: geodigitize was stopped and nothing was written")
    if result.returncode != 0:
        raise CommandError(error_line(result.stderr_lines, result.returncode))
    return result


@contextlib.contextmanager
def staging_folder(destination: str | Path) -> Iterator[Path]:
    """A new empty folder beside `destination`, removed with its contents on exit.

    Being on the same file system as `destination`, its files move there atomically.
    """
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f".{destination.name}.", dir=destination.parent))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def existing_outputs(folder: str | Path, names: Sequence[str] = RUN_OUTPUTS) -> list[str]:
    """Which of `names` already exist in `folder`."""
    return [name for name in names if (Path(folder) / name).exists()]


def refuse_existing(folder: str | Path, names: Sequence[str], overwrite: bool) -> None:
    """Refuse, as geodigitize does, to replace files without ``--overwrite``.

    Raises
    ------
    CommandError
    """
    found = existing_outputs(folder, names)
    if found and not overwrite:
        raise CommandError(
            f"{', '.join(found)} already exist in '{folder}': pass --overwrite in EXTRA to "
            "replace them, or choose another OUTPUT"
        )


def move_outputs(staged: str | Path, destination: str | Path, overwrite: bool) -> list[Path]:
    """Move every file of `staged` into `destination` (created if missing).

    Returns
    -------
    list of Path
        The moved files at their new place.

    Raises
    ------
    CommandError
        When a file exists in `destination` and `overwrite` is False; nothing is moved.
    """
    staged, destination = Path(staged), Path(destination)
    names = sorted(p.name for p in staged.iterdir())
    refuse_existing(destination, names, overwrite)
    destination.mkdir(parents=True, exist_ok=True)
    moved = []
    for name in names:
        target = destination / name
        if target.is_dir():
            shutil.rmtree(target)
        os.replace(staged / name, target)
        moved.append(target)
    return moved


def wants_overwrite(extra: Sequence[str]) -> bool:
    """Whether the user asked for ``--overwrite`` in EXTRA."""
    return "--overwrite" in extra
