"""A large image decoded ahead (sources.prefetch, started by the command line before it
imports the pipeline) gives the rows a plain read gives, and the same run."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest
import rasterio
from conftest import make_figure
from PIL import Image

from geodigitize import pipeline, sources
from geodigitize.colors import pack_rgb
from geodigitize.errors import ImageError
from geodigitize.image import read_image
from geodigitize.sources import StripReader, prefetch, release_prefetched


def _image(tmp_path, kind: str):
    rng = np.random.default_rng(len(kind))
    h, w = 37, 23
    path = tmp_path / "a.png"
    if kind in ("RGB", "RGBA"):
        arr = rng.integers(0, 256, (h, w, len(kind)), dtype=np.uint8)
        Image.fromarray(arr, kind).save(path)
    elif kind == "LA":
        arr = np.dstack([rng.integers(0, 256, (h, w)), rng.choice([0, 255], (h, w))])
        Image.fromarray(arr.astype(np.uint8), "LA").save(path)
    else:  # a palette with a transparent entry, index 4 missing from it
        pil = Image.fromarray(rng.integers(0, 5, (h, w)).astype(np.uint8), "P")
        pil.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 9, 9])
        pil.save(path, transparency=1)
    return path


@pytest.fixture(autouse=True)
def _nothing_left():
    yield
    release_prefetched()
    assert not sources._PREFETCHED


@pytest.mark.parametrize("kind", ["RGB", "RGBA", "LA", "P"])
@pytest.mark.parametrize("steps", [(1,), (5,), (3, 1, 8, 2)])
def test_rows_read_ahead_are_the_files(tmp_path, monkeypatch, kind, steps):
    # strips of 3 rows decoded, at most 2 waiting: reads span, split and wait for them
    monkeypatch.setattr(sources, "PREFETCH_BYTES", 1)
    path = _image(tmp_path, kind)
    expected = read_image(path)
    assert prefetch(path, 0, strip_rows=3)
    assert not prefetch(path, 0)  # one per file
    reader = StripReader(path)
    assert reader._ahead is not None and not sources._PREFETCHED  # claimed
    parts, r0, k = [], 0, 0
    while r0 < 37:
        r1 = min(r0 + steps[k % len(steps)], 37)
        parts.append(reader.read(r0, r1))
        r0, k = r1, k + 1
    reader.close()
    np.testing.assert_array_equal(np.concatenate([p[0] for p in parts]), pack_rgb(expected.rgb))
    np.testing.assert_array_equal(np.concatenate([p[1] for p in parts]), expected.opaque)


def test_what_is_not_prefetched(tmp_path):
    path = _image(tmp_path, "RGB")
    assert not prefetch(path, 37 * 23)  # not larger than the bound
    assert not prefetch(tmp_path / "missing.png", 0)
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    assert not prefetch(text, 0)
    assert not sources._PREFETCHED


def test_a_file_changed_since_is_read_again(tmp_path):
    path = _image(tmp_path, "RGB")
    assert prefetch(path, 0)
    Image.fromarray(np.zeros((37, 23, 3), np.uint8)).save(path)  # rewritten meanwhile
    reader = StripReader(path)
    assert reader._ahead is None
    packed, _ = reader.read(0, 37)
    reader.close()
    assert not packed.any()


def test_unclaimed_and_closed_prefetches_stop(tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "PREFETCH_BYTES", 1)  # the thread waits for room
    path = _image(tmp_path, "RGB")
    assert prefetch(path, 0, strip_rows=1)
    reader = StripReader(path)
    reader.read(0, 2)
    reader.close()  # the rest is dropped, its thread ends
    assert not any(t.name == "prefetch" and t.is_alive() for t in threading.enumerate())
    assert prefetch(path, 0)
    release_prefetched()
    assert not sources._PREFETCHED
    assert not any(t.name == "prefetch" and t.is_alive() for t in threading.enumerate())


def test_rows_must_come_in_order(tmp_path):
    path = _image(tmp_path, "RGB")
    assert prefetch(path, 0)
    reader = StripReader(path)
    reader.read(0, 4)
    with pytest.raises(ValueError, match="out of order"):
        reader.read(10, 12)
    reader.close()


def test_a_damaged_file_is_told_as_when_read(tmp_path):
    big = tmp_path / "big.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (400, 300, 3), np.uint8)).save(big)
    cut = tmp_path / "cut.png"
    cut.write_bytes(big.read_bytes()[: big.stat().st_size // 2])
    assert prefetch(cut, 0, strip_rows=50)  # as the reader asks below
    reader = StripReader(cut)
    with pytest.raises(ImageError, match="truncated or damaged"):
        for r0 in range(0, 400, 50):
            reader.read(r0, r0 + 50)
    reader.close()


def test_the_command_line_decodes_a_large_image_ahead(tmp_path, monkeypatch, cli):
    """``geodigitize run`` of an image above the in-memory bound claims the rows it
    started decoding before importing the pipeline, and writes what a plain read gives."""
    monkeypatch.setattr(sources, "IN_MEMORY_PIXELS", 10_000)
    monkeypatch.setattr(pipeline, "IN_MEMORY_PIXELS", 10_000)
    png, gcps = make_figure(300, 200).write(tmp_path)
    claimed = []
    claim = sources._claim
    monkeypatch.setattr(sources, "_claim", lambda p: claimed.append(claim(p)) or claimed[-1])
    args = ["run", png, "--gcps", gcps, "--cmap", "jet_r", "--vmin", 0, "--vmax", 0.7]
    code, _, err = cli(*args, "--out", tmp_path / "ahead")
    assert code == 0, err
    assert len(claimed) == 1 and claimed[0] is not None
    monkeypatch.setattr(sources, "prefetch", lambda *a: False)
    claimed.clear()
    code, _, err = cli(*args, "--out", tmp_path / "plain")
    assert code == 0, err
    assert claimed == [None]
    reports = [json.loads((tmp_path / d / "report.json").read_text()) for d in ("ahead", "plain")]
    assert reports[0]["counts"] == reports[1]["counts"]
    assert reports[0]["counts"]["points"] > 0
    grids = []
    for d in ("ahead", "plain"):
        with rasterio.open(tmp_path / d / "grid.tif") as src:
            grids.append(src.read(1))
    np.testing.assert_array_equal(grids[0], grids[1])


def test_rows_are_decoded_in_the_engines_strips(tmp_path):
    path = _image(tmp_path, "RGB")
    assert prefetch(path, 0)
    (ahead,) = sources._PREFETCHED.values()
    assert ahead._step == sources.default_strip_rows(23)  # each read one decoded strip


def test_an_image_read_whole_drops_its_prefetch(tmp_path):
    """An image the pipeline reads whole (here: `in_memory=True`) stops the decoding the
    command line began, and drops its rows."""
    png, _ = make_figure(300, 200).write(tmp_path)
    assert prefetch(png, 0)
    pipeline._source(str(png), pipeline.Options(cmap="jet_r"), True)
    assert not sources._PREFETCHED
