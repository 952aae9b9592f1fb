"""Likelihoods p(x|z): decoder outputs -> `tfd.Distribution` over x.

A likelihood turns the decoder's output ("params", shaped like x, or like x
plus a trailing axis of size `num_params`) into an element-wise distribution;
`VAE.decode` then reinterprets the data axes as the event so that
`log_prob(x)` is one number per example.

Any callable `params -> tfd.Distribution` works too: wrap it in `Callable` (done
for you by `get`). To save such a model as `.keras` with safe_mode on, register
the function with `@keras.saving.register_keras_serializable()`.

#### Mathematical details
- Bernoulli(logits): log p(x|z) = Σ_d x_d log σ(l_d) + (1 − x_d) log(1 − σ(l_d))
  = Σ_d x_d l_d − softplus(l_d), x ∈ [0, 1]. Training accepts grey levels (the usual binary cross-entropy),
  but only for x ∈ {0, 1} is this a log-likelihood, so evaluation refuses
  grey levels (`check_density`).
- Gaussian(loc, σ): log p(x|z) = Σ_d −½((x_d − μ_d)/σ_d)² − log σ_d − ½ log 2π,
  σ fixed or learned per dimension.
- ContinuousBernoulli(logits): the properly normalised density on [0, 1]
  (Loaiza-Ganem & Cunningham 2019), log p = Bernoulli term + log C(λ).
"""

import math

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
from keras import ops

from tfvae.validation import check_number

tfd = tfp.distributions


class Likelihood(keras.layers.Layer):
    """Base class: `distribution(params)` returns an element-wise distribution.

    Subclasses set `num_params` (decoder outputs per data dimension), implement
    `distribution` and `mean` (in `keras.ops`, so exports stay TFLite-builtin),
    and may override `check_support` to reject data outside the support and
    `check_density` to reject data of which `log_prob` is not a density.
    """

    num_params = 1
    support = "real numbers"

    def distribution(self, params):
        raise NotImplementedError

    def mean(self, params):
        return self.distribution(params).mean()

    def check_support(self, x):
        """Raises ValueError if numpy array `x` lies outside the support."""

    def check_density(self, x, name="x"):
        """Raises ValueError unless `log_prob` is a normalised density of these data.

        Evaluation (log p(x), the IWAE bound, the ELBO, model comparison)
        calls this: a number reported as a log-likelihood must be the log of a
        density (or mass function) that integrates (sums) to one over the
        space the data live in. Training does not: a loss need not be a
        likelihood. The default checks only the support; `Bernoulli` also
        requires 0/1 data. A `Callable` likelihood cannot be checked, so
        whether its `log_prob` is a density of the data is left to the user.

        Args:
            x: numpy array of examples.
            name: str, the argument's name in the error message.
        """
        self.check_support(x)

    def build(self, params_shape):
        self.built = True


def _check_unit_interval(x, who):
    lo, hi = float(np.min(x)), float(np.max(x))
    if lo < 0.0 or hi > 1.0:
        hint = " Scale pixels to [0, 1] (divide by 255)." if hi > 1.0 else ""
        raise ValueError(
            f"The {who} likelihood needs data in [0, 1], but the data ranges "
            f"over [{lo:g}, {hi:g}].{hint}"
        )


class _LogitBernoulli(tfd.Bernoulli):
    """`tfd.Bernoulli` with log p(x) = x·l − softplus(l), one transcendental op.

    The same function of (x, l) as TFP's x·log σ(l) + (1 − x)·log(1 − σ(l)),
    which evaluates two softplus terms; with its gradient x − σ(l) this is the
    cheaper half of a decoder's per-pixel work. Rounding: the difference of
    x·l and softplus(l) loses at most a few ulp of |l| per pixel.
    """

    def _log_prob(self, event):
        logits = self._logits_parameter_no_checks()
        return tf.cast(event, logits.dtype) * logits - tf.math.softplus(logits)


