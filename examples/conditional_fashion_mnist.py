"""
Title: A class-conditional VAE on Fashion-MNIST
Description: `num_classes=10`, `fit(x, y)`, "draw me a sneaker", a class ×
sample grid, reconstructions given the label, and the model as a generative
classifier (p(y | x) by Bayes' rule, `tfvae.evaluation.classify`).

Uses the full Fashion-MNIST when `tfvae.datasets` can get it (on disk, e.g.
the Debian package dataset-fashion-mnist), else the 4,000-image sample
embedded in tfvae; the script says which. The images are binarized afresh
every epoch, so log p(x | y) is a log-likelihood of 0/1 images.
Full run: about 5 minutes on a 2-core CPU with the full data (`--epochs` to
change), `--quick`: a few seconds.

Usage:
    python examples/conditional_fashion_mnist.py --output-dir cvae_output
"""

## Setup
import argparse
import os

import keras
import numpy as np

import tfvae
from tfvae import plots

parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
parser.add_argument("--quick", action="store_true", help="a tiny run, for tests")
parser.add_argument("--epochs", type=int, default=8)
parser.add_argument("--output-dir", default="cvae_output")
args = parser.parse_args()
os.makedirs(args.output_dir, exist_ok=True)
keras.utils.set_random_seed(0)

## Data: images and their labels
try:
    x_train, y_train = tfvae.datasets.load("fashion_mnist", split="train", labels=True)
    x_test, y_test = tfvae.datasets.load("fashion_mnist", split="test", labels=True)
    source = "full Fashion-MNIST"
except (FileNotFoundError, ValueError) as error:
    print(f"Full Fashion-MNIST not available ({error}); using the embedded sample.")
    x_train, y_train = tfvae.datasets.load("default", split="train", labels=True)
    x_test, y_test = tfvae.datasets.load("default", split="test", labels=True)
    source = "embedded Fashion-MNIST sample"
if args.quick:
    x_train, y_train, x_test, y_test = x_train[:512], y_train[:512], x_test[:100], y_test[:100]
names = tfvae.datasets.FASHION_MNIST_CLASSES
print(f"data: {source}, {len(x_train)} training and {len(x_test)} test images, "
      f"{len(names)} classes")
# (x, y) batches; each epoch draws fresh 0/1 pixels from the grey levels.
train = tfvae.datasets.make_dataset(x_train, batch_size=128, labels=y_train,
                                    binarization="dynamic", seed=0)
x_test = tfvae.datasets.binarize(x_test, seed=0)

## Model: the encoder sees (x, y), the decoder (z, y); the prior p(z) is unconditional
model = tfvae.VAE((28, 28), 16, architecture="conv", num_classes=10, class_names=names,
                  seed=0)
model.fit(train, epochs=1 if args.quick else args.epochs, verbose=2)
result = model.evaluate(x_test, y_test, verbose=0, return_dict=True)
print(f"test ELBO of log p(x | y): {result['elbo']:.1f} nats/image")

## Draw me a sneaker
sneakers = model.sample(8, labels=names.index("Sneaker"), seed=0)
print(f"8 sneakers: shape {tuple(sneakers.shape)}")

## A generative classifier: p(y | x) ∝ p(x | y) p(y)
count = 20 if args.quick else 200
probabilities = tfvae.evaluation.classify(model, x_test[:count], num_samples=10 if args.quick
                                          else 100, seed=0)
accuracy = np.mean(probabilities.argmax(axis=1) == y_test[:count])
print(f"generative classifier accuracy on {count} test images: {accuracy:.1%}")

## Figures and the saved model
out = lambda name: os.path.join(args.output_dir, name)  # noqa: E731
for written in (
    plots.save_class_grid(model, out("class_samples.png"), per_class=8, overwrite=True),
    plots.save_sample_grid(model, out("sneakers.png"), n=16, labels=7, overwrite=True),
    plots.save_reconstructions(model, x_test, out("reconstructions.png"), n=10,
                               labels=y_test, overwrite=True),
):
    print("wrote", written)
model.save(out("cvae.keras"))
print("wrote", out("cvae.keras"))
