"""Evaluating a trained VAE: one model's report, and the whole evaluation API in one namespace.

`report` gathers, for one model and its test data, what `tfvae evaluate`
prints: the ELBO, the IWAE-k bound, the importance-sampled NLL, bits/dim, the
KL of each latent dimension and the active units. The estimators it uses
(`tfvae.estimators`: `log_marginal_likelihood`, `iwae_bound`, `elbo`,
`per_latent_kl`, `active_units`) and model comparison (`tfvae.comparison`:
`compare`, `Comparison`, `ModelEvidence`) are importable from here as well,
so that `tfvae.evaluation` is the one place to look. `classify` turns a
class-conditional model into a generative classifier.

Everything returns numpy arrays or plain dataclasses and never prints; the
CLI formats them.
"""

import dataclasses
import math

import numpy as np

from tfvae.comparison import Comparison, ModelEvidence, compare
from tfvae.estimators import (active_units, elbo, iwae_bound, kl_factorises,
                              log_marginal_likelihood, mean_kl_terms, model_labels,
                              per_latent_kl,
                              scored_data)
from tfvae.validation import check_positive_int

__all__ = ["Comparison", "ModelEvidence", "Report", "active_units", "classify", "compare",
           "elbo", "iwae_bound", "log_marginal_likelihood", "per_latent_kl", "report"]


@dataclasses.dataclass
class Report:
    """What `tfvae evaluate` prints; log-likelihoods in nats per example."""

    num_examples: int
    num_dims: int            # prod(input_shape)
    elbo: float              # mean ELBO
    iwae_k: int
    iwae: float              # mean IWAE_k bound estimate
    num_samples: int         # K of the log p(x) estimate
    nll: float               # −mean log p(x), importance-sampled with K samples
    nll_stderr: float        # standard error of that mean (NaN for one example)
    bits_per_dim: float      # nll / (num_dims · ln 2)
    kl_per_latent: tuple     # mean KL(q(z_j|x) ‖ p(z_j)) per latent dimension; () when
                             # the prior or the posterior does not factorise
    active_units: int
    kl: float                # mean KL(q(z|x) ‖ p(z))
    latent_dim: int

    def to_text(self):
        """Aligned lines, one figure per line."""
        kl = self.kl_per_latent
        kl_line = (f"{'KL per latent':<20}" + " ".join(f"{v:.3f}" for v in kl)
                   + f"   (total {self.kl:.3f})") if kl else \
            f"{'KL':<20}{self.kl:10.3f} nats (the model's KL does not split over latents)"
        return "\n".join([
            f"{'ELBO':<20}{self.elbo:10.3f} nats",
            f"{f'IWAE-{self.iwae_k}':<20}{self.iwae:10.3f} nats",
            f"{f'IS-NLL (K={self.num_samples})':<20}{self.nll:10.3f} ± {self.nll_stderr:.3f} "
            f"nats   {self.bits_per_dim:.4f} bits/dim",
            kl_line,
            f"{'active units':<20}{self.active_units} / {self.latent_dim}"])


def report(model, x, num_samples=1000, iwae_k=50, seed=None, labels=None):
    """ELBO, IWAE-k, importance-sampled NLL ± s.e., bits/dim, KL per latent, active units.

    Args:
        model: a `tfvae.VAE`.
        x: array (n, *input_shape); the likelihood must be a density of it
            (as for `log_marginal_likelihood`).
        num_samples: int ≥ 1, K for log p(x).
        iwae_k: int ≥ 1, k for the IWAE bound.
        seed: int or None; an int makes the report reproducible.
        labels: a conditional model's labels of x: the report is then of
            log p(x | y).

    Returns:
        A `Report`; `report.to_text()` is what `tfvae evaluate` prints.

    Example:
    ```python
    print(tfvae.evaluation.report(vae, x_test_binary, num_samples=1000).to_text())
    ```
    """
    num_samples = check_positive_int(num_samples, "num_samples")
    iwae_k = check_positive_int(iwae_k, "iwae_k")
    x = scored_data(model, x)
    log_px = log_marginal_likelihood(model, x, num_samples=num_samples, seed=seed,
                                     labels=labels)
    nll = float(-log_px.mean())
    dims = math.prod(model.data_shape)
    stderr = float(log_px.std(ddof=1) / math.sqrt(len(x))) if len(x) > 1 else float("nan")
    kl = mean_kl_terms(model, x, rows=model_labels(model, labels, len(x)))
    return Report(
        num_examples=len(x), num_dims=dims,
        elbo=float(elbo(model, x, seed=seed, labels=labels).mean()), iwae_k=iwae_k,
        iwae=float(iwae_bound(model, x, num_samples=iwae_k, seed=seed, labels=labels).mean()),
        num_samples=num_samples, nll=nll, nll_stderr=stderr,
        bits_per_dim=nll / (dims * math.log(2)),
        kl_per_latent=tuple(float(v) for v in kl) if kl_factorises(model) else (),
        active_units=active_units(model, x, labels=labels), kl=float(kl.sum()),
        latent_dim=model.latent_dim)


