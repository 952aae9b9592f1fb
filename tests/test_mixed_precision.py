"""Mixed precision: the networks compute in bfloat16/float16 while every
probabilistic quantity (posterior parameters, the decoder's likelihood
parameters, log-likelihood, KL, ELBO) stays float32, training is finite,
and the model saves and loads."""

import keras
import ml_dtypes
import numpy as np
import pytest
import tensorflow_probability as tfp

from tests.helpers import small_vae, to_numpy

tfd = tfp.distributions


@pytest.fixture
def policy(request):
    keras.mixed_precision.set_global_policy(request.param)
    try:
        yield request.param
    finally:
        keras.mixed_precision.set_global_policy("float32")


@pytest.mark.slow
@pytest.mark.parametrize("policy", ["mixed_bfloat16"], indirect=True)
def test_bfloat16_networks_float32_probabilities(policy, fashion_small, tmp_path):
    x = fashion_small["x_train"][:512]
    vae = small_vae(kl="analytic", seed=0)
    # Every Dense computes in bfloat16 except the decoder's output layer.
    dense = [l for l in vae.encoder.layers + vae.decoder.layers[:-2]
             if isinstance(l, keras.layers.Dense)]
    assert dense and all(l.compute_dtype == "bfloat16" for l in dense)
    assert all(l.variable_dtype == "float32" for l in dense)
    assert vae.encoder(x[:4]).dtype == "bfloat16"
    q = vae.encode(x[:4])
    assert q.mean().dtype == "float32" and q.stddev().dtype == "float32"
    # The posterior head computes in float32, not in bfloat16 and then cast.
    loc = to_numpy(q.mean())
    assert np.mean(loc != loc.astype(ml_dtypes.bfloat16).astype(np.float32)) > 0.5
    log_px = vae.decode(q.sample(seed=0)).log_prob(x[:4])
    assert log_px.dtype == "float32" and log_px.shape == (4,)
    reconstruction, kl = vae.elbo_terms(x[:4])
    for t in (reconstruction, kl, reconstruction - kl):
        assert t.dtype == "float32" and np.all(np.isfinite(to_numpy(t)))

    vae.compile(optimizer=keras.optimizers.Adam(1e-3))
    loss = vae.fit(x, batch_size=64, epochs=3, verbose=0).history["loss"]
    assert np.all(np.isfinite(loss)) and loss[-1] < loss[0]

    path = str(tmp_path / "bf16.keras")
    vae.save(path)
    # Loaded where the global policy is float32, the networks stay bfloat16.
    keras.mixed_precision.set_global_policy("float32")
    loaded = keras.saving.load_model(path)
    assert loaded.dtype_policy.name == "mixed_bfloat16"
    assert loaded.decoder.layers[0].compute_dtype == "bfloat16"
    np.testing.assert_array_equal(to_numpy(loaded.encode(x[:8]).mean()),
                                  to_numpy(vae.encode(x[:8]).mean()))
    z = np.zeros((3, 2), "float32")
    np.testing.assert_array_equal(to_numpy(loaded.decode_mean(z)),
                                  to_numpy(vae.decode_mean(z)))


@pytest.mark.slow
@pytest.mark.parametrize("policy", ["mixed_float16"], indirect=True)
def test_float16_uses_loss_scaling(policy, fashion_small):
    x = fashion_small["x_train"][:64]
    vae = small_vae(kl="analytic", seed=0)
    assert vae.decoder.layers[0].compute_dtype == "float16"
    vae.compile(optimizer=keras.optimizers.Adam(1e-3))
    # Keras wraps the optimizer so float16 gradients do not underflow.
    assert isinstance(vae.optimizer, keras.optimizers.LossScaleOptimizer)
    before = [to_numpy(w).copy() for w in vae.trainable_weights]
    logs = vae.fit(x, batch_size=64, epochs=1, verbose=0).history
    assert all(np.isfinite(v[-1]) for v in logs.values())
    after = [to_numpy(w) for w in vae.trainable_weights]
    assert all(np.all(np.isfinite(w)) for w in after)
    assert any(np.abs(a - b).max() > 0 for a, b in zip(after, before))


