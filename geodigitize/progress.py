"""Timing the stages of a run and reporting them to a progress callback."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator

__all__ = ["Progress", "StageTimer"]

#: Called as ``progress(stage, state)`` with state ``"start"`` or ``"end"``.
Progress = Callable[[str, str], None]


class StageTimer:
    """Times stages and reports their start and end to a progress callback."""

    def __init__(self, progress: Progress | None) -> None:
        self.progress = progress
        self.timings: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        if self.progress:
            self.progress(name, "start")
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = time.perf_counter() - start
            if self.progress:
                self.progress(name, "end")
