"""Scenarios for tests/test_distribute.py, each run in its own Python process.

Logical devices must be configured before TensorFlow initialises its
devices, and a MultiWorkerMirroredStrategy worker owns its process, so the
tests launch this script: `python distribute_scenarios.py SCENARIO OUT.npz`.
Each scenario writes the arrays the test asserts on to OUT.npz.
"""

import contextlib
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


def _vae(learning_rate=LEARNING_RATE, **kwargs):
    import keras

    import tfvae

    vae = tfvae.VAE((28, 28), latent_dim=2, hidden_units=(32, 16), kl="analytic", seed=0,
                    **kwargs)
    vae.compile(optimizer=keras.optimizers.SGD(learning_rate))
    return vae


def _zero_noise(vae):
    """Makes the sampling layer draw ε = 0 (z = μ): the loss becomes deterministic.

    Only this instance's `noise` is replaced (a built Keras model accepts no
    new sub-layers); every other code path of the step is the library's.
    """
    vae.sampling.noise = lambda shape, dtype="float32": tf.zeros(shape, dtype)
    vae.make_test_function(force=True)  # drop the function traced with the noise


def _trainable(vae):
    return [v.numpy() for v in vae.trainable_weights]


def _single_and_mirrored(n, **kwargs):
    """n examples, and the same VAE on one device and mirrored over 2 logical CPUs."""
    _logical_cpus(2)
    import keras

    from tfvae import distribute

    x, _ = _data(n)
    keras.utils.set_random_seed(0)
    single = _vae(**kwargs)
    strategy = distribute.get_strategy("mirrored")
    with strategy.scope():
        mirrored = _vae(**kwargs)
    mirrored.set_weights(single.get_weights())
    return x, single, mirrored, strategy


def mirrored_vs_default(out):
    x, single, mirrored, strategy = _single_and_mirrored(16)
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


def mirrored_vamp_iaf(out):
    """A VampPrior + IAF model: one SGD step mirrored over 2 replicas, ε = 0, and save/load."""
    _logical_cpus(2)
    import keras

    import tfvae
    from tfvae import distribute

    def build():
        vae = tfvae.VAE((28, 28), latent_dim=2, hidden_units=(32, 16), seed=0,
                        prior=tfvae.priors.VampPrior(5, seed=0),
                        posterior=tfvae.posteriors.IAF(1, (16,)))
        vae.compile(optimizer=keras.optimizers.SGD(LEARNING_RATE))
        return vae

    x, _ = _data(16)
    keras.utils.set_random_seed(0)
    single = build()
    rng = np.random.default_rng(0)
    for w in single.posterior.weights:  # a flow away from its identity start
        w.assign(rng.normal(scale=0.3, size=w.shape).astype("float32"))
    single.prior.initialize_from(x, seed=0)
    strategy = distribute.get_strategy("mirrored")
    with strategy.scope():
        mirrored = build()
    mirrored.set_weights(single.get_weights())
    _zero_noise(single)
    with strategy.scope():
        _zero_noise(mirrored)
    result = {"replicas": strategy.num_replicas_in_sync,
              "num_weights": len(single.trainable_weights),
              "pseudo_index": [v.path for v in single.trainable_weights].index(
                  single.prior.pseudo_inputs.path)}
    for tag, vae in (("single", single), ("mirrored", mirrored)):
        result[f"{tag}_eval_loss"] = vae.evaluate(x, batch_size=8, return_dict=True,
                                                  verbose=0)["loss"]
    with tf.GradientTape() as tape:
        reconstruction, kl = single.elbo_terms(x, training=True)
        loss = tf.reduce_mean(kl - reconstruction)
    grads = tape.gradient(loss, single.trainable_weights)
    result["reference_loss"] = loss.numpy()
    for i, (w, g) in enumerate(zip(_trainable(single), grads)):
        result[f"initial_w{i}"], result[f"grad_w{i}"] = w, g.numpy()
    for tag, vae in (("single", single), ("mirrored", mirrored)):
        vae.fit(x, batch_size=16, epochs=1, shuffle=False, verbose=0)
        for i, w in enumerate(_trainable(vae)):
            result[f"{tag}_w{i}"] = w
    path = os.path.join(os.path.dirname(out), "vamp_iaf.keras")
    mirrored.save(path)
    loaded = keras.saving.load_model(path)
    z = np.random.default_rng(1).normal(size=(8, 2)).astype("float32")
    for tag, model in (("trained", mirrored), ("loaded", loaded)):
        result[f"{tag}_log_pz"] = model.prior.distribution().log_prob(z).numpy()
        result[f"{tag}_log_qz"] = model.encode(x[:1]).log_prob(z).numpy()
    np.savez(out, **result)


