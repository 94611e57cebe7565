"""The QGIS plugin (``qgis/geodigitize``): its Processing provider, inside and outside QGIS.

The first tests need no QGIS: they check the plugin's pure-Python parts (argument lists,
shell-free splitting of EXTRA, error lines, cancel, the zip, the model file).

The others run Debian's PyQGIS (``/usr/bin/python3``, package ``python3-qgis``) headless
in a subprocess, with the plugin installed from its zip into a temporary QGIS profile,
and are skipped, with the reason, where ``qgis.core`` cannot be imported there.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from functools import cache
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
PLUGIN = ROOT / "qgis" / "geodigitize"
SCRIPT = ROOT / "tests" / "qgis_scripts" / "qgis_check.py"
MODEL = ROOT / "qgis" / "geodigitize_run.model3"
EXAMPLE = ROOT / "examples" / "sst_jet_r.png"
EXAMPLE_GCPS = ROOT / "examples" / "sst_jet_r_gcps.csv"
#: The README's run on the example.
EXAMPLE_PARAMS = {"CMAP": "jet_r", "VMIN": 0, "VMAX": 0.7, "REGION": "69,224,875,582"}
#: Debian's PyQGIS runs under Debian's Python; another QGIS Python can be named instead.
QGIS_PYTHON = os.environ.get("GEODIGITIZE_QGIS_PYTHON", "/usr/bin/python3")


@pytest.fixture(scope="module")
def example_points() -> int:
    """Points the library's own run on the example keeps (what the layers must hold)."""
    from geodigitize import extract

    region = tuple(float(v) for v in EXAMPLE_PARAMS["REGION"].split(","))
    result = extract(EXAMPLE, gcps=EXAMPLE_GCPS, cmap="jet_r", vmin=0, vmax=0.7, region=region)
    return len(result.points)


