"""A tfvae VAE trained with its defaults for a fixed wall time: one side of the
peers benchmark (benchmarks/peers/run.py starts it, in the tfvae venv).

    .venv/bin/python benchmarks/peers/tfvae_side.py --model mlp \
        --data ../shared/data/binarized_mnist.npz --seconds 30

What a user writes, nothing tuned: `VAE.compile()` (its default optimizer,
`tfvae.optimizers.FusedAdam`, is Keras' Adam: lr 1e-3, ε 1e-7) and
`fit(tfvae.datasets.make_dataset(x, batch_size=B))`, float32. `--precision`,
`--intra-op-threads` and `--steps-per-execution` each change one of these, for
run.py's arms.

  * mlp: `tfvae.VAE((784,), 50, encoder=..., decoder=...)` with Keras Dense
    layers 784-200-200 tanh and 50-200-200-784 tanh (benchmarks/_common.py's
    `burda_mlp`; the built-in mlp's activation is relu), batch 100;
  * conv: `tfvae.VAE((28, 28), 2, architecture="conv")`, the built-in conv
    layers (Conv2D 32, 64, 3x3, stride 2, relu; Dense 256; mirrored), batch 128.

The timed window is one `fit` call stopped by a callback once --seconds have
passed (so it includes `make_dataset` and what `fit` does per call and per
epoch: the dataset check, a new iterator each epoch); the --warmup-steps steps
before it, which trace the train function, are timed and reported apart.
Prints one JSON line, as torch_side.py.

`--prepare-conv PATH` instead writes the conv benchmark's data: Fashion-MNIST
(`tfvae.datasets.load("fashion_mnist")`, else the embedded default subset),
statically binarized with `tfvae.datasets.binarize` (train seed 0, test
seed 1), as an .npz with uint8 'train' and 'valid' (the test split).
"""

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
# First: _common sets TensorFlow's log level before TensorFlow loads.
from _common import burda_mlp  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import tfvae  # noqa: E402
from tfvae import datasets  # noqa: E402


class Budget(keras.callbacks.Callback):
    """Stops `fit` after the call (of `steps_per_execution` batches) that ends
    past `deadline`; counts samples."""

    def __init__(self, deadline, n, batch_size):
        super().__init__()
        self.deadline, self.n, self.batch_size = deadline, n, batch_size
        self.steps = self.samples = 0
        self._epoch_steps = self._epoch_samples = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_steps = self._epoch_samples = 0

    def on_train_batch_end(self, batch, logs=None):
        # Keras calls this once per execution (`steps_per_execution` batches),
        # with `batch` the last batch index of the epoch it ran.
        steps = min(batch + 1, math.ceil(self.n / self.batch_size))
        samples = min(steps * self.batch_size, self.n)
        self.steps += steps - self._epoch_steps
        self.samples += samples - self._epoch_samples
        self._epoch_steps, self._epoch_samples = steps, samples
        if time.perf_counter() >= self.deadline:
            self.model.stop_training = True


def build(model, seed):
    keras.utils.set_random_seed(seed)
    if model == "conv":
        return tfvae.VAE((28, 28), 2, architecture="conv", seed=seed)
    return burda_mlp(seed=seed)


def heldout(vae, x, batch_size=1000):
    """Per-example −ELBO = −(log p(x|z) − KL) at one z ~ q(z|x): mean and standard error."""
    values = []
    for start in range(0, len(x), batch_size):
        reconstruction, kl = vae.elbo_terms(x[start:start + batch_size])
        values.append((kl - reconstruction).numpy())
    values = np.concatenate(values).astype(np.float64)
    return float(values.mean()), float(values.std(ddof=1) / math.sqrt(len(values)))


def prepare_conv(path):
    try:
        train, test = (datasets.load("fashion_mnist", split) for split in ("train", "test"))
        source = "Fashion-MNIST (tfvae.datasets.load('fashion_mnist'))"
    except FileNotFoundError:
        train, test = (datasets.load("default", split) for split in ("train", "test"))
        source = "embedded default Fashion-MNIST subset (full data not found)"
    np.savez(path, train=datasets.binarize(train, seed=0).astype(np.uint8),
             valid=datasets.binarize(test, seed=1).astype(np.uint8))
    print(json.dumps({"source": f"{source}, binarize(seed=0/1)", "train_n": len(train),
                      "heldout_n": len(test)}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("mlp", "conv"))
    parser.add_argument("--data", help=".npz with uint8 0/1 'train' and 'valid'")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--epochs", type=int, default=None,
                        help="train this many epochs instead of --seconds (to compare "
                             "precisions at equal steps)")
    parser.add_argument("--warmup-steps", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--precision", default="float32",
                        help="Keras dtype policy while the model is built (default: float32)")
    parser.add_argument("--intra-op-threads", type=int, default=0,
                        help="tf.config.threading.set_intra_op_parallelism_threads before "
                             "TensorFlow runs anything; 0 (default) keeps TensorFlow's own")
    parser.add_argument("--steps-per-execution", type=int, default=0,
                        help="passed to `VAE.compile`; 0 (default) keeps compile's own")
    parser.add_argument("--prepare-conv", metavar="PATH", help="write the conv data and exit")
    args = parser.parse_args()
    if args.prepare_conv:
        return prepare_conv(args.prepare_conv)
    if not (args.model and args.data):
        parser.error("--model and --data are needed to train")
    if args.intra_op_threads < 0:
        parser.error(f"--intra-op-threads must be >= 0. Received: {args.intra_op_threads}")
    if args.steps_per_execution < 0:
        parser.error(f"--steps-per-execution must be >= 0. Received: {args.steps_per_execution}")
    if args.intra_op_threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.intra_op_threads)
    batch_size = args.batch_size or (100 if args.model == "mlp" else 128)
    with np.load(args.data) as f:
        shape = (-1, 784) if args.model == "mlp" else (-1, 28, 28)
        x_train, x_valid = (f[k].reshape(shape).astype(np.float32) for k in ("train", "valid"))
    keras.mixed_precision.set_global_policy(args.precision)
    vae = build(args.model, args.seed)
    vae.compile(steps_per_execution=args.steps_per_execution or None)

    start = time.perf_counter()
    warm = x_train[:args.warmup_steps * batch_size]
    vae.fit(datasets.make_dataset(warm, batch_size=batch_size, seed=args.seed), verbose=0)
    warmup = time.perf_counter() - start
    start = time.perf_counter()
    deadline = math.inf if args.epochs else start + args.seconds
    budget = Budget(deadline, len(x_train), batch_size)
    vae.fit(datasets.make_dataset(x_train, batch_size=batch_size, seed=args.seed),
            epochs=args.epochs or 10**6, verbose=0, callbacks=[budget])
    elapsed = time.perf_counter() - start
    neg_elbo, se = heldout(vae, x_valid)
    print(json.dumps({
        "side": "tfvae", "model": args.model, "samples_per_s": budget.samples / elapsed,
        "seconds": elapsed, "steps": budget.steps, "samples": budget.samples,
        "epochs": budget.samples / len(x_train), "warmup_s": warmup,
        "warmup_steps": args.warmup_steps, "heldout_neg_elbo": neg_elbo, "heldout_se": se,
        "train_n": len(x_train), "heldout_n": len(x_valid), "batch_size": batch_size,
        "threads": len(os.sched_getaffinity(0)), "precision": args.precision,
        "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "steps_per_execution": vae.steps_per_execution,
        "version": f"tfvae {tfvae.__version__}, TF {tf.__version__}, Keras {keras.__version__}",
    }))


if __name__ == "__main__":
    main()
