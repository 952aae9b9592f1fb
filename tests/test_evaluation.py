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


def ppca(sigma=0.5, loc_shift=0.0, scale_factor=1.0, w=None, b=None, **kwargs):
    """A pPCA VAE, its (W, b) and an encoder set to a (perturbed) true posterior.

    W defaults to orthogonal columns of norms 2 and 1 (WᵀW diagonal, as the
    diagonal posterior head needs); a given W must have orthogonal columns too.
    """
    rng = np.random.default_rng(0)
    if w is None:
        q, _ = np.linalg.qr(rng.normal(size=(D, L)))
        w = q * np.array([2.0, 1.0])
        b = rng.normal(size=D)
    D_, L_ = w.shape
    model = tfvae.VAE((D_,), L_, encoder=keras.layers.Identity(),
                      decoder=keras.Sequential([keras.Input((L_,)), keras.layers.Dense(D_)]),
                      likelihood=tfvae.likelihoods.Gaussian(scale=sigma), **kwargs)
    model.decoder.layers[-1].set_weights([w.T.astype("float32"), b.astype("float32")])
    m = w.T @ w + sigma ** 2 * np.eye(L_)
    loc_kernel = w @ np.linalg.inv(m)                       # loc = (x − b)ᵀ W M⁻¹
    std = sigma / np.sqrt(np.diag(m)) * scale_factor
    raw = np.log(np.expm1(std - model.posterior_head.min_scale))
    kernel = np.concatenate([loc_kernel, np.zeros((D_, L_))], axis=1)
    bias = np.concatenate([-b @ loc_kernel + loc_shift, raw])
    model.posterior_head.dense.set_weights([kernel.astype("float32"), bias.astype("float32")])
    return model, w, b


