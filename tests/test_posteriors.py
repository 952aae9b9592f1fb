"""tfvae.posteriors: the IAF's density against the change-of-variables formula, a grid
integral and exact marginal likelihoods; the Gaussian default; config and refusals.

The references are independent of the code under test: log-determinants by finite
differences of the sample map, normalisation and KL by integrating the density on a
2-d grid, log p(x) of a 2-d latent model by quadrature.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfvae
from tests.helpers import assert_config_round_trip, small_vae, to_numpy
from tfvae import flows, posteriors
from tfvae.evaluation import elbo, log_marginal_likelihood


def _log_normal(x, loc=0.0, scale=1.0):
    """log N(x; loc, scale²) per element, in float64 numpy."""
    x = np.asarray(x, np.float64)
    return -0.5 * ((x - loc) / scale) ** 2 - np.log(scale) - 0.5 * np.log(2 * np.pi)


def _logsumexp(a, axis):
    top = np.max(a, axis=axis, keepdims=True)
    return np.squeeze(top, axis) + np.log(np.sum(np.exp(a - top), axis=axis))


def _randomize(layer, scale=0.5, seed=0):
    """Random weights everywhere: a freshly built IAF is the identity, which hides errors."""
    rng = np.random.default_rng(seed)
    for w in layer.weights:
        w.assign(rng.normal(scale=scale, size=w.shape).astype("float32"))


def _built_iaf(latent_dim, num_steps=2, hidden_units=(8, 8), features=5, seed=0):
    iaf = posteriors.IAF(num_steps=num_steps, hidden_units=hidden_units)
    iaf.build(latent_dim, (None, features))
    _randomize(iaf, seed=seed)
    return iaf


def _inputs(n, d, features=5, seed=1):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, d)).astype("float32"),                   # loc
            rng.uniform(0.5, 1.5, size=(n, d)).astype("float32"),        # scale
            rng.normal(size=(n, features)).astype("float32"))            # features


def _grid(half_width, n):
    axis = np.linspace(-half_width, half_width, n)
    za, zb = np.meshgrid(axis, axis, indexing="ij")
    return np.stack([za.ravel(), zb.ravel()], -1).astype("float32"), (axis[1] - axis[0]) ** 2


# ---- the density: change of variables, triangular Jacobian, normalisation ---------


def test_iaf_log_q_is_the_change_of_variables_formula_in_2d():
    iaf = _built_iaf(2)
    loc, scale, features = _inputs(4, 2)
    eps = np.random.default_rng(2).normal(size=(4, 2))

    def sample(e):
        return to_numpy(iaf.sample_and_log_prob(loc, scale, e.astype("float32"), features)[0])

    z, log_q = (to_numpy(t) for t in iaf.sample_and_log_prob(loc, scale,
                                                             eps.astype("float32"), features))
    # Reference: z0 = μ + σ·ε, so log q(z) = log N(z0; μ, σ²) − log|det ∂z/∂z0|
    # = Σ log φ(ε) − log|det ∂z/∂ε|, the Jacobian by central differences.
    h = 1e-2
    step = h * np.eye(2)
    jacobian = np.stack([(sample(eps + step[j]) - sample(eps - step[j])) / (2 * h)
                         for j in range(2)], axis=-1)                     # ∂z_i/∂ε_j
    sign, log_det = np.linalg.slogdet(jacobian.astype("float64"))
    reference = _log_normal(eps).sum(-1) - log_det
    assert (sign == -1).all()       # the coordinates are reversed once between the 2 steps
    np.testing.assert_allclose(log_q, reference, atol=2e-3)
    # The flow moved the sample: the test is not the Gaussian's.
    assert np.abs(z - (loc + scale * eps)).max() > 0.1
    assert np.abs(log_q - (_log_normal(eps) - np.log(scale)).sum(-1)).max() > 0.1
    # The tfp distribution inverts the flow exactly at its own sample.
    q = iaf.distribution(loc, scale, features)
    assert q.event_shape == [2] and q.batch_shape == [4]
    np.testing.assert_allclose(to_numpy(q.log_prob(z)), log_q, atol=1e-4)


def test_one_iaf_step_has_a_triangular_jacobian_with_the_scales_on_its_diagonal():
    iaf = _built_iaf(4, num_steps=1, hidden_units=(12,))
    loc, scale, features = _inputs(3, 4)
    eps = tf.constant(np.random.default_rng(3).normal(size=(3, 4)), tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(eps)
        z, log_q = iaf.sample_and_log_prob(loc, scale, eps, features)
    jacobian = to_numpy(tape.batch_jacobian(z, eps)) / scale[:, None, :]  # ∂z/∂z0
    # Output i depends on z0_1..z0_i only: the MADE is autoregressive.
    assert np.abs(np.triu(jacobian, k=1)).max() == 0.0
    assert np.abs(np.tril(jacobian, k=-1)).max() > 1e-3
    diagonal = np.diagonal(jacobian, axis1=1, axis2=2)
    base = (_log_normal(to_numpy(eps)) - np.log(scale)).sum(-1)
    np.testing.assert_allclose(to_numpy(log_q), base - np.log(diagonal).sum(-1), atol=1e-4)
    # The scale s = sigmoid(g + 2)/sigmoid(2) of every step is bounded by 1/sigmoid(2).
    assert (diagonal > 0).all() and (diagonal < 1.0 / (1 / (1 + np.exp(-2.0)))).all()


def test_iaf_density_integrates_to_one_on_a_grid():
    iaf = _built_iaf(2)
    loc, scale, features = _inputs(2, 2)
    grid, area = _grid(10.0, 501)
    q = iaf.distribution(loc[:, None], scale[:, None], features[:, None])  # batch (2, 1)
    density = np.exp(to_numpy(q.log_prob(grid[None])).astype("float64"))   # (2, grid)
    np.testing.assert_allclose(density.sum(-1) * area, [1.0, 1.0], atol=2e-3)


def test_an_untrained_iaf_is_the_identity_so_its_model_is_the_gaussian_one():
    iaf = posteriors.IAF(num_steps=3, hidden_units=(16,))
    iaf.build(3, (None, 5))
    loc, scale, features = _inputs(6, 3)
    eps = np.random.default_rng(4).normal(size=(6, 3)).astype("float32")
    z, log_q = iaf.sample_and_log_prob(loc, scale, eps, features)
    z0, log_q0 = posteriors.DiagonalGaussian().sample_and_log_prob(loc, scale, eps, features)
    np.testing.assert_array_equal(to_numpy(z), to_numpy(z0))
    np.testing.assert_allclose(to_numpy(log_q), to_numpy(log_q0), atol=1e-6)


# ---- in the model: KL, importance sampling, training ------------------------------


def _iaf_vae(seed=0, **kwargs):
    model = tfvae.VAE((6,), 2, hidden_units=(8,), seed=seed,
                      posterior=posteriors.IAF(2, (8, 8)), **kwargs)
    _randomize(model.posterior, scale=0.4, seed=seed)
    return model


def test_monte_carlo_kl_of_the_flow_matches_a_grid_integral():
    model = _iaf_vae()
    assert model.kl_mode == "mc"
    x = (np.random.default_rng(0).uniform(size=(1, 6)) > 0.5).astype("float32")
    # Reference: KL(q ‖ N(0, I)) = ∫ q (log q − log p) dz with q's exact density.
    grid, area = _grid(9.0, 451)
    log_q = to_numpy(model.encode(x).log_prob(grid[:, None])).astype("float64")[:, 0]
    log_p = _log_normal(grid).sum(-1)
    reference = np.sum(np.exp(log_q) * (log_q - log_p)) * area
    _, kl = model.elbo_terms(np.repeat(x, 20000, axis=0))
    kl = to_numpy(kl).astype("float64")
    stderr = kl.std() / np.sqrt(len(kl))
    assert stderr < 0.02
    assert abs(kl.mean() - reference) < 4 * stderr


def _quadrature_log_px(model, x):
    """log p(x) = log ∫ p(x|z) N(z; 0, I) dz on a 2-d grid: exact for a tiny model."""
    grid, area = _grid(7.0, 281)
    decoded = model.decode(grid)
    log_joint = np.stack([to_numpy(decoded.log_prob(np.broadcast_to(row, (len(grid), 6))))
                          for row in x]).astype("float64") + _log_normal(grid).sum(-1)
    return _logsumexp(log_joint, axis=-1) + np.log(area)


def _set_scale(model, scale):
    """σ(x) = `scale` for every x: the posterior head's scale half becomes a constant."""
    kernel, bias = model.posterior_head.dense.get_weights()
    kernel[:, 2:], bias[2:] = 0.0, np.log(np.expm1(scale))
    model.posterior_head.dense.set_weights([kernel, bias])


