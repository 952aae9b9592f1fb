"""
Title: Comparing models by their marginal likelihood log p(X | M)
Description: Train a VAE with a 2-d and one with an 8-d latent space on the
same binarized images and compare their estimated log-likelihoods on held-out
data with `tfvae.compare`.

The training ELBO is only a lower bound, and its gap to log p(x) differs from
model to model, so two ELBOs do not rank two models reliably. `compare`
estimates log p(x) by importance sampling with K samples from q(z|x) (the IWAE
bound, which tightens towards log p(x) as K grows) and reports it per model.
A Bernoulli likelihood is a proper probability only for 0/1 data, so the grey
levels are binarized once (statically) by sampling.

Usage:
    python examples/model_comparison.py --output-dir comparison_output
"""

## Setup
import argparse
import os

import keras

import tfvae

parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
parser.add_argument("--quick", action="store_true", help="a tiny run, for tests")
parser.add_argument("--num-samples", type=int, default=200, help="K importance samples")
parser.add_argument("--output-dir", default="comparison_output")
args = parser.parse_args()
os.makedirs(args.output_dir, exist_ok=True)
keras.utils.set_random_seed(0)

## Data: the embedded Fashion-MNIST sample, binarized once with a fixed seed
x_train = tfvae.datasets.binarize(tfvae.datasets.load("default", split="train"), seed=0)
x_test = tfvae.datasets.binarize(tfvae.datasets.load("default", split="test"), seed=1)
epochs, num_samples = 30, args.num_samples
if args.quick:
    x_train, x_test, epochs, num_samples = x_train[:512], x_test[:64], 1, 8
train = tfvae.datasets.make_dataset(x_train, batch_size=128, seed=0)

## Two models that differ only in the size of the latent space
models = {}
for latent_dim in (2, 8):
    model = tfvae.VAE((28, 28), latent_dim, hidden_units=(256, 128), seed=0)
    model.fit(train, epochs=epochs, verbose=0)
    elbo = model.evaluate(x_test, verbose=0, return_dict=True)["elbo"]
    print(f"latent_dim={latent_dim}: test ELBO {elbo:.1f} nats/image")
    models[f"latent_dim={latent_dim}"] = model

## Compare by estimated log p(X | M) on the held-out images
# Both are Bernoulli models scored on the same 0/1 images, so their log
# evidences compare; `compare` refuses grey levels for a Bernoulli model.
result = tfvae.compare(models, x_test, num_samples=num_samples, seed=0)
table = result.to_markdown()
print(f"\n{len(x_test)} test images; log p(X) sums over them, the rest are per image.")
# Δ vs best is a log Bayes factor; above 5 nats counts as very strong
# evidence for the best model (Kass & Raftery, 1995).
print(table)
path = os.path.join(args.output_dir, "comparison.md")
with open(path, "w") as f:
    f.write(table + "\n")
print("wrote", path)
