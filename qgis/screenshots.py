"""Take the screenshots of docs/qgis.md in the real QGIS desktop (run it under Xvfb).

Installs the plugin zip with QGIS's own "Install from ZIP" code, sets
GEODIGITIZE_EXECUTABLE and shows it in Processing's options, shows the Processing
toolbox, fills and runs the ``geodigitize:run`` dialog (clicking its Run button) and grabs
the map with the result::

    python qgis/build_zip.py
    GEODIGITIZE_SHOTS=/tmp/shots.json xvfb-run -s "-screen 0 1600x1000x24" \\
        qgis --profiles-path /tmp/qgis-profile --nologo --noversioncheck \\
        --code qgis/screenshots.py

``/tmp/shots.json`` gives ``zip``, ``executable``, ``image``, ``gcps``, ``output`` and
``images`` (the folder for the PNGs); a ``status.json`` there records what happened.
"""

from __future__ import annotations

import json
import os
import traceback
from pathlib import Path

from qgis.core import QgsApplication, QgsProject, QgsRasterLayer
from qgis.PyQt.QtCore import QTimer
from qgis.PyQt.QtWidgets import QDockWidget
from qgis.utils import iface

CONFIG = json.loads(Path(os.environ["GEODIGITIZE_SHOTS"]).read_text())
IMAGES = Path(CONFIG["images"])
STATUS: dict = {}
STATE: dict = {}


def record(**items) -> None:
    STATUS.update(items)
    (IMAGES / "status.json").write_text(json.dumps(STATUS, indent=1, default=str))


def later(seconds: float, step) -> None:
    def guarded():
        try:
            step()
        except Exception:
            record(error=traceback.format_exc())
            os._exit(1)

    QTimer.singleShot(int(seconds * 1000), guarded)


def install() -> None:
    import pyplugin_installer

    pyplugin_installer.instance().installFromZipFile(CONFIG["zip"])
    from processing.core.ProcessingConfig import ProcessingConfig

    ProcessingConfig.setSettingValue("GEODIGITIZE_EXECUTABLE", CONFIG["executable"])
    provider = QgsApplication.processingRegistry().providerById("geodigitize")
    record(
        qgis=QgsApplication.instance().applicationVersion(),
        active=__import__("qgis.utils", fromlist=["active_plugins"]).active_plugins,
        algorithms=[a.id() for a in provider.algorithms()] if provider else None,
    )
    iface.mainWindow().resize(1500, 920)
    toolbox = iface.mainWindow().findChild(QDockWidget, "ProcessingToolbox")
    toolbox.show()
    toolbox.raise_()
    toolbox.searchBox.setText("geodigitize")
    STATE["toolbox"] = toolbox
    later(2, shoot_toolbox)


def shoot_toolbox() -> None:
    STATE["toolbox"].grab().save(str(IMAGES / "qgis-toolbox.png"))
    later(1, shoot_options)  # runs inside the options dialog's own event loop
    iface.showOptionsDialog(iface.mainWindow(), currentPage="processingOptions")
    later(1, open_dialog)


def shoot_options() -> None:
    from processing.gui.ConfigDialog import ConfigDialog
    from qgis.PyQt.QtCore import Qt
    from qgis.PyQt.QtWidgets import QApplication, QDialog

    options = next(
        w for w in QApplication.topLevelWidgets() if isinstance(w, QDialog) and w.isVisible()
    )
    config = options.findChild(ConfigDialog)
    for item in config.model.findItems("geodigitize", Qt.MatchRecursive):
        index = config.model.indexFromItem(item)
        config.tree.expand(index.parent())
        config.tree.expand(index)
        config.tree.scrollTo(index)
    options.resize(1000, 480)
    STATE["options"] = options
    later(1, close_options)


def close_options() -> None:
    options = STATE["options"]
    options.grab().save(str(IMAGES / "qgis-options.png"))
    options.reject()


def open_dialog() -> None:
    import processing

    params = {
        "INPUT": CONFIG["image"],
        "GCPS": CONFIG["gcps"],
        "CMAP": "jet_r",
        "VMIN": 0,
        "VMAX": 0.7,
        "REGION": "69,224,875,582",
        "OUTPUT": CONFIG["output"],
    }
    dialog = processing.createAlgorithmDialog("geodigitize:run", params)
    dialog.resize(1000, 720)
    dialog.show()
    STATE["dialog"] = dialog
    later(2, shoot_dialog)


def shoot_dialog() -> None:
    dialog = STATE["dialog"]
    dialog.grab().save(str(IMAGES / "qgis-dialog.png"))
    dialog.runButton().click()
    STATE["waited"] = 0
    later(1, wait_for_layers)


def wait_for_layers() -> None:
    layers = QgsProject.instance().mapLayers().values()
    STATE["waited"] += 1
    if len(layers) < 2 and STATE["waited"] < 120:
        later(1, wait_for_layers)
        return
    record(
        loaded={
            layer.name(): {"valid": layer.isValid(), "crs": layer.crs().authid()}
            for layer in layers
        },
        renderers={layer.name(): layer.renderer().type() for layer in layers},
    )
    later(1, shoot_log)


def shoot_log() -> None:
    dialog = STATE["dialog"]
    dialog.grab().save(str(IMAGES / "qgis-dialog-log.png"))
    dialog.close()
    canvas = iface.mapCanvas()
    grid = next(
        layer
        for layer in QgsProject.instance().mapLayers().values()
        if isinstance(layer, QgsRasterLayer)
    )
    canvas.setDestinationCrs(grid.crs())
    canvas.setExtent(grid.extent().buffered(grid.extent().width() * 0.03))
    canvas.refresh()
    later(4, shoot_map)


def shoot_map() -> None:
    iface.mainWindow().grab().save(str(IMAGES / "qgis-result.png"))
    record(done=True)
    os._exit(0)


later(5, install)
