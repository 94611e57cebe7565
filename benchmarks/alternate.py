"""Two checkouts of geodigitize, alternated: issue 13's runs of each, in fresh processes,
with the read of the image measured before each pair (this machine's speed drifts, so
each ratio is taken against a read made moments before it).

``python benchmarks/alternate.py OLD_ROOT NEW_ROOT [--mp 100] [--pairs 4] [--all]``

`OLD_ROOT` and `NEW_ROOT` are source trees (``git worktree add /tmp/old e0f19e1``): each
run imports the package from its tree. ``--all`` runs the all-options command of
``every_option.py`` instead of the default one. Prints each run's seconds, its ratio to the
read and its peak memory, then each tree's median ratio.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from _figures import make_figure, region
from _measure import measure, read_png_body, run_body
from every_option import ALL_OPTIONS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path)
    parser.add_argument("--mp", type=float, default=100.0)
    parser.add_argument("--pairs", type=int, default=4)
    parser.add_argument("--all", action="store_true", help="the all-options run")
    args = parser.parse_args()
    png, gcps = make_figure(args.mp)
    trees = {"old": args.old.resolve(), "new": args.new.resolve()}
    ratios: dict[str, list[float]] = {name: [] for name in trees}
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(args.pairs):
            read = measure(read_png_body(str(png)))["seconds"]
            for name, root in trees.items():
                out = Path(tmp) / f"{name}{k}"
                if args.all:
                    body = run_body(
                        png, gcps, out, "auto", preview=str(out) + ".png", **ALL_OPTIONS
                    )
                else:
                    body = run_body(png, gcps, out, region(png))
                # the tree's package first on the path (the child's own path comes after)
                got = measure(body, setup=f"import sys; sys.path.insert(0, {str(root)!r})")
                ratios[name].append(got["seconds"] / read)
                print(
                    f"{name:4} {got['seconds']:6.2f} s {got['seconds'] / read:6.2f}x read "
                    f"({read:.2f} s)  peak {got['peak_bytes'] / 2**20:5.0f} MB",
                    flush=True,
                )
    for name, values in ratios.items():
        print(f"{name}: median {statistics.median(values):.2f}x read over {len(values)} runs")


if __name__ == "__main__":
    main()
