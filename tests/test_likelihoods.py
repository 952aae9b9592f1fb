import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from tests.helpers import assert_config_round_trip
from tfvae import likelihoods

tfd = tfp.distributions


def test_bernoulli_log_prob_matches_closed_form_for_grey_levels():
    logits = np.array([[-2.0, 0.3, 4.0]], "float32")
    x = np.array([[0.0, 0.7, 1.0]], "float32")
    p = 1 / (1 + np.exp(-logits))
    expected = x * np.log(p) + (1 - x) * np.log(1 - p)
    got = likelihoods.Bernoulli().distribution(tf.constant(logits)).log_prob(x).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    np.testing.assert_allclose(likelihoods.Bernoulli().mean(logits), p, rtol=1e-6)


def test_bernoulli_log_prob_and_gradient_hold_for_confident_logits():
    # float64 references: log σ(l) = −log1p(e^−l), log(1 − σ(l)) = −log1p(e^l).
    logits = np.array([-60.0, -17.0, -3.0, 0.0, 3.0, 17.0, 60.0], "float32")
    l64 = logits.astype("float64")
    for value in (0.0, 1.0, 0.25):
        x = np.full_like(logits, value)
        expected = -value * np.logaddexp(0, -l64) - (1 - value) * np.logaddexp(0, l64)
        lt = tf.constant(logits)
        with tf.GradientTape() as tape:
            tape.watch(lt)
            log_p = likelihoods.Bernoulli().distribution(lt).log_prob(x)
        # Within a few float32 ulp of |l| (the logits' own precision).
        np.testing.assert_allclose(log_p.numpy(), expected, rtol=1e-6,
                                   atol=4 * np.spacing(np.abs(logits)).max())
        np.testing.assert_allclose(tape.gradient(log_p, lt).numpy(),
                                   value - 1 / (1 + np.exp(-l64)), atol=1e-6)


def test_gaussian_fixed_scale_log_prob_matches_closed_form():
    mu = np.array([[0.1, -0.4]], "float32")
    x = np.array([[0.5, 0.5]], "float32")
    sigma = 0.3
    expected = -0.5 * ((x - mu) / sigma) ** 2 - np.log(sigma) - 0.5 * np.log(2 * np.pi)
    lik = likelihoods.Gaussian(scale=sigma)
    lik.build((None, 2))
    np.testing.assert_allclose(lik.distribution(tf.constant(mu)).log_prob(x), expected,
                               rtol=1e-5)


def test_gaussian_learned_scale_starts_at_scale_and_gets_gradients():
    lik = likelihoods.get("gaussian_learned")
    lik.build((None, 4))
    assert len(lik.trainable_weights) == 1
    np.testing.assert_allclose(keras.ops.convert_to_numpy(lik.current_scale()),
                               np.ones(4), rtol=1e-4)
    with tf.GradientTape() as tape:
        lp = tf.reduce_sum(lik.distribution(tf.zeros((2, 4))).log_prob(tf.fill((2, 4), 3.0)))
    grad = tape.gradient(lp, lik.trainable_weights[0])
    assert grad is not None and np.all(grad.numpy() > 0)  # far data: widen σ


# Near l = 0 (λ ≈ ½) the normaliser 2 atanh(1 − 2λ)/(1 − 2λ) is 0/0 and TFP
# switches to a Taylor series for λ in (0.499, 0.501), i.e. |l| < 0.004: logits
# on both sides of that switch, and large |l|, where the mass piles up at an end.
CB_LOGITS = (-50.0, -20.0, -10.0, -3.0, -0.5, -4.1e-3, -1e-4, 0.0, 2e-3, 4.1e-3,
             1.0, 4.0, 10.0, 20.0, 50.0)
# Spacing 2.5e-6: the trapezoid rule's error is below 2e-9 even for e^{-50x}.
CB_GRID = np.linspace(0.0, 1.0, 400_001)


def _continuous_bernoulli_density(logit):
    dist = likelihoods.ContinuousBernoulli().distribution(tf.constant(logit, "float32"))
    return np.exp(dist.log_prob(CB_GRID.astype("float32")).numpy().astype("float64"))


@pytest.mark.parametrize("logit", CB_LOGITS)
def test_continuous_bernoulli_density_integrates_to_one(logit):
    # Not divided by its own integral: a wrong normaliser shows here. The
    # float32 log-density (|log p| <= 50 on this grid) is rounded by ~3e-6 at
    # worst, so the integral is 1 within 1e-5.
    integral = np.trapezoid(_continuous_bernoulli_density(logit), CB_GRID)
    assert integral == pytest.approx(1.0, abs=1e-5)


# |l| ≥ 20 saturates σ(l) to 0 or 1 in float32: the mean must still be ~1/|l|
# from the edge there.
@pytest.mark.parametrize("logit", CB_LOGITS)
def test_continuous_bernoulli_mean_is_the_integral_of_x_times_density(logit):
    mean = keras.ops.convert_to_numpy(
        likelihoods.ContinuousBernoulli().mean(tf.constant([logit], "float32")))[0]
    expected = np.trapezoid(CB_GRID * _continuous_bernoulli_density(logit), CB_GRID)
    assert mean == pytest.approx(expected, abs=1e-5)
    if 0.1 < abs(logit) <= 10:
        assert mean == pytest.approx(
            tfd.ContinuousBernoulli(logits=np.float32(logit)).mean().numpy(), rel=1e-4)


@pytest.mark.parametrize("name,cls", [("bernoulli", likelihoods.Bernoulli),
                                      ("gaussian", likelihoods.Gaussian),
                                      ("continuous_bernoulli", likelihoods.ContinuousBernoulli)])
def test_get_by_name(name, cls):
    assert isinstance(likelihoods.get(name), cls)


def test_unknown_likelihood_lists_the_valid_names():
    with pytest.raises(ValueError, match="poisson.*bernoulli.*gaussian_learned"):
        likelihoods.get("poisson")


def test_bernoulli_rejects_pixels_outside_unit_interval():
    with pytest.raises(ValueError, match=r"\[0, 1\].*255"):
        likelihoods.Bernoulli().check_support(np.array([0.0, 128.0, 255.0]))
    likelihoods.Bernoulli().check_support(np.array([0.0, 0.5, 1.0]))


def test_callable_is_wrapped_and_a_non_distribution_is_rejected():
    lik = likelihoods.get(lambda params: tfd.Poisson(log_rate=params))
    assert isinstance(lik, likelihoods.Callable)
    assert isinstance(lik.distribution(tf.zeros((2, 3))), tfd.Poisson)
    bad = likelihoods.get(lambda params: params)
    with pytest.raises(ValueError, match="must return a tfp.distributions.Distribution"):
        bad.distribution(tf.zeros((2, 3)))


def test_invalid_gaussian_scale():
    with pytest.raises(ValueError, match="scale"):
        likelihoods.Gaussian(scale=0.0)


@pytest.mark.parametrize("lik", [likelihoods.Bernoulli(), likelihoods.ContinuousBernoulli(),
                                 likelihoods.Gaussian(scale=0.2, learn_scale=True)])
def test_config_round_trip(lik):
    clone = assert_config_round_trip(lik)
    assert clone.get_config() == lik.get_config()
