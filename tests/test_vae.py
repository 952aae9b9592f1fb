import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

import tfvae
from tests.helpers import small_vae, to_numpy

tfd = tfp.distributions


@keras.saving.register_keras_serializable(package="tfvae_tests")
def poisson_likelihood(params):
    return tfd.Poisson(log_rate=params)


@keras.saving.register_keras_serializable(package="tfvae_tests")
def broken_likelihood(params):
    # σ < 0 makes log σ NaN: a stand-in for any model that diverges.
    return tfd.Normal(loc=params, scale=-tf.ones_like(params))


# ---- the mathematics --------------------------------------------------------

def test_kl_in_the_elbo_is_the_closed_form(fashion_small):
    model = small_vae(latent_dim=3)
    x = fashion_small["x_test"][:16]
    posterior = model.encode(x)
    mu = to_numpy(posterior.mean())
    sigma = to_numpy(posterior.stddev())
    _, kl = model.elbo_terms(x)
    closed_form = -0.5 * np.sum(1 + np.log(sigma**2) - mu**2 - sigma**2, axis=-1)
    np.testing.assert_allclose(to_numpy(kl), closed_form, rtol=1e-4, atol=1e-5)


def test_monte_carlo_kl_agrees_with_analytic_in_expectation(fashion_small):
    analytic = small_vae(latent_dim=3, kl="analytic", seed=1)
    mc = small_vae(latent_dim=3, kl="mc", seed=2)
    mc.set_weights(analytic.get_weights())
    x = np.repeat(fashion_small["x_test"][:2], 20_000, axis=0)
    _, kl_exact = analytic.elbo_terms(x)
    _, kl_mc = mc.elbo_terms(x)
    kl_exact = to_numpy(kl_exact).reshape(2, -1)
    kl_mc = to_numpy(kl_mc).reshape(2, -1)
    standard_error = kl_mc.std(axis=1) / np.sqrt(kl_mc.shape[1])
    assert np.all(np.abs(kl_mc.mean(axis=1) - kl_exact[:, 0]) < 4 * standard_error + 1e-3)


def test_the_two_forms_of_the_elbo_agree(fashion_small):
    """E_q[log p(x|z)] − KL(q‖p) = E_q[log p(x, z) − log q(z|x)] (Monte Carlo)."""
    model = small_vae(latent_dim=2, hidden_units=(32, 16))
    x = fashion_small["x_test"][:1]
    posterior = model.encode(x)
    z = posterior.sample(40_000, seed=5)[:, 0, :]
    log_joint = model.decode(z).log_prob(np.repeat(x, len(z), axis=0)) + \
        model.prior.distribution().log_prob(z)
    log_q = posterior.log_prob(z[:, None, :])[:, 0]
    joint_form = to_numpy(log_joint - log_q)
    xs = np.repeat(x, 40_000, axis=0)
    reconstruction, kl = model.elbo_terms(xs)
    kl_form = to_numpy(reconstruction - kl)
    tolerance = 4 * np.hypot(joint_form.std(), kl_form.std()) / np.sqrt(40_000)
    assert abs(joint_form.mean() - kl_form.mean()) < tolerance


def test_loss_is_minus_elbo_with_beta_one_and_weights_kl_by_beta(fashion_small):
    x = fashion_small["x_test"][:256]
    model = small_vae(seed=0)
    logs = model.evaluate(x, batch_size=256, return_dict=True, verbose=0)
    assert logs["loss"] == pytest.approx(-logs["elbo"], rel=1e-5)
    assert logs["elbo"] == pytest.approx(logs["reconstruction"] - logs["kl"], rel=1e-5)
    beta_model = small_vae(seed=0, beta=0.25)
    beta_model.set_weights(model.get_weights())  # copies beta = 1 too ...
    beta_model.beta.assign(0.25)                  # ... so set it back
    logs = beta_model.evaluate(x, batch_size=256, return_dict=True, verbose=0)
    assert logs["loss"] == pytest.approx(-(logs["reconstruction"] - 0.25 * logs["kl"]),
                                         rel=1e-4)


# ---- training ----------------------------------------------------------------

