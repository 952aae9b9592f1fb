import re

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
    _, kl_exact = analytic.elbo_terms(x[::20_000])  # deterministic: once per example
    _, kl_mc = mc.elbo_terms(x)
    kl_exact = to_numpy(kl_exact)
    kl_mc = to_numpy(kl_mc).reshape(2, -1)
    standard_error = kl_mc.std(axis=1) / np.sqrt(kl_mc.shape[1])
    assert np.all(np.abs(kl_mc.mean(axis=1) - kl_exact) < 4 * standard_error + 1e-3)


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


def _zero_noise(model):
    """ε = 0, so z = μ and the evaluated loss is a deterministic function of x."""
    model.sampling.noise = lambda shape, dtype="float32": keras.ops.zeros(shape, dtype)
    model.make_test_function(force=True)  # drop a function traced with the noise


def test_loss_is_minus_elbo_with_beta_one_and_weights_kl_by_beta(fashion_small,
                                                                 trained_weights):
    x = fashion_small["x_test"][:256]
    model = small_vae(seed=0)
    # Trained weights, so the logits are far from 0 and the KL from 0 too.
    model.set_weights(trained_weights)
    beta_model = small_vae(seed=0, beta=0.25)
    for name in ("encoder", "posterior_head", "decoder"):
        getattr(beta_model, name).set_weights(getattr(model, name).get_weights())

    # The reference, in float64 numpy from the networks' outputs at z = μ.
    posterior = model.encode(x)
    mu = to_numpy(posterior.mean()).astype("float64")
    sigma = to_numpy(posterior.stddev()).astype("float64")
    kl = 0.5 * np.sum(mu**2 + sigma**2 - 1.0 - np.log(sigma**2), axis=-1)
    logits = to_numpy(model.decoder(posterior.mean())).astype("float64")
    # log σ(l) = −log(1 + e^{−l}) and log(1 − σ(l)) = −log(1 + e^{l}), without overflow.
    x64 = x.astype("float64")
    log_px_z = -(x64 * np.logaddexp(0.0, -logits) + (1 - x64) * np.logaddexp(0.0, logits))
    reconstruction = log_px_z.reshape(len(x), -1).sum(axis=-1)
    assert kl.mean() > 1 and np.abs(logits).max() > 3

    for vae, beta in ((model, 1.0), (beta_model, 0.25)):
        _zero_noise(vae)
        logs = vae.evaluate(x, batch_size=256, return_dict=True, verbose=0)
        assert logs["kl"] == pytest.approx(kl.mean(), rel=1e-4)
        assert logs["reconstruction"] == pytest.approx(reconstruction.mean(), rel=1e-5)
        assert logs["elbo"] == pytest.approx((reconstruction - kl).mean(), rel=1e-5)
        assert logs["loss"] == pytest.approx(-(reconstruction - beta * kl).mean(), rel=1e-5)


# ---- training ----------------------------------------------------------------

@pytest.mark.slow
def test_training_on_real_data_lowers_the_loss(fashion_small):
    model = small_vae(seed=0)
    dataset = tf.data.Dataset.from_tensor_slices(fashion_small["x_train"]).batch(128)
    history = model.fit(dataset, epochs=3, verbose=0).history
    assert set(history) >= {"loss", "elbo", "reconstruction", "kl"}
    assert history["loss"][-1] < history["loss"][0] - 50
    test = model.evaluate(fashion_small["x_test"], return_dict=True, verbose=0)
    assert test["loss"] < history["loss"][0]
    assert test["kl"] > 0


@pytest.mark.slow
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


@pytest.mark.slow
def test_custom_likelihood_for_counts():
    rng = np.random.default_rng(0)
    counts = rng.poisson(3.0, size=(512, 12)).astype("float32")
    model = tfvae.VAE((12,), 2, likelihood=poisson_likelihood, hidden_units=(32,))
    assert model.decode(tf.zeros((3, 2))).log_prob(counts[:3]).shape == (3,)
    history = model.fit(counts, epochs=4, batch_size=64, verbose=0).history
    assert history["loss"][-1] < history["loss"][0]


