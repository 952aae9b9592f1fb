"""Layers for the stochastic part of a VAE: the posterior head and sampling."""

import keras
import numpy as np
import tensorflow as tf
from keras import ops


def stateless_seed(seed=None):
    """Turns a user's `seed` into the shape-[2] int32 seed of stateless samplers.

    TensorFlow and TFP samplers treat a Python int as a *stateful* seed: two
    calls with `seed=1` give different numbers. A shape-[2] int32 tensor is a
    stateless seed: the same seed always gives the same numbers. Every public
    `seed=` argument of tfvae goes through this function.

    Args:
        seed: None, an int >= 0, or a shape-[2] integer tensor or array (a
            stateless seed, returned as int32). None draws a fresh seed from
            NumPy's global generator, so each call differs, and a program that
            calls `keras.utils.set_random_seed` first still repeats itself.

    Returns:
        An int32 tensor of shape [2].

    Raises:
        ValueError: any other seed.

    Example:
    ```python
    z = tfp.distributions.Normal(0.0, 1.0).sample(3, seed=stateless_seed(1))
    ```
    """
    if seed is None:
        return tf.constant(np.random.randint(0, 2**31 - 1, size=2), tf.int32)
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, (bool, np.bool_)):
        if seed >= 0:
            # SeedSequence hashes an int of any size into well-mixed words.
            words = np.random.SeedSequence(int(seed)).generate_state(2, np.uint32)
            return tf.constant(words.view(np.int32))
    elif tf.is_tensor(seed) or isinstance(seed, (np.ndarray, list, tuple)):
        try:
            value = tf.convert_to_tensor(seed)
        except (TypeError, ValueError):
            value = None
        if value is not None and value.shape == (2,) and value.dtype.is_integer:
            return tf.cast(value, tf.int32)
    raise ValueError("Received an invalid value for `seed`, expected None, an integer "
                     ">= 0 or a stateless seed (an integer tensor of shape [2]). "
                     f"Received: seed={seed!r}")


@keras.saving.register_keras_serializable(package="tfvae")
class Sampling(keras.layers.Layer):
    """Draws z = μ + σ·ε with ε ~ N(0, I): the reparameterization trick.

    Writing the sample as a deterministic function of (μ, σ) and independent
    noise ε is what lets gradients of E_q[f(z)] flow into the encoder.

    The noise is stateless: each draw takes the next seed from the layer's
    `keras.random.SeedGenerator` (`seed_generator`, whose `state` variable can
    be saved and restored to replay a draw) and folds in the replica's id
    (`replica_id_in_sync_group`, global across workers). Under a
    `tf.distribute` strategy every replica therefore draws its own,
    independent ε, and the whole run still repeats for the same seed. Eagerly
    and in a `tf.function` the draws are identical; under XLA they are
    reproducible too but different numbers (XLA's stateless generator is not
    TensorFlow's kernel).

    Args:
        seed: int or None. Seeds the layer's `keras.random.SeedGenerator`, so a
            model built with the same seed draws the same noise sequence.

    Call arguments:
        inputs: a pair `(loc, scale)` of tensors of the same shape.
        return_noise: bool, also return the ε that made the sample.

    Returns:
        A tensor z shaped like `loc`, or `(z, epsilon)` if `return_noise`.

    Example:
    ```python
    sampling = tfvae.layers.Sampling(seed=0)
    z = sampling([ops.zeros((4, 2)), ops.ones((4, 2))])
    epsilon = sampling.noise((8, 4, 2))  # e.g. k = 8 importance samples
    ```
    """

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def noise(self, shape, dtype="float32"):
        """ε ~ N(0, I) of `shape`: the replica's own draw, reproducible from the seed.

        Args:
            shape: tuple or 1-D int tensor.
            dtype: floating dtype of the result.

        Returns:
            A tensor of `shape` and `dtype`; each call advances the seed.
        """
        # The state is int64 under TensorFlow; stateless kernels want int32
        # seeds to compile with XLA (as keras.random does).
        seed = tf.cast(tf.math.floormod(self.seed_generator.next(), tf.int32.max - 1),
                       tf.int32)
        context = tf.distribute.get_replica_context()
        replica = 0 if context is None else context.replica_id_in_sync_group
        seed = tf.random.experimental.stateless_fold_in(seed, replica)
        return tf.random.stateless_normal(shape, seed=seed, dtype=dtype)

    def call(self, inputs, return_noise=False):
        loc, scale = inputs
        epsilon = self.noise(ops.shape(loc), dtype=loc.dtype)
        z = loc + scale * epsilon
        return (z, epsilon) if return_noise else z

    def compute_output_shape(self, input_shape, return_noise=False):
        return (input_shape[0], input_shape[0]) if return_noise else input_shape[0]

    # The seed generator's state is saved with the layer, so a model loaded
    # from a checkpoint continues the noise sequence instead of replaying it.
    def save_own_variables(self, store):
        super().save_own_variables(store)
        store["seed_generator_state"] = self.seed_generator.state

    def load_own_variables(self, store):
        if "seed_generator_state" in store.keys():
            self.seed_generator.state.assign(store["seed_generator_state"])

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


