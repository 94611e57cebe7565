"""Build the installable plugin zip: ``dist/geodigitize-qgis-<version>.zip``.

Usage::

    python qgis/build_zip.py [--out DIR]

The zip holds the plugin folder ``geodigitize/`` (as QGIS's "Install from ZIP" expects),
without caches; the version comes from ``metadata.txt``.
"""

from __future__ import annotations

import argparse
import configparser
import zipfile
from pathlib import Path

PLUGIN = Path(__file__).resolve().parent / "geodigitize"
DIST = Path(__file__).resolve().parent.parent / "dist"
SKIP = {"__pycache__", ".pytest_cache"}


def version(plugin: Path = PLUGIN) -> str:
    """The plugin's version from its ``metadata.txt``."""
    meta = configparser.ConfigParser(interpolation=None)
    meta.read(plugin / "metadata.txt", encoding="utf-8")
    return meta["general"]["version"]


def plugin_files(plugin: Path = PLUGIN) -> list[Path]:
    """The files that go into the zip, sorted."""
    return sorted(
        p
        for p in plugin.rglob("*")
        if p.is_file() and not SKIP & set(p.relative_to(plugin).parts) and p.suffix != ".pyc"
    )


def build(out: Path = DIST, plugin: Path = PLUGIN) -> Path:
    """Write the zip into `out` and return its path."""
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"geodigitize-qgis-{version(plugin)}.zip"
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in plugin_files(plugin):
            archive.write(path, Path(plugin.name) / path.relative_to(plugin))
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DIST, help="folder for the zip")
    print(build(parser.parse_args().out))


if __name__ == "__main__":
    main()
