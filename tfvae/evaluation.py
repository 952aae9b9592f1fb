"""Evaluating a trained VAE: one model's report, and the whole evaluation API in one namespace.

`report` gathers, for one model and its test data, what `tfvae evaluate`
prints: the ELBO, the IWAE-k bound, the importance-sampled NLL, bits/dim, the
KL of each latent dimension and the active units. The estimators it uses
(`tfvae.estimators`: `log_marginal_likelihood`, `iwae_bound`, `elbo`,
`per_latent_kl`, `active_units`) and model comparison (`tfvae.comparison`:
`compare`, `Comparison`, `ModelEvidence`) are importable from here as well,
so that `tfvae.evaluation` is the one place to look.

Everything returns numpy arrays or plain dataclasses and never prints; the
CLI formats them.
"""

import dataclasses
import math

from tfvae.comparison import Comparison, ModelEvidence, compare
from tfvae.estimators import (active_units, elbo, iwae_bound, kl_factorises,
                              log_marginal_likelihood, mean_kl_terms, per_latent_kl,
                              scored_data)
from tfvae.validation import check_positive_int

__all__ = ["Comparison", "ModelEvidence", "Report", "active_units", "compare", "elbo",
           "iwae_bound", "log_marginal_likelihood", "per_latent_kl", "report"]


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


def report(model, x, num_samples=1000, iwae_k=50, seed=None):
    """ELBO, IWAE-k, importance-sampled NLL ± s.e., bits/dim, KL per latent, active units.

    Args:
        model: a `tfvae.VAE`.
        x: array (n, *input_shape); the likelihood must be a density of it
            (as for `log_marginal_likelihood`).
        num_samples: int ≥ 1, K for log p(x).
        iwae_k: int ≥ 1, k for the IWAE bound.
        seed: int or None; an int makes the report reproducible.

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
    log_px = log_marginal_likelihood(model, x, num_samples=num_samples, seed=seed)
    nll = float(-log_px.mean())
    dims = math.prod(model.data_shape)
    stderr = float(log_px.std(ddof=1) / math.sqrt(len(x))) if len(x) > 1 else float("nan")
    kl = mean_kl_terms(model, x)
    return Report(
        num_examples=len(x), num_dims=dims,
        elbo=float(elbo(model, x, seed=seed).mean()), iwae_k=iwae_k,
        iwae=float(iwae_bound(model, x, num_samples=iwae_k, seed=seed).mean()),
        num_samples=num_samples, nll=nll, nll_stderr=stderr,
        bits_per_dim=nll / (dims * math.log(2)),
        kl_per_latent=tuple(float(v) for v in kl) if kl_factorises(model) else (),
        active_units=active_units(model, x), kl=float(kl.sum()), latent_dim=model.latent_dim)
