"""What a VAE changes in `keras.Model`'s compile / fit / evaluate: defaults, refusals, metrics.

A VAE's loss is its own objective and it models x alone, so `compile(loss=...)`,
`metrics=`, `fit(y=...)`, `sample_weight=`, `class_weight=` and datasets of
`(x, y)` pairs would all be silently ignored by a plain `keras.Model`; here they
are refused with a `ValueError` before anything is traced. A conditional VAE
(`num_classes` or `condition_shape`) models x given y: it requires y instead,
checked by `tfvae.conditional_data`. Data are checked first (shape, NaN, the
likelihood's support), the optimizer defaults to
`FusedAdam`, and a model built under a `tf.distribute` strategy compiles under
it. The reported metrics (`loss`, `elbo`, `reconstruction`, `kl`, `iwae`) are
Mean trackers kept here; the model's own step (the ELBO) lives in `tfvae/vae.py`.
"""

import inspect
import math

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from tfvae import conditional_data
from tfvae.callbacks import StopOnNaN
from tfvae.optimizers import FusedAdam
from tfvae.pipeline import make_dataset
from tfvae.validation import check_data, check_positive_int

UNSUPPORTED_COMPILE_ARGS = ("loss", "loss_weights", "metrics", "weighted_metrics")

# Train steps per call into TensorFlow when `compile` is not told. Each call
# costs a small model milliseconds beyond its steps (Keras' Python and
# TensorFlow's own per-call work, even for a bare `tf.function` loop), so the
# MLP VAE's `fit` runs 4-11% faster at 50 steps per call than at 10, and 100
# buys little more (benchmarks/RESULTS.md). Per-batch callbacks and the
# progress bar then move once per 50 batches.
DEFAULT_STEPS_PER_EXECUTION = 50


# Keras' `fit` and `evaluate` arguments after x and y, in order: a call that
# passes them by position reads as Keras would read it.
FIT_ARGUMENTS = tuple(inspect.signature(keras.Model.fit).parameters)[3:]
EVALUATE_ARGUMENTS = tuple(name for name in inspect.signature(keras.Model.evaluate).parameters
                           if name not in ("self", "x", "y", "kwargs"))

# Keras' batch size for arrays when neither `batch_size` nor a step count is given.
KERAS_BATCH_SIZE = 32


def default_steps_per_execution(strategy):
    """`DEFAULT_STEPS_PER_EXECUTION`, or 1 under a strategy with several replicas.

    Keras 3's multi-step train function fails under `MirroredStrategy` with more
    than one replica (keras-team/keras#19246), so those run one step per call.
    """
    return 1 if strategy.num_replicas_in_sync > 1 else DEFAULT_STEPS_PER_EXECUTION


