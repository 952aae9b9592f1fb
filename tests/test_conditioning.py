"""Conditional VAEs: labels through fit and every method, checks, save/load, classify.

The references are independent of the code under test: a conditional pPCA,
whose p(x | y = c) = N(x; b + B_c, W Wᵀ + σ² I) and class posterior are known
in closed form; Bayes' rule computed in numpy; and a toy dataset where x is
a deterministic function of y, on which a conditional model must generate
the asked class and beat an unconditional one, and a decoder that ignores
its label cannot.
"""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfvae
from tests.helpers import assert_config_round_trip, small_vae, to_numpy
from tfvae import conditioning, evaluation

D, L, C = 5, 2, 3


def conditional_ppca(sigma=0.5, seed=0):
    """A class-conditional pPCA VAE with its encoder set to the exact posterior.

    The decoder is Dense on [z, y] with kernel [Wᵀ; B], so x | z, c ~
    N(W z + b + B_c, σ² I); W has orthogonal columns (a diagonal posterior is
    then exact): q(z | x, c) = N(M⁻¹Wᵀ(x − b − B_c), σ² M⁻¹), M = WᵀW + σ² I.
    Both networks are user networks taking [x, y] / [z, y]: the documented
    contract of a conditional model.
    """
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(D, L)))
    w, b, means = q * np.array([2.0, 1.0]), rng.normal(size=D), 0.5 * rng.normal(size=(C, D))
    x_in, y_in = keras.Input((D,)), keras.Input((C,))
    encoder = keras.Model([x_in, y_in], keras.layers.Concatenate()([x_in, y_in]))
    z_in, y_dec = keras.Input((L,)), keras.Input((C,))
    decoder = keras.Model([z_in, y_dec], keras.layers.Dense(D)(
        keras.layers.Concatenate()([z_in, y_dec])))
    model = tfvae.VAE((D,), L, encoder=encoder, decoder=decoder, num_classes=C,
                      likelihood=tfvae.likelihoods.Gaussian(scale=sigma))
    decoder.layers[-1].set_weights([np.concatenate([w.T, means]).astype("float32"),
                                    b.astype("float32")])
    m = w.T @ w + sigma ** 2 * np.eye(L)
    loc_kernel = w @ np.linalg.inv(m)
    raw = np.log(np.expm1(sigma / np.sqrt(np.diag(m)) - model.posterior_head.min_scale))
    kernel = np.concatenate([np.concatenate([loc_kernel, -means @ loc_kernel]),
                             np.zeros((D + C, L))], axis=1)
    bias = np.concatenate([-b @ loc_kernel, raw])
    model.posterior_head.dense.set_weights([kernel.astype("float32"), bias.astype("float32")])
    cov = w @ w.T + sigma ** 2 * np.eye(D)
    return model, (b + means, cov)


def gaussian_log_pdf(x, mean, cov):
    diff = x - mean
    _, logdet = np.linalg.slogdet(cov)
    maha = np.einsum("nd,de,ne->n", diff, np.linalg.inv(cov), diff)
    return -0.5 * (maha + logdet + len(mean) * math.log(2 * math.pi))


def log_softmax(a):
    peak = a.max(axis=1, keepdims=True)
    return a - peak - np.log(np.exp(a - peak).sum(axis=1, keepdims=True))


## Closed forms


def test_log_px_given_y_and_classify_match_a_conditional_ppca():
    model, (class_means, cov) = conditional_ppca()
    rng = np.random.default_rng(1)
    y = rng.integers(0, C, 40)
    x = np.stack([rng.multivariate_normal(class_means[c], cov) for c in y]).astype("float32")
    exact = np.stack([gaussian_log_pdf(x, class_means[c], cov) for c in range(C)], axis=1)
    # The exact posterior as proposal: every weight is p(x | y) itself, so any
    # number of samples gives it, if each sample is decoded with its own y.
    rows = np.arange(len(x))
    for shift in range(C):
        labels = (y + shift) % C                    # mixed classes within a batch
        estimate = evaluation.log_marginal_likelihood(model, x, num_samples=5, seed=0,
                                                      labels=labels)
        np.testing.assert_allclose(estimate, exact[rows, labels], atol=2e-3)
    prior = np.array([0.5, 0.3, 0.2])
    for p in (None, prior):
        log_p = np.log(np.full(C, 1 / C) if p is None else p)
        bayes = np.exp(log_softmax(exact + log_p))
        np.testing.assert_allclose(evaluation.classify(model, x, num_samples=3, prior=p,
                                                       seed=0), bayes, atol=2e-3)
    # The classes overlap enough that the posterior is not one-hot everywhere.
    assert 0.05 < bayes.max(axis=1).min() < 0.95


