import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

import tfvae
from tests.helpers import assert_config_round_trip, small_vae
from tfvae import priors

tfd = tfp.distributions


def test_analytic_kl_equals_tfp_and_closed_form():
    rng = np.random.default_rng(0)
    mu = rng.normal(size=(5, 3)).astype("float32")
    sigma = rng.uniform(0.2, 2.0, size=(5, 3)).astype("float32")
    prior = priors.StandardNormal()
    prior.build(3)
    q = tfd.Independent(tfd.Normal(mu, sigma), 1)
    kl = tfd.kl_divergence(q, prior.distribution()).numpy()
    closed_form = -0.5 * np.sum(1 + np.log(sigma**2) - mu**2 - sigma**2, axis=-1)
    np.testing.assert_allclose(kl, closed_form, rtol=1e-5)
    reference = tfd.kl_divergence(tfd.MultivariateNormalDiag(mu, sigma),
                                  tfd.MultivariateNormalDiag(tf.zeros(3))).numpy()
    np.testing.assert_allclose(kl, reference, rtol=1e-5)
    # KL vanishes exactly at μ = 0, σ = 1 (what the term pulls towards).
    at_prior = tfd.kl_divergence(tfd.Independent(tfd.Normal(tf.zeros((1, 3)), 1.0), 1),
                                 prior.distribution()).numpy()
    np.testing.assert_allclose(at_prior, [0.0], atol=1e-7)


def test_mixture_log_prob_matches_numpy():
    prior = priors.MixtureOfGaussians(num_components=3, seed=0)
    prior.build(2)
    z = np.array([[0.1, -0.3], [1.5, 2.0]], "float32")
    w = tf.nn.softmax(prior.logits).numpy()
    locs = prior.locs.numpy()
    scales = tf.nn.softplus(prior.raw_scales).numpy() + 1e-4
    dens = [np.sum([w[k] * np.prod(np.exp(-0.5 * ((zi - locs[k]) / scales[k]) ** 2)
                                   / (np.sqrt(2 * np.pi) * scales[k])) for k in range(3)])
            for zi in z]
    np.testing.assert_allclose(prior.distribution().log_prob(z).numpy(), np.log(dens),
                               rtol=1e-5)
    assert len(prior.trainable_weights) == 3


def test_mixture_config_round_trip_and_validation():
    assert_config_round_trip(priors.MixtureOfGaussians(num_components=4, init_scale=0.5))
    with pytest.raises(ValueError, match="num_components"):
        priors.MixtureOfGaussians(num_components=0)


def test_distribution_prior_checks_event_shape_and_refuses_to_serialize():
    prior = priors.get(tfd.Normal(tf.zeros(3), 1.0))
    with pytest.raises(ValueError, match=r"event shape \[latent_dim\]=\[3\]"):
        prior.build(3)
    ok = priors.get(tfd.Independent(tfd.Laplace(tf.zeros(3), 1.0), 1))
    ok.build(3)
    with pytest.raises(TypeError, match="cannot be serialized"):
        ok.get_config()


def test_unknown_prior():
    with pytest.raises(ValueError, match="Unrecognized prior.*standard_normal"):
        priors.get("uniform")


# ---- VampPrior ---------------------------------------------------------------------


def _log_normal(x, loc, scale):
    return -0.5 * ((x - loc) / scale) ** 2 - np.log(scale) - 0.5 * np.log(2 * np.pi)


def _vamp_log_density(z, loc, scale):
    """(1/K) Σ_k N(z; loc_k, scale_k²) in float64 numpy: logsumexp over the K Gaussians."""
    z, loc, scale = (np.asarray(a, np.float64) for a in (z, loc, scale))
    per_component = _log_normal(z[:, None, :], loc[None], scale[None]).sum(-1)   # (n, K)
    top = per_component.max(-1, keepdims=True)
    return (top[:, 0] + np.log(np.exp(per_component - top).sum(-1))) - np.log(len(loc))


def _vamp_vae(num_pseudo_inputs=7, seed=0, **kwargs):
    return small_vae(latent_dim=3, seed=seed, prior=priors.VampPrior(num_pseudo_inputs,
                                                                     seed=seed), **kwargs)


