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


SCHEDULE_MODES = ("linear", "cyclical")


class KLWarmup(keras.callbacks.Callback):
    """Anneals `model.beta`, the weight of the KL term, during training.

    "linear" (Bowman et al. 2016) goes from `start` to `end` over `epochs`
    epochs and then holds `end`. "cyclical" (Fu et al. 2019) splits `epochs`
    into `cycles` equal cycles; in each, beta rises linearly from `start` to
    `end` over the first `ratio` of the cycle and holds `end` for the rest;
    after `epochs` it holds `end`. Beta is a variable, so changing it neither
    retraces the train step nor misses any replica; its value is logged as
    `beta` in the history.

    Args:
        start: float ≥ 0, beta at the start.
        end: float ≥ 0, beta at the end of the warm-up.
        epochs: int ≥ 1, length of the schedule.
        mode: "linear" or "cyclical".
        cycles: int ≥ 1, number of cycles (cyclical mode).
        ratio: float in (0, 1], rising fraction of each cycle (cyclical mode).
        update: "epoch" (set at each epoch start) or "batch" (at each batch
            start, interpolating within the epoch).

    Example:
    ```python
    vae.fit(x, epochs=20, callbacks=[tfvae.callbacks.KLWarmup(epochs=10)])
    ```
    """

    def __init__(self, start=0.0, end=1.0, epochs=10, mode="linear", cycles=4, ratio=0.5,
                 update="epoch"):
        super().__init__()
        if mode not in SCHEDULE_MODES:
            raise ValueError(f"Unrecognized mode={mode!r}. Supported modes are: "
                             f"{list(SCHEDULE_MODES)}.")
        if update not in ("epoch", "batch"):
            raise ValueError(f"Unrecognized update={update!r}. Supported values are: "
                             "['epoch', 'batch'].")
        for name, value in (("start", start), ("end", end)):
            if not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"Received an invalid value for `{name}`, expected a "
                                 f"number >= 0. Received: {name}={value!r}")
        for name, value in (("epochs", epochs), ("cycles", cycles)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"Received an invalid value for `{name}`, expected a "
                                 f"positive integer. Received: {name}={value!r}")
        if not (isinstance(ratio, (int, float)) and 0 < ratio <= 1):
            raise ValueError(f"Received an invalid value for `ratio`, expected a number "
                             f"in (0, 1]. Received: ratio={ratio!r}")
        self.start, self.end, self.epochs = float(start), float(end), epochs
        self.mode, self.cycles, self.ratio, self.update = mode, cycles, float(ratio), update

    def value(self, progress):
        """Beta after `progress` epochs (a float; may be fractional)."""
        if progress >= self.epochs:
            return self.end
        if self.mode == "linear":
            fraction = progress / self.epochs
        else:
            period = self.epochs / self.cycles
            fraction = min(1.0, (progress % period) / (period * self.ratio))
        return self.start + (self.end - self.start) * fraction

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        self.model.beta.assign(self.value(epoch))

    def on_train_batch_begin(self, batch, logs=None):
        steps = (self.params or {}).get("steps")
        if self.update == "batch" and steps:
            self.model.beta.assign(self.value(self._epoch + batch / steps))

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["beta"] = float(self.model.beta.numpy())


class FreeBits(keras.callbacks.Callback):
    """Sets the free-bits floor λ (Kingma et al. 2016) for the ELBO objective.

    The KL term in the loss becomes Σ_j max(λ, mean_batch KL_j): a latent
    dimension whose KL averaged over the (per-replica) batch is below λ nats
    pays λ and gets no gradient pushing it further towards the prior, which
    counters posterior collapse. The reported `kl` and `elbo` metrics stay the
    true values. λ lives in the non-trainable variable `model.free_bits`, so
    it is saved with the model and reaches every replica; the callback sets it
    at the start of training (and, with `reset=True`, back to 0 at the end).
    With a prior that does not factorise over dimensions the floor applies to
    the total KL. It has no effect on the IWAE objective.

    Args:
        lambda_: float ≥ 0, nats per latent dimension; 0 turns free bits off.
        reset: bool, set `model.free_bits` back to 0 when training ends.

    Example:
    ```python
    vae.fit(x, epochs=10, callbacks=[tfvae.callbacks.FreeBits(0.5)])
    ```
    """

    def __init__(self, lambda_, reset=False):
        super().__init__()
        if isinstance(lambda_, bool) or not isinstance(lambda_, (int, float)) or lambda_ < 0:
            raise ValueError("Received an invalid value for `lambda_`, expected a number "
                             f">= 0. Received: lambda_={lambda_!r}")
        self.lambda_ = float(lambda_)
        self.reset = bool(reset)

    def on_train_begin(self, logs=None):
        self.model.free_bits.assign(self.lambda_)

    def on_train_end(self, logs=None):
        if self.reset:
            self.model.free_bits.assign(0.0)