def test_classify_is_bayes_rule_on_the_per_class_estimates(fashion_small):
    model = small_vae(num_classes=10, seed=0)
    x = tfvae.datasets.binarize(fashion_small["x_train"][:256], seed=0)
    model.fit(x, fashion_small["y_train"][:256], epochs=1, batch_size=64, verbose=0)
    x_test = tfvae.datasets.binarize(fashion_small["x_test"][:12], seed=1)
    prior = np.linspace(1, 2, 10) / np.linspace(1, 2, 10).sum()
    log_px_y = np.stack([evaluation.log_marginal_likelihood(
        model, x_test, num_samples=8, seed=3, labels=np.full(12, c)) for c in range(10)], 1)
    got = evaluation.classify(model, x_test, num_samples=8, prior=prior, seed=3)
    np.testing.assert_allclose(got, np.exp(log_softmax(log_px_y + np.log(prior))), rtol=1e-9,
                               atol=1e-12)
    np.testing.assert_allclose(got.sum(axis=1), 1.0)


## The labels are used


def _toy(n=1024, seed=0):
    """x a deterministic function of y: each of 4 classes is one fixed 0/1 vector of 16."""
    rng = np.random.default_rng(seed)
    patterns = (rng.random((4, 16)) < 0.5).astype("float32")
    y = rng.integers(0, 4, n)
    return patterns, patterns[y], y


def _label_blind_decoder():
    """Takes [z, y] as the contract says, and ignores y: the bug the test must catch."""
    z, y = keras.Input((2,)), keras.Input((4,))
    h = keras.layers.Dense(32, activation="relu")(z)
    return keras.Model([z, y], keras.layers.Dense(16)(h))


@pytest.mark.parametrize("decoder", ["built-in", "label-blind"])
def test_a_conditional_model_generates_the_class_asked_for(decoder):
    patterns, x, y = _toy()
    keras.utils.set_random_seed(0)
    kwargs = {"decoder": _label_blind_decoder()} if decoder == "label-blind" else {}
    conditional = tfvae.VAE((16,), 2, hidden_units=(32,), num_classes=4, seed=0, **kwargs)
    conditional.compile(optimizer=keras.optimizers.Adam(1e-2))
    conditional.fit(x, y, epochs=15, batch_size=64, verbose=0)
    unconditional = tfvae.VAE((16,), 2, hidden_units=(32,), seed=0)
    unconditional.compile(optimizer=keras.optimizers.Adam(1e-2))
    unconditional.fit(x, epochs=15, batch_size=64, verbose=0)
    # Samples of class c are labelled by the nearest pattern (an independent judge).
    asked = np.repeat(np.arange(4), 50)
    samples = to_numpy(conditional.sample(200, seed=0, labels=asked))
    judged = np.argmin(((samples[:, None] - patterns[None]) ** 2).sum(-1), axis=1)
    accuracy = np.mean(judged == asked)
    x_test, y_test = x[:200], y[:200]
    gain = (evaluation.log_marginal_likelihood(conditional, x_test, 100, seed=0,
                                               labels=y_test).mean()
            - evaluation.log_marginal_likelihood(unconditional, x_test, 100, seed=0).mean())
    if decoder == "built-in":
        # For the true distributions the gain would be the label's information,
        # log 4 = 1.39 nats; the unconditional model also fits less well.
        assert accuracy == 1.0 and gain > 0.5
    else:
        assert accuracy < 0.5 and gain < 0.5


def test_built_in_networks_take_y_where_documented():
    for architecture in ("mlp", "conv"):
        model = small_vae(num_classes=10, architecture=architecture, filters=(4, 8), seed=0)

        def of_type(network, kind):
            return [l for l in network.layers if isinstance(l, kind)]

        # Encoder: y joins the flattened features (after the convolutions), once.
        (concat,) = of_type(model.encoder, keras.layers.Concatenate)
        features = 28 * 28 if architecture == "mlp" else 7 * 7 * 8
        assert [t.shape[-1] for t in concat.input] == [features, 10]
        # Decoder: y joins z, then the input of every later dense layer.
        concats = of_type(model.decoder, keras.layers.Concatenate)
        dense = of_type(model.decoder, keras.layers.Dense)
        assert len(concats) == len(dense) == (3 if architecture == "mlp" else 2)
        assert [t.shape[-1] for t in concats[0].input] == [2, 10]
        for c, d in zip(concats, dense):
            assert c.input[1].shape[-1] == 10 and d.input is c.output
        z = np.zeros((2, 2), "float32")
        a, b = (to_numpy(model.decode_mean(z, labels=[c, c])) for c in (0, 1))
        assert np.abs(a - b).max() > 1e-4


