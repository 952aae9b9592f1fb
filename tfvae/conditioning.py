"""Conditioning a VAE on a class label or a condition vector y: the checks and the one-hot.

A conditional VAE (Sohn et al. 2015) models p(x | y) for a label y that is
known at training time and given at generation time ("draw me a sneaker").
`tfvae.VAE(..., num_classes=C)` takes class labels, as integer ids in
[0, C) or one-hot rows of width C; `tfvae.VAE(..., condition_shape=(k,))`
takes any real condition vector of k numbers. Either way the networks
receive y as a float32 vector (one-hot for classes): the encoder is called
as `encoder([x, y])` and the decoder as `decoder([z, y])`.

#### Mathematical details
The prior stays unconditional, p(z) (z and y are independent a priori), and

    log p(x | y) ≥ ELBO(x, y) = E_q[log p(x | z, y)] − KL(q(z | x, y) ‖ p(z)),

estimated as in the unconditional model with y passed to both networks.
For classes, Bayes' rule turns the estimates of log p(x | y = c) into a
generative classifier: p(y = c | x) ∝ p(x | y = c) p(y = c)
(`tfvae.evaluation.classify`).

This module owns the label checks (a `ValueError` naming the argument and
its value before TensorFlow traces anything) and the conversion of labels to
the networks' float32 condition; `tfvae.conditional_data` checks what a
conditional model's `fit` and `evaluate` receive.
"""

import dataclasses
import numbers

import numpy as np

from tfvae import validation


@dataclasses.dataclass(frozen=True)
class Condition:
    """What a conditional VAE is conditioned on: `num_classes` or `condition_shape`."""

    num_classes: int = None
    condition_shape: tuple = None

    @property
    def dim(self):
        """The width k of the float condition vector the networks receive."""
        return self.num_classes if self.num_classes is not None else self.condition_shape[0]

    @property
    def expected(self):
        """What labels this condition accepts, for error messages."""
        if self.num_classes is not None:
            return (f"integer class ids in [0, {self.num_classes}) or one-hot rows of "
                    f"width {self.num_classes}")
        return f"float condition vectors of shape (batch, {self.dim})"

    def describe(self):
        if self.num_classes is not None:
            return f"num_classes={self.num_classes}"
        return f"condition_shape={self.condition_shape}"


def make(num_classes=None, condition_shape=None):
    """The `Condition` of a model, or None for an unconditional one.

    Args:
        num_classes: None or an int ≥ 2, for class labels.
        condition_shape: None or a tuple `(k,)` of one positive int, for a
            real-valued condition vector.

    Raises:
        ValueError: both given, or either invalid.
    """
    if num_classes is not None and condition_shape is not None:
        raise ValueError("`num_classes` and `condition_shape` are mutually exclusive: class "
                         "labels are conditioned on as one-hot vectors of width num_classes, "
                         "so give one or the other. Received: num_classes="
                         f"{num_classes!r}, condition_shape={condition_shape!r}")
    if num_classes is not None:
        if isinstance(num_classes, (bool, np.bool_)) or not isinstance(
                num_classes, numbers.Integral) or num_classes < 2:
            raise ValueError("Received an invalid value for `num_classes`, expected an "
                             f"integer >= 2. Received: num_classes={num_classes!r}")
        return Condition(num_classes=int(num_classes))
    if condition_shape is not None:
        shape = validation.check_int_tuple(condition_shape, "condition_shape", example="(3,)")
        if len(shape) != 1:
            raise ValueError("Received an invalid value for `condition_shape`, expected a "
                             "vector shape (k,) such as (3,). Received: condition_shape="
                             f"{condition_shape!r}")
        return Condition(condition_shape=shape)
    return None


def check_class_names(class_names, condition):
    """`class_names` as a tuple of distinct strings, one per class, or None."""
    if class_names is None:
        return None
    names = tuple(class_names) if isinstance(class_names, (list, tuple)) else None
    if condition is None or condition.num_classes is None or names is None \
            or len(names) != condition.num_classes or len(set(names)) != len(names) \
            or not all(isinstance(n, str) and n for n in names):
        count = "" if condition is None or condition.num_classes is None \
            else f" {condition.num_classes}"
        raise ValueError(f"Received an invalid value for `class_names`, expected{count} "
                         "distinct non-empty strings, one per class (with `num_classes`). "
                         f"Received: class_names={class_names!r}")
    return names


