"""Approximate posteriors q(z|x): the diagonal Gaussian and inverse autoregressive flows.

The encoder maps x to features and the VAE's `GaussianPosteriorHead` maps them
to (μ, σ), the base Gaussian q0(z0|x) = N(μ, diag σ²). A posterior turns the
reparameterised z0 = μ + σ·ε into z and gives log q(z|x) at the same time
(`sample_and_log_prob`), and returns q(z|x) as a `tfd.Distribution`
(`distribution`). `DiagonalGaussian` keeps z = z0 (and the closed-form KL to N(0, I));
`IAF` pushes z0 through an inverse autoregressive flow conditioned on x.

#### Mathematical details
IAF (Kingma et al. 2016): z_0 = μ + σ·ε, then for t = 1..T

    z_t = s_t ⊙ z_{t−1} + m_t,   (m_t, s_t) = MADE_t(z_{t−1}, h(x)),

where output i of MADE_t depends on the first i − 1 coordinates of its input
only, so ∂z_t/∂z_{t−1} is triangular and log|det| = Σ_i log s_{t,i}. The
coordinates are reversed between steps, so every coordinate conditions every
other after two steps. With z = z_T,

    log q(z|x) = log N(z_0; μ, σ²) − Σ_t Σ_i log s_{t,i},

evaluated at the ε that drew z_0 (every step runs in parallel over i; no
inversion is needed). The steps' MADE and their bounded scale are
`tfvae.flows`'s; an untrained IAF model is its Gaussian model. h(x) is a
learned projection (Dense + ReLU) of the encoder features, added to the first
hidden layer of every MADE. `distribution` builds the same map from
`tfb.Invert(tfb.MaskedAutoregressiveFlow(bijector_fn=...))` and `tfb.Permute`;
its `log_prob` of an arbitrary z inverts the flow exactly (d sequential MADE
passes per step).
"""

import keras
import tensorflow_probability as tfp
from keras import ops

from tfvae import flows
from tfvae.layers import gaussian_log_prob_from_noise
from tfvae.validation import check_int_tuple, check_positive_int

tfd = tfp.distributions
tfb = tfp.bijectors

NAMES = ("gaussian", "iaf")


class Posterior(keras.layers.Layer):
    """Base class: `build(latent_dim, features_shape)`, then the two methods the VAE calls.

    Attributes:
        has_analytic_kl: bool, q(z|x) is the diagonal Gaussian, whose KL to a
            standard-normal prior has a closed form.
        factorises: bool, log q(z|x) is a sum of one term per latent
            dimension (per-dimension KL and free bits then apply per dimension).
    """

    has_analytic_kl = False
    factorises = False

    def __init__(self, **kwargs):
        kwargs["dtype"] = "float32"  # the posterior keeps full precision, as the head does
        super().__init__(**kwargs)

    def build(self, latent_dim, features_shape):
        self.latent_dim = int(latent_dim)
        self.built = True

    def get_build_config(self):
        # Nothing to record: the VAE that loads it builds it from its encoder.
        return None

    def sample_and_log_prob(self, loc, scale, epsilon, features, sum_dims=True):
        """z ~ q(z|x) from the noise ε, and log q(z|x) at that z.

        Args:
            loc, scale: (batch, latent_dim) float32, the base Gaussian.
            epsilon: float32 noise shaped (..., batch, latent_dim), e.g.
                (k, batch, latent_dim) for k samples per example.
            features: (batch, n) encoder features.
            sum_dims: bool; False returns log q per dimension when the
                posterior factorises (else it is ignored).

        Returns:
            `(z, log_q)`: z shaped like epsilon, log_q shaped like epsilon
            without its last axis (or with it, per dimension).
        """
        raise NotImplementedError

    def distribution(self, loc, scale, features):
        """q(z|x) as a `tfd.Distribution` with batch shape [batch], event shape [latent_dim]."""
        raise NotImplementedError


@keras.saving.register_keras_serializable(package="tfvae")
class DiagonalGaussian(Posterior):
    """q(z|x) = N(μ(x), diag σ(x)²), the default: z = μ + σ·ε.

    Example:
    ```python
    vae = tfvae.VAE((28, 28), 2, posterior=tfvae.posteriors.DiagonalGaussian())
    ```
    """

    has_analytic_kl = True
    factorises = True

    def sample_and_log_prob(self, loc, scale, epsilon, features, sum_dims=True):
        z = loc + scale * epsilon
        return z, gaussian_log_prob_from_noise(epsilon, scale, sum_dims=sum_dims)

    def distribution(self, loc, scale, features):
        return tfd.Independent(tfd.Normal(loc=loc, scale=scale), reinterpreted_batch_ndims=1)


