"""Mixed precision: the networks compute in bfloat16/float16 while every
probabilistic quantity (posterior parameters, log-likelihood, KL, ELBO) stays
float32, training is finite, and the model saves and loads."""

import keras
import numpy as np
import pytest

from tests.helpers import small_vae, to_numpy


@pytest.fixture
def policy(request):
    keras.mixed_precision.set_global_policy(request.param)
    try:
        yield request.param
    finally:
        keras.mixed_precision.set_global_policy("float32")


@pytest.mark.parametrize("policy", ["mixed_bfloat16"], indirect=True)
def test_bfloat16_networks_float32_probabilities(policy, fashion_small, tmp_path):
    x = fashion_small["x_train"][:512]
    vae = small_vae(kl="analytic", seed=0)
    dense = [l for l in vae.encoder.layers + vae.decoder.layers
             if isinstance(l, keras.layers.Dense)]
    assert dense and all(l.compute_dtype == "bfloat16" for l in dense)
    assert all(l.variable_dtype == "float32" for l in dense)
    assert vae.encoder(x[:4]).dtype == "bfloat16"
    q = vae.encode(x[:4])
    assert q.mean().dtype == "float32" and q.stddev().dtype == "float32"
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
