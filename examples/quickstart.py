"""
Title: Quickstart — a 2-d VAE on the embedded Fashion-MNIST sample
Description: Load data, build `tfvae.VAE`, fit, sample, save. Runs offline in
about a minute on a laptop CPU (`--quick`: a few seconds).

The embedded default is 4,000 training images of Fashion-MNIST shipped inside
the package, so this runs without a download. A 2-d latent space is small
enough to draw (see `save_latent_manifold`), at the cost of blurrier samples
than a larger one.

Usage:
    python examples/quickstart.py --output-dir quickstart_output
"""

## Setup
import argparse
import os

import tfvae

parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
parser.add_argument("--quick", action="store_true", help="a tiny run, for tests")
parser.add_argument("--output-dir", default="quickstart_output")
args = parser.parse_args()
os.makedirs(args.output_dir, exist_ok=True)

## Data: (n, 28, 28) float32 in [0, 1], batched and shuffled by tf.data
dataset = tfvae.datasets.load_dataset("default", batch_size=128, seed=0)
if args.quick:
    dataset = dataset.take(4)

## Model: an MLP encoder/decoder with a Bernoulli likelihood, z in R²
model = tfvae.VAE((28, 28), 2, seed=0)

## Train: the loss is the negative ELBO; no compile() needed
history = model.fit(dataset, epochs=1 if args.quick else 30, verbose=2)

## Sample from the prior and save the pictures and the model
samples = model.sample(64, seed=0)  # (64, 28, 28) decoded means
print(f"samples: shape {tuple(samples.shape)}, "
      f"final ELBO {history.history['elbo'][-1]:.1f} nats")
for name, save in [("samples.png", tfvae.plots.save_sample_grid),
                   ("manifold.png", tfvae.plots.save_latent_manifold)]:
    print("wrote", save(model, os.path.join(args.output_dir, name), overwrite=True))
model.save(os.path.join(args.output_dir, "vae.keras"))
print("wrote", os.path.join(args.output_dir, "vae.keras"))
