"""What every command shares: error handling, consoles, progress, option parsing.

A command is the guts of a library call minus option parsing: parse, call the library,
format the result. Library errors become one line on stderr and the error's exit code.
"""

from __future__ import annotations

import contextlib
import json
import re
import sys
import time
from collections.abc import Callable, Iterator

import typer
from rich.console import Console
from rich.markup import escape

from ..errors import GeodigitizeError

console = Console()
err_console = Console(stderr=True)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that every cleanup runs (see :func:`on_sigterm`)."""


def on_sigterm(signum, frame) -> None:
    """SIGTERM handler of the command line: raise :class:`Terminated`."""
    raise Terminated()


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``error: message`` on stderr and return the Exit to raise."""
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def message_for_cli(exc: GeodigitizeError) -> str:
    """The error's message with Python parameter names as command-line flags.

    Errors that know their parameter say so themselves (``overwrite=True`` becomes
    ``--overwrite``); other library messages write a parameter in backquotes
    (```max_distance```), which becomes its flag (``--max-distance``).
    """
    for_cli = getattr(exc, "for_cli", None)
    text = for_cli() if callable(for_cli) else str(exc)
    return _PARAMETER.sub(lambda m: "--" + m.group(1).replace("_", "-"), text)


#: A parameter as library messages write it: a Python name in backquotes.
_PARAMETER = re.compile(r"`([a-z][a-z0-9_]*)`")


def interrupted_message(exc: KeyboardInterrupt, written: str = "nothing was written") -> str:
    """What an interrupted command says: true about what it wrote.

    :class:`geodigitize.io.OutputSet` marks the interrupt with the outputs it had already
    committed (``geodigitize_written``); otherwise nothing was written, or `written`
    says what was.
    """
    what = "terminated" if isinstance(exc, Terminated) else "interrupted"
    done = getattr(exc, "geodigitize_written", None)
    if done:
        return f"{what} after the outputs were written: {', '.join(map(str, done))}"
    return f"{what}; {written}"


@contextlib.contextmanager
def cli_errors(
    memory_hint: Callable[[], str] | None = None, written: str = "nothing was written"
) -> Iterator[None]:
    """Turn library errors into one line on stderr and a non-zero exit (no traceback).

    Parameters
    ----------
    memory_hint : callable, optional
        Returns what to say after "out of memory" (the command's likely cause and fix).
    written : str
        What an interrupted command has written when no output set says otherwise.
    """
    try:
        yield
    except GeodigitizeError as exc:
        raise fail(message_for_cli(exc), exc.exit_code) from None
    except KeyboardInterrupt as exc:
        code = 143 if isinstance(exc, Terminated) else 130
        raise fail(interrupted_message(exc, written), code) from None
    except MemoryError:
        hint = ": try smaller inputs"
        if memory_hint is not None:
            with contextlib.suppress(Exception):
                hint = memory_hint()
        raise fail(f"out of memory{hint}", 5) from None


class StageProgress:
    """Show the running stage with a spinner and report slow stages when done.

    Used as the library's ``progress(stage, state)`` callback. Nothing is shown when
    `enabled` is False or stderr is not a terminal.
    """

    def __init__(self, enabled: bool = True, slow: float = 1.0) -> None:
        self.enabled = enabled and err_console.is_terminal
        self.slow = slow
        self._status = None
        self._start = 0.0

    def __call__(self, stage: str, state: str) -> None:
        if not self.enabled:
            return
        if state == "start":
            self._start = time.perf_counter()
            if self._status is None:
                self._status = err_console.status(f"{stage}...")
                self._status.start()
            else:
                self._status.update(f"{stage}...")
        else:
            elapsed = time.perf_counter() - self._start
            if elapsed >= self.slow:
                err_console.log(f"{stage} done in {elapsed:.1f} s")

    def close(self) -> None:
        """Remove the spinner."""
        if self._status is not None:
            self._status.stop()
            self._status = None


class JsonProgress:
    """Report stages as JSON lines on stderr, for programs that run geodigitize (the QGIS
    provider): ``{"progress": "start", "stage": "decode"}``, and ``"end"`` with
    ``"seconds"``. Every line is flushed as it is written."""

    def __init__(self) -> None:
        self._start: dict[str, float] = {}

    def __call__(self, stage: str, state: str) -> None:
        record = {"progress": state, "stage": stage}
        if state == "start":
            self._start[stage] = time.perf_counter()
        else:
            record["seconds"] = round(time.perf_counter() - self._start.pop(stage, 0.0), 3)
        sys.stderr.write(json.dumps(record) + "\n")
        sys.stderr.flush()

    def close(self) -> None:
        """Nothing to remove."""


#: Values of ``--progress``.
PROGRESS_MODES = ("auto", "json")


def check_progress_mode(value: str) -> str:
    """``--progress``'s value, checked.

    Raises
    ------
    typer.BadParameter
    """
    if value not in PROGRESS_MODES:
        raise typer.BadParameter(f"use one of {', '.join(PROGRESS_MODES)}, got {value!r}")
    return value


@contextlib.contextmanager
def progress_display(enabled: bool = True, mode: str = "auto") -> Iterator[StageProgress]:
    """The progress callback of a command, always closed: a spinner on a terminal
    (:class:`StageProgress`), or JSON lines (:class:`JsonProgress`) with ``mode="json"``."""
    prog = JsonProgress() if mode == "json" else StageProgress(enabled)
    try:
        yield prog
    finally:
        prog.close()


def parse_floats(text: str | None, what: str) -> tuple[float, ...] | None:
    """Parse ``"a,b,c"`` into floats, or None.

    Raises
    ------
    typer.BadParameter
    """
    if text is None:
        return None
    try:
        return tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise typer.BadParameter(f"{what} must be numbers separated by commas") from None


def parse_distance(text: str, what: str, *, can_be_off: bool = False) -> float | str | None:
    """Parse a distance option: a number, ``auto``, or, when `can_be_off`, a negative
    number (the check is off: None).

    Raises
    ------
    typer.BadParameter
    """
    if text.strip().lower() == "auto":
        return "auto"
    try:
        value = float(text)
    except ValueError:
        raise typer.BadParameter(f"{what} must be a number or 'auto', got {text!r}") from None
    if value < 0 and not can_be_off:
        raise typer.BadParameter(f"{what} must be >= 0 or 'auto', got {text!r}")
    return None if value < 0 else value