def test_training_on_real_data_lowers_the_loss(fashion_small):
    model = small_vae(seed=0)
    dataset = tf.data.Dataset.from_tensor_slices(
        (fashion_small["x_train"], fashion_small["y_train"])).batch(128)
    history = model.fit(dataset, epochs=3, verbose=0).history
    assert set(history) >= {"loss", "elbo", "reconstruction", "kl"}
    assert history["loss"][-1] < history["loss"][0] - 50
    test = model.evaluate(fashion_small["x_test"], return_dict=True, verbose=0)
    assert test["loss"] < history["loss"][0]
    assert test["kl"] > 0


@pytest.mark.parametrize("kwargs", [
    dict(architecture="conv", likelihood="continuous_bernoulli"),
    dict(likelihood="gaussian_learned", prior="mixture_of_gaussians"),
    dict(prior=tfd.Independent(tfd.Laplace(tf.zeros(2), 1.0), 1)),
])
def test_variants_train_and_report_finite_metrics(fashion_small, kwargs):
    model = small_vae(**kwargs)
    logs = model.fit(fashion_small["x_train"][:256], epochs=1, batch_size=64,
                     verbose=0).history
    assert all(np.isfinite(v[-1]) for v in logs.values())
    if "prior" in kwargs:
        assert model.kl_mode == "mc"


def test_sample_reconstruct_and_call_shapes(fashion_small):
    model = small_vae(latent_dim=3)
    x = fashion_small["x_test"][:5]
    assert model.sample(7, seed=1).shape == (7, 28, 28)
    assert model.reconstruct(x).shape == (5, 28, 28)
    np.testing.assert_allclose(to_numpy(model(x)), to_numpy(model.reconstruct(x)))
    out = to_numpy(model.sample(4, seed=1))
    assert np.all((out >= 0) & (out <= 1))
    assert isinstance(model.encode(x), tfd.Distribution)
    assert model.encode(x).event_shape == [3]
    assert model.decode(tf.zeros((2, 3))).log_prob(x[:2]).shape == (2,)


def test_custom_likelihood_for_counts():
    rng = np.random.default_rng(0)
    counts = rng.poisson(3.0, size=(512, 12)).astype("float32")
    model = tfvae.VAE((12,), 2, likelihood=poisson_likelihood, hidden_units=(32,))
    assert model.decode(tf.zeros((3, 2))).log_prob(counts[:3]).shape == (3,)
    history = model.fit(counts, epochs=4, batch_size=64, verbose=0).history
    assert history["loss"][-1] < history["loss"][0]


def test_custom_encoder_and_decoder_layers(fashion_small):
    encoder = keras.Sequential([keras.layers.Flatten(), keras.layers.Dense(16, "relu")])
    decoder = keras.Sequential([keras.layers.Dense(28 * 28), keras.layers.Reshape((28, 28))])
    model = tfvae.VAE((28, 28), 2, encoder=encoder, decoder=decoder)
    logs = model.fit(fashion_small["x_train"][:128], epochs=1, verbose=0).history
    assert np.isfinite(logs["loss"][0])


# ---- save / load --------------------------------------------------------------

@pytest.mark.parametrize("kwargs", [
    dict(),
    dict(architecture="conv", likelihood="gaussian_learned", prior="mixture_of_gaussians"),
    dict(likelihood="continuous_bernoulli", kl="mc", beta=0.5, seed=3),
])
def test_save_and_load_round_trip(tmp_path, fashion_small, kwargs):
    model = small_vae(**kwargs)
    model.fit(fashion_small["x_train"][:128], epochs=1, verbose=0)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.models.load_model(path)  # safe_mode on, no custom_objects
    assert type(loaded) is tfvae.VAE
    assert loaded.get_config() == model.get_config()
    x = fashion_small["x_test"][:8]
    np.testing.assert_array_equal(to_numpy(loaded.encode(x).mean()),
                                  to_numpy(model.encode(x).mean()))
    np.testing.assert_array_equal(to_numpy(loaded.encode(x).stddev()),
                                  to_numpy(model.encode(x).stddev()))
    z = np.random.default_rng(0).normal(size=(4, model.latent_dim)).astype("float32")
    np.testing.assert_array_equal(to_numpy(loaded.decode(z).mean()),
                                  to_numpy(model.decode(z).mean()))
    assert float(loaded.beta.numpy()) == float(model.beta.numpy())
    # The optimizer state came back too: training continues.
    assert loaded.compiled
    loaded.fit(x, epochs=1, verbose=0)


