"""Layers for the stochastic part of a VAE: the posterior head and sampling."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="tfvae")
class Sampling(keras.layers.Layer):
    """Draws z = μ + σ·ε with ε ~ N(0, I): the reparameterization trick.

    Writing the sample as a deterministic function of (μ, σ) and independent
    noise ε is what lets gradients of E_q[f(z)] flow into the encoder.

    Args:
        seed: int or None. Seeds the layer's `keras.random.SeedGenerator`, so a
            model built with the same seed draws the same noise sequence.

    Call arguments:
        inputs: a pair `(loc, scale)` of tensors of the same shape.

    Returns:
        A tensor shaped like `loc`.

    Example:
    ```python
    z = tfvae.layers.Sampling(seed=0)([ops.zeros((4, 2)), ops.ones((4, 2))])
    ```
    """

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs):
        loc, scale = inputs
        epsilon = keras.random.normal(
            ops.shape(loc), dtype=loc.dtype, seed=self.seed_generator
        )
        return loc + scale * epsilon

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


@keras.saving.register_keras_serializable(package="tfvae")
class GaussianPosteriorHead(keras.layers.Layer):
    """Maps encoder features to the loc and scale of a diagonal Gaussian.

    The scale is `softplus(raw) + min_scale`: softplus grows linearly, so a
    large activation cannot overflow the way `exp(log_var / 2)` can, and the
    floor keeps log q(z|x) finite. The head always computes in float32 so the
    posterior keeps full precision under a mixed-precision policy.

    Args:
        latent_dim: int, size of z.
        min_scale: float, lower bound on σ.

    Call arguments:
        features: tensor (batch, n_features).

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

    def call(self, features):
        params = self.dense(ops.cast(features, "float32"))
        loc, raw_scale = ops.split(params, 2, axis=-1)
        return loc, ops.softplus(raw_scale) + self.min_scale

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape[:-1]) + (self.latent_dim,)
        return shape, shape

    def get_config(self):
        return {**super().get_config(), "latent_dim": self.latent_dim,
                "min_scale": self.min_scale}
