"""Each figure function writes a real PNG, atomically, and refuses to overwrite."""

import os

import keras
import matplotlib.image
import numpy as np
import pytest

import tfvae
from tfvae import plots

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _read_png(path):
    with open(path, "rb") as f:
        assert f.read(8) == PNG_SIGNATURE
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[2] in (3, 4)
    # Not a blank canvas: something was drawn.
    assert image[..., :3].std() > 0.01
    return image


@pytest.fixture(scope="module")
def model2d():
    keras.utils.set_random_seed(0)
    return tfvae.VAE((28, 28), 2, hidden_units=(16,), seed=0)


@pytest.fixture(scope="module")
def model5d():
    return tfvae.VAE((28, 28), 5, hidden_units=(16,), seed=0)


def test_sample_grid_writes_png(model2d, tmp_path):
    path = plots.save_sample_grid(model2d, tmp_path / "samples.png", n=16)
    assert path == str(tmp_path / "samples.png")
    height, width = _read_png(path).shape[:2]
    assert height > 200 and width > 200
    # Only the target is left behind: the temporary file was renamed away.
    assert os.listdir(tmp_path) == ["samples.png"]
    # As readable as a file from plain open(), not mkstemp's private 0600.
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~umask


def test_reconstructions_are_two_rows(model2d, fashion_small, tmp_path):
    path = plots.save_reconstructions(model2d, fashion_small["x_test"][:20], tmp_path / "r.png",
                                      n=8)
    height, width = _read_png(path).shape[:2]
    assert width > 2 * height  # one row of originals above one of reconstructions


def test_latent_manifold_png_and_latent_dim_check(model2d, model5d, tmp_path):
    path = plots.save_latent_manifold(model2d, tmp_path / "m.png", n=6, extent=2.0)
    height, width = _read_png(path).shape[:2]
    assert 0.7 < height / width < 1.4
    with pytest.raises(ValueError, match="latent_dim=5"):
        plots.save_latent_manifold(model5d, tmp_path / "m5.png")
    assert not (tmp_path / "m5.png").exists()


@pytest.mark.parametrize("which", ["model2d", "model5d"])
def test_latent_scatter_2d_and_pca(which, request, fashion_small, tmp_path):
    model = request.getfixturevalue(which)
    x, y = fashion_small["x_test"][:200], fashion_small["y_test"][:200]
    path = plots.save_latent_scatter(model, x, y, tmp_path / "s.png",
                                     class_names=plots.FASHION_MNIST_CLASSES)
    _read_png(path)
    with pytest.raises(ValueError, match="one entry per example"):
        plots.save_latent_scatter(model, x, y[:10], tmp_path / "bad.png")


def test_refuses_overwrite_unless_asked(model2d, tmp_path):
    target = tmp_path / "samples.png"
    target.write_bytes(b"keep me")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        plots.save_sample_grid(model2d, target, n=4)
    assert target.read_bytes() == b"keep me"
    plots.save_sample_grid(model2d, target, n=4, overwrite=True)
    _read_png(target)
    assert os.listdir(tmp_path) == ["samples.png"]


def test_rejects_non_png_path(model2d, tmp_path):
    with pytest.raises(ValueError, match="'.png'"):
        plots.save_sample_grid(model2d, tmp_path / "samples.jpg")


def test_vector_data(tmp_path):
    # 50-d real vectors: not a square, so drawn as heat-map rows and line plots.
    x = np.random.default_rng(0).normal(size=(32, 50)).astype("float32")
    model = tfvae.VAE((50,), 2, likelihood="gaussian", hidden_units=(8,))
    _read_png(plots.save_sample_grid(model, tmp_path / "s.png", n=8))
    _read_png(plots.save_reconstructions(model, x, tmp_path / "r.png", n=4))
    _read_png(plots.save_latent_manifold(model, tmp_path / "m.png", n=4))


@pytest.mark.slow
def test_training_curves_from_fit_history_and_csv(tmp_path, fashion_small):
    model = tfvae.VAE((28, 28), 2, hidden_units=(8,))
    csv_path = tmp_path / "history.csv"
    history = model.fit(fashion_small["x_train"][:64], batch_size=32, epochs=2, verbose=0,
                        validation_data=fashion_small["x_test"][:32],
                        callbacks=[keras.callbacks.CSVLogger(str(csv_path))])
    assert {"loss", "val_loss", "kl", "reconstruction"} <= set(history.history)
    from_dict = plots.save_training_curves(history.history, tmp_path / "dict.png")
    from_csv = plots.save_training_curves(csv_path, tmp_path / "csv.png")
    image_dict, image_csv = _read_png(from_dict), _read_png(from_csv)
    # Same data either way: the same three panels, so the same picture size.
    assert image_dict.shape == image_csv.shape
    height, width = image_dict.shape[:2]
    assert width > 2.5 * height  # three panels side by side


def test_training_curves_from_csv_with_missing_values(tmp_path):
    # CSVLogger writes "NA" when an epoch lacks a metric (validation_freq > 1).
    csv_path = tmp_path / "history.csv"
    csv_path.write_text("epoch,kl,loss,reconstruction,val_loss\n"
                        "0,5.0,300.0,-295.0,NA\n"
                        "1,6.0,280.0,-274.0,279.0\n"
                        "2,6.5,270.0,-263.5,NA\n")
    _read_png(plots.save_training_curves(csv_path, tmp_path / "curves.png"))


def test_training_curves_need_known_metrics(tmp_path):
    plots.save_training_curves({"loss": [3.0, 2.0]}, tmp_path / "loss_only.png")
    with pytest.raises(ValueError, match="accuracy"):
        plots.save_training_curves({"accuracy": [0.5, 0.6]}, tmp_path / "c.png")
    with pytest.raises(ValueError, match="no epochs"):
        plots.save_training_curves({"loss": []}, tmp_path / "e.png")


def test_leaves_pyplot_state_alone(model2d, tmp_path):
    import matplotlib
    import matplotlib.pyplot as plt

    backend, figures = matplotlib.get_backend(), plt.get_fignums()
    plots.save_sample_grid(model2d, tmp_path / "s.png", n=4)
    assert matplotlib.get_backend() == backend
    assert plt.get_fignums() == figures