@pytest.mark.slow
def test_custom_encoder_and_decoder_layers(fashion_small):
    encoder = keras.Sequential([keras.layers.Flatten(), keras.layers.Dense(16, "relu")])
    decoder = keras.Sequential([keras.layers.Dense(28 * 28), keras.layers.Reshape((28, 28))])
    model = tfvae.VAE((28, 28), 2, encoder=encoder, decoder=decoder)
    logs = model.fit(fashion_small["x_train"][:128], epochs=1, verbose=0).history
    assert np.isfinite(logs["loss"][0])


# ---- save / load --------------------------------------------------------------

@pytest.mark.slow
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
    with pytest.raises(ValueError, match=r"2 non-finite \(NaN or Inf\)"):
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


# Each of these was once accepted silently or escaped as an unrelated error.
@pytest.mark.parametrize("kwargs,pattern", [
    (dict(input_shape="784"), r"input_shape.*Received: input_shape='784'"),
    (dict(input_shape=(28.7, 28)), r"Received: input_shape=\(28.7, 28\)"),
    (dict(input_shape=784), r"Received: input_shape=784.*input_shape=\(784,\)"),
    (dict(input_shape=(28, True)), r"Received: input_shape=\(28, True\)"),
    (dict(hidden_units=64), r"Received: hidden_units=64"),
    (dict(hidden_units=()), r"Received: hidden_units=\(\)"),
    (dict(hidden_units=(64, 0)), r"Received: hidden_units=\(64, 0\)"),
    (dict(filters=(), architecture="conv"), r"Received: filters=\(\)"),
    (dict(likelihood=tfvae.likelihoods.Bernoulli), r"class Bernoulli.*Bernoulli\(\)"),
    (dict(prior=tfvae.priors.StandardNormal), r"class StandardNormal.*StandardNormal\(\)"),
    (dict(beta=float("nan")), r"Received: beta=nan"),
    (dict(beta=float("inf")), r"Received: beta=inf"),
    (dict(beta="1"), r"Received: beta='1'"),
    (dict(num_samples=np.float32(2.0)), r"Received: num_samples=.*2"),
])
def test_bad_constructor_arguments_are_named_with_their_value(kwargs, pattern):
    kwargs = {"input_shape": (28, 28), "latent_dim": 2, **kwargs}
    with pytest.raises(ValueError, match=pattern):
        tfvae.VAE(**kwargs)


def test_numpy_numbers_are_accepted_where_python_numbers_are():
    model = tfvae.VAE((np.int64(6),), np.int32(2),
                      beta=np.float32(0.5), hidden_units=(np.int64(8),),
                      num_samples=np.int16(2))
    assert model.data_shape == (6,) and model.latent_dim == 2
    assert model.initial_beta == 0.5 and model.num_samples == 2
    assert float(model.beta.numpy()) == 0.5


@pytest.mark.parametrize("make,pattern", [
    (lambda: tfvae.priors.MixtureOfGaussians(init_scale=0), r"Received: init_scale=0"),
    (lambda: tfvae.priors.MixtureOfGaussians(init_scale=float("nan")), r"init_scale=nan"),
    (lambda: tfvae.priors.MixtureOfGaussians(num_components=np.int64(0)), "num_components"),
    (lambda: tfvae.likelihoods.Gaussian(min_scale=-1), r"Received: min_scale=-1"),
    (lambda: tfvae.likelihoods.Gaussian(scale=float("inf")), r"Received: scale=inf"),
    (lambda: tfvae.likelihoods.Gaussian(scale=1e-4, learn_scale=True), r"exceed min_scale"),
])
def test_bad_prior_and_likelihood_arguments(make, pattern):
    with pytest.raises(ValueError, match=pattern):
        make()


def test_a_prior_built_for_another_latent_size_is_refused():
    prior = tfvae.priors.MixtureOfGaussians(num_components=3)
    tfvae.VAE((6,), 2, prior=prior, hidden_units=(8,))
    with pytest.raises(ValueError, match=r"latent_dim=2 and cannot serve latent_dim=3"):
        tfvae.VAE((6,), 3, prior=prior, hidden_units=(8,))


