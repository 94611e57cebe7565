"""Drive the geodigitize QGIS provider in headless PyQGIS; print what happened as JSON.

Run by tests/test_qgis.py under Debian's /usr/bin/python3 (PyQGIS lives there, not in
the project's venv)::

    QT_QPA_PLATFORM=offscreen /usr/bin/python3 qgis_check.py SCENARIO CONFIG.json

CONFIG holds ``plugins`` (a folder holding the plugin folder ``geodigitize``),
``profile`` (a QGIS profile folder), ``executable`` (the geodigitize command) and the
scenario's own paths. The last line of standard output is the JSON result.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from qgis.core import (
    QgsApplication,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProject,
    QgsRasterLayer,
    QgsVectorLayer,
)

sys.path.append("/usr/share/qgis/python/plugins")


class Recorder(QgsProcessingFeedback):
    """Feedback that keeps what it is told; cancels at `cancel_at` (a stage name)."""

    def __init__(self, cancel_at: str | None = None) -> None:
        super().__init__()
        self.infos: list[str] = []
        self.cancel_at = cancel_at
        self.progress_values: list[float] = []
        self.progressChanged.connect(self.progress_values.append)

    def pushInfo(self, info: str) -> None:
        self.infos.append(info)
        if self.cancel_at and info.startswith(f"geodigitize: {self.cancel_at}"):
            self.cancel()
        super().pushInfo(info)


def start(config: dict):
    """A headless QGIS with Processing and the plugin loaded as QGIS loads it."""
    app = QgsApplication([], False, config["profile"])
    app.initQgis()
    from processing.core.Processing import Processing

    Processing.initialize()
    import qgis.utils

    sys.path.insert(0, config["plugins"])
    loaded = qgis.utils.loadPlugin("geodigitize")
    started = qgis.utils.startProcessingPlugin("geodigitize")
    from processing.core.ProcessingConfig import ProcessingConfig

    ProcessingConfig.setSettingValue("GEODIGITIZE_EXECUTABLE", config.get("executable", ""))
    return app, {"loaded": loaded, "started": started}


def layer_facts(points: str, grid: str) -> dict:
    """Validity, CRS, feature count and nodata of a run's two outputs."""
    vector = QgsVectorLayer(f"{points}|layername=points", "points", "ogr")
    raster = QgsRasterLayer(grid, "grid", "gdal")
    provider = raster.dataProvider() if raster.isValid() else None
    nodata = provider.sourceNoDataValue(1) if provider else None
    return {
        "points_valid": vector.isValid(),
        "points_crs": vector.crs().authid(),
        "points_count": vector.featureCount(),
        "points_fields": [f.name() for f in vector.fields()],
        "grid_valid": raster.isValid(),
        "grid_crs": raster.crs().authid(),
        "grid_has_nodata": bool(provider and provider.sourceHasNoDataValue(1)),
        "grid_nodata": "nan" if nodata is not None and nodata != nodata else nodata,
        "grid_size": [raster.width(), raster.height()],
    }


def files_under(folder: str) -> list[str]:
    """Every file and folder under `folder`, relative."""
    root = Path(folder)
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


def scenario_registry(config: dict) -> dict:
    """The provider and its algorithms, as the toolbox lists them."""
    from processing.core.ProcessingConfig import ProcessingConfig

    registry = QgsApplication.processingRegistry()
    provider = registry.providerById("geodigitize")
    gcps = registry.algorithmById("geodigitize:gcps")
    outcome = {
        "provider": provider.longName() if provider else None,
        "algorithms": sorted(a.id() for a in provider.algorithms()) if provider else [],
        "setting": ProcessingConfig.getSetting("GEODIGITIZE_EXECUTABLE"),
        "gcps_outputs": {o.name(): o.type() for o in gcps.outputDefinitions()} if gcps else {},
    }
    if config.get("without_executable") and gcps:
        path = os.environ["PATH"]
        ProcessingConfig.setSettingValue("GEODIGITIZE_EXECUTABLE", "")
        os.environ["PATH"] = "/nonexistent"
        outcome["can_execute_without"] = list(gcps.canExecute())
        os.environ["PATH"] = path
        ProcessingConfig.setSettingValue("GEODIGITIZE_EXECUTABLE", config["executable"])
    return outcome


def scenario_run(config: dict) -> dict:
    """processing.run on the example, then the dialog's loading of the results."""
    import processing
    from processing.gui.Postprocessing import handleAlgorithmResults
    from processing.tools import dataobjects

    feedback = Recorder()
    context = dataobjects.createContext(feedback)
    results = processing.run(
        "geodigitize:run", config["params"], feedback=feedback, context=context
    )
    facts = layer_facts(results["POINTS"], results["GRID"])
    report = json.loads(Path(results["REPORT"]).read_text())
    # what the algorithm dialog does after a run: load the layers into the project
    alg = QgsApplication.processingRegistry().createAlgorithmById("geodigitize:run")
    ok = handleAlgorithmResults(alg, context, feedback, False, config["params"])
    loaded = {
        layer.name(): {
            "valid": layer.isValid(),
            "renderer": layer.renderer().type() if layer.renderer() else None,
            "crs": layer.crs().authid(),
        }
        for layer in QgsProject.instance().mapLayers().values()
    }
    outcome = scenario_gcps_regrid(config) if "gcps" in config else {}
    return {
        **outcome,
        "results": {k: str(v) for k, v in results.items()},
        "facts": facts,
        "report_points": report.get("counts", {}).get("points"),
        "infos": feedback.infos,
        "progress": feedback.progress_values,
        "dialog_ok": ok,
        "loaded": loaded,
    }


