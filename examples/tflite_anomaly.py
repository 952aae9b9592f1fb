"""
Title: On-device anomaly scores with the `score` signature of a LiteRT VAE
Description: train a Bernoulli VAE on binarized Fashion-MNIST, export one
`.tflite` file with a `score` signature (ELBO and IWAE-k, batch 1), and rank
test images against corrupted ones by ROC AUC, with ai_edge_litert + numpy only.

Two steps. The first (TensorFlow, once) trains, exports `vae.tflite` and writes
the binarized test images to `images.npz`; with `--mnist PATH` (an .npz with a
`test` array of binarized MNIST digits, e.g. ../shared/data/binarized_mnist.npz)
it adds MNIST digits. The second scores them on the LiteRT interpreter and never
imports TensorFlow; given `--model` and `--images`, the script runs it alone.

What the score can and cannot separate: corruptions that make an image unlike
any training image under the pixel-wise Bernoulli model (noise, inversion) get
far lower ELBOs. A likelihood is not a detector of *semantic* novelty: a VAE
trained on Fashion-MNIST gives MNIST digits, which have fewer and simpler
lit pixels, higher likelihoods than its own test images (Nalisnick et al.
2019, "Do deep generative models know what they don't know?"); this script
measures that too and prints an AUC below 0.5 when it happens.

Usage:
    python examples/tflite_anomaly.py --output-dir anomaly \\
        --mnist ../shared/data/binarized_mnist.npz
    python examples/tflite_anomaly.py --model anomaly/vae.tflite --images anomaly/images.npz
"""

## Setup
import argparse
import json
import os
import sys

import numpy as np
from ai_edge_litert.interpreter import Interpreter

## Training and export (TensorFlow, once)


def train_and_export(args):
    """Trains on binarized Fashion-MNIST and writes vae.tflite and images.npz."""
    import keras

    import exporters
    import tfvae

    keras.utils.set_random_seed(0)
    try:
        x_train, x_test = (tfvae.datasets.load("fashion_mnist", split=s) for s in ("train", "test"))
        source = "full Fashion-MNIST"
    except (FileNotFoundError, ValueError):
        x_train, x_test = (tfvae.datasets.load("default", split=s) for s in ("train", "test"))
        source = "embedded Fashion-MNIST sample"
    if args.quick:
        x_train = x_train[:1000]
    print(f"data: {source}, {len(x_train)} training images")
    train = tfvae.datasets.make_dataset(x_train, batch_size=128, binarization="dynamic", seed=0)
    model = tfvae.VAE((28, 28), 16, architecture=args.architecture,
                      hidden_units=(64, 32) if args.quick else (512, 256), seed=0)
    model.fit(train, epochs=1 if args.quick else args.epochs, verbose=0)
    model_path = os.path.join(args.output_dir, "vae.tflite")
    info = exporters.export_tflite(model, model_path, signatures=("score",), batch_size=1,
                                   num_samples=args.num_samples, overwrite=True)
    print(f"exported {model_path}: {info['size_bytes']} bytes, score max abs error vs Keras "
          f"{info['parity']['score']['max_abs_error']:.2g} nats, XNNPACK left "
          f"{info['delegation']['score']['xnnpack']['cpu'] or 'no op'} to the CPU")
    images = {"fashion": tfvae.datasets.binarize(x_test[:args.max_test], seed=1)}
    if args.mnist:
        with np.load(args.mnist) as f:               # the test split is sorted by digit
            digits = f["test"][np.random.default_rng(3).permutation(len(f["test"]))]
        images["mnist"] = digits[:args.max_test].reshape(-1, 28, 28).astype("float32")
    images_path = os.path.join(args.output_dir, "images.npz")
    np.savez_compressed(images_path, **images)
    return model_path, images_path


## Corruptions of binary images (numpy)


def corrupt(x, kind, rng):
    """`x` (n, 28, 28) of 0/1 pixels with "noise", "occlusion" or "inverted" applied."""
    if kind == "noise":                       # flip 10% of the pixels
        return np.where(rng.random(x.shape) < 0.1, 1.0 - x, x).astype("float32")
    if kind == "occlusion":                   # a white 10×10 patch at a random place
        x = x.copy()
        for image, (i, j) in zip(x, rng.integers(0, 18, size=(len(x), 2))):
            image[i:i + 10, j:j + 10] = 1.0
        return x
    return (1.0 - x).astype("float32")        # inverted


