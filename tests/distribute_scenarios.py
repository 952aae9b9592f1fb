"""Scenarios for tests/test_distribute.py, each run in its own Python process.

Logical devices must be configured before TensorFlow initialises its
devices, and a MultiWorkerMirroredStrategy worker owns its process, so the
tests launch this script: `python distribute_scenarios.py SCENARIO OUT.npz`.
Each scenario writes the arrays the test asserts on to OUT.npz.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

LEARNING_RATE = 0.1


def _logical_cpus(n):
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(n)])


def _data(n):
    from pathlib import Path

    import tfvae

    data = np.load(Path(tfvae.__file__).parent / "data" / "fashion_mnist_small.npz")
    return data["x_train"][:n].astype("float32") / 255.0, \
        data["x_test"][:n].astype("float32") / 255.0


def _vae(learning_rate=LEARNING_RATE):
    import keras

    import tfvae

    vae = tfvae.VAE((28, 28), latent_dim=2, hidden_units=(32, 16), kl="analytic", seed=0)
    vae.compile(optimizer=keras.optimizers.SGD(learning_rate))
    return vae


def _zero_noise(vae):
    """Makes the sampling layer return z = μ (ε = 0): the loss becomes deterministic.

    Only this instance's `call` is replaced (a built Keras model accepts no
    new sub-layers); every other code path of the step is the library's.
    """
    vae.sampling.call = lambda inputs: inputs[0]
    vae.make_test_function(force=True)  # drop the function traced with the noise


def _trainable(vae):
    return [v.numpy() for v in vae.trainable_weights]


def mirrored_vs_default(out):
    _logical_cpus(2)
    import keras

    from tfvae import distribute

    x, _ = _data(16)
    keras.utils.set_random_seed(0)
    single = _vae()
    initial = single.get_weights()
    strategy = distribute.get_strategy("mirrored")
    with strategy.scope():
        mirrored = _vae()
    mirrored.set_weights(initial)
    result = {"replicas": strategy.num_replicas_in_sync}
    # With the real sampling layer only the analytic KL is deterministic.
    for tag, vae in (("single", single), ("mirrored", mirrored)):
        logs = vae.evaluate(x, batch_size=8, return_dict=True, verbose=0)
        result[f"{tag}_sampled_kl"] = logs["kl"]
    _zero_noise(single)
    with strategy.scope():
        _zero_noise(mirrored)
    for tag, vae in (("single", single), ("mirrored", mirrored)):
        logs = vae.evaluate(x, batch_size=8, return_dict=True, verbose=0)
        for key, value in logs.items():
            result[f"{tag}_eval_{key}"] = value
    # The reference step, computed by hand on one device on the whole batch.
    with tf.GradientTape() as tape:
        reconstruction, kl = single.elbo_terms(x, training=True)
        loss = tf.reduce_mean(kl - reconstruction)
    grads = tape.gradient(loss, single.trainable_weights)
    result["reference_loss"] = loss.numpy()
    w0 = _trainable(single)
    for tag, vae in (("single", single), ("mirrored", mirrored)):
        history = vae.fit(x, batch_size=16, epochs=1, shuffle=False, verbose=0)
        result[f"{tag}_fit_loss"] = history.history["loss"][-1]
        for i, w in enumerate(_trainable(vae)):
            result[f"{tag}_w{i}"] = w
    for i, (w, g) in enumerate(zip(w0, grads)):
        result[f"initial_w{i}"] = w
        result[f"grad_w{i}"] = g.numpy()
    result["num_weights"] = len(w0)
    np.savez(out, **result)


def mirrored_save_load(out):
    _logical_cpus(2)
    import keras

    from tfvae import distribute

    x, x_test = _data(64)
    keras.utils.set_random_seed(0)
    strategy = distribute.get_strategy("mirrored")
    with strategy.scope():
        vae = _vae()
    data = distribute.distributed_dataset(x, 8, strategy, seed=0)
    history = vae.fit(data, epochs=1, verbose=0)
    path = os.path.join(os.path.dirname(out), "mirrored.keras")
    vae.save(path)
    loaded = keras.saving.load_model(path)
    result = {"loss": np.array(history.history["loss"]),
              "loaded_type": type(loaded).__name__}
    z = np.random.default_rng(0).normal(size=(8, 2)).astype("float32")
    for tag, model in (("trained", vae), ("loaded", loaded)):
        q = model.encode(x_test[:8])
        result[f"{tag}_loc"] = q.mean().numpy()
        result[f"{tag}_scale"] = q.stddev().numpy()
        result[f"{tag}_decoded"] = model.decode_mean(z).numpy()
    np.savez(out, **result)


def mirrored_fused_adam(out):
    """FusedAdam writes each replica's copy of a variable through its handle."""
    _logical_cpus(2)
    import keras

    from tfvae import distribute
    from tfvae.optimizers import FusedAdam

    x, _ = _data(32)
    keras.utils.set_random_seed(0)
    single = _vae()
    single.compile(optimizer=FusedAdam(1e-3))
    initial = single.get_weights()
    w0 = _trainable(single)
    strategy = distribute.get_strategy("mirrored")
    with strategy.scope():
        mirrored = _vae()
        mirrored.compile(optimizer=FusedAdam(1e-3))
    mirrored.set_weights(initial)
    _zero_noise(single)
    with strategy.scope():
        _zero_noise(mirrored)
    for vae in (single, mirrored):
        vae.fit(x, batch_size=16, epochs=1, shuffle=False, verbose=0)  # 2 steps
    result = {"replicas": strategy.num_replicas_in_sync, "num_weights": len(w0),
              "optimizer": type(mirrored.optimizer).__name__}
    for i, (w, a, b, v) in enumerate(zip(w0, _trainable(single), _trainable(mirrored),
                                         mirrored.trainable_weights)):
        result[f"initial_w{i}"] = w
        result[f"single_w{i}"] = a
        result[f"mirrored_w{i}"] = b
        result[f"replicas_w{i}"] = np.stack([c.numpy() for c in v.value.values])
    np.savez(out, **result)


def multiworker(out):
    """One worker; TF_CONFIG (set by the test) says which."""
    import keras

    from tfvae import distribute

    from tfvae.optimizers import FusedAdam

    strategy = distribute.get_strategy("multiworker")
    keras.utils.set_random_seed(0)
    with strategy.scope():
        vae = _vae()
        # The default optimizer, whose fused update writes each worker's copy.
        vae.compile(optimizer=FusedAdam(1e-3))
    initial = _trainable(vae)
    x, _ = _data(128)
    data = distribute.distributed_dataset(x, 16, strategy, seed=0)
    history = vae.fit(data, epochs=2, verbose=0)
    result = {"replicas": strategy.num_replicas_in_sync,
              "loss": np.array(history.history["loss"])}
    for i, (w0, w) in enumerate(zip(initial, _trainable(vae))):
        result[f"initial_w{i}"] = w0
        result[f"w{i}"] = w
    np.savez(out, **result)


if __name__ == "__main__":
    scenario, out = sys.argv[1], sys.argv[2]
    {"mirrored_vs_default": mirrored_vs_default, "mirrored_save_load": mirrored_save_load,
     "mirrored_fused_adam": mirrored_fused_adam, "multiworker": multiworker}[scenario](out)
