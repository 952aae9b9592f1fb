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
UPDATES = ("epoch", "batch")
CYCLES = 4
# Beta updates per cycle that `cycle_steps_per_execution` allows for: enough
# that each cycle's rise is a ramp rather than a step or two.
UPDATES_PER_CYCLE = 8


def cycle_steps_per_execution(epochs, steps_per_epoch, cycles=CYCLES):
    """The most train steps per call that still set beta `UPDATES_PER_CYCLE`
    times in each cycle of a cyclical `KLWarmup` (beta is set once per call).

    Args:
        epochs: int >= 1, the schedule's length in epochs.
        steps_per_epoch: int >= 1, batches per epoch.
        cycles: int >= 1, the schedule's cycles.

    Returns:
        int >= 1; 1 when a cycle has fewer than `UPDATES_PER_CYCLE` batches.

    Example:

    >>> cycle_steps_per_execution(epochs=10, steps_per_epoch=32)   # cycles of 80 batches
    10
    """
    return max(1, epochs * steps_per_epoch // (cycles * UPDATES_PER_CYCLE))


class KLWarmup(keras.callbacks.Callback):
    """Anneals `model.beta`, the weight of the KL term, during training.

    "linear" (Bowman et al. 2016) goes from `start` to `end` over `epochs`
    epochs and then holds `end`. "cyclical" (Fu et al. 2019) splits `epochs`
    into `cycles` equal cycles; in each, beta rises linearly from `start` to
    `end` over the first `ratio` of the cycle and holds `end` for the rest;
    after `epochs` it holds `end`. `end` defaults to the model's own beta
    (`model.initial_beta`), so a beta-VAE warms up to its beta. Beta is a
    variable, so changing it neither retraces the train step nor misses any
    replica.

    With `update="batch"` beta is set each time Keras calls the train
    function: every batch, or with `compile(steps_per_execution=k)` every k
    batches, which all train with the beta of their first batch. The position
    within the epoch is `batch / params["steps"]`; when Keras does not know
    the epoch's length (a dataset of unknown cardinality and no
    `steps_per_epoch`), the first epoch holds beta at its epoch-start value
    and counts its batches the way Keras numbers them (exact when k divides
    the count, otherwise rounded up to a multiple of k), and later epochs use
    that count.

    A cyclical schedule must get at least two beta updates per cycle (with
    one, beta would be `start` at every update): with `update="epoch"` its
    cycles must last at least 2 epochs (checked here), with `update="batch"`
    at least two calls of the train function (checked when training starts,
    or after the first epoch if its length was unknown).

    The history's `beta` is the mean of the betas the epoch's batches trained
    with: the epoch's beta with `update="epoch"`. Validation after an epoch
    uses the last beta set.

    Args:
        start: float ≥ 0, beta at the start.
        end: float ≥ 0 or None, beta at the end of the warm-up. None takes
            the model's `initial_beta` (the `beta` it was built with) when the
            callback is given the model.
        epochs: int ≥ 1, length of the schedule.
        mode: "linear" or "cyclical".
        cycles: int ≥ 1, number of cycles (cyclical mode).
        ratio: float in (0, 1], rising fraction of each cycle (cyclical mode).
        update: None, "epoch" (set beta at each epoch start) or "batch" (at
            each call of the train function, interpolating within the epoch).
            None means "batch" for "cyclical" and "epoch" for "linear".

    Raises:
        ValueError: a bad argument, or a cyclical schedule with fewer than two
            beta updates per cycle.

    Example:
    ```python
    vae = tfvae.VAE((28, 28), latent_dim=2, beta=4.0)
    # beta: 0 -> 4 over 10 epochs, set at each epoch start, then 4.
    vae.fit(x, epochs=20, callbacks=[tfvae.callbacks.KLWarmup(epochs=10)])
    # 4 cycles of 5 epochs, beta rising 0 -> 4 over each cycle's first half, set at
    # each call of the train function (every `steps_per_execution` batches).
    vae.fit(x, epochs=20, callbacks=[tfvae.callbacks.KLWarmup(epochs=20, mode="cyclical")])
    ```
    """

    def __init__(self, start=0.0, end=None, epochs=10, mode="linear", cycles=CYCLES, ratio=0.5,
                 update=None):
        super().__init__()
        if mode not in SCHEDULE_MODES:
            raise ValueError(f"Unrecognized mode={mode!r}. Supported modes are: "
                             f"{list(SCHEDULE_MODES)}.")
        if update is None:
            update = "batch" if mode == "cyclical" else "epoch"
        if update not in UPDATES:
            raise ValueError(f"Unrecognized update={update!r}. Supported values are: "
                             f"{[None, *UPDATES]}.")
        for name, value in (("start", start), ("end", end)):
            if name == "end" and value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"Received an invalid value for `{name}`, expected a "
                                 f"number >= 0. Received: {name}={value!r}")
        for name, value in (("epochs", epochs), ("cycles", cycles)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"Received an invalid value for `{name}`, expected a "
                                 f"positive integer. Received: {name}={value!r}")
        if not (isinstance(ratio, (int, float)) and 0 < ratio <= 1):
            raise ValueError(f"Received an invalid value for `ratio`, expected a number "
                             f"in (0, 1]. Received: ratio={ratio!r}")
        if mode == "cyclical" and update == "epoch" and epochs < 2 * cycles:
            raise ValueError(
                "A cyclical schedule updated once per epoch needs cycles of at least 2 "
                "epochs (epochs >= 2 * cycles); with 1 beta would be `start` at every "
                "update. Use update='batch', fewer cycles or more epochs. Received: "
                f"epochs={epochs}, cycles={cycles}, update='epoch'")
        self.start, self.epochs = float(start), epochs
        self.end = None if end is None else float(end)
        self.mode, self.cycles, self.ratio, self.update = mode, cycles, float(ratio), update
        self._end = self.end

    def set_model(self, model):
        super().set_model(model)
        if self.end is None:
            initial_beta = getattr(model, "initial_beta", None)
            if initial_beta is None:
                raise ValueError(
                    "KLWarmup(end=None) warms up to the model's `initial_beta`, which "
                    f"{type(model).__name__} does not have; pass `end`.")
            self._end = float(initial_beta)

    def value(self, progress):
        """Beta after `progress` epochs (a float; may be fractional)."""
        if self._end is None:
            raise RuntimeError("KLWarmup(end=None) takes `end` from the model's beta, "
                               "which it knows once `fit` (or `set_model`) gives it the "
                               "model; pass `end` to use the schedule on its own.")
        if progress >= self.epochs:
            return self._end
        if self.mode == "linear":
            fraction = progress / self.epochs
        else:
            period = self.epochs / self.cycles
            fraction = min(1.0, (progress % period) / (period * self.ratio))
        return self.start + (self._end - self.start) * fraction

    def on_train_begin(self, logs=None):
        self._steps = (self.params or {}).get("steps")     # batches per epoch, or None
        self._execution = max(1, int(getattr(self.model, "steps_per_execution", 1) or 1))
        if self._steps:
            self._check_updates_per_cycle()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch, self._beta_sum, self._batches = epoch, 0.0, 0
        self._set(self.value(epoch))

    def on_train_batch_begin(self, batch, logs=None):
        if self.update == "batch" and self._steps:
            self._set(self.value(self._epoch + batch / self._steps))

    def on_train_batch_end(self, batch, logs=None):
        # `batch` is the last batch of the execution; Keras numbers a partial
        # last execution as a full one, and may call `on_train_batch_begin`
        # once more for one that finds no data, so count here.
        done = batch + 1 if not self._steps else min(batch + 1, self._steps)
        self._beta_sum += self._beta * (done - self._batches)
        self._batches = done

    def on_epoch_end(self, epoch, logs=None):
        if not self._steps and self._batches:
            self._steps = self._batches
            self._check_updates_per_cycle()
        if logs is not None:
            logs["beta"] = self._beta_sum / self._batches if self._batches else self._beta

    def _set(self, beta):
        self._beta = beta
        self.model.beta.assign(beta)

    def _check_updates_per_cycle(self):
        if self.mode != "cyclical" or self.update != "batch":
            return
        every = min(self._execution, self._steps)
        cycle = self.epochs / self.cycles * self._steps
        if cycle < 2 * every:
            raise ValueError(
                "A cyclical schedule needs at least two beta updates per cycle, but its "
                f"cycles last {cycle:g} batches and beta is set every {every} "
                f"(steps_per_execution={self._execution}, "
                f"{self._steps} batches per epoch). Use fewer cycles, more epochs or a "
                f"smaller steps_per_execution. Received: epochs={self.epochs}, "
                f"cycles={self.cycles}")


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
