"""Priors p(z) over the latent space, as Keras layers that own any weights.

`distribution()` returns a `tfd.Distribution` with event shape [latent_dim].
A prior whose KL to the diagonal-Gaussian posterior has a closed form
(`StandardNormal`) gets the analytic KL; any other gets the Monte Carlo
estimate log q(z|x) − log p(z) at the sampled z.

#### Mathematical details
- StandardNormal: p(z) = N(0, I); KL(N(μ, σ²) ‖ N(0, I)) =
  −½ Σ_j (1 + log σ_j² − μ_j² − σ_j²).
- MixtureOfGaussians: p(z) = Σ_k π_k N(z; m_k, diag(s_k²)), π = softmax(w),
  s = softplus(·): all of w, m, s are learned with the rest of the model.
"""

import math

import keras
import tensorflow_probability as tfp
from keras import ops

from tfvae.validation import check_number, check_positive_int

tfd = tfp.distributions


class Prior(keras.layers.Layer):
    """Base class. `build(latent_dim)` then `distribution()`."""

    has_analytic_kl = False

    def build(self, latent_dim):
        self.latent_dim = int(latent_dim)
        self.built = True

    def distribution(self):
        raise NotImplementedError


@keras.saving.register_keras_serializable(package="tfvae")
class StandardNormal(Prior):
    """p(z) = N(0, I), the default.

    Example:
    ```python
    vae = tfvae.VAE((28, 28), 2, prior=tfvae.priors.StandardNormal())
    ```
    """

    has_analytic_kl = True

    def distribution(self):
        zeros = ops.zeros((self.latent_dim,), dtype="float32")
        return tfd.Independent(tfd.Normal(zeros, ops.ones_like(zeros)), 1)


@keras.saving.register_keras_serializable(package="tfvae")
class MixtureOfGaussians(Prior):
    """A learnable mixture of diagonal Gaussians.

    Args:
        num_components: int ≥ 1.
        init_scale: float, initial σ of every component.
        seed: int or None, for the initial component means.

    Example:
    ```python
    vae = tfvae.VAE((28, 28), 8,
                    prior=tfvae.priors.MixtureOfGaussians(num_components=10))
    ```
    """

    def __init__(self, num_components=10, init_scale=1.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.num_components = check_positive_int(num_components, "num_components")
        self.init_scale = check_number(init_scale, "init_scale", minimum=0.0, strict=True)
        self.seed = seed

    def build(self, latent_dim):
        self.latent_dim = int(latent_dim)
        k, d = self.num_components, self.latent_dim
        self.logits = self.add_weight(shape=(k,), initializer="zeros", name="logits")
        self.locs = self.add_weight(
            shape=(k, d), name="locs",
            initializer=keras.initializers.RandomNormal(stddev=1.0, seed=self.seed))
        self.raw_scales = self.add_weight(
            shape=(k, d), name="raw_scales",
            initializer=keras.initializers.Constant(math.log(math.expm1(self.init_scale))))
        self.built = True

    def distribution(self):
        components = tfd.Independent(
            tfd.Normal(self.locs, ops.softplus(self.raw_scales) + 1e-4), 1)
        return tfd.MixtureSameFamily(tfd.Categorical(logits=self.logits), components)

    def get_config(self):
        return {**super().get_config(), "num_components": self.num_components,
                "init_scale": self.init_scale, "seed": self.seed}


class DistributionPrior(Prior):
    """Any fixed `tfd.Distribution` with event shape [latent_dim].

    The KL term is then estimated by Monte Carlo. A model with such a prior
    trains and evaluates, but cannot be saved as `.keras` (a distribution is not
    a Keras object): subclass `Prior` and register it to make it saveable.
    """

    def __init__(self, dist, **kwargs):
        super().__init__(**kwargs)
        self.dist = dist

    def build(self, latent_dim):
        event = self.dist.event_shape
        if event.rank != 1 or event[0] != latent_dim:
            raise ValueError(
                f"The prior must have event shape [latent_dim]=[{latent_dim}]. "
                f"Received a {type(self.dist).__name__} with event shape {event}."
                " Wrap per-dimension distributions in tfd.Independent(..., 1)."
            )
        super().build(latent_dim)

    def distribution(self):
        return self.dist

    def get_config(self):
        raise TypeError(
            f"A VAE whose prior is a raw {type(self.dist).__name__} cannot be "
            "serialized. Subclass tfvae.priors.Prior and register it with "
            "@keras.saving.register_keras_serializable() to save the model."
        )


NAMES = ("standard_normal", "mixture_of_gaussians")


def get(identifier, latent_dim=None):
    """Returns a `Prior` from None, a name, a `Prior` or a `tfd.Distribution`.

    Args:
        identifier: None (standard normal), one of `NAMES`, a `Prior`, or a
            `tfd.Distribution` with event shape [latent_dim].
        latent_dim: None or int; a `Prior` already built for another latent
            size is refused (its weights cannot serve this one).

    Returns:
        A `Prior` layer.

    Example:
    ```python
    prior = tfvae.priors.get("mixture_of_gaussians")
    ```
    """
    if identifier is None:
        return StandardNormal()
    if isinstance(identifier, Prior):
        built_for = getattr(identifier, "latent_dim", None) if identifier.built else None
        if latent_dim is not None and built_for not in (None, latent_dim):
            raise ValueError(
                f"The prior {type(identifier).__name__} was built for latent_dim="
                f"{built_for} and cannot serve latent_dim={latent_dim}; pass a new prior "
                f"instance. Received: prior={identifier!r}, latent_dim={latent_dim}")
        return identifier
    if isinstance(identifier, type):
        raise ValueError(
            f"Received the class {identifier.__name__} as the prior; pass an instance "
            f"such as {identifier.__name__}() or a name in {list(NAMES)}. "
            f"Received: prior={identifier!r}")
    if isinstance(identifier, tfd.Distribution):
        return DistributionPrior(identifier)
    if isinstance(identifier, dict):
        return keras.saving.deserialize_keras_object(identifier)
    if isinstance(identifier, str):
        key = identifier.lower()
        if key == "standard_normal":
            return StandardNormal()
        if key == "mixture_of_gaussians":
            return MixtureOfGaussians()
    raise ValueError(
        f"Unrecognized prior={identifier!r}. Supported priors are: {list(NAMES)}, "
        "a tfvae.priors.Prior, or a tfd.Distribution over the latent."
    )