def exact_log_px(x, w, b, sigma):
    d = w.shape[0]
    cov = w @ w.T + sigma ** 2 * np.eye(d)
    diff = x - b
    _, logdet = np.linalg.slogdet(cov)
    maha = np.einsum("nd,de,ne->n", diff, np.linalg.inv(cov), diff)
    return -0.5 * (maha + logdet + d * math.log(2 * math.pi))


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
    estimate = evaluation.log_marginal_likelihood(model, x, num_samples=5000, batch_size=7,
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
    elbo_loss = float(np.mean(elbo_model.objective_terms(reps)[0]))
    iwae_loss = float(np.mean(iwae_model.objective_terms(reps)[0]))
    assert abs(elbo_loss - iwae_loss) < 0.04
    iwae5_loss = float(np.mean(ppca(loc_shift=0.2, scale_factor=0.7, objective="iwae",
                                    num_samples=5)[0].objective_terms(reps)[0]))
    assert iwae5_loss < elbo_loss - 0.1                 # a tighter bound, a lower loss


@pytest.mark.slow
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


def test_an_objective_or_k_set_between_fits_is_what_fit_and_evaluate_then_use(tmp_path):
    model, w, b = ppca(loc_shift=0.2, scale_factor=0.7, seed=0)   # ELBO, k = 1
    model.compile(optimizer=keras.optimizers.SGD(0.0))      # the weights stay the pPCA's
    x = np.repeat(ppca_data(w, b, 0.5, 100), 100, axis=0)   # 10,000 draws: s.e. ≈ 0.012 nats
    elbo = evaluation.elbo(model, x, batch_size=1000).mean()
    iwae50 = evaluation.iwae_bound(model, x, 50, batch_size=1000, seed=0).mean()
    assert iwae50 > elbo + 0.2                               # far apart next to the noise

    def fit_loss():
        return model.fit(x, batch_size=1000, verbose=0).history["loss"][-1]

    def evaluate():
        return model.evaluate(x, batch_size=1000, verbose=0, return_dict=True)

    assert abs(fit_loss() + elbo) < 0.06
    assert "iwae" not in evaluate() and len(model.metrics) == 4
    model.objective, model.num_samples = "iwae", 50
    assert abs(fit_loss() + iwae50) < 0.06
    result = evaluate()
    assert abs(result["loss"] + iwae50) < 0.06 and "iwae" in result
    model.objective, model.num_samples = "elbo", 1
    assert abs(fit_loss() + elbo) < 0.06
    assert "iwae" not in evaluate() and len(model.metrics) == 4
    with pytest.raises(ValueError, match="objective='vimco'"):
        model.objective = "vimco"
    with pytest.raises(ValueError, match="num_samples=0"):
        model.num_samples = 0
    model.num_samples = 50
    path = str(tmp_path / "changed.keras")
    model.save(path)                             # it loads as the model it became
    loaded = keras.saving.load_model(path)
    assert (loaded.objective, loaded.num_samples) == ("elbo", 50)


def test_a_callback_may_switch_to_iwae_during_a_fit():
    model, w, b = ppca(loc_shift=0.2, scale_factor=0.7, seed=0)
    model.compile(optimizer=keras.optimizers.SGD(0.0))
    x = np.repeat(ppca_data(w, b, 0.5, 100), 100, axis=0)
    elbo = evaluation.elbo(model, x, batch_size=1000).mean()
    iwae50 = evaluation.iwae_bound(model, x, 50, batch_size=1000, seed=0).mean()

    class SwitchAtEpoch2(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                self.model.objective, self.model.num_samples = "iwae", 50

    losses = model.fit(x, batch_size=1000, epochs=2, verbose=0,
                       callbacks=[SwitchAtEpoch2()]).history["loss"]
    assert abs(losses[0] + elbo) < 0.06 and abs(losses[1] + iwae50) < 0.06


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
        evaluation.log_marginal_likelihood(model, bad, num_samples=10)
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


def prior_proposal_model(likelihood, params, latent_dim=1):
    """A VAE whose p(x|z) ignores z and whose q(z|x) is the prior N(0, I).

    Every importance weight p(x|z) p(z) / q(z|x) is then p(x) itself, so any
    K gives the exact log p(x) of the likelihood with these parameters.
    """
    d = params.shape[-1]
    model = tfvae.VAE((d,), latent_dim, encoder=keras.layers.Identity(),
                      decoder=keras.Sequential([keras.Input((latent_dim,)),
                                                keras.layers.Dense(d)]),
                      likelihood=likelihood)
    model.decoder.layers[-1].set_weights([np.zeros((latent_dim, d), "float32"),
                                          params.astype("float32")])
    raw = np.log(np.expm1(1.0 - model.posterior_head.min_scale))      # σ = 1
    model.posterior_head.dense.set_weights([
        np.zeros((d, 2 * latent_dim), "float32"),
        np.concatenate([np.zeros(latent_dim), np.full(latent_dim, raw)]).astype("float32")])
    return model


def logit(p):
    return np.log(p) - np.log1p(-p)


def continuous_bernoulli_log_pdf(x, lam):
    """Σ_d log[C(λ_d) λ_d^x (1 − λ_d)^(1−x)], C(λ) = 2 artanh(1 − 2λ) / (1 − 2λ); C(½) = 2."""
    t = 1.0 - 2.0 * lam
    safe_t = np.where(t == 0, 1.0, t)
    log_c = np.where(t == 0, math.log(2.0), np.log(2.0 * np.arctanh(safe_t) / safe_t))
    x = x.astype(np.float64)
    return np.sum(x * np.log(lam) + (1 - x) * np.log1p(-lam) + log_c, axis=-1)


def continuous_bernoulli_sample(lam, n, seed):
    """Inverse-CDF draws: F(x) = (λ^x (1 − λ)^(1−x) + λ − 1) / (2λ − 1), λ ≠ ½."""
    u = np.random.default_rng(seed).random((n, len(lam)))
    return (np.log1p(u * (2 * lam - 1) / (1 - lam)) / logit(lam)).astype("float32")


def test_compare_across_likelihoods_and_latent_sizes_matches_closed_forms():
    # Data on [0, 1]. Each candidate is a normalised density of them (a Gaussian
    # on R, continuous Bernoullis on [0, 1]), so their log evidences compare.
    lam = np.array([0.03, 0.15, 0.3, 0.8, 0.97])
    x = continuous_bernoulli_sample(lam, 200, seed=2)
    assert 0.0 <= x.min() and x.max() <= 1.0
    # The maximum-likelihood pPCA with 2 latents (Tipping & Bishop 1999).
    mean = x.mean(axis=0).astype(np.float64)
    eigval, eigvec = np.linalg.eigh(np.cov(x.T.astype(np.float64), bias=True))
    sigma = math.sqrt(eigval[:-2].mean())
    w = eigvec[:, -2:] * np.sqrt(eigval[-2:] - sigma ** 2)
    gaussian, _, _ = ppca(sigma=sigma, w=w, b=mean)
    exact = {"gaussian, latent 2": exact_log_px(x.astype(np.float64), w, mean, sigma),
             "uniform, latent 3": np.zeros(len(x)),           # CB(λ = ½) is U[0, 1]
             "continuous bernoulli, latent 1": continuous_bernoulli_log_pdf(x, lam)}
    models = {"gaussian, latent 2": gaussian,
              "uniform, latent 3": prior_proposal_model("continuous_bernoulli", np.zeros(5), 3),
              "continuous bernoulli, latent 1": prior_proposal_model("continuous_bernoulli",
                                                                     logit(lam))}
    totals = sorted(e.sum() for e in exact.values())
    assert totals[-1] - totals[-2] > 50                # a clear winner, not the first listed
    result = tfvae.compare(models, x, num_samples=20, seed=0, elbo_samples=100)
    assert [m.name for m in result.models] == list(models)
    assert result.preferred == max(exact, key=lambda name: exact[name].sum())
    for row in result.models:
        assert row.num_examples == len(x)
        assert row.mean == pytest.approx(exact[row.name].mean(), abs=2e-3)
        assert row.log_evidence == pytest.approx(exact[row.name].sum(), abs=2e-3 * len(x))
        # q(z|x) is the exact posterior: no gap. The pPCA's ELBO, E_q[log p(x|z)]
        # − KL, is noisy in z (s.e. ≈ 0.005 nats here); the others' is exact.
        assert abs(row.gap) < (0.015 if row.name.startswith("gaussian") else 2e-3)
    factors = result.log_bayes_factors()
    for name, e in exact.items():
        assert factors[name] == pytest.approx(max(t.sum() for t in exact.values()) - e.sum(),
                                              abs=2e-3 * len(x))


def test_compare_takes_a_mapping_of_names_to_models():
    true_model, w, b = ppca(sigma=0.5, scale_factor=1.2)
    wide_model, _, _ = ppca(sigma=1.0, scale_factor=1.2)
    x = ppca_data(w, b, 0.5, 20)
    by_name = tfvae.compare({"sigma=1.0": wide_model, "sigma=0.5": true_model}, x,
                            num_samples=50, seed=0)
    by_list = tfvae.compare([wide_model, true_model], x, num_samples=50, seed=0,
                            names=["sigma=1.0", "sigma=0.5"])
    assert [m.name for m in by_name.models] == ["sigma=1.0", "sigma=0.5"]
    assert [m.log_evidence for m in by_name.models] == [m.log_evidence for m in by_list.models]
    assert by_name.preferred == "sigma=0.5"
    with pytest.raises(ValueError, match=r"names.*mapping|mapping.*names"):
        tfvae.compare({"a": true_model}, x, num_samples=2, names=["b"])
    with pytest.raises(ValueError, match=r"`models`.*Received: models="):
        tfvae.compare(true_model, x, num_samples=2)
    with pytest.raises(ValueError, match=r"`models`"):
        tfvae.compare({}, x, num_samples=2)
    with pytest.raises(ValueError, match=r"elbo_samples=0"):
        tfvae.compare([true_model], x, num_samples=2, elbo_samples=0)


def test_compare_and_elbo_are_reproducible_with_a_seed():
    model, w, b = ppca(loc_shift=0.2, scale_factor=0.7)
    other, _, _ = ppca(sigma=0.8, scale_factor=0.7)
    x = ppca_data(w, b, 0.5, 12)
    first = evaluation.elbo(model, x, num_samples=3, batch_size=5, seed=7)
    np.testing.assert_array_equal(first, evaluation.elbo(model, x, num_samples=3,
                                                         batch_size=5, seed=7))
    assert not np.array_equal(first, evaluation.elbo(model, x, num_samples=3, batch_size=5,
                                                     seed=8))
    tables = [tfvae.compare({"a": model, "b": other}, x, num_samples=30, seed=1).to_markdown()
              for _ in range(2)]
    assert tables[0] == tables[1]


def test_elbo_averages_samples_and_uses_the_analytic_kl():
    # With a z-independent Gaussian decoder, E_q[log p(x|z)] is log N(x; b, σ²)
    # for every z, so the ELBO is that minus KL(q ‖ N(0, I)) in closed form.
    sigma, bias = 0.4, np.array([0.3, -1.0, 2.0])
    model = prior_proposal_model(tfvae.likelihoods.Gaussian(scale=sigma), bias, latent_dim=2)
    loc, std = np.array([0.5, -0.2]), np.array([0.6, 1.3])
    kernel, _ = model.posterior_head.dense.get_weights()
    raw = np.log(np.expm1(std - model.posterior_head.min_scale))
    model.posterior_head.dense.set_weights([kernel, np.concatenate([loc, raw]).astype("float32")])
    x = np.random.default_rng(0).normal(size=(7, 3)).astype("float32")
    log_lik = np.sum(-0.5 * ((x - bias) / sigma) ** 2 - math.log(sigma)
                     - 0.5 * math.log(2 * math.pi), axis=1)
    kl = np.sum(0.5 * (loc ** 2 + std ** 2 - 1) - np.log(std))
    np.testing.assert_allclose(evaluation.elbo(model, x, num_samples=4, seed=0),
                               log_lik - kl, rtol=1e-5, atol=1e-4)


# ---- a Bernoulli "log p(x)" is a log-likelihood of binary data only -------------------


def test_bernoulli_is_not_a_density_on_grey_levels_but_continuous_bernoulli_is():
    grid = np.linspace(0.0, 1.0, 200_001)
    for a_logit in (-2.0, 0.7, 3.0):
        params = np.full(grid.shape, a_logit, "float32")
        bern = np.exp(tfvae.likelihoods.Bernoulli().distribution(params).log_prob(
            grid.astype("float32")).numpy().astype(np.float64))
        cb = np.exp(tfvae.likelihoods.ContinuousBernoulli().distribution(params).log_prob(
            grid.astype("float32")).numpy().astype(np.float64))
        p = 1 / (1 + math.exp(-a_logit))
        # ∫₀¹ p^x (1 − p)^(1−x) dx = (2p − 1) / logit(p): not 1.
        assert np.trapezoid(bern, grid) == pytest.approx((2 * p - 1) / a_logit, rel=1e-4)
        assert abs(np.trapezoid(bern, grid) - 1.0) > 0.2
        assert np.trapezoid(cb, grid) == pytest.approx(1.0, abs=1e-4)
    grey = np.array([[0.0, 0.25, 1.0]], "float32")
    binary = np.array([[0.0, 1.0, 1.0]], "float32")
    with pytest.raises(ValueError, match=r"not binary.*0\.25.*binarize.*continuous_bernoulli"):
        tfvae.likelihoods.Bernoulli().check_density(grey)
    tfvae.likelihoods.Bernoulli().check_density(binary)
    tfvae.likelihoods.Bernoulli().check_density(binary.astype(bool))
    tfvae.likelihoods.Bernoulli().check_density(binary.astype("uint8"))
    tfvae.likelihoods.ContinuousBernoulli().check_density(grey)
    tfvae.likelihoods.Gaussian().check_density(grey - 7.0)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        tfvae.likelihoods.ContinuousBernoulli().check_density(grey + 1.0)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        tfvae.likelihoods.Bernoulli().check_density(binary * 2.0)
    # A user's callable cannot be checked: it is left to the user.
    tfvae.likelihoods.get(lambda params: tfvae.likelihoods.tfd.Bernoulli(logits=params)
                          ).check_density(grey)


def test_bernoulli_log_px_is_refused_on_grey_data_and_exact_on_binary_data():
    rng = np.random.default_rng(0)
    probs = np.array([0.1, 0.35, 0.5, 0.7, 0.9, 0.98])
    model = prior_proposal_model("bernoulli", logit(probs), latent_dim=2)
    grey = rng.random((20, 6)).astype("float32")
    binary = (rng.random((20, 6)) < probs).astype("float32")
    message = r"not binary.*binarize.*continuous_bernoulli"
    with pytest.raises(ValueError, match=message):
        evaluation.log_marginal_likelihood(model, grey, num_samples=2)
    with pytest.raises(ValueError, match=message):
        evaluation.log_marginal_likelihood(model, grey, num_samples=2)
    with pytest.raises(ValueError, match=message):
        evaluation.iwae_bound(model, grey, num_samples=2)
    with pytest.raises(ValueError, match=message):
        evaluation.elbo(model, grey)
    with pytest.raises(ValueError, match=r"`data`.*" + message):
        tfvae.compare({"gaussian": prior_proposal_model("gaussian", np.zeros(6), 2),
                       "bernoulli": model}, grey, num_samples=2)
    with pytest.raises(ValueError, match=message):
        tfvae.compare([model], grey, num_samples=2)
    # Diagnostics of the encoder and the training objective are not likelihoods.
    assert evaluation.per_latent_kl(model, grey).shape == (2,)
    assert evaluation.active_units(model, grey) == 0
    assert np.isfinite(model.evaluate(grey, verbose=0, return_dict=True)["elbo"])
    # On 0/1 data it is the log-likelihood: Σ_d x log p + (1 − x) log(1 − p).
    exact = np.sum(binary * np.log(probs) + (1 - binary) * np.log1p(-probs), axis=1)
    np.testing.assert_allclose(evaluation.log_marginal_likelihood(model, binary, 10, seed=0),
                               exact, atol=1e-4)
    np.testing.assert_allclose(evaluation.elbo(model, binary, seed=0), exact, atol=1e-4)
    row = tfvae.compare({"bernoulli": model}, binary, num_samples=10, seed=0).models[0]
    assert row.log_evidence == pytest.approx(exact.sum(), abs=1e-3)