def class_index(label, class_names=None, num_classes=None):
    """The integer class id of `label`: an id, a digit string, or a class name.

    Names match case-insensitively ("trouser" is "Trouser").

    Raises:
        ValueError: an unknown name or an id outside [0, num_classes).
    """
    if isinstance(label, str):
        text = label.strip()
        lowered = [n.lower() for n in class_names or ()]
        if text.lower() in lowered:
            return lowered.index(text.lower())
        if not text.lstrip("-").isdigit():
            known = f"Known classes are: {list(class_names)}." if class_names else \
                "This model has no class names; give an integer id."
            raise ValueError(f"Unknown label={label!r}. {known}")
        label = int(text)
    if isinstance(label, (bool, np.bool_)) or not isinstance(label, numbers.Integral) \
            or (num_classes is not None and not 0 <= label < num_classes):
        raise ValueError(f"Received an invalid value for `label`, expected a class id in "
                         f"[0, {num_classes}) or a class name. Received: label={label!r}")
    return int(label)


# ---- labels as arrays: checked before TensorFlow sees them ---------------------------


def shown(values):
    """A short text of labels for an error message."""
    values = np.asarray(values)
    if values.ndim == 0 or values.size <= 6:
        return repr(values.tolist())
    return f"an array of shape {values.shape}"


def check_labels(labels, condition, num_examples=None, name="labels", examples_name="x"):
    """Validates labels for `condition`; returns the float32 condition rows (n, k).

    Args:
        labels: integer class ids (n,) or (n, 1), or one-hot rows (n, C), for
            `num_classes`; float rows (n, k) for `condition_shape`.
        condition: a `Condition`.
        num_examples: None or the number of examples the labels go with.
        name, examples_name: how the labels and the examples are called in
            messages.

    Raises:
        ValueError: labels that are missing, empty, not numbers, NaN/Inf, out
            of range, not one-hot, of the wrong width, or of another length
            than the examples.
    """
    if labels is None:
        raise ValueError(f"`{name}` is None: this conditional VAE ({condition.describe()}) "
                         f"needs {condition.expected}.")
    y = np.asarray(labels)
    if y.ndim == 0 or y.size == 0:
        raise ValueError(f"Received an invalid value for `{name}`, expected "
                         f"{condition.expected}, one per example. Received: {name}={shown(y)}")
    y = validation.check_values(y, name).astype("float64")
    rows = _class_rows(y, condition, name) if condition.num_classes is not None \
        else _vector_rows(y, condition, name)
    if num_examples is not None and len(rows) != num_examples:
        raise ValueError(f"`{name}` has {len(rows)} labels but `{examples_name}` has "
                         f"{num_examples} examples: give one label per example.")
    return rows


def _class_rows(y, condition, name):
    classes = condition.num_classes
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim == 1:
        if np.any(y != np.round(y)) or y.min() < 0 or y.max() >= classes:
            raise ValueError(f"Received an invalid value for `{name}`, expected integer "
                             f"class ids in [0, {classes}). Received: {name} with values in "
                             f"[{y.min():g}, {y.max():g}]")
        return np.eye(classes, dtype="float32")[y.astype("int64")]
    if y.ndim != 2 or y.shape[1] != classes:
        raise ValueError(f"Received an invalid value for `{name}`, expected "
                         f"{condition.expected}. Received: {name} of shape {y.shape}")
    if not (np.isin(y, (0.0, 1.0)).all() and np.all(y.sum(axis=1) == 1)):
        raise ValueError(f"Received an invalid value for `{name}`, expected one-hot rows "
                         f"(one 1, the rest 0). Received: {name} with row sums in "
                         f"[{y.sum(axis=1).min():g}, {y.sum(axis=1).max():g}]")
    return y.astype("float32")


def _vector_rows(y, condition, name):
    if y.ndim != 2 or y.shape[1:] != condition.condition_shape:
        raise ValueError(f"Received an invalid value for `{name}`, expected "
                         f"{condition.expected}. Received: {name} of shape {y.shape}")
    return y.astype("float32")


def sample_labels(labels, num_samples, condition):
    """The condition rows of `num_samples` generated examples, or None (unconditional).

    A single class id (or name-free scalar), or a single condition vector of
    shape (k,), is repeated for every sample; otherwise one label per sample.
    """
    if condition is None or labels is None or _is_tensor(labels):
        return as_condition(labels, condition, num_examples=num_samples)
    y = np.asarray(labels)
    if condition.num_classes is not None and y.ndim == 0:
        y = np.full(num_samples, y)
    elif condition.num_classes is None and y.shape == condition.condition_shape:
        y = np.broadcast_to(y, (num_samples,) + condition.condition_shape)
    return check_labels(y, condition, num_samples, examples_name="n")


# ---- labels as tensors: what the networks receive ------------------------------------