def _mixed_model(policy, how, **kwargs):
    """A VAE under a mixed policy, set globally or through the model's own `dtype`."""
    if how == "global":
        keras.mixed_precision.set_global_policy(policy)
        try:
            return small_vae(**kwargs)
        finally:
            keras.mixed_precision.set_global_policy("float32")
    return small_vae(dtype=policy, **kwargs)


@pytest.mark.parametrize("policy,how,architecture", [
    ("mixed_bfloat16", "global", "mlp"), ("mixed_bfloat16", "dtype", "mlp"),
    ("mixed_bfloat16", "global", "conv"), ("mixed_bfloat16", "dtype", "conv"),
    ("mixed_float16", "dtype", "mlp")])
def test_decoder_output_layer_computes_in_float32(policy, how, architecture, fashion_small,
                                                  tmp_path):
    low = policy.removeprefix("mixed_")
    vae = _mixed_model(policy, how, architecture=architecture, seed=0)
    z = np.random.default_rng(0).normal(size=(16, 2)).astype("float32")
    params = to_numpy(vae.decoder(z)).astype(np.float32)
    # Rounded to 16 bits at the end, no entry would change when rounded again;
    # computed in float32, almost all do (bfloat16 keeps 8 of float32's 24
    # significant bits, float16 11).
    rounded = params.astype({"bfloat16": ml_dtypes.bfloat16, "float16": np.float16}[low])
    assert np.mean(params != rounded.astype(np.float32)) > 0.5
    assert to_numpy(vae.decoder(z)).dtype == np.float32
    *hidden, output, reshape = vae.decoder.layers
    assert hidden[-1].compute_dtype == low
    assert output.compute_dtype == "float32" and reshape.compute_dtype == "float32"
    # The likelihood sees the same float32 parameters.
    x = fashion_small["x_test"][:16]
    np.testing.assert_allclose(
        to_numpy(vae.decode(z).log_prob(x)),
        to_numpy(vae.likelihood.distribution(params).log_prob(x)).sum(axis=(1, 2)),
        rtol=1e-6)

    path = str(tmp_path / "mixed.keras")
    vae.save(path)
    loaded = keras.saving.load_model(path)
    *hidden, output, reshape = loaded.decoder.layers
    assert hidden[-1].compute_dtype == low
    assert output.compute_dtype == "float32" and reshape.compute_dtype == "float32"
    np.testing.assert_array_equal(to_numpy(loaded.decoder(z)), params)


def test_bfloat16_elbo_matches_float32_with_the_same_weights(fashion_small, trained_weights):
    # Trained float32 weights (untrained logits are ~0 and log p(x|z) is then
    # ~ −784 log 2 whatever the precision), in a float32 and a bfloat16 model.
    f32 = small_vae(seed=0)
    f32.set_weights(trained_weights)
    bf16 = small_vae(seed=0, dtype="mixed_bfloat16")
    bf16.set_weights(trained_weights)
    x = fashion_small["x_test"][:256]

    # The sample is fixed to z = μ of the float32 posterior in both models, so
    # only the arithmetic differs, not the noise.
    q32, q16 = f32.encode(x), bf16.encode(x)
    z = q32.mean()
    kl32 = to_numpy(tfd.kl_divergence(q32, f32.prior.distribution()))
    kl16 = to_numpy(tfd.kl_divergence(q16, bf16.prior.distribution()))
    rec32 = to_numpy(f32.decode(z).log_prob(x))
    rec16 = to_numpy(bf16.decode(z).log_prob(x))
    assert kl16.dtype == rec16.dtype == np.float32

    # bfloat16 keeps 8 significant bits, so each rounding (of an input, a
    # weight, an activation) is off by up to 2^-9 ≈ 2e-3 relative. μ and σ
    # come out of two bfloat16 layers, each rounding its input, weights and
    # output, so they and the KL built from them can be off by ~1% (0.9% at
    # worst was measured here). The reconstruction goes through the decoder's
    # bfloat16 hidden layers likewise, but it sums 784 per-pixel terms whose
    # errors differ in sign, so it is ~10x closer (0.09% measured).
    np.testing.assert_allclose(kl16, kl32, rtol=2e-2, atol=1e-3)
    np.testing.assert_allclose(rec16, rec32, rtol=5e-3)
    elbo32, elbo16 = rec32 - kl32, rec16 - kl16
    np.testing.assert_allclose(elbo16, elbo32, rtol=5e-3)
    # ...but not bit-equal: the networks did compute in bfloat16.
    assert np.any(kl16 != kl32) and np.any(rec16 != rec32)
    # Averaged over examples, the errors mostly cancel (1e-4 measured).
    assert elbo16.mean() == pytest.approx(elbo32.mean(), rel=2e-3)


