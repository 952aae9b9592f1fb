"""Figures of a trained VAE: samples (by class too), reconstructions, manifold, latent scatter.

Each function draws its own figure and writes a PNG atomically, refusing to
overwrite an existing file unless `overwrite=True`; it returns the path
written. How examples are drawn (images, square vectors, other vectors) and
the file handling are `tfvae.figures`'. Training curves are
`tfvae.curves.save_training_curves`, importable from here too.
"""

import math

import numpy as np
from matplotlib import colormaps

from tfvae import figures, posteriors
from tfvae.curves import save_training_curves  # noqa: F401  (plots' public name)
from tfvae.datasets import FASHION_MNIST_CLASSES  # noqa: F401  (plots' public name)
from tfvae.layers import stateless_seed
from tfvae.validation import check_positive_int


_BATCH = 256


# ---- public functions ----------------------------------------------------------


def save_sample_grid(model, path, n=64, seed=0, overwrite=False, labels=None):
    """Saves a grid of `n` samples from the model: decoded means of z ~ p(z).

    Args:
        model: a `tfvae.VAE`.
        path: str or PathLike ending in ".png".
        n: int > 0, the number of samples (laid out in a near-square grid).
        seed: int or None, the seed of the prior draw: the same int draws the
            same grid, None a new one each call.
        overwrite: bool, replace an existing file.
        labels: a conditional model's labels, as for `model.sample` (one
            class id for every sample, or one per sample).

    Returns:
        The path written, as a str.

    Example:
    ```python
    tfvae.plots.save_sample_grid(vae, "samples.png", n=64)
    ```
    """
    path = figures.check_path(path, overwrite)
    n = check_positive_int(n, "n")
    samples = _to_numpy(model.sample(n, seed=seed, labels=labels))
    kind = figures.kind(model.data_shape)
    if kind == "vector":
        fig = figures.figure(8, 0.6 + min(0.12 * n, 8))
        ax = fig.add_subplot()
        figures.draw_rows_heatmap(fig, ax, samples.reshape(n, -1))
        ax.set_ylabel("sample")
    else:
        cols = math.ceil(math.sqrt(n))
        rows = math.ceil(n / cols)
        tiles = figures.example_tiles(samples, model.data_shape)
        h, w = tiles.shape[1:3]
        scale = 8.0 / (cols * (w + 1))
        fig = figures.figure(max(4.0, cols * (w + 1) * scale + 1.4), rows * (h + 1) * scale + 0.7)
        ax = fig.add_subplot()
        figures.draw_mosaic(fig, ax, tiles, rows, cols)
    given = "" if labels is None else f", {_label_text(model, labels)}"
    ax.set_title(f"{n} samples: mean of p(x|z), z ~ p(z) (seed={seed}{given})")
    return figures.save(fig, path, overwrite)


def save_class_grid(model, path, per_class=8, seed=0, overwrite=False):
    """Saves a class × sample grid of a class-conditional model: row c decodes class c.

    Column j decodes the same z_j ~ p(z) in every row, so a column shows what
    the label changes with z held fixed.

    Args:
        model: a `tfvae.VAE` built with `num_classes`.
        path: str or PathLike ending in ".png".
        per_class: int > 0, samples (columns) per class.
        seed: int or None, the seed of the prior draw.
        overwrite: bool, replace an existing file.

    Returns:
        The path written, as a str.

    Example:
    ```python
    tfvae.plots.save_class_grid(cvae, "classes.png", per_class=8)
    ```
    """
    condition = getattr(model, "condition", None)
    if condition is None or condition.num_classes is None:
        raise ValueError("save_class_grid needs a class-conditional VAE (num_classes=); use "
                         "save_sample_grid for this model.")
    path = figures.check_path(path, overwrite)
    per_class = check_positive_int(per_class, "per_class")
    classes = condition.num_classes
    z = _to_numpy(model.prior.distribution().sample(per_class, seed=stateless_seed(seed)))
    samples = _to_numpy(model.decode_mean(np.tile(z, (classes, 1)),
                                          labels=np.repeat(np.arange(classes), per_class)))
    tiles = figures.example_tiles(samples, model.data_shape, vector_as_image=True)
    h, w = tiles.shape[1:3]
    scale = min(0.5 / h, 8.0 / (per_class * (w + 1)))
    fig = figures.figure(max(4.0, per_class * (w + 1) * scale + 2.2),
                         classes * (h + 1) * scale + 0.8)
    ax = fig.add_subplot()
    figures.draw_mosaic(fig, ax, tiles, classes, per_class)
    ax.set_yticks([c * (h + 1) + h / 2 for c in range(classes)])
    ax.set_yticklabels([_label_text(model, c, prefix=False) for c in range(classes)],
                       fontsize=8)
    ax.set_title(f"mean of p(x|z, y) by class; z ~ p(z) shared down each column "
                 f"(seed={seed})", fontsize=9)
    return figures.save(fig, path, overwrite)


