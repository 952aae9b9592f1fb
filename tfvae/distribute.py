"""Data-parallel training: pick a `tf.distribute` strategy and feed it.

A `tfvae.VAE` trains under any strategy without changes: its `train_step`
divides the summed per-example loss by the *global* batch size (the replicas'
example counts summed with an all-reduce, so an uneven last batch is weighted
right) and Keras sums the replicas' gradients, so N replicas take exactly the
step one device takes on the whole batch. Two
rules on the user's side:

1. Create (or load) the model inside `strategy.scope()`, so its variables
   are mirrored.
2. Batch the data by the GLOBAL batch size (per-replica size × number of
   replicas). Keras splits each global batch across the replicas; batching by
   the per-replica size would silently shrink the batch N-fold.

Example:
```python
strategy = tfvae.distribute.get_strategy("mirrored")
with strategy.scope():
    vae = tfvae.VAE((28, 28), latent_dim=16, architecture="conv")
data = tfvae.distribute.distributed_dataset(x_train, per_replica_batch_size=64,
                                            strategy=strategy)
vae.fit(data, epochs=10)
```
"""

import json
import os

import numpy as np
import tensorflow as tf

from tfvae import pipeline

STRATEGIES = ("default", "mirrored", "multiworker", "tpu")


def get_strategy(name="default", tpu=None, devices=None):
    """Returns a `tf.distribute.Strategy` by name.

    Args:
        name: str, one of `STRATEGIES`:
            "default": no distribution (the current default strategy).
            "mirrored": `MirroredStrategy` over `devices`, else all GPUs, else
                all logical CPUs (one replica per device, on one machine).
            "multiworker": `MultiWorkerMirroredStrategy`; the cluster and this
                process's role come from the `TF_CONFIG` environment variable.
            "tpu": `TPUStrategy` on the TPU found by `TPUClusterResolver(tpu)`.
        tpu: str or None, the TPU name or grpc address for "tpu" (None: the
            one the environment provides, e.g. on Colab/Cloud TPU VMs).
        devices: list of str or None, the devices for "mirrored".

    Returns:
        A `tf.distribute.Strategy`.

    Raises:
        ValueError: for an unknown name, for "multiworker" with a TF_CONFIG
            that is not valid JSON, or for "tpu" when no TPU can be reached.

    Example:
    ```python
    strategy = tfvae.distribute.get_strategy("mirrored")
    with strategy.scope():
        vae = tfvae.VAE((28, 28), latent_dim=2)
    ```
    """
    if name not in STRATEGIES:
        raise ValueError(f"Unrecognized strategy name={name!r}. Supported strategies "
                         f"are: {list(STRATEGIES)}.")
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        if devices is None and not tf.config.list_logical_devices("GPU"):
            # MirroredStrategy() alone uses only CPU:0 on a GPU-less machine;
            # several logical CPUs (set up by the user) should each be a replica.
            devices = [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices=devices)
    if name == "multiworker":
        config = os.environ.get("TF_CONFIG")
        if config is not None:
            try:
                json.loads(config)
            except json.JSONDecodeError as e:
                raise ValueError(f"TF_CONFIG is not valid JSON: {config!r}") from e
        return tf.distribute.MultiWorkerMirroredStrategy()
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, RuntimeError, tf.errors.OpError) as e:
        raise ValueError(f"No TPU could be reached (tpu={tpu!r}): {e}. Pass the TPU "
                         "name or grpc:// address, or use name='mirrored' or "
                         "'default' on machines without a TPU.") from e
    return tf.distribute.TPUStrategy(resolver)


def global_mean(per_example):
    """Σ of this replica's values / the number of examples on ALL replicas.

    Keras sums the replicas' gradients, so this makes N replicas take exactly
    the single-device step on the mean. The count is all-reduced rather than
    taken as (this replica's count × replicas): an uneven last batch would
    otherwise weight the replicas unequally.

    Args:
        per_example: float tensor (batch,), this replica's per-example values.

    Returns:
        A scalar tensor.
    """
    count = tf.cast(tf.shape(per_example)[0], per_example.dtype)
    context = tf.distribute.get_replica_context()
    if context is not None and context.num_replicas_in_sync > 1:
        count = context.all_reduce(tf.distribute.ReduceOp.SUM, count)
    return tf.reduce_sum(per_example) / count


def global_batch_size(per_replica_batch_size, strategy=None):
    """per-replica batch size × number of replicas in sync.

    Args:
        per_replica_batch_size: int > 0.
        strategy: a `tf.distribute.Strategy` or None (the current one).

    Returns:
        int, the batch size to give `tf.data.Dataset.batch`.
    """
    if isinstance(per_replica_batch_size, bool) or not isinstance(
            per_replica_batch_size, int) or per_replica_batch_size <= 0:
        raise ValueError("Received an invalid value for `per_replica_batch_size`, "
                         "expected a positive integer. Received: "
                         f"per_replica_batch_size={per_replica_batch_size!r}")
    strategy = strategy or tf.distribute.get_strategy()
    return per_replica_batch_size * strategy.num_replicas_in_sync


def distributed_dataset(x, per_replica_batch_size=64, strategy=None, shuffle=True,
                        seed=None, drop_remainder=True, labels=None):
    """A `tf.data.Dataset` of x batched by the GLOBAL batch size, ready for `fit`.

    Keras splits each global batch across the replicas. Across workers the
    dataset is sharded by element (`AutoShardPolicy.DATA`), which works for
    in-memory arrays where the default file sharding cannot. Remainders are
    dropped by default so every replica sees a full, equal slice.

    Args:
        x: array-like (n, *input_shape), the training data.
        per_replica_batch_size: int > 0, examples per replica per step.
        strategy: a `tf.distribute.Strategy` or None (the current one).
        shuffle: bool, reshuffle every epoch.
        seed: int or None, the shuffle seed; give every worker the same seed.
        drop_remainder: bool, drop the last incomplete global batch.
        labels: None, or one label per example for a conditional VAE: the
            dataset then yields `(x, y)` batches.

    Returns:
        A batched, prefetched `tf.data.Dataset` yielding x (or `(x, y)`).

    Example:
    ```python
    ds = tfvae.distribute.distributed_dataset(x, 64, strategy)  # 128 on 2 replicas
    ```
    """
    batch = global_batch_size(per_replica_batch_size, strategy)
    x = np.asarray(x, dtype="float32")
    if labels is not None and len(labels) != len(x):
        raise ValueError(f"`labels` has {len(labels)} entries but `x` has {len(x)} examples: "
                         "give one label per example.")
    ds = tf.data.Dataset.from_tensor_slices(x if labels is None else (x, np.asarray(labels)))
    if shuffle:
        ds = ds.shuffle(min(len(x), 60_000), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch, drop_remainder=drop_remainder).prefetch(pipeline.PREFETCH_BATCHES)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return pipeline.without_autotuning(ds).with_options(options)