@pytest.mark.parametrize("architecture", ["mlp", pytest.param("conv", marks=pytest.mark.slow)])
def test_conditional_model_trains_in_bfloat16(architecture, fashion_small, tmp_path):
    x = (fashion_small["x_train"][:256] > 0.5).astype("float32")
    y = fashion_small["y_train"][:256]
    vae = small_vae(num_classes=10, architecture=architecture, filters=(8, 16), seed=0,
                    dtype="mixed_bfloat16")
    # The label joins the bfloat16 features; the likelihood parameters stay float32.
    concat = [l for l in vae.encoder.layers + vae.decoder.layers
              if isinstance(l, keras.layers.Concatenate)]
    assert len(concat) >= 2 and all(l.compute_dtype == "bfloat16" for l in concat)
    q = vae.encode(x[:4], labels=y[:4])
    assert q.mean().dtype == "float32"
    params = vae.decoder([to_numpy(q.mean()), np.eye(10, dtype="float32")[y[:4]]])
    assert params.dtype == "float32"
    reconstruction, kl = vae.elbo_terms(x[:4], labels=y[:4])
    assert reconstruction.dtype == kl.dtype == "float32"
    vae.compile(optimizer=keras.optimizers.Adam(1e-3))
    loss = vae.fit(x, y, batch_size=64, epochs=3, verbose=0).history["loss"]
    assert np.all(np.isfinite(loss)) and loss[-1] < loss[0]
    path = str(tmp_path / "conditional_bf16.keras")
    vae.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.dtype_policy.name == "mixed_bfloat16" and loaded.condition == vae.condition
    np.testing.assert_array_equal(to_numpy(loaded.encode(x[:8], labels=y[:8]).mean()),
                                  to_numpy(vae.encode(x[:8], labels=y[:8]).mean()))


def _numpy_decoder_mean(vae, z):
    """small_vae's decoder in float32 numpy: Dense relu, Dense relu, Dense, sigmoid."""
    (w1, b1), (w2, b2), (w3, b3) = (layer.get_weights() for layer in vae.decoder.layers[:3])
    hidden = np.maximum(np.maximum(z @ w1 + b1, 0) @ w2 + b2, 0)
    return (1 / (1 + np.exp(-(hidden @ w3 + b3)))).reshape(len(z), 28, 28)


def _litert(path, **inputs):
    from ai_edge_litert.interpreter import Interpreter

    return Interpreter(model_path=str(path)).get_signature_runner()(**inputs)


@pytest.mark.slow
def test_a_bfloat16_model_exports_as_float32_with_its_weights(trained_weights, tmp_path):
    import exporters

    vae = small_vae(seed=0, dtype="mixed_bfloat16")
    vae.set_weights(trained_weights)
    z = np.random.default_rng(0).normal(size=(8, 2)).astype("float32")
    expected = _numpy_decoder_mean(vae, z)

    info = exporters.export_tflite(vae, tmp_path / "decoder.tflite")
    assert info["passed"] and info["trained_dtype_policy"] == "mixed_bfloat16"
    got = _litert(tmp_path / "decoder.tflite", z=z)["mean"]
    np.testing.assert_allclose(got, expected, atol=1e-5)
    # Verified later, by a user, against the same twin, at the float32 bound.
    assert exporters.verify(vae, tmp_path / "decoder.tflite")["max_abs_error"] < 1e-5
    exporters.export_saved_model(vae, tmp_path / "decoder")
    import tensorflow as tf

    served = tf.saved_model.load(str(tmp_path / "decoder")).signatures["serving_default"]
    np.testing.assert_allclose(served(z=tf.constant(z))["mean"].numpy(), expected, atol=1e-5)
    # The model itself still computes in bfloat16: it differs from float32 by
    # its rounding, no more.
    assert vae.dtype_policy.name == "mixed_bfloat16"
    mixed = to_numpy(vae.decode_mean(z))
    assert 1e-4 < np.abs(mixed - expected).max() < 0.05


