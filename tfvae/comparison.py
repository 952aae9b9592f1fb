"""Bayesian model comparison: rank VAEs by their estimated log evidence log p(X|M).

Every model is scored on the same data by importance sampling
(`tfvae.estimators.log_marginal_likelihood`, K samples per example). Summed
over the data, log p(X|M) is the (approximate) log evidence of model M, so
differences between models are log Bayes factors (for models whose weights
were fit on other data). They compare only when each model's likelihood is a
normalised density of the same data, which is checked for every model before
any is scored. `tfvae.compare` and `tfvae.evaluation.compare` are this
module's `compare`.
"""

import collections.abc
import dataclasses
import math

from tfvae import estimators
from tfvae.validation import check_positive_int
from tfvae.vae import VAE


@dataclasses.dataclass
class ModelEvidence:
    """One model's row in a comparison; all values in nats."""

    name: str
    log_evidence: float      # Σ_x log p(x|M)
    mean: float              # per-example mean of log p(x|M)
    stderr: float            # standard error of that mean
    elbo: float              # per-example mean ELBO
    gap: float               # mean − elbo, ≥ 0 up to noise
    num_examples: int


@dataclasses.dataclass
class Comparison:
    """The result of `compare`: one `ModelEvidence` per model and the winner."""

    models: list
    num_samples: int

    @property
    def preferred(self):
        """Name of the model with the highest log evidence."""
        return max(self.models, key=lambda m: m.log_evidence).name

    def log_bayes_factors(self):
        """{name: log p(X|preferred) − log p(X|name)}, ≥ 0."""
        best = max(m.log_evidence for m in self.models)
        return {m.name: best - m.log_evidence for m in self.models}

    def to_markdown(self):
        """A markdown table, best model first."""
        factors = self.log_bayes_factors()
        lines = [f"log p(x) by importance sampling, K={self.num_samples} (nats)", "",
                 "| model | log p(X) | mean log p(x) | ± s.e. | ELBO | gap | Δ vs best |",
                 "|---|---:|---:|---:|---:|---:|---:|"]
        for m in sorted(self.models, key=lambda m: -m.log_evidence):
            lines.append(f"| {m.name} | {m.log_evidence:.2f} | {m.mean:.3f} | {m.stderr:.3f} "
                         f"| {m.elbo:.3f} | {m.gap:.3f} | {factors[m.name]:.2f} |")
        lines += ["", f"Preferred: {self.preferred}"]
        return "\n".join(lines)

    def __str__(self):
        return self.to_markdown()


def compare(models, data, num_samples=5000, names=None, seed=None, elbo_samples=10,
            labels=None, **kwargs):
    """Bayesian model comparison by estimated log evidence log p(X|M).

    Every model is scored on the same data with `log_marginal_likelihood`;
    models may differ in likelihood, prior, latent size and networks, but must
    share `input_shape`. Log evidences compare only when each model's
    likelihood is a normalised density of these same data: a Gaussian (a
    density on R) and a continuous Bernoulli (on [0, 1]) can be compared on
    grey levels, a Bernoulli model only on 0/1 data. Every model is checked
    before any is scored (a user's `Callable` likelihood cannot be checked).

    Args:
        models: a mapping name -> `tfvae.VAE`, or a sequence of `tfvae.VAE`.
        data: array (n, *input_shape).
        num_samples: int, K importance samples per example.
        names: optional sequence of distinct str for a sequence of models,
            default "model_0", ...; not allowed with a mapping (its keys are
            the names).
        seed: int or None; an int makes the whole table reproducible.
        elbo_samples: int, draws of z averaged in the reported ELBO (one
            draw is noisy: about ±0.2 nats on the mean of 60 pPCA examples).
        labels: None, or the labels of `data` when every model is conditional:
            they are then scored by log p(X | Y, M) (log p(X | Y) and log p(X)
            are not evidences of the same data, so models of the two kinds
            are not mixed: the first to differ raises a ValueError).
        **kwargs: `batch_size`, `chunk_size` for `log_marginal_likelihood`.

    Returns:
        A `Comparison` with the rows in the order given; `str()` of it is a
        markdown table.

    Raises:
        ValueError: no models, something other than a `tfvae.VAE`, bad
            `names`, bad `data`, or a likelihood that is not a density of
            `data`.

    Example:
    ```python
    result = tfvae.compare({"a": vae_a, "b": vae_b}, x_test, num_samples=1000)
    result.preferred, result.to_markdown()
    ```
    """
    names, models = _named_models(models, names)
    check_positive_int(num_samples, "num_samples")
    check_positive_int(elbo_samples, "elbo_samples")
    for model in models:
        data = estimators.scored_data(model, data, name="data")
        estimators.model_labels(model, labels, len(data))
    rows = []
    for name, model in zip(names, models):
        log_px = estimators.log_marginal_likelihood(model, data, num_samples=num_samples,
                                                    seed=seed, labels=labels, **kwargs)
        lower = estimators.elbo(model, data, num_samples=elbo_samples, seed=seed,
                                labels=labels).mean()
        n = len(log_px)
        stderr = float(log_px.std(ddof=1) / math.sqrt(n)) if n > 1 else float("nan")
        rows.append(ModelEvidence(name=name, log_evidence=float(log_px.sum()),
                                  mean=float(log_px.mean()), stderr=stderr,
                                  elbo=float(lower), gap=float(log_px.mean() - lower),
                                  num_examples=n))
    return Comparison(models=rows, num_samples=int(num_samples))


def _named_models(models, names):
    """(names, models) from a mapping, or from a sequence and optional names."""
    received = models
    if isinstance(models, collections.abc.Mapping):
        if names is not None:
            raise ValueError("`names` cannot be given with a mapping of `models`: the "
                             f"mapping's keys are the names. Received: names={names!r}")
        names, models = list(models.keys()), list(models.values())
    elif isinstance(models, collections.abc.Iterable) and not isinstance(models, (str, bytes)):
        models = list(models)
        names = [f"model_{i}" for i in range(len(models))] if names is None else list(names)
    else:
        models = []
    if not models or not all(isinstance(m, VAE) for m in models):
        raise ValueError("Received an invalid value for `models`, expected a non-empty "
                         "mapping name -> tfvae.VAE or sequence of tfvae.VAE. Received: "
                         f"models={received!r}")
    if len(names) != len(models) or len(set(names)) != len(names) \
            or not all(isinstance(n, str) for n in names):
        raise ValueError(f"`names` must be {len(models)} distinct strings. Received: "
                         f"names={names!r}")
    return names, models