def scenario_cancel(config: dict) -> dict:
    """Cancel a run on a large image once geodigitize reports `cancel_at`."""
    import processing

    feedback = Recorder(cancel_at=config.get("cancel_at"))
    # in case no stage is reported, cancel after a while anyway
    timer = threading.Timer(config.get("cancel_after", 4.0), feedback.cancel)
    timer.start()
    started = time.perf_counter()
    error = None
    try:
        processing.run("geodigitize:run", config["params"], feedback=feedback)
    except QgsProcessingException as exc:
        error = str(exc)
    timer.cancel()
    elapsed = time.perf_counter() - started
    image = config["params"]["INPUT"]
    running = [pid for pid in os.listdir("/proc") if pid.isdigit() and _cmdline_has(pid, image)]
    return {
        "error": error,
        "elapsed": elapsed,
        "infos": feedback.infos,
        "files": files_under(config["watch"]),
        "still_running": running,
    }


def _cmdline_has(pid: str, text: str) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False
    return text in cmdline and str(os.getpid()) != pid


def scenario_cases(config: dict) -> dict:
    """Run each case of parameters; record results or the Processing error."""
    import processing

    os.chdir(config["cwd"])
    outcomes = []
    for params in config["cases"]:
        feedback = Recorder()
        try:
            results = processing.run("geodigitize:run", params, feedback=feedback)
            outcomes.append({"ok": True, "results": {k: str(v) for k, v in results.items()}})
        except QgsProcessingException as exc:
            outcomes.append({"ok": False, "error": str(exc)})
    return {"outcomes": outcomes}


def scenario_model(config: dict) -> dict:
    """The shipped .model3 loaded and run, as the modeller runs it."""
    import processing
    from qgis.core import QgsProcessingModelAlgorithm

    model = QgsProcessingModelAlgorithm()
    loaded = model.fromFile(config["model"])
    model.setProvider(QgsApplication.processingRegistry().providerById("model"))
    children = [c.algorithmId() for c in model.childAlgorithms().values()]
    feedback = Recorder()
    results = processing.run(model, config["params"], feedback=feedback)
    regridded = QgsRasterLayer(str(results.get(config["regrid_output"], "")), "r", "gdal")
    return {
        "loaded": loaded,
        "children": sorted(children),
        "inputs": sorted(p.name() for p in model.parameterDefinitions()),
        "results": {k: str(v) for k, v in results.items()},
        "regridded_valid": regridded.isValid(),
        "regridded_crs": regridded.crs().authid(),
    }


def scenario_batch(config: dict) -> dict:
    """Two rows, run exactly as QGIS 3.22's BatchAlgorithmDialog.runAlgorithm does."""
    from processing.gui.Postprocessing import handleAlgorithmResults
    from processing.tools import dataobjects

    alg = QgsApplication.processingRegistry().createAlgorithmById("geodigitize:run")
    feedback = Recorder()
    rows = []
    for parameters in config["rows"]:
        parameters = alg.preprocessParameters(parameters)
        context = dataobjects.createContext(feedback)
        results, ok = alg.run(parameters, context, feedback)
        if ok:
            handleAlgorithmResults(alg, context, feedback, False, parameters)
            rows.append({"ok": ok, "facts": layer_facts(results["POINTS"], results["GRID"])})
        else:
            rows.append({"ok": ok})
    loaded = sorted(layer.name() for layer in QgsProject.instance().mapLayers().values())
    return {"rows": rows, "loaded": loaded, "infos": feedback.infos}


def scenario_gcps_regrid(config: dict) -> dict:
    """geodigitize:gcps to HTML and geodigitize:regrid on a run's points (run's part)."""
    import processing

    report = processing.run("geodigitize:gcps", config["gcps"], feedback=Recorder())
    regrid = processing.run("geodigitize:regrid", config["regrid"], feedback=Recorder())
    grid = QgsRasterLayer(str(regrid["OUTPUT"]), "r", "gdal")
    html = Path(report["OUTPUT"]).read_text(encoding="utf-8")
    return {
        "gcps_rmse": report["RMSE"],
        "gcps_html_rows": html.count("<tr"),
        "gcps_html_has_plot": "data:image/png;base64," in html,
        "regrid_valid": grid.isValid(),
        "regrid_crs": grid.crs().authid(),
        "regrid_size": [grid.width(), grid.height()],
    }


SCENARIOS = {
    "registry": scenario_registry,
    "run": scenario_run,
    "cancel": scenario_cancel,
    "cases": scenario_cases,
    "model": scenario_model,
    "batch": scenario_batch,
}


def main() -> None:
    name, config_path = sys.argv[1], sys.argv[2]
    config = json.loads(Path(config_path).read_text())
    _app, plugin = start(config)
    outcome = {"plugin": plugin, "registry": scenario_registry(config)}
    try:
        outcome.update(SCENARIOS[name](config))
    except Exception as exc:  # report, don't hide, what went wrong
        outcome["exception"] = f"{type(exc).__name__}: {exc}"
    print("\n" + json.dumps(outcome, default=str))
    sys.stdout.flush()
    os._exit(0)  # skip QGIS's slow and sometimes crashing teardown


if __name__ == "__main__":
    main()
