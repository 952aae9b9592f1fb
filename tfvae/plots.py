"""Figures for a trained VAE: samples, reconstructions, latent space, training curves.

Every function draws on its own `matplotlib.figure.Figure` rendered by the Agg
canvas, so importing this module never selects a pyplot backend or touches
pyplot's global figure list (safe in notebooks, servers and threads). Each one
writes a PNG atomically (a temporary file in the same directory, then
`os.replace`), refuses to overwrite an existing file unless `overwrite=True`,
and returns the path it wrote.

How examples are drawn depends on the model's `data_shape`:
- (h, w) and (h, w, 1): greyscale images; (h, w, 3): RGB images;
  (h, w, c) for other c: the c channels side by side, in grey.
- (d,) with d a perfect square: a √d × √d image (e.g. 784 -> 28 × 28).
- other vectors (and higher ranks, flattened): line plots, or one heat-map row
  per example where many are shown at once.
Values in [0, 1] are drawn on a fixed grey scale; anything else (Gaussian or
count data) on a colour scale with a colour bar.
"""

import csv
import math
import os

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from tfvae import atomic
from tfvae.datasets import FASHION_MNIST_CLASSES  # noqa: F401  (plots' public name)
from tfvae.validation import check_positive_int


_BATCH = 256
_DPI = 100


# ---- public functions ----------------------------------------------------------


def save_sample_grid(model, path, n=64, seed=0, overwrite=False):
    """Saves a grid of `n` samples from the model: decoded means of z ~ p(z).

    Args:
        model: a `tfvae.VAE`.
        path: str or PathLike ending in ".png".
        n: int > 0, the number of samples (laid out in a near-square grid).
        seed: int or None, the seed of the prior draw: the same int draws the
            same grid, None a new one each call.
        overwrite: bool, replace an existing file.

    Returns:
        The path written, as a str.

    Example:
    ```python
    tfvae.plots.save_sample_grid(vae, "samples.png", n=64)
    ```
    """
    path = _check_path(path, overwrite)
    n = check_positive_int(n, "n")
    samples = _to_numpy(model.sample(n, seed=seed))
    kind = _kind(model.data_shape)
    if kind == "vector":
        fig = _figure(8, 0.6 + min(0.12 * n, 8))
        ax = fig.add_subplot()
        _draw_rows_heatmap(fig, ax, samples.reshape(n, -1))
        ax.set_ylabel("sample")
    else:
        cols = math.ceil(math.sqrt(n))
        rows = math.ceil(n / cols)
        tiles = _tiles(samples, model.data_shape)
        h, w = tiles.shape[1:3]
        scale = 8.0 / (cols * (w + 1))
        fig = _figure(max(4.0, cols * (w + 1) * scale + 1.4), rows * (h + 1) * scale + 0.7)
        ax = fig.add_subplot()
        _draw_mosaic(fig, ax, tiles, rows, cols)
    ax.set_title(f"{n} samples: mean of p(x|z), z ~ p(z) (seed={seed})")
    return _save(fig, path, overwrite)