@keras.saving.register_keras_serializable(package="tfvae")
class Bernoulli(Likelihood):
    """Bernoulli pixels parameterised by logits; mean = sigmoid(logits).

    Example:
    ```python
    vae = tfvae.VAE((28, 28), 2, likelihood=tfvae.likelihoods.Bernoulli())
    ```
    """

    support = "[0, 1]"

    def distribution(self, params):
        return _LogitBernoulli(logits=params, dtype=params.dtype)

    def mean(self, params):
        return ops.sigmoid(params)

    def check_support(self, x):
        _check_unit_interval(x, "Bernoulli")

    def check_density(self, x, name="x"):
        """Requires binary x (0/1 numbers or booleans): Bernoulli is a mass function
        on {0, 1}; on grey levels its log_prob is a loss, not a log-likelihood."""
        x = np.asarray(x)
        if x.dtype == bool:
            return
        self.check_support(x)
        grey = (x != 0) & (x != 1)
        count = int(np.count_nonzero(grey))
        if count:
            raise ValueError(
                f"The Bernoulli likelihood gives a log-likelihood of binary data only, but "
                f"`{name}` is not binary: {count} of its {x.size} values lie strictly "
                f"between 0 and 1 (e.g. {float(x[grey][0]):g}). Training on grey levels "
                "with binary cross-entropy is fine, but the result is not a log p(x) of "
                "them. Binarize the data (e.g. tfvae.datasets.binarize(x, seed=0)) or use "
                "a likelihood that is a density on [0, 1], such as "
                "likelihood=\"continuous_bernoulli\".")


@keras.saving.register_keras_serializable(package="tfvae")
class ContinuousBernoulli(Likelihood):
    """Continuous Bernoulli on [0, 1]: the normalised Bernoulli for grey levels.

    Example:
    ```python
    vae = tfvae.VAE((28, 28), 2, likelihood="continuous_bernoulli")
    ```
    """

    support = "[0, 1]"

    def distribution(self, params):
        return tfd.ContinuousBernoulli(logits=params)

    def mean(self, params):
        # mean = λ/(2λ−1) + 1/(2 atanh(1−2λ)) with λ = σ(l). In the logit,
        # atanh(1−2λ) = −l/2 exactly, so mean = 1/(1 − e^{−l}) − 1/l: no
        # atanh to saturate at |l| ≳ 17 in float32. Near l = 0 both terms blow
        # up and cancel, so use the series ½ + l/12 − l³/720 there (its error
        # at |l| = 0.1 is below 1e-9). exp, not expm1: TFLite has no EXPM1.
        near_zero = ops.abs(params) < 0.1
        safe = ops.where(near_zero, ops.ones_like(params), params)
        exact = 1.0 / (1.0 - ops.exp(-safe)) - 1.0 / safe
        series = 0.5 + params / 12.0 - params ** 3 / 720.0
        return ops.where(near_zero, series, exact)

    def check_support(self, x):
        _check_unit_interval(x, "ContinuousBernoulli")


@keras.saving.register_keras_serializable(package="tfvae")
class Gaussian(Likelihood):
    """Gaussian with mean from the decoder and a fixed or learned scale.

    Args:
        scale: float > 0, the fixed standard deviation (initial value if learned).
        learn_scale: bool. If True, learn one σ per data dimension
            (softplus-parameterised, floored at `min_scale`).
        min_scale: float, floor on a learned σ.

    Example:
    ```python
    lik = tfvae.likelihoods.Gaussian(scale=0.1)
    vae = tfvae.VAE((16,), 2, likelihood=lik)
    ```
    """

    def __init__(self, scale=1.0, learn_scale=False, min_scale=1e-3, **kwargs):
        super().__init__(**kwargs)
        self.scale = check_number(scale, "scale", minimum=0.0, strict=True)
        self.min_scale = check_number(min_scale, "min_scale", minimum=0.0, strict=True)
        self.learn_scale = bool(learn_scale)
        if self.learn_scale and self.scale <= self.min_scale:
            raise ValueError(
                "Received an invalid value for `scale`, expected the initial scale to "
                f"exceed min_scale={self.min_scale!r} when learn_scale=True. "
                f"Received: scale={scale!r}")

    def build(self, params_shape):
        if self.learn_scale:
            # Inverse softplus, so the initial σ equals `scale`.
            init = math.log(math.expm1(max(self.scale - self.min_scale, 1e-6)))
            self.raw_scale = self.add_weight(
                shape=tuple(params_shape[1:]), name="raw_scale",
                initializer=keras.initializers.Constant(init), dtype="float32",
            )
        self.built = True

    def current_scale(self):
        if self.learn_scale:
            return ops.softplus(self.raw_scale) + self.min_scale
        return self.scale

    def distribution(self, params):
        scale = ops.cast(self.current_scale(), params.dtype)
        return tfd.Normal(loc=params, scale=scale * ops.ones_like(params))

    def mean(self, params):
        return params

    def get_config(self):
        return {**super().get_config(), "scale": self.scale,
                "learn_scale": self.learn_scale, "min_scale": self.min_scale}