class Trainer(keras.Model):
    """`keras.Model` with a VAE's compile/fit/evaluate front door.

    Subclasses set `data_shape` (tuple), `likelihood` (a
    `tfvae.likelihoods.Likelihood`) and `condition` (a
    `tfvae.conditioning.Condition`, or None) before `fit` is called; the data
    are checked against them.
    """

    def compile(self, optimizer=None, steps_per_execution=None, **kwargs):
        """As `keras.Model.compile`, with defaults fit for a VAE.

        No `loss` is needed, and none is accepted: the (negative) ELBO, or the
        IWAE bound, is the loss, and the model reports `loss`, `elbo`,
        `reconstruction` and `kl` itself. The default optimizer is
        `tfvae.optimizers.FusedAdam()`, Keras' Adam with each variable's
        update in one kernel. `steps_per_execution` defaults to
        `default_steps_per_execution(strategy)`: 50, or 1 under a
        multi-replica strategy; batch-level callbacks then run once per
        execution. `jit_compile` defaults to False: XLA measured slower for
        these models on CPU (see benchmarks/RESULTS.md); pass True on GPU/TPU.

        Raises:
            ValueError: `loss`, `loss_weights`, `metrics` or `weighted_metrics`
                given, which a VAE could not honour.
        """
        for name in UNSUPPORTED_COMPILE_ARGS:
            if kwargs.get(name) is not None:
                raise ValueError(
                    f"tfvae.VAE.compile does not take `{name}`: the ELBO is the model's "
                    f"loss and its metrics are built in. Received: {name}={kwargs[name]!r}")
        kwargs.setdefault("jit_compile", False)
        if steps_per_execution is None:
            steps_per_execution = default_steps_per_execution(self.distribute_strategy)
        super().compile(optimizer=FusedAdam() if optimizer is None else optimizer,
                        steps_per_execution=steps_per_execution, **kwargs)

    def compile_from_config(self, config):
        # Keras skips restoring the compile state (and so the optimizer's
        # slots) of models that override `compile`; restore it here.
        config = keras.saving.deserialize_keras_object(config)
        for name in UNSUPPORTED_COMPILE_ARGS:
            config.pop(name, None)
        self.compile(**config)
        if self.built:
            self.optimizer.build(self.trainable_variables)

    def fit(self, x=None, y=None, *args, **kwargs):
        """As `keras.Model.fit`, with the data checked first.

        Arrays (x, and y for a conditional model; `validation_data`) are read
        through `tfvae.datasets.make_dataset`, with Keras' meaning of
        `batch_size` (32, or n / `steps_per_epoch` rounded up, when not
        given), `shuffle`, `validation_split` (the last share of the
        examples, before shuffling), `validation_batch_size` and
        `validation_steps`: Keras' own array pipeline is autotuned by
        `tf.data`, whose iterators stall the start of an epoch for seconds
        (`tfvae.pipeline.without_autotuning`). `shuffle="batch"`, and arrays
        under a multi-worker strategy, stay with Keras' pipeline.

        Raises:
            ValueError: bad data, `batch_size`, `validation_batch_size` or
                `validation_split` with arrays, or arguments a VAE cannot
                honour (see the module docstring).
            TypeError: more positional arguments than `keras.Model.fit`
                takes, or one given twice.
        """
        kwargs = keyword_arguments("fit", FIT_ARGUMENTS, args, kwargs)
        x, y, validation_data = self._checked_data(x, y, kwargs, "fit",
                                                   kwargs.pop("validation_data", None))
        self._compile_if_needed()
        batch_size = kwargs.get("batch_size")
        if self._reads_arrays(x) and isinstance(kwargs.get("shuffle", True), (bool, np.bool_)):
            x, y, validation_data = split_validation(x, y, validation_data,
                                                     kwargs.pop("validation_split", 0.0))
            batch_size = kwargs.pop("batch_size", None)
            x = make_dataset(x, array_batch_size(len(x), batch_size, kwargs.get("steps_per_epoch")),
                             shuffle=bool(kwargs.pop("shuffle", True)), labels=y)
            y = None
        validation = self._validation_arrays(validation_data)
        if validation is not None:
            batch = kwargs.pop("validation_batch_size", None)
            batch = batch_size if batch is None else check_positive_int(batch,
                                                                        "validation_batch_size")
            validation_data = make_dataset(
                validation[0], array_batch_size(len(validation[0]), batch,
                                                kwargs.get("validation_steps")),
                shuffle=False, labels=validation[1])
        if isinstance(x, tf.data.Dataset):
            # A dataset carries its own shuffling; Keras would warn that it
            # ignores its default shuffle=True.
            kwargs.setdefault("shuffle", False)
        callbacks = list(kwargs.pop("callbacks", None) or [])
        if not any(isinstance(c, StopOnNaN) for c in callbacks):
            callbacks.append(StopOnNaN())
        return super().fit(x, y, callbacks=callbacks, validation_data=validation_data, **kwargs)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        """As `keras.Model.evaluate`, with the data checked first; arrays are
        read in order through `tfvae.datasets.make_dataset` (see `fit`)."""
        if kwargs.get("_use_cached_eval_dataset"):
            # `fit`'s validation pass: Keras reads the data `fit` checked.
            return super().evaluate(x, y, *args, **kwargs)
        kwargs = keyword_arguments("evaluate", EVALUATE_ARGUMENTS, args, kwargs)
        x, y, _ = self._checked_data(x, y, kwargs, "evaluate")
        self._compile_if_needed()
        if self._reads_arrays(x):
            x = make_dataset(x, array_batch_size(len(x), kwargs.pop("batch_size", None),
                                                 kwargs.get("steps")),
                             shuffle=False, labels=y)
            y = None
        return super().evaluate(x, y, **kwargs)

    def _reads_arrays(self, x):
        """Whether arrays x go through `make_dataset` rather than Keras' pipeline.

        A multi-worker run's input stays Keras' (or is
        `tfvae.distribute.distributed_dataset`): workers shuffling on their
        own would need one seed rule to share an epoch's permutation.
        """
        return isinstance(x, np.ndarray) and not isinstance(
            self.distribute_strategy, tf.distribute.MultiWorkerMirroredStrategy)

    def _validation_arrays(self, validation_data):
        """(x, y) of checked validation arrays that `make_dataset` should read, else None."""
        if self.condition is None:
            pair = (validation_data, None)
        elif isinstance(validation_data, tuple):
            pair = validation_data[:2]
        else:
            return None
        return pair if self._reads_arrays(pair[0]) else None

    def predict(self, x, *args, **kwargs):
        """As `keras.Model.predict`: the reconstructions E[x | z = latent code of x].

        A conditional VAE reconstructs x given its labels: pass `(x, y)` as
        `x` (arrays, y as for `fit`) or a dataset of `(x, y)` batches. Values
        are not checked against the likelihood's support: a reconstruction
        scores nothing.

        Raises:
            ValueError: data of the wrong shape, NaN/Inf, labels missing from
                a conditional model's input or given to an unconditional one.
        """
        return super().predict(self._checked_predict_data(x), *args, **kwargs)

    def _checked_predict_data(self, x):
        if self.condition is None:
            if isinstance(x, tuple):
                raise ValueError(f"This VAE is unconditional: `predict` takes x alone. "
                                 f"Received: x, a tuple of {len(x)}")
            return check_data(x, self.data_shape, None, name="x")
        if isinstance(x, tuple) and len(x) == 2:
            return conditional_data.check_data(*x, self.condition, self.data_shape, None)
        if isinstance(x, (np.ndarray, list, tf.Tensor)):
            raise ValueError(f"This conditional VAE ({self.condition.describe()}) reconstructs "
                             f"x given its labels y: call predict((x, y)), or pass a dataset of "
                             f"(x, y) batches. Received: x alone, of shape {np.shape(x)}")
        return conditional_data.check_data(x, None, self.condition, self.data_shape, None)[0]

    def _checked_data(self, x, y, kwargs, method, validation_data=None):
        """(x, y, validation_data) checked before anything is traced; y is None
        for an unconditional model, which refuses it."""
        if self.condition is None:
            refuse_targets(y, kwargs, method)
            x = check_data(x, self.data_shape, self.likelihood, name="x")
            if validation_data is not None:
                validation_data = check_data(validation_x(validation_data), self.data_shape,
                                             self.likelihood, name="validation_data")
            return x, None, validation_data
        refuse_targets(None, kwargs, method, models="x given its labels y")
        x, y = conditional_data.check_data(x, y, self.condition, self.data_shape,
                                           self.likelihood)
        if validation_data is not None:
            validation_data = conditional_data.check_validation_data(
                validation_data, self.condition, self.data_shape, self.likelihood)
        return x, y, validation_data

    def _make_trackers(self, with_iwae):
        """The Mean metrics `fit`/`evaluate` report; Keras resets them each epoch."""
        self.iwae_tracker = keras.metrics.Mean(name="iwae") if with_iwae else None
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.elbo_tracker = keras.metrics.Mean(name="elbo")
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction")
        self.kl_tracker = keras.metrics.Mean(name="kl")

    def _set_iwae_tracker(self, with_iwae):
        """Adds or drops the `iwae` metric of a built model whose objective or k changed."""
        old = self.iwae_tracker
        if with_iwae == (old is not None):
            return
        # A built layer's state is locked (Keras' own `enable_lora` unlocks it the
        # same way); the metric's variables are created in the model's strategy so
        # that replicas sum into one mean, as the other trackers made in __init__.
        locked = self._tracker.locked
        self._tracker.unlock()
        try:
            if old is None:
                with self.distribute_strategy.scope():
                    self.iwae_tracker = keras.metrics.Mean(name="iwae")
            else:
                self._tracker.untrack(old)
                self.iwae_tracker = None
                self._delete_tracking("iwae_tracker")   # nor in TF's object graph
        finally:
            if locked:
                self._tracker.lock()

    def _regularization_loss(self):
        """Σ of the layers' regularisation losses (0 when there are none).

        It is part of what the optimizer minimises, so it is part of the logged
        `loss`, as in Keras; `elbo`, `reconstruction` and `kl` stay the model's.
        """
        losses = self.losses
        return tf.add_n([ops.cast(l, "float32") for l in losses]) if losses else 0.0

    def _update_metrics(self, per_example_loss, reconstruction, kl, iwae=None):
        if iwae is not None:
            self.iwae_tracker.update_state(iwae)
        self.loss_tracker.update_state(per_example_loss)
        self.elbo_tracker.update_state(reconstruction - kl)
        self.reconstruction_tracker.update_state(reconstruction)
        self.kl_tracker.update_state(kl)
        logs = {m.name: m.result() for m in self.metrics
                if m is not self.iwae_tracker or iwae is not None}
        if isinstance(tf.distribute.get_strategy(), tf.distribute.MultiWorkerMirroredStrategy):
            # Keras 3 reduces multi-worker logs with axis=0, which fails on
            # scalars (tensorflow/tensorflow#72388); give them that axis.
            logs = {name: ops.reshape(value, (1,)) for name, value in logs.items()}
        return logs

    @property
    def metrics(self):
        trackers = [self.loss_tracker, self.elbo_tracker,
                    self.reconstruction_tracker, self.kl_tracker]
        return trackers + ([self.iwae_tracker] if self.iwae_tracker is not None else [])

    def _compile_if_needed(self):
        # In the strategy the model was built under: the optimizer's slots
        # must be mirrored like the weights they follow.
        if not self.compiled:
            with self.distribute_strategy.scope():
                self.compile()


