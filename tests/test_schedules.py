"""KL warm-up and free bits: callbacks that drive the model's beta / free_bits variables."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfvae
from tfvae.callbacks import FreeBits, KLWarmup, cycle_steps_per_execution


def small(**kwargs):
    return tfvae.VAE((28, 28), 3, hidden_units=(32,), seed=0, **kwargs)


def reference_beta(t, end, epochs, mode="linear", cycles=4, ratio=0.5, start=0.0):
    """β after t epochs: linear (Bowman et al. 2016) or cyclical (Fu et al. 2019)."""
    if t >= epochs:
        return end
    if mode == "linear":
        return start + (end - start) * t / epochs
    period = epochs / cycles
    into_cycle = t - period * math.floor(t / period)
    return start + (end - start) * min(1.0, into_cycle / (ratio * period))


def record_beta(model, seen):
    """Appends (batch, β) after every call of the train function."""
    return keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: seen.append((batch, float(model.beta.numpy()))))


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
    model.compile(steps_per_execution=1)                   # batch callbacks every batch
    model.fit(x, epochs=1, batch_size=16, verbose=0,
              callbacks=[KLWarmup(epochs=2, update="batch"), record])
    np.testing.assert_allclose(seen, [0.0, 0.125, 0.25, 0.375])


def test_warmup_ends_at_the_models_beta_unless_end_is_given():
    x = np.random.default_rng(0).random((64, 28, 28)).astype("float32")
    model = small(beta=4.0)
    history = model.fit(x, epochs=3, batch_size=64, verbose=0,
                        callbacks=[KLWarmup(epochs=2)]).history
    np.testing.assert_allclose(history["beta"], [0.0, 2.0, 4.0])
    assert float(model.beta.numpy()) == 4.0
    # The same model (β = 4 again, and its train function already traced): `end` wins.
    history = model.fit(x, epochs=3, batch_size=64, verbose=0,
                        callbacks=[KLWarmup(end=1.0, epochs=2)]).history
    np.testing.assert_allclose(history["beta"], [0.0, 0.5, 1.0])
    with pytest.raises(RuntimeError, match="end=None"):
        KLWarmup(epochs=2).value(1)                        # no model yet to take β from


def test_cyclical_warmup_moves_beta_every_batch_and_logs_the_epoch_mean():
    x = np.random.default_rng(0).random((128, 28, 28)).astype("float32")   # 8 batches
    model = small(beta=2.0)
    model.compile(steps_per_execution=1)                   # batch callbacks every batch
    seen = []
    history = model.fit(x, epochs=3, batch_size=16, verbose=0, shuffle=False,
                        callbacks=[KLWarmup(epochs=2, mode="cyclical", cycles=2),
                                   record_beta(model, seen)]).history
    expected = [[reference_beta(e + b / 8, 2.0, 2, "cyclical", cycles=2) for b in range(8)]
                for e in range(3)]
    np.testing.assert_allclose([beta for _, beta in seen], np.ravel(expected), rtol=1e-6)
    assert min(expected[0]) == 0.0 and max(expected[0]) == 2.0
    np.testing.assert_allclose(history["beta"], np.mean(expected, axis=1))


@pytest.mark.parametrize("mode", ["linear", "cyclical"])
def test_per_batch_beta_with_several_steps_per_execution(mode):
    x = np.random.default_rng(0).random((128, 28, 28)).astype("float32")   # 8 batches
    model = small()
    model.compile(steps_per_execution=3)                   # executions of 3, 3 and 2 batches
    seen = []
    history = model.fit(x, epochs=2, batch_size=16, verbose=0,
                        callbacks=[KLWarmup(epochs=2, mode=mode, cycles=2, update="batch"),
                                   record_beta(model, seen)]).history
    # Keras numbers an execution by its last batch and calls the batch hooks once per
    # execution: every batch of an execution trains with the β set at its first batch.
    assert [batch for batch, _ in seen] == [2, 5, 8] * 2
    expected = [[reference_beta(e + (b - b % 3) / 8, 1.0, 2, mode, cycles=2) for b in range(8)]
                for e in range(2)]
    np.testing.assert_allclose([beta for _, beta in seen],
                               [row[b] for row in expected for b in (0, 3, 6)], rtol=1e-6)
    np.testing.assert_allclose(history["beta"], np.mean(expected, axis=1))


@pytest.mark.filterwarnings("ignore:Your input ran out of data")   # how Keras finds the end
@pytest.mark.parametrize("steps_per_execution", [1, 3])
def test_per_batch_beta_with_a_dataset_of_unknown_length(steps_per_execution):
    x = np.random.default_rng(0).random((144, 28, 28)).astype("float32")   # 9 batches
    ds = tf.data.Dataset.from_tensor_slices(x).batch(16).filter(lambda batch: True)
    assert ds.cardinality() == tf.data.UNKNOWN_CARDINALITY
    model = small()
    model.compile(steps_per_execution=steps_per_execution)
    seen = []
    history = model.fit(ds, epochs=3, verbose=0,
                        callbacks=[KLWarmup(epochs=2, update="batch"),
                                   record_beta(model, seen)]).history
    # The first epoch holds β and counts its batches; later epochs interpolate.
    k = steps_per_execution
    expected = [[0.0] * 9, [reference_beta(1 + (b - b % k) / 9, 1.0, 2) for b in range(9)],
                [1.0] * 9]
    np.testing.assert_allclose([beta for _, beta in seen],
                               [row[b] for row in expected for b in range(0, 9, k)], rtol=1e-6)
    np.testing.assert_allclose(history["beta"], np.mean(expected, axis=1))


def test_a_cyclical_schedule_too_short_for_its_updates_is_refused():
    with pytest.raises(ValueError, match=r"epochs=4, cycles=4, update='epoch'"):
        KLWarmup(epochs=4, mode="cyclical", cycles=4, update="epoch")
    KLWarmup(epochs=8, mode="cyclical", cycles=4, update="epoch")            # 2-epoch cycles
    x = np.random.default_rng(0).random((64, 28, 28)).astype("float32")    # 4 batches
    model = small()
    model.compile(steps_per_execution=4)                   # one β update per epoch
    with pytest.raises(ValueError, match="steps_per_execution=4"):
        model.fit(x, epochs=1, batch_size=16, verbose=0,
                  callbacks=[KLWarmup(epochs=2, mode="cyclical", cycles=2)])


@pytest.mark.parametrize("epochs, steps, expected", [
    (10, 32, 10),        # cycles of 80 batches: 8 calls of 10
    (4, 32, 4),          # 32 batches: 8 calls of 4 (50 per call would set beta once)
    (4, 6, 1),           # 6 batches: every batch
    (20, 469, 293),      # 2,345 batches: 8 calls of 293 (compile's default of 50 is less)
])
def test_cycle_steps_per_execution_sets_beta_eight_times_a_cycle_or_every_batch(epochs, steps,
                                                                                expected):
    assert cycle_steps_per_execution(epochs, steps) == expected
    model = small()
    model.compile(steps_per_execution=expected)
    warmup = KLWarmup(epochs=epochs, mode="cyclical")
    warmup.set_model(model)
    warmup.params = {"steps": steps}
    warmup.on_train_begin()          # the check `fit` runs: at least two updates per cycle


@pytest.mark.parametrize("kwargs, pattern", [
    ({"mode": "cosine"}, "mode='cosine'"), ({"epochs": 0}, "epochs=0"),
    ({"start": -1.0}, "start=-1.0"), ({"ratio": 0.0}, "ratio=0.0"),
    ({"update": "step"}, "update='step'"), ({"end": -2}, "end=-2")])
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
    loss, reconstruction, reported_kl, _ = model.objective_terms(x)
    np.testing.assert_allclose(np.mean(loss + reconstruction), kl.sum(), rtol=1e-4)
    model.free_bits.assign(lam)
    loss, reconstruction, reported_kl, _ = model.objective_terms(x)
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
            value = tf.reduce_mean(term(model.objective_terms(x)))
        return [g.numpy() for g in tape.gradient(value, head)]

    model.free_bits.assign(1e3)                            # every dimension below λ
    clamped = gradient(lambda terms: terms[0])
    reconstruction_only = gradient(lambda terms: -terms[1])
    model.free_bits.assign(0.0)
    plain = gradient(lambda terms: terms[0])
    for a, b, c in zip(clamped, reconstruction_only, plain):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert not np.allclose(clamped[1], plain[1], atol=1e-4)


@pytest.mark.slow
def test_free_bits_callback_trains_and_survives_save_load(fashion_small, tmp_path):
    x = fashion_small["x_train"][:256]
    model = small()
    history = model.fit(x, epochs=2, batch_size=64, verbose=0, callbacks=[FreeBits(1.0)]).history
    assert float(model.free_bits.numpy()) == 1.0
    assert all(np.isfinite(history["loss"]))
    # Without free bits loss = −reconstruction + KL exactly (β = 1); the floor
    # only adds, and strictly once a dimension's batch-mean KL is below λ.
    for loss, reconstruction, kl in zip(history["loss"], history["reconstruction"],
                                        history["kl"]):
        assert loss + reconstruction > kl + 0.01
    path = str(tmp_path / "fb.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert float(loaded.free_bits.numpy()) == 1.0
    kl = analytic_kl_per_dim(loaded, x[:64]).mean(axis=0)
    assert np.maximum(1.0, kl).sum() > kl.sum() + 0.1      # the floor lifts some dimension
    loss, reconstruction, _, _ = loaded.objective_terms(x[:64])
    np.testing.assert_allclose(float(np.mean(loss + reconstruction)),
                               np.maximum(1.0, kl).sum(), rtol=1e-4)
    model.fit(x[:64], epochs=1, verbose=0, callbacks=[FreeBits(0.2, reset=True)])
    assert float(model.free_bits.numpy()) == 0.0


def test_assigning_beta_sets_the_variable_the_traced_steps_read(fashion_small, tmp_path):
    x = fashion_small["x_train"][:256]
    model = small()
    model.compile()
    model.evaluate(x, batch_size=64, verbose=0)                  # traced with β = 1
    model.beta = 4.0
    result = model.evaluate(x, batch_size=64, verbose=0, return_dict=True)
    assert result["kl"] > 0.1                                    # β = 1 would be far off
    assert result["loss"] == pytest.approx(4.0 * result["kl"] - result["reconstruction"],
                                           abs=1e-3)
    assert isinstance(model.beta, keras.Variable)
    with pytest.raises(ValueError, match="beta=-1"):
        model.beta = -1
    path = str(tmp_path / "beta.keras")
    model.save(path)
    assert float(keras.saving.load_model(path).beta.numpy()) == 4.0


def test_assigning_free_bits_sets_the_variable_the_traced_steps_read(fashion_small, tmp_path):
    x = fashion_small["x_train"][:64]
    model = small()
    model.compile()
    before = model.evaluate(x, batch_size=64, verbose=0, return_dict=True)   # traced, λ = 0
    kl = analytic_kl_per_dim(model, x).mean(axis=0)
    lam = float(np.sort(kl)[1]) + 1e-3                           # some dims below λ
    model.free_bits = lam
    result = model.evaluate(x, batch_size=64, verbose=0, return_dict=True)
    np.testing.assert_allclose(result["loss"] + result["reconstruction"],
                               np.maximum(lam, kl).sum(), rtol=1e-4)
    assert result["loss"] + result["reconstruction"] > \
        before["loss"] + before["reconstruction"] + 1e-3
    assert isinstance(model.free_bits, keras.Variable)
    with pytest.raises(ValueError, match="free_bits=-0.5"):
        model.free_bits = -0.5
    path = str(tmp_path / "free_bits.keras")
    model.save(path)
    assert float(keras.saving.load_model(path).free_bits.numpy()) == pytest.approx(lam)