## One labels argument everywhere


def test_labels_as_ids_one_hot_rows_and_tensors_agree(fashion_small):
    model = small_vae(num_classes=10, seed=0)
    x = tfvae.datasets.binarize(fashion_small["x_test"][:6], seed=0)
    ids = fashion_small["y_test"][:6]
    forms = [ids, ids.tolist(), ids[:, None], np.eye(10)[ids], tf.constant(ids, tf.int32),
             tf.constant(np.eye(10, dtype="float32")[ids])]
    reference = evaluation.log_marginal_likelihood(model, x, 4, seed=0, labels=ids)
    for labels in forms:
        np.testing.assert_array_equal(to_numpy(model.decode_mean(np.zeros((6, 2)), labels)),
                                      to_numpy(model.decode_mean(np.zeros((6, 2)), ids)))
        np.testing.assert_array_equal(to_numpy(model.encode(x, labels=labels).mean()),
                                      to_numpy(model.encode(x, labels=ids).mean()))
        if not tf.is_tensor(labels):
            np.testing.assert_array_equal(
                evaluation.log_marginal_likelihood(model, x, 4, seed=0, labels=labels), reference)
    # A scalar id (or name-free int) in sample() is repeated for every sample.
    np.testing.assert_array_equal(to_numpy(model.sample(3, seed=1, labels=7)),
                                  to_numpy(model.sample(3, seed=1, labels=[7, 7, 7])))
    assert model.reconstruct(x, labels=ids).shape == (6, 28, 28)
    assert model(x, labels=ids).shape == (6, 28, 28)


def test_fit_takes_arrays_datasets_and_validation_pairs(fashion_small):
    x = tfvae.datasets.binarize(fashion_small["x_train"][:256], seed=0)
    y = fashion_small["y_train"][:256]
    model = small_vae(num_classes=10, seed=0)
    history = model.fit(x, y, epochs=1, batch_size=64, verbose=0,
                        validation_data=(x[:64], y[:64])).history
    assert np.isfinite(history["val_loss"][0])
    for dataset in (tfvae.datasets.make_dataset(x, 64, labels=y, seed=0),
                    tfvae.datasets.make_dataset(x, 64, labels=np.eye(10)[y],
                                                binarization="dynamic", seed=0)):
        logs = model.fit(dataset, epochs=1, verbose=0, validation_data=dataset).history
        assert np.isfinite(logs["loss"][0]) and np.isfinite(logs["val_loss"][0])
        assert np.isfinite(model.evaluate(dataset, verbose=0, return_dict=True)["elbo"])
    vector = small_vae(condition_shape=(3,), seed=0)
    conditions = np.random.default_rng(0).normal(size=(256, 3))
    assert np.isfinite(vector.fit(x, conditions, epochs=1, verbose=0).history["loss"][0])
    assert vector.sample(2, labels=[0.1, 0.2, 0.3]).shape == (2, 28, 28)


def test_predict_reconstructs_given_the_labels_passed_with_x(fashion_small):
    model = small_vae(num_classes=10, seed=0)
    x = tfvae.datasets.binarize(fashion_small["x_test"][:12], seed=0)
    y = fashion_small["y_test"][:12]
    other = (y + 1) % 10
    for labels in (y, other):
        expected = to_numpy(model.reconstruct(x, labels=labels))
        np.testing.assert_allclose(model.predict((x, labels), batch_size=5, verbose=0),
                                   expected, atol=1e-6)
        batches = tf.data.Dataset.from_tensor_slices((x, np.eye(10)[labels])).batch(5)
        np.testing.assert_allclose(model.predict(batches, verbose=0), expected, atol=1e-6)
        pairs = ((x[i:i + 5], labels[i:i + 5]) for i in range(0, 12, 5))  # Keras reads these
        np.testing.assert_allclose(model.predict(pairs, verbose=0), expected, atol=1e-6)
    # The labels reach the decoder: other labels, other reconstructions.
    assert np.abs(model.predict((x, y), verbose=0) - model.predict((x, other), verbose=0)).max() > 1e-3
    plain = small_vae(seed=0)
    np.testing.assert_allclose(plain.predict(x, verbose=0), to_numpy(plain.reconstruct(x)),
                               atol=1e-6)


