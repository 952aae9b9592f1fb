"""How tfvae draws: Agg figures, examples as tiles and mosaics, colour scales, PNG files.

The shared machinery of `tfvae.plots` (figures of a model) and
`tfvae.curves` (figures of a training history). Every figure is its own
`matplotlib.figure.Figure` rendered by the Agg canvas, so importing this
module never selects a pyplot backend or touches pyplot's global figure list
(safe in notebooks, servers and threads). `save` writes a PNG atomically
(staged beside the target, then renamed into place by `tfvae.atomic`),
refuses to overwrite an existing file unless `overwrite=True`, and returns
the path.

How examples are drawn depends on the model's `data_shape`:
- (h, w) and (h, w, 1): greyscale images; (h, w, 3): RGB images;
  (h, w, c) for other c: the c channels side by side, in grey.
- (d,) with d a perfect square: a √d × √d image (e.g. 784 -> 28 × 28).
- other vectors (and higher ranks, flattened): line plots, or one heat-map row
  per example where many are shown at once.
Values in [0, 1] are drawn on a fixed grey scale; anything else (Gaussian or
count data) on a colour scale with a colour bar.
"""

import math
import os

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from tfvae import atomic

DPI = 100


# ---- figures and files -----------------------------------------------------------


def figure(width, height):
    """A constrained-layout `Figure` of `width` × `height` inches on its own Agg canvas."""
    fig = Figure(figsize=(width, height), layout="constrained", dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def check_path(path, overwrite):
    """Returns `path` as a str ending in ".png", free unless `overwrite`; else raises."""
    path = os.fspath(path)
    if not path.lower().endswith(".png"):
        raise ValueError(f"The figures are PNG files: the path must end with '.png'. "
                         f"Received: path={path!r}")
    if not overwrite and os.path.exists(path):
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it.")
    return path


def save(fig, path, overwrite):
    """Writes `fig` to `path` as a PNG, atomically; returns the path."""
    return atomic.write_file(path, lambda f: fig.savefig(f, format="png", dpi=DPI),
                             mode="wb", overwrite=overwrite)


# ---- examples as pictures ----------------------------------------------------------


def kind(data_shape):
    """"image", "square_vector" (drawn as an image) or "vector" (drawn as lines)."""
    if len(data_shape) in (2, 3):
        return "image"
    if len(data_shape) == 1 and math.isqrt(data_shape[0]) ** 2 == data_shape[0]:
        return "square_vector"
    return "vector"


def example_tiles(x, data_shape, vector_as_image=False):
    """Examples -> (n, h, w) greyscale or (n, h, w, 3) colour tiles."""
    x = np.asarray(x, dtype="float32").reshape((-1,) + tuple(data_shape))
    n = len(x)
    if len(data_shape) == 2:
        return x
    if len(data_shape) == 3:
        c = data_shape[2]
        if c == 1:
            return x[..., 0]
        if c == 3:
            return x
        # Channels side by side: (n, h, w, c) -> (n, h, c·w).
        return np.concatenate([x[..., i] for i in range(c)], axis=2)
    flat = x.reshape(n, -1)
    d = flat.shape[1]
    side = math.isqrt(d)
    if side * side == d:
        return flat.reshape(n, side, side)
    if not vector_as_image:
        raise ValueError(f"cannot draw vectors of size {d} as images")
    # Manifold of non-square vectors: a near-square tile padded with NaN (blank).
    cols = math.ceil(math.sqrt(d))
    rows = math.ceil(d / cols)
    padded = np.full((n, rows * cols), np.nan, dtype="float32")
    padded[:, :d] = flat
    return padded.reshape(n, rows, cols)


def tile_mosaic(tiles, rows, cols, pad=1):
    """One image of `tiles` laid out in `rows` × `cols`, `pad` blank pixels apart."""
    h, w = tiles.shape[1:3]
    shape = (rows * (h + pad) - pad, cols * (w + pad) - pad) + tiles.shape[3:]
    # NaN padding is drawn as the background colour (see imshow_style).
    mosaic = np.full(shape, np.nan if tiles.ndim == 3 else 1.0, dtype="float32")
    for i, tile in enumerate(tiles):
        r, c = divmod(i, cols)
        mosaic[r * (h + pad):r * (h + pad) + h, c * (w + pad):c * (w + pad) + w] = tile
    return mosaic


def value_range(values):
    """(0, 1) for values inside it (or none finite), else their finite (min, max)."""
    finite = np.asarray(values)[np.isfinite(values)]
    if finite.size == 0:
        return (0.0, 1.0)
    lo, hi = float(finite.min()), float(finite.max())
    if lo >= -1e-6 and hi <= 1 + 1e-6:
        return (0.0, 1.0)
    if hi - lo < 1e-12:
        hi = lo + 1.0
    return (lo, hi)


def imshow_style(mosaic, vrange):
    """`imshow` keywords: grey for [0, 1], viridis otherwise, NaN as the background."""
    if mosaic.ndim == 3:
        return {"interpolation": "nearest"}
    grey = vrange == (0.0, 1.0)
    cmap = colormaps["gray" if grey else "viridis"].with_extremes(
        bad="#d9d9d9" if grey else "white")
    return {"cmap": cmap, "vmin": vrange[0], "vmax": vrange[1], "interpolation": "nearest"}


def draw_mosaic(fig, ax, tiles, rows, cols, vrange=None, colorbar=True):
    """Draws `tiles` as one mosaic on `ax`, with a colour bar off the grey scale."""
    if tiles.ndim == 4:  # colour: scale into [0, 1] for imshow
        lo, hi = value_range(tiles)
        tiles = np.clip((tiles - lo) / (hi - lo), 0.0, 1.0)
    vrange = vrange or value_range(tiles)
    mosaic = tile_mosaic(tiles, rows, cols)
    image = ax.imshow(mosaic, **imshow_style(mosaic, vrange))
    ax.set_xticks([])
    ax.set_yticks([])
    if colorbar and mosaic.ndim == 2 and vrange != (0.0, 1.0):
        fig.colorbar(image, ax=ax, shrink=0.8)


def draw_rows_heatmap(fig, ax, rows):
    """Draws vectors as a heat map, one row each, with a colour bar."""
    vrange = value_range(rows)
    image = ax.imshow(rows, aspect="auto", **imshow_style(rows, vrange))
    fig.colorbar(image, ax=ax, shrink=0.8, label="value")
    ax.set_xlabel("dimension")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