@keras.saving.register_keras_serializable(package="tfvae")
class Callable(Likelihood):
    """Wraps a user function `params -> tfd.Distribution` as a likelihood.

    Args:
        fn: callable. Register it with
            `@keras.saving.register_keras_serializable()` to save the model.
        num_params: int, decoder outputs per data dimension the function
            expects (the last axis of `params` when > 1).

    Example:
    ```python
    def poisson(params):
        return tfd.Poisson(log_rate=params)
    vae = tfvae.VAE((50,), 4, likelihood=poisson)
    ```
    """

    def __init__(self, fn, num_params=1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(fn, dict):
            fn = keras.saving.deserialize_keras_object(fn)
        if not callable(fn):
            raise ValueError(f"A likelihood must be callable. Received: {fn!r}")
        self.fn = fn
        self.num_params = int(num_params)

    def distribution(self, params):
        dist = self.fn(params)
        if not isinstance(dist, tfd.Distribution):
            name = getattr(self.fn, "__name__", repr(self.fn))
            raise ValueError(
                f"The likelihood callable {name} must return a "
                f"tfp.distributions.Distribution. It returned {type(dist).__name__}."
            )
        return dist

    def get_config(self):
        return {**super().get_config(), "num_params": self.num_params,
                "fn": keras.saving.serialize_keras_object(self.fn)}


NAMES = ("bernoulli", "gaussian", "gaussian_learned", "continuous_bernoulli")


def get(identifier):
    """Returns a `Likelihood` from a name, an instance or a callable.

    Args:
        identifier: one of `NAMES`, a `Likelihood`, or a callable returning a
            `tfd.Distribution`.

    Returns:
        A `Likelihood` layer.

    Example:
    ```python
    lik = tfvae.likelihoods.get("bernoulli")
    ```
    """
    if isinstance(identifier, Likelihood):
        return identifier
    if isinstance(identifier, type):
        raise ValueError(
            f"Received the class {identifier.__name__} as the likelihood; pass an instance "
            f"such as {identifier.__name__}(), a name in {list(NAMES)}, or a function "
            f"returning a tfd.Distribution. Received: likelihood={identifier!r}")
    if isinstance(identifier, dict):
        return keras.saving.deserialize_keras_object(identifier)
    if isinstance(identifier, str):
        key = identifier.lower()
        if key == "bernoulli":
            return Bernoulli()
        if key == "gaussian":
            return Gaussian()
        if key == "gaussian_learned":
            return Gaussian(learn_scale=True)
        if key == "continuous_bernoulli":
            return ContinuousBernoulli()
        raise ValueError(
            f"Unrecognized likelihood={identifier!r}. Supported likelihoods "
            f"are: {list(NAMES)}, or a callable returning a tfd.Distribution."
        )
    if callable(identifier):
        return Callable(identifier)
    raise ValueError(
        f"Unrecognized likelihood={identifier!r}. Supported likelihoods are: "
        f"{list(NAMES)}, or a callable returning a tfd.Distribution."
    )