def _label_text(model, labels, prefix=True):
    """"class Trouser" for one class id of a model with class names, else a short text."""
    if np.ndim(labels) != 0:
        return "labels given"
    names = getattr(model, "class_names", None)
    text = names[int(labels)] if names else str(int(labels))
    return f"class {text}" if prefix else text


def save_reconstructions(model, x, path, n=10, overwrite=False, labels=None):
    """Saves the first `n` examples of `x` (top row) above their reconstructions.

    The reconstruction is the decoded mean at the posterior mean,
    `model.reconstruct(x)`.

    Args:
        model: a `tfvae.VAE`.
        x: array of shape (batch, *model.data_shape); the first `n` are shown.
        path: str or PathLike ending in ".png".
        n: int > 0, how many examples to show.
        overwrite: bool, replace an existing file.
        labels: a conditional model's labels of `x` (one per example).

    Returns:
        The path written, as a str.

    Example:
    ```python
    tfvae.plots.save_reconstructions(vae, x_test, "reconstructions.png")
    ```
    """
    path = figures.check_path(path, overwrite)
    n = check_positive_int(n, "n")
    x = _check_examples(model, x, "x")[:n]
    n = len(x)
    recon = _to_numpy(model.reconstruct(x, labels=None if labels is None else
                                        np.asarray(labels)[:n]))
    if figures.kind(model.data_shape) == "vector":
        fig = _vector_pairs(x.reshape(n, -1), recon.reshape(n, -1))
    else:
        fig = _image_pairs(figures.example_tiles(x, model.data_shape),
                           figures.example_tiles(recon, model.data_shape))
    fig.suptitle(f"Reconstructions of {n} examples (decoded mean at the latent code)")
    return figures.save(fig, path, overwrite)


def _vector_pairs(flat_x, flat_r):
    """A figure of n line plots of originals above n of their reconstructions."""
    n = len(flat_x)
    lo, hi = figures.value_range(np.concatenate([flat_x, flat_r]))
    fig = figures.figure(max(6.0, 1.6 * n), 3.6)
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
    return fig


def _image_pairs(tiles_x, tiles_r):
    """A figure of a row of original tiles above a row of their reconstructions."""
    n, h, w = tiles_x.shape[:3]
    scale = min(1.2 / h, 10.0 / (n * (w + 1)))
    width = max(4.0, n * (w + 1) * scale + 1.8)
    fig = figures.figure(width, 2 * (h + 1) * scale + 1.0)
    axes = fig.subplots(2, 1)
    vrange = figures.value_range(np.concatenate([tiles_x, tiles_r]))
    for ax, tiles, label in ((axes[0], tiles_x, "original"),
                             (axes[1], tiles_r, "reconstruction")):
        figures.draw_mosaic(fig, ax, tiles, 1, n, vrange=vrange, colorbar=ax is axes[1])
        ax.set_ylabel(label)
    return fig


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
    path = figures.check_path(path, overwrite)
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
    tiles = figures.example_tiles(means, model.data_shape, vector_as_image=True)
    h, w = tiles.shape[1:3]
    # Images touch (a continuous map); padded non-square vector tiles get a
    # blank line between them or their boundaries could not be seen.
    pad = 1 if figures.kind(model.data_shape) == "vector" else 0
    mosaic = figures.tile_mosaic(tiles, n, n, pad=pad)
    half = (grid[1] - grid[0]) / 2
    fig = figures.figure(8.0, 8.0 * (h / w))
    ax = fig.add_subplot()
    vrange = figures.value_range(tiles)
    image = ax.imshow(mosaic, extent=(-extent - half, extent + half, -extent - half,
                                      extent + half), **figures.imshow_style(mosaic, vrange))
    if mosaic.ndim == 2 and vrange != (0.0, 1.0):
        fig.colorbar(image, ax=ax, shrink=0.8)
    ax.set_xlabel("z₁")
    ax.set_ylabel("z₂")
    ax.set_title(f"Latent manifold: mean of p(x|z) over a {n}×{n} grid of z")
    return figures.save(fig, path, overwrite)