def _load(name: str, path: Path):
    """Import a plugin module by path (the plugin's package name is taken by the library)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


command = _load("geodigitize_qgis_command", PLUGIN / "command.py")
report = _load("geodigitize_qgis_report", PLUGIN / "report.py")
build_zip = _load("geodigitize_qgis_build_zip", ROOT / "qgis" / "build_zip.py")


class Feedback:
    """A stand-in for QgsProcessingFeedback that records and cancels on request."""

    def __init__(self, cancel_after: float | None = None) -> None:
        self.infos: list[str] = []
        self.console: list[str] = []
        self.debug: list[str] = []
        self.progress: list[float] = []
        self.start = time.perf_counter()
        self.cancel_after = cancel_after

    def isCanceled(self) -> bool:
        return (
            self.cancel_after is not None and time.perf_counter() - self.start > self.cancel_after
        )

    def setProgress(self, progress: float) -> None:
        self.progress.append(progress)

    def pushInfo(self, info: str) -> None:
        self.infos.append(info)

    def pushDebugInfo(self, info: str) -> None:
        self.debug.append(info)

    def pushConsoleInfo(self, info: str) -> None:
        self.console.append(info)


# -- without QGIS ---------------------------------------------------------------------


def test_extra_is_split_like_a_shell_and_never_run_by_one():
    assert command.split_extra("--colorbar auto --exclude-color 'black, white'") == [
        "--colorbar", "auto", "--exclude-color", "black, white",
    ]  # fmt: skip
    assert command.split_extra("; touch pwned") == [";", "touch", "pwned"]
    assert command.split_extra("$(touch pwned)") == ["$(touch", "pwned)"]
    assert command.split_extra("`touch pwned`") == ["`touch", "pwned`"]
    assert command.split_extra("  ") == []
    with pytest.raises(command.CommandError, match="cannot be split"):
        command.split_extra("--cmap 'jet")
    for out in ("--out elsewhere", "--out=elsewhere", "-o elsewhere", "-oelsewhere"):
        with pytest.raises(command.CommandError, match="set OUTPUT instead"):
            command.split_extra(out)
    assert command.split_extra("--overwrite") == ["--overwrite"]


def test_run_arguments_leave_out_what_has_no_value():
    args = command.build_run_args(
        "gd", "-image.png", "out", cmap="jet_r", vmin=0, region=None, extra=["--contours"]
    )
    assert args == [
        "gd", "run", "--progress", "json", "--cmap", "jet_r", "--vmin", "0.0", "--contours",
        "--out", "out", "--", "-image.png",
    ]  # fmt: skip
    regrid = command.build_regrid_args("gd", "p.gpkg", "g.tif", res=0.5, method="linear")
    assert regrid == [
        "gd", "regrid", "--res", "0.5", "--method", "linear", "--out", "g.tif", "--", "p.gpkg",
    ]  # fmt: skip


def test_progress_lines_become_stages_and_a_rising_progress():
    seen, progress = [], []
    feedback = type("F", (), {"pushInfo": lambda self, text: seen.append(text)})()
    report = command._StageReporter(feedback, progress.append)
    lines = [
        '{"progress": "start", "stage": "read"}',
        '{"progress": "end", "stage": "read", "seconds": 0.1}',
        '{"progress": "start", "stage": "mask"}',
        "a warning that is not progress",
        '{"progress": "start", "stage": "read"}',
    ]
    assert [report(line) for line in lines] == [True, True, True, False, True]
    assert seen == ["geodigitize: read…", "geodigitize: mask…", "geodigitize: read…"]
    assert progress == [2, 30, 30]  # never goes back


def test_points_file_beside_the_image_is_found(tmp_path):
    image = tmp_path / "map.png"
    image.touch()
    assert command.gcps_beside(image) is None
    (tmp_path / "map.png.points").touch()
    assert command.gcps_beside(image) == tmp_path / "map.png.points"


@pytest.mark.parametrize(
    ("stderr", "expected"),
    [
        (["⠋ read...", "error: no pixel is on the scale"], "no pixel is on the scale"),
        (["Usage: geodigitize run [OPTIONS] {image}", "╭─ Error ───╮",
          "│ Got unexpected extra argument(s) (; touch   │", "│ pwned)  │", "╰────╯"],
         "Got unexpected extra argument(s) (; touch pwned)"),
        (["Usage: x", "Error: No such option: --foo"], "No such option: --foo"),
        (["Traceback (most recent call last):", "  File x", "ValueError: bad"], "ValueError: bad"),
        ([], "geodigitize stopped with exit code 3 and printed no error"),
    ],
)  # fmt: skip
def test_error_line_is_geodigitize_s_one_line(stderr, expected):
    assert command.error_line(stderr, 3) == expected


def _fake_command(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_run_command_reports_stages_and_raises_the_error_line():
    code = (
        "import sys, time\n"
        'sys.stderr.write(\'{"progress": "start", "stage": "mask"}\\n\''
        '\'{"progress": "start", "stage": "reduce"}\\n\'); '
        "sys.stderr.flush(); time.sleep(0.3)\n"
        "print('summary line'); sys.stderr.write('\\nerror: the image is damaged\\n'); "
        "sys.exit(4)"
    )
    feedback = Feedback()
    result = command.run_command(
        _fake_command(code), feedback, poll=0.02, shown_as=("summary", "shown")
    )
    assert result.returncode == 4
    assert feedback.infos == ["geodigitize: mask…", "geodigitize: reduce…"]
    assert feedback.progress == [30, 50]
    assert feedback.console == ["shown line"]
    assert result.stdout == "summary line"
    with pytest.raises(command.CommandError) as info:
        command.check(result)
    assert str(info.value) == "the image is damaged"


def test_cancel_stops_the_command_and_its_children(tmp_path):
    marker = tmp_path / "finished"
    code = (
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)'])\n"
        f"print(child.pid, flush=True); time.sleep(30); open({str(marker)!r}, 'w')"
    )
    feedback = Feedback(cancel_after=0.5)
    started = time.perf_counter()
    result = command.run_command(_fake_command(code), feedback, poll=0.05)
    assert time.perf_counter() - started < 10
    assert result.canceled
    assert not marker.exists()
    child = int(result.stdout.split()[0])
    time.sleep(0.2)
    assert not Path(f"/proc/{child}").exists() or "Z" in _proc_state(child)
    with pytest.raises(command.CommandError, match=r"^canceled"):
        command.check(result)


def _proc_state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2]
    except OSError:
        return "Z"


def test_staging_moves_on_success_and_refuses_to_replace(tmp_path):
    out = tmp_path / "out"
    with command.staging_folder(out) as staged:
        (staged / "points.gpkg").write_text("new")
        command.move_outputs(staged, out, overwrite=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert (out / "points.gpkg").read_text() == "new"
    with command.staging_folder(out) as staged:
        (staged / "points.gpkg").write_text("newer")
        with pytest.raises(command.CommandError, match="pass --overwrite"):
            command.move_outputs(staged, out, overwrite=False)
    assert (out / "points.gpkg").read_text() == "new"
    with command.staging_folder(out) as staged:
        (staged / "points.gpkg").write_text("newest")
        command.move_outputs(staged, out, overwrite=True)
    assert (out / "points.gpkg").read_text() == "newest"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_child_environment_drops_qgis_python_and_data_paths():
    env = command.child_environment(
        {"PATH": "/bin", "PYTHONHOME": "/qgis", "PYTHONPATH": "/qgis/python", "PROJ_LIB": "x"}
    )
    assert env["PATH"] == "/bin"
    assert not {"PYTHONHOME", "PYTHONPATH", "PROJ_LIB"} & set(env)
    assert env["NO_COLOR"] == "1" and "TTY_COMPATIBLE" not in env


def test_gcps_report_html_escapes_and_embeds_the_plot():
    data = {
        "transform": "affine", "crs": "EPSG:4326", "n_gcps": 1, "rmse_px": 0.5,
        "mean_error_px": None, "loo_rmse_px": 1.0, "auto": None,
        "worst_gcp": {"index": 0, "stands_out": True, "id": "<b>", "measure": "residual",
                      "error_px": 0.5, "others_median_px": 0.1},
        "residuals": [{"id": "<b>", "col": 1.0, "row": 2.0, "x": 3.0, "y": 4.0,
                       "residual_px": 0.5, "residual_map": 0.1, "loo_px": None}],
    }  # fmt: skip
    page = report.gcps_html(data, "a<script>.png", b"PNG")
    assert "<script>" not in page and "a&lt;script&gt;.png" in page
    assert page.count("<tr") == 2 and 'class="worst"' in page
    assert "data:image/png;base64,UE5H" in page


def test_zip_holds_the_plugin_folder(tmp_path):
    target = build_zip.build(tmp_path)
    assert target.name == f"geodigitize-qgis-{build_zip.version()}.zip"
    with zipfile.ZipFile(target) as archive:
        names = archive.namelist()
        meta = archive.read("geodigitize/metadata.txt").decode()
    assert {"geodigitize/__init__.py", "geodigitize/provider.py"} <= set(names)
    assert all(n.startswith("geodigitize/") and "__pycache__" not in n for n in names)
    assert "qgisMinimumVersion=3.22" in meta and "hasProcessingProvider=yes" in meta


def test_model_wraps_geodigitize_run():
    root = ElementTree.parse(MODEL).getroot()
    algs = {o.get("value") for o in root.iter("Option") if o.get("name") == "alg_id"}
    assert algs == {"geodigitize:run", "geodigitize:regrid"}


# -- inside QGIS ----------------------------------------------------------------------


@cache
def _no_pyqgis() -> str | None:
    """Why PyQGIS cannot run here, or None."""
    if not Path(QGIS_PYTHON).exists():
        return f"{QGIS_PYTHON} does not exist (Debian's PyQGIS runs under it)"
    proc = subprocess.run(
        [QGIS_PYTHON, "-c", "import qgis.core"],
        capture_output=True, text=True, timeout=120, env=_qgis_env(), cwd="/",
    )  # fmt: skip
    if proc.returncode:
        last = (proc.stderr.strip().splitlines() or ["no error printed"])[-1]
        return f"PyQGIS cannot be imported by {QGIS_PYTHON} ({last}): apt-get install python3-qgis"
    return None


def _qgis_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["QT_QPA_PLATFORM"] = "offscreen"
    env.setdefault("XDG_RUNTIME_DIR", "/tmp")
    return env


@pytest.fixture(scope="module")
def qgis_env(tmp_path_factory):
    """The plugin installed from its zip into a fresh QGIS profile, and the executable.

    Every test inside QGIS uses it, so each is skipped with the reason PyQGIS is missing.
    """
    reason = _no_pyqgis()
    if reason:
        pytest.skip(reason)
    exe = _executable()
    if not exe:
        pytest.skip("no geodigitize executable beside this Python nor on PATH")
    root = tmp_path_factory.mktemp("qgis")
    plugins = root / "profile" / "python" / "plugins"
    plugins.mkdir(parents=True)
    with zipfile.ZipFile(build_zip.build(root / "dist")) as archive:
        archive.extractall(plugins)
    return {"plugins": str(plugins), "profile": str(root / "profile"), "executable": exe}


def _executable() -> str | None:
    """The geodigitize command under test: $GEODIGITIZE_EXECUTABLE, else this venv's or
    PATH's (the one ``pip install -e .`` put beside the Python running the tests)."""
    beside = Path(sys.executable).parent / "geodigitize"
    return os.environ.get("GEODIGITIZE_EXECUTABLE") or (
        str(beside) if beside.exists() else shutil.which("geodigitize")
    )


