"""The seed post's method, as written there, with its typos fixed (the baseline).

Read the image, query a KD-tree of 10 000 colormap colours for every pixel, mask pixels
farther than 70 (RGB units), keep pixels whose forward-difference gradient is zero, run
scikit-learn's DBSCAN over their positions, and for each cluster (a Python loop) take the
flat pixel nearest its centroid. Fixed: ``ndimage.read`` (Pillow reads the file),
``scikit.cluster``, ``dxy``, ``fit(xx, yy)``, ``xrange``, ``xtrim``; ``eps=0.05`` would
make every pixel its own cluster, so ``eps=1`` (4-neighbours, as geodigitize's default).
The only liberty: ``xx[mask]`` is computed once, not once per cluster (kinder to the
seed); the loop still scans every flat pixel for each cluster, O(pixels x clusters).

Known differences from geodigitize's points (documented in the README, see speed.py):
the seed's flat test looks at the right and lower neighbours only and drops the last
row and column; its representative is the flat pixel nearest the centroid, which may
belong to another cluster; and its DBSCAN does not separate values (harmless here:
4-adjacent flat pixels always share their value).
"""

from __future__ import annotations

import numpy as np
from matplotlib import colormaps
from matplotlib import colors as mcolors
from matplotlib.cm import ScalarMappable
from PIL import Image
from scipy.spatial import cKDTree
from sklearn.cluster import DBSCAN

Image.MAX_IMAGE_PIXELS = None


def seed_points(path, cmap="jet_r", vmin=0.0, vmax=0.7, samples=10_000, max_distance=70.0, eps=1.0):
    """Return (col, row, value) of the seed's kept points, pixel-centre convention."""
    im = np.asarray(Image.open(path).convert("RGB"))
    scalar_map = ScalarMappable(norm=mcolors.Normalize(vmin=vmin, vmax=vmax), cmap=colormaps[cmap])
    value_array = np.linspace(vmin, vmax, samples)
    color_array = np.asarray(scalar_map.to_rgba(value_array)) * 255
    tree = cKDTree(color_array[:, :-1])
    d, index = tree.query(im)  # one query per pixel
    data = np.ma.array(value_array[index], mask=(d > max_distance))

    dx = np.abs(np.diff(data[:, :-1], axis=0))
    dy = np.abs(np.diff(data[:-1, :], axis=1))
    dxdy = (dx + dy) / 2.0
    mask = np.ma.filled(dxdy < 1e-12, False)

    xcoords = np.arange(data.shape[1] - 1)
    ycoords = np.arange(data.shape[0] - 1)
    xx, yy = np.meshgrid(xcoords, ycoords)
    xm, ym = xx[mask], yy[mask]
    db = DBSCAN(eps=eps, min_samples=1).fit(np.column_stack([xm, ym]))
    labels = db.labels_
    num_clusters = len(set(labels)) - (1 if -1 in labels else 0)

    tree = cKDTree(np.vstack([xm, ym]).T)
    x = np.zeros(num_clusters, dtype=int)
    y = np.zeros(num_clusters, dtype=int)
    for i in range(num_clusters):
        xc = xm[labels == i]
        yc = ym[labels == i]
        centroid = (xc.sum() / xc.size, yc.sum() / yc.size)
        _, idx = tree.query(centroid)
        x[i], y[i] = tree.data[idx]
    return x + 0.5, y + 0.5, np.ma.filled(data, np.nan)[y, x]