def save_reconstructions(model, x, path, n=10, overwrite=False):
    """Saves the first `n` examples of `x` (top row) above their reconstructions.

    The reconstruction is the decoded mean at the posterior mean,
    `model.reconstruct(x)`.

    Args:
        model: a `tfvae.VAE`.
        x: array of shape (batch, *model.data_shape); the first `n` are shown.
        path: str or PathLike ending in ".png".
        n: int > 0, how many examples to show.
        overwrite: bool, replace an existing file.

    Returns:
        The path written, as a str.

    Example:
    ```python
    tfvae.plots.save_reconstructions(vae, x_test, "reconstructions.png")
    ```
    """
    path = _check_path(path, overwrite)
    n = check_positive_int(n, "n")
    x = _check_examples(model, x, "x")[:n]
    n = len(x)
    recon = _to_numpy(model.reconstruct(x))
    kind = _kind(model.data_shape)
    if kind == "vector":
        flat_x, flat_r = x.reshape(n, -1), recon.reshape(n, -1)
        lo, hi = _limits(np.concatenate([flat_x, flat_r]))
        fig = _figure(max(6.0, 1.6 * n), 3.6)
        axes = fig.subplots(2, n, sharex=True, sharey=True, squeeze=False)
        dims = np.arange(flat_x.shape[1])
        for i in range(n):
            # The original is repeated faintly under the reconstruction so the
            # two can be compared point by point.
            axes[1, i].plot(dims, flat_x[i], color="0.8", linewidth=0.8)
            for row, values, colour in ((0, flat_x, "C0"), (1, flat_r, "C1")):
                ax = axes[row, i]
                ax.plot(dims, values[i], color=colour, linewidth=0.9)
                ax.set_ylim(lo - 0.05 * (hi - lo + 1e-9), hi + 0.05 * (hi - lo + 1e-9))
                ax.tick_params(labelsize=7)
                if i:
                    ax.tick_params(labelleft=False)
            axes[0, i].set_title(f"#{i}", fontsize=9)
            axes[1, i].set_xlabel("dim", fontsize=8)
        axes[0, 0].set_ylabel("original")
        axes[1, 0].set_ylabel("reconstruction\n(original in grey)")
    else:
        tiles_x = _tiles(x, model.data_shape)
        tiles_r = _tiles(recon, model.data_shape)
        h, w = tiles_x.shape[1:3]
        scale = min(1.2 / h, 10.0 / (n * (w + 1)))
        width = max(4.0, n * (w + 1) * scale + 1.8)
        fig = _figure(width, 2 * (h + 1) * scale + 1.0)
        axes = fig.subplots(2, 1)
        vrange = _limits(np.concatenate([tiles_x, tiles_r]))
        for ax, tiles, label in ((axes[0], tiles_x, "original"),
                                 (axes[1], tiles_r, "reconstruction")):
            _draw_mosaic(fig, ax, tiles, 1, n, vrange=vrange, colorbar=ax is axes[1])
            ax.set_ylabel(label)
    fig.suptitle(f"Reconstructions of {n} examples (decoded mean at the posterior mean)")
    return _save(fig, path, overwrite)


def save_latent_manifold(model, path, n=20, extent=3.0, overwrite=False):
    """Saves the decoded means over an n × n grid of z in [-extent, extent]².

    Only for 2-d latent spaces. The axes are z₁ (right) and z₂ (up) in latent
    units, so the picture reads like a map of the prior's bulk.

    Args:
        model: a `tfvae.VAE` with `latent_dim == 2`.
        path: str or PathLike ending in ".png".
        n: int ≥ 2, grid points per axis.
        extent: float > 0, half-width of the grid.
        overwrite: bool, replace an existing file.

    Returns:
        The path written, as a str.

    Raises:
        ValueError: if the model's latent_dim is not 2.

    Example:
    ```python
    tfvae.plots.save_latent_manifold(vae, "manifold.png", n=20)
    ```
    """
    if model.latent_dim != 2:
        raise ValueError("save_latent_manifold needs a 2-d latent space; this model "
                         f"has latent_dim={model.latent_dim}. Use save_latent_scatter, "
                         "which projects onto 2 principal components.")
    path = _check_path(path, overwrite)
    n = check_positive_int(n, "n")
    if n < 2:
        raise ValueError(f"`n` must be at least 2 for a grid. Received: n={n}")
    if not (isinstance(extent, (int, float)) and math.isfinite(extent) and extent > 0):
        raise ValueError(f"`extent` must be a positive number. Received: extent={extent!r}")
    grid = np.linspace(-extent, extent, n, dtype="float32")
    # Row 0 of the picture is the top, so z₂ runs from +extent down.
    z = np.stack(np.meshgrid(grid, grid[::-1]), axis=-1).reshape(-1, 2)
    means = np.concatenate([_to_numpy(model.decode_mean(z[i:i + _BATCH]))
                            for i in range(0, len(z), _BATCH)])
    tiles = _tiles(means, model.data_shape, vector_as_image=True)
    h, w = tiles.shape[1:3]
    # Images touch (a continuous map); padded non-square vector tiles get a
    # blank line between them or their boundaries could not be seen.
    mosaic = _mosaic(tiles, n, n, pad=0 if _kind(model.data_shape) != "vector" else 1)
    half = (grid[1] - grid[0]) / 2
    fig = _figure(8.0, 8.0 * (h / w))
    ax = fig.add_subplot()
    vrange = _limits(tiles)
    image = ax.imshow(mosaic, extent=(-extent - half, extent + half, -extent - half,
                                      extent + half), **_imshow_kwargs(mosaic, vrange))
    if mosaic.ndim == 2 and vrange != (0.0, 1.0):
        fig.colorbar(image, ax=ax, shrink=0.8)
    ax.set_xlabel("z₁")
    ax.set_ylabel("z₂")
    ax.set_title(f"Latent manifold: mean of p(x|z) over a {n}×{n} grid of z")
    return _save(fig, path, overwrite)


