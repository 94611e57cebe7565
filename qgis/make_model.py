"""Write ``geodigitize_run.model3``: a Processing model wrapping ``geodigitize:run``.

The model digitizes an image (``geodigitize:run``) and interpolates its points onto a
grid (``geodigitize:regrid``). Run under QGIS's Python with the plugin loaded, e.g.::

    QT_QPA_PLATFORM=offscreen /usr/bin/python3 qgis/make_model.py

Open the result in Processing > Graphical Modeler, or add it with "Add Model to Toolbox".
"""

from __future__ import annotations

import sys
from pathlib import Path

from qgis.core import (
    QgsApplication,
    QgsProcessingModelAlgorithm,
    QgsProcessingModelChildAlgorithm,
    QgsProcessingModelChildParameterSource,
    QgsProcessingModelOutput,
    QgsProcessingModelParameter,
    QgsProcessingParameterFile,
    QgsProcessingParameterNumber,
    QgsProcessingParameterString,
)
from qgis.PyQt.QtCore import QPointF

HERE = Path(__file__).resolve().parent
MODEL = HERE / "geodigitize_run.model3"


def _input(model, definition, x: float, y: float) -> None:
    component = QgsProcessingModelParameter(definition.name())
    component.setPosition(QPointF(x, y))
    model.addModelParameter(definition, component)


def _output(child, name: str, description: str, child_output: str, x: float, y: float):
    out = QgsProcessingModelOutput(name, description)
    out.setChildId(child.childId())
    out.setChildOutputName(child_output)
    out.setPosition(QPointF(x, y))
    return out


def build() -> QgsProcessingModelAlgorithm:
    """The model: inputs image, GCPs, colour scale and region; run, then regrid."""
    model = QgsProcessingModelAlgorithm("Digitize and regrid a map image", "geodigitize")
    num = QgsProcessingParameterNumber.Double
    inputs = [
        QgsProcessingParameterFile("image", "Map image"),
        QgsProcessingParameterFile("gcps", "GCPs (CSV or .points)", optional=True),
        QgsProcessingParameterString("cmap", "Colormap", optional=True),
        QgsProcessingParameterNumber("vmin", "Value at the colormap's start", num, optional=True),
        QgsProcessingParameterNumber("vmax", "Value at the colormap's end", num, optional=True),
        QgsProcessingParameterString("region", "Map frame x0,y0,x1,y1", optional=True),
        QgsProcessingParameterNumber("res", "Regrid cell size (degrees)", num, 1.0),
    ]
    for i, definition in enumerate(inputs):
        _input(model, definition, 120 + 190 * (i % 4), 60 + 80 * (i // 4))

    source = QgsProcessingModelChildParameterSource
    run = QgsProcessingModelChildAlgorithm("geodigitize:run")
    run.setChildId("run")
    run.setDescription("Digitize a colour-mapped map image")
    run.setPosition(QPointF(300, 260))
    for param, name in (("INPUT", "image"), ("GCPS", "gcps"), ("CMAP", "cmap"),
                        ("VMIN", "vmin"), ("VMAX", "vmax"), ("REGION", "region")):  # fmt: skip
        run.addParameterSources(param, [source.fromModelParameter(name)])
    run.setModelOutputs({"digitized": _output(run, "digitized", "Digitized", "OUTPUT", 520, 320)})
    model.addChildAlgorithm(run)

    regrid = QgsProcessingModelChildAlgorithm("geodigitize:regrid")
    regrid.setChildId("regrid")
    regrid.setDescription("Interpolate points onto a grid")
    regrid.setPosition(QPointF(300, 420))
    regrid.addParameterSources("INPUT", [source.fromChildOutput("run", "POINTS")])
    regrid.addParameterSources("COLUMN", [source.fromStaticValue("value")])
    regrid.addParameterSources("RES", [source.fromModelParameter("res")])
    regrid.addParameterSources("METHOD", [source.fromStaticValue("linear")])
    out = _output(regrid, "regridded", "Regridded", "OUTPUT", 520, 480)
    regrid.setModelOutputs({"regridded": out})
    model.addChildAlgorithm(regrid)
    return model


def main() -> None:
    app = QgsApplication([], False)
    app.initQgis()
    sys.path.append("/usr/share/qgis/python/plugins")
    from processing.core.Processing import Processing

    Processing.initialize()
    sys.path.insert(0, str(HERE))
    from geodigitize.plugin import GeodigitizePlugin

    GeodigitizePlugin().initProcessing()
    model = build()
    if not model.toFile(str(MODEL)):
        sys.exit(f"could not write {MODEL}")
    print(MODEL)


if __name__ == "__main__":
    main()
