"""Training curves: loss, reconstruction and KL per epoch, from a Keras History or a CSVLogger file.

Also importable from `tfvae.plots`, with the figures of a model. Drawing and
file handling are `tfvae.figures`'.
"""

import csv
import os

import numpy as np
from matplotlib.ticker import MaxNLocator

from tfvae import figures

_TITLES = {"loss": "loss (−ELBO with β·KL)",
           "reconstruction": "reconstruction E_q log p(x|z)",
           "kl": "KL(q(z|x) ‖ p(z))"}


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
    path = figures.check_path(path, overwrite)
    history, epochs = _read_history(history)
    panels = [key for key in _TITLES if key in history or f"val_{key}" in history]
    if not panels:
        raise ValueError("`history` has none of the metrics 'loss', 'reconstruction', "
                         f"'kl' (or their 'val_' versions). Found: {sorted(history)}")
    fig = figures.figure(4.2 * len(panels), 3.6)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, key in zip(axes, panels):
        for name, style in ((key, "-"), (f"val_{key}", "--")):
            if name in history:
                values = history[name]
                ax.plot(epochs[:len(values)], values, style, marker="o", markersize=3,
                        label="validation" if name.startswith("val_") else "training")
        ax.set_title(_TITLES[key])
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
    return figures.save(fig, path, overwrite)


def _read_history(history):
    """({metric: list of floats}, epochs numbered from 1) from a History, its dict or a CSV.

    Raises:
        ValueError: something else, or a history without epochs.
    """
    if isinstance(history, (str, os.PathLike)):
        return _read_csv(history)
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


def _read_csv(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise ValueError(f"The history file {os.fspath(path)} holds no epochs.")
    columns = {key: [_number(r[key]) for r in rows] for key in rows[0]}
    # CSVLogger numbers epochs from 0; plots count them from 1.
    epochs = (np.asarray(columns.pop("epoch")).astype(int) + 1 if "epoch" in columns
              else np.arange(1, len(rows) + 1))
    return columns, epochs


def _number(text):
    # CSVLogger writes "NA" for a metric missing from an epoch (e.g. val_* on
    # epochs without validation); a blank cell is a row cut short by a kill.
    try:
        return float(text)
    except (TypeError, ValueError):
        return np.nan
