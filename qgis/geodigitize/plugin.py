"""The QGIS plugin: registers the geodigitize Processing provider, nothing else."""

from __future__ import annotations

from qgis.core import QgsApplication

from .provider import GeodigitizeProvider


class GeodigitizePlugin:
    """Adds the provider when Processing starts and removes it when unloaded."""

    def __init__(self) -> None:
        self.provider: GeodigitizeProvider | None = None

    def initProcessing(self) -> None:
        """Register the provider (called by QGIS, also headless, for Processing plugins)."""
        if self.provider is None:
            self.provider = GeodigitizeProvider()
            QgsApplication.processingRegistry().addProvider(self.provider)

    def initGui(self) -> None:
        """Nothing of our own to show: the algorithms live in the Processing toolbox."""
        self.initProcessing()

    def unload(self) -> None:
        """Remove the provider and its settings."""
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
