"""Where the provider finds the geodigitize command: a Processing setting, else PATH."""

from __future__ import annotations

from .command import find_executable

#: Name of the Processing setting holding the path of the geodigitize command.
EXECUTABLE_SETTING = "GEODIGITIZE_EXECUTABLE"

#: How to fix a missing command, said wherever it is missing.
NOT_FOUND = (
    "the geodigitize command was not found: install geodigitize in its own Python "
    "environment and set its path (e.g. /path/to/venv/bin/geodigitize) in Processing > "
    f"Options > Providers > geodigitize > {EXECUTABLE_SETTING}, or put it on PATH"
)


def executable_setting() -> str:
    """The setting's value ('' when unset)."""
    from processing.core.ProcessingConfig import ProcessingConfig

    return ProcessingConfig.getSetting(EXECUTABLE_SETTING) or ""


def executable() -> str | None:
    """The geodigitize command the algorithms run: the setting's, else the one on PATH."""
    return find_executable(executable_setting())
