"""KL warm-up and free bits: callbacks that drive the model's beta / free_bits variables."""

import keras
import numpy as np
import pytest

import tfvae
from tfvae.callbacks import FreeBits, KLWarmup


def small(**kwargs):
    return tfvae.VAE((28, 28), 3, hidden_units=(32,), seed=0, **kwargs)


def test_linear_warmup_sets_beta_each_epoch_and_the_loss_follows(fashion_small, tmp_path):
    x = fashion_small["x_train"][:256]
    model = small()
    history = model.fit(x, epochs=5, batch_size=64, verbose=0,
                        callbacks=[KLWarmup(start=0.0, end=1.0, epochs=4)]).history
    np.testing.assert_allclose(history["beta"], [0.0, 0.25, 0.5, 0.75, 1.0])
    for beta, loss, rec, kl in zip(history["beta"], history["loss"],
                                   history["reconstruction"], history["kl"]):
        # Beta is constant within an epoch, so the epoch means obey the loss formula.
        np.testing.assert_allclose(loss, -rec + beta * kl, rtol=1e-5)
    path = str(tmp_path / "warm.keras")
    model.beta.assign(0.75)
    model.save(path)
    assert float(keras.saving.load_model(path).beta.numpy()) == 0.75


def test_cyclical_and_per_batch_schedules():
    cyc = KLWarmup(start=0.0, end=1.0, epochs=4, mode="cyclical", cycles=2, ratio=0.5)
    assert [cyc.value(e) for e in range(6)] == [0.0, 1.0, 0.0, 1.0, 1.0, 1.0]
    assert cyc.value(0.5) == 0.5 and cyc.value(2.25) == 0.25
    lin = KLWarmup(start=0.2, end=0.6, epochs=2)
    assert lin.value(1.0) == pytest.approx(0.4) and lin.value(7) == 0.6


def test_per_batch_warmup_moves_beta_within_an_epoch():
    x = np.random.default_rng(0).random((64, 28, 28)).astype("float32")
    seen = []
    record = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: seen.append(float(model.beta.numpy())))
    model = small()
    model.fit(x, epochs=1, batch_size=16, verbose=0,
              callbacks=[KLWarmup(epochs=2, update="batch"), record])
    np.testing.assert_allclose(seen, [0.0, 0.125, 0.25, 0.375])


@pytest.mark.parametrize("kwargs, pattern", [
    ({"mode": "cosine"}, "mode='cosine'"), ({"epochs": 0}, "epochs=0"),
    ({"start": -1.0}, "start=-1.0"), ({"ratio": 0.0}, "ratio=0.0"),
    ({"update": "step"}, "update='step'")])
def test_bad_schedule_arguments(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        KLWarmup(**kwargs)
    with pytest.raises(ValueError, match="lambda_=-0.5"):
        FreeBits(-0.5)


def analytic_kl_per_dim(model, x):
    q = model.encode(x).distribution
    mu, s = np.asarray(q.loc, np.float64), np.asarray(q.scale, np.float64)
    return 0.5 * (mu ** 2 + s ** 2 - 1) - np.log(s)


def test_free_bits_clamps_the_batch_mean_kl_per_dimension(fashion_small):
    x = fashion_small["x_train"][:64]
    model = small()
    kl = analytic_kl_per_dim(model, x).mean(axis=0)        # (latent_dim,)
    lam = float(np.sort(kl)[1]) + 1e-3                     # some dims below λ, one above
    loss, reconstruction, reported_kl, _ = model._objective(x)
    np.testing.assert_allclose(np.mean(loss + reconstruction), kl.sum(), rtol=1e-4)
    model.free_bits.assign(lam)
    loss, reconstruction, reported_kl, _ = model._objective(x)
    penalty = float(np.mean(loss + reconstruction))
    np.testing.assert_allclose(penalty, np.maximum(lam, kl).sum(), rtol=1e-4)
    assert penalty > kl.sum() + 1e-3
    np.testing.assert_allclose(np.mean(reported_kl), kl.sum(), rtol=1e-4)  # metric stays true KL


def test_free_bits_stops_the_kl_gradient_of_collapsed_dimensions(fashion_small):
    import tensorflow as tf

    x = fashion_small["x_train"][:64]
    model = small()
    head = model.posterior_head.dense.trainable_weights
    state = model.sampling.seed_generator.state.numpy()

    def gradient(term):
        model.sampling.seed_generator.state.assign(state)   # the same z each time
        with tf.GradientTape() as tape:
            value = tf.reduce_mean(term(model._objective(x)))
        return [g.numpy() for g in tape.gradient(value, head)]

    model.free_bits.assign(1e3)                            # every dimension below λ
    clamped = gradient(lambda terms: terms[0])
    reconstruction_only = gradient(lambda terms: -terms[1])
    model.free_bits.assign(0.0)
    plain = gradient(lambda terms: terms[0])
    for a, b, c in zip(clamped, reconstruction_only, plain):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert not np.allclose(clamped[1], plain[1], atol=1e-4)


def test_free_bits_callback_trains_and_survives_save_load(fashion_small, tmp_path):
    x = fashion_small["x_train"][:256]
    model = small()
    history = model.fit(x, epochs=2, batch_size=64, verbose=0, callbacks=[FreeBits(0.5)])
    assert float(model.free_bits.numpy()) == 0.5
    assert all(np.isfinite(history.history["loss"]))
    # loss ≥ −reconstruction + Σ_j max(λ, KL_j) ≥ −reconstruction + 3·λ per batch
    assert history.history["loss"][-1] >= -history.history["reconstruction"][-1] + 1.5 - 1e-3
    path = str(tmp_path / "fb.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert float(loaded.free_bits.numpy()) == 0.5
    model.fit(x[:64], epochs=1, verbose=0, callbacks=[FreeBits(0.2, reset=True)])
    assert float(model.free_bits.numpy()) == 0.0