@pytest.fixture(scope="module")
def trained_vamp_vae(fashion_small):
    model = small_vae(latent_dim=3, prior="vamp", kl="mc")
    model.compile()
    model.fit(fashion_small["x_test"][:8], epochs=1, verbose=0)   # steps traced
    return model


@pytest.mark.parametrize("name", tfvae.vae.FIXED_ATTRIBUTES)
def test_the_parts_fixed_at_construction_refuse_a_new_value(name, trained_vamp_vae):
    model = trained_vamp_vae
    before = getattr(model, name)
    replacement = (tfvae.priors.get("standard_normal", latent_dim=3) if name == "prior"
                   else 7)
    argument = re.escape(tfvae.vae.FIXED_ATTRIBUTES[name])
    with pytest.raises(AttributeError, match=rf"VAE\.{name} is fixed.*the {argument} argument"
                                             rf".*Received: {name}="):
        setattr(model, name, replacement)
    assert getattr(model, name) is before
    assert isinstance(model.prior, tfvae.priors.VampPrior) and model.latent_dim == 3


def test_the_parts_are_saved_under_their_public_names(tmp_path):
    # Keras' saver walks attributes with private names last, so the parts held as
    # `_encoder`, `_prior`, ... keep the paths files written before had.
    import h5py

    model = small_vae(input_shape=(6,), latent_dim=2, hidden_units=(4,), prior="vamp")
    path = str(tmp_path / "model.weights.h5")
    model.save_weights(path)
    paths = []
    with h5py.File(path, "r") as f:
        f.visit(paths.append)
        top = set(f.keys())
    assert {"encoder", "decoder", "layers"} <= top and "layers/vamp_prior/vars" in paths
    assert not [p for p in paths if any(part.startswith("_") for part in p.split("/"))]


def test_class_names_are_checked_when_assigned():
    model = small_vae(input_shape=(6,), latent_dim=2, hidden_units=(4,), num_classes=2)
    model.class_names = ["cat", "dog"]
    assert model.class_names == ("cat", "dog") and model.get_config()["class_names"] == \
        ["cat", "dog"]
    with pytest.raises(ValueError, match=r"Received: class_names=\['cat'\]"):
        model.class_names = ["cat"]
    assert model.class_names == ("cat", "dog")


def test_encode_checks_the_shape(fashion_small):
    model = small_vae()
    with pytest.raises(ValueError, match=r"shape \(batch, 28, 28\).*\(4, 784\)"):
        model.encode(fashion_small["x_test"][:4].reshape(4, 784))


def test_lists_and_booleans_are_data(fashion_small):
    model = small_vae(seed=0)
    binary = fashion_small["x_train"][:64] > 0.5
    history = model.fit(binary, batch_size=32, epochs=1, verbose=0).history
    assert np.isfinite(history["loss"][0])
    logs = model.evaluate(binary.astype("float32").tolist(), batch_size=64, verbose=0,
                          return_dict=True)
    # The same examples as floats give the same mean reconstruction up to the noise.
    again = model.evaluate(binary.astype("float32"), batch_size=64, verbose=0,
                           return_dict=True)
    assert logs["reconstruction"] == pytest.approx(again["reconstruction"], rel=0.05)


@pytest.mark.parametrize("call,pattern", [
    (lambda m, x: m.compile(loss="mse"), r"compile does not take `loss`.*Received: loss='mse'"),
    (lambda m, x: m.compile(metrics=["mae"]), r"`metrics`.*Received: metrics=\['mae'\]"),
    (lambda m, x: m.fit(x, x, verbose=0), r"fit does not take `y`.*shape \(32, 28, 28\)"),
    (lambda m, x: m.fit(x, sample_weight=np.ones(32), verbose=0), r"`sample_weight`"),
    (lambda m, x: m.fit(x, class_weight={0: 1.0}, verbose=0), r"`class_weight`"),
    (lambda m, x: m.evaluate(x, np.zeros(32), verbose=0), r"evaluate does not take `y`"),
    (lambda m, x: m.fit(tf.data.Dataset.from_tensor_slices((x, np.zeros(32))).batch(8),
                        verbose=0), r"tuples of 2 tensors.*ignore"),
    (lambda m, x: m.fit(x, validation_data=(x, x), verbose=0), r"validation_data.*ignore y"),
])
def test_what_the_vae_cannot_honour_is_refused_before_tracing(call, pattern, fashion_small):
    model = small_vae()
    x = fashion_small["x_train"][:32]
    with pytest.raises(ValueError, match=pattern):
        call(model, x)
    assert model.train_function is None and model.test_function is None