CORRUPTIONS = ("noise", "occlusion", "inverted")

## Scoring on the LiteRT interpreter (no TensorFlow)


def score(model_path, images, seed=0):
    """(ELBO, IWAE) per image in nats from the file's `score` signature, batch by batch."""
    runner = Interpreter(model_path=model_path).get_signature_runner("score")
    noise_shape = runner.get_input_details()["eps"]["shape"]     # [k, B, d] or [B, d]
    batch = noise_shape[-2]
    rng = np.random.default_rng(seed)
    elbo, iwae = [], []
    for start in range(0, len(images) - batch + 1, batch):
        out = runner(x=images[start:start + batch],
                     eps=rng.standard_normal(noise_shape).astype("float32"))
        elbo.append(out["elbo"])
        iwae.append(out.get("iwae", out["elbo"]))
    return np.concatenate(elbo), np.concatenate(iwae)


## ROC AUC from ranks (numpy)


def roc_auc(normal, anomalous):
    """P(an anomalous score > a normal one), ties counting ½: the Mann–Whitney statistic.

    Scores are "higher = more anomalous"; pass −ELBO.
    """
    values = np.concatenate([normal, anomalous])
    ranks = np.empty(len(values))
    ranks[np.argsort(values, kind="mergesort")] = np.arange(1, len(values) + 1)
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    ranks = (np.bincount(inverse, weights=ranks) / counts)[inverse]   # ties: mean rank
    n = len(anomalous)
    return (ranks[len(normal):].sum() - n * (n + 1) / 2) / (n * len(normal))


## Main


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--quick", action="store_true", help="a tiny run, for tests")
    parser.add_argument("--output-dir", default="anomaly_output")
    parser.add_argument("--model", help="an exported .tflite with a score signature "
                                        "(skips training; needs --images)")
    parser.add_argument("--images", help="the images.npz written beside it")
    parser.add_argument("--mnist", help="an .npz with binarized MNIST digits in `test`")
    parser.add_argument("--architecture", default="conv", choices=("mlp", "conv"))
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--num-samples", type=int, default=8, help="k of the IWAE bound")
    parser.add_argument("--max-test", type=int, default=2000, help="images per set")
    args = parser.parse_args(argv)
    if args.quick:
        args.architecture, args.max_test = "mlp", min(args.max_test, 200)
    os.makedirs(args.output_dir, exist_ok=True)
    model_path, images_path = ((args.model, args.images) if args.model
                               else train_and_export(args))
    with np.load(images_path) as f:
        images = {name: f[name] for name in f.files}

    fashion = images["fashion"]
    scores = {"Fashion-MNIST test": score(model_path, fashion)}
    rng = np.random.default_rng(2)
    for kind in CORRUPTIONS:
        scores[kind] = score(model_path, corrupt(fashion, kind, rng))
    if "mnist" in images:
        scores["MNIST digits"] = score(model_path, images["mnist"])
    normal_elbo, normal_iwae = scores.pop("Fashion-MNIST test")
    print(f"\nFashion-MNIST test: mean ELBO {normal_elbo.mean():.1f}, "
          f"IWAE {normal_iwae.mean():.1f} nats ({len(normal_elbo)} images)")
    print("| anomalies | mean ELBO | AUC (−ELBO) | AUC (−IWAE) |\n|---|---|---|---|")
    aucs = {}
    for name, (elbo, iwae) in scores.items():
        aucs[name] = (roc_auc(-normal_elbo, -elbo), roc_auc(-normal_iwae, -iwae))
        print(f"| {name} | {elbo.mean():.1f} | {aucs[name][0]:.3f} | {aucs[name][1]:.3f} |")
    if "MNIST digits" in aucs and aucs["MNIST digits"][0] < 0.5:
        print("MNIST digits score HIGHER than the model's own test images: the likelihood "
              "does not flag this kind of novelty.")
    elif "MNIST digits" not in aucs:
        print("MNIST vs Fashion-MNIST not measured: pass --mnist PATH.")
    with open(os.path.join(args.output_dir, "auc.json"), "w") as f:
        json.dump({name: {"elbo": a, "iwae": b} for name, (a, b) in aucs.items()}, f, indent=1)
    # The point of this step: the runtime alone scores the images.
    print(f"tensorflow imported: {'tensorflow' in sys.modules}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
