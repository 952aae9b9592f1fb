"""Estimates for a trained VAE on data: log p(x), IWAE bound, ELBO, per-latent KL, active units.

#### Mathematical details
With the encoder q(z|x) as the proposal, importance sampling gives

    log p(x) ≈ log (1/K) Σ_k w_k,   w_k = p(x|z_k) p(z_k) / q(z_k|x),  z_k ~ q(z|x),

computed as `reduce_logsumexp(log w) − log K`. For finite K its expectation
is the IWAE_K bound (Burda et al. 2016): ELBO = IWAE_1 ≤ IWAE_K ≤ IWAE_{K+1}
≤ log p(x), with IWAE_K → log p(x) as K → ∞. Summed over a data set, log p(X|M)
is the (approximate) log evidence of model M, so differences between models
are log Bayes factors (for models whose weights were fit on other data).

These numbers are log-likelihoods only when the model's p(x|z) is a
normalised density (or mass function) of the data. Every function that
reports log p(x) or a bound on it asks the likelihood first
(`Likelihood.check_density`): a Bernoulli model is scored on 0/1 data only,
since on grey levels its log_prob is a training loss, not a log-likelihood.
The encoder diagnostics (`per_latent_kl`, `active_units`) are not
likelihoods and accept any data the model can train on.

A conditional model's estimates take `labels=` and are then of p(x | y):
log p(x | y), its IWAE bound and ELBO, and the KL of q(z | x, y).

All functions return numpy arrays and never print. `tfvae.comparison` ranks
models with them, `tfvae.evaluation.report` gathers them for one model, and
`tfvae.evaluation` re-exports them.
"""

import math
import weakref

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfvae import conditioning
from tfvae.validation import check_array, check_positive_int

tfd = tfp.distributions

# Compiled estimators per model, so repeated calls do not retrace.
_COMPILED = weakref.WeakKeyDictionary()


def scored_data(model, x, name="x"):
    """Validates `x` for `model` and requires its likelihood to be a density of it."""
    x = check_array(x, model.data_shape, model.likelihood, name=name)
    model.likelihood.check_density(x, name=name)
    return x


def model_labels(model, labels, num_examples):
    """float32 condition rows (n, k) of a conditional model's labels, or (n, 0) without."""
    condition = conditioning.as_condition(labels, model.condition, num_examples)
    if condition is None:
        return np.zeros((num_examples, 0), np.float32)
    return np.asarray(condition, np.float32)


def _base_seeds(seed):
    """Two int32 seeds from `seed`: one for log p(x) samples, one for the ELBO's."""
    state = np.random.SeedSequence(seed).generate_state(2)
    return [int(v % (2 ** 31 - 1)) for v in state]


def _batches(x, batch_size, rows):
    """(start, x batch, labels batch or None) over x and its condition `rows` (n, k) or None."""
    for start in range(0, len(x), batch_size):
        y = rows[start:start + batch_size] if rows is not None and rows.shape[1] else None
        yield start, tf.constant(x[start:start + batch_size], dtype=tf.float32), \
            None if y is None else tf.constant(y)


def _estimator(model, num_samples, chunk_size):
    """A tf.function x, seed -> per-example log (1/K) Σ_k w_k, float64."""
    cache = _COMPILED.setdefault(model, {})
    key = (num_samples, chunk_size)
    if key in cache:
        return cache[key]
    num_full, remainder = divmod(num_samples, chunk_size)
    # A weak reference: the cache is keyed weakly by the model, so the
    # function it holds must not keep the model alive.
    model_ref = weakref.ref(model)

    def chunk_lse(x, y, seed, size):
        labels = None if model_ref().condition is None else y
        log_px_z, log_pz, log_qz = model_ref().log_importance_weights(x, size, seed=seed,
                                                                      labels=labels)
        return tf.cast(tf.reduce_logsumexp(log_px_z + log_pz - log_qz, axis=0), tf.float64)

    # autograph=False: the graph is written out (tf.while_loop) rather than
    # converted. AutoGraph caches converted methods, and in a long process
    # that cache can hand this call another converted method of the model
    # (`elbo_terms` for `log_importance_weights`, a TypeError); with nothing
    # converted there is nothing to mix up.
    @tf.function(input_signature=[tf.TensorSpec((None,) + model.data_shape, tf.float32),
                                  tf.TensorSpec((None, conditioning.num_dims(model.condition)),
                                                tf.float32),
                                  tf.TensorSpec((2,), tf.int32)], reduce_retracing=True,
                 autograph=False)
    def estimate(x, y, seed):
        # A running logsumexp over chunks of samples: memory stays at one
        # chunk however large K is.
        def step(i, total):
            chunk_seed = tf.random.experimental.stateless_fold_in(seed, i)
            chunk = chunk_lse(x, y, chunk_seed, chunk_size)
            return i + 1, tf.reduce_logsumexp(tf.stack([total, chunk]), axis=0)

        total = tf.fill([tf.shape(x)[0]], tf.constant(-np.inf, tf.float64))
        _, total = tf.while_loop(lambda i, _: i < num_full, step, (tf.constant(0), total))
        if remainder:
            chunk_seed = tf.random.experimental.stateless_fold_in(seed, num_full)
            total = tf.reduce_logsumexp(
                tf.stack([total, chunk_lse(x, y, chunk_seed, remainder)]), axis=0)
        return total - tf.constant(math.log(num_samples), tf.float64)

    cache[key] = estimate
    return estimate


