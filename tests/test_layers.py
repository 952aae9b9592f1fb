import numpy as np
import pytest
import tensorflow as tf

from tests.helpers import assert_config_round_trip
from tfvae.layers import GaussianPosteriorHead, Sampling, portable_softplus


def test_sampling_statistics_match_loc_and_scale():
    loc = tf.fill((200_000, 1), 2.0)
    scale = tf.fill((200_000, 1), 3.0)
    z = Sampling(seed=0)([loc, scale]).numpy()
    assert z.shape == (200_000, 1)
    assert abs(z.mean() - 2.0) < 0.03
    assert abs(z.std() - 3.0) < 0.03


def test_sampling_gradients_flow_to_loc_and_scale():
    loc = tf.Variable([[0.5, -1.0, 2.0]])
    scale = tf.Variable([[1.0, 0.5, 2.0]])
    layer = Sampling(seed=3)
    with tf.GradientTape() as tape:
        z = layer([loc, scale])
        total = tf.reduce_sum(z)
    d_loc, d_scale = tape.gradient(total, [loc, scale])
    epsilon = (z - loc) / scale
    # z = μ + σ·ε  =>  ∂z/∂μ = 1 and ∂z/∂σ = ε.
    np.testing.assert_allclose(d_loc.numpy(), np.ones((1, 3)))
    np.testing.assert_allclose(d_scale.numpy(), epsilon.numpy(), rtol=1e-5, atol=1e-6)
    assert np.all(d_scale.numpy() != 0)


def test_sampling_is_reproducible_with_a_seed_and_varies_between_calls():
    loc, scale = tf.zeros((4, 2)), tf.ones((4, 2))
    a, b = Sampling(seed=7), Sampling(seed=7)
    first_a, first_b = a([loc, scale]).numpy(), b([loc, scale]).numpy()
    np.testing.assert_array_equal(first_a, first_b)
    assert not np.array_equal(first_a, a([loc, scale]).numpy())


def test_sampling_call_is_loc_plus_scale_times_its_noise():
    loc = tf.constant([[0.5, -1.0, 2.0], [1.0, 0.0, -3.0]])
    scale = tf.constant([[1.0, 0.5, 2.0], [0.1, 3.0, 1.0]])
    a, b, c = Sampling(seed=4), Sampling(seed=4), Sampling(seed=4)
    z = a([loc, scale]).numpy()
    epsilon = b.noise((2, 3)).numpy()  # the same first draw, asked for directly
    np.testing.assert_allclose(z, loc.numpy() + scale.numpy() * epsilon, rtol=1e-6)
    z_again, returned = c([loc, scale], return_noise=True)
    np.testing.assert_array_equal(z_again.numpy(), z)
    np.testing.assert_array_equal(returned.numpy(), epsilon)
    assert c.compute_output_shape(((2, 3), (2, 3)), return_noise=True) == ((2, 3), (2, 3))


def test_sampling_config_round_trip():
    clone = assert_config_round_trip(Sampling(seed=11))
    assert clone.seed == 11


def test_posterior_head_scale_is_positive_and_finite_for_huge_features():
    head = GaussianPosteriorHead(3, min_scale=1e-4)
    loc, scale = head(tf.fill((2, 5), 1e4))
    assert loc.shape == (2, 3) and scale.shape == (2, 3)
    assert np.all(np.isfinite(scale.numpy()))
    assert np.all(scale.numpy() >= 1e-4)
    _, small = head(tf.fill((2, 5), -1e4))
    assert np.all(small.numpy() >= 1e-4) and np.all(np.isfinite(small.numpy()))


def test_portable_softplus_is_log_1_plus_exp_at_any_magnitude():
    x = np.concatenate([np.linspace(-30, 30, 601), [-1e4, -200, -89, 89, 200, 1e4]])
    expected = np.logaddexp(0.0, x)                 # log(1 + eˣ) in float64, numpy's own
    got = portable_softplus(tf.constant(x, tf.float32)).numpy()
    # atol: float32's smallest normal number (e^−89 and below flush to 0).
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=np.finfo(np.float32).tiny)


@pytest.mark.parametrize("training", [True, False])
def test_posterior_head_scale_is_softplus_plus_floor_in_both_modes(training):
    head = GaussianPosteriorHead(2, min_scale=1e-4)
    features = np.array([[0.0], [1.0], [-20.0], [120.0]], "float32")
    head.build(features.shape)
    head.dense.set_weights([np.array([[0.5, -1.0, 1.0, 1.0]], "float32"),
                            np.array([0.0, 0.0, 0.3, -0.2], "float32")])
    loc, scale = head(features, training=training)
    raw = features @ np.array([[1.0, 1.0]]) + np.array([0.3, -0.2])
    np.testing.assert_allclose(loc.numpy(), features * [0.5, -1.0], rtol=1e-6)
    np.testing.assert_allclose(scale.numpy(), np.logaddexp(0.0, raw) + 1e-4, rtol=1e-6)


def test_posterior_head_config_round_trip():
    clone = assert_config_round_trip(GaussianPosteriorHead(4, min_scale=1e-3))
    assert clone.latent_dim == 4 and clone.min_scale == pytest.approx(1e-3)
