"""Importance-sampled log p(x), IWAE bounds, diagnostics and model comparison.

The reference is probabilistic PCA: a linear-Gaussian VAE whose evidence has a
closed form, p(x) = N(x; b, W Wᵀ + σ² I), and whose true posterior is known:
p(z|x) = N(M⁻¹Wᵀ(x − b), σ² M⁻¹), M = WᵀW + σ² I.
"""

import math

import keras
import numpy as np
import pytest

import tfvae
from tfvae import evaluation

D, L = 5, 2


def ppca(sigma=0.5, loc_shift=0.0, scale_factor=1.0, **kwargs):
    """A pPCA VAE, its (W, b) and an encoder set to a (perturbed) true posterior."""
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.normal(size=(D, L)))
    w = q * np.array([2.0, 1.0])              # orthogonal columns: WᵀW is diagonal
    b = rng.normal(size=D)
    model = tfvae.VAE((D,), L, encoder=keras.layers.Identity(),
                      decoder=keras.Sequential([keras.Input((L,)), keras.layers.Dense(D)]),
                      likelihood=tfvae.likelihoods.Gaussian(scale=sigma), **kwargs)
    model.decoder.layers[-1].set_weights([w.T.astype("float32"), b.astype("float32")])
    m = w.T @ w + sigma ** 2 * np.eye(L)
    loc_kernel = w @ np.linalg.inv(m)                       # loc = (x − b)ᵀ W M⁻¹
    std = sigma / np.sqrt(np.diag(m)) * scale_factor
    raw = np.log(np.expm1(std - model.posterior_head.min_scale))
    kernel = np.concatenate([loc_kernel, np.zeros((D, L))], axis=1)
    bias = np.concatenate([-b @ loc_kernel + loc_shift, raw])
    model.posterior_head.dense.set_weights([kernel.astype("float32"), bias.astype("float32")])
    return model, w, b


def exact_log_px(x, w, b, sigma):
    cov = w @ w.T + sigma ** 2 * np.eye(D)
    diff = x - b
    _, logdet = np.linalg.slogdet(cov)
    maha = np.einsum("nd,de,ne->n", diff, np.linalg.inv(cov), diff)
    return -0.5 * (maha + logdet + D * math.log(2 * math.pi))


def ppca_data(w, b, sigma, n, seed=1):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, L)) @ w.T + b + sigma * rng.normal(size=(n, D))).astype("float32")


def test_exact_posterior_proposal_gives_log_px_with_one_sample():
    model, w, b = ppca()
    x = ppca_data(w, b, 0.5, 30)
    estimate = evaluation.log_marginal_likelihood(model, x, num_samples=1, seed=0)
    assert estimate.dtype == np.float64 and estimate.shape == (30,)
    np.testing.assert_allclose(estimate, exact_log_px(x, w, b, 0.5), atol=2e-3)


def test_k5000_estimate_is_within_005_nats_with_an_imperfect_proposal():
    model, w, b = ppca(loc_shift=0.1, scale_factor=1.4)
    x = ppca_data(w, b, 0.5, 20)
    exact = exact_log_px(x, w, b, 0.5)
    assert np.mean(evaluation.elbo(model, x, num_samples=20)) < exact.mean() - 0.1  # imperfect
    estimate = model.log_marginal_likelihood(x, num_samples=5000, batch_size=7,
                                             chunk_size=800, seed=0)
    np.testing.assert_array_less(np.abs(estimate - exact), 0.05)


