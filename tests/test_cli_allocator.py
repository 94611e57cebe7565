"""The command line keeps freed large arrays in the process (glibc's mallopt); the
Python API never touches the allocator, and an environment variable turns it off."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from geodigitize.cli import ALLOCATOR_ENV

ROOT = Path(__file__).resolve().parent.parent
CODE = "from geodigitize.cli import tune_allocator; print(tune_allocator())"


def _tune(env_value: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != ALLOCATOR_ENV}
    if env_value is not None:
        env[ALLOCATOR_ENV] = env_value
    env["PYTHONPATH"] = str(ROOT)
    out = subprocess.run(
        [sys.executable, "-c", CODE], env=env, capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


@pytest.mark.parametrize("value", ["system", "0", "OFF"])
def test_the_environment_turns_it_off(value):
    assert _tune(value) == "False"


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
    reason="mallopt is glibc's",
)
def test_applied_on_glibc():
    assert _tune(None) == "True"


def test_the_api_does_not_tune_the_allocator():
    """The library's entry points never call it (only cli.main does)."""
    for name in ("pipeline.py", "strips.py", "batch.py", "panels.py"):
        assert "tune_allocator" not in (ROOT / "geodigitize" / name).read_text()
    assert "tune_allocator()" in (ROOT / "geodigitize" / "cli" / "__init__.py").read_text()
