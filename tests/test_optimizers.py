"""tfvae.optimizers.FusedAdam is Keras' Adam, one kernel per variable.

The reference is `keras.optimizers.Adam` itself, fed the same fixed sequence
of gradients (no training loop whose feedback would amplify float rounding),
and Adam's closed form for the first step.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfvae
from tfvae.optimizers import FusedAdam


def _updates(optimizer, initial, gradients):
    """Weights after applying `gradients` (a list of lists of arrays) in turn."""
    weights = [keras.Variable(w) for w in initial]
    optimizer.build(weights)
    step = tf.function(lambda grads: optimizer.apply_gradients(zip(grads, weights)))
    for grads in gradients:
        step([tf.constant(g) for g in grads])
    return [w.numpy() for w in weights], optimizer


def _problem(seed=0, steps=10):
    rng = np.random.default_rng(seed)
    shapes = [(7, 5), (5,), (3, 3, 2, 4)]
    initial = [rng.standard_normal(s).astype("float32") for s in shapes]
    # Gradients over six orders of magnitude, some exactly zero.
    gradients = [[(rng.standard_normal(s) * 10.0 ** rng.integers(-4, 2, s)
                   * (rng.random(s) > 0.1)).astype("float32") for s in shapes]
                 for _ in range(steps)]
    return initial, gradients


@pytest.mark.parametrize("kwargs", [
    {},
    {"learning_rate": 0.05, "beta_1": 0.5, "beta_2": 0.9, "epsilon": 1e-3},
    {"learning_rate": 0.01, "weight_decay": 0.1, "clipnorm": 1.0},
    {"learning_rate": 0.01, "amsgrad": True},
    {"learning_rate": 0.01, "gradient_accumulation_steps": 2, "use_ema": True},
])
def test_same_weights_as_keras_adam(kwargs):
    initial, gradients = _problem()
    expected, reference = _updates(keras.optimizers.Adam(**kwargs), initial, gradients)
    got, fused = _updates(FusedAdam(**kwargs), initial, gradients)
    for e, g, w0 in zip(expected, got, initial):
        assert np.abs(e - w0).max() > 1e-3  # the weights did move
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-6)
    # The slots are Keras Adam's, with the same values. The kernel computes
    # 1 − β₂ in float32 (1 − 0.999f = 0.00099998713), Keras in Python
    # (0.001): v differs by up to 1.3e-5 relative.
    for a, b in zip(reference.variables, fused.variables):
        kind = a.path.split("/")[-1].rsplit("_", 1)[-1]  # iteration, momentum, ...
        assert kind == b.path.split("/")[-1].rsplit("_", 1)[-1]
        assert a.shape == b.shape
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=3e-5, atol=1e-7)


def test_first_step_is_adams_closed_form():
    # m = (1 − β₁)g, v = (1 − β₂)g², step = lr·√(1 − β₂)/(1 − β₁) · m/(√v + ε).
    g = np.array([3.0, -2e-3, 0.0, 5e-8], "float32")
    lr, b1, b2, eps = 0.1, 0.9, 0.999, 1e-7
    optimizer = FusedAdam(lr, beta_1=b1, beta_2=b2, epsilon=eps)
    (got,), _ = _updates(optimizer, [np.zeros(4, "float32")], [[g]])
    # 1 − β in float32, as the kernel computes it; the rest in float64.
    c1, c2 = (float(np.float32(1) - np.float32(b)) for b in (b1, b2))
    m, v = c1 * g.astype("float64"), c2 * g.astype("float64") ** 2
    expected = -lr * np.sqrt(c2) / c1 * m / (np.sqrt(v) + eps)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-9)


def test_no_update_starts_before_every_gradient_exists():
    # Checked on the graph TensorFlow runs, after Grappler: Keras hands the
    # gradients to the update through one IdentityN, which Grappler removes
    # (Keras' Adam update, the control case, shows it).
    from tensorflow.core.protobuf import config_pb2
    from tensorflow.python.grappler import tf_optimizer

    class KerasApply(FusedAdam):
        apply = keras.optimizers.Adam.apply

    def gradients_upstream_of_each_update(optimizer):
        weights = [keras.Variable(np.ones((3, 2), "float32")),
                   keras.Variable(np.ones(2, "float32"))]
        optimizer.build(weights)

        @tf.function
        def step(g0, g1):
            # Each gradient is last computed by its own op, as in a backward
            # pass where the last layer's gradient exists before the first's.
            grads = [tf.multiply(g0, 2.0, name="gradient_0"),
                     tf.multiply(g1, 2.0, name="gradient_1")]
            optimizer.apply_gradients(zip(grads, weights))

        graph = step.get_concrete_function(tf.TensorSpec((3, 2)), tf.TensorSpec((2,))).graph
        with graph.as_default():
            meta_graph = tf.compat.v1.train.export_meta_graph(graph=graph)
        updates = [op.name for op in graph.get_operations() if op.type == "ResourceApplyAdam"]
        meta_graph.collection_def["train_op"].node_list.value.extend(updates)
        config = config_pb2.ConfigProto()
        config.graph_options.rewrite_options.min_graph_nodes = -1   # optimise a small graph too
        nodes = {n.name: n for n in tf_optimizer.OptimizeGraph(config, meta_graph).node}

        def upstream(name):
            seen, stack = set(), [name]
            while stack:
                for edge in nodes[stack.pop()].input:
                    parent = edge.lstrip("^").split(":")[0]
                    if parent in nodes and parent not in seen:
                        seen.add(parent)
                        stack.append(parent)
            return seen & {"gradient_0", "gradient_1"}

        assert len(updates) == 2 and all(name in nodes for name in updates)
        return [upstream(name) for name in updates]

    assert gradients_upstream_of_each_update(FusedAdam()) == [{"gradient_0", "gradient_1"}] * 2
    assert {"gradient_0", "gradient_1"} not in gradients_upstream_of_each_update(KerasApply())


def test_sparse_gradients_use_keras_update():
    table = np.arange(12, dtype="float32").reshape(4, 3)
    results = []
    for optimizer in (keras.optimizers.Adam(0.1), FusedAdam(0.1)):
        weights = keras.Variable(table)
        optimizer.build([weights])
        grad = tf.IndexedSlices(tf.ones((2, 3)), tf.constant([0, 2]), tf.constant([4, 3]))
        optimizer.apply_gradients([(grad, weights)])
        results.append(weights.numpy())
    np.testing.assert_allclose(results[1], results[0], rtol=1e-6)
    np.testing.assert_array_equal(results[1][[1, 3]], table[[1, 3]])


def test_config_round_trip_and_registered_name():
    optimizer = FusedAdam(learning_rate=3e-4, beta_1=0.8, epsilon=1e-6, amsgrad=True)
    config = optimizer.get_config()
    assert FusedAdam.from_config(config).get_config() == config
    restored = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    assert type(restored) is FusedAdam
    assert restored.get_config() == config


@pytest.mark.slow
def test_vae_default_optimizer_trains_saves_and_restores(tmp_path, fashion_small):
    x = fashion_small["x_train"][:128]
    vae = tfvae.VAE((28, 28), latent_dim=2, hidden_units=(32, 16), seed=0)
    vae.compile()
    assert type(vae.optimizer) is FusedAdam
    history = vae.fit(x, batch_size=32, epochs=2, verbose=0)
    assert history.history["loss"][1] < history.history["loss"][0]
    path = tmp_path / "vae.keras"
    vae.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded.optimizer) is FusedAdam
    assert int(loaded.optimizer.iterations.numpy()) == 8
    for a, b in zip(vae.optimizer.variables, loaded.optimizer.variables):
        np.testing.assert_array_equal(b.numpy(), a.numpy())
    # Training goes on from the restored step count and slots.
    loaded.fit(x[:32], batch_size=32, epochs=1, verbose=0)
    assert int(loaded.optimizer.iterations.numpy()) == 9


@pytest.mark.slow
def test_mixed_float16_loss_scaling_wraps_the_fused_update(fashion_small):
    x = fashion_small["x_train"][:64]
    vae = tfvae.VAE((28, 28), latent_dim=2, hidden_units=(32, 16), seed=0,
                    dtype="mixed_float16")
    vae.compile()
    assert isinstance(vae.optimizer, keras.optimizers.LossScaleOptimizer)
    assert type(vae.optimizer.inner_optimizer) is FusedAdam
    before = [w.numpy() for w in vae.trainable_weights]
    history = vae.fit(x, batch_size=32, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    after = [w.numpy() for w in vae.trainable_weights]
    assert all(np.isfinite(w).all() for w in after)
    assert any(np.abs(a - b).max() > 0 for a, b in zip(after, before))


@pytest.mark.slow
def test_fused_update_compiles_with_xla(fashion_small):
    # TPUs run through XLA, which has its own ResourceApplyAdam kernel.
    x = fashion_small["x_train"][:64]
    vae = tfvae.VAE((28, 28), latent_dim=2, hidden_units=(32, 16), seed=0)
    vae.compile(jit_compile=True)
    before = [w.numpy() for w in vae.trainable_weights]
    vae.fit(x, batch_size=32, epochs=1, verbose=0)
    after = [w.numpy() for w in vae.trainable_weights]
    assert all(np.isfinite(w).all() for w in after)
    assert all(np.abs(a - b).max() > 0 for a, b in zip(after, before))