def test_save_and_load_with_custom_callable_and_networks(tmp_path):
    encoder = keras.Sequential([keras.layers.Dense(8, "relu")])
    model = tfvae.VAE((12,), 2, likelihood=poisson_likelihood, encoder=encoder)
    model.save(tmp_path / "p.keras")
    loaded = keras.models.load_model(tmp_path / "p.keras")
    z = np.ones((2, 2), "float32")
    np.testing.assert_array_equal(to_numpy(loaded.decode(z).mean()),
                                  to_numpy(model.decode(z).mean()))


def test_vae_config_round_trip():
    model = small_vae(latent_dim=4, beta=2.0, kl="analytic", seed=9)
    clone = tfvae.VAE.from_config(model.get_config())
    assert clone.get_config() == model.get_config()


# ---- bad input: a ValueError that names the problem ----------------------------

@pytest.mark.parametrize("latent_dim", [0, -3, 2.5, True, "2"])
def test_bad_latent_dim(latent_dim):
    with pytest.raises(ValueError, match="latent_dim"):
        tfvae.VAE((28, 28), latent_dim)


@pytest.mark.parametrize("kwargs,pattern", [
    (dict(architecture="resnet"), r"architecture='resnet'.*\['mlp', 'conv'\]"),
    (dict(likelihood="poisson"), r"likelihood='poisson'.*bernoulli"),
    (dict(kl="exact"), r"kl='exact'"),
    (dict(beta=-1.0), "beta"),
    (dict(input_shape=(0, 5)), "input_shape"),
    (dict(input_shape=(10,), architecture="conv"), "conv.*images"),
    (dict(prior="mixture_of_gaussians", kl="analytic"), "closed-form KL"),
    (dict(likelihood=lambda p: p), "must return a tfp.distributions.Distribution"),
    (dict(decoder=keras.Sequential([keras.layers.Dense(10)])), r"decoder must output.*28, 28"),
])
def test_bad_constructor_arguments(kwargs, pattern):
    kwargs = {"input_shape": (28, 28), "latent_dim": 2, **kwargs}
    with pytest.raises(ValueError, match=pattern):
        tfvae.VAE(**kwargs)


def test_bad_data_is_named(fashion_small):
    model = small_vae()
    x = fashion_small["x_train"][:64]
    with pytest.raises(ValueError, match=r"shape \(batch, 28, 28\).*\(64, 784\).*reshape"):
        model.fit(x.reshape(64, 784), verbose=0)
    with_nan = x.copy()
    with_nan[3, 4, 5] = np.nan
    with_nan[7, 1, 1] = np.inf
    with pytest.raises(ValueError, match="2 NaN or Inf"):
        model.fit(with_nan, verbose=0)
    with pytest.raises(ValueError, match=r"\[0, 1\].*255"):
        model.fit(x * 255.0, verbose=0)
    with pytest.raises(ValueError, match="empty"):
        model.fit(np.zeros((0, 28, 28), "float32"), verbose=0)
    with pytest.raises(ValueError, match="empty"):
        model.fit(tf.data.Dataset.from_tensor_slices(x).batch(8).take(0), verbose=0)
    with pytest.raises(ValueError, match=r"batches of shape.*Batch the dataset"):
        model.fit(tf.data.Dataset.from_tensor_slices(x), verbose=0)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        model.evaluate(tf.data.Dataset.from_tensor_slices(x * 255).batch(8), verbose=0)
    with pytest.raises(ValueError, match="validation_data.*NaN"):
        model.fit(x, validation_data=(with_nan,), verbose=0)
    with pytest.raises(ValueError, match="shape"):
        model.reconstruct(x.reshape(64, 784))


def test_nan_loss_stops_training_with_a_clear_message():
    model = tfvae.VAE((6,), 2, likelihood=broken_likelihood, hidden_units=(8,))
    with pytest.raises(FloatingPointError, match="loss became nan.*stopped"):
        model.fit(np.zeros((32, 6), "float32"), epochs=2, verbose=0)