def run_scenario(name: str, env: dict, tmp_path: Path, **config) -> dict:
    """Run a scenario of tests/qgis_scripts/qgis_check.py; its JSON outcome."""
    config_file = tmp_path / f"{name}.json"
    config_file.write_text(json.dumps({**env, **config}))
    proc = subprocess.run(
        [QGIS_PYTHON, str(SCRIPT), name, str(config_file)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path, env=_qgis_env(),
    )  # fmt: skip
    lines = proc.stdout.strip().splitlines()
    assert lines, f"no outcome from {name}: {proc.stderr[-2000:]}"
    outcome = json.loads(lines[-1])
    assert "exception" not in outcome, outcome["exception"]
    assert outcome["plugin"] == {"loaded": True, "started": True}
    return outcome


def _example(out: Path, **changes) -> dict:
    return {"INPUT": str(EXAMPLE), "GCPS": str(EXAMPLE_GCPS), **EXAMPLE_PARAMS,
            "OUTPUT": str(out), **changes}  # fmt: skip


def _renderer(qml: Path, tag: str) -> str:
    return next(ElementTree.parse(qml).getroot().iter(tag)).get("type")


def test_zip_installs_and_the_toolbox_lists_the_algorithms(qgis_env, tmp_path):
    outcome = run_scenario("registry", qgis_env, tmp_path, without_executable=True)
    registry = outcome["registry"]
    assert registry["algorithms"] == ["geodigitize:gcps", "geodigitize:regrid", "geodigitize:run"]
    assert registry["setting"] == qgis_env["executable"]
    assert registry["gcps_outputs"] == {"OUTPUT": "outputHtml", "RMSE": "outputNumber"}
    # with no setting and nothing on PATH, the algorithms refuse and say how to fix it
    can, why = registry["can_execute_without"]
    assert not can and "GEODIGITIZE_EXECUTABLE" in why


def test_run_on_the_example_gives_valid_layers_loaded_with_their_style(
    example_points, qgis_env, tmp_path
):
    out = tmp_path / "out"
    outcome = run_scenario(
        "run", qgis_env, tmp_path, params=_example(out),
        gcps={"INPUT": str(EXAMPLE), "GCPS": str(EXAMPLE_GCPS), "OUTPUT": str(tmp_path / "r.html")},
        regrid={"INPUT": str(out / "points.gpkg"), "RES": 2.0, "OUTPUT": str(tmp_path / "g.tif")},
    )  # fmt: skip
    facts = outcome["facts"]
    assert outcome["results"]["POINTS"] == str(out / "points.gpkg")
    assert facts["points_valid"] and facts["points_crs"] == "EPSG:4326"
    assert facts["points_count"] == example_points == outcome["report_points"]
    assert {"value", "col", "row", "n_pixels"} <= set(facts["points_fields"])
    assert facts["grid_valid"] and facts["grid_crs"] == "EPSG:4326"
    assert facts["grid_has_nodata"] and facts["grid_nodata"] == "nan"
    # progress: geodigitize's stages, rising, then done
    assert any(i.startswith("geodigitize: ") for i in outcome["infos"])
    first_run = outcome["progress"][: outcome["progress"].index(100.0) + 1]
    assert first_run == sorted(first_run) and len(first_run) >= 2
    # as the dialog does: both layers in the project, styled by the run's .qml files
    assert outcome["dialog_ok"] is True
    loaded = outcome["loaded"]
    assert loaded["sst_jet_r points"]["renderer"] == _renderer(out / "points.qml", "renderer-v2")
    assert loaded["sst_jet_r grid"]["renderer"] == _renderer(out / "grid.qml", "rasterrenderer")
    assert all(layer["valid"] and layer["crs"] == "EPSG:4326" for layer in loaded.values())
    # geodigitize:gcps and geodigitize:regrid
    assert outcome["gcps_rmse"] < 1e-6
    assert outcome["gcps_html_rows"] == 1 + 55 and outcome["gcps_html_has_plot"]
    assert outcome["regrid_valid"] and outcome["regrid_crs"] == "EPSG:4326"


def _large_figure(folder: Path, width: int = 6000, height: int = 5000) -> tuple[Path, Path]:
    """A jet-coloured smooth field of `width` x `height` and its corner GCPs."""
    from matplotlib import colormaps

    lut = (colormaps["jet"](np.linspace(0, 1, 256))[:, :3] * 255).round().astype(np.uint8)
    x = np.linspace(0, 6, width, dtype=np.float32)
    y = np.linspace(0, 4, height, dtype=np.float32)[:, None]
    index = ((np.sin(x) * np.cos(y) + 1) * 127.5).astype(np.uint8)
    image = folder / "large.png"
    Image.fromarray(lut[index]).save(image, compress_level=1)
    gcps = folder / "large_gcps.csv"
    gcps.write_text(
        f"col,row,lon,lat\n0,0,-180,90\n{width},0,180,90\n0,{height},-180,-90\n"
        f"{width},{height},180,-90\n"
    )
    return image, gcps


def test_cancel_on_a_large_image_leaves_no_files(qgis_env, tmp_path):
    image, gcps = _large_figure(tmp_path)
    watch = tmp_path / "results"
    outcome = run_scenario(
        "cancel", qgis_env, tmp_path, cancel_at="strips", cancel_after=6.0, watch=str(watch),
        params={"INPUT": str(image), "GCPS": str(gcps), "CMAP": "jet", "VMIN": 0, "VMAX": 1,
                "OUTPUT": str(watch / "large")},
    )  # fmt: skip
    assert outcome["error"] is not None and outcome["error"].startswith("canceled")
    assert "geodigitize: strips…" in outcome["infos"]
    assert outcome["files"] == []
    assert outcome["still_running"] == []


PAYLOADS = ("; touch pwned", "$(touch pwned)", "`touch pwned`")


def test_shell_text_in_parameters_is_only_ever_an_argument(qgis_env, tmp_path):
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    sentinel = tmp_path / "pwned"
    odd = tmp_path / "odd"
    odd.mkdir()
    image = odd / f"map{''.join(PAYLOADS)}.png"
    shutil.copy(EXAMPLE, image)
    gcps = odd / f"gcps{PAYLOADS[1]}.csv"
    shutil.copy(EXAMPLE_GCPS, gcps)
    failing = [
        *(_example(tmp_path / f"e{i}", EXTRA=p) for i, p in enumerate(PAYLOADS)),
        _example(tmp_path / "c", CMAP=f"jet_r; touch {sentinel}"),
        _example(tmp_path / "r", REGION=f"$(touch {sentinel})"),
        _example(tmp_path / "i", INPUT=str(tmp_path / "`touch pwned`.png")),
        _example(tmp_path / "g", GCPS=str(tmp_path / f"g$(touch {sentinel}).csv")),
    ]
    working = _example(odd / f"out{PAYLOADS[0]}", INPUT=str(image), GCPS=str(gcps))
    outcome = run_scenario(
        "cases", qgis_env, tmp_path, cwd=str(cwd), cases=[*failing, working, working]
    )
    *refused, worked, exists = outcome["outcomes"]
    assert worked["ok"], worked
    # as on the command line: existing outputs are kept unless --overwrite
    assert not exists["ok"] and "already exist" in exists["error"]
    assert "\n" not in exists["error"]
    assert Path(worked["results"]["POINTS"]).is_file()
    for case in refused:
        assert not case["ok"]
        assert case["error"].strip() and "\n" not in case["error"], case["error"]
    assert not [p for p in tmp_path.rglob("pwned")]
    assert not (ROOT / "pwned").exists()
    # the same text as geodigitize's own one-line error
    cli = subprocess.run(
        [qgis_env["executable"], "run", str(EXAMPLE), "--gcps", str(EXAMPLE_GCPS),
         "--cmap", f"jet_r; touch {sentinel}", "--vmin", "0", "--vmax", "0.7",
         "--region", EXAMPLE_PARAMS["REGION"], "--out", str(tmp_path / "cli")],
        capture_output=True, text=True, env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200"},
    )  # fmt: skip
    assert cli.returncode != 0
    assert refused[3]["error"] == cli.stderr.strip().removeprefix("error:").strip()


def _points_file(image: Path, exe: str) -> None:
    """Write the Georeferencer's ``IMAGE.points`` for a copy of the example."""
    subprocess.run(
        [exe, "gcps", str(image), "--gcps",
         str(EXAMPLE_GCPS), "--save-points", f"{image}.points", "--json"],
        check=True, capture_output=True,
    )  # fmt: skip


def test_batch_over_two_images_with_their_points_files(example_points, qgis_env, tmp_path):
    rows = []
    for name in ("first", "second"):
        image = tmp_path / f"{name}.png"
        shutil.copy(EXAMPLE, image)
        rows.append({"INPUT": str(image), **EXAMPLE_PARAMS, "OUTPUT": str(tmp_path / name)})
    _points_file(tmp_path / "first.png", qgis_env["executable"])
    shutil.copy(tmp_path / "first.png.points", tmp_path / "second.png.points")
    outcome = run_scenario("batch", qgis_env, tmp_path, rows=rows)
    assert [row["ok"] for row in outcome["rows"]] == [True, True]
    assert [row["facts"]["points_count"] for row in outcome["rows"]] == [example_points] * 2
    assert outcome["loaded"] == ["first grid", "first points", "second grid", "second points"]
    assert sum("GCPS is empty: using" in i for i in outcome["infos"]) == 2


def test_the_shipped_model_runs(qgis_env, tmp_path):
    outcome = run_scenario(
        "model", qgis_env, tmp_path, model=str(MODEL), regrid_output="regrid:regridded",
        params={"image": str(EXAMPLE), "gcps": str(EXAMPLE_GCPS), "cmap": "jet_r",
                "vmin": 0, "vmax": 0.7, "region": "69,224,875,582", "res": 2.0,
                "run:digitized": str(tmp_path / "digitized"),
                "regrid:regridded": str(tmp_path / "regridded.tif")},
    )  # fmt: skip
    assert outcome["loaded"]
    assert outcome["children"] == ["geodigitize:regrid", "geodigitize:run"]
    assert (tmp_path / "digitized" / "points.gpkg").is_file()
    assert outcome["regridded_valid"] and outcome["regridded_crs"] == "EPSG:4326"
