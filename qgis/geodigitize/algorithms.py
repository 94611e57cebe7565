"""The provider's algorithms: ``geodigitize:run``, ``geodigitize:gcps``, ``geodigitize:regrid``.

Each builds the command's argument list from its parameters (a parameter without a value
is left out, so geodigitize infers it), runs it with :func:`command.run_command` in a
staging folder and moves the results into place only when it succeeds.
"""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path
from typing import Any, ClassVar

from qgis.core import (
    QgsProcessing,
    QgsProcessingAlgorithm,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingLayerPostProcessorInterface,
    QgsProcessingOutputFile,
    QgsProcessingOutputNumber,
    QgsProcessingOutputRasterLayer,
    QgsProcessingOutputVectorLayer,
    QgsProcessingParameterCrs,
    QgsProcessingParameterEnum,
    QgsProcessingParameterField,
    QgsProcessingParameterFile,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterString,
    QgsProcessingParameterVectorLayer,
    QgsProcessingUtils,
)
from qgis.PyQt.QtCore import QCoreApplication, QVariant

from . import command
from .report import gcps_html
from .settings import NOT_FOUND, executable

IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.tif *.tiff *.bmp *.gif);;All files (*.*)"
GCP_FILTER = "GCP files (*.csv *.points);;All files (*.*)"
TRANSFORMS = ("affine", "helmert", "projective", "poly2", "poly3", "tps", "auto")
METHODS = ("nearest", "linear", "cubic", "spline", "idw", "kriging")


class StyleLoader(QgsProcessingLayerPostProcessorInterface):
    """Applies a run's ``.qml`` style to its layer once QGIS has loaded it."""

    #: Python must keep the post-processors alive until QGIS has used them.
    alive: ClassVar[dict[str, StyleLoader]] = {}

    def __init__(self, qml: str) -> None:
        super().__init__()
        self.qml = qml

    def postProcessLayer(self, layer, context, feedback) -> None:
        """Load the style file into `layer`."""
        message, ok = layer.loadNamedStyle(self.qml)
        if not ok:
            feedback.reportError(f"could not apply {self.qml}: {message}", False)
        layer.triggerRepaint()

    @classmethod
    def create(cls, layer_source: str, qml: str) -> StyleLoader:
        """A loader for `qml`, kept alive under `layer_source` (one per loaded layer)."""
        cls.alive[layer_source] = cls(qml)
        return cls.alive[layer_source]


def _given(value: Any) -> bool:
    """Whether a parameter's raw value is set (not None, NULL or blank)."""
    if value is None or (isinstance(value, QVariant) and value.isNull()):
        return False
    return not (isinstance(value, str) and not value.strip())


class _Algorithm(QgsProcessingAlgorithm):
    """What the three algorithms share: the executable, running it, errors."""

    EXTRA = "EXTRA"
    _name = ""
    _display = ""
    _help = ""

    def tr(self, text: str) -> str:
        return QCoreApplication.translate("geodigitize", text)

    def createInstance(self):
        return type(self)()

    def name(self) -> str:
        return self._name

    def displayName(self) -> str:
        return self.tr(self._display)

    def shortHelpString(self) -> str:
        return self.tr(self._help)

    def helpUrl(self) -> str:
        return ""

    def canExecute(self):
        if executable() is None:
            return False, NOT_FOUND
        return True, ""

    def _add_extra(self) -> None:
        self.addParameter(
            QgsProcessingParameterString(
                self.EXTRA,
                self.tr("Further command-line options (split like a shell, never run by one)"),
                optional=True,
            )
        )

    def _string(self, parameters, name: str, context) -> str | None:
        if not _given(parameters.get(name)):
            return None
        return self.parameterAsString(parameters, name, context).strip() or None

    def _number(self, parameters, name: str, context) -> float | None:
        if not _given(parameters.get(name)):
            return None
        return self.parameterAsDouble(parameters, name, context)

    def _enum(self, parameters, name: str, context, options) -> str | None:
        if not _given(parameters.get(name)):
            return None
        return options[self.parameterAsEnum(parameters, name, context)]

    def _file(self, parameters, name: str, context) -> str | None:
        if not _given(parameters.get(name)):
            return None
        return self.parameterAsFile(parameters, name, context) or None

    def _gcps(self, parameters, image: str, context, feedback) -> str | None:
        """GCPS, else the Georeferencer's ``IMAGE.points`` beside the image."""
        gcps = self._file(parameters, "GCPS", context)
        if gcps is None and (beside := command.gcps_beside(image)) is not None:
            feedback.pushInfo(f"GCPS is empty: using the Georeferencer's {beside}")
            gcps = str(beside)
        return gcps

    def _extra(self, parameters, context) -> list[str]:
        try:
            return command.split_extra(self._string(parameters, self.EXTRA, context))
        except command.CommandError as exc:
            raise QgsProcessingException(str(exc)) from None

    def _executable(self) -> str:
        found = executable()
        if found is None:
            raise QgsProcessingException(NOT_FOUND)
        return found

    def _run(self, args: list[str], feedback, cwd: Path, shown_as=None) -> command.CommandResult:
        """Run `args`; geodigitize's one-line error becomes the Processing error."""
        feedback.pushCommandInfo(shlex.join(args))
        try:
            result = command.run_command(args, feedback, cwd=cwd, shown_as=shown_as)
            return command.check(result)
        except command.CommandError as exc:
            raise QgsProcessingException(str(exc)) from None