@pytest.mark.slow
def test_a_bfloat16_multi_signature_file_verifies_against_the_float32_twin(trained_weights,
                                                                          tmp_path):
    import exporters
    from exporters import signature_parity

    vae = small_vae(seed=0, dtype="mixed_bfloat16")
    vae.set_weights(trained_weights)
    path = tmp_path / "vae.tflite"
    info = exporters.export_tflite(vae, path, signatures=exporters.SIGNATURES, batch_size=1)
    assert info["trained_dtype_policy"] == "mixed_bfloat16"
    figures = signature_parity.verify(vae, path, exporters.SIGNATURES, batch_size=1)
    assert set(figures) == set(exporters.SIGNATURES)
    assert all(f["passed"] for f in figures.values())
    # The file's decoder is the float32 one.
    z = np.random.default_rng(2).normal(size=(1, 2)).astype("float32")
    expected = _numpy_decoder_mean(vae, z)
    from ai_edge_litert.interpreter import Interpreter

    decode = Interpreter(model_path=str(path)).get_signature_runner("decode")
    np.testing.assert_allclose(decode(z=z)["mean"], expected, atol=1e-5)


@pytest.mark.slow
def test_a_bfloat16_conditional_conv_generator_exports_to_tflite(fashion_small, tmp_path):
    import exporters

    vae = small_vae(architecture="conv", num_classes=10, seed=0, dtype="mixed_bfloat16")
    vae.compile()
    vae.fit(fashion_small["x_train"][:256], fashion_small["y_train"][:256], batch_size=64,
            epochs=1, verbose=0)
    path = tmp_path / "generator.tflite"
    info = exporters.export_tflite(vae, path, part="generator")
    assert info["passed"] and info["trained_dtype_policy"] == "mixed_bfloat16"
    assert all("bfloat16" not in str(v) for k, v in info.items() if k != "trained_dtype_policy")
    eps = np.random.default_rng(1).normal(size=(4, 2)).astype("float32")
    labels = np.array([0, 3, 7, 9], "int32")
    got = _litert(path, eps=eps, label=labels)["mean"]
    mixed = to_numpy(vae.decode_mean(eps, labels=labels))
    assert np.abs(got - mixed).max() < 0.05


def test_the_float32_twin_of_custom_mixed_networks_has_their_weights():
    from exporters._common import float32_model

    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        encoder = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(),
                                    keras.layers.Dense(16, activation="relu")])
        decoder = keras.Sequential([keras.Input((2,)), keras.layers.Dense(16, activation="relu"),
                                    keras.layers.Dense(784, dtype="float32"),
                                    keras.layers.Reshape((28, 28), dtype="float32")])
        vae = small_vae(encoder=encoder, decoder=decoder, seed=0)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert encoder.layers[-1].compute_dtype == "bfloat16"
    twin = float32_model(vae)
    assert twin is not vae and twin.dtype_policy.name == "float32"
    layers = twin.encoder.layers + twin.decoder.layers
    assert all(layer.dtype_policy.name == "float32" for layer in layers)
    assert len(twin.get_weights()) == len(vae.get_weights())
    for a, b in zip(twin.get_weights(), vae.get_weights()):
        np.testing.assert_array_equal(a, b)
    z = np.random.default_rng(0).normal(size=(4, 2)).astype("float32")
    h = np.maximum(z @ decoder.layers[0].get_weights()[0] + decoder.layers[0].get_weights()[1], 0)
    w, b = decoder.layers[1].get_weights()
    np.testing.assert_allclose(to_numpy(twin.decoder(z)).reshape(4, -1), h @ w + b, atol=1e-5)
    assert float32_model(twin) is twin
