"""Log-densities for the on-device `score`, written with plain TensorFlow math ops.

The `score` signature computes log p(x|z), log p(z) and the KL term inside a
`.tflite` file, so each density must lower to TFLite builtins that the CPU
(XNNPACK) and GPU delegates take. TFP's own `log_prob` graphs do not:

- TFLite lowers `softplus(l)` to `log(1 + exp(l))`, which overflows to inf for
  l > 88; the Bernoulli form below uses `tfvae.layers.portable_softplus`,
  max(l, 0) + log1p(exp(−|l|)).
- TFP's Bernoulli adds EQUAL / SELECT_V2 ops and its ContinuousBernoulli
  comparisons, LOGICAL_* and SELECT ops, which XNNPACK leaves to the CPU
  (measured); on LiteRT the ContinuousBernoulli log_prob even returned −inf
  where TensorFlow gave −87 (logits up to 100, TF 2.21). So these forms use
  no comparison or select at all.

This module owns the allow-list of what `score` supports (`LIKELIHOODS`,
`PRIORS`); anything else raises ValueError at export time.

#### Mathematical details
With logits l, data x, posterior N(μ, diag σ²), z = μ + σ·ε:
- Bernoulli: log p(x|z) = Σ_d x_d l_d − softplus(l_d).
- ContinuousBernoulli: the Bernoulli term + log C(l), C(l) = l / tanh(l/2)
  (→ 2 as l → 0), evaluated at sqrt(l² + δ²), δ = 1e-4, to stay select-free.
- Gaussian(loc m, scale s): Σ_d −½((x_d − m_d)/s_d)² − log s_d − ½ log 2π.
- Standard-normal prior: log p(z) = Σ_j −½ z_j² − ½ log 2π, and
  KL(q ‖ p) = ½ Σ_j (μ_j² + σ_j² − 1 − 2 log σ_j).
- log q(z|x) = Σ_j −½ ε_j² − log σ_j − ½ log 2π (from the noise, as in
  `tfvae.layers.gaussian_log_prob_from_noise`).
"""

import math

LIKELIHOODS = ("Bernoulli", "ContinuousBernoulli", "Gaussian")
PRIORS = ("StandardNormal",)
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
_CB_DELTA = 1e-4


def check_score(model):
    """Raises ValueError unless `score` can be written for this model's likelihood and prior."""
    likelihood, prior = type(model.likelihood).__name__, type(model.prior).__name__
    if likelihood not in LIKELIHOODS:
        raise ValueError(
            f"The 'score' signature computes log p(x|z) with builtin ops for the "
            f"likelihoods {list(LIKELIHOODS)}; this model's likelihood is {likelihood}, "
            "whose log-density cannot be checked or lowered. Received: "
            f"likelihood={model.likelihood!r}. Leave 'score' out of `signatures`.")
    if prior not in PRIORS:
        raise ValueError(
            f"The 'score' signature supports the priors {list(PRIORS)} (closed-form KL "
            f"in builtin ops); this model's prior is {prior}. Received: "
            f"prior={model.prior!r}. Leave 'score' out of `signatures`.")


def _sum_data_axes(values, rank):
    import tensorflow as tf

    return tf.reduce_sum(values, axis=list(range(-rank, 0)))


def _log_normalizer_continuous_bernoulli(logits):
    import tensorflow as tf

    # C is even in l, and l / tanh(l/2) is 0/0 at l = 0: evaluating it at
    # u = sqrt(l² + δ²) ≥ δ needs no select op (which the delegates leave to
    # the CPU), and costs log C(u) − log C(l) ≤ δ²/12 ≈ 1e-9 nats per pixel.
    u = tf.sqrt(tf.square(logits) + _CB_DELTA ** 2)
    return tf.math.log(u / tf.tanh(0.5 * u))


def log_likelihood(model, params, x):
    """log p(x|z) per example from the decoder's output `params`.

    Args:
        model: a `tfvae.VAE` with a likelihood in `LIKELIHOODS`.
        params: float32 tensor (..., *data_shape), the decoder's output.
        x: float32 tensor broadcastable to `params`.

    Returns:
        A float32 tensor of the leading (non-data) shape of `params`.
    """
    import tensorflow as tf

    from tfvae.layers import portable_softplus

    rank = len(model.data_shape)
    name = type(model.likelihood).__name__
    if name == "Gaussian":
        scale = tf.cast(model.likelihood.current_scale(), "float32")
        log_density = (-0.5 * tf.square((x - params) / scale) - tf.math.log(scale)
                       - _HALF_LOG_2PI)
        return _sum_data_axes(log_density, rank)
    log_density = x * params - portable_softplus(params)
    if name == "ContinuousBernoulli":
        log_density += _log_normalizer_continuous_bernoulli(params)
    return _sum_data_axes(log_density, rank)


def standard_normal_log_prob(z):
    """log N(z; 0, I), summed over the last axis."""
    import tensorflow as tf

    return tf.reduce_sum(-0.5 * tf.square(z) - _HALF_LOG_2PI, axis=-1)


def posterior_log_prob(epsilon, scale):
    """log q(z|x) at z = μ + σ·ε, from the noise; summed over the last axis."""
    import tensorflow as tf

    return tf.reduce_sum(-0.5 * tf.square(epsilon) - tf.math.log(scale) - _HALF_LOG_2PI,
                         axis=-1)


def kl_standard_normal(loc, scale):
    """KL(N(loc, scale²) ‖ N(0, I)), summed over the last axis."""
    import tensorflow as tf

    return 0.5 * tf.reduce_sum(tf.square(loc) + tf.square(scale) - 1.0
                               - 2.0 * tf.math.log(scale), axis=-1)
