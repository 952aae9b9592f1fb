"""Likelihoods p(x|z): decoder outputs -> `tfd.Distribution` over x.

A likelihood turns the decoder's output ("params", shaped like x, or like x
plus a trailing axis of size `num_params`) into an element-wise distribution;
`VAE.decode` then reinterprets the data axes as the event so that
`log_prob(x)` is one number per example.

Any callable `params -> tfd.Distribution` works too: wrap it in `Callable` (done
for you by `get`). To save such a model as `.keras` with safe_mode on, register
the function with `@keras.saving.register_keras_serializable()`.

#### Mathematical details
- Bernoulli(logits): log p(x|z) = Σ_d x_d log σ(l_d) + (1 − x_d) log(1 − σ(l_d)),
  x ∈ [0, 1] (grey levels are accepted, as in the usual binary cross-entropy).
- Gaussian(loc, σ): log p(x|z) = Σ_d −½((x_d − μ_d)/σ_d)² − log σ_d − ½ log 2π,
  σ fixed or learned per dimension.
- ContinuousBernoulli(logits): the properly normalised density on [0, 1]
  (Loaiza-Ganem & Cunningham 2019), log p = Bernoulli term + log C(λ).
"""

import math

import keras
import numpy as np
import tensorflow_probability as tfp
from keras import ops

tfd = tfp.distributions


class Likelihood(keras.layers.Layer):
    """Base class: `distribution(params)` returns an element-wise distribution.

    Subclasses set `num_params` (decoder outputs per data dimension), implement
    `distribution` and `mean` (in `keras.ops`, so exports stay TFLite-builtin),
    and may override `check_support` to reject data outside the support.
    """

    num_params = 1
    support = "real numbers"

    def distribution(self, params):
        raise NotImplementedError

    def mean(self, params):
        return self.distribution(params).mean()

    def check_support(self, x):
        """Raises ValueError if numpy array `x` lies outside the support."""

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
        return tfd.Bernoulli(logits=params, dtype=params.dtype)

    def mean(self, params):
        return ops.sigmoid(params)

    def check_support(self, x):
        _check_unit_interval(x, "Bernoulli")


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
        # mean = λ/(2λ−1) + 1/(2 atanh(1−2λ)); near λ = ½ both terms blow up and
        # cancel, so use the series ½ + (λ−½)/3 there.
        lam = ops.sigmoid(params)
        t = 1.0 - 2.0 * lam
        near_half = ops.abs(t) < 1e-2
        safe_t = ops.where(near_half, ops.ones_like(t) * 0.5, t)
        safe_lam = (1.0 - safe_t) / 2.0
        exact = safe_lam / (-safe_t) + 0.5 / ops.arctanh(safe_t)
        return ops.where(near_half, 0.5 - t / 6.0, exact)

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
        if not (isinstance(scale, (int, float)) and scale > 0):
            raise ValueError(
                "Received an invalid value for `scale`, expected a positive "
                f"number. Received: scale={scale!r}"
            )
        self.scale = float(scale)
        self.learn_scale = bool(learn_scale)
        self.min_scale = float(min_scale)

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
