import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from tests.helpers import assert_config_round_trip
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