def _is_tensor(value):
    import tensorflow as tf

    return tf.is_tensor(value)


def as_condition(labels, condition, num_examples=None, name="labels", validate=False):
    """The float32 condition (batch, k) the networks take, or None for an unconditional model.

    Arrays and lists are checked whole first (`check_labels`); tensors are
    converted in the graph, integer class ids to one-hot rows by gathering
    rows of an identity matrix (a TFLite builtin, so exported graphs take
    class ids).

    Args:
        labels: None, or labels as `check_labels` takes them (arrays or tensors).
        condition: the model's `Condition`, or None.
        num_examples: None or the static batch size the labels go with.
        name: str, the argument's name in messages.
        validate: bool, for integer tensors also add a runtime check that the
            ids lie in [0, num_classes) (a training step's later batches,
            which no eager check sees); never in exported graphs.

    Raises:
        ValueError: labels for an unconditional model, none for a conditional
            one, or labels that fail the checks.
    """
    if condition is None:
        if labels is not None:
            raise ValueError(f"This VAE is unconditional (no `num_classes` or "
                             f"`condition_shape`), so it takes no `{name}`. Received: "
                             f"{name}={shown(labels) if not _is_tensor(labels) else labels}")
        return None
    if not _is_tensor(labels):
        import tensorflow as tf

        return tf.constant(check_labels(labels, condition, num_examples, name=name))
    return _tensor_condition(labels, condition, num_examples, name, validate)


def _tensor_condition(labels, condition, num_examples, name, validate):
    import tensorflow as tf

    shape = labels.shape
    if num_examples is not None and shape.rank and shape[0] is not None \
            and shape[0] != num_examples:
        raise ValueError(f"`{name}` has {shape[0]} labels but there are {num_examples} "
                         "examples: give one label per example.")
    ids = condition.num_classes is not None and (
        shape.rank == 1 or (shape.rank == 2 and shape[1] == 1 != condition.num_classes))
    if ids:
        ids = tf.cast(tf.reshape(labels, [-1]), tf.int32)
        if validate:
            ids = _checked_ids(ids, condition.num_classes, name)
        # Rows of the identity (a TFLite GATHER) rather than tf.one_hot: the
        # int8 quantizer mis-scales TFLite's ONE_HOT op.
        return tf.gather(tf.eye(condition.num_classes, dtype=tf.float32), ids)
    if shape.rank != 2 or shape[1] not in (None, condition.dim):
        raise ValueError(f"Received an invalid value for `{name}`, expected "
                         f"{condition.expected}. Received: a tensor of shape {shape}")
    return tf.cast(labels, tf.float32)


def _checked_ids(ids, num_classes, name):
    import tensorflow as tf

    checks = [tf.debugging.assert_non_negative(ids, message=f"`{name}` holds a negative "
                                               "class id"),
              tf.debugging.assert_less(ids, num_classes, message=f"`{name}` holds a class "
                                       f"id >= num_classes={num_classes}")]
    with tf.control_dependencies(checks):
        return tf.identity(ids)


def network_inputs(inputs, condition):
    """What a network is called with: `inputs` alone, or `[inputs, condition]`.

    Both as tensors: Keras refuses a list that mixes arrays and tensors.
    """
    if condition is None:
        return inputs
    import tensorflow as tf

    return [tf.convert_to_tensor(inputs), condition]


def call_network(network, name, inputs, condition):
    """`network(inputs)`, or `network([inputs, condition])`, naming the contract on failure."""
    if condition is None:
        return network(inputs)
    contract = (f"A conditional VAE calls its {name} as {name}([{'x' if name == 'encoder' else 'z'}"
                f", y]), y of shape (batch, {condition.shape[1]}); this {name}")
    declared = getattr(network, "inputs", None)
    if isinstance(declared, list) and len(declared) != 2:
        # A one-input Keras model would warn, take x alone and ignore y.
        raise ValueError(f"{contract} declares {len(declared)} input(s).")
    try:
        return network([inputs, condition])
    except (ValueError, TypeError) as e:
        raise ValueError(f"{contract} failed on that: {e}") from e


def repeat_rows(condition, times):
    """`condition` (batch, k) repeated `times` over: row i·batch + b is row b."""
    import tensorflow as tf

    return None if condition is None else tf.tile(condition, [times, 1])


def static_batch(x):
    """The static batch size of an array or tensor, or None."""
    shape = getattr(x, "shape", None)
    if shape is None or len(shape) == 0:
        return None
    return None if shape[0] is None else int(shape[0])


def num_dims(condition):
    """The width of the condition input: k, or 0 for an unconditional model."""
    return 0 if condition is None else condition.dim
