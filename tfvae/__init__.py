"""tfvae: variational auto-encoders for Keras 3 and TensorFlow Probability.

The path through a model reads x -> q(z|x) -> z -> p(x|z) -> ELBO; see
`tfvae.vae.VAE` for the whole of it in one file.
"""

__version__ = "0.1.0"

from tfvae import layers, likelihoods, optimizers, priors, networks  # noqa: E402,F401
from tfvae.vae import VAE  # noqa: E402,F401


def __getattr__(name):
    # These pull in more than the model needs (matplotlib, the CLI's run
    # folders); import them on first use.
    import importlib

    if name in ("atomic", "callbacks", "config", "datasets", "distribute", "evaluation",
                "plots"):
        return importlib.import_module(f"tfvae.{name}")
    if name == "compare":
        return importlib.import_module("tfvae.evaluation").compare
    raise AttributeError(f"module 'tfvae' has no attribute {name!r}")
