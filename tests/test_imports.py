"""The package's names are imported on first use: importing one module does not import
the others (start-up is a measured part of a run)."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

import geodigitize

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("name", geodigitize.__all__)
def test_every_public_name_is_its_modules(name):
    value = getattr(geodigitize, name)
    assert not isinstance(value, type(geodigitize))  # a name, never a submodule
    if name not in ("__version__", "decode"):
        home = importlib.import_module(f"geodigitize.{geodigitize._HOME[name]}")
        assert value is getattr(home, name)
    assert name in dir(geodigitize)


def test_submodules_are_attributes_and_unknown_names_are_refused():
    assert geodigitize.mask.AUTO == "auto"
    with pytest.raises(AttributeError, match="no attribute 'no_such_name'"):
        _ = geodigitize.no_such_name


def test_decode_is_the_function_not_its_module():
    importlib.import_module("geodigitize.decode")
    assert geodigitize.decode is importlib.import_module("geodigitize.decode").decode


@pytest.mark.parametrize(
    "statement, absent",
    [
        ("import geodigitize.pipeline", "geodigitize.panels"),
        # the command line starts decoding a large image before the pipeline's imports
        ("from geodigitize.cli import main", "geodigitize.pipeline"),
        ("import geodigitize.sources", "scipy"),
        ("import geodigitize", "geodigitize.decode"),
        # every command is registered before `run` starts: only `batch` shows a bar
        ("from geodigitize.cli import app", "rich.progress"),
        ("from geodigitize.cli import app", "rich.table"),
        # what a run needs only near its end is imported on a thread beside it
        ("from geodigitize.cli import app", "scipy.interpolate"),
        ("from geodigitize.cli import app", "pyogrio"),
    ],
)
def test_what_start_up_does_not_import(statement, absent):
    code = f"import sys; {statement}; print({absent!r} in sys.modules)"
    assert _python(code).strip() == "False"


def _python(code: str, env: dict | None = None) -> str:
    """What a new Python running `code` in the repository prints."""
    argv = [sys.executable, "-c", code]
    out = subprocess.run(argv, capture_output=True, text=True, check=True, cwd=ROOT, env=env)
    return out.stdout


@pytest.mark.parametrize(("env", "expected"), [(None, "False 0"), ("1", "True 1")])
def test_the_command_line_turns_numpys_huge_pages_off_unless_told(env, expected):
    # numpy's switch returns its previous state: False once the command line turned the
    # huge-page requests off; a NUMPY_MADVISE_HUGEPAGE the user set is left to numpy
    code = (
        "import os\n"
        "from geodigitize.cli import main\n"
        "try:\n    main(['--version'])\nexcept SystemExit:\n    pass\n"
        "from numpy._core.multiarray import _set_madvise_hugepage\n"
        "print(_set_madvise_hugepage(True), os.environ['NUMPY_MADVISE_HUGEPAGE'])"
    )
    environ = {k: v for k, v in os.environ.items() if k != "NUMPY_MADVISE_HUGEPAGE"}
    if env is not None:
        environ["NUMPY_MADVISE_HUGEPAGE"] = env
    assert _python(code, environ).strip().splitlines()[-1] == expected


def test_the_version_is_the_installed_one():
    # the package writes its version once (geodigitize/version.py) and pyproject.toml
    # reads it from there: the installed metadata must say the same
    from importlib.metadata import PackageNotFoundError, version

    try:
        installed = version("geodigitize")
    except PackageNotFoundError:  # pragma: no cover - a source tree not installed
        pytest.skip("geodigitize is not installed")
    assert installed == geodigitize.__version__