def save_latent_scatter(model, x, labels, path, class_names=None, overwrite=False):
    """Saves a scatter plot of the posterior means E_q[z|x], coloured by label.

    Latent spaces of more than 2 dimensions are projected onto their first two
    principal components (the title says so and gives the variance kept).

    Args:
        model: a `tfvae.VAE`.
        x: array of shape (batch, *model.data_shape).
        labels: None, or an array of shape (batch,): integer classes (shown
            with a legend) or continuous values (shown with a colour bar).
        path: str or PathLike ending in ".png".
        class_names: optional sequence of names indexed by the integer label,
            e.g. `FASHION_MNIST_CLASSES`.
        overwrite: bool, replace an existing file.

    Returns:
        The path written, as a str.

    Example:
    ```python
    tfvae.plots.save_latent_scatter(vae, x_test, y_test, "latent.png",
                                    class_names=tfvae.plots.FASHION_MNIST_CLASSES)
    ```
    """
    path = _check_path(path, overwrite)
    x = _check_examples(model, x, "x")
    if labels is not None:
        labels = np.asarray(labels).reshape(-1)
        if len(labels) != len(x):
            raise ValueError(f"`labels` must have one entry per example: got "
                             f"{len(labels)} labels for {len(x)} examples.")
    means = np.concatenate([_to_numpy(model.encode(x[i:i + _BATCH]).mean())
                            for i in range(0, len(x), _BATCH)])
    title = f"Posterior means of {len(x)} examples"
    xlabel, ylabel = "z₁", "z₂"
    if model.latent_dim > 2:
        centred = means - means.mean(axis=0)
        _, singular, vt = np.linalg.svd(centred, full_matrices=False)
        kept = float((singular[:2] ** 2).sum() / max((singular ** 2).sum(), 1e-12))
        means = centred @ vt[:2].T
        title += (f"\nPCA of the {model.latent_dim}-d latent space onto 2 components "
                  f"({kept:.0%} of the variance)")
        xlabel, ylabel = "PC 1", "PC 2"
    elif model.latent_dim == 1:
        # A strip plot: z₁ across, a little vertical jitter so points separate.
        jitter = np.random.default_rng(0).uniform(-0.4, 0.4, len(means))
        means = np.stack([means[:, 0], jitter], axis=1)
        ylabel = "(jitter)"
    fig = _figure(7.5, 6.0)
    ax = fig.add_subplot()
    point_size = 6 if len(x) > 2000 else 12
    if labels is None:
        ax.scatter(means[:, 0], means[:, 1], s=point_size, alpha=0.7, linewidths=0)
    elif np.issubdtype(labels.dtype, np.integer) and len(np.unique(labels)) <= 20:
        classes = np.unique(labels)
        cmap = "tab10" if len(classes) <= 10 else "tab20"
        palette = colormaps[cmap]
        for i, c in enumerate(classes):
            keep = labels == c
            name = (class_names[int(c)] if class_names is not None
                    and 0 <= int(c) < len(class_names) else str(c))
            ax.scatter(means[keep, 0], means[keep, 1], s=point_size, alpha=0.7,
                       linewidths=0, color=palette(i % palette.N), label=name)
        legend = fig.legend(loc="outside right center", fontsize=8, markerscale=2.5,
                            title="class", frameon=False)
        for handle in legend.legend_handles:
            handle.set_alpha(1.0)
    else:
        points = ax.scatter(means[:, 0], means[:, 1], c=labels.astype("float64"),
                            s=point_size, alpha=0.8, linewidths=0, cmap="viridis")
        fig.colorbar(points, ax=ax, label="label")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if model.latent_dim == 1:
        ax.set_yticks([])
    # A figure title, not an axes title: the legend sits beside the axes and
    # a long axes title would run into it.
    fig.suptitle(title, fontsize=11)
    ax.grid(True, alpha=0.3)
    return _save(fig, path, overwrite)


