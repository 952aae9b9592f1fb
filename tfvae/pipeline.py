"""The tf.data input pipeline: binarization, then shuffle -> batch -> prefetch.

`tfvae.datasets` loads arrays; this module turns them into what `VAE.fit`
reads. Both names are importable from `tfvae.datasets` too
(`tfvae.datasets.make_dataset`, `tfvae.datasets.binarize`).
"""

import numpy as np
import tensorflow as tf

from tfvae.validation import check_positive_int, check_values

BINARIZATIONS = ("none", "static", "dynamic")


def check_array(x, name="x"):
    """Validates array-like data before it reaches TensorFlow; returns `np.asarray(x)`.

    Args:
        x: array-like of numbers (or booleans).
        name: str, how the array is called in error messages.

    Raises:
        ValueError: non-numeric dtype, empty array, or NaN/Inf values.
    """
    return check_values(x, name)


def binarize(x, method="sample", seed=None):
    """Turns intensities in [0, 1] into 0/1 pixels once ("static binarization").

    Args:
        x: array-like in [0, 1].
        method: "sample" draws each pixel from Bernoulli(x) — the usual choice
            for Bernoulli-likelihood VAEs; "threshold" keeps pixels > 0.5.
        seed: int or None, seeds the numpy Generator used by "sample".

    Returns:
        float32 array of x's shape holding 0.0 and 1.0.

    Raises:
        ValueError: unknown method, or x empty, non-finite or outside [0, 1].

    Example:

    >>> binarize([[0.2, 0.9]], method="threshold")
    array([[0., 1.]], dtype=float32)
    """
    if method not in ("sample", "threshold"):
        raise ValueError(f"Unknown binarization method {method!r}; use 'sample' or 'threshold'.")
    x = check_array(x).astype("float32")
    _check_unit_range(x)
    if method == "threshold":
        return (x > 0.5).astype("float32")
    return (np.random.default_rng(seed).random(x.shape, dtype=np.float32) < x).astype("float32")


def _check_unit_range(x):
    if x.min() < 0 or x.max() > 1:
        raise ValueError(f"`x` must lie in [0, 1] to be binarized; its values span "
                         f"[{x.min()}, {x.max()}]. Divide uint8 images by 255 first.")