def classify(model, x, num_samples=1000, prior=None, batch_size=20, chunk_size=250,
             seed=None):
    """The class posterior p(y | x) of a class-conditional VAE: a generative classifier.

    #### Mathematical details
    By Bayes' rule p(y = c | x) = p(x | c) p(c) / Σ_c' p(x | c') p(c'). Each
    log p(x | c) is the importance-sampled estimate of
    `log_marginal_likelihood(model, x, labels=c)` (K samples, the same seed
    for every class, so the classes are compared on common random numbers),
    and the posterior is computed in log space as a log-softmax over classes
    of log p(x | c) + log p(c): exp of log-likelihoods hundreds of nats apart
    would underflow.

    Args:
        model: a `tfvae.VAE` built with `num_classes`.
        x: array (n, *input_shape); the likelihood must be a density of it
            (as for `log_marginal_likelihood`).
        num_samples: int ≥ 1, K importance samples per example and class.
        prior: None (uniform p(y)) or an array of `num_classes` probabilities
            summing to 1, e.g. the training set's class frequencies.
        batch_size, chunk_size: as for `log_marginal_likelihood`.
        seed: int or None; an int makes the result reproducible.

    Returns:
        float64 numpy array (n, num_classes) whose rows sum to 1; `argmax(axis=1)`
        is the predicted class.

    Raises:
        ValueError: a model without `num_classes`, a bad prior, or bad `x`.

    Example:
    ```python
    accuracy = (tfvae.evaluation.classify(cvae, x_test, num_samples=100).argmax(1) == y_test).mean()
    ```
    """
    condition = getattr(model, "condition", None)
    if condition is None or condition.num_classes is None:
        has = "no condition" if condition is None else condition.describe()
        raise ValueError("classify needs a class-conditional VAE (built with num_classes=); "
                         f"this model has {has}.")
    log_prior = _log_class_prior(prior, condition.num_classes)
    num_samples = check_positive_int(num_samples, "num_samples")
    x = scored_data(model, x)
    if seed is None:  # one seed for every class: common random numbers
        seed = int(np.random.randint(0, 2**31 - 1))
    joint = np.stack([log_marginal_likelihood(model, x, num_samples, batch_size, chunk_size, seed,
                                              labels=np.full(len(x), c))
                      for c in range(condition.num_classes)], axis=1) + log_prior
    peak = joint.max(axis=1, keepdims=True)
    log_posterior = joint - (peak + np.log(np.exp(joint - peak).sum(axis=1, keepdims=True)))
    return np.exp(log_posterior)


def _log_class_prior(prior, num_classes):
    if prior is None:
        return np.full(num_classes, -math.log(num_classes))
    p = np.asarray(prior, dtype=np.float64) if not isinstance(prior, str) else None
    if p is None or p.shape != (num_classes,) or not np.all(np.isfinite(p)) \
            or np.any(p < 0) or abs(p.sum() - 1.0) > 1e-6:
        raise ValueError(f"Received an invalid value for `prior`, expected None or "
                         f"{num_classes} class probabilities summing to 1. Received: "
                         f"prior={prior!r}")
    with np.errstate(divide="ignore"):
        return np.log(p)
