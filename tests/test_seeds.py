"""Seeds: every public `seed=` gives the same draw for the same seed, a new
one for another seed, and fresh draws for `seed=None`."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from exporters.tflite import representative_inputs
from tests.helpers import small_vae, to_numpy
from tfvae import plots, priors
from tfvae.layers import Sampling, stateless_seed


def _ks_statistic_vs_standard_normal(values):
    """Kolmogorov-Smirnov distance between the sample and N(0, 1) (CDF via math.erf)."""
    x = np.sort(np.ravel(values).astype(np.float64))
    cdf = 0.5 * (1.0 + np.array([math.erf(v / math.sqrt(2.0)) for v in x]))
    n = len(x)
    return max(np.max(np.arange(1, n + 1) / n - cdf), np.max(cdf - np.arange(n) / n))


@pytest.fixture(scope="module")
def model():
    vae = small_vae(seed=0)
    vae.build()
    return vae


@pytest.mark.parametrize("prior", ["standard_normal", "mixture"])
def test_sample_is_reproducible_for_an_int_seed(prior):
    kwargs = {} if prior == "standard_normal" else {
        "prior": priors.MixtureOfGaussians(num_components=3, seed=0)}
    vae = small_vae(seed=0, **kwargs)
    vae.build()
    first, again = to_numpy(vae.sample(6, seed=1)), to_numpy(vae.sample(6, seed=1))
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, to_numpy(vae.sample(6, seed=2)))
    assert not np.allclose(to_numpy(vae.sample(6)), to_numpy(vae.sample(6)))


def test_sample_decodes_a_standard_normal_draw(model):
    # The prior draw behind `sample(n, seed)` is N(0, I): moments and the
    # Kolmogorov-Smirnov distance to the normal CDF (math.erf) on many draws.
    z = model.prior.distribution().sample(20_000, seed=stateless_seed(5)).numpy()
    assert abs(z.mean()) < 0.03 and abs(z.std() - 1.0) < 0.03
    assert _ks_statistic_vs_standard_normal(z[:, 0]) < 0.02
    # And `sample` returns the decoder's mean at that draw.
    z4 = model.prior.distribution().sample(4, seed=stateless_seed(5))
    np.testing.assert_allclose(to_numpy(model.sample(4, seed=5)),
                               to_numpy(model.decode_mean(z4)), rtol=1e-6, atol=1e-7)


def test_save_sample_grid_is_reproducible(model, tmp_path):
    import matplotlib.image

    a = plots.save_sample_grid(model, tmp_path / "a.png", n=9, seed=3)
    b = plots.save_sample_grid(model, tmp_path / "b.png", n=9, seed=3)
    c = plots.save_sample_grid(model, tmp_path / "c.png", n=9, seed=4)
    image_a, image_b = matplotlib.image.imread(a), matplotlib.image.imread(b)
    np.testing.assert_array_equal(image_a, image_b)
    assert not np.array_equal(image_a, matplotlib.image.imread(c))


def test_tflite_representative_inputs_are_reproducible(model, fashion_small):
    data = fashion_small["x_train"][:16]

    def rows(seed):
        return np.concatenate([r["z"] for r in representative_inputs(
            model, "decoder", data, seed=seed, num_samples=32)])

    np.testing.assert_array_equal(rows(0), rows(0))
    assert not np.allclose(rows(0), rows(1))
    assert rows(0).shape == (48, 2)


def test_stateless_seed_maps_ints_to_fixed_int32_pairs():
    a, b = stateless_seed(7), stateless_seed(7)
    assert a.dtype == tf.int32 and a.shape == (2,)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert not np.array_equal(a.numpy(), stateless_seed(8).numpy())
    # Any size of Python int, and a ready stateless seed passes through.
    assert stateless_seed(2**70).shape == (2,)
    np.testing.assert_array_equal(stateless_seed(tf.constant([3, 4])).numpy(), [3, 4])
    np.testing.assert_array_equal(stateless_seed(np.array([3, 4], np.int64)).numpy(), [3, 4])


def test_stateless_seed_none_is_fresh_but_follows_the_global_seed():
    assert not np.array_equal(stateless_seed(None).numpy(), stateless_seed(None).numpy())
    keras.utils.set_random_seed(5)
    first = stateless_seed(None).numpy()
    keras.utils.set_random_seed(5)
    np.testing.assert_array_equal(stateless_seed(None).numpy(), first)


@pytest.mark.parametrize("seed", [-1, True, 1.5, "0", [1, 2, 3], np.zeros((2, 2), int),
                                  np.array([1.0, 2.0])])
def test_stateless_seed_rejects_bad_seeds(seed):
    with pytest.raises(ValueError, match=r"Received an invalid value for `seed`.*Received: seed="):
        stateless_seed(seed)


def test_model_sample_rejects_a_bad_seed(model):
    with pytest.raises(ValueError, match="seed=-3"):
        model.sample(2, seed=-3)


def _noise(seed, mode):
    """Two successive ε from a fresh `Sampling(seed)` layer, drawn eagerly,
    in a tf.function or under XLA."""
    layer = Sampling(seed=seed)
    draw = layer.noise if mode == "eager" else tf.function(
        layer.noise, jit_compile=(mode == "xla"))
    return [draw((500, 4)).numpy() for _ in range(2)]


@pytest.mark.parametrize("mode", [
    "eager", "function", pytest.param("xla", marks=pytest.mark.slow)])
def test_sampling_noise_is_standard_normal_and_reproducible(mode):
    first, second = _noise(9, mode)
    # Successive draws are new noise; each is N(0, 1).
    assert not np.allclose(first, second)
    for eps in (first, second):
        assert abs(eps.mean()) < 4 / math.sqrt(eps.size)
        assert abs(eps.std() - 1.0) < 0.05
        assert _ks_statistic_vs_standard_normal(eps) < 0.04
    # A fresh layer with the same seed replays the sequence; another seed does not.
    again = _noise(9, mode)
    np.testing.assert_array_equal(again[0], first)
    np.testing.assert_array_equal(again[1], second)
    assert not np.allclose(_noise(10, mode)[0], first)


def test_sampling_noise_is_the_same_eagerly_and_traced():
    # XLA's stateless generator is not TensorFlow's kernel (it gives other,
    # equally reproducible numbers), so only these two can agree.
    for eager, traced in zip(_noise(9, "eager"), _noise(9, "function")):
        np.testing.assert_array_equal(eager, traced)


def test_iwae_weights_without_a_seed_use_the_sampling_noise(fashion_small):
    x = fashion_small["x_test"][:3]
    a, b = small_vae(seed=2), small_vae(seed=2)
    a.build()
    b.build()
    b.set_weights(a.get_weights())
    log_px_z, log_pz, log_qz = a.log_importance_weights(x, 5)
    # Replay: the same draw from an identically seeded layer gives z directly.
    q = b.encode(x).distribution
    eps = b.sampling.noise((5, 3, 2)).numpy()
    z = q.loc.numpy() + q.scale.numpy() * eps
    expected = -0.5 * (z ** 2).sum(-1) - z.shape[-1] / 2 * math.log(2 * math.pi)
    np.testing.assert_allclose(log_pz.numpy(), expected, rtol=1e-5)
    # The next call draws new noise.
    assert not np.allclose(a.log_importance_weights(x, 5)[1].numpy(), log_pz.numpy())


def _fit(x, jit_compile, steps_per_execution):
    keras.utils.set_random_seed(0)  # the same initial weights
    vae = small_vae(seed=3, kl="analytic")
    vae.compile(optimizer=keras.optimizers.SGD(1e-3), jit_compile=jit_compile,
                steps_per_execution=steps_per_execution)
    vae.build()
    start = vae.sampling.seed_generator.state.numpy().copy()
    history = vae.fit(x, batch_size=32, epochs=2, shuffle=False, verbose=0)
    return vae, start, history.history["loss"]


@pytest.mark.parametrize("jit_compile", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_fit_draws_new_reproducible_noise_every_step(fashion_small, jit_compile):
    x = fashion_small["x_train"][:256]
    one, start, loss = _fit(x, jit_compile, 1)
    assert one.jit_compile is jit_compile
    assert np.all(np.isfinite(loss)) and loss[-1] < loss[0]
    # One draw per step: 2 epochs × 8 batches advance the seed by 16.
    np.testing.assert_array_equal(one.sampling.seed_generator.state.numpy(), start + [0, 16])
    # Several steps per execution (a loop inside one tf.function) consume the
    # same seeds in the same order, so training is the same.
    two, _, loss_two = _fit(x, jit_compile, 2)
    np.testing.assert_allclose(loss_two, loss, rtol=1e-6)
    for a, b in zip(one.get_weights(), two.get_weights()):
        np.testing.assert_allclose(b, a, atol=1e-6)


def test_saved_model_continues_the_noise_sequence_where_it_stopped(tmp_path):
    # A resumed run must draw the noise the uninterrupted run would have
    # drawn next, not replay the draws from the start of training.
    vae = small_vae(seed=3)
    vae.build()
    first = to_numpy(vae.sampling.noise((5, 2)))
    path = tmp_path / "m.keras"
    vae.save(path)
    expected_next = to_numpy(vae.sampling.noise((5, 2)))
    restored = keras.models.load_model(path)
    resumed_next = to_numpy(restored.sampling.noise((5, 2)))
    np.testing.assert_array_equal(resumed_next, expected_next)
    assert not np.allclose(resumed_next, first)
    weights = tmp_path / "m.weights.h5"
    vae.save_weights(weights)
    again = small_vae(seed=3)
    again.build()
    again.load_weights(weights)
    np.testing.assert_array_equal(to_numpy(again.sampling.noise((5, 2))),
                                  to_numpy(vae.sampling.noise((5, 2))))
