"""What a conditional VAE's `fit` and `evaluate` take: `(x, y)` arrays, or `(x, y)` batches.

`tfvae.trainer.Trainer` calls these for a model with a `condition`; an
unconditional model's data are `tfvae.validation`'s. Arrays are checked
whole, a `tf.data.Dataset` by its element spec and its first batch, and every
mistake is a `ValueError` naming the argument before anything is traced.
"""

import numpy as np

from tfvae import conditioning, validation


def check_data(x, y, condition, data_shape, likelihood, name="x"):
    """Validates what a conditional model's `fit`/`evaluate` receive; returns `(x, y)`.

    Arrays come back as numpy (y as float32 condition rows); a dataset of
    `(x, y)` batches is checked by its element spec and its first batch and
    returned as it is (with y None).

    Raises:
        ValueError: no labels, labels given twice, or data or labels that
            fail the checks.
    """
    import tensorflow as tf

    if x is None:
        raise ValueError(f"`{name}` is None: pass the data to train or evaluate on.")
    if isinstance(x, tf.data.Dataset):
        if y is not None:
            raise ValueError(f"`y` cannot be given with a dataset `{name}`: the dataset "
                             f"yields the (x, y) pairs. Received: y={conditioning.shown(y)}")
        check_dataset(x, condition, data_shape, likelihood, name)
        return x, None
    if isinstance(x, (np.ndarray, list, tuple, tf.Tensor)) or np.isscalar(x):
        x = validation.check_array(x, data_shape, likelihood, name=name)
        if y is None:
            raise ValueError(f"`y` is None: this conditional VAE ({condition.describe()}) "
                             f"trains on (x, y) pairs; pass {condition.expected} as y.")
        return x, conditioning.check_labels(y, condition, len(x), name="y", examples_name=name)
    # Generators and `keras.utils.PyDataset`s are Keras' to read; their
    # batches meet the shape checks inside the step.
    return x, y


def check_dataset(dataset, condition, data_shape, likelihood, name="dataset"):
    """Validates a `tf.data.Dataset` of `(x, y)` batches: element spec, then the first batch."""
    spec = dataset.element_spec
    if not (isinstance(spec, tuple) and len(spec) == 2):
        raise ValueError(f"`{name}` yields {_spec_text(spec)}, but a conditional VAE "
                         f"({condition.describe()}) trains on (x, y) batches, y being "
                         f"{condition.expected}: e.g. tf.data.Dataset.from_tensor_slices("
                         "(x, y)).batch(128), or tfvae.datasets.make_dataset(x, labels=y).")
    x_spec, y_spec = spec
    validation.check_element_shape(x_spec, data_shape, name)
    _check_label_spec(y_spec, condition, name)
    for x_batch, y_batch in dataset.take(1):
        x_batch = validation.check_array(np.asarray(x_batch), data_shape, likelihood,
                                         name=f"{name} (first batch)")
        conditioning.check_labels(np.asarray(y_batch), condition, len(x_batch),
                     name=f"{name} (first batch labels)", examples_name=f"{name} (first batch)")
        return
    raise ValueError(f"`{name}` is empty: it yielded no batch.")


def _spec_text(spec):
    if isinstance(spec, (tuple, list)):
        return f"tuples of {len(spec)} tensors"
    return "dicts" if isinstance(spec, dict) else "single tensors (x alone)"


def _check_label_spec(spec, condition, name):
    shape, dtype = getattr(spec, "shape", None), getattr(spec, "dtype", None)
    ok = shape is not None and dtype is not None and (dtype.is_integer or dtype.is_floating
                                                      or dtype.is_bool)
    if ok and condition.num_classes is not None:
        ok = shape.rank in (1, 2) and (shape.rank == 1 or shape[1] in (None, 1,
                                                                       condition.dim))
    elif ok:
        ok = dtype.is_floating and shape.rank == 2 and shape[1] in (None, condition.dim)
    if not ok:
        raise ValueError(f"Expected the labels of `{name}` to be {condition.expected}; its "
                         f"label batches are {getattr(dtype, 'name', dtype)} of shape "
                         f"{tuple(shape) if shape is not None else None}.")


def check_validation_data(validation_data, condition, data_shape, likelihood):
    """`validation_data` for a conditional model: a dataset of (x, y), or (x, y)."""
    import tensorflow as tf

    name = "validation_data"
    if isinstance(validation_data, tf.data.Dataset):
        check_dataset(validation_data, condition, data_shape, likelihood, name)
        return validation_data
    if not (isinstance(validation_data, tuple) and len(validation_data) in (2, 3)
            and (len(validation_data) == 2 or validation_data[2] is None)):
        raise ValueError(f"A conditional VAE ({condition.describe()}) takes validation_data "
                         "as (x, y) or a dataset of (x, y) batches. Received: validation_data "
                         f"of type {type(validation_data).__name__}")
    x = validation.check_array(validation_data[0], data_shape, likelihood, name=name)
    return x, conditioning.check_labels(validation_data[1], condition, len(x),
                                        name=f"{name} labels", examples_name=name)