def log_marginal_likelihood(model, x, num_samples=5000, batch_size=20, chunk_size=250,
                            seed=None, labels=None):
    """Importance-sampled log p(x) per example, with q(z|x) as the proposal.

    Computes log (1/K) Σ_k p(x|z_k) p(z_k) / q(z_k|x) with z_k ~ q(z|x) inside
    one compiled `tf.function`, looping over the batch (`batch_size` examples
    at a time) and over the K samples (`chunk_size` at a time, combined with a
    running logsumexp). Memory is bounded by one chunk: about
    `chunk_size × batch_size × prod(input_shape) × (num_params + 1)` float32
    for the decoder output and the tiled x, plus `chunk_size × batch_size ×
    (decoder widths)` for hidden activations, independent of K (defaults:
    5,000 rows, ≈ 31 MB for 28×28 Bernoulli data).

    Args:
        model: a `tfvae.VAE`.
        x: array (n, *input_shape), validated like `fit` does; the model's
            likelihood must also be a normalised density of it (0/1 data for
            a Bernoulli model), else the value would not be a log-likelihood.
        num_samples: int ≥ 1, K. The result is an unbiased estimate of the
            IWAE_K bound, a lower bound on log p(x) in expectation that
            tightens as K grows.
        batch_size: int ≥ 1, examples per step.
        chunk_size: int ≥ 1, samples per step.
        seed: int or None; an int makes the estimate reproducible.
        labels: for a conditional model, one label per example (class ids,
            one-hot rows or condition vectors): the estimate is then of
            log p(x | y). Required by a conditional model, refused by others.

    Returns:
        float64 numpy array (n,), nats. Log weights are computed in float32
        and accumulated in float64.

    Raises:
        ValueError: bad arguments, bad `x`, or a likelihood that is not a
            density of `x` (a Bernoulli model on grey levels: binarize the
            data with `tfvae.datasets.binarize`, or train a
            "continuous_bernoulli" model). A user's `Callable` likelihood is
            not checked.

    Example:
    ```python
    log_px = tfvae.evaluation.log_marginal_likelihood(vae, x_test[:100], num_samples=5000)
    nll = -log_px.mean()
    ```
    """
    num_samples = check_positive_int(num_samples, "num_samples")
    batch_size = check_positive_int(batch_size, "batch_size")
    chunk_size = min(check_positive_int(chunk_size, "chunk_size"), num_samples)
    x = scored_data(model, x)
    rows = model_labels(model, labels, len(x))
    estimate = _estimator(model, num_samples, chunk_size)
    base = _base_seeds(seed)[0]
    out = np.empty(len(x), np.float64)
    for i, start in enumerate(range(0, len(x), batch_size)):
        batch = slice(start, start + batch_size)
        out[batch] = estimate(tf.constant(x[batch], tf.float32), tf.constant(rows[batch]),
                              tf.constant([base, i], tf.int32)).numpy()
    return out


def iwae_bound(model, x, num_samples=50, **kwargs):
    """Per-example estimate of the IWAE_k bound (Burda et al. 2016).

    The same estimator as `log_marginal_likelihood` with a small K: its
    expectation is IWAE_k, and IWAE_1 is the ELBO. The same arguments and
    the same check that the likelihood is a density of `x`.

    Returns:
        float64 numpy array (n,).

    Example:
    ```python
    bound = tfvae.evaluation.iwae_bound(vae, x_test, num_samples=50).mean()
    ```
    """
    return log_marginal_likelihood(model, x, num_samples=num_samples, **kwargs)


def _posterior_means(model, x, batch_size, rows=None, num_samples=256, seed=0):
    """E_q[z|x] per example: closed form, or a Monte Carlo mean for a flow posterior.

    256 draws add Var_q[z_j]/256 ≤ 0.004 (for σ ≤ 1) to Cov_x(E_q[z_j|x]), under
    the 0.01 threshold of `active_units`.
    """
    means = []
    for i, (_, batch, y) in enumerate(_batches(x, batch_size, rows)):
        q = model.encode(batch, labels=y)
        try:
            mean = q.mean()
        except NotImplementedError:
            mean = tf.reduce_mean(q.sample(num_samples, seed=tf.constant([seed, i])), axis=0)
        means.append(np.asarray(mean, np.float64))
    return np.concatenate(means)


