"""The colormaps geodigitize knows by name, from every source papers draw with.

Sources, in the order a name is looked up (the first that has it wins):

========== ====== ============================================ =========================
source     prefix where the tables come from                  licence
========== ====== ============================================ =========================
matplotlib mpl.   ``matplotlib.colormaps``                     matplotlib (PSF-style)
cmocean    cmo.   the ``cmocean`` package (Thyng et al.)       MIT
crameri    cmc.   the ``cmcrameri`` package (Crameri's         MIT
                  Scientific colour maps)
gmt        gmt.   GMT 6.4 CPT files vendored in                LGPL-3+ (GMT)
                  ``geodigitize/data/gmt``
ncl        ncl.   NCL's colour tables, from the ``colormaps``  MIT (package),
                  package                                      Apache-2.0 (NCL)
========== ====== ============================================ =========================

Names match ignoring case; ``_r`` reverses any of them. A prefix (``cmo.gray``) picks the
source when a name exists in several (plain ``gray`` is matplotlib's). Crameri's
categorical ``*S`` tables and cmocean's ``*_i`` variants are left out: their colours are
not ordered by value, or duplicate a listed map. NCL's ``MPL_*`` copies of matplotlib's
maps are not in the ``colormaps`` package either.

The packages are imported only when a name is not matplotlib's, so start-up time does
not grow with the catalogue. The NCL tables are read from the ``colormaps`` package's
``.rgb`` files directly: its loader registers every map in matplotlib and hands back
matplotlib's map when a name is taken.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import functools
import importlib
import importlib.util
import re
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib import colors as mcolors

from .errors import ColorScaleError

__all__ = [
    "SOURCES",
    "CatalogueEntry",
    "ColormapInfo",
    "find_colormap",
    "list_colormaps",
    "list_names",
    "load_colormap",
]

#: Sources in lookup order, each with its name prefix and display label.
SOURCES: dict[str, tuple[str, str]] = {
    "matplotlib": ("mpl", "matplotlib"),
    "cmocean": ("cmo", "cmocean"),
    "crameri": ("cmc", "Crameri"),
    "gmt": ("gmt", "GMT"),
    "ncl": ("ncl", "NCL"),
}

#: Tables of at most this many colours (and GMT tables made only of flat classes) are
#: listed as discrete.
DISCRETE_MAX_COLORS = 32

_PREFIXES = {prefix: source for source, (prefix, _) in SOURCES.items()}
#: Lookup-table size of a GMT table that is not equal flat classes (see :func:`_gmt_table`).
GMT_LUT = 8192


@dataclass(frozen=True)
class CatalogueEntry:
    """One named colormap of one source.

    Parameters
    ----------
    name : str
        The name as its source spells it, without ``_r``.
    source : str
        A key of :data:`SOURCES`.
    """

    name: str
    source: str

    @property
    def label(self) -> str:
        """``"batlow (Crameri)"``: the name with its source, for messages."""
        return f"{self.name} ({SOURCES[self.source][1]})"

    def load(self, reverse: bool = False) -> mcolors.Colormap:
        """Return the matplotlib colormap, reversed when `reverse`."""
        cmap = _LOADERS[self.source](self.name)
        return cmap.reversed() if reverse else cmap

    def provenance(self) -> str:
        """Where the table came from, with the version: ``"cmcrameri 1.10"``."""
        return _provenance(self.source)


@dataclass(frozen=True)
class ColormapInfo:
    """A catalogue line: a colormap's name, source, colour count and kind.

    Parameters
    ----------
    name : str
        What ``--cmap`` takes: prefixed when an earlier source has the same name.
    source : str
        A key of :data:`SOURCES`.
    n_colors : int
        Distinct 8-bit colours in the colormap's lookup table.
    kind : {"continuous", "discrete"}
    """

    name: str
    source: str
    n_colors: int
    kind: str


# ------------------------------------------------------------------------- the sources


def _matplotlib_names() -> list[str]:
    # Packages register their maps in matplotlib too ("cmo.thermal"): those are theirs.
    return sorted(
        n
        for n in matplotlib.colormaps
        if not n.endswith("_r") and n.partition(".")[0].lower() not in _PREFIXES
    )


def _matplotlib_load(name: str) -> mcolors.Colormap:
    return matplotlib.colormaps[name]


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence the deprecation warnings the packages raise building their maps.

    cmocean 4.0 passes ``N`` to ``ListedColormap``, which matplotlib 3.11 deprecates; the
    library must not print them for the user.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


def _import(source: str, module: str):
    try:
        with _quiet():
            return importlib.import_module(module)
    except ImportError:
        package = _PACKAGES[source]
        raise ColorScaleError(
            f"the {SOURCES[source][1]} colormaps need the {package} package: pip install {package}"
        ) from None


def _cmocean_names() -> list[str]:
    return sorted(_import("cmocean", "cmocean.cm").cmapnames)


def _cmocean_load(name: str) -> mcolors.Colormap:
    return _import("cmocean", "cmocean.cm").cmap_d[name]


def _crameri_names() -> list[str]:
    cmaps = _import("crameri", "cmcrameri.cm").cmaps
    return sorted(n for n in cmaps if not n.endswith(("_r", "S")))


def _crameri_load(name: str) -> mcolors.Colormap:
    return _import("crameri", "cmcrameri.cm").cmaps[name]


def _gmt_dir() -> Path:
    from importlib import resources

    return Path(str(resources.files("geodigitize") / "data" / "gmt"))


def _gmt_names() -> list[str]:
    return sorted(p.stem for p in _gmt_dir().glob("*.cpt"))


def _gmt_load(name: str) -> mcolors.Colormap:
    return _gmt_table(name)[0]


@functools.cache
def _gmt_table(name: str) -> tuple[mcolors.Colormap, bool]:
    """Turn a vendored CPT into a colormap with exactly its colours, and say if discrete.

    The CPT's z range is stretched onto 0-1. A table of equal flat classes becomes a
    ``ListedColormap`` of its class colours; anything else a ``LinearSegmentedColormap``
    whose nodes are the CPT's (jumps between slices kept), as GMT interpolates in RGB,
    with a lookup table of :data:`GMT_LUT` colours: GMT draws every colour between two
    nodes (rounded to 8 bits), and a coarser table skips some of them where a slice is
    steep (turbo's 255 slices change by up to 8 units each; 256 colours leave gaps of
    several units on haxby's), so a figure's pixels would find no colour of their own
    (and unequal flat classes need a fine table so the narrowest keeps its colour). A
    table made only of flat classes is discrete.
    """
    from .colortable import parse_table

    text = (_gmt_dir() / f"{name}.cpt").read_text(encoding="utf-8")
    _, segments = parse_table(text, f"{name}.cpt")
    z = np.array([[s[0], s[2]] for s in segments], dtype=np.float64)
    c0 = np.array([s[1] for s in segments], dtype=np.float64) / 255.0
    c1 = np.array([s[3] for s in segments], dtype=np.float64) / 255.0
    x = (z - z[0, 0]) / (z[-1, 1] - z[0, 0])
    widths = x[:, 1] - x[:, 0]
    flat = bool(np.array_equal(c0, c1))
    if flat and np.allclose(widths, widths[0]):
        return mcolors.ListedColormap(c0, name=name), True
    # Node i sits at the start of segment i (colour c0[i]) and the end of segment i-1
    # (colour c1[i-1]); matplotlib reads (x, colour on the left, colour on the right).
    xs = np.concatenate([x[:, 0], [1.0]])
    left = np.concatenate([c0[:1], c1])
    right = np.concatenate([c0, c1[-1:]])
    data = {
        channel: [(float(xs[i]), float(left[i, k]), float(right[i, k])) for i in range(xs.size)]
        for k, channel in enumerate(("red", "green", "blue"))
    }
    return mcolors.LinearSegmentedColormap(name, data, N=GMT_LUT), flat


def _ncl_dir() -> Path | None:
    # The package replaces its module with an object, so find its files without importing.
    spec = importlib.util.find_spec("colormaps")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(spec.submodule_search_locations[0]) / "colormaps" / "ncar_ncl"


def _ncl_names() -> list[str]:
    folder = _ncl_dir()
    return [] if folder is None else sorted(p.stem for p in folder.glob("*.rgb"))


@functools.cache
def _ncl_load(name: str) -> mcolors.Colormap:
    """Read an NCL ``.rgb`` table as NCL does: one ``r g b`` line per colour.

    The ``colormaps`` package's own loader is not used: it registers every map in
    matplotlib and returns matplotlib's map instead when the name is taken (``rainbow``).
    """
    folder = _ncl_dir()
    if folder is None:
        _import("ncl", "colormaps")  # raises, naming the package to install
    return mcolors.ListedColormap(_read_rgb((folder / f"{name}.rgb").read_text()), name=name)


def _read_rgb(text: str) -> np.ndarray:
    """Colours of an NCL ``.rgb`` table, shape (K, 3), 0-1.

    ``#`` and ``;`` start comments, ``/* */`` too; the ``ncolors=`` line and lines not
    starting with three numbers are skipped, as are NCL's ``-1`` placeholders. Tables whose
    values exceed 1 are in 0-255.
    """
    rows = []
    for line in re.sub(r"/\*.*?\*/", " ", text).splitlines():
        tokens = re.split(r"[#;]", line, maxsplit=1)[0].split()
        try:
            rgb = [float(v) for v in tokens[:3]]
        except ValueError:
            continue
        if len(rgb) == 3 and min(rgb) >= 0:
            rows.append(rgb)
    colors = np.array(rows, dtype=np.float64)
    return colors / 255.0 if colors.max() > 1 else colors


_NAMES: dict[str, Callable[[], list[str]]] = {
    "matplotlib": _matplotlib_names,
    "cmocean": _cmocean_names,
    "crameri": _crameri_names,
    "gmt": _gmt_names,
    "ncl": _ncl_names,
}
_LOADERS: dict[str, Callable[[str], mcolors.Colormap]] = {
    "matplotlib": _matplotlib_load,
    "cmocean": _cmocean_load,
    "crameri": _crameri_load,
    "gmt": _gmt_load,
    "ncl": _ncl_load,
}
_PACKAGES = {
    "matplotlib": "matplotlib",
    "cmocean": "cmocean",
    "crameri": "cmcrameri",
    "gmt": "geodigitize",
    "ncl": "colormaps",
}


@functools.cache
def _provenance(source: str) -> str:
    if source == "gmt":
        return "GMT 6.4 CPT vendored in geodigitize"
    package = _PACKAGES[source]
    if package == "matplotlib":  # imported already; importlib.metadata costs 20 ms
        return f"matplotlib {matplotlib.__version__}"
    from importlib import metadata  # not every package's __version__ is its release

    try:
        return f"{package} {metadata.version(package)}"
    except metadata.PackageNotFoundError:
        return package


def _index(source: str) -> dict[str, list[str]]:
    """Lower-case name -> the source's spellings of it.

    matplotlib's is read afresh each time, so maps registered at run time are found;
    the others are fixed once their package is imported.
    """
    return _build_index(source) if source == "matplotlib" else _cached_index(source)


@functools.cache
def _cached_index(source: str) -> dict[str, list[str]]:
    return _build_index(source)


def _build_index(source: str) -> dict[str, list[str]]:
    try:
        names = _NAMES[source]()
    except ColorScaleError:
        return {}
    out: dict[str, list[str]] = {}
    for n in names:
        out.setdefault(n.lower(), []).append(n)
    return out


# ------------------------------------------------------------------------------ lookup


def _split(name: str) -> tuple[list[str], str, bool]:
    """``"cmo.thermal_r"`` -> (sources to search, ``"thermal"``, reversed)."""
    text = name.strip()
    sources = list(SOURCES)
    head, dot, tail = text.partition(".")
    if dot and head.lower() in _PREFIXES:
        sources, text = [_PREFIXES[head.lower()]], tail
    reverse = text.lower().endswith("_r") and len(text) > 2
    return sources, text[:-2] if reverse else text, reverse


def find_colormap(name: str) -> tuple[CatalogueEntry, bool]:
    """Find the colormap called `name` in the catalogue.

    Parameters
    ----------
    name : str
        A colormap name, any case, optionally prefixed by a source (``cmo.``, ``cmc.``,
        ``mpl.``, ``gmt.``, ``ncl.``) and suffixed by ``_r`` for the reversed map.

    Returns
    -------
    entry : CatalogueEntry
        The first source's entry, in :data:`SOURCES` order, whose name matches; an exact
        spelling beats one that differs in case within a source.
    reverse : bool
        True when `name` asks for the reversed map.

    Raises
    ------
    ColorScaleError
        If no source has it; the message suggests close names from every source.
    """
    sources, base, reverse = _split(name)
    for source in sources:
        spellings = _index(source).get(base.lower())
        if spellings:
            exact = base if base in spellings else spellings[0]
            return CatalogueEntry(exact, source), reverse
    if len(sources) == 1:
        _NAMES[sources[0]]()  # a prefixed source whose package is missing says so
    raise ColorScaleError(_unknown_message(name, sources, reverse, base))


def load_colormap(name: str) -> mcolors.Colormap:
    """Return the matplotlib colormap called `name` (see :func:`find_colormap`)."""
    entry, reverse = find_colormap(name)
    return entry.load(reverse)


def _unknown_message(name: str, sources: list[str], reverse: bool, base: str) -> str:
    candidates: dict[str, CatalogueEntry] = {}
    for source in reversed(sources):  # earlier sources win a shared lower-case name
        for key, spellings in _index(source).items():
            candidates[key] = CatalogueEntry(spellings[0], source)
    close = difflib.get_close_matches(base.lower(), list(candidates), n=3, cutoff=0.6)
    suffix = "_r" if reverse else ""
    hints = [f"{candidates[k].name}{suffix} ({SOURCES[candidates[k].source][1]})" for k in close]
    hint = f"did you mean {', '.join(hints)}? " if hints else ""
    return f"unknown colormap {name!r}: {hint}`geodigitize colormaps` lists them"


# ----------------------------------------------------------------------------- listing


def _check_source(source: str) -> str:
    key = source.strip().lower()
    key = _PREFIXES.get(key, key)
    if key not in SOURCES:
        raise ColorScaleError(
            f"unknown colormap source {source!r}: use one of {', '.join(SOURCES)}"
        )
    return key


def _info(entry: CatalogueEntry) -> ColormapInfo:
    cmap = entry.load()
    rgb = cmap(np.linspace(0.0, 1.0, cmap.N), bytes=True)[:, :3]
    n_colors = int(np.unique(rgb, axis=0).shape[0])
    if entry.source == "gmt":
        discrete = _gmt_table(entry.name)[1]
    else:
        discrete = isinstance(cmap, mcolors.ListedColormap) and n_colors <= DISCRETE_MAX_COLORS
    kind = "discrete" if discrete else "continuous"
    return ColormapInfo(entry.name, entry.source, n_colors, kind)


def list_names(sources=tuple(SOURCES), *, continuous: bool = False) -> list[tuple[str, str]]:
    """(name, source) of every colormap of `sources`, in lookup order, names sorted.

    Cheaper than :func:`list_colormaps`: no colour is counted. With `continuous`, tables
    that are discrete by construction are left out (matplotlib's listed maps of at most
    :data:`DISCRETE_MAX_COLORS` colours, GMT's tables of flat classes).
    """
    out = []
    for src in sources:
        for spellings in _index(src).values():
            for name in spellings:
                if continuous and _discrete_by_construction(CatalogueEntry(name, src)):
                    continue
                out.append((name, src))
    return out


def _discrete_by_construction(entry: CatalogueEntry) -> bool:
    if entry.source == "gmt":
        return _gmt_table(entry.name)[1]
    cmap = entry.load()
    return isinstance(cmap, mcolors.ListedColormap) and cmap.N <= DISCRETE_MAX_COLORS


def list_colormaps(source: str | None = None, search: str | None = None) -> list[ColormapInfo]:
    """List the catalogue, source by source in lookup order, names sorted within each.

    A name that an earlier source also has is listed with its prefix (``cmo.gray``): that
    is how ``--cmap`` reaches it.

    Parameters
    ----------
    source : str, optional
        Only this source (a key of :data:`SOURCES` or its prefix).
    search : str, optional
        Only names containing this text, ignoring case.

    Returns
    -------
    list of ColormapInfo

    Raises
    ------
    ColorScaleError
        If `source` is not a known source, or its package is not installed.
    """
    wanted = list(SOURCES) if source is None else [_check_source(source)]
    needle = (search or "").strip().lower()
    out = []
    for src in wanted:
        if source is not None:
            _NAMES[src]()  # say which package is missing rather than list nothing
        earlier = list(SOURCES)[: list(SOURCES).index(src)]
        for key, spellings in _index(src).items():
            shadowed = any(key in _index(e) for e in earlier)
            for name in spellings:
                if needle in name.lower():
                    info = _info(CatalogueEntry(name, src))
                    if shadowed:
                        info = dataclasses.replace(info, name=f"{SOURCES[src][0]}.{name}")
                    out.append(info)
    return out
