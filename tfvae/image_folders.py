"""Folders of images (PNG, JPEG, ...) as arrays, read by `keras.utils.image_dataset_from_directory`.

Used by `tfvae.datasets.load(folder)`. A folder is either

    folder/class_a/*.png, folder/class_b/*.png, ...   labels from the sub-folders
    folder/*.png                                      no labels
    folder/train/..., folder/test/...                 the splits, laid out as above

Without `train/` and `test/`, a seeded random 10% of the images is the test
split, the same 10% on every call. Images are grey, (n, height, width), when
every file has one channel, else RGB, (n, height, width, 3); values come back
as uint8 for `tfvae.datasets`' one scaling rule.
"""

import collections
import os
from pathlib import Path

import numpy as np

from tfvae.array_files import TEST_FRACTION, train_size

# The file endings `keras.utils.image_dataset_from_directory` reads.
IMAGE_FORMATS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
SPLIT_SEED = 0
# PIL modes with one channel of grey (an alpha channel is dropped on loading).
_GREY_MODES = {"1", "L", "LA", "I", "I;16", "F"}


def class_names(folder):
    """The sorted sub-folder names of `folder` (or of `folder/train`), or None."""
    folder = Path(folder)
    if _has_splits(folder):
        folder = folder / "train"
    names = sorted(d.name for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))
    return tuple(names) or None


def read(folder, split, image_size=None):
    """(x, y) of one split of a folder of images; y is None without class sub-folders.

    Args:
        folder: str or PathLike.
        split: "train" or "test".
        image_size: optional (height, width) to resize to; by default every
            image must have the same size.

    Raises:
        FileNotFoundError: no images where they should be.
        ValueError: images of different sizes without `image_size`, or fewer
            than 10 images to split 90/10.
    """
    folder = Path(folder)
    directory = folder / split if _has_splits(folder) else folder
    classes = class_names(folder)
    roots = [directory / c for c in classes] if classes else [directory]
    files = sorted(p for root in roots if root.is_dir() for p in root.rglob("*")
                   if p.suffix.lower() in IMAGE_FORMATS and p.is_file())
    if not files:
        raise FileNotFoundError(f"{os.fspath(folder)} holds no data: no IDX files, and no "
                                f"images ({', '.join(IMAGE_FORMATS)}) in {directory}.")
    if not _has_splits(folder) and len(files) * TEST_FRACTION < 1:
        raise ValueError(f"{os.fspath(folder)} holds {len(files)} images: a 90/10 train/test "
                         "split needs at least 10; or put them in train/ and test/ "
                         "sub-folders.")
    grey, size = _image_format(files, image_size)
    import keras  # Lazy: only folders of images need Keras (and TensorFlow).

    ds = keras.utils.image_dataset_from_directory(
        directory, labels="inferred" if classes else None, class_names=classes,
        color_mode="grayscale" if grey else "rgb", image_size=size, batch_size=256,
        shuffle=False, verbose=False)
    batches = [b if classes else (b, None) for b in ds.as_numpy_iterator()]
    x = np.concatenate([b[0] for b in batches])
    y = np.concatenate([b[1] for b in batches]).astype("int64") if classes else None
    # 8-bit images decode to whole numbers: back to uint8, so that grey levels
    # are scaled and 0/1 images kept, as for every other source.
    x = np.clip(np.round(x), 0, 255).astype(np.uint8)
    if grey:
        x = x[..., 0]
    if not _has_splits(folder):
        order = np.random.default_rng(SPLIT_SEED).permutation(len(x))
        cut = train_size(len(x))
        keep = np.sort(order[:cut] if split == "train" else order[cut:])
        x, y = x[keep], (None if y is None else y[keep])
    return x, y


def _has_splits(folder):
    return (folder / "train").is_dir() and (folder / "test").is_dir()


def _image_format(files, image_size):
    """(every image grey, (height, width)) of a folder's images, from their headers."""
    from PIL import Image

    modes, sizes = set(), collections.Counter()
    for path in files:
        with Image.open(path) as image:
            modes.add(image.mode)
            sizes[(image.height, image.width)] += 1
    if image_size is None:
        if len(sizes) > 1:
            found = ", ".join(f"{h}x{w} ({n} images)" for (h, w), n in sizes.most_common(3))
            raise ValueError(f"The images in {files[0].parent} differ in size ({found}); pass "
                             "image_size=(height, width) to resize them, or resize them on "
                             "disk.")
        image_size = next(iter(sizes))
    return modes <= _GREY_MODES, tuple(image_size)