def save_latent_scatter(model, x, labels, path, class_names=None, overwrite=False):
    """Saves a scatter plot of the latent codes (`VAE.latent_code`), coloured by label.

    For the Gaussian posterior the codes are the posterior means E_q[z|x].

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
    path = figures.check_path(path, overwrite)
    x = _check_examples(model, x, "x")
    if labels is not None:
        labels = np.asarray(labels).reshape(-1)
        if len(labels) != len(x):
            raise ValueError(f"`labels` must have one entry per example: got "
                             f"{len(labels)} labels for {len(x)} examples.")
    # A conditional model's posterior is q(z|x, y): it is encoded with the labels.
    given = labels if getattr(model, "condition", None) is not None else None
    means = np.concatenate([_to_numpy(model.latent_code(
        x[i:i + _BATCH], labels=None if given is None else given[i:i + _BATCH]))
        for i in range(0, len(x), _BATCH)])
    points, note, (xlabel, ylabel) = _plane(means)
    fig = figures.figure(7.5, 6.0)
    ax = fig.add_subplot()
    _scatter(fig, ax, points, labels, class_names)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if model.latent_dim == 1:
        ax.set_yticks([])
    # A figure title, not an axes title: the legend sits beside the axes and
    # a long axes title would run into it.
    what = "Posterior means" if isinstance(model.posterior, posteriors.DiagonalGaussian) \
        else "Latent codes (the flow at ε = 0)"
    fig.suptitle(f"{what} of {len(x)} examples" + note, fontsize=11)
    ax.grid(True, alpha=0.3)
    return figures.save(fig, path, overwrite)


def _plane(means):
    """(2-d points, a title note, axis labels) for posterior means of any latent size.

    More than 2 dimensions: the first two principal components; one: a strip
    plot, z₁ across with a little vertical jitter so points separate.
    """
    latent_dim = means.shape[1]
    if latent_dim > 2:
        centred = means - means.mean(axis=0)
        _, singular, vt = np.linalg.svd(centred, full_matrices=False)
        kept = float((singular[:2] ** 2).sum() / max((singular ** 2).sum(), 1e-12))
        return (centred @ vt[:2].T, f"\nPCA of the {latent_dim}-d latent space onto 2 "
                f"components ({kept:.0%} of the variance)", ("PC 1", "PC 2"))
    if latent_dim == 1:
        jitter = np.random.default_rng(0).uniform(-0.4, 0.4, len(means))
        return np.stack([means[:, 0], jitter], axis=1), "", ("z₁", "(jitter)")
    return means, "", ("z₁", "z₂")


def _scatter(fig, ax, points, labels, class_names):
    """Points coloured by class (a legend) or by a continuous label (a colour bar)."""
    point_size = 6 if len(points) > 2000 else 12
    if labels is None:
        ax.scatter(points[:, 0], points[:, 1], s=point_size, alpha=0.7, linewidths=0)
    elif np.issubdtype(labels.dtype, np.integer) and len(np.unique(labels)) <= 20:
        classes = np.unique(labels)
        palette = colormaps["tab10" if len(classes) <= 10 else "tab20"]
        for i, c in enumerate(classes):
            keep = labels == c
            name = (class_names[int(c)] if class_names is not None
                    and 0 <= int(c) < len(class_names) else str(c))
            ax.scatter(points[keep, 0], points[keep, 1], s=point_size, alpha=0.7,
                       linewidths=0, color=palette(i % palette.N), label=name)
        legend = fig.legend(loc="outside right center", fontsize=8, markerscale=2.5,
                            title="class", frameon=False)
        for handle in legend.legend_handles:
            handle.set_alpha(1.0)
    else:
        coloured = ax.scatter(points[:, 0], points[:, 1], c=labels.astype("float64"),
                              s=point_size, alpha=0.8, linewidths=0, cmap="viridis")
        fig.colorbar(coloured, ax=ax, label="label")


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