class RunAlgorithm(_Algorithm):
    """``geodigitize run``: an image to points.gpkg, grid.tif and their styles."""

    INPUT, GCPS, CMAP, VMIN, VMAX, REGION, OUTPUT = (
        "INPUT", "GCPS", "CMAP", "VMIN", "VMAX", "REGION", "OUTPUT",
    )  # fmt: skip
    POINTS, GRID, REPORT = "POINTS", "GRID", "REPORT"
    _name = "run"
    _display = "Digitize a colour-mapped map image"
    _help = (
        "Runs <code>geodigitize run</code>: decodes a colour-mapped map image into "
        "georeferenced points (points.gpkg) and a grid (grid.tif), styled with the figure's "
        "own colour scale.<br>Parameters left empty are left to geodigitize's own inference. "
        "When GCPS is empty, the Georeferencer's <code>IMAGE.points</code> file beside the "
        "image is used. EXTRA takes further options of <code>geodigitize run --help</code>, "
        "e.g. <code>--colorbar auto --transform auto --overwrite</code>.<br>Results are "
        "written to OUTPUT only when the run succeeds; a cancelled run leaves no files."
    )

    def initAlgorithm(self, config=None) -> None:
        self.addParameter(
            QgsProcessingParameterFile(self.INPUT, self.tr("Map image"), fileFilter=IMAGE_FILTER)
        )
        self.addParameter(
            QgsProcessingParameterFile(
                self.GCPS,
                self.tr("GCPs (CSV col,row,lon,lat or Georeferencer .points)"),
                optional=True,
                fileFilter=GCP_FILTER,
            )
        )
        self.addParameter(
            QgsProcessingParameterString(
                self.CMAP, self.tr("Colormap (matplotlib name, e.g. jet_r)"), optional=True
            )
        )
        for name, label in (
            (self.VMIN, "Value at the colormap's start"),
            (self.VMAX, "Value at the colormap's end"),
        ):
            self.addParameter(
                QgsProcessingParameterNumber(
                    name, self.tr(label), QgsProcessingParameterNumber.Double, optional=True
                )
            )
        self.addParameter(
            QgsProcessingParameterString(
                self.REGION, self.tr("Map frame x0,y0,x1,y1 in pixels, or auto"), optional=True
            )
        )
        self._add_extra()
        self.addParameter(
            QgsProcessingParameterFolderDestination(self.OUTPUT, self.tr("Output folder"))
        )
        self.addOutput(
            QgsProcessingOutputVectorLayer(
                self.POINTS, self.tr("Points"), QgsProcessing.TypeVectorPoint
            )
        )
        self.addOutput(QgsProcessingOutputRasterLayer(self.GRID, self.tr("Grid")))
        self.addOutput(QgsProcessingOutputFile(self.REPORT, self.tr("Report (JSON)")))

    def processAlgorithm(self, parameters, context, feedback):
        exe = self._executable()
        image = self.parameterAsFile(parameters, self.INPUT, context)
        out = Path(self.parameterAsFileOutput(parameters, self.OUTPUT, context)).absolute()
        extra = self._extra(parameters, context)
        overwrite = command.wants_overwrite(extra)
        try:
            command.refuse_existing(out, command.RUN_OUTPUTS, overwrite)
        except command.CommandError as exc:
            raise QgsProcessingException(str(exc)) from None
        with command.staging_folder(out) as staged:
            args = command.build_run_args(
                exe,
                image,
                staged,
                gcps=self._gcps(parameters, image, context, feedback),
                cmap=self._string(parameters, self.CMAP, context),
                vmin=self._number(parameters, self.VMIN, context),
                vmax=self._number(parameters, self.VMAX, context),
                region=self._string(parameters, self.REGION, context),
                extra=extra,
            )
            self._run(args, feedback, cwd=staged, shown_as=(str(staged), str(out)))
            try:
                command.move_outputs(staged, out, overwrite)
            except command.CommandError as exc:
                raise QgsProcessingException(str(exc)) from None
        points, grid = out / "points.gpkg", out / "grid.tif"
        self._load_on_completion(context, image, points, grid)
        feedback.setProgress(100)
        return {
            self.POINTS: str(points),
            self.GRID: str(grid),
            self.REPORT: str(out / "report.json"),
            self.OUTPUT: str(out),
        }

    def _load_on_completion(self, context, image: str, points: Path, grid: Path) -> None:
        """Ask QGIS to load both layers, styled by the run's .qml, when the run ends.

        Only the dialog, batch mode and ``runAndLoadResults`` load them; ``processing.run``
        does not.
        """
        stem = Path(image).stem
        layers = (
            (f"{points}|layername=points", f"{stem} points", self.POINTS,
             QgsProcessingUtils.LayerHint.Vector, points.with_name("points.qml")),
            (str(grid), f"{stem} grid", self.GRID,
             QgsProcessingUtils.LayerHint.Raster, grid.with_name("grid.qml")),
        )  # fmt: skip
        for source, name, output, hint, qml in layers:
            details = QgsProcessingContext.LayerDetails(name, context.project(), output, hint)
            if qml.is_file():
                details.setPostProcessor(StyleLoader.create(source, str(qml)))
            context.addLayerToLoadOnCompletion(source, details)