def keyword_arguments(method, names, args, kwargs):
    """kwargs with the positional `args` of `method` added under their Keras names."""
    if len(args) > len(names):
        raise TypeError(f"{method}() takes at most {len(names) + 2} positional arguments "
                        f"after self; received {len(args) + 2}.")
    for name, value in zip(names, args):
        if name in kwargs:
            raise TypeError(f"{method}() got multiple values for argument '{name}'")
        kwargs[name] = value
    return kwargs


def split_validation(x, y, validation_data, split):
    """(x, y, validation_data), the last `split` of the examples held out as Keras does
    (before any shuffling) when no `validation_data` is given."""
    if isinstance(split, bool) or not isinstance(split, (int, float, np.number)) \
            or not 0 <= split < 1:
        raise ValueError("`validation_split` must be a fraction in [0, 1): the share of the "
                         f"arrays held out. Received: validation_split={split!r}")
    if not split or validation_data is not None:
        return x, y, validation_data
    keep = int(math.floor(len(x) * (1.0 - split)))
    if keep in (0, len(x)):
        raise ValueError(f"`validation_split` leaves no example on one side of {len(x)} "
                         f"example(s); give more data or another split. Received: "
                         f"validation_split={split!r}")
    if y is None:
        return x[:keep], None, x[keep:]
    return x[:keep], y[:keep], (x[keep:], y[keep:])


