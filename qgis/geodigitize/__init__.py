"""geodigitize for QGIS: a Processing provider that runs the ``geodigitize`` command."""

from __future__ import annotations


def classFactory(iface):
    """The plugin object QGIS loads; `iface` is not needed (Processing only)."""
    from .plugin import GeodigitizePlugin

    return GeodigitizePlugin()