class GcpsAlgorithm(_Algorithm):
    """``geodigitize gcps``: the GCP residual report, as HTML."""

    INPUT, GCPS, TRANSFORM, CRS, OUTPUT, RMSE = (
        "INPUT", "GCPS", "TRANSFORM", "CRS", "OUTPUT", "RMSE",
    )  # fmt: skip
    _name = "gcps"
    _display = "GCP residual report"
    _help = (
        "Runs <code>geodigitize gcps</code>: fits the pixel-to-map transform to the GCPs "
        "and reports each GCP's residual and leave-one-out error, RMSE, QGIS's mean error "
        "and the worst point, with a plot of the residuals, as an HTML page. When GCPS is "
        "empty, the Georeferencer's <code>IMAGE.points</code> beside the image is used."
    )

    def initAlgorithm(self, config=None) -> None:
        self.addParameter(
            QgsProcessingParameterFile(self.INPUT, self.tr("Map image"), fileFilter=IMAGE_FILTER)
        )
        self.addParameter(
            QgsProcessingParameterFile(
                self.GCPS, self.tr("GCPs (CSV or Georeferencer .points)"), optional=True,
                fileFilter=GCP_FILTER,
            )
        )  # fmt: skip
        self.addParameter(
            QgsProcessingParameterEnum(
                self.TRANSFORM, self.tr("Transform"), options=list(TRANSFORMS),
                optional=True, usesStaticStrings=True,
            )
        )  # fmt: skip
        self.addParameter(
            QgsProcessingParameterCrs(self.CRS, self.tr("CRS the map is drawn in"), optional=True)
        )
        self._add_extra()
        self.addParameter(
            QgsProcessingParameterFileDestination(
                self.OUTPUT, self.tr("Residual report"), "HTML files (*.html)"
            )
        )
        self.addOutput(QgsProcessingOutputNumber(self.RMSE, self.tr("RMSE (pixels)")))

    def processAlgorithm(self, parameters, context, feedback):
        exe = self._executable()
        image = self.parameterAsFile(parameters, self.INPUT, context)
        out = Path(self.parameterAsFileOutput(parameters, self.OUTPUT, context)).absolute()
        crs = None
        if _given(parameters.get(self.CRS)):
            crs = self.parameterAsCrs(parameters, self.CRS, context)
            crs = crs.authid() or crs.toWkt() if crs.isValid() else None
        with command.staging_folder(out) as staged:
            plot = staged / "residuals.png"
            args = command.build_gcps_args(
                exe,
                image,
                gcps=self._gcps(parameters, image, context, feedback),
                transform=self._string(parameters, self.TRANSFORM, context),
                crs=crs,
                plot=plot,
                extra=self._extra(parameters, context),
            )
            result = self._run(args, feedback, cwd=staged)
            try:
                report = json.loads(result.stdout)
            except ValueError:
                raise QgsProcessingException(
                    "geodigitize gcps printed no JSON report: remove options from EXTRA "
                    "that change its output"
                ) from None
            png = plot.read_bytes() if plot.is_file() else None
            page = staged / "report.html"
            page.write_text(gcps_html(report, Path(image).name, png), encoding="utf-8")
            out.parent.mkdir(parents=True, exist_ok=True)
            os.replace(page, out)
        feedback.setProgress(100)
        rmse = report.get("rmse_px")
        return {self.OUTPUT: str(out), self.RMSE: rmse if rmse is not None else float("nan")}