def test_vamp_log_prob_is_the_mixture_of_the_encoders_gaussians():
    model = _vamp_vae()
    prior = model.prior
    loc, scale = (np.asarray(t) for t in model.posterior_params(prior.pseudo_inputs))
    assert loc.shape == scale.shape == (7, 3)
    z = np.random.default_rng(0).normal(size=(10, 3)).astype("float32") + loc[0]
    np.testing.assert_allclose(prior.distribution().log_prob(z).numpy(),
                               _vamp_log_density(z, loc, scale), rtol=1e-5)
    # The pseudo-inputs are the prior's only weights; the encoder stays the model's.
    assert [w.path for w in prior.weights] == [prior.pseudo_inputs.path]
    assert prior.pseudo_inputs.shape == (7, 28, 28)
    assert len(model.weights) == len(small_vae(latent_dim=3).weights) + 1


def test_vamp_log_prob_keeps_its_precision_far_from_the_origin():
    # Components at ≈ 50 with σ = 0.01: the expanded square (z² − 2zm + m²)/s²
    # cancels terms of 2.5·10⁷, which float32 would get wrong by nats.
    model = _vamp_vae(num_pseudo_inputs=4)
    kernel, bias = model.posterior_head.dense.get_weights()
    kernel[:, :3] *= 0.01
    kernel[:, 3:], bias[:3], bias[3:] = 0.0, 50.0, np.log(np.expm1(0.01 - 1e-4))
    model.posterior_head.dense.set_weights([kernel, bias])
    loc, scale = (np.asarray(t) for t in model.posterior_params(model.prior.pseudo_inputs))
    z = (loc[[0, 1, 2, 3, 0]] + 0.01 * np.random.default_rng(0).normal(size=(5, 3))).astype(
        "float32")
    mixture = model.prior.distribution()
    np.testing.assert_allclose(mixture.log_prob(z).numpy(), _vamp_log_density(z, loc, scale),
                               atol=1e-4)
    # The same density as TFP's own MixtureSameFamily, which builds the (n, K, d)
    # tensor in float32 (measured 6e-4 from the float64 reference here).
    generic = tfd.MixtureSameFamily(mixture.mixture_distribution,
                                    mixture.components_distribution)
    np.testing.assert_allclose(mixture.log_prob(z).numpy(), generic.log_prob(z).numpy(),
                               atol=2e-3)
    assert isinstance(mixture, tfd.MixtureSameFamily)


def test_vamp_kl_in_the_elbo_is_log_q_minus_the_mixture_density(fashion_small):
    model = _vamp_vae()
    assert model.kl_mode == "mc"
    x = fashion_small["x_test"][:5]
    # With ε = 0 the sample is z = μ(x): KL = log N(μ; μ, σ²) − log p_vamp(μ).
    model.sampling.noise = lambda shape, dtype="float32": tf.zeros(shape, dtype)
    _, kl = model.elbo_terms(x)
    loc, scale = (np.asarray(t, np.float64) for t in model.posterior_params(x))
    ref_loc, ref_scale = (np.asarray(t) for t in model.posterior_params(model.prior.pseudo_inputs))
    expected = _log_normal(loc, loc, scale).sum(-1) - _vamp_log_density(loc, ref_loc, ref_scale)
    np.testing.assert_allclose(kl.numpy(), expected, rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="kl='analytic'.*VampPrior"):
        _vamp_vae(kl="analytic")


def test_vamp_initialize_from_copies_training_rows(fashion_small):
    model = _vamp_vae(num_pseudo_inputs=5)
    x = fashion_small["x_train"][:50]
    model.prior.initialize_from(x, seed=3)
    pseudo = model.prior.pseudo_inputs.numpy()
    rows = [int(np.flatnonzero((x == p).all(axis=(1, 2)))[0]) for p in pseudo]
    assert len(set(rows)) == 5                          # five different examples
    model.prior.initialize_from(x, seed=3)
    np.testing.assert_array_equal(model.prior.pseudo_inputs.numpy(), pseudo)
    with pytest.raises(ValueError, match=r"`x`.*\(n, 28, 28\).*Received: x of shape \(4, 784\)"):
        model.prior.initialize_from(np.zeros((4, 784)))
    with pytest.raises(ValueError, match="num_pseudo_inputs.*Received: num_pseudo_inputs=0"):
        priors.VampPrior(num_pseudo_inputs=0)