def elbo(model, x, num_samples=1, batch_size=100, seed=None, labels=None):
    """Per-example ELBO = E_q[log p(x|z)] − KL(q(z|x) ‖ p(z)).

    The KL is the model's (closed form where it exists, else the Monte Carlo
    log q(z|x) − log p(z) on the same draws); the expectation is averaged
    over `num_samples` draws of z.

    Args:
        model: a `tfvae.VAE`.
        x: array (n, *input_shape); as for `log_marginal_likelihood`, the
            likelihood must be a density of it.
        num_samples: int ≥ 1, draws of z per example.
        batch_size: int ≥ 1, examples per step.
        seed: int or None; an int makes the estimate reproducible.
        labels: a conditional model's labels (as for `log_marginal_likelihood`).

    Returns:
        float64 numpy array (n,).

    Example:
    ```python
    gap = log_px - tfvae.evaluation.elbo(vae, x_test)   # ≥ 0 on average
    ```
    """
    num_samples = check_positive_int(num_samples, "num_samples")
    batch_size = check_positive_int(batch_size, "batch_size")
    x = scored_data(model, x)
    rows = model_labels(model, labels, len(x))
    base = _base_seeds(seed)[1]
    # Draws per decoder call, so a large num_samples does not decode
    # num_samples × batch_size rows at once (the budget of one
    # `log_marginal_likelihood` chunk at its defaults).
    chunk = max(1, 5000 // batch_size)
    out = np.empty(len(x), np.float64)
    for i, (start, batch, y) in enumerate(_batches(x, batch_size, rows)):
        batch_seed = tf.constant([base, i], tf.int32)
        total = np.zeros(len(batch), np.float64)
        for j in range(0, num_samples, chunk):
            size = min(chunk, num_samples - j)
            draw_seed = None if seed is None else \
                tf.random.experimental.stateless_fold_in(batch_seed, j)
            log_px_z, log_pz, log_qz = model.log_importance_weights(batch, size, seed=draw_seed,
                                                                    labels=y)
            total += np.sum(log_px_z.numpy().astype(np.float64), axis=0)
            if model.kl_mode != "analytic":
                total -= np.sum((log_qz - log_pz).numpy().astype(np.float64), axis=0)
        out[start:start + len(batch)] = total / num_samples
        if model.kl_mode == "analytic":
            kl = tfd.kl_divergence(model.encode(batch, labels=y), model.prior.distribution())
            out[start:start + len(batch)] -= kl.numpy().astype(np.float64)
    return out


def kl_factorises(model):
    """Whether the model's KL is a sum of one term per latent dimension."""
    return model.posterior.factorises and isinstance(model.prior.distribution(),
                                                     tfd.Independent)


def mean_kl_terms(model, x, batch_size=100, rows=None):
    """Mean over x of the model's KL terms: (latent_dim,) if `kl_factorises`, else (1,).

    The model's KL: analytic where it has a closed form, else a one-sample
    Monte Carlo estimate. `x` (and the label rows) are not validated here.
    """
    total = 0.0
    for _, batch, y in _batches(x, batch_size, rows):
        _, kl = model.elbo_terms(batch, per_dimension=True, labels=y)
        total = total + kl.numpy().astype(np.float64).sum(axis=0)
    return total / len(x)


def per_latent_kl(model, x, batch_size=100, labels=None):
    """Mean over x of KL(q(z_j|x) ‖ p(z_j)) for each latent dimension j.

    Uses the model's KL (analytic for the standard-normal prior and the
    Gaussian posterior; a one-sample Monte Carlo estimate otherwise). The prior
    (a `tfd.Independent`) and the posterior must factorise over dimensions,
    else a ValueError is raised.

    Returns:
        float64 numpy array (latent_dim,), nats.

    Example:
    ```python
    kl = tfvae.evaluation.per_latent_kl(vae, x_test)   # near-0 entries are collapsed
    ```
    """
    x = check_array(x, model.data_shape, model.likelihood, name="x")
    rows = model_labels(model, labels, len(x))
    if not kl_factorises(model):
        raise ValueError(f"per_latent_kl needs a prior and a posterior that factorise over "
                         f"latent dimensions; the prior {type(model.prior).__name__} with the "
                         f"posterior {type(model.posterior).__name__} does not.")
    return mean_kl_terms(model, x, check_positive_int(batch_size, "batch_size"), rows)


def active_units(model, x, threshold=0.01, batch_size=100, labels=None):
    """Number of active latent units (Burda et al. 2016): Cov_x(E_q[z_j|x]) > threshold.

    E_q[z|x] is the posterior mean, a Monte Carlo mean (256 draws) for a flow.

    Returns:
        int.

    Example:
    ```python
    n_active = tfvae.evaluation.active_units(vae, x_test)
    ```
    """
    x = check_array(x, model.data_shape, model.likelihood, name="x")
    means = _posterior_means(model, x, check_positive_int(batch_size, "batch_size"),
                             model_labels(model, labels, len(x)))
    return int(np.sum(means.var(axis=0) > threshold))