def array_batch_size(n, batch_size, steps):
    """Keras' batch size for n examples in arrays: `batch_size`, else one that
    covers them in `steps` batches, else `KERAS_BATCH_SIZE`."""
    if batch_size is not None:
        return batch_size
    return int(math.ceil(n / steps)) if steps else KERAS_BATCH_SIZE


def refuse_targets(y, kwargs, method, models="x alone"):
    """y (for an unconditional VAE), sample weights and class weights have no meaning."""
    given = {"y": y, "sample_weight": kwargs.get("sample_weight"),
             "class_weight": kwargs.get("class_weight")}
    for name, value in given.items():
        if value is not None:
            shown = f"array of shape {np.shape(value)}" if hasattr(value, "shape") else repr(value)
            raise ValueError(
                f"tfvae.VAE.{method} does not take `{name}`: the VAE models {models} and "
                f"would silently ignore it. Received: {name}={shown}")


def validation_x(validation_data):
    """x from `validation_data` given as x, (x,) or (x, None); refuses targets."""
    if isinstance(validation_data, tuple) and len(validation_data) in (1, 2, 3) \
            and not isinstance(validation_data[0], (int, float, np.number)):
        x, *rest = validation_data
        if any(r is not None for r in rest):
            raise ValueError(
                "tfvae.VAE.fit takes validation_data as x or (x,): the VAE models x alone "
                f"and would silently ignore y or sample weights. Received: validation_data "
                f"as a tuple of {len(validation_data)}")
        return x
    return validation_data