def test_vamp_needs_a_model_and_accepts_the_name():
    with pytest.raises(ValueError, match="needs the model's encoder"):
        priors.VampPrior(3).build(2)
    assert isinstance(priors.get("vamp"), priors.VampPrior) and "vamp" in priors.NAMES
    assert_config_round_trip(priors.VampPrior(num_pseudo_inputs=9, seed=4))


@pytest.mark.slow
def test_vamp_trains_its_pseudo_inputs_and_round_trips_through_keras_files(tmp_path,
                                                                          fashion_small):
    import keras

    from tfvae.evaluation import elbo, log_marginal_likelihood

    model = _vamp_vae(num_pseudo_inputs=6, posterior=tfvae.posteriors.IAF(1, (16,)))
    x = fashion_small["x_train"][:256]
    model.prior.initialize_from(x, seed=0)
    initial = model.prior.pseudo_inputs.numpy().copy()
    model.fit(x, epochs=2, batch_size=64, verbose=0)
    assert np.abs(model.prior.pseudo_inputs.numpy() - initial).max() > 1e-3
    # With an IAF posterior the components are its Gaussian base at the pseudo-inputs.
    loc, scale = (np.asarray(t) for t in model.posterior_params(model.prior.pseudo_inputs))
    z = np.asarray(model.prior.distribution().sample(20, seed=tfvae.layers.stateless_seed(0)))
    np.testing.assert_allclose(model.prior.distribution().log_prob(z).numpy(),
                               _vamp_log_density(z, loc, scale), rtol=1e-5)
    path = tmp_path / "vamp.keras"
    model.save(path)
    loaded = keras.models.load_model(path)               # safe_mode on
    assert isinstance(loaded.prior, priors.VampPrior)
    np.testing.assert_array_equal(loaded.prior.pseudo_inputs.numpy(),
                                  model.prior.pseudo_inputs.numpy())
    np.testing.assert_allclose(loaded.prior.distribution().log_prob(z).numpy(),
                               model.prior.distribution().log_prob(z).numpy(), rtol=1e-6)
    assert len(loaded.weights) == len(model.weights)
    # evaluate, sampling and the IS estimator run on it.
    assert np.isfinite(loaded.evaluate(x[:64], verbose=0)).all()
    assert loaded.sample(3, seed=0).shape == (3, 28, 28)
    bits = tfvae.datasets.binarize(fashion_small["x_test"][:8], seed=0)
    log_px = log_marginal_likelihood(loaded, bits, num_samples=200, seed=0)
    assert np.isfinite(log_px).all() and log_px.mean() > elbo(loaded, bits, seed=0).mean()


# ---- MAF -----------------------------------------------------------------------------


def _built_maf(latent_dim, num_steps=2, hidden_units=(8, 8), seed=0, scale=0.5):
    """Random weights everywhere: a freshly built MAF is the identity, which hides errors."""
    prior = priors.MAF(num_steps=num_steps, hidden_units=hidden_units)
    prior.build(latent_dim)
    rng = np.random.default_rng(seed)
    for w in prior.weights:
        w.assign(rng.normal(scale=scale, size=w.shape).astype("float32"))
    return prior


def test_maf_log_prob_is_the_change_of_variables_of_its_sampler():
    prior = _built_maf(3)
    p = prior.distribution()
    u = np.random.default_rng(1).normal(size=(6, 3)).astype("float32")
    # Reference: z = f(u) by TFP's sequential sampler, log p(z) = log N(u) − log|det ∂f/∂u|
    # with the Jacobian from autodiff; the code under test inverts f in parallel instead.
    references, zs = [], []
    for row in u:
        row = tf.constant(row)
        with tf.GradientTape() as tape:
            tape.watch(row)
            z = p.bijector.forward(row)
        jacobian = tape.jacobian(z, row).numpy().astype("float64")
        zs.append(z.numpy())
        references.append(_log_normal(row.numpy(), 0.0, 1.0).sum() -
                          np.linalg.slogdet(jacobian)[1])
    zs = np.stack(zs)
    assert np.abs(zs - u).max() > 0.1                    # the flow is not the identity
    np.testing.assert_allclose(p.log_prob(zs).numpy(), references, atol=1e-4)