def save_training_curves(history, path, overwrite=False):
    """Saves one panel per metric (loss, reconstruction, kl) against epoch.

    Validation curves (`val_loss`, ...) are drawn in the same panel when present.

    Args:
        history: a dict of lists as in `keras.callbacks.History.history`
            (what `model.fit` returns, `.history`), or the path of a CSV
            written by `keras.callbacks.CSVLogger`.
        path: str or PathLike ending in ".png".
        overwrite: bool, replace an existing file.

    Returns:
        The path written, as a str.

    Example:
    ```python
    history = vae.fit(dataset, epochs=10)
    tfvae.plots.save_training_curves(history.history, "curves.png")
    ```
    """
    path = _check_path(path, overwrite)
    history, epochs = _read_history(history)
    panels = [key for key in ("loss", "reconstruction", "kl")
              if key in history or f"val_{key}" in history]
    if not panels:
        raise ValueError("`history` has none of the metrics 'loss', 'reconstruction', "
                         f"'kl' (or their 'val_' versions). Found: {sorted(history)}")
    titles = {"loss": "loss (−ELBO with β·KL)",
              "reconstruction": "reconstruction E_q log p(x|z)",
              "kl": "KL(q(z|x) ‖ p(z))"}
    fig = _figure(4.2 * len(panels), 3.6)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, key in zip(axes, panels):
        for name, style in ((key, "-"), (f"val_{key}", "--")):
            if name in history:
                values = history[name]
                ax.plot(epochs[:len(values)], values, style, marker="o", markersize=3,
                        label="validation" if name.startswith("val_") else "training")
        ax.set_title(titles[key])
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        # Whole-number epochs only; MaxNLocator falls back to fractions on
        # short runs, so a few epochs get one tick each.
        if len(epochs) <= 12:
            ax.set_xticks(epochs)
        else:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlim(epochs[0] - 0.5, epochs[-1] + 0.5)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("Training curves (per-example means, nats)")
    return _save(fig, path, overwrite)


# ---- drawing helpers -----------------------------------------------------------


def _figure(width, height):
    fig = Figure(figsize=(width, height), layout="constrained", dpi=_DPI)
    FigureCanvasAgg(fig)
    return fig


def _kind(data_shape):
    if len(data_shape) in (2, 3):
        return "image"
    if len(data_shape) == 1 and math.isqrt(data_shape[0]) ** 2 == data_shape[0]:
        return "square_vector"
    return "vector"


def _tiles(x, data_shape, vector_as_image=False):
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


def _mosaic(tiles, rows, cols, pad=1):
    h, w = tiles.shape[1:3]
    shape = (rows * (h + pad) - pad, cols * (w + pad) - pad) + tiles.shape[3:]
    # NaN padding is drawn as the background colour (see _imshow_kwargs).
    mosaic = np.full(shape, np.nan if tiles.ndim == 3 else 1.0, dtype="float32")
    for i, tile in enumerate(tiles):
        r, c = divmod(i, cols)
        mosaic[r * (h + pad):r * (h + pad) + h, c * (w + pad):c * (w + pad) + w] = tile
    return mosaic


def _limits(values):
    finite = np.asarray(values)[np.isfinite(values)]
    if finite.size == 0:
        return (0.0, 1.0)
    lo, hi = float(finite.min()), float(finite.max())
    if lo >= -1e-6 and hi <= 1 + 1e-6:
        return (0.0, 1.0)
    if hi - lo < 1e-12:
        hi = lo + 1.0
    return (lo, hi)


