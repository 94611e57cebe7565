"""The ``geodigitize`` Processing provider and its ``GEODIGITIZE_EXECUTABLE`` setting."""

from __future__ import annotations

from pathlib import Path

from qgis.core import QgsProcessingProvider
from qgis.PyQt.QtGui import QIcon

from .algorithms import GcpsAlgorithm, RegridAlgorithm, RunAlgorithm
from .settings import EXECUTABLE_SETTING

ICON = Path(__file__).with_name("icon.svg")


class GeodigitizeProvider(QgsProcessingProvider):
    """Runs geodigitize's commands as external tools, as the GRASS and SAGA providers do."""

    def load(self) -> bool:
        """Register the executable's setting, then the algorithms."""
        from processing.core.ProcessingConfig import ProcessingConfig, Setting

        ProcessingConfig.settingIcons[self.name()] = self.icon()
        ProcessingConfig.addSetting(
            Setting(
                self.name(),
                EXECUTABLE_SETTING,
                self.tr(
                    "geodigitize executable, GEODIGITIZE_EXECUTABLE (empty: 'geodigitize' on PATH)"
                ),
                "",
                valuetype=Setting.FILE,
            )
        )
        ProcessingConfig.readSettings()
        self.refreshAlgorithms()
        return True

    def unload(self) -> None:
        """Remove the setting."""
        from processing.core.ProcessingConfig import ProcessingConfig

        ProcessingConfig.removeSetting(EXECUTABLE_SETTING)

    def loadAlgorithms(self) -> None:
        for algorithm in (RunAlgorithm(), GcpsAlgorithm(), RegridAlgorithm()):
            self.addAlgorithm(algorithm)

    def id(self) -> str:
        return "geodigitize"

    def name(self) -> str:
        return "geodigitize"

    def longName(self) -> str:
        return "geodigitize (map image to georeferenced data)"

    def icon(self) -> QIcon:
        return QIcon(str(ICON))

    def supportedOutputRasterLayerExtensions(self) -> list[str]:
        """geodigitize writes GeoTIFF only."""
        return ["tif"]