def test_importance_sampling_with_the_flow_as_proposal_recovers_log_px():
    model = _iaf_vae()
    x = (np.random.default_rng(1).uniform(size=(6, 6)) > 0.5).astype("float32")
    model.fit(np.tile(x, (20, 1)), epochs=3, batch_size=20, verbose=0)
    # A flow that contracts each coordinate by ~0.57 per step (E log|det| ≈ −2.3 nats)
    # on a wide base: a proposal wider than the posterior (finite-variance weights)
    # whose log q is wrong by nats if the log-determinant is.
    _randomize(model.posterior, scale=0.3, seed=5)
    for made in model.posterior.steps:
        made.output_bias.assign(np.r_[made.output_bias.numpy()[:2], -2.0, -2.0])
    _set_scale(model, 3.5)
    exact = _quadrature_log_px(model, x)
    with_flow = log_marginal_likelihood(model, x, num_samples=5000, seed=0)
    np.testing.assert_allclose(with_flow, exact, atol=0.04)
    # The same decoder and prior with a Gaussian proposal, N(μ(x), 1.3²).
    gaussian = tfvae.VAE((6,), 2, hidden_units=(8,), seed=0)
    for name in ("encoder", "decoder", "posterior_head"):
        getattr(gaussian, name).set_weights(getattr(model, name).get_weights())
    _set_scale(gaussian, 1.3)
    with_gaussian = log_marginal_likelihood(gaussian, x, num_samples=20000, seed=0)
    np.testing.assert_allclose(with_gaussian, exact, atol=0.04)
    np.testing.assert_allclose(with_flow, with_gaussian, atol=0.06)
    bound = elbo(model, x, num_samples=2000, seed=0)
    assert (bound < with_flow).all() and (with_flow - bound).mean() > 0.1