@pytest.mark.parametrize("conditional,data,pattern", [
    (True, lambda x, y: x, r"conditional VAE .*call predict\(\(x, y\)\).*x alone, of shape \(8, 28, 28\)"),
    (True, lambda x, y: (x, y[:7]), r"`y` has 7 labels but `x` has 8"),
    (True, lambda x, y: (x, y + 10), r"class ids in \[0, 10\)"),
    (True, lambda x, y: tf.data.Dataset.from_tensor_slices(x).batch(4),
     r"yields single tensors \(x alone\)"),
    (True, lambda x, y: (x[:, :27], y), r"Expected `x` of shape \(batch, 28, 28\)"),
    (False, lambda x, y: (x, y), r"unconditional: `predict` takes x alone"),
    (False, lambda x, y: np.full((8, 28, 28), np.nan), r"NaN or Inf"),
])
def test_bad_predict_inputs_are_named_before_tracing(conditional, data, pattern, fashion_small):
    model = small_vae(num_classes=10 if conditional else None)
    x, y = fashion_small["x_test"][:8], fashion_small["y_test"][:8]
    with pytest.raises(ValueError, match=pattern):
        model.predict(data(x, y), verbose=0)
    assert model.predict_function is None


def test_make_dataset_keeps_each_label_with_its_example():
    x = np.arange(40, dtype="float32").reshape(20, 2) / 40
    y = np.arange(20)
    for binarization in (None, "dynamic"):
        ds = tfvae.datasets.make_dataset(x, 6, labels=y, seed=0, binarization=binarization)
        seen = []
        for xb, yb in ds:
            if binarization is None:
                np.testing.assert_array_equal(xb.numpy(), x[yb.numpy()])
            seen += yb.numpy().tolist()
        assert sorted(seen) == list(range(20)) and seen != list(range(20))
    with pytest.raises(ValueError, match="`labels` has 19 entries but `x` has 20"):
        tfvae.datasets.make_dataset(x, 6, labels=y[:-1])
    for xb, yb in tfvae.distribute.distributed_dataset(x, 4, labels=y, seed=0):
        np.testing.assert_array_equal(xb.numpy(), x[yb.numpy()])


## Bad input, named, before tracing


@pytest.mark.parametrize("call,pattern", [
    (lambda m, x, y: m.fit(x, verbose=0), r"`y` is None: this conditional VAE \(num_classes=10\)"),
    (lambda m, x, y: m.fit(x, y[:-1], verbose=0),
     r"`y` has 31 labels but `x` has 32 examples"),
    (lambda m, x, y: m.fit(x, y + 3, verbose=0),
     r"invalid value for `y`, expected integer class ids in \[0, 10\).*values in \[3, 12\]"),
    (lambda m, x, y: m.fit(x, -np.ones(32), verbose=0), r"class ids in \[0, 10\)"),
    (lambda m, x, y: m.fit(x, y + 0.5, verbose=0), r"integer class ids"),
    (lambda m, x, y: m.fit(x, np.eye(12)[y], verbose=0),
     r"one-hot rows of width 10. Received: y of shape \(32, 12\)"),
    (lambda m, x, y: m.fit(x, 0.5 * np.eye(10)[y], verbose=0), r"expected one-hot rows"),
    (lambda m, x, y: m.fit(x, np.array(["a"] * 32), verbose=0), r"`y` must hold numbers"),
    (lambda m, x, y: m.fit(x, np.full(32, np.nan), verbose=0),
     r"`y` contains 32 non-finite \(NaN or Inf\)"),
    (lambda m, x, y: m.evaluate(x, verbose=0), r"`y` is None"),
    (lambda m, x, y: m.fit(tf.data.Dataset.from_tensor_slices(x).batch(8), verbose=0),
     r"yields single tensors \(x alone\), but a conditional VAE"),
    (lambda m, x, y: m.fit(tf.data.Dataset.from_tensor_slices((x, y, y)).batch(8), verbose=0),
     r"yields tuples of 3 tensors"),
    (lambda m, x, y: m.fit(tf.data.Dataset.from_tensor_slices((x, y + 5)).batch(8), verbose=0),
     r"first batch labels.*class ids in \[0, 10\)"),
    (lambda m, x, y: m.fit(tf.data.Dataset.from_tensor_slices((x, np.eye(9)[y % 9])).batch(8),
                           verbose=0), r"labels of `x`.*float64 of shape \(None, 9\)"),
    (lambda m, x, y: m.fit(tf.data.Dataset.from_tensor_slices((x, y)).batch(8), y, verbose=0),
     r"`y` cannot be given with a dataset"),
    (lambda m, x, y: m.fit(x, y, validation_data=x[:8], verbose=0),
     r"takes validation_data as \(x, y\)"),
    (lambda m, x, y: m.fit(x, y, validation_data=(x[:8], y[:7]), verbose=0),
     r"`validation_data labels` has 7 labels but `validation_data` has 8"),
    (lambda m, x, y: m.fit(x, y, sample_weight=np.ones(32), verbose=0), r"`sample_weight`"),
])
def test_bad_labels_are_named_before_tracing(call, pattern, fashion_small):
    model = small_vae(num_classes=10)
    x, y = fashion_small["x_train"][:32], fashion_small["y_train"][:32]
    with pytest.raises(ValueError, match=pattern):
        call(model, x, y)
    assert model.train_function is None and model.test_function is None


