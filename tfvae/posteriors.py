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
inversion is needed). The scale is a sigmoid-bounded gate, Kingma's
numerically stable choice rescaled to be the identity at initialisation:
log s = log_sigmoid(g + 2) − log_sigmoid(2), so s ∈ (0, 1.135) and the log-det
never overflows; the MADE's output layer starts at zero, so every step starts
as z_t = z_{t−1} and an untrained IAF model is its Gaussian model. h(x) is a
learned projection (Dense + ReLU) of the encoder features, added to the first
hidden layer of every MADE. `distribution` builds the same map from
`tfb.Invert(tfb.MaskedAutoregressiveFlow(bijector_fn=...))` and `tfb.Permute`;
its `log_prob` of an arbitrary z inverts the flow exactly (d sequential MADE
passes per step).

TFP's `tfb.AutoregressiveNetwork` is a `tf_keras` layer: it runs inside a
Keras 3 model, but Keras 3 does not track its weights (measured: a Keras 3
layer holding one reports 0 weights for its 4), so `fit` would never train them
and `.keras` files would not save them. The MADE here is a Keras 3 layer.
"""

import keras
import numpy as np
import tensorflow_probability as tfp
from keras import ops

from tfvae.layers import gaussian_log_prob_from_noise
from tfvae.validation import check_int_tuple, check_positive_int

tfd = tfp.distributions
tfb = tfp.bijectors

NAMES = ("gaussian", "iaf")

# The gate's offset b: s = sigmoid(g + b) / sigmoid(b), as Kingma's forget bias.
_GATE_BIAS = 2.0


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
class MADE(keras.layers.Layer):
    """A masked autoencoder (Germain et al. 2015) with a context input, in Keras 3.

    Maps (z, h) to (shift, gate), each shaped like z, where output i depends
    on z_1..z_{i−1} and h only. Hidden unit degrees cycle over 0..d−1 (a
    degree-0 unit sees h alone, so the first output depends on x too); the
    context enters every unit of the first hidden layer. The output layer
    starts at zero.

    Args:
        event_size: int, d.
        hidden_units: tuple of ints, the hidden layers' widths.

    Call arguments:
        z: (..., d) float32.
        context: (..., n_context) float32, broadcastable against z.

    Returns:
        `(shift, gate)`, each shaped like z.

    Example:
    ```python
    made = MADE(3, (16, 16))
    made.build(8)
    shift, gate = made(ops.zeros((4, 3)), ops.ones((4, 8)))
    ```
    """

    def __init__(self, event_size, hidden_units=(320, 320), **kwargs):
        kwargs["dtype"] = "float32"
        super().__init__(**kwargs)
        self.event_size = check_positive_int(event_size, "event_size")
        self.hidden_units = check_int_tuple(hidden_units, "hidden_units", example="(320, 320)")

    def build(self, context_size):
        d = self.event_size
        degrees = [np.arange(1, d + 1)] + [np.arange(u) % d for u in self.hidden_units]
        # Hidden unit k sees input j iff degree k >= j; output i sees unit k iff i > k.
        self.masks = [(out[None, :] >= inp[:, None]).astype("float32")
                      for inp, out in zip(degrees[:-1], degrees[1:])]
        out_degrees = np.concatenate([np.arange(1, d + 1)] * 2)
        self.masks.append((out_degrees[None, :] > degrees[-1][:, None]).astype("float32"))
        widths = [d, *self.hidden_units]
        self.kernels = [self.add_weight(shape=(a, b), name=f"kernel_{i}",
                                        initializer="glorot_uniform")
                        for i, (a, b) in enumerate(zip(widths[:-1], widths[1:]))]
        self.biases = [self.add_weight(shape=(b,), name=f"bias_{i}", initializer="zeros")
                       for i, b in enumerate(self.hidden_units)]
        self.context_kernel = self.add_weight(shape=(int(context_size), self.hidden_units[0]),
                                              name="context_kernel",
                                              initializer="glorot_uniform")
        self.output_kernel = self.add_weight(shape=(self.hidden_units[-1], 2 * d),
                                             name="output_kernel", initializer="zeros")
        self.output_bias = self.add_weight(shape=(2 * d,), name="output_bias",
                                           initializer="zeros")
        self.built = True

    def call(self, z, context):
        h = z
        for i, (kernel, bias) in enumerate(zip(self.kernels, self.biases)):
            pre = ops.matmul(h, kernel * self.masks[i]) + bias
            if i == 0:
                pre = pre + ops.matmul(context, self.context_kernel)
            h = ops.relu(pre)
        out = ops.matmul(h, self.output_kernel * self.masks[-1]) + self.output_bias
        return out[..., :self.event_size], out[..., self.event_size:]

    def get_config(self):
        return {**super().get_config(), "event_size": self.event_size,
                "hidden_units": list(self.hidden_units)}


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
        self.steps = [MADE(self.latent_dim, self.hidden_units, name=f"made_{t}")
                      for t in range(self.num_steps)]
        for made in self.steps:
            made.build(self.hidden_units[0])
        self.built = True

    def sample_and_log_prob(self, loc, scale, epsilon, features, sum_dims=True):
        h = self.context(ops.cast(features, "float32"))
        z = loc + scale * epsilon
        log_q = gaussian_log_prob_from_noise(epsilon, scale)                # log N(z0; μ, σ²)
        for t, made in enumerate(self.steps):
            if t:
                z = ops.flip(z, axis=-1)
            shift, log_scale = _shift_and_log_scale(made, z, h)
            z = z * ops.exp(log_scale) + shift
            log_q = log_q - ops.sum(log_scale, axis=-1)                     # − log|det|
        return z, log_q

    def distribution(self, loc, scale, features):
        h = self.context(ops.cast(features, "float32"))
        reverse = tfb.Permute(permutation=list(range(self.latent_dim - 1, -1, -1)))
        bijectors = []
        for t, made in enumerate(self.steps):
            if t:
                bijectors.append(reverse)
            # MAF's inverse is its parallel direction: inverted, it is the flow's forward.
            bijectors.append(tfb.Invert(tfb.MaskedAutoregressiveFlow(
                bijector_fn=_step_bijector_fn(made, h), unroll_loop=True)))
        base = tfd.Independent(tfd.Normal(loc=loc, scale=scale), reinterpreted_batch_ndims=1)
        return tfd.TransformedDistribution(base, tfb.Chain(bijectors[::-1]))

    def get_config(self):
        return {**super().get_config(), "num_steps": self.num_steps,
                "hidden_units": list(self.hidden_units)}


def _shift_and_log_scale(made, z, context):
    """m and log s of one step: log s = log_sigmoid(g + b) − log_sigmoid(b), 0 at g = 0."""
    shift, gate = made(z, context)
    return shift, ops.log_sigmoid(gate + _GATE_BIAS) + float(np.log1p(np.exp(-_GATE_BIAS)))


def _step_bijector_fn(made, context):
    """MAF's `bijector_fn` for one step: a bijector whose inverse is y -> s⊙y + m."""
    def bijector_fn(y, **kwargs):
        shift, log_scale = _shift_and_log_scale(made, y, context)
        return tfb.Invert(tfb.Chain([tfb.Shift(shift), tfb.Scale(log_scale=log_scale)]))
    return bijector_fn


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
