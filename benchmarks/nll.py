"""Test NLL of a VAE and an IWAE on binarized MNIST, as in Burda et al. (2016).

Setup (Burda et al., appendix C/D): MLP 784 -> 200 -> 200 (tanh, as in the
paper) -> 50-d Gaussian latent -> 200 -> 200 (tanh) -> 784 Bernoulli logits;
Adam; NLL = −mean log p(x) estimated with K=5000 importance samples on test
images. Trained as a VAE (ELBO) and as an IWAE (k=5). Reference NLLs for
this one-stochastic-layer model after 3280 epochs: VAE 89.9, IWAE (k=50) 87.1
(Burda et al. appx. D); Pythae's replication 89.78 / 86.82. A few epochs
give much higher numbers: this measures the pipeline, not the paper's result.

    python benchmarks/nll.py --data /path/to/binarized_mnist.npz --epochs 5 \\
        --eval-examples 1000 --out nll.json

`--data` is an .npz with `train`, `valid` and `test` arrays of 0/1 with 784
columns (the fixed binarization), or a `tfvae.datasets` name such as
`fashion_mnist`: grey images, binarized afresh each epoch for training
(`tfvae.datasets.make_dataset(binarization="dynamic", seed=--seed)`) and once
for the test set (`tfvae.datasets.binarize(seed=--seed)`).
"""

import argparse
import time

# First: _common sets TensorFlow's log level before TensorFlow loads.
from _common import (burda_mlp, command, load_binarized_mnist, load_images, machine,
                     provenance)

import keras
import numpy as np

from tfvae import atomic, datasets, evaluation

## Data


def load(data, seed=0):
    """`(train, test, dynamic)`: float32 arrays of shape (n, 784).

    `dynamic` is True for a `tfvae.datasets` name: the training images are
    then grey, to be binarized afresh each epoch; the test images are
    binarized once, from `seed`.
    """
    if data in datasets.DATASETS:
        train = load_images(data, "train")[0].reshape(-1, 784)
        test = datasets.binarize(load_images(data, "test")[0], seed=seed).reshape(-1, 784)
        return train, test, True
    splits = load_binarized_mnist(data)
    return splits["train"], splits["test"], False


def training_data(train, batch_size, dynamic, seed=0):
    """Batches of `train`, reshuffled each epoch; with `dynamic`, every epoch
    a fresh Bernoulli sample of the grey images. Both follow `seed`."""
    return datasets.make_dataset(train, batch_size,
                                 binarization="dynamic" if dynamic else None, seed=seed)

## Training


class TimeBudget(keras.callbacks.Callback):
    def __init__(self, seconds):
        super().__init__()
        self.seconds, self.start = seconds, time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if time.perf_counter() - self.start > self.seconds:
            self.model.stop_training = True

## Run


def run(objective, k, train, test, dynamic, args, budget_s):
    keras.utils.set_random_seed(args.seed)
    model = burda_mlp(objective, k if objective == "iwae" else 1, args.activation,
                      seed=args.seed)
    # Several steps per call cut Keras' per-step Python overhead, which is a
    # large share of a step this small (benchmarks/train_throughput.py).
    model.compile(optimizer=keras.optimizers.Adam(args.lr, epsilon=1e-4),
                  steps_per_execution=args.steps_per_execution)
    start = time.perf_counter()
    history = model.fit(training_data(train, args.batch_size, dynamic, args.seed),
                        epochs=args.epochs, verbose=0, callbacks=[TimeBudget(budget_s)])
    train_s = time.perf_counter() - start
    x = test[:args.eval_examples]
    start = time.perf_counter()
    log_px = evaluation.log_marginal_likelihood(model, x, num_samples=args.num_samples,
                                                seed=args.seed)
    eval_s = time.perf_counter() - start
    return {"objective": objective, "k": k if objective == "iwae" else 1, "epochs": len(history.history["loss"]),
            "train_seconds": round(train_s, 1), "eval_seconds": round(eval_s, 1),
            "test_nll": float(-log_px.mean()),
            "test_nll_stderr": float(log_px.std(ddof=1) / np.sqrt(len(log_px))),
            "test_neg_elbo": float(-evaluation.elbo(model, x, num_samples=10).mean()),
            "active_units": evaluation.active_units(model, x),
            "final_train_loss": float(history.history["loss"][-1]),
            "eval_examples": len(x), "num_samples": args.num_samples}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True,
                        help="binarized MNIST .npz (train/valid/test keys) or a "
                             "tfvae.datasets name, e.g. 'fashion_mnist'")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--time-budget-minutes", type=float, default=None,
                        help="total training budget, split evenly between objectives")
    parser.add_argument("--objective", nargs="+", default=["elbo", "iwae"],
                        choices=["elbo", "iwae"])
    parser.add_argument("--k", type=int, default=5, help="IWAE samples")
    parser.add_argument("--eval-examples", type=int, default=10000)
    parser.add_argument("--num-samples", type=int, default=5000)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--steps-per-execution", type=int, default=10)
    parser.add_argument("--activation", default="tanh", choices=["tanh", "relu"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="write results as JSON here")
    args = parser.parse_args(argv)

    train, test, dynamic = load(args.data, args.seed)
    budget_s = (args.time_budget_minutes * 60 / len(args.objective)
                if args.time_budget_minutes else float("inf"))
    results = []
    run_info = {"machine": machine(), "command": command(__file__, argv), "args": vars(args)}
    for obj in args.objective:
        results.append(run(obj, args.k, train, test, dynamic, args, budget_s))
        # Each model takes up to an hour: keep what is done if the next one dies.
        if args.out:
            atomic.write_json(args.out, {**run_info, "results": results}, overwrite=True)

    print(f"Test NLL, K={args.num_samples} importance samples, "
          f"{results[0]['eval_examples']} test images (nats; lower is better)")
    print(f"{'model':<10} {'epochs':>6} {'train s':>8} {'eval s':>7} {'NLL':>8} "
          f"{'± s.e.':>7} {'−ELBO':>8} {'active':>6}")
    for r in results:
        name = "VAE" if r["objective"] == "elbo" else f"IWAE k={r['k']}"
        print(f"{name:<10} {r['epochs']:>6} {r['train_seconds']:>8.1f} {r['eval_seconds']:>7.1f} "
              f"{r['test_nll']:>8.2f} {r['test_nll_stderr']:>7.2f} {r['test_neg_elbo']:>8.2f} "
              f"{r['active_units']:>6}")
    if not dynamic:  # the published numbers are for the fixed binarization of MNIST
        print("references (3280 epochs): VAE 89.9 / IWAE k=50 87.1 (Burda et al. appx. D); "
              "Pythae 89.78 / 86.82")
    provenance(__file__, argv)


if __name__ == "__main__":
    main()
