"""Masked autoregressive steps shared by the IAF posterior and the MAF prior.

A step is the affine map y = s ⊙ x + m whose (m, s) come from a MADE over
the coordinates before each one, so its Jacobian is triangular and
log|det ∂y/∂x| = Σ_i log s_i. Run on x (IAF) it is parallel in the sampling
direction; run on y (MAF) it is parallel in the density direction.

#### Mathematical details
The scale is a sigmoid-bounded gate, Kingma et al.'s (2016) numerically
stable choice rescaled to be the identity at initialisation:
log s = log_sigmoid(g + 2) − log_sigmoid(2), so s ∈ (0, 1.135) and the
log-det never overflows; the MADE's output layer starts at zero, so every
step starts as the identity.

TFP's `tfb.AutoregressiveNetwork` is a `tf_keras` layer: it runs inside a
Keras 3 model, but Keras 3 does not track its weights (measured: a Keras 3
layer holding one reports 0 weights for its 4), so `fit` would never train them
and `.keras` files would not save them. The MADE here is a Keras 3 layer.
"""

import keras
import numpy as np
import tensorflow_probability as tfp
from keras import ops

from tfvae.validation import check_int_tuple, check_positive_int

tfb = tfp.bijectors

# The gate's offset b: s = sigmoid(g + b) / sigmoid(b), as Kingma's forget bias.
_GATE_BIAS = 2.0


@keras.saving.register_keras_serializable(package="tfvae")
class MADE(keras.layers.Layer):
    """A masked autoencoder (Germain et al. 2015), with an optional context input, in Keras 3.

    Maps z (and a context h) to (shift, gate), each shaped like z, where output
    i depends on z_1..z_{i−1} (and h) only. Hidden unit degrees cycle over
    0..d−1 (a degree-0 unit sees h alone, so the first output depends on the
    context; without one it is a learned constant); the context enters every
    unit of the first hidden layer. The output layer starts at zero.
    `build(context_size)` takes the context's width, 0 for none.

    Args:
        event_size: int, d.
        hidden_units: tuple of ints, the hidden layers' widths.

    Call arguments:
        z: (..., d) float32.
        context: None, or (..., n_context) float32 broadcastable against z
            when the MADE was built with `context_size > 0`.

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

    def build(self, context_size=0):
        context_size = check_positive_int(context_size, "context_size") if context_size else 0
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
        self.context_kernel = None
        if context_size:
            self.context_kernel = self.add_weight(
                shape=(context_size, self.hidden_units[0]), name="context_kernel",
                initializer="glorot_uniform")
        self.output_kernel = self.add_weight(shape=(self.hidden_units[-1], 2 * d),
                                             name="output_kernel", initializer="zeros")
        self.output_bias = self.add_weight(shape=(2 * d,), name="output_bias",
                                           initializer="zeros")
        self.built = True

    def call(self, z, context=None):
        if (context is None) != (self.context_kernel is None):
            built = "with" if self.context_kernel is not None else "without"
            raise ValueError(f"This MADE was built {built} a context input. Received: "
                             f"context={'None' if context is None else tuple(context.shape)}")
        h = z
        for i, (kernel, bias) in enumerate(zip(self.kernels, self.biases)):
            pre = ops.matmul(h, kernel * self.masks[i]) + bias
            if i == 0 and self.context_kernel is not None:
                pre = pre + ops.matmul(context, self.context_kernel)
            h = ops.relu(pre)
        out = ops.matmul(h, self.output_kernel * self.masks[-1]) + self.output_bias
        return out[..., :self.event_size], out[..., self.event_size:]

    def get_config(self):
        return {**super().get_config(), "event_size": self.event_size,
                "hidden_units": list(self.hidden_units)}


def build_steps(owner, num_steps, event_size, hidden_units, context_size=0):
    """`num_steps` built MADEs named made_0, made_1, ..., trainable as `owner` is.

    They follow the owner's `trainable` because a flow loaded from a `.keras`
    file gets it from the config before `build` creates them.
    """
    steps = [MADE(event_size, hidden_units, name=f"made_{t}") for t in range(num_steps)]
    for made in steps:
        made.build(context_size)
        made.trainable = owner.trainable
    return steps


def chain(step_bijectors, event_size):
    """`tfb.Chain` applying the steps in order, the coordinates reversed between them."""
    reverse = tfb.Permute(permutation=list(range(event_size - 1, -1, -1)))
    bijectors = []
    for t, bijector in enumerate(step_bijectors):
        if t:
            bijectors.append(reverse)
        bijectors.append(bijector)
    return tfb.Chain(bijectors[::-1])


def shift_and_log_scale(made, z, context=None):
    """The shift m and log-scale log s of one step at z.

    log s = log_sigmoid(g + b) − log_sigmoid(b) with b = 2, so s ∈ (0, 1.135)
    and s = 1 where the MADE's gate g is 0 (at initialisation).

    Args:
        made: a built `MADE`.
        z: (..., d) float32, the step's conditioning input.
        context: None or the MADE's context input.

    Returns:
        `(shift, log_scale)`, each shaped like z.
    """
    shift, gate = made(z, context)
    return shift, ops.log_sigmoid(gate + _GATE_BIAS) + float(np.log1p(np.exp(-_GATE_BIAS)))


def affine_bijector_fn(made, context=None, invert=False):
    """A `bijector_fn` for `tfb.MaskedAutoregressiveFlow`: at y, the map x -> s(y)⊙x + m(y).

    Args:
        made: a built `MADE`, giving (m, s) through `shift_and_log_scale`.
        context: None or the MADE's context input.
        invert: bool; True makes the map the returned bijector's inverse, so
            that `tfb.Invert(tfb.MaskedAutoregressiveFlow(bijector_fn=...))` is
            an IAF step y = s(x)⊙x + m(x), parallel forward.

    Returns:
        A function y -> `tfb.Bijector`.
    """
    def bijector_fn(y, **kwargs):
        shift, log_scale = shift_and_log_scale(made, y, context)
        affine = tfb.Chain([tfb.Shift(shift), tfb.Scale(log_scale=log_scale)])
        return tfb.Invert(affine) if invert else affine
    return bijector_fn
