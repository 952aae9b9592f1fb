"""Keras callbacks for VAE training."""

import math

import keras


class StopOnNaN(keras.callbacks.Callback):
    """Stops training with a clear error as soon as the loss is NaN or Inf.

    Keras' own `TerminateOnNaN` stops quietly; a VAE whose loss went NaN has
    NaN weights, so we raise instead of returning a model that looks trained.
    `VAE.fit` adds this callback itself.
    """

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.model.stop_training = True
            raise FloatingPointError(
                f"The loss became {float(loss)} at batch {batch}: training "
                "stopped. Common causes: a learning rate too high, data outside "
                "the likelihood's support, or a Gaussian likelihood with a tiny "
                "fixed scale. The model's weights are no longer usable."
            )
