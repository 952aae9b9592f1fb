"""Reading array files (IDX, .npy, .npz), and the 90/10 train/test cut of a source without splits.

The readers behind `tfvae.datasets.load` for files; folders of images are
`tfvae.image_folders`'. A source with no test split of its own gives 10% of
its examples to it: a .npy (or an .npz of one array) its last 10%, a folder
of images a seeded random 10%.
"""

import gzip
from pathlib import Path

import numpy as np

TEST_FRACTION = 0.1
# Type codes from the IDX specification; multi-byte values are big-endian.
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def train_size(n):
    """How many of `n` examples train when the source has no test split: all but 10% (≥ 1)."""
    return n - max(1, int(n * TEST_FRACTION))


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


def read_array_file(path, split):
    """(x, y or None) of one split of a .npy or .npz file (see `tfvae.datasets.load`)."""
    if path.endswith(".npy"):
        arrays = {"x": np.load(path, allow_pickle=False)}
    elif path.endswith(".npz"):
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    else:
        raise ValueError(f"Unsupported data file {path!r}: expected a .npy or .npz file, "
                         "an IDX folder or a folder of images.")
    keys = [(f"x_{split}", f"y_{split}"), (split, None)]
    if split == "test":
        keys += [("x_valid", "y_valid"), ("valid", None)]
    for x_key, y_key in keys:
        if x_key in arrays:
            return arrays[x_key], arrays.get(y_key)
    if len(arrays) == 1:
        x = next(iter(arrays.values()))
        cut = train_size(len(x))
        return (x[:cut] if split == "train" else x[cut:]), None
    raise ValueError(f"{path} holds arrays {sorted(arrays)}; expected 'x_{split}' or "
                     f"'{split}' (or a single array).")
