"""Priors p(z) over the latent space, as Keras layers that own any weights.

`distribution()` returns a `tfd.Distribution` with event shape [latent_dim].
A prior whose KL to the diagonal-Gaussian posterior has a closed form
(`StandardNormal`) gets the analytic KL; any other gets the Monte Carlo
estimate log q(z|x) − log p(z) at the sampled z. `tfvae.VAE` calls
`attach(model)` and then `build(latent_dim)`; a prior that depends on the
model (`VampPrior`, on its encoder) reads what it needs in `attach`.

#### Mathematical details
- StandardNormal: p(z) = N(0, I); KL(N(μ, σ²) ‖ N(0, I)) =
  −½ Σ_j (1 + log σ_j² − μ_j² − σ_j²).
- MixtureOfGaussians: p(z) = Σ_k π_k N(z; m_k, diag(s_k²)), π = softmax(w),
  s = softplus(·): all of w, m, s are learned with the rest of the model.
- VampPrior (Tomczak & Welling 2018): p(z) = (1/K) Σ_k q0(z | u_k), the
  model's own Gaussian posterior q0(z|x) = N(μ(x), σ(x)²) at K learned
  pseudo-inputs u_k shaped like x, so log p(z) = logsumexp_k log q0(z|u_k)
  − log K. With an IAF posterior the components are its Gaussian base q0 (the
  flow's density at a pseudo-input would need the flow inverted per component).
- MAF (Papamakarios et al. 2017): u ~ N(0, I) and, for t = 1..T with the
  coordinates reversed between steps, z_t = s_t ⊙ z_{t−1} + m_t with
  (m_t, s_t) = MADE_t(z_t): output i depends on z_{t,1..i−1} only, so sampling
  runs each step once per coordinate while the density inverts every step in
  one pass, z_{t−1} = (z_t − m_t)/s_t, and
  log p(z) = log N(u; 0, I) − Σ_t Σ_i log s_{t,i}.
"""

import math
import weakref

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
from keras import ops

from tfvae import flows
from tfvae.validation import check_int_tuple, check_number, check_positive_int

tfd = tfp.distributions
tfb = tfp.bijectors


class Prior(keras.layers.Layer):
    """Base class. `build(latent_dim)` then `distribution()`."""

    has_analytic_kl = False

    def attach(self, model):
        """Called by `tfvae.VAE.build` before `build`; the default needs nothing."""

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