class RegridAlgorithm(_Algorithm):
    """``geodigitize regrid``: a run's points interpolated onto a regular grid."""

    INPUT, COLUMN, RES, METHOD, OUTPUT = "INPUT", "COLUMN", "RES", "METHOD", "OUTPUT"
    _name = "regrid"
    _display = "Interpolate points onto a grid"
    _help = (
        "Runs <code>geodigitize regrid</code>: interpolates points (points.gpkg of a run, or "
        "any point layer with a numeric value field) onto a regular grid in a metric CRS and "
        "writes a GeoTIFF. RES is in the output CRS's units (degrees for EPSG:4326). Cells "
        "outside the points' hull are nodata."
    )

    def initAlgorithm(self, config=None) -> None:
        self.addParameter(
            QgsProcessingParameterVectorLayer(
                self.INPUT, self.tr("Points"), [QgsProcessing.TypeVectorPoint]
            )
        )
        self.addParameter(
            QgsProcessingParameterField(
                self.COLUMN, self.tr("Value field"), defaultValue="value",
                parentLayerParameterName=self.INPUT,
                type=QgsProcessingParameterField.Numeric, optional=True,
            )
        )  # fmt: skip
        self.addParameter(
            QgsProcessingParameterNumber(
                self.RES, self.tr("Cell size (output CRS units)"),
                QgsProcessingParameterNumber.Double, defaultValue=0.25, minValue=1e-12,
            )
        )  # fmt: skip
        self.addParameter(
            QgsProcessingParameterEnum(
                self.METHOD, self.tr("Interpolation"), options=list(METHODS),
                optional=True, usesStaticStrings=True,
            )
        )  # fmt: skip
        self._add_extra()
        self.addParameter(
            QgsProcessingParameterRasterDestination(self.OUTPUT, self.tr("Interpolated grid"))
        )

    def processAlgorithm(self, parameters, context, feedback):
        exe = self._executable()
        path, layer = self.parameterAsCompatibleSourceLayerPathAndLayerName(
            parameters, self.INPUT, context, ["gpkg"], "gpkg", feedback
        )
        out = Path(self.parameterAsOutputLayer(parameters, self.OUTPUT, context)).absolute()
        with command.staging_folder(out) as staged:
            args = command.build_regrid_args(
                exe,
                path,
                staged / out.name,
                res=self.parameterAsDouble(parameters, self.RES, context),
                layer=layer or None,
                column=self._string(parameters, self.COLUMN, context),
                method=self._string(parameters, self.METHOD, context),
                extra=self._extra(parameters, context),
            )
            self._run(args, feedback, cwd=staged)
            command.move_outputs(staged, out.parent, overwrite=True)
        feedback.setProgress(100)
        return {self.OUTPUT: str(out)}