def make_dataset(x, batch_size=128, shuffle=True, binarization=None, seed=None, cache=False,
                 prefetch=True, drop_remainder=False, shuffle_buffer=None, labels=None):
    """Builds a `tf.data.Dataset` of float32 batches of `x` (or of `(x, y)`) for `VAE.fit`.

    Args:
        x: array-like of examples, e.g. (n, 28, 28) in [0, 1].
        batch_size: int > 0.
        shuffle: bool, reshuffle every epoch. The whole of `x` is shuffled
            by drawing a permutation of its indices each epoch and gathering
            every batch from one in-memory copy of `x`: no shuffle buffer.
        binarization: one of `tfvae.BINARIZATIONS` or None (= "none"):
            "static" samples 0/1 pixels once, with numpy; "dynamic" draws a
            fresh Bernoulli sample of every batch each epoch, which
            regularises Bernoulli VAEs better than a fixed sample.
        seed: int or None, makes shuffling and binarization reproducible.
        cache, prefetch, drop_remainder: bools for the `tf.data` steps of
            the same names (prefetch keeps `PREFETCH_BATCHES` batches ready).
            `x` is held in memory already, so `cache` only adds a second copy
            of it; it applies where examples are sliced one by one
            (`shuffle=False`, or a `shuffle_buffer`).
        shuffle_buffer: int or None; None shuffles over the whole of `x`; an
            int shuffles through a `tf.data` buffer of that many examples.
        labels: None, or one label per example (integer class ids, one-hot
            rows or condition vectors), for a conditional VAE: the dataset
            then yields `(x, y)` batches, y as given, shuffled with x.

    Returns:
        A `tf.data.Dataset` yielding float32 tensors of shape (batch, ...), or
        `(x, y)` pairs of them with `labels`.

    Raises:
        ValueError: bad batch size or binarization, bad x (see `check_array`),
            or x outside [0, 1] when binarizing.

    Example:

    >>> ds = make_dataset(tfvae.datasets.load("default"), batch_size=64,
    ...                   binarization="dynamic", seed=0)
    >>> next(iter(ds)).shape
    TensorShape([64, 28, 28])
    """
    check_positive_int(batch_size, "batch_size")
    if shuffle_buffer is not None:
        check_positive_int(shuffle_buffer, "shuffle_buffer")
    if binarization is not None and binarization not in BINARIZATIONS:
        raise ValueError(f"Unrecognized binarization={binarization!r}. Supported values are: "
                         f"{[None, *BINARIZATIONS]}.")
    x = np.asarray(check_array(x), dtype=np.float32)   # no copy if already float32
    if x.ndim < 1:
        raise ValueError("`x` must have a batch dimension; received a scalar.")
    if binarization == "static":
        x = binarize(x, seed=seed)
    elif binarization == "dynamic":
        _check_unit_range(x)
    if labels is not None:
        labels = check_array(labels, name="labels")
        if labels.ndim == 0:
            raise ValueError("`labels` must have one entry per example; received a scalar: "
                             f"labels={labels!r}.")
        if len(labels) != len(x):
            raise ValueError(f"`labels` has {len(labels)} entries but `x` has {len(x)} "
                             "examples: give one label per example.")
    data = x if labels is None else (x, labels)
    if shuffle and shuffle_buffer is None:
        ds = _permuted_batches(data, len(x), batch_size, drop_remainder, seed)
    else:
        ds = tf.data.Dataset.from_tensor_slices(data)
        if cache:
            ds = ds.cache()
        if shuffle:
            ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
        ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    if binarization == "dynamic":
        # Random ops in a tf.data map replay the same numbers every epoch once
        # any seed (op or global) is set; a re-randomized seed stream gives a
        # new sample per epoch that is still reproducible for a given `seed`.
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)

        def sample(batch, s):
            return tf.cast(tf.random.stateless_uniform(tf.shape(batch), s) < batch, tf.float32)

        ds = tf.data.Dataset.zip(ds, seeds).map(
            (lambda batch, s: sample(batch, s)) if labels is None else
            (lambda pair, s: (sample(pair[0], s), pair[1])))
    if prefetch:
        ds = ds.prefetch(PREFETCH_BATCHES)
    return without_autotuning(ds)


# Batches prepared ahead of the step: each costs a gather (and a binarization),
# far less than a training step, so two keep the step fed.
PREFETCH_BATCHES = 2


def without_autotuning(ds):
    """`ds` with `tf.data` autotuning off.

    An autotuned iterator runs a model thread whose optimisation period doubles
    as the iterator ages, and the iterator's destructor waits for that thread's
    current period to end. `fit` drops one iterator per epoch, so an epoch of 25
    s stalled the next for 10 to 32 s (TensorFlow 2.21, benchmarks/RESULTS.md).
    The pipelines built here have fixed buffer sizes and nothing to tune.
    """
    options = tf.data.Options()
    options.autotune.enabled = False
    return ds.with_options(options)


def _permuted_batches(data, n, batch_size, drop_remainder, seed):
    """Batches of `data` (an array or a tuple of arrays of length n) in a new
    random order every epoch.

    A shuffle buffer over all n examples holds a second copy of the data and
    refills it example by example at the start of every epoch; a permutation
    of the n indices costs one op, and each batch one gather from the single
    in-memory copy. The index stream is batched by `Dataset.batch` so that
    `tf.distribute` finds the global batch size it splits across replicas.
    """
    tensors = tf.nest.map_structure(tf.constant, data)
    # A new seed for every iterator (Keras makes one per epoch), reproducible
    # from `seed`, as `shuffle(reshuffle_each_iteration=True)` does. Dynamic
    # binarization draws its first batch from the same stream's first pair;
    # folding in a constant makes the permutation's key differ from it.
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2).take(1)

    def permutation(s):
        s = tf.random.experimental.stateless_fold_in(s, 1)
        return tf.random.experimental.stateless_shuffle(tf.range(n, dtype=tf.int64), seed=s)

    order = seeds.flat_map(lambda s: tf.data.Dataset.from_tensor_slices(permutation(s)))
    ds = order.apply(tf.data.experimental.assert_cardinality(n))
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    return ds.map(lambda i: tf.nest.map_structure(lambda t: tf.gather(t, i), tensors))
