"""
Title: A convolutional VAE on Fashion-MNIST
Description: `architecture="conv"`, a 16-d latent space, samples,
reconstructions, the latent space (PCA) and training curves as PNGs.

Uses the full Fashion-MNIST (60,000 images) when `tfvae.datasets` can get it
(on disk, e.g. the Debian package dataset-fashion-mnist, or downloaded by Keras
when a network answers), else the 4,000-image sample embedded in tfvae; the
script says which.
Full run: about 4 minutes on a 2-core CPU with the full data (`--epochs` to
change), `--quick`: a few seconds.

Usage:
    python examples/conv_fashion_mnist.py --output-dir conv_output
"""

## Setup
import argparse
import os

import keras

import tfvae
from tfvae import plots

parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
parser.add_argument("--quick", action="store_true", help="a tiny run, for tests")
parser.add_argument("--epochs", type=int, default=10)
parser.add_argument("--output-dir", default="conv_output")
args = parser.parse_args()
os.makedirs(args.output_dir, exist_ok=True)
keras.utils.set_random_seed(0)

## Data: the full set if it is on this machine, else the embedded sample
try:
    x_train = tfvae.datasets.load("fashion_mnist", split="train")
    x_test, y_test = tfvae.datasets.load("fashion_mnist", split="test", labels=True)
    source = "full Fashion-MNIST"
except (FileNotFoundError, ValueError) as error:
    print(f"Full Fashion-MNIST not available ({error}); using the embedded sample.")
    x_train = tfvae.datasets.load("default", split="train")
    x_test, y_test = tfvae.datasets.load("default", split="test", labels=True)
    source = "embedded Fashion-MNIST sample"
if args.quick:
    x_train, x_test, y_test = x_train[:256], x_test[:200], y_test[:200]
print(f"data: {source}, {len(x_train)} training and {len(x_test)} test images")
train = tfvae.datasets.make_dataset(x_train, batch_size=128, seed=0)
test = tfvae.datasets.make_dataset(x_test, batch_size=500, shuffle=False)

## Model: two stride-2 convolutions down, two transposed convolutions up
model = tfvae.VAE((28, 28), 16, architecture="conv", filters=(32, 64), seed=0)

## Train
history = model.fit(train, validation_data=test, epochs=1 if args.quick else args.epochs,
                    verbose=2)
result = model.evaluate(test, verbose=0, return_dict=True)
print(f"test ELBO {result['elbo']:.1f} nats/image "
      f"(reconstruction {result['reconstruction']:.1f}, KL {result['kl']:.1f})")

## Figures
out = lambda name: os.path.join(args.output_dir, name)  # noqa: E731
for written in (
    plots.save_sample_grid(model, out("samples.png"), n=64, overwrite=True),
    plots.save_reconstructions(model, x_test, out("reconstructions.png"), n=10,
                               overwrite=True),
    plots.save_latent_scatter(model, x_test, y_test, out("latent_pca.png"),
                              class_names=plots.FASHION_MNIST_CLASSES, overwrite=True),
    plots.save_training_curves(history.history, out("training_curves.png"), overwrite=True),
):
    print("wrote", written)
