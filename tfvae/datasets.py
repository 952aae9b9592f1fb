"""One loader for image data: dataset names, .npy/.npz files, IDX folders, folders of images.

`load(name_or_path, split)` returns numpy arrays under one scaling rule
(`to_unit_interval`); the files themselves are read by `tfvae.array_files`
(IDX, .npy, .npz) and `tfvae.image_folders`. The tf.data pipeline that feeds
`VAE.fit` is in `tfvae.pipeline`; its `make_dataset` and `binarize` are also
importable from here, and `load_dataset` joins the two. Full datasets are looked for on disk first
(`search_paths`) and downloaded only when a network answers: training machines
are often offline, and a hung download is worse than a clear error. Nothing
here imports TensorFlow at module level, so the command line can offer its
choices without it.
"""

import os
import socket
from pathlib import Path

import numpy as np

from tfvae import image_folders
from tfvae.array_files import read_array_file, read_idx

DATASETS = ("default", "mnist", "fashion_mnist")
SPLITS = ("train", "test")
FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)

# Debian's `dataset-fashion-mnist` package; tests monkeypatch this to hide it.
SYSTEM_DIRS = {"fashion_mnist": ("/usr/share/datasets/fashion-mnist",)}

_IDX_NAMES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_NPZ_NAMES = {"mnist": ("mnist.npz",), "fashion_mnist": ("fashion_mnist.npz", "fashion-mnist.npz")}
_SUBDIRS = {"mnist": ("mnist",), "fashion_mnist": ("fashion_mnist", "fashion-mnist")}
# Re-exported from tfvae.pipeline on first use: importing it imports TensorFlow.
_PIPELINE = ("binarize", "make_dataset", "check_array", "BINARIZATIONS")


def __getattr__(name):
    if name in _PIPELINE:
        from tfvae import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module 'tfvae.datasets' has no attribute {name!r}")


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


def load(name_or_path="default", split="train", labels=False, path=None, scale=True,
         image_size=None):
    """Loads one split of a dataset, by name or from a local file or folder.

    Args:
        name_or_path: str or PathLike, one of
            - a name in `DATASETS`: "default" is a 4000/1000-image Fashion-MNIST
              subset shipped in the package; "mnist" and "fashion_mnist" are
              found on disk (see `search_paths`), or downloaded by Keras if a
              network answers;
            - a `.npy` array, or a `.npz` with Keras-style `x_train`/`x_test`
              (and `y_train`/`y_test`) or `train`/`test` arrays (`valid`
              serves as the test split when there is no `test`); a `.npy`,
              or an `.npz` of one array, gives its last 10% to the test split;
            - a folder of IDX files with the MNIST names (`.gz` or raw), any
              dataset;
            - a folder of images (PNG, JPEG, BMP, GIF): grey (n, h, w) when
              every image has one channel, else RGB (n, h, w, 3); labels from
              the sorted sub-folder names; `train/` and `test/` sub-folders
              as splits, else a seeded 90/10 split (`tfvae.image_folders`).
        split: "train" or "test".
        labels: bool, also return integer labels (None when there are none).
        path: optional folder of IDX files or Keras-style `.npz` for a named
            dataset ("mnist", "fashion_mnist"). If it exists it is the only
            place used: a wrong folder should fail, not load other data.
        scale: bool, return float32 by the one rule: uint8 grey levels / 255,
            uint8 0/1 data and floats as they are. Otherwise the stored values.
        image_size: optional (height, width) to resize a folder's images to;
            by default they must all have the same size.

    Returns:
        x of shape (n, ...), or `(x, y)` with int64 `y` of shape (n,) or None.

    Raises:
        ValueError: unknown name or split, or malformed data.
        FileNotFoundError: a missing path, or a named dataset found nowhere
            (the message lists the places searched).

    Example:

    >>> x, y = load("default", split="test", labels=True)
    >>> x.shape, x.dtype, y.dtype
    ((1000, 28, 28), dtype('float32'), dtype('int64'))
    >>> x_train = load("path/to/images/")                # class sub-folders
    """
    if split not in SPLITS:
        raise ValueError(f"Unrecognized split={split!r}. Supported splits are: {list(SPLITS)}.")
    source = os.fspath(name_or_path)
    x, y = _read_source(source, split, path, labels, image_size)
    x = to_unit_interval(x) if scale else np.asarray(x)
    if not labels:
        return x
    return x, (None if y is None else _checked_labels(y, len(x), source, split))