@pytest.mark.parametrize("call,pattern", [
    (lambda m, x, y: m.sample(4), r"`labels` is None: this conditional VAE"),
    (lambda m, x, y: m.sample(4, labels=[1, 2]), r"`labels` has 2 labels but `n` has 4"),
    (lambda m, x, y: m.sample(4, labels=10), r"class ids in \[0, 10\)"),
    (lambda m, x, y: m.encode(x), r"`labels` is None"),
    (lambda m, x, y: m.reconstruct(x, labels=y[:3]), r"`labels` has 3 labels but"),
    (lambda m, x, y: m.decode_mean(np.zeros((4, 2)), labels=np.zeros((4, 3))),
     r"one-hot rows of width 10. Received: labels of shape \(4, 3\)"),
    (lambda m, x, y: evaluation.log_marginal_likelihood(m, x > 0.5, 2),
     r"`labels` is None"),
    (lambda m, x, y: evaluation.classify(small_vae(), x > 0.5, 2),
     r"classify needs a class-conditional VAE.*no condition"),
    (lambda m, x, y: evaluation.classify(m, x > 0.5, 2, prior=[0.5, 0.5]),
     r"invalid value for `prior`, expected None or 10 class probabilities"),
    (lambda m, x, y: small_vae().sample(2, labels=1), r"unconditional.*takes no `labels`"),
    (lambda m, x, y: evaluation.elbo(small_vae(), x > 0.5, labels=y),
     r"unconditional.*takes no `labels`"),
])
def test_bad_labels_in_the_methods_are_named(call, pattern, fashion_small):
    model = small_vae(num_classes=10)
    x, y = fashion_small["x_test"][:8], fashion_small["y_test"][:8]
    with pytest.raises(ValueError, match=pattern):
        call(model, x, y)


@pytest.mark.parametrize("kwargs,pattern", [
    ({"num_classes": 10, "condition_shape": (3,)}, r"mutually exclusive.*num_classes=10, "
                                                   r"condition_shape=\(3,\)"),
    ({"num_classes": 1}, r"`num_classes`, expected an integer >= 2. Received: num_classes=1"),
    ({"num_classes": True}, r"Received: num_classes=True"),
    ({"condition_shape": (2, 3)}, r"vector shape \(k,\).*condition_shape=\(2, 3\)"),
    ({"condition_shape": 3}, r"`condition_shape`.*Received: condition_shape=3"),
    ({"num_classes": 2, "class_names": ["a"]}, r"expected 2 distinct non-empty strings.*\['a'\]"),
    ({"class_names": ["a", "b"]}, r"`class_names`.*with `num_classes`"),
])
def test_bad_condition_arguments(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        small_vae(**kwargs)


def test_a_user_network_that_breaks_the_contract_is_named():
    with pytest.raises(ValueError, match=r"calls its encoder as encoder\(\[x, y\]\), y of shape "
                                         r"\(batch, 10\)"):
        tfvae.VAE((28, 28), 2, num_classes=10,
                  encoder=keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten()]))


