"""Checks that turn bad input into one clear ValueError before TensorFlow sees it."""

import numpy as np
import tensorflow as tf


def check_array(x, data_shape, likelihood, name="x"):
    """Validates a numpy-convertible batch of examples; returns it as an array.

    Raises:
        ValueError: empty, non-numeric, wrong shape, NaN/Inf, or outside the
            likelihood's support — each message says which.
    """
    x = np.asarray(x)
    if x.dtype == object or not np.issubdtype(x.dtype, np.number):
        raise ValueError(f"`{name}` must hold numbers; received dtype {x.dtype}.")
    if x.size == 0:
        raise ValueError(f"`{name}` is empty (shape {x.shape}): there is nothing to train on.")
    expected = tuple(data_shape)
    if tuple(x.shape[1:]) != expected:
        hint = ""
        if int(np.prod(x.shape[1:])) == int(np.prod(expected)):
            hint = f" Reshape it with x.reshape((-1, *{expected}))."
        raise ValueError(
            f"Expected `{name}` of shape (batch, {', '.join(map(str, expected))}) "
            f"for this model; received shape {x.shape}.{hint}"
        )
    bad = int(np.size(x) - np.count_nonzero(np.isfinite(x)))
    if bad:
        raise ValueError(f"`{name}` contains {bad} NaN or Inf value(s); clean the data first.")
    likelihood.check_support(x)
    return x


def _first_component(element):
    while isinstance(element, (tuple, list)):
        element = element[0]
    if isinstance(element, dict):
        raise ValueError("Dict-structured datasets are not supported; yield x or (x, y).")
    return element


def check_dataset(dataset, data_shape, likelihood, name="dataset"):
    """Validates the element shape of a `tf.data.Dataset` and its first batch.

    Only the first batch's values are inspected (reading all of a dataset to
    validate it would cost an epoch); NaN later on is caught by the NaN guard.
    """
    spec = _first_component(dataset.element_spec)
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
    for element in dataset.take(1):
        first = _first_component(element)
        check_array(np.asarray(first), data_shape, likelihood, name=f"{name} (first batch)")
        return
    raise ValueError(f"`{name}` is empty: it yielded no batch.")


def check_data(x, data_shape, likelihood, name="x"):
    """Dispatches to the array or dataset check; other inputs pass through."""
    if x is None:
        raise ValueError(f"`{name}` is None: pass the data to train or evaluate on.")
    if isinstance(x, tf.data.Dataset):
        check_dataset(x, data_shape, likelihood, name=name)
    elif isinstance(x, (np.ndarray, list, tf.Tensor)):
        check_array(x, data_shape, likelihood, name=name)
