import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

import tfvae
from tfvae import datasets, pipeline

DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
_CODES = {np.dtype("uint8"): 0x08, np.dtype(">i4"): 0x0C, np.dtype(">f4"): 0x0D}


def write_idx(path, array, compress=None):
    """Writes `array` as an IDX file (gzip when the name ends in .gz)."""
    array = np.asarray(array)
    big = array.astype(array.dtype.newbyteorder(">")) if array.dtype.itemsize > 1 else array
    data = (bytes([0, 0, _CODES[big.dtype], array.ndim])
            + struct.pack(f">{array.ndim}I", *array.shape) + big.tobytes())
    compress = str(path).endswith(".gz") if compress is None else compress
    Path(path).write_bytes(gzip.compress(data) if compress else data)
    return path


def fake_mnist(folder, n=20, seed=0, ext=".gz"):
    """A folder of small IDX files with the standard names; returns the arrays."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for split, (images, labels) in datasets._IDX_NAMES.items():
        x = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        y = rng.integers(0, 10, n, dtype=np.uint8)
        write_idx(folder / (images + ext), x)
        write_idx(folder / (labels + ext), y)
        arrays[split] = (x, y)
    return arrays


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """No network, no env dir, an empty home, and no Debian dataset."""
    monkeypatch.setattr(datasets, "has_network", lambda: False)
    monkeypatch.setattr(datasets, "SYSTEM_DIRS", {})
    monkeypatch.delenv("TFVAE_DATA_DIR", raising=False)
    monkeypatch.delenv("KERAS_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return tmp_path


# ---- the embedded default ---------------------------------------------------------


@pytest.mark.parametrize("split, n", [("train", 4000), ("test", 1000)])
def test_default_shapes_range_labels(split, n):
    x, y = datasets.load("default", split=split, labels=True)
    assert x.shape == (n, 28, 28) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0 and x.max() > 0.9
    assert y.shape == (n,) and y.dtype == np.int64
    assert set(np.unique(y)) == set(range(10))
    raw = datasets.load("default", split=split, scale=False)
    assert raw.dtype == np.uint8
    np.testing.assert_allclose(raw / 255.0, x, atol=1e-6)


def test_unknown_name_and_split():
    with pytest.raises(ValueError, match="fashion_mnist"):
        datasets.load("cifar10")
    with pytest.raises(ValueError, match="split"):
        datasets.load("default", split="validation")


# ---- IDX files --------------------------------------------------------------------


@pytest.mark.parametrize("name", ["a-idx3-ubyte.gz", "a-idx3-ubyte"])
@pytest.mark.parametrize("dtype", ["uint8", ">i4", ">f4"])
def test_read_idx_round_trip(tmp_path, name, dtype):
    x = np.arange(2 * 3 * 4).reshape(2, 3, 4).astype(dtype)
    out = datasets.read_idx(write_idx(tmp_path / name, x))
    np.testing.assert_array_equal(out, x)
    assert out.shape == (2, 3, 4) and out.dtype.isnative


def test_read_idx_rejects_corrupt_files(tmp_path):
    good = write_idx(tmp_path / "good", np.zeros((3, 4), np.uint8))
    truncated = tmp_path / "truncated"
    truncated.write_bytes(good.read_bytes()[:-1])
    magic = tmp_path / "magic"
    magic.write_bytes(b"\x12\x34" + good.read_bytes()[2:])
    bad_gzip = tmp_path / "bad.gz"
    bad_gzip.write_bytes(gzip.compress(good.read_bytes())[:10])
    for path in (truncated, magic, bad_gzip):
        with pytest.raises(ValueError, match=path.name):
            datasets.read_idx(path)


# ---- finding the full datasets ----------------------------------------------------


@pytest.mark.parametrize("ext", [".gz", ""])
def test_load_from_explicit_idx_folder(tmp_path, offline, ext):
    arrays = fake_mnist(tmp_path / "idx", ext=ext)
    for split in ("train", "test"):
        x, y = datasets.load("mnist", split=split, path=tmp_path / "idx", labels=True)
        np.testing.assert_allclose(x, arrays[split][0] / 255.0, atol=1e-6)
        np.testing.assert_array_equal(y, arrays[split][1])
        assert x.dtype == np.float32 and y.dtype == np.int64


def test_load_from_keras_npz(tmp_path, offline):
    x = np.full((5, 28, 28), 255, np.uint8)
    np.savez(tmp_path / "d.npz", x_train=x, y_train=np.arange(5), x_test=x[:2], y_test=[1, 2])
    got, y = datasets.load("fashion_mnist", "test", path=tmp_path / "d.npz", labels=True)
    assert got.shape == (2, 28, 28) and np.all(got == 1.0)
    np.testing.assert_array_equal(y, [1, 2])


def test_explicit_path_missing_or_empty(tmp_path, offline):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        datasets.load("mnist", path=tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="empty"):
        datasets.load("mnist", path=tmp_path / "empty")


def test_env_dir_is_honoured(tmp_path, offline, monkeypatch):
    monkeypatch.setenv("TFVAE_DATA_DIR", str(tmp_path / "data"))
    fashion = fake_mnist(tmp_path / "data" / "fashion-mnist", seed=1)
    x = np.zeros((3, 28, 28), np.uint8)
    np.savez(tmp_path / "data" / "mnist.npz", x_train=x, y_train=[0, 1, 2], x_test=x,
             y_test=[3, 4, 5])
    np.testing.assert_array_equal(datasets.load("fashion_mnist", "test", scale=False),
                                  fashion["test"][0])
    _, y = datasets.load("mnist", "test", labels=True)
    np.testing.assert_array_equal(y, [3, 4, 5])


def test_keras_cache_is_used(tmp_path, offline):
    cache = tmp_path / "home" / ".keras" / "datasets"
    arrays = fake_mnist(cache / "fashion-mnist")
    np.testing.assert_array_equal(datasets.load("fashion_mnist", scale=False), arrays["train"][0])


def test_search_order(tmp_path, monkeypatch):
    monkeypatch.setenv("TFVAE_DATA_DIR", str(tmp_path / "env"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("KERAS_HOME", raising=False)
    env, keras_dir = tmp_path / "env", tmp_path / "home" / ".keras" / "datasets"
    assert datasets.search_paths("fashion_mnist", path=tmp_path / "p") == [
        tmp_path / "p", env / "fashion_mnist", env / "fashion-mnist", env,
        keras_dir / "fashion-mnist", DEBIAN_DIR]
    assert datasets.search_paths("mnist") == [env / "mnist", env, keras_dir / "mnist.npz"]
    with pytest.raises(ValueError):
        datasets.search_paths("default")


def test_not_found_offline_lists_every_place(offline, monkeypatch):
    probed = []
    monkeypatch.setattr(datasets, "has_network", lambda: probed.append(1) or False)
    with pytest.raises(FileNotFoundError) as info:
        datasets.load("fashion_mnist", split="test")
    message = str(info.value)
    assert probed, "the network probe must be consulted before giving up"
    for place in datasets.search_paths("fashion_mnist"):
        assert str(place) in message
    assert "TFVAE_DATA_DIR" in message and "apt-get install dataset-fashion-mnist" in message


def test_download_only_with_network(offline, monkeypatch):
    import keras

    x = np.ones((2, 28, 28), np.uint8)
    monkeypatch.setattr(datasets, "has_network", lambda: True)
    monkeypatch.setattr(keras.datasets.mnist, "load_data",
                        lambda: ((x, np.array([1, 2])), (x[:1], np.array([7]))))
    got, y = datasets.load("mnist", split="test", labels=True)
    assert got.shape == (1, 28, 28) and y.tolist() == [7]


@pytest.mark.skipif(not (DEBIAN_DIR / "t10k-images-idx3-ubyte.gz").exists(),
                    reason="Debian package dataset-fashion-mnist not installed")
def test_debian_dataset_is_used(tmp_path, monkeypatch):
    monkeypatch.delenv("TFVAE_DATA_DIR", raising=False)
    monkeypatch.delenv("KERAS_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(datasets, "has_network", lambda: pytest.fail("must not probe"))
    x, y = datasets.load("fashion_mnist", split="test", labels=True)
    assert x.shape == (10000, 28, 28) and x.dtype == np.float32 and y.shape == (10000,)
    assert set(np.unique(y)) == set(range(10))


# ---- one loader: paths, one scaling rule ------------------------------------------


def test_uint8_rule_keeps_binary_data(tmp_path, offline):
    # Binarized MNIST stored as uint8 0/1: dividing by 255 would make its ones 1/255.
    x = np.random.default_rng(0).integers(0, 2, (5, 28, 28), dtype=np.uint8)
    np.savez(tmp_path / "b.npz", x_train=x, y_train=np.arange(5), x_test=x, y_test=np.arange(5))
    np.testing.assert_array_equal(datasets.load("mnist", "test", path=tmp_path / "b.npz"),
                                  x.astype("float32"))
    np.testing.assert_array_equal(datasets.load(tmp_path / "b.npz", "test"), x.astype("float32"))
    grey = np.array([[0, 128, 255]], np.uint8)
    np.testing.assert_allclose(datasets.to_unit_interval(grey), [[0.0, 128 / 255, 1.0]])
    floats = np.array([[0.25, 3.0]])
    np.testing.assert_array_equal(datasets.to_unit_interval(floats), floats.astype("float32"))


def test_load_array_files(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 256, (30, 6), dtype=np.uint8), np.arange(30) % 3
    np.savez(tmp_path / "keras.npz", x_train=x[:20], y_train=y[:20], x_test=x[20:], y_test=y[20:])
    got, labels = datasets.load(str(tmp_path / "keras.npz"), "test", labels=True)
    np.testing.assert_allclose(got, x[20:] / 255.0, atol=1e-6)
    np.testing.assert_array_equal(labels, y[20:])
    assert labels.dtype == np.int64
    # Binarized-MNIST style keys; `valid` is the test split when there is no `test`.
    np.savez(tmp_path / "bin.npz", train=x[:20] % 2, valid=x[20:] % 2)
    np.testing.assert_array_equal(datasets.load(tmp_path / "bin.npz", "test"), x[20:] % 2)
    assert datasets.load(tmp_path / "bin.npz", "test", labels=True)[1] is None
    # One array (.npy, or an .npz of one): the last 10% is the test split.
    np.save(tmp_path / "all.npy", x)
    np.savez(tmp_path / "one.npz", images=x)
    for path in (tmp_path / "all.npy", tmp_path / "one.npz"):
        np.testing.assert_allclose(datasets.load(path, "train"), x[:27] / 255.0, atol=1e-6)
        np.testing.assert_allclose(datasets.load(path, "test"), x[27:] / 255.0, atol=1e-6)
    np.savez(tmp_path / "odd.npz", images=x, targets=y)
    with pytest.raises(ValueError, match=r"'images', 'targets'.*x_test"):
        datasets.load(tmp_path / "odd.npz", "test")


def test_load_any_idx_folder_by_path(tmp_path):
    # Not 28x28 and not Fashion-MNIST: an IDX folder is read as what it holds.
    rng = np.random.default_rng(1)
    arrays = {}
    for split, (images, labels) in datasets._IDX_NAMES.items():
        arrays[split] = (rng.integers(0, 256, (7, 5, 3), dtype=np.uint8),
                         rng.integers(0, 4, 7, dtype=np.uint8))
        write_idx(tmp_path / (images + ".gz"), arrays[split][0])
        write_idx(tmp_path / (labels + ".gz"), arrays[split][1])
    x, y = datasets.load(tmp_path, "test", labels=True)
    np.testing.assert_allclose(x, arrays["test"][0] / 255.0, atol=1e-6)
    np.testing.assert_array_equal(y, arrays["test"][1])
    assert datasets.class_names(tmp_path) is None


def test_missing_paths_and_names(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.npz"):
        datasets.load(str(tmp_path / "missing.npz"))
    with pytest.raises(ValueError, match=r"Unknown dataset 'cifar10'.*fashion_mnist"):
        datasets.load("cifar10")
    with pytest.raises(ValueError, match="path"):
        datasets.load(str(tmp_path), path=tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no images"):
        datasets.load(tmp_path / "empty")
    assert pipeline.BINARIZATIONS == ("none", "static", "dynamic")


# ---- folders of images ---------------------------------------------------------------


def write_images(folder, arrays):
    """Saves uint8 arrays as PNGs, class by class: {class: [array, ...]}."""
    from PIL import Image

    for name, images in arrays.items():
        (folder / name).mkdir(parents=True, exist_ok=True)
        for i, image in enumerate(images):
            Image.fromarray(image).save(folder / name / f"{i:03d}.png")


def tiny_images(rng, n, shape):
    return [rng.integers(0, 256, shape, dtype=np.uint8) for _ in range(n)]


@pytest.mark.parametrize("shape", [(6, 5), (6, 5, 3)], ids=["grey", "rgb"])
def test_image_folder_with_train_and_test(tmp_path, shape):
    rng = np.random.default_rng(0)
    images = {split: {"cat": tiny_images(rng, 3, shape), "dog": tiny_images(rng, 2, shape)}
              for split in ("train", "test")}
    for split, classes in images.items():
        write_images(tmp_path / split, classes)
    for split, classes in images.items():
        x, y = datasets.load(tmp_path, split, labels=True)
        # Keras' order: classes sorted by name, files sorted within each.
        expected = np.stack(classes["cat"] + classes["dog"]) / 255.0
        assert x.shape == (5, *shape) and x.dtype == np.float32
        np.testing.assert_allclose(x, expected, atol=1e-6)
        np.testing.assert_array_equal(y, [0, 0, 0, 1, 1])
    assert datasets.class_names(tmp_path) == ("cat", "dog")


def test_image_folder_without_splits_is_split_90_10_with_a_seed(tmp_path):
    rng = np.random.default_rng(0)
    classes = {"a": tiny_images(rng, 12, (4, 4)), "b": tiny_images(rng, 8, (4, 4))}
    write_images(tmp_path, classes)
    everything = np.stack(classes["a"] + classes["b"])
    train, y_train = datasets.load(tmp_path, "train", labels=True)
    test, y_test = datasets.load(tmp_path, "test", labels=True)
    assert len(train) == 18 and len(test) == 2
    # Disjoint, together the whole folder, labels aligned, the same on every call.
    pixels = np.round(np.concatenate([train, test]) * 255).astype(np.uint8)
    index = [next(i for i, e in enumerate(everything) if np.array_equal(e, p)) for p in pixels]
    assert sorted(index) == list(range(20))
    np.testing.assert_array_equal(np.concatenate([y_train, y_test]),
                                  [0 if i < 12 else 1 for i in index])
    np.testing.assert_array_equal(test, datasets.load(tmp_path, "test"))


def test_image_folder_without_classes_binary_images_and_sizes(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    folder = tmp_path / "plain"
    folder.mkdir()
    bits = [rng.integers(0, 2, (4, 4), dtype=np.uint8) for _ in range(10)]
    for i, image in enumerate(bits):
        Image.fromarray(image).save(folder / f"{i}.png")
    x, y = datasets.load(folder, "train", labels=True)
    assert y is None and x.shape == (9, 4, 4) and set(np.unique(x)) <= {0.0, 1.0}
    Image.fromarray(np.zeros((5, 4), np.uint8)).save(folder / "odd.png")
    with pytest.raises(ValueError, match=r"differ in size.*image_size"):
        datasets.load(folder)
    assert datasets.load(folder, image_size=(4, 4)).shape == (10, 4, 4)  # 11 images, 90%


# ---- validation and binarization ---------------------------------------------------


def test_check_array():
    np.testing.assert_array_equal(datasets.check_array([[1, 2]]), [[1, 2]])
    with pytest.raises(ValueError, match="empty"):
        datasets.check_array(np.zeros((0, 28, 28)))
    assert datasets.check_array([True, False]).dtype == np.bool_       # 0/1 pixels are data
    with pytest.raises(ValueError, match=r"`x` contains 2 non-finite \(NaN or Inf\) value\(s\) "
                                         r"out of 3"):
        datasets.check_array([0.0, np.nan, np.inf])
    with pytest.raises(ValueError, match="`y` must hold numbers; received dtype <U1"):
        datasets.check_array(["a", "b"], name="y")
    with pytest.raises(ValueError, match="must hold numbers; received dtype object"):
        datasets.check_array(np.array([1.0, None], dtype=object))


def test_binarize_sample_and_threshold():
    x = np.random.default_rng(0).uniform(size=(200, 28, 28)).astype("float32")
    b = datasets.binarize(x, seed=3)
    assert b.dtype == np.float32 and set(np.unique(b)) == {0.0, 1.0}
    assert abs(b.mean() - x.mean()) < 0.01
    np.testing.assert_array_equal(b, datasets.binarize(x, seed=3))
    assert not np.array_equal(b, datasets.binarize(x, seed=4))
    np.testing.assert_array_equal(datasets.binarize([0.2, 0.5, 0.7], "threshold"), [0, 0, 1])


@pytest.mark.parametrize("x, method", [([0.5, 1.5], "sample"), ([np.nan], "sample"),
                                       ([0.5], "otsu")])
def test_binarize_errors(x, method):
    with pytest.raises(ValueError):
        datasets.binarize(x, method=method)


# ---- tf.data pipelines -------------------------------------------------------------


def epoch(ds):
    return np.concatenate([b.numpy() for b in ds])


def test_make_dataset_batches():
    x = np.random.default_rng(0).uniform(size=(10, 28, 28)).astype("float32")
    ds = datasets.make_dataset(x, batch_size=4, shuffle=False)
    shapes = [tuple(b.shape) for b in ds]
    assert shapes == [(4, 28, 28), (4, 28, 28), (2, 28, 28)]
    np.testing.assert_array_equal(epoch(ds), x)
    dropped = datasets.make_dataset(x, batch_size=4, drop_remainder=True, seed=0)
    assert [tuple(b.shape) for b in dropped] == [(4, 28, 28)] * 2
    shuffled = datasets.make_dataset(x, batch_size=4, seed=0)
    first, second = epoch(shuffled), epoch(shuffled)
    assert not np.array_equal(first, second), "must reshuffle each epoch"
    np.testing.assert_allclose(np.sort(first.ravel()), np.sort(x.ravel()))


def test_a_shuffled_epoch_is_a_permutation_and_the_seed_fixes_the_sequence():
    x = np.arange(23 * 3, dtype="float32").reshape(23, 3)      # rows tell examples apart

    def epochs(ds, k=3):
        return [epoch(ds)[:, 0] // 3 for _ in range(k)]

    for kwargs in (dict(), dict(shuffle_buffer=5)):
        ds = datasets.make_dataset(x, batch_size=4, seed=7, **kwargs)
        first = epochs(ds)
        for order in first:
            np.testing.assert_array_equal(np.sort(order), np.arange(23))
        assert not np.array_equal(first[0], first[1]), "must reshuffle each epoch"
        again = epochs(datasets.make_dataset(x, batch_size=4, seed=7, **kwargs))
        np.testing.assert_array_equal(again, first)
        other = epochs(datasets.make_dataset(x, batch_size=4, seed=8, **kwargs))
        assert not np.array_equal(other, first)
    dropped = datasets.make_dataset(x, batch_size=4, seed=0, drop_remainder=True)
    assert dropped.element_spec.shape.as_list() == [4, 3]
    assert len(epoch(dropped)) == 20 and int(dropped.cardinality()) == 5


def test_the_shuffle_draws_every_order_equally_often():
    # 720 epochs of 4 examples: each of the 4! = 24 orders is expected 30 times.
    # Pearson's statistic has 23 degrees of freedom; 49.7 is its 0.1% quantile.
    x = np.arange(4, dtype="float32")[:, None]
    # `repeat` starts a new iteration of the dataset per epoch, as `fit` does.
    ds = datasets.make_dataset(x, batch_size=4, seed=0).repeat(720)
    counts = {}
    for order in epoch(ds)[:, 0].astype(int).reshape(720, 4):
        counts[tuple(order)] = counts.get(tuple(order), 0) + 1
    assert len(counts) == 24
    chi2 = sum((c - 30) ** 2 / 30 for c in counts.values())
    assert chi2 < 49.7, counts


def test_the_pipelines_are_not_autotuned():
    # An autotuned iterator's destructor waits out its model thread's period:
    # seconds at every epoch boundary of a long epoch (benchmarks/RESULTS.md).
    x = np.zeros((8, 3), "float32")
    for ds in (datasets.make_dataset(x, 4, seed=0),
               datasets.make_dataset(x, 4, shuffle=False, binarization="dynamic"),
               datasets.make_dataset(x, 4, shuffle_buffer=2, labels=np.arange(8)),
               tfvae.distribute.distributed_dataset(x, 4, tf.distribute.get_strategy())):
        assert ds.options().autotune.enabled is False


def test_make_dataset_static_binarization():
    x = np.full((16, 28, 28), 0.3, "float32")
    ds = datasets.make_dataset(x, batch_size=8, shuffle=False, binarization="static", seed=0)
    first, second = epoch(ds), epoch(ds)
    np.testing.assert_array_equal(first, second)
    assert set(np.unique(first)) == {0.0, 1.0} and first.dtype == np.float32


def test_make_dataset_dynamic_binarization():
    x = np.random.default_rng(1).uniform(size=(32, 8, 8)).astype("float32")
    # 10 copies of x per epoch, in 2 batches, over 20 epochs: 200 draws of every
    # pixel (each epoch costs a new iterator, the slow part, not its size).
    copies = np.tile(x, (10, 1, 1))
    ds = datasets.make_dataset(copies, batch_size=160, shuffle=False, binarization="dynamic",
                               seed=5)
    epochs = np.stack([epoch(ds) for _ in range(20)])
    assert set(np.unique(epochs)) == {0.0, 1.0}
    # Every epoch a fresh sample: two independent Bernoulli(x) draws agree with
    # probability x² + (1 − x)², 2/3 on average for uniform x (a replay agrees
    # everywhere); over 20,480 pixels a pair's rate has a standard error of 0.0033.
    agreement = [np.mean(a == b) for a, b in zip(epochs[:-1], epochs[1:])]
    expected = np.mean(x ** 2 + (1 - x) ** 2)
    assert max(agreement) < 0.8 and abs(np.mean(agreement) - expected) < 0.01
    # Per-pixel standard error is <= 0.035 over 200 draws; typical |error| ~0.022.
    error = np.abs(epochs.reshape(200, *x.shape).mean(0) - x)
    assert error.max() < 0.2 and error.mean() < 0.03
    again = datasets.make_dataset(copies, batch_size=160, shuffle=False,
                                  binarization="dynamic", seed=5)
    np.testing.assert_array_equal(epoch(again), epochs[0])


def test_shuffled_dynamic_binarization_draws_afresh_each_epoch():
    # The labels carry each example's index through the shuffle, so epochs can
    # be put back in order and compared pixel by pixel as in the test above.
    x = np.random.default_rng(2).uniform(size=(320, 16)).astype("float32")
    ds = datasets.make_dataset(x, batch_size=64, binarization="dynamic", seed=3,
                               labels=np.arange(320))
    epochs = []
    for _ in range(20):
        xs, ids = zip(*[(a.numpy(), b.numpy()) for a, b in ds])
        ids = np.concatenate(ids)
        assert not np.array_equal(ids, np.arange(320))
        epochs.append(np.concatenate(xs)[np.argsort(ids)])
    epochs = np.stack(epochs)
    agreement = [np.mean(a == b) for a, b in zip(epochs[:-1], epochs[1:])]
    assert abs(np.mean(agreement) - np.mean(x ** 2 + (1 - x) ** 2)) < 0.01
    error = np.abs(epochs.mean(0) - x)                   # s.e. <= 0.11 per pixel
    assert error.mean() < 0.1


@pytest.mark.parametrize("kwargs, match", [
    (dict(x=np.zeros((0, 28, 28))), "empty"),
    (dict(x=np.full((4, 2), np.nan)), "non-finite"),
    (dict(x=np.zeros((4, 2)), batch_size=0), "batch_size"),
    (dict(x=np.zeros((4, 2)), batch_size=-3), "batch_size"),
    (dict(x=np.zeros((4, 2)), shuffle_buffer=0), "shuffle_buffer"),
    (dict(x=np.zeros((4, 2)), binarization="always"), "binarization"),
    (dict(x=np.full((4, 2), 2.0), binarization="dynamic"), r"\[0, 1\]"),
    (dict(x=np.zeros((4, 2)), labels=np.array(3)), r"one entry per example.*labels=array\(3\)"),
])
def test_make_dataset_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        datasets.make_dataset(**kwargs)


def test_load_dataset():
    ds = datasets.load_dataset("default", split="test", batch_size=100, shuffle=False)
    batches = list(ds)
    assert len(batches) == 10 and batches[0].shape == (100, 28, 28)
    np.testing.assert_allclose(batches[0].numpy(), datasets.load("default", "test")[:100])
