"""Adam with each variable's update in one fused kernel.

Keras' `Adam.update_step` writes the update as separate element-wise ops
(`m += (g − m)(1 − β₁)`, `v += (g² − v)(1 − β₂)`, `w −= α·m / (√v + ε)`), so
every step reads and writes each weight-sized tensor about ten times.
TensorFlow's `ResourceApplyAdam` kernel does the same arithmetic in one pass;
it has CPU, GPU and XLA implementations. `benchmarks/train_throughput.py`
times the two updates side by side.

In a `tf.function` step the updates start once the whole gradient is
computed. Keras passes the gradients through one `IdentityN`, but Grappler
removes it, and then each kernel starts as soon as its own gradient exists:
the memory-bound updates of the last layers share the cores with the matrix
products still left in the backward pass, which slows a small model's step on
few cores (benchmarks/RESULTS.md, "the update after the whole gradient").
Control dependencies on every gradient survive Grappler. (XLA, with
`jit_compile=True`, schedules a step's ops itself.)
"""

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="tfvae")
class FusedAdam(keras.optimizers.Adam):
    """`keras.optimizers.Adam`, with each variable's update as one kernel.

    The same algorithm, arguments and slots as `keras.optimizers.Adam`
    (Kingma & Ba 2015, with ε outside the square root and the bias correction
    folded into the step size): with the same gradients the two give the
    same weights up to float rounding. In a `tf.function` step no Adam
    update starts before every gradient is computed. Weight decay, gradient
    clipping, EMA, gradient accumulation and loss scaling are handled by the
    Keras base class as for `Adam`. `amsgrad=True` and sparse (`IndexedSlices`)
    gradients use Keras' element-wise update. It is the default optimizer
    of `tfvae.VAE.compile`.

    Args:
        As `keras.optimizers.Adam`.

    Example:

    ```python
    vae = tfvae.VAE((28, 28), latent_dim=16)
    vae.compile(optimizer=tfvae.optimizers.FusedAdam(learning_rate=1e-3))
    ```
    """

    def apply(self, grads, trainable_variables=None):
        grads = list(grads)
        if not tf.executing_eagerly():
            whole = tf.group(*[g for g in tf.nest.flatten(grads, expand_composites=True)
                               if g is not None])
            with tf.control_dependencies([whole]):
                grads = [None if g is None else tf.identity(g) for g in grads]
        return super().apply(grads, trainable_variables)

    def update_step(self, gradient, variable, learning_rate):
        if self.amsgrad or isinstance(gradient, tf.IndexedSlices):
            return super().update_step(gradient, variable, learning_rate)
        dtype = variable.dtype
        index = self._get_variable_index(variable)
        m = self._momentums[index]
        v = self._velocities[index]
        local_step = tf.cast(self.iterations + 1, dtype)
        beta_1 = tf.cast(self.beta_1, dtype)
        beta_2 = tf.cast(self.beta_2, dtype)
        tf.raw_ops.ResourceApplyAdam(
            var=_handle(variable),
            m=_handle(m),
            v=_handle(v),
            beta1_power=tf.pow(beta_1, local_step),
            beta2_power=tf.pow(beta_2, local_step),
            lr=tf.cast(learning_rate, dtype),
            beta1=beta_1,
            beta2=beta_2,
            epsilon=tf.cast(self.epsilon, dtype),
            grad=tf.cast(gradient, dtype),
            use_locking=False,
        )


def _handle(variable):
    # A Keras variable wraps a tf.Variable; under a distribution strategy,
    # inside `strategy.extended.update`, `.handle` is this replica's copy.
    if isinstance(variable, keras.Variable):
        variable = variable.value
    return variable.handle