def test_out_of_range_labels_after_the_first_batch_stop_training(fashion_small):
    model = small_vae(num_classes=10)
    x = fashion_small["x_train"][:16]
    y = np.r_[np.zeros(8, "int64"), np.full(8, 11)]     # fine first batch, bad second
    model.compile(steps_per_execution=1)
    with pytest.raises(tf.errors.InvalidArgumentError, match="class id >= num_classes=10"):
        model.fit(tf.data.Dataset.from_tensor_slices((x, y)).batch(8), verbose=0)


## Save and load


@pytest.mark.parametrize("kwargs", [
    {"num_classes": 10, "class_names": [f"c{i}" for i in range(10)]},
    {"num_classes": 3, "architecture": "conv", "filters": (4, 8)},
    {"condition_shape": (3,)},
])
def test_save_and_load_round_trip(tmp_path, kwargs, fashion_small):
    model = small_vae(seed=0, **kwargs)
    labels = [1, 2, 0, 1] if "num_classes" in kwargs else np.ones((4, 3))
    x = fashion_small["x_test"][:4]
    model.fit(x, labels, epochs=1, verbose=0)
    path = str(tmp_path / "cvae.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert loaded.get_config() == model.get_config()
    for key, value in kwargs.items():
        assert loaded.get_config()[key] == (list(value) if isinstance(value, tuple) else value)
    z = np.random.default_rng(0).normal(size=(4, 2)).astype("float32")
    np.testing.assert_array_equal(to_numpy(loaded.decode_mean(z, labels)),
                                  to_numpy(model.decode_mean(z, labels)))
    np.testing.assert_array_equal(to_numpy(loaded.encode(x, labels=labels).mean()),
                                  to_numpy(model.encode(x, labels=labels).mean()))
    assert_config_round_trip(model)


def test_save_and_load_with_user_networks(tmp_path):
    model, _ = conditional_ppca()
    path = str(tmp_path / "ppca.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    x = np.random.default_rng(0).normal(size=(5, D)).astype("float32")
    labels = np.arange(5) % C
    np.testing.assert_allclose(
        evaluation.log_marginal_likelihood(loaded, x, 1, seed=0, labels=labels),
        evaluation.log_marginal_likelihood(model, x, 1, seed=0, labels=labels), rtol=1e-6)


## Helpers of the command line


def test_class_index_by_name_or_id():
    names = tfvae.datasets.FASHION_MNIST_CLASSES
    assert conditioning.class_index("trouser", names, 10) == 1
    assert conditioning.class_index("Ankle boot", names, 10) == 9
    assert conditioning.class_index("3", names, 10) == conditioning.class_index(3, None, 10) == 3
    with pytest.raises(ValueError, match=r"Unknown label='pants'. Known classes are"):
        conditioning.class_index("pants", names, 10)
    with pytest.raises(ValueError, match=r"class id in \[0, 10\).*label=10"):
        conditioning.class_index("10", names, 10)


def test_class_grid_figure(tmp_path):
    from tfvae import plots

    model = small_vae(num_classes=3, class_names=["a", "b", "c"], seed=0)
    path = plots.save_class_grid(model, tmp_path / "grid.png", per_class=4)
    assert open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="save_class_grid needs a class-conditional VAE"):
        plots.save_class_grid(small_vae(), tmp_path / "other.png")


def test_a_conditional_flow_posterior_round_trips_and_vamp_is_refused(tmp_path, fashion_small):
    model = small_vae(seed=0, num_classes=3, posterior="iaf")
    x, labels = fashion_small["x_test"][:4], [0, 1, 2, 1]
    model.fit(x, labels, epochs=1, verbose=0)
    path = str(tmp_path / "flow.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    z = np.random.default_rng(0).normal(size=(4, 2)).astype("float32")
    log_q = to_numpy(model.encode(x, labels=labels).log_prob(z))
    np.testing.assert_array_equal(to_numpy(loaded.encode(x, labels=labels).log_prob(z)), log_q)
    # q(z|x, y) depends on y.
    assert not np.allclose(to_numpy(model.encode(x, labels=[2, 2, 2, 2]).log_prob(z)), log_q)
    with pytest.raises(ValueError, match=r"unconditional prior.*prior='vamp', num_classes=3"):
        small_vae(num_classes=3, prior="vamp")


def test_sample_weights_of_a_conditional_model_are_refused_for_what_it_models(fashion_small):
    model = small_vae(num_classes=3)
    x = fashion_small["x_test"][:4]
    with pytest.raises(ValueError, match=r"`sample_weight`: the VAE models x given its labels y"):
        model.fit(x, [0, 1, 2, 0], sample_weight=np.ones(4), verbose=0)
    assert model.train_function is None