def gaussian_log_prob_from_noise(epsilon, scale, sum_dims=True):
    """log N(z; μ, σ²) at z = μ + σ·ε, computed from ε rather than from z.

    log q(z|x) = Σ_j −½ ε_j² − log σ_j − ½ log 2π. Recovering ε as (z − μ)/σ
    would lose it to rounding when |μ| ≫ σ (float32 keeps ~7 digits of z), so
    the density is evaluated at the noise that made the sample.
    """
    log_prob = -0.5 * ops.square(epsilon) - ops.log(scale) - 0.5 * np.log(2.0 * np.pi)
    return ops.sum(log_prob, axis=-1) if sum_dims else log_prob


def portable_softplus(x):
    """softplus(x) = log(1 + eˣ), written as max(x, 0) + log1p(e^−|x|).

    The function `ops.softplus` computes, in ops that stay finite wherever the
    graph is converted: TFLite lowers a softplus to log(1 + exp(x)), inf for
    x > 88 on LiteRT. It is six ops where TensorFlow has one fused kernel
    (about six times the time, benchmarks/RESULTS.md), so training steps keep
    `ops.softplus`.
    """
    return ops.relu(x) + ops.log1p(ops.exp(-ops.abs(x)))


@keras.saving.register_keras_serializable(package="tfvae")
class GaussianPosteriorHead(keras.layers.Layer):
    """Maps encoder features to the loc and scale of a diagonal Gaussian.

    The scale is `softplus(raw) + min_scale`: softplus grows linearly, so a
    large activation cannot overflow the way `exp(log_var / 2)` can, and the
    floor keeps log q(z|x) finite. The head always computes in float32 so the
    posterior keeps full precision under a mixed-precision policy. Outside
    training the softplus is `portable_softplus`, the same function in ops an
    exported graph (TFLite) evaluates without overflow.

    Args:
        latent_dim: int, size of z.
        min_scale: float, lower bound on σ.

    Call arguments:
        features: tensor (batch, n_features).
        training: bool, picks TensorFlow's fused softplus kernel (True) or
            `portable_softplus`; the values agree to rounding.

    Returns:
        `(loc, scale)`, each (batch, latent_dim) float32.

    Example:
    ```python
    loc, scale = GaussianPosteriorHead(2)(ops.ones((3, 8)))
    ```
    """

    def __init__(self, latent_dim, min_scale=1e-4, **kwargs):
        kwargs["dtype"] = "float32"
        super().__init__(**kwargs)
        self.latent_dim = int(latent_dim)
        self.min_scale = float(min_scale)
        self.dense = keras.layers.Dense(2 * self.latent_dim, name="loc_and_scale",
                                        dtype="float32")

    def build(self, input_shape):
        self.dense.build(input_shape)

    def call(self, features, training=False):
        params = self.dense(ops.cast(features, "float32"))
        loc, raw_scale = ops.split(params, 2, axis=-1)
        softplus = ops.softplus if training else portable_softplus
        return loc, softplus(raw_scale) + self.min_scale

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape[:-1]) + (self.latent_dim,)
        return shape, shape

    def get_config(self):
        return {**super().get_config(), "latent_dim": self.latent_dim,
                "min_scale": self.min_scale}