def to_unit_interval(x):
    """The one scaling rule: float32, uint8 grey levels / 255, 0/1 and floats as they are.

    A uint8 array whose values are all 0 or 1 is binary data (binarized
    MNIST): dividing it by 255 would turn its ones into 1/255.
    """
    x = np.asarray(x)
    if x.dtype == np.uint8 and x.size and x.max() > 1:
        return x.astype("float32") / np.float32(255)
    return x.astype("float32")


def class_names(name_or_path):
    """Names of the integer labels of a dataset, or None when it has none.

    The Fashion-MNIST classes for "default" and "fashion_mnist", the sorted
    sub-folder names for a folder of images (Keras' order).
    """
    source = os.fspath(name_or_path)
    if source in ("default", "fashion_mnist"):
        return FASHION_MNIST_CLASSES
    return image_folders.class_names(source) if os.path.isdir(source) else None


def _read_source(source, split, path, labels, image_size):
    """(x, y or None) as stored, from a dataset name or a path."""
    if source in DATASETS:
        return _load_named(source, split, path, labels)
    if path is not None:
        raise ValueError(f"`path` applies to the named datasets {list(DATASETS[1:])}; "
                         f"pass the path itself instead. Received: path={path!r}")
    return _load_path(_check_source(source), split, image_size)


def _checked_labels(y, num_examples, source, split):
    y = np.asarray(y).astype("int64").reshape(-1)
    if len(y) != num_examples:
        raise ValueError(f"{source!r} {split} split has {num_examples} examples but "
                         f"{len(y)} labels.")
    return y


def _check_source(source):
    if os.path.exists(source):
        return source
    if os.sep in source or os.path.splitext(source)[1]:
        raise FileNotFoundError(f"No such data file or folder: {source!r}.")
    raise ValueError(f"Unknown dataset {source!r}. Available datasets are: {list(DATASETS)}, "
                     "or pass the path of a .npy/.npz file, an IDX folder or a folder of "
                     "images.")


def _load_named(name, split, path, labels):
    if name == "default":
        with np.load(Path(__file__).parent / "data" / "fashion_mnist_small.npz") as f:
            x, y = f[f"x_{split}"], f[f"y_{split}"]
    else:
        x, y = _find(name, split, path, labels)
    x = np.asarray(x)
    if x.dtype != np.uint8 or x.ndim != 3 or x.shape[1:] != (28, 28):
        raise ValueError(f"Expected {name!r} images as uint8 of shape (n, 28, 28); "
                         f"found {x.dtype} of shape {x.shape}.")
    return x, y


def _load_path(source, split, image_size):
    if os.path.isfile(source):
        return read_array_file(source, split)
    images, labels = (_idx_file(Path(source), stem) for stem in _IDX_NAMES[split])
    if images:
        return read_idx(images), (read_idx(labels) if labels else None)
    return image_folders.read(source, split, image_size)


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
    files = [_idx_file(candidate, stem) for stem in _IDX_NAMES[split][: 2 if labels else 1]]
    if all(files):
        arrays = [read_idx(f) for f in files]
        return arrays[0], (arrays[1] if labels else None)
    npzs = [candidate / npz for npz in _NPZ_NAMES[name] if (candidate / npz).is_file()]
    return next(filter(None, (_read_npz(npz, split, labels) for npz in npzs)), None)


def _idx_file(folder, stem):
    """folder/stem.gz or folder/stem, whichever exists first, or None."""
    return next((folder / (stem + ext) for ext in (".gz", "") if (folder / (stem + ext)).is_file()),
                None)


def _read_npz(path, split, labels):
    with np.load(path, allow_pickle=False) as f:
        keys = [f"x_{split}"] + ([f"y_{split}"] if labels else [])
        if not all(k in f.files for k in keys):
            return None
        return f[keys[0]], (f[keys[1]] if labels else None)


def load_dataset(name="default", split="train", batch_size=128, path=None, **kwargs):
    """`load` then `tfvae.pipeline.make_dataset`: a ready-to-fit pipeline in one call.

    Args:
        name, split, path: as in `load` (a name or a path); batch_size and
            **kwargs: as in `make_dataset` (shuffle, binarization, seed, ...).

    Returns:
        A `tf.data.Dataset` of float32 batches in [0, 1].

    Example:

    >>> vae.fit(load_dataset("default", binarization="dynamic"), epochs=5)
    """
    from tfvae import pipeline  # TensorFlow, on first use only

    return pipeline.make_dataset(load(name, split=split, path=path), batch_size=batch_size,
                                 **kwargs)
