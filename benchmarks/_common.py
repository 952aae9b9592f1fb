"""What the benchmark scripts share: timers, the GEMM peak, the Burda et al.
MLP, data loading through `tfvae.datasets`, and the lines that say where and
how a run was made (`machine()`, `command()`).

Each script prints its table, then `provenance()`; RESULTS.md keeps those
lines with every dated run.
"""

import datetime
import os
import shlex
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import tfvae  # noqa: E402
from tfvae import datasets  # noqa: E402

from _cpu import cpu  # noqa: E402  (benchmarks/ is on the path, as for every script)

ROOT = Path(__file__).resolve().parent.parent


## Timers

def timed(fn):
    """Wall-clock seconds of one call of `fn`."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def call_seconds(fn, repeats, inner=1, warmup=1):
    """Seconds per call of `fn`, `repeats` times.

    Args:
        fn: callable of no arguments.
        repeats: int, how many timings to return.
        inner: int, calls per timing (their mean is one timing), for calls
            too short for the clock alone.
        warmup: int, untimed calls first (tracing, caches).

    Returns:
        float64 array of `repeats` seconds per call. Take its minimum for a
        rate (other processes only ever slow a call down) or its median for
        a latency.
    """
    for _ in range(warmup):
        fn()

    def block():
        for _ in range(inner):
            fn()

    return np.array([timed(block) / inner for _ in range(repeats)])


## Peak

def gemm_peak(n=4096, repeats=5):
    """The best float32 GEMM rate measured here: (numpy, tf.matmul) in FLOP/s.

    A product of two n×n matrices is 2n³ FLOPs; each rate is from the fastest
    of `repeats` products, after one untimed product.
    """
    a = np.random.default_rng(0).random((n, n), dtype=np.float32)
    ta = tf.constant(a)
    best_np = call_seconds(lambda: a @ a, repeats).min()
    best_tf = call_seconds(lambda: tf.linalg.matmul(ta, ta).numpy(), repeats).min()
    return 2 * n ** 3 / best_np, 2 * n ** 3 / best_tf


## Model

BURDA_MLP = "Burda et al.'s MLP 784-200-200-50 (tanh), Bernoulli"


def burda_mlp(objective="elbo", num_samples=1, activation="tanh", seed=None):
    """Burda et al. (2016)'s one-stochastic-layer model as a `tfvae.VAE`.

    784 -> 200 -> 200 (`activation`) -> 50-d Gaussian latent -> 200 -> 200
    -> 784 Bernoulli logits.

    Args:
        objective: str, "elbo" or "iwae".
        num_samples: int, importance samples per example when training.
        activation: str, the hidden layers' activation.
        seed: int or None, seeds the model's sampling.
    """
    dense = keras.layers.Dense
    encoder = keras.Sequential([keras.Input((784,)), dense(200, activation),
                                dense(200, activation)], name="encoder")
    decoder = keras.Sequential([keras.Input((50,)), dense(200, activation),
                                dense(200, activation), dense(784)], name="decoder")
    return tfvae.VAE((784,), 50, encoder=encoder, decoder=decoder, likelihood="bernoulli",
                     objective=objective, num_samples=num_samples, seed=seed)


## Data

def load_images(data=None, split="train"):
    """One split of a dataset through `tfvae.datasets.load`.

    Args:
        data: None (the embedded default), a name in `tfvae.datasets.DATASETS`,
            or a path `tfvae.datasets.load` reads (a folder of IDX files, an
            .npy/.npz, a folder of images).
        split: str, "train" or "test".

    Returns:
        `(x, source)`: float32 images in [0, 1] (n, 28, 28 for the MNIST
        family), and a description of where they came from.
    """
    data = "default" if data is None else str(data)
    source = "embedded default" if data == "default" else data
    return datasets.load(data, split).astype("float32"), source


BINARIZED_MNIST_SPLITS = ("train", "valid", "test")


def load_binarized_mnist(path):
    """The fixed binarization of MNIST (Larochelle & Murray, 2011) from an .npz.

    Args:
        path: str, an .npz holding `train`, `valid` and `test` arrays of 0/1
            values with 784 columns (or 28×28 images).

    Returns:
        A dict from split name to a float32 array of shape (n, 784).

    Raises:
        ValueError: a split is missing or holds values other than 0 and 1.
    """
    with np.load(path, allow_pickle=False) as f:
        missing = [k for k in BINARIZED_MNIST_SPLITS if k not in f.files]
        if missing:
            raise ValueError(f"Received an invalid value for `path`, expected an .npz with "
                             f"arrays {list(BINARIZED_MNIST_SPLITS)}; it lacks {missing} "
                             f"(it holds {f.files}). Received: path={path!r}")
        splits = {k: f[k].reshape(len(f[k]), -1).astype("float32")
                  for k in BINARIZED_MNIST_SPLITS}
    for name, x in splits.items():
        if x.shape[1] != 784 or not np.isin(x, (0.0, 1.0)).all():
            raise ValueError(f"Received an invalid value for `path`, expected 0/1 arrays of "
                             f"784 pixels per row; {name!r} has shape {x.shape} and values "
                             f"in [{x.min()}, {x.max()}]. Received: path={path!r}")
    return splits


## Where and how a run was made

def machine():
    """One line: CPU model, bfloat16/AMX support, usable cores, TF/Keras versions, date."""
    today = datetime.datetime.now(datetime.timezone.utc).date().isoformat()
    return f"{cpu()}; TF {tf.__version__}, Keras {keras.__version__}; {today}"


def command(script, argv=None):
    """The shell command that reproduces a run, from the repository root.

    Args:
        script: str, the script's path (its `__file__`).
        argv: list of str, the script's arguments; None for `sys.argv[1:]`.
    """
    script = Path(script).resolve()
    if script.is_relative_to(ROOT):
        script = script.relative_to(ROOT)
    args = sys.argv[1:] if argv is None else list(argv)
    return "python " + shlex.join([str(script), *args])


def provenance(script, argv=None):
    """Prints the machine line and the command that reproduces the run."""
    print(f"machine: {machine()}")
    print(f"$ {command(script, argv)}")