def mirrored_conditional(out):
    """A class-conditional VAE: fit(x, y) on 2 replicas takes the one-device step; ε = 0, SGD."""
    x, single, mirrored, strategy = _single_and_mirrored(16, num_classes=10)
    from pathlib import Path

    import tfvae

    y = np.load(Path(tfvae.__file__).parent / "data" / "fashion_mnist_small.npz")["y_train"][:16]
    _zero_noise(single)
    with strategy.scope():
        _zero_noise(mirrored)
    with tf.GradientTape() as tape:
        reconstruction, kl = single.elbo_terms(x, training=True, labels=y)
        loss = tf.reduce_mean(kl - reconstruction)
    grads = tape.gradient(loss, single.trainable_weights)
    result = {"replicas": strategy.num_replicas_in_sync, "reference_loss": loss.numpy(),
              "num_weights": len(grads)}
    for i, (w, g) in enumerate(zip(_trainable(single), grads)):
        result[f"initial_w{i}"], result[f"grad_w{i}"] = w, g.numpy()
    for tag, vae in (("single", single), ("mirrored", mirrored)):
        # One-hot rows for one, integer ids (one-hot in the step) for the other.
        labels = y if tag == "mirrored" else np.eye(10, dtype="float32")[y]
        history = vae.fit(x, labels, batch_size=16, epochs=1, shuffle=False, verbose=0)
        result[f"{tag}_fit_loss"] = history.history["loss"][-1]
        for i, w in enumerate(_trainable(vae)):
            result[f"{tag}_w{i}"] = w
    np.savez(out, **result)


def mirrored_objective_switch(out):
    """IWAE-5 set after an ELBO evaluate, on one device and mirrored, noise zero.

    With ε = 0 the five samples are z = μ, so IWAE-5 is the ELBO at μ on both.
    """
    x, single, mirrored, strategy = _single_and_mirrored(16)
    result = {}
    for tag, vae in (("single", single), ("mirrored", mirrored)):
        vae.evaluate(x, batch_size=8, verbose=0)        # traced with the ELBO, no iwae metric
        vae.objective, vae.num_samples = "iwae", 5      # outside the strategy's scope
        with strategy.scope() if tag == "mirrored" else contextlib.nullcontext():
            _zero_noise(vae)
        for key, value in vae.evaluate(x, batch_size=8, return_dict=True, verbose=0).items():
            result[f"{tag}_eval_{key}"] = value
        result[f"{tag}_iwae_variable"] = type(vae.iwae_tracker.variables[0].value).__name__
        result[f"{tag}_loss_variable"] = type(vae.loss_tracker.variables[0].value).__name__
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


def _per_replica(strategy, values):
    """A per-replica result as one array stacked over this process's replicas."""
    return np.stack([np.asarray(v) for v in strategy.experimental_local_results(values)])


def mirrored_noise(out):
    """ε drawn by each replica in one `strategy.run`, for two models of the same seed."""
    _logical_cpus(2)
    import keras

    from tfvae import distribute

    strategy = distribute.get_strategy("mirrored")
    x, _ = _data(4)
    result = {"replicas": strategy.num_replicas_in_sync}
    for run in ("first", "second"):
        keras.utils.set_random_seed(0)
        with strategy.scope():
            vae = _vae()
            vae.build()

        def replica_step():
            loc, scale = tf.zeros((4000,)), tf.ones((4000,))
            reconstruction, _ = vae.elbo_terms(x, training=True)
            log_px_z, _, _ = vae.log_importance_weights(x, 3)
            return vae.sampling([loc, scale]), reconstruction, log_px_z

        step = tf.function(lambda: strategy.run(replica_step))
        for call in ("call1", "call2"):
            for name, value in zip(("eps", "reconstruction", "log_px_z"), step()):
                result[f"{run}_{call}_{name}"] = _per_replica(strategy, value)
    np.savez(out, **result)


def mirrored_uneven_batch(out):
    """11 examples in batches of 6 on 2 replicas: 3 + 3, then 3 + 2; ε = 0, SGD.

    Keras averages the first batch across replicas to build the model, which
    fails on unequal shapes (keras-team/keras#19246), so the uneven batch is
    the last one, as in an epoch whose size the batch does not divide.
    """
    x, single, mirrored, strategy = _single_and_mirrored(11)
    _zero_noise(single)
    with strategy.scope():
        _zero_noise(mirrored)
    batches = strategy.experimental_distribute_dataset(
        tf.data.Dataset.from_tensor_slices(x).batch(6))
    result = {"replicas": strategy.num_replicas_in_sync,
              "num_weights": len(single.trainable_weights),
              "replica_batch_sizes": [[int(v.shape[0]) for v in
                                       strategy.experimental_local_results(batch)]
                                      for batch in batches]}
    # The reference on one device: w ← w − lr·∇ mean(loss over the batch), by hand.
    initial = single.get_weights()
    for i, w in enumerate(_trainable(single)):
        result[f"initial_w{i}"] = w
    for step, batch in enumerate((x[:6], x[6:])):
        with tf.GradientTape() as tape:
            reconstruction, kl = single.elbo_terms(batch, training=True)
            loss = tf.reduce_mean(kl - reconstruction)
        grads = tape.gradient(loss, single.trainable_weights)
        for v, g in zip(single.trainable_weights, grads):
            v.assign_sub(LEARNING_RATE * g)
        for i, w in enumerate(_trainable(single)):
            result[f"reference{step}_w{i}"] = w
    single.set_weights(initial)
    for tag, vae in (("single", single), ("mirrored", mirrored)):
        vae.fit(x, batch_size=6, epochs=1, shuffle=False, verbose=0)
        for i, w in enumerate(_trainable(vae)):
            result[f"{tag}_w{i}"] = w
    np.savez(out, **result)


