"""Checks that turn bad input into one clear ValueError before TensorFlow sees it."""

import math
import numbers

import numpy as np


def check_positive_int(value, name):
    """Returns `value` as an int, or raises ValueError unless it is an integer ≥ 1.

    Booleans are refused (True is not a size), numpy integers accepted.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) \
            or value < 1:
        raise ValueError(f"Received an invalid value for `{name}`, expected a positive "
                         f"integer. Received: {name}={value!r}")
    return int(value)


def check_number(value, name, minimum=None, strict=False):
    """Returns `value` as a float, or raises ValueError.

    Args:
        value: a real number (Python or numpy); NaN and ±Inf are refused.
        name: str, the argument's name in the message.
        minimum: None or a float lower bound.
        strict: bool, the bound itself is refused too (value > minimum).
    """
    ok = not isinstance(value, (bool, np.bool_)) and isinstance(value, numbers.Real) \
        and math.isfinite(float(value))
    if ok and minimum is not None:
        ok = float(value) > minimum if strict else float(value) >= minimum
    if not ok:
        bound = "" if minimum is None else f" {'>' if strict else '>='} {minimum:g}"
        raise ValueError(f"Received an invalid value for `{name}`, expected a finite "
                         f"number{bound}. Received: {name}={value!r}")
    return float(value)


def check_int_tuple(value, name, example="(512, 256)"):
    """Returns a non-empty tuple of positive ints, or raises ValueError.

    A bare string or number is refused: `"784"` is not a shape and `64` is not
    a list of layer widths, and iterating over either would silently build
    something else.
    """
    ok = isinstance(value, (tuple, list)) and len(value) > 0 and all(
        not isinstance(v, (bool, np.bool_)) and isinstance(v, numbers.Integral) and v >= 1
        for v in value)
    if not ok:
        raise ValueError(f"Received an invalid value for `{name}`, expected a non-empty "
                         f"tuple of positive integers such as {example}. "
                         f"Received: {name}={value!r}")
    return tuple(int(v) for v in value)


def check_choice(value, name, allowed):
    """Returns `value` if it is in the allow-list `allowed`, else raises ValueError."""
    if isinstance(value, str) and value in allowed:
        return value
    raise ValueError(f"Unrecognized {name}={value!r}. Supported values are: {list(allowed)}.")


def check_shape(input_shape):
    """Returns the shape of one example as a tuple of ints, or raises ValueError."""
    try:
        return check_int_tuple(input_shape, "input_shape", example="(28, 28)")
    except ValueError:
        hint = f" For vectors write input_shape=({input_shape},)." \
            if isinstance(input_shape, numbers.Integral) and input_shape > 0 else ""
        raise ValueError("Received an invalid value for `input_shape`, expected a "
                         "tuple of positive integers such as (28, 28). "
                         f"Received: input_shape={input_shape!r}.{hint}") from None


def check_values(x, name="x"):
    """Returns array-like data as a numpy array, or raises ValueError unless it
    holds numbers (booleans count), at least one, all finite.

    Args:
        x: array-like.
        name: str, how the array is called in the message.
    """
    x = np.asarray(x)
    if x.dtype == object or not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_):
        raise ValueError(f"`{name}` must hold numbers; received dtype {x.dtype}.")
    if x.size == 0:
        raise ValueError(f"`{name}` is empty (shape {x.shape}): there is no data in it.")
    bad = int(x.size - np.count_nonzero(np.isfinite(x)))
    if bad:
        raise ValueError(f"`{name}` contains {bad} non-finite (NaN or Inf) value(s) "
                         f"out of {x.size}; clean the data first.")
    return x


def check_array(x, data_shape, likelihood, name="x"):
    """Validates a numpy-convertible batch of examples; returns it as an array.

    Booleans are numbers here (0/1 pixels are valid Bernoulli data) and come
    back as float32.

    Raises:
        ValueError: empty, non-numeric, wrong shape, NaN/Inf, or outside the
            likelihood's support (unchecked when `likelihood` is None) — each
            message says which.
    """
    x = check_values(x, name)
    if x.dtype == np.bool_:
        x = x.astype("float32")
    expected = tuple(data_shape)
    if tuple(x.shape[1:]) != expected:
        hint = ""
        if int(np.prod(x.shape[1:])) == int(np.prod(expected)):
            hint = f" Reshape it with x.reshape((-1, *{expected}))."
        raise ValueError(
            f"Expected `{name}` of shape (batch, {', '.join(map(str, expected))}) "
            f"for this model; received shape {x.shape}.{hint}"
        )
    if likelihood is not None:
        likelihood.check_support(x)
    return x


def _only_component(element, name):
    """x from a dataset element that is x or (x,); (x, y) would have y ignored."""
    if isinstance(element, dict):
        raise ValueError(f"`{name}` yields dicts; yield batches of x.")
    if isinstance(element, (tuple, list)):
        if len(element) != 1:
            raise ValueError(
                f"`{name}` yields tuples of {len(element)} tensors (x, y, ...), but the "
                "VAE models x alone and would silently ignore the rest. Yield x only, "
                "e.g. dataset.map(lambda x, *rest: x), or build a conditional VAE "
                "(num_classes= or condition_shape=) to model x given y.")
        return _only_component(element[0], name)
    return element


def check_element_shape(spec, data_shape, name="dataset"):
    """Raises ValueError unless the `tf.TensorSpec` of x batches fits (batch, *data_shape)."""
    shape = spec.shape
    if shape.rank is not None:
        tail = tuple(shape[1:])
        if len(tail) != len(data_shape) or any(
            got is not None and got != want for got, want in zip(tail, data_shape)
        ):
            raise ValueError(
                f"Expected `{name}` to yield batches of shape (batch, "
                f"{', '.join(map(str, data_shape))}); its elements have shape "
                f"{tuple(shape)}. Batch the dataset (dataset.batch(n)) and make "
                "each example match the model's input_shape."
            )


def check_dataset(dataset, data_shape, likelihood, name="dataset"):
    """Validates the element shape of a `tf.data.Dataset` and its first batch.

    Only the first batch's values are inspected (reading all of a dataset to
    validate it would cost an epoch); NaN later on is caught by the NaN guard.
    """
    check_element_shape(_only_component(dataset.element_spec, name), data_shape, name)
    for element in dataset.take(1):
        first = _only_component(element, name)
        check_array(np.asarray(first), data_shape, likelihood, name=f"{name} (first batch)")
        return
    raise ValueError(f"`{name}` is empty: it yielded no batch.")


def check_data(x, data_shape, likelihood, name="x"):
    """Validates what `fit`/`evaluate` receive; returns it ready for Keras.

    Arrays, tensors and Python lists are checked whole and come back as numpy
    arrays (Keras would read a list as several inputs); a `tf.data.Dataset` is
    checked by its element spec and first batch and returned as is.

    Raises:
        ValueError: x is None or fails the checks.
    """
    import tensorflow as tf  # Not at import: the CLI checks arguments without TensorFlow.

    if x is None:
        raise ValueError(f"`{name}` is None: pass the data to train or evaluate on.")
    if isinstance(x, tf.data.Dataset):
        check_dataset(x, data_shape, likelihood, name=name)
        return x
    if isinstance(x, (np.ndarray, list, tuple, tf.Tensor)) or np.isscalar(x):
        return check_array(x, data_shape, likelihood, name=name)
    # Generators and `keras.utils.PyDataset`s are Keras' to read; their
    # batches meet `_as_data`'s shape check inside the step.
    return x