@keras.saving.register_keras_serializable(package="tfvae")
class VampPrior(Prior):
    """The VampPrior: a uniform mixture of the model's posterior at learned pseudo-inputs.

    The K pseudo-inputs, shaped like x, are the prior's only weights; the
    encoder is the model's (attached by `tfvae.VAE`, not a sub-layer of the
    prior, so its weights are stored once). They start uniform in [0, 1] (the
    range of most image data) unless `initialize_from(x)` copies in random
    training examples, as `tfvae train` does. The KL is a Monte Carlo estimate.

    Args:
        num_pseudo_inputs: int ≥ 1, K.
        seed: int or None, for the initial pseudo-inputs.

    Example:
    ```python
    vae = tfvae.VAE((28, 28), 8, prior=tfvae.priors.VampPrior(num_pseudo_inputs=50))
    vae.prior.initialize_from(x_train, seed=0)
    ```
    """

    def __init__(self, num_pseudo_inputs=500, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.num_pseudo_inputs = check_positive_int(num_pseudo_inputs, "num_pseudo_inputs")
        self.seed = seed
        self._posterior_params = None

    def attach(self, model):
        """Takes the model's example shape and its (μ, σ) map, held weakly."""
        shape = tuple(model.data_shape)
        if self.built and tuple(self.pseudo_inputs.shape[1:]) != shape:
            raise ValueError(
                f"This VampPrior holds pseudo-inputs of shape "
                f"{tuple(self.pseudo_inputs.shape[1:])} and cannot serve a model with "
                f"input_shape={shape}; pass a new VampPrior.")
        self.data_shape = shape
        # A weak method: the encoder must not become a tracked sub-layer (saved
        # twice), nor the prior keep its model alive.
        self._posterior_params = weakref.WeakMethod(model.posterior_params)

    def build(self, latent_dim):
        if self._posterior_params is None:
            raise ValueError("A VampPrior needs the model's encoder: pass it to tfvae.VAE(..., "
                             "prior=VampPrior(...)), which attaches it before building.")
        self.latent_dim = int(latent_dim)
        self.pseudo_inputs = self.add_weight(
            shape=(self.num_pseudo_inputs,) + self.data_shape, name="pseudo_inputs",
            initializer=keras.initializers.RandomUniform(0.0, 1.0, seed=self.seed))
        self.built = True

    def get_build_config(self):
        # Nothing to record: the VAE that loads it attaches it, then builds it.
        return None

    def initialize_from(self, x, seed=None):
        """Copies K random rows of `x` into the pseudo-inputs (with replacement if n < K).

        Args:
            x: array (n, *input_shape), e.g. the training set.
            seed: None or int, which rows.
        """
        x = np.asarray(x, dtype="float32")
        if x.ndim < 1 or tuple(x.shape[1:]) != self.data_shape or len(x) == 0:
            raise ValueError(f"Received an invalid value for `x`, expected an array of shape "
                             f"(n, {', '.join(map(str, self.data_shape))}) with n >= 1. "
                             f"Received: x of shape {x.shape}")
        rng = np.random.default_rng(seed)
        rows = rng.choice(len(x), self.num_pseudo_inputs,
                          replace=len(x) < self.num_pseudo_inputs)
        self.pseudo_inputs.assign(x[rows])

    def component_params(self):
        """(loc, scale), each (K, latent_dim): the posterior at the pseudo-inputs."""
        posterior_params = self._posterior_params()
        if posterior_params is None:
            raise ValueError("The model this VampPrior was attached to no longer exists.")
        return posterior_params(self.pseudo_inputs)

    def distribution(self):
        loc, scale = self.component_params()
        components = tfd.Independent(tfd.Normal(loc, scale), 1)
        uniform = tfd.Categorical(logits=ops.zeros((self.num_pseudo_inputs,), "float32"))
        return _GaussianMixture(uniform, components)

    def get_config(self):
        return {**super().get_config(), "num_pseudo_inputs": self.num_pseudo_inputs,
                "seed": self.seed}


@keras.saving.register_keras_serializable(package="tfvae")
class MAF(Prior):
    """A masked autoregressive flow prior (Papamakarios et al. 2017): N(0, I) through learned steps.

    Its density is parallel (one MADE pass per step), so the Monte Carlo KL
    costs little; sampling runs each step once per latent dimension, as
    generation needs. The steps' MADE and bounded scale are `tfvae.flows`'s,
    the same as the IAF posterior's; an untrained MAF prior is N(0, I).

    Trained from the first step, the flow follows the aggregate of the untrained
    posteriors and the KL stays small (the latents carry little); the
    leaderboard's `iaf_maf` row holds its weights (`prior.trainable = False`)
    for the first 10% of its schedule.

    Args:
        num_steps: int ≥ 1, T.
        hidden_units: tuple of ints, the widths of each step's MADE.

    Example:
    ```python
    vae = tfvae.VAE((28, 28), 8, prior=tfvae.priors.MAF(num_steps=2, hidden_units=(64, 64)))
    ```
    """

    def __init__(self, num_steps=2, hidden_units=(320, 320), **kwargs):
        kwargs["dtype"] = "float32"
        super().__init__(**kwargs)
        self.num_steps = check_positive_int(num_steps, "num_steps")
        self.hidden_units = check_int_tuple(hidden_units, "hidden_units", example="(320, 320)")

    def build(self, latent_dim):
        self.latent_dim = int(latent_dim)
        self.steps = flows.build_steps(self, self.num_steps, self.latent_dim, self.hidden_units)
        self.built = True

    def distribution(self):
        return _MaskedAutoregressiveFlow(self.steps, self.latent_dim)

    def get_config(self):
        return {**super().get_config(), "num_steps": self.num_steps,
                "hidden_units": list(self.hidden_units)}


class _MaskedAutoregressiveFlow(tfd.TransformedDistribution):
    """N(0, I) through MAF steps with the coordinates reversed between them.

    TFP's `log_prob` would run each step's MADE twice (once for the inverse,
    once for its log-det); here it runs once per step.
    """

    def __init__(self, steps, latent_dim):
        parameters = dict(locals())
        self._steps = steps
        maf_steps = [tfb.MaskedAutoregressiveFlow(bijector_fn=flows.affine_bijector_fn(made),
                                                  unroll_loop=True) for made in steps]
        zeros = ops.zeros((latent_dim,), dtype="float32")
        super().__init__(tfd.Independent(tfd.Normal(zeros, ops.ones_like(zeros)), 1),
                         flows.chain(maf_steps, latent_dim), name="MaskedAutoregressiveFlow")
        self._parameters = parameters

    @classmethod
    def _parameter_properties(cls, dtype, num_classes=None):
        return {}  # the weights are the MADEs', not tensors of this distribution

    def _log_prob(self, z):
        log_det = 0.0
        for t in reversed(range(len(self._steps))):
            shift, log_scale = flows.shift_and_log_scale(self._steps[t], z)
            z = (z - shift) * ops.exp(-log_scale)
            log_det = log_det + ops.sum(log_scale, axis=-1)
            if t:
                z = ops.flip(z, axis=-1)
        return self.distribution.log_prob(z) - log_det


class _GaussianMixture(tfd.MixtureSameFamily):
    """A mixture of K diagonal Gaussians whose log_prob never holds n·K·d numbers.

    MixtureSameFamily evaluates every component at every point, an (n, K, d)
    tensor: 500 MB for the importance sampler's 5,000 latents with K = 500,
    d = 50. Here Σ_j (z_j − m_kj)²/s_kj² = z²·(1/s²)ᵀ − 2 z·(m/s²)ᵀ
    + Σ_j m_kj²/s_kj² is three (n, d) × (d, K) products, accumulated in float64 because the terms
    cancel when |m|/s is large (float64: not on TPUs).
    """

    def _log_prob(self, z):
        normal = self.components_distribution.distribution
        loc, scale = (tf.cast(t, tf.float64) for t in (normal.loc, normal.scale))
        precision = 1.0 / tf.square(scale)                                 # (K, d)
        shape = tf.shape(z)
        rows = tf.reshape(tf.cast(z, tf.float64), [-1, shape[-1]])         # (n, d)
        squared = (tf.matmul(tf.square(rows), precision, transpose_b=True)
                   - 2.0 * tf.matmul(rows, loc * precision, transpose_b=True)
                   + tf.reduce_sum(tf.square(loc) * precision, axis=-1))   # (n, K)
        log_components = -0.5 * squared - tf.reduce_sum(tf.math.log(scale), axis=-1) \
            - 0.5 * math.log(2.0 * math.pi) * tf.cast(shape[-1], tf.float64)
        log_mixture = tf.reduce_logsumexp(
            log_components + tf.cast(self.mixture_distribution.logits_parameter(), tf.float64)
            - tf.reduce_logsumexp(tf.cast(self.mixture_distribution.logits_parameter(),
                                          tf.float64)), axis=-1)
        return tf.reshape(tf.cast(log_mixture, z.dtype), shape[:-1])


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


NAMES = ("standard_normal", "mixture_of_gaussians", "vamp", "maf")


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
        if key == "vamp":
            return VampPrior()
        if key == "maf":
            return MAF()
    raise ValueError(
        f"Unrecognized prior={identifier!r}. Supported priors are: {list(NAMES)}, "
        "a tfvae.priors.Prior, or a tfd.Distribution over the latent."
    )