def test_bounds_are_ordered_elbo_iwae1_iwae50_iwae5000_log_px():
    model, w, b = ppca(loc_shift=0.2, scale_factor=0.7)
    x = ppca_data(w, b, 0.5, 100)
    exact = exact_log_px(x, w, b, 0.5).mean()
    reps = np.repeat(x, 100, axis=0)                   # 10,000 draws: s.e. ≈ 0.012 nats
    lower = evaluation.elbo(model, reps, batch_size=1000).mean()
    iwae1 = evaluation.iwae_bound(model, reps, 1, batch_size=1000, seed=0).mean()
    iwae50 = evaluation.iwae_bound(model, x, 50, seed=0).mean()
    iwae5000 = evaluation.iwae_bound(model, x, 5000, seed=0).mean()
    assert abs(iwae1 - lower) < 0.06                   # IWAE_1 is the ELBO in expectation
    assert lower < exact - 0.3                         # a real gap to close
    assert lower + 0.2 < iwae50 < iwae5000 < exact + 0.01
    assert abs(iwae5000 - exact) < 0.05


def test_model_elbo_is_below_exact_and_both_elbo_forms_agree():
    model, w, b = ppca(loc_shift=0.2, scale_factor=0.7)
    x = ppca_data(w, b, 0.5, 50)
    reps = np.repeat(x, 400, axis=0)                   # many z samples per example
    reconstruction, kl = model.elbo_terms(reps)
    analytic_form = float(np.mean(reconstruction) - np.mean(kl))
    log_px_z, log_pz, log_qz = model.log_importance_weights(reps, 1)
    joint_form = float(np.mean(log_px_z + log_pz - log_qz))
    assert abs(analytic_form - joint_form) < 0.045             # s.e. ≈ 0.012
    assert analytic_form < exact_log_px(x, w, b, 0.5).mean()


def test_iwae_objective_with_one_sample_is_the_elbo_in_expectation():
    elbo_model, w, b = ppca(loc_shift=0.2, scale_factor=0.7)
    iwae_model, _, _ = ppca(loc_shift=0.2, scale_factor=0.7, objective="iwae", num_samples=1)
    reps = np.repeat(ppca_data(w, b, 0.5, 20), 1000, axis=0)
    elbo_loss = float(np.mean(elbo_model._objective(reps)[0]))
    iwae_loss = float(np.mean(iwae_model._objective(reps)[0]))
    assert abs(elbo_loss - iwae_loss) < 0.04
    iwae5_loss = float(np.mean(ppca(loc_shift=0.2, scale_factor=0.7, objective="iwae",
                                    num_samples=5)[0]._objective(reps)[0]))
    assert iwae5_loss < elbo_loss - 0.1                 # a tighter bound, a lower loss