def test_maf_density_integrates_to_one_on_a_grid():
    p = _built_maf(2, seed=3).distribution()
    axis = np.linspace(-12.0, 12.0, 601)
    za, zb = np.meshgrid(axis, axis, indexing="ij")
    grid = np.stack([za.ravel(), zb.ravel()], -1).astype("float32")
    density = np.exp(p.log_prob(grid).numpy().astype("float64"))
    assert abs(density.sum() * (axis[1] - axis[0]) ** 2 - 1.0) < 2e-3
    # Its samples follow that density: the sample mean against the grid's.
    mean = (density[:, None] * grid).sum(0) / density.sum()
    draws = p.sample(20000, seed=tfvae.layers.stateless_seed(0)).numpy()
    np.testing.assert_allclose(draws.mean(0), mean, atol=4 * draws.std(0).max() / np.sqrt(2e4))


def test_an_untrained_maf_prior_is_the_standard_normal_in_one_pass_per_step(monkeypatch):
    from tfvae import flows

    prior = priors.MAF(num_steps=3, hidden_units=(16,))
    prior.build(4)
    passes = []
    step = flows.shift_and_log_scale
    monkeypatch.setattr(flows, "shift_and_log_scale", lambda *a: passes.append(1) or step(*a))
    z = np.random.default_rng(0).normal(size=(5, 4)).astype("float32") * 2
    np.testing.assert_allclose(prior.distribution().log_prob(z).numpy(),
                               _log_normal(z, 0.0, 1.0).sum(-1), rtol=1e-5)
    assert len(passes) == 3                # TFP's generic log_prob would take two per step


def test_maf_config_round_trip_and_bad_arguments_are_named():
    assert_config_round_trip(priors.MAF(num_steps=3, hidden_units=(32, 16)))
    assert isinstance(priors.get("maf"), priors.MAF)
    with pytest.raises(ValueError, match=r"num_steps.*Received: num_steps=0"):
        priors.MAF(num_steps=0)
    with pytest.raises(ValueError, match=r"hidden_units.*Received: hidden_units=64"):
        priors.MAF(hidden_units=64)
    with pytest.raises(ValueError, match=r"kl='analytic'.*MAF and DiagonalGaussian"):
        tfvae.VAE((28, 28), 2, prior="maf", kl="analytic")


@pytest.mark.slow
def test_maf_prior_model_trains_saves_and_loads(tmp_path, fashion_small):
    import keras

    from tfvae.evaluation import elbo, log_marginal_likelihood

    model = small_vae(latent_dim=3, seed=0, prior=priors.MAF(2, (16, 16)))
    x = fashion_small["x_train"][:256]
    before = [w.numpy().copy() for w in model.prior.weights]
    history = model.fit(x, epochs=2, batch_size=64, verbose=0).history
    assert np.isfinite(history["loss"]).all() and history["loss"][1] < history["loss"][0]
    assert any(np.abs(w.numpy() - b).max() > 0 for w, b in zip(model.prior.weights, before))
    path = tmp_path / "maf.keras"
    model.save(path)
    loaded = keras.models.load_model(path)               # safe_mode on
    assert isinstance(loaded.prior, priors.MAF)
    assert loaded.get_config() == model.get_config()
    z = np.random.default_rng(0).normal(size=(8, 3)).astype("float32")
    np.testing.assert_array_equal(loaded.prior.distribution().log_prob(z).numpy(),
                                  model.prior.distribution().log_prob(z).numpy())
    np.testing.assert_array_equal(np.asarray(loaded.sample(3, seed=4)),
                                  np.asarray(model.sample(3, seed=4)))
    bits = tfvae.datasets.binarize(fashion_small["x_test"][:8], seed=0)
    log_px = log_marginal_likelihood(loaded, bits, num_samples=200, seed=0)
    assert np.isfinite(log_px).all() and log_px.mean() > elbo(loaded, bits, seed=0).mean()
    # A prior saved held loads held: its MADEs, built after the config is read, follow it.
    model.prior.trainable = False
    model.save(path)
    held = keras.models.load_model(path)
    assert not held.prior.trainable and held.prior.trainable_weights == []
    assert len(held.trainable_weights) == len(model.trainable_weights)