@pytest.mark.slow
def test_iaf_model_trains_saves_and_loads(tmp_path, fashion_small):
    model = small_vae(latent_dim=3, seed=0, posterior=posteriors.IAF(2, (16, 16)))
    x = fashion_small["x_train"][:256]
    before = [w.numpy().copy() for w in model.posterior.weights]
    history = model.fit(x, epochs=2, batch_size=64, verbose=0).history
    assert np.isfinite(history["loss"]).all() and history["loss"][1] < history["loss"][0]
    assert any(np.abs(w.numpy() - b).max() > 0 for w, b in zip(model.posterior.weights, before))
    path = tmp_path / "iaf.keras"
    model.save(path)
    loaded = keras.models.load_model(path)              # safe_mode on
    assert isinstance(loaded.posterior, posteriors.IAF)
    assert loaded.get_config() == model.get_config()
    z = to_numpy(model.encode(x[:4]).sample(seed=tf.constant([1, 2])))
    np.testing.assert_allclose(to_numpy(loaded.encode(x[:4]).log_prob(z)),
                               to_numpy(model.encode(x[:4]).log_prob(z)), rtol=1e-6)
    np.testing.assert_array_equal(to_numpy(loaded.reconstruct(x[:4])),
                                  to_numpy(model.reconstruct(x[:4])))
    assert len(loaded.weights) == len(model.weights)


def test_gaussian_posterior_is_the_default_and_keeps_the_closed_form_kl():
    model = small_vae(kl="auto")
    assert isinstance(model.posterior, posteriors.DiagonalGaussian) and model.kl_mode == "analytic"
    assert model.get_config()["posterior"]["class_name"] == "DiagonalGaussian"
    # A config without the key (a model saved before posteriors existed) is Gaussian.
    config = model.get_config()
    del config["posterior"]
    assert isinstance(tfvae.VAE.from_config(config).posterior, posteriors.DiagonalGaussian)
    # The Gaussian's q(z|x) and latent code are N(μ, σ²) and μ.
    x = np.random.default_rng(0).uniform(size=(3, 28, 28)).astype("float32")
    loc, scale = (to_numpy(t) for t in model.posterior_params(x))
    q = model.encode(x)
    np.testing.assert_array_equal(to_numpy(q.mean()), loc)
    np.testing.assert_array_equal(to_numpy(q.stddev()), scale)
    np.testing.assert_array_equal(to_numpy(model.latent_code(x)), loc)


def test_config_round_trips_and_bad_arguments_are_named():
    assert_config_round_trip(posteriors.IAF(num_steps=3, hidden_units=(32, 16)))
    assert_config_round_trip(posteriors.DiagonalGaussian())
    assert_config_round_trip(flows.MADE(3, (8,)))
    made = flows.MADE(3, (8,))
    made.build()                                          # no context: the MAF prior's
    assert made.context_kernel is None and len(made.weights) == 4
    with pytest.raises(ValueError, match=r"built without a context.*Received: context=\(2, 5\)"):
        made(np.zeros((2, 3), "float32"), np.zeros((2, 5), "float32"))
    with pytest.raises(ValueError, match=r"num_steps.*Received: num_steps=0"):
        posteriors.IAF(num_steps=0)
    with pytest.raises(ValueError, match=r"hidden_units.*Received: hidden_units=64"):
        posteriors.IAF(hidden_units=64)
    with pytest.raises(ValueError, match=r"Unrecognized posterior='realnvp'.*'gaussian', 'iaf'"):
        tfvae.VAE((28, 28), 2, posterior="realnvp")
    with pytest.raises(ValueError, match=r"kl='analytic'.*StandardNormal and IAF"):
        tfvae.VAE((28, 28), 2, posterior="iaf", kl="analytic")
    used = posteriors.IAF(1, (8,))
    small_vae(latent_dim=3, posterior=used)
    with pytest.raises(ValueError, match="built for latent_dim=3"):
        small_vae(latent_dim=2, posterior=used)
    assert isinstance(posteriors.get("IAF"), posteriors.IAF)