def test_iwae_objective_trains_and_evaluate_reports_the_bound(fashion_small):
    x = fashion_small["x_train"][:512]
    model = tfvae.VAE((28, 28), 4, hidden_units=(64,), objective="iwae", num_samples=5, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    history = model.fit(x, epochs=3, batch_size=64, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < losses[0] - 5
    result = model.evaluate(x[:128], verbose=0, return_dict=True)
    assert result["iwae"] >= result["elbo"] - 0.5
    assert abs(result["loss"] + result["iwae"]) < 1e-3       # beta = 1
    elbo_model = tfvae.VAE((28, 28), 4, hidden_units=(64,), num_samples=10)
    assert "iwae" in elbo_model.evaluate(x[:128], verbose=0, return_dict=True)
    assert "iwae" not in tfvae.VAE((28, 28), 4, hidden_units=(64,)).evaluate(
        x[:128], verbose=0, return_dict=True)


def test_objective_and_num_samples_round_trip_and_are_validated(tmp_path):
    model, _, _ = ppca(objective="iwae", num_samples=3)
    config = model.get_config()
    assert config["objective"] == "iwae" and config["num_samples"] == 3
    with pytest.raises(ValueError, match="objective='vimco'"):
        tfvae.VAE((D,), L, objective="vimco")
    with pytest.raises(ValueError, match="num_samples=0"):
        tfvae.VAE((D,), L, num_samples=0)
    vae = tfvae.VAE((D,), L, hidden_units=(8,), likelihood="gaussian",
                    objective="iwae", num_samples=4)
    path = str(tmp_path / "iwae.keras")
    vae.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.objective == "iwae" and loaded.num_samples == 4


def test_bad_input_is_a_value_error():
    model, w, b = ppca()
    x = ppca_data(w, b, 0.5, 4)
    with pytest.raises(ValueError, match="num_samples"):
        evaluation.log_marginal_likelihood(model, x, num_samples=0)
    with pytest.raises(ValueError, match="shape"):
        evaluation.log_marginal_likelihood(model, x[:, :3])
    bad = x.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        model.log_marginal_likelihood(bad, num_samples=10)
    with pytest.raises(ValueError, match="names"):
        evaluation.compare([model, model], x, num_samples=2, names=["a"])


def test_seed_makes_the_estimate_reproducible():
    model, w, b = ppca(scale_factor=1.5)
    x = ppca_data(w, b, 0.5, 9)
    first = evaluation.log_marginal_likelihood(model, x, 300, batch_size=4, chunk_size=64, seed=3)
    again = evaluation.log_marginal_likelihood(model, x, 300, batch_size=4, chunk_size=64, seed=3)
    other = evaluation.log_marginal_likelihood(model, x, 300, batch_size=4, chunk_size=64, seed=4)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_per_latent_kl_and_active_units():
    model, w, b = ppca(loc_shift=0.2, scale_factor=0.7)
    x = ppca_data(w, b, 0.5, 200)
    q = model.encode(x).distribution
    mu, s = np.asarray(q.loc, np.float64), np.asarray(q.scale, np.float64)
    expected = np.mean(0.5 * (mu ** 2 + s ** 2 - 1) - np.log(s), axis=0)
    np.testing.assert_allclose(evaluation.per_latent_kl(model, x), expected, rtol=1e-4)
    assert evaluation.active_units(model, x) == 2
    kernel, bias = model.posterior_head.dense.get_weights()
    kernel[:, 1] = 0.0                                  # latent 1 ignores x
    model.posterior_head.dense.set_weights([kernel, bias])
    assert evaluation.active_units(model, x) == 1
    assert evaluation.active_units(model, x, threshold=1e9) == 0


def test_compare_prefers_the_true_noise_level():
    true_model, w, b = ppca(sigma=0.5, scale_factor=1.2)
    wrong_model, _, _ = ppca(sigma=1.0, scale_factor=1.2)
    x = ppca_data(w, b, 0.5, 60)
    result = evaluation.compare([wrong_model, true_model], x, num_samples=2000,
                                names=["sigma=1.0", "sigma=0.5"], seed=0, elbo_samples=50)
    assert result.preferred == "sigma=0.5"
    rows = {m.name: m for m in result.models}
    for name, sigma in (("sigma=0.5", 0.5), ("sigma=1.0", 1.0)):
        exact = exact_log_px(x, w, b, sigma)
        assert abs(rows[name].log_evidence - exact.sum()) < 0.05 * len(x)
        assert rows[name].gap > -0.1                 # ELBO ≤ log p(x), up to noise
        assert 0 < rows[name].stderr < np.std(exact) / math.sqrt(len(x)) * 1.5
    assert result.log_bayes_factors()["sigma=0.5"] == 0.0
    table = str(result)
    assert "| sigma=0.5 |" in table and "Preferred: sigma=0.5" in table


def test_compare_across_likelihoods_and_latent_sizes(fashion_small):
    x = fashion_small["x_test"][:40]
    models = [tfvae.VAE((28, 28), 2, hidden_units=(32,)),
              tfvae.VAE((28, 28), 5, hidden_units=(32,), likelihood="continuous_bernoulli")]
    result = evaluation.compare(models, x, num_samples=20)
    assert [m.name for m in result.models] == ["model_0", "model_1"]
    assert all(np.isfinite(m.log_evidence) and m.num_examples == 40 for m in result.models)
    assert result.preferred in ("model_0", "model_1")
    assert "| model_0 |" in result.to_markdown()
