"""The README's set-up commands: CI runs the same test command, the quick start works."""

import re
import shlex
from pathlib import Path

from typer.testing import CliRunner

from geodigitize.cli import app

ROOT = Path(__file__).resolve().parent.parent


def _commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    setup = text.split("## Set up", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", setup)


def test_readme_gives_exactly_two_commands():
    assert len(_commands()) == 2


def test_ci_runs_the_readme_test_command():
    test_command = _commands()[1]
    assert test_command in (ROOT / ".ci" / "run").read_text()


def test_quick_start_runs_on_the_shipped_example(tmp_path, monkeypatch):
    """The run part of the first command, in-process from the repository root."""
    command = _commands()[0]
    run = command.split("geodigitize run", 1)[1]
    args = shlex.split(run)
    out = args.index("--out")
    args[out + 1] = str(tmp_path / "result")
    monkeypatch.chdir(ROOT)
    res = CliRunner().invoke(app, ["run", *args])
    assert res.exit_code == 0, res.output
    assert {p.name for p in (tmp_path / "result").iterdir()} == {
        "points.gpkg",
        "grid.tif",
        "report.json",
        "grid.qml",
        "points.qml",
    }
    assert "RMSE 0.000 px" in res.stdout
