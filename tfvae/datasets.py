"""Image data for VAEs: the embedded default, MNIST, Fashion-MNIST, and tf.data pipelines.

Full datasets are looked for on disk first (`search_paths`) and downloaded only
when a network answers: training machines are often offline, and a hung
download is worse than a clear error.
"""

import gzip
import os
import socket
from pathlib import Path

import numpy as np
import tensorflow as tf

DATASETS = ("default", "mnist", "fashion_mnist")
SPLITS = ("train", "test")

# Debian's `dataset-fashion-mnist` package; tests monkeypatch this to hide it.
SYSTEM_DIRS = {"fashion_mnist": ("/usr/share/datasets/fashion-mnist",)}

_IDX_NAMES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
# Type codes from the IDX specification; multi-byte values are big-endian.
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_NPZ_NAMES = {"mnist": ("mnist.npz",), "fashion_mnist": ("fashion_mnist.npz", "fashion-mnist.npz")}
_SUBDIRS = {"mnist": ("mnist",), "fashion_mnist": ("fashion_mnist", "fashion-mnist")}


def read_idx(path):
    """Reads one IDX file (the MNIST format), gzip-compressed or raw.

    Args:
        path: str or `Path`. Gzip is detected from the content, not the name.

    Returns:
        A numpy array with the dtype and shape stored in the file header.

    Raises:
        ValueError: a malformed or truncated file; the message names it.

    Example:

    >>> x = read_idx("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")
    >>> x.shape, x.dtype
    ((10000, 28, 28), dtype('uint8'))
    """
    path = Path(path)
    raw = path.read_bytes()
    try:
        data = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    except (OSError, EOFError) as e:
        raise ValueError(f"{path} is not a readable gzip file: {e}") from None
    ndim = data[3] if len(data) >= 4 else 0
    header = 4 + 4 * ndim
    if data[:2] != b"\x00\x00" or ndim == 0 or data[2] not in _IDX_DTYPES or len(data) < header:
        raise ValueError(f"{path} is not an IDX file: bad magic number or truncated header "
                         f"(starts {data[:4].hex()!r}).")
    shape = tuple(int(d) for d in np.frombuffer(data, ">u4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    expected = header + int(np.prod(shape)) * dtype.itemsize
    if len(data) != expected:
        raise ValueError(f"{path} is corrupt: dimensions {shape} need {expected} bytes, "
                         f"the file holds {len(data)}.")
    # Native byte order so TensorFlow and numpy ops don't pay for swapping later.
    return np.frombuffer(data, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def check_array(x, name="x"):
    """Validates array-like data before it reaches TensorFlow; returns `np.asarray(x)`.

    Args:
        x: array-like of numbers (or booleans).
        name: str, how the array is called in error messages.

    Raises:
        ValueError: non-numeric dtype, empty array, or NaN/Inf values.
    """
    x = np.asarray(x)
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_):
        raise ValueError(f"`{name}` must hold numbers; received dtype {x.dtype}.")
    if x.size == 0:
        raise ValueError(f"`{name}` is empty (shape {x.shape}): there is no data in it.")
    bad = int(x.size - np.count_nonzero(np.isfinite(x)))
    if bad:
        raise ValueError(f"`{name}` contains {bad} non-finite (NaN or Inf) value(s) "
                         f"out of {x.size}; clean the data first.")
    return x


def search_paths(name, path=None):
    """The places `load` looks for a full dataset, in the order it looks.

    Args:
        name: "mnist" or "fashion_mnist".
        path: optional user-given folder or `.npz` file; searched first.

    Returns:
        A list of `Path`s, folders (of IDX files or an `.npz`) or `.npz` files,
        existing or not.
    """
    _check_name(name)
    if name == "default":
        raise ValueError("The 'default' dataset is embedded in the package; it has no search path.")
    paths = [Path(path).expanduser()] if path is not None else []
    env = os.environ.get("TFVAE_DATA_DIR")
    if env:
        root = Path(env).expanduser()
        # Subfolders first: IDX names don't say which dataset a file holds, so
        # a dedicated folder is a surer match than loose files in the root.
        paths += [root / sub for sub in _SUBDIRS[name]] + [root]
    # Same place Keras' `get_file` caches to (KERAS_HOME overrides ~/.keras).
    keras_dir = Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras") / "datasets"
    paths.append(keras_dir / ("mnist.npz" if name == "mnist" else "fashion-mnist"))
    paths += [Path(p) for p in SYSTEM_DIRS.get(name, ())]
    return paths


def has_network(host="storage.googleapis.com", port=443, timeout=2.0):
    """Whether `host:port` accepts a TCP connection within `timeout` seconds."""
    try:
        socket.create_connection((host, port), timeout=timeout).close()
        return True
    except OSError:
        return False


def load(name="default", split="train", path=None, labels=False, scale=True):
    """Loads one split of a 28x28 grey-scale image dataset.

    Args:
        name: one of `DATASETS`. "default" is a 4000/1000-image Fashion-MNIST
            subset shipped in the package; the others are found on disk (see
            `search_paths`), or downloaded by Keras if a network answers.
        split: "train" or "test".
        path: optional folder of IDX files (standard names, `.gz` or raw) or a
            Keras-style `.npz` (`x_train`, `y_train`, `x_test`, `y_test`).
            If it exists it is the only place used: a wrong folder should
            fail, not silently load other data.
        labels: bool, also return the labels.
        scale: bool, return float32 in [0, 1]; otherwise the stored uint8.

    Returns:
        x of shape (n, 28, 28), or `(x, y)` with int64 `y` of shape (n,).

    Raises:
        ValueError: unknown name or split, or malformed data files.
        FileNotFoundError: `path` is missing, or the data is nowhere to be
            found (the message lists the places searched).

    Example:

    >>> x, y = load("default", split="test", labels=True)
    >>> x.shape, x.dtype, y.dtype
    ((1000, 28, 28), dtype('float32'), dtype('int64'))
    """
    _check_name(name)
    if split not in SPLITS:
        raise ValueError(f"Unrecognized split={split!r}. Supported splits are: {list(SPLITS)}.")
    if name == "default":
        with np.load(Path(__file__).parent / "data" / "fashion_mnist_small.npz") as f:
            x, y = f[f"x_{split}"], f[f"y_{split}"]
    else:
        x, y = _find(name, split, path, labels)
    x = np.asarray(x)
    if x.dtype != np.uint8 or x.ndim != 3 or x.shape[1:] != (28, 28):
        raise ValueError(f"Expected {name!r} images as uint8 of shape (n, 28, 28); "
                         f"found {x.dtype} of shape {x.shape}.")
    if scale:
        x = x.astype("float32") / 255.0
    y = np.asarray(y).astype("int64").reshape(-1) if labels else None
    if labels and len(y) != len(x):
        raise ValueError(f"{name!r} {split} split has {len(x)} images but {len(y)} labels.")
    return (x, y) if labels else x


def _check_name(name):
    if name not in DATASETS:
        raise ValueError(f"Unknown dataset {name!r}. Available datasets are: {list(DATASETS)}.")


def _find(name, split, path, labels):
    if path is not None and not Path(path).expanduser().exists():
        raise FileNotFoundError(f"Data path {str(path)!r} does not exist.")
    candidates = [Path(path).expanduser()] if path is not None else search_paths(name)
    for candidate in candidates:
        found = _read_candidate(candidate, name, split, labels)
        if found is not None:
            return found
    if path is not None:
        raise FileNotFoundError(
            f"{path} holds no {split} data for {name!r}: expected IDX files "
            f"{' and '.join(_IDX_NAMES[split])} (optionally .gz), or a .npz with "
            f"'x_{split}'" + (f" and 'y_{split}'." if labels else "."))
    if has_network():
        import keras  # Lazy: importing Keras costs seconds and is only needed here.

        (x_train, y_train), (x_test, y_test) = getattr(keras.datasets, name).load_data()
        return (x_train, y_train) if split == "train" else (x_test, y_test)
    apt = "`apt-get install dataset-fashion-mnist` (Debian/Ubuntu), or " * (name == "fashion_mnist")
    raise FileNotFoundError(
        f"Could not find the {name!r} dataset ({split} split) and no network is reachable "
        f"for a download. Searched, in order:\n" + "".join(f"  - {p}\n" for p in candidates)
        + f"To get the data: {apt}put the four IDX files (train-images-idx3-ubyte.gz, ...) "
        "or a Keras-style .npz in a folder and set TFVAE_DATA_DIR to it (or pass `path=`); "
        "or run once with a network so Keras caches it. load('default') works offline.")


def _read_candidate(candidate, name, split, labels):
    """(x, y) from one search location, or None when it has no usable data."""
    if candidate.is_file():
        return _read_npz(candidate, split, labels) if candidate.suffix == ".npz" else None
    if not candidate.is_dir():
        return None
    files = [next((candidate / (stem + ext) for ext in (".gz", "")
                   if (candidate / (stem + ext)).is_file()), None)
             for stem in _IDX_NAMES[split][: 2 if labels else 1]]
    if all(files):
        arrays = [read_idx(f) for f in files]
        return arrays[0], (arrays[1] if labels else None)
    npzs = [candidate / npz for npz in _NPZ_NAMES[name] if (candidate / npz).is_file()]
    return next(filter(None, (_read_npz(npz, split, labels) for npz in npzs)), None)


def _read_npz(path, split, labels):
    with np.load(path, allow_pickle=False) as f:
        keys = [f"x_{split}"] + ([f"y_{split}"] if labels else [])
        if not all(k in f.files for k in keys):
            return None
        return f[keys[0]], (f[keys[1]] if labels else None)


def binarize(x, method="sample", seed=None):
    """Turns intensities in [0, 1] into 0/1 pixels once ("static binarization").

    Args:
        x: array-like in [0, 1].
        method: "sample" draws each pixel from Bernoulli(x) — the usual choice
            for Bernoulli-likelihood VAEs; "threshold" keeps pixels > 0.5.
        seed: int or None, seeds the numpy Generator used by "sample".

    Returns:
        float32 array of x's shape holding 0.0 and 1.0.

    Raises:
        ValueError: unknown method, or x empty, non-finite or outside [0, 1].

    Example:

    >>> binarize([[0.2, 0.9]], method="threshold")
    array([[0., 1.]], dtype=float32)
    """
    if method not in ("sample", "threshold"):
        raise ValueError(f"Unknown binarization method {method!r}; use 'sample' or 'threshold'.")
    x = check_array(x).astype("float32")
    _check_unit_range(x)
    if method == "threshold":
        return (x > 0.5).astype("float32")
    return (np.random.default_rng(seed).random(x.shape, dtype=np.float32) < x).astype("float32")


def _check_unit_range(x):
    if x.min() < 0 or x.max() > 1:
        raise ValueError(f"`x` must lie in [0, 1] to be binarized; its values span "
                         f"[{x.min()}, {x.max()}]. Divide uint8 images by 255 first.")


def make_dataset(x, batch_size=128, shuffle=True, binarization=None, seed=None, cache=True,
                 prefetch=True, drop_remainder=False, shuffle_buffer=None):
    """Builds a `tf.data.Dataset` of float32 batches of `x` (no labels) for `VAE.fit`.

    Args:
        x: array-like of examples, e.g. (n, 28, 28) in [0, 1].
        batch_size: int > 0.
        shuffle: bool, reshuffle every epoch.
        binarization: None, "static" (sample 0/1 pixels once, with numpy), or
            "dynamic" (a fresh Bernoulli sample of every batch each epoch,
            which regularises Bernoulli VAEs better than a fixed sample).
        seed: int or None, makes shuffling and binarization reproducible.
        cache, prefetch, drop_remainder: bools for the `tf.data` steps of
            the same names (prefetch uses `tf.data.AUTOTUNE`).
        shuffle_buffer: int or None; None shuffles over the whole of `x`.

    Returns:
        A `tf.data.Dataset` yielding float32 tensors of shape (batch, ...).

    Raises:
        ValueError: bad batch size or binarization, bad x (see `check_array`),
            or x outside [0, 1] when binarizing.

    Example:

    >>> ds = make_dataset(load("default"), batch_size=64, binarization="dynamic", seed=0)
    >>> next(iter(ds)).shape
    TensorShape([64, 28, 28])
    """
    if not isinstance(batch_size, (int, np.integer)) or batch_size <= 0:
        raise ValueError(f"`batch_size` must be a positive integer; received {batch_size!r}.")
    if binarization not in (None, "static", "dynamic"):
        raise ValueError(f"Unknown binarization={binarization!r}; use None/'static'/'dynamic'.")
    x = check_array(x).astype("float32")
    if x.ndim < 1:
        raise ValueError("`x` must have a batch dimension; received a scalar.")
    if binarization == "static":
        x = binarize(x, seed=seed)
    elif binarization == "dynamic":
        _check_unit_range(x)
    ds = tf.data.Dataset.from_tensor_slices(x)
    if cache:
        ds = ds.cache()
    if shuffle:
        ds = ds.shuffle(shuffle_buffer or len(x), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    if binarization == "dynamic":
        # Random ops in a tf.data map replay the same numbers every epoch once
        # any seed (op or global) is set; a re-randomized seed stream gives a
        # new sample per epoch that is still reproducible for a given `seed`.
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        ds = tf.data.Dataset.zip(ds, seeds).map(
            lambda batch, s: tf.cast(tf.random.stateless_uniform(tf.shape(batch), s) < batch,
                                     tf.float32),
            num_parallel_calls=tf.data.AUTOTUNE)
    if prefetch:
        ds = ds.prefetch(tf.data.AUTOTUNE)
    return ds


def load_dataset(name="default", split="train", batch_size=128, path=None, **kwargs):
    """`load` then `make_dataset`: a ready-to-fit pipeline in one call.

    Args:
        name, split, path: as in `load`; batch_size and **kwargs: as in
            `make_dataset` (shuffle, binarization, seed, ...).

    Returns:
        A `tf.data.Dataset` of float32 batches in [0, 1].

    Example:

    >>> vae.fit(load_dataset("default", binarization="dynamic"), epochs=5)
    """
    return make_dataset(load(name, split=split, path=path), batch_size=batch_size, **kwargs)