def _imshow_kwargs(mosaic, vrange):
    if mosaic.ndim == 3:
        return {"interpolation": "nearest"}
    grey = vrange == (0.0, 1.0)
    cmap = colormaps["gray" if grey else "viridis"].with_extremes(
        bad="#d9d9d9" if grey else "white")
    return {"cmap": cmap, "vmin": vrange[0], "vmax": vrange[1], "interpolation": "nearest"}


def _draw_mosaic(fig, ax, tiles, rows, cols, vrange=None, colorbar=True):
    if tiles.ndim == 4:  # colour: scale into [0, 1] for imshow
        lo, hi = _limits(tiles)
        tiles = np.clip((tiles - lo) / (hi - lo), 0.0, 1.0)
    vrange = vrange or _limits(tiles)
    mosaic = _mosaic(tiles, rows, cols)
    image = ax.imshow(mosaic, **_imshow_kwargs(mosaic, vrange))
    ax.set_xticks([])
    ax.set_yticks([])
    if colorbar and mosaic.ndim == 2 and vrange != (0.0, 1.0):
        fig.colorbar(image, ax=ax, shrink=0.8)


def _draw_rows_heatmap(fig, ax, rows):
    vrange = _limits(rows)
    image = ax.imshow(rows, aspect="auto", **_imshow_kwargs(rows, vrange))
    fig.colorbar(image, ax=ax, shrink=0.8, label="value")
    ax.set_xlabel("dimension")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))


# ---- plumbing ------------------------------------------------------------------


def _to_numpy(tensor):
    import keras

    return np.asarray(keras.ops.convert_to_numpy(tensor), dtype="float32")


def _check_examples(model, x, name):
    x = np.asarray(x, dtype="float32")
    if x.ndim == len(model.data_shape):
        x = x[None]
    if tuple(x.shape[1:]) != tuple(model.data_shape) or len(x) == 0:
        raise ValueError(f"Expected `{name}` of shape (batch, "
                         f"{', '.join(map(str, model.data_shape))}); received shape {x.shape}.")
    return x


def _check_path(path, overwrite):
    path = os.fspath(path)
    if not path.lower().endswith(".png"):
        raise ValueError(f"The figures are PNG files: the path must end with '.png'. "
                         f"Received: path={path!r}")
    if not overwrite and os.path.exists(path):
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it.")
    return path


def _save(fig, path, overwrite):
    return atomic.write_file(path, lambda f: fig.savefig(f, format="png", dpi=_DPI),
                             mode="wb", overwrite=overwrite)


def _number(text):
    # CSVLogger writes "NA" for a metric missing from an epoch (e.g. val_* on
    # epochs without validation); a blank cell is a row cut short by a kill.
    try:
        return float(text)
    except (TypeError, ValueError):
        return np.nan


def _read_history(history):
    if isinstance(history, (str, os.PathLike)):
        with open(history, newline="") as f:
            rows = list(csv.DictReader(f))
        if not rows:
            raise ValueError(f"The history file {os.fspath(history)} holds no epochs.")
        columns = {key: [_number(r[key]) for r in rows] for key in rows[0]}
        # CSVLogger numbers epochs from 0; plots count them from 1.
        epochs = (np.asarray(columns.pop("epoch")).astype(int) + 1 if "epoch" in columns
                  else np.arange(1, len(rows) + 1))
        return columns, epochs
    if hasattr(history, "history") and isinstance(history.history, dict):
        history = history.history  # a keras History object
    if not isinstance(history, dict):
        raise ValueError("`history` must be a dict of lists (History.history) or the path "
                         f"of a CSVLogger file. Received: {type(history).__name__}")
    history = {k: [float(v) for v in np.ravel(values)] for k, values in history.items()}
    length = max((len(v) for v in history.values()), default=0)
    if length == 0:
        raise ValueError("`history` holds no epochs.")
    return history, np.arange(1, length + 1)