def test_validation_data_as_x_or_one_tuple(fashion_small):
    model = small_vae(seed=0)
    x = fashion_small["x_train"][:32]
    for validation in (x, (x,), (x, None)):
        history = model.fit(x, validation_data=validation, epochs=1, verbose=0).history
        assert np.isfinite(history["val_loss"][0])


def test_logged_loss_includes_the_regularisation_the_optimizer_minimises(fashion_small):
    l2 = 0.1
    decoder = keras.Sequential([
        keras.Input((2,)),
        keras.layers.Dense(16, activation="relu", kernel_regularizer=keras.regularizers.L2(l2)),
        keras.layers.Dense(784, kernel_regularizer=keras.regularizers.L2(l2)),
        keras.layers.Reshape((28, 28))])
    model = small_vae(decoder=decoder, seed=0)
    x = fashion_small["x_train"][:64]
    penalty = l2 * sum(float(np.sum(np.square(layer.kernel.numpy())))
                       for layer in decoder.layers if hasattr(layer, "kernel"))
    assert penalty > 1.0  # large enough that leaving it out would be seen
    logs = model.evaluate(x, batch_size=64, verbose=0, return_dict=True)
    assert logs["loss"] + logs["elbo"] == pytest.approx(penalty, rel=1e-4)
    model.compile(optimizer=keras.optimizers.SGD(0.0))  # the step leaves the weights alone
    history = model.fit(x, batch_size=64, epochs=1, verbose=0).history
    assert history["loss"][0] + history["elbo"][0] == pytest.approx(penalty, rel=1e-4)


def test_monte_carlo_log_q_keeps_its_precision_far_from_the_origin():
    """q(z|x) = N(10⁴, (10⁻⁴)²): z − μ is below float32's resolution at 10⁴, so a
    log q(z|x) recomputed from z would see ε = 0 and miss E[−½ε²] = −½ per dimension."""
    loc = 1e4
    prior = tfd.Independent(tfd.Normal(tf.fill([2], loc), tf.ones([2])), 1)
    model = tfvae.VAE((6,), 2, prior=prior, hidden_units=(8,), seed=0)
    assert model.kl_mode == "mc"
    kernel, bias = model.posterior_head.dense.get_weights()
    model.posterior_head.dense.set_weights(
        [np.zeros_like(kernel), np.array([loc, loc, -30.0, -30.0], "float32")])
    x = np.zeros((20_000, 6), "float32")
    q = model.encode(x[:1]).distribution
    mu, sigma = np.float64(q.loc.numpy()[0]), np.float64(q.scale.numpy()[0])
    exact = np.sum(np.log(1.0 / sigma) + (sigma ** 2 + (mu - loc) ** 2) / 2.0 - 0.5)
    _, kl = model.elbo_terms(x)
    kl = to_numpy(kl).astype(np.float64)
    assert abs(kl.mean() - exact) < 4 * kl.std() / np.sqrt(len(kl)) + 1e-3, (kl.mean(), exact)
    # The importance weights' log q(z|x) too: its mean is minus the entropy.
    _, _, log_q = model.log_importance_weights(x[:100], 200)
    log_q = to_numpy(log_q).astype(np.float64)
    neg_entropy = -np.sum(np.log(sigma) + 0.5 * np.log(2 * np.pi * np.e))
    assert abs(log_q.mean() - neg_entropy) < 4 * log_q.std() / np.sqrt(log_q.size), \
        (log_q.mean(), neg_entropy)


@pytest.mark.slow
def test_a_model_built_under_a_strategy_fits_without_an_explicit_compile(fashion_small):
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    with strategy.scope():
        model = small_vae(seed=0)
    history = model.fit(fashion_small["x_train"][:64], batch_size=32, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert model.optimizer.iterations.numpy() == 2