MULTIWORKER_PER_REPLICA_BATCH = 16
MULTIWORKER_EPOCHS = 2


def _multiworker_models(strategy):
    """An SGD model (the exact comparison) and a FusedAdam one, built alike
    on every worker and on the one-device reference."""
    import keras

    from tfvae.optimizers import FusedAdam

    keras.utils.set_random_seed(0)
    with strategy.scope():
        # Eight steps of 0.1 diverge; 0.01 still moves weights by up to ~0.04.
        sgd = _vae(learning_rate=0.01)
        # The default optimizer, whose fused update writes each worker's copy.
        adam = _vae()
        adam.compile(optimizer=FusedAdam(1e-3))
    return {"sgd": sgd, "adam": adam}


def multiworker(out):
    """One worker; TF_CONFIG (set by the test) says which."""
    from tfvae import distribute

    strategy = distribute.get_strategy("multiworker")
    models = _multiworker_models(strategy)
    # This worker's replica draws ε: it must differ from the other worker's.
    noise = tf.function(lambda: strategy.run(
        lambda: models["sgd"].sampling([tf.zeros((2000,)), tf.ones((2000,))])))()
    result = {"replicas": strategy.num_replicas_in_sync,
              "eps": _per_replica(strategy, noise)}
    x, _ = _data(128)
    for tag, vae in models.items():
        with strategy.scope():
            _zero_noise(vae)
        for i, w in enumerate(vae.get_weights()):
            result[f"{tag}_initial_all{i}"] = w
        data = distribute.distributed_dataset(x, MULTIWORKER_PER_REPLICA_BATCH, strategy,
                                              shuffle=False)
        history = vae.fit(data, epochs=MULTIWORKER_EPOCHS, verbose=0)
        result[f"{tag}_loss"] = np.array(history.history["loss"])
        for i, w in enumerate(_trainable(vae)):
            result[f"{tag}_w{i}"] = w
    np.savez(out, **result)


def multiworker_reference(out, worker_out):
    """The multi-worker training on one device: the same initial weights and
    the same global batches (per-replica batch × 2 workers, in order).

    Unshuffled on both sides: under a strategy Keras draws one batch to build
    the model before training, which moves a reshuffling dataset on to its
    next order, so a shuffled run on one device would see other batches.
    """
    from tfvae import distribute

    strategy = tf.distribute.get_strategy()
    models = _multiworker_models(strategy)
    worker = np.load(worker_out)
    x, _ = _data(128)
    result = {}
    for tag, vae in models.items():
        vae.set_weights([worker[f"{tag}_initial_all{i}"]
                         for i in range(len(vae.get_weights()))])
        result.update({f"{tag}_initial_w{i}": w for i, w in enumerate(_trainable(vae))})
        _zero_noise(vae)
        data = distribute.distributed_dataset(x, 2 * MULTIWORKER_PER_REPLICA_BATCH, strategy,
                                              shuffle=False)
        history = vae.fit(data, epochs=MULTIWORKER_EPOCHS, verbose=0)
        result[f"{tag}_loss"] = np.array(history.history["loss"])
        for i, w in enumerate(_trainable(vae)):
            result[f"{tag}_w{i}"] = w
    np.savez(out, **result)


if __name__ == "__main__":
    scenario, *paths = sys.argv[1:]
    {"mirrored_vs_default": mirrored_vs_default, "mirrored_save_load": mirrored_save_load,
     "mirrored_vamp_iaf": mirrored_vamp_iaf,
     "mirrored_objective_switch": mirrored_objective_switch,
     "mirrored_conditional": mirrored_conditional,
     "mirrored_fused_adam": mirrored_fused_adam, "mirrored_noise": mirrored_noise,
     "mirrored_uneven_batch": mirrored_uneven_batch, "multiworker": multiworker,
     "multiworker_reference": multiworker_reference}[scenario](*paths)
