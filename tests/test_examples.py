"""Runs each example end to end with `--quick` in a fresh interpreter."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def run_example(name, output_dir, *extra):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    completed = subprocess.run(
        [sys.executable, str(EXAMPLES / name), "--quick", "--output-dir", str(output_dir),
         *extra],
        capture_output=True, text=True, timeout=300, env=env, cwd=output_dir)
    assert completed.returncode == 0, (
        f"{name} exited with {completed.returncode}\n--- stdout\n{completed.stdout}"
        f"\n--- stderr\n{completed.stderr[-4000:]}")
    return completed.stdout


def assert_png(path):
    assert path.is_file(), f"{path} was not written"
    assert path.read_bytes()[:8] == PNG_SIGNATURE


def assert_keras_archive(path):
    import zipfile

    assert zipfile.is_zipfile(path), f"{path} is not a .keras archive"
    assert "config.json" in zipfile.ZipFile(path).namelist()


@pytest.mark.slow
def test_quickstart(tmp_path):
    stdout = run_example("quickstart.py", tmp_path)
    assert "samples: shape (64, 28, 28)" in stdout
    assert_png(tmp_path / "samples.png")
    assert_png(tmp_path / "manifold.png")
    assert_keras_archive(tmp_path / "vae.keras")


@pytest.mark.slow
def test_custom_likelihood(tmp_path):
    stdout = run_example("custom_likelihood.py", tmp_path)
    elbos = {}
    for line in stdout.splitlines():
        if line.startswith("held-out ELBO, "):
            elbos[line.split(",")[1].split()[0]] = float(line.split(":")[1].split()[0])
    assert set(elbos) == {"Poisson", "Gaussian"}, stdout
    # The true model class wins even after a tiny run (by ~1000 nats at --quick).
    assert elbos["Poisson"] > elbos["Gaussian"]
    assert "likelihood poisson, same outputs: True" in stdout
    assert "num_params=2" in stdout
    assert_keras_archive(tmp_path / "poisson_vae.keras")
    assert_keras_archive(tmp_path / "beta_vae.keras")
    assert_png(tmp_path / "poisson_reconstructions.png")


@pytest.mark.slow
def test_conv_fashion_mnist(tmp_path):
    stdout = run_example("conv_fashion_mnist.py", tmp_path)
    assert "data: " in stdout and "Fashion-MNIST" in stdout
    assert "test ELBO" in stdout
    for name in ("samples.png", "reconstructions.png", "latent_pca.png",
                 "training_curves.png"):
        assert_png(tmp_path / name)


@pytest.mark.slow
def test_distributed(tmp_path):
    stdout = run_example("distributed.py", tmp_path, "--devices", "2")
    assert "replicas in sync: 2" in stdout
    assert "global batch 128 = 64 per replica x 2" in stdout
    assert "same reconstructions: True" in stdout
    assert "resumed training" in stdout
    assert_keras_archive(tmp_path / "vae.keras")


@pytest.mark.slow
def test_model_comparison(tmp_path):
    stdout = run_example("model_comparison.py", tmp_path)
    table = (tmp_path / "comparison.md").read_text()
    assert "latent_dim=2" in table and "latent_dim=8" in table
    assert table.strip() in stdout


@pytest.mark.slow
def test_tflite_anomaly(tmp_path):
    stdout = run_example("tflite_anomaly.py", tmp_path)
    aucs = json.loads((tmp_path / "auc.json").read_text())
    assert set(aucs) == {"noise", "occlusion", "inverted"}
    assert "MNIST vs Fashion-MNIST not measured" in stdout
    # Inverting a binary image is far off the data even after one epoch (0.999 measured).
    assert aucs["inverted"]["elbo"] > 0.9, stdout
    # The scoring step alone runs on the LiteRT runtime and numpy.
    (tmp_path / "again").mkdir()
    stdout = run_example("tflite_anomaly.py", tmp_path / "again", "--model",
                         str(tmp_path / "vae.tflite"), "--images", str(tmp_path / "images.npz"))
    assert "tensorflow imported: False" in stdout
    assert json.loads((tmp_path / "again" / "auc.json").read_text()) == aucs


def test_roc_auc_of_the_anomaly_example_counts_pairs(monkeypatch):
    import importlib.util

    spec = importlib.util.spec_from_file_location("tflite_anomaly", EXAMPLES / "tflite_anomaly.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rng = np.random.default_rng(0)
    normal, anomalous = rng.integers(0, 20, 300) / 2.0, rng.integers(5, 25, 200) / 2.0
    # Brute force over all pairs, ties counting one half.
    pairs = anomalous[:, None] - normal[None, :]
    want = (np.sum(pairs > 0) + 0.5 * np.sum(pairs == 0)) / pairs.size
    assert module.roc_auc(normal, anomalous) == pytest.approx(want, abs=1e-12)
    assert module.roc_auc(normal, normal) == pytest.approx(0.5)


@pytest.mark.slow
def test_conditional_fashion_mnist(tmp_path):
    stdout = run_example("conditional_fashion_mnist.py", tmp_path)
    assert "data: " in stdout and "10 classes" in stdout
    assert "test ELBO of log p(x | y)" in stdout and "8 sneakers: shape (8, 28, 28)" in stdout
    assert "generative classifier accuracy on 20 test images" in stdout
    for name in ("class_samples.png", "sneakers.png", "reconstructions.png"):
        assert_png(tmp_path / name)
    assert_keras_archive(tmp_path / "cvae.keras")


@pytest.mark.slow
def test_tflite_conditional_decoder(tmp_path):
    stdout = run_example("tflite_conditional_decoder.py", tmp_path, "--label", "trouser")
    assert "16 images of class 'Trouser', shape (28, 28)" in stdout
    assert "tensorflow imported: False" in stdout
    assert_png(tmp_path / "trouser.png")


@pytest.mark.parametrize("name", ["quickstart.py", "custom_likelihood.py",
                                  "conv_fashion_mnist.py", "distributed.py",
                                  "model_comparison.py", "tflite_anomaly.py",
                                  "conditional_fashion_mnist.py", "tflite_conditional_decoder.py"])
def test_examples_are_short_and_documented(name):
    source = (EXAMPLES / name).read_text()
    assert source.startswith('"""'), f"{name} needs a header docstring"
    assert "## " in source, f"{name} needs ## section markers"
    assert len(source.splitlines()) < 200, f"{name} is over 200 lines"
    assert "--quick" in source