@keras.saving.register_keras_serializable(package="tfvae")
class IAF(Posterior):
    """An inverse autoregressive flow posterior (Kingma et al. 2016).

    z_0 = μ(x) + σ(x)·ε, then `num_steps` steps z_t = s_t ⊙ z_{t−1} + m_t, each
    a MADE conditioned on a context h(x) projected from the encoder features,
    with the coordinates reversed between steps (see the module docstring).
    The KL is then a Monte Carlo estimate; q(z|x) has no closed-form mean.

    Args:
        num_steps: int ≥ 1, T.
        hidden_units: tuple of ints, the widths of each step's MADE; h(x) has
            `hidden_units[0]` units.

    Example:
    ```python
    vae = tfvae.VAE((28, 28), 8, posterior=tfvae.posteriors.IAF(num_steps=2,
                                                                hidden_units=(64, 64)))
    ```
    """

    def __init__(self, num_steps=2, hidden_units=(320, 320), **kwargs):
        super().__init__(**kwargs)
        self.num_steps = check_positive_int(num_steps, "num_steps")
        self.hidden_units = check_int_tuple(hidden_units, "hidden_units", example="(320, 320)")
        self.context = keras.layers.Dense(self.hidden_units[0], activation="relu",
                                          dtype="float32", name="context")

    def build(self, latent_dim, features_shape):
        self.latent_dim = int(latent_dim)
        self.context.build(tuple(features_shape))
        self.steps = flows.build_steps(self, self.num_steps, self.latent_dim, self.hidden_units,
                                       context_size=self.hidden_units[0])
        self.built = True

    def sample_and_log_prob(self, loc, scale, epsilon, features, sum_dims=True):
        h = self.context(ops.cast(features, "float32"))
        z = loc + scale * epsilon
        log_q = gaussian_log_prob_from_noise(epsilon, scale)                # log N(z0; μ, σ²)
        for t, made in enumerate(self.steps):
            if t:
                z = ops.flip(z, axis=-1)
            shift, log_scale = flows.shift_and_log_scale(made, z, h)
            z = z * ops.exp(log_scale) + shift
            log_q = log_q - ops.sum(log_scale, axis=-1)                     # − log|det|
        return z, log_q

    def distribution(self, loc, scale, features):
        h = self.context(ops.cast(features, "float32"))
        # MAF's inverse is its parallel direction: inverted, it is the flow's forward.
        steps = [tfb.Invert(tfb.MaskedAutoregressiveFlow(
            bijector_fn=flows.affine_bijector_fn(made, h, invert=True), unroll_loop=True))
            for made in self.steps]
        base = tfd.Independent(tfd.Normal(loc=loc, scale=scale), reinterpreted_batch_ndims=1)
        return tfd.TransformedDistribution(base, flows.chain(steps, self.latent_dim))

    def get_config(self):
        return {**super().get_config(), "num_steps": self.num_steps,
                "hidden_units": list(self.hidden_units)}


def get(identifier, latent_dim=None):
    """Returns a `Posterior` from None, a name, a `Posterior` or its config.

    Args:
        identifier: None ("gaussian"), one of `NAMES`, a `Posterior`, or a
            serialized one (a dict).
        latent_dim: None or int; a `Posterior` already built for another
            latent size is refused (its weights cannot serve this one).

    Returns:
        A `Posterior` layer.

    Example:
    ```python
    posterior = tfvae.posteriors.get("iaf")
    ```
    """
    if identifier is None:
        return DiagonalGaussian()
    if isinstance(identifier, Posterior):
        built_for = getattr(identifier, "latent_dim", None) if identifier.built else None
        if latent_dim is not None and built_for not in (None, latent_dim):
            raise ValueError(
                f"The posterior {type(identifier).__name__} was built for latent_dim="
                f"{built_for} and cannot serve latent_dim={latent_dim}; pass a new "
                f"instance. Received: posterior={identifier!r}, latent_dim={latent_dim}")
        return identifier
    if isinstance(identifier, dict):
        return keras.saving.deserialize_keras_object(identifier)
    if isinstance(identifier, str):
        key = identifier.lower()
        if key == "gaussian":
            return DiagonalGaussian()
        if key == "iaf":
            return IAF()
    raise ValueError(f"Unrecognized posterior={identifier!r}. Supported posteriors are: "
                     f"{list(NAMES)}, or a tfvae.posteriors.Posterior instance.")
