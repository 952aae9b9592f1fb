"""Training objectives as pure functions of per-example log-densities: ELBO, IWAE, free bits.

#### Mathematical details
With z ~ q(z|x) reparameterised, the ELBO of one example is

    ELBO = E_q[log p(x|z)] − KL(q(z|x) ‖ p(z)),

and a β-VAE minimises −(E_q[log p(x|z)] − β·KL). Free bits (Kingma et al.
2016) replace β·KL by β·Σ_j max(λ, mean_batch KL_j): a latent dimension whose
batch-mean KL is below λ nats pays the constant λ, so nothing pushes it further
towards the prior.

With k samples z_1..z_k and log w_i = log p(x|z_i) + log p(z_i) − log q(z_i|x),
the IWAE bound (Burda et al. 2016) is

    IWAE_k = log (1/k) Σ_i w_i ≥ ... ≥ IWAE_1 = ELBO in expectation,

and training on it with β weights log p(z) − log q(z|x) inside each w_i.

Every function here maps tensors to tensors; none holds state.
"""

from typing import NamedTuple, Optional

from keras import ops

OBJECTIVES = ("elbo", "iwae")


class Terms(NamedTuple):
    """Per-example terms of one objective evaluation, each of shape (batch,).

    loss: what training minimises (before averaging over the batch).
    reconstruction: the estimate of E_q[log p(x|z)].
    kl: the estimate of KL(q(z|x) ‖ p(z)).
    iwae: the IWAE_k estimate of log p(x), or None when it was not computed.
    """

    loss: object
    reconstruction: object
    kl: object
    iwae: Optional[object] = None


def log_mean_exp(values, axis=0):
    """log (1/k) Σ_i exp(values_i) along `axis`, without overflow."""
    count = ops.cast(ops.shape(values)[axis], values.dtype)
    return ops.logsumexp(values, axis=axis) - ops.log(count)


def free_bits_kl(kl_per_dim, free_bits):
    """Σ_j max(λ, mean_batch KL_j) as a per-example term of shape (batch,).

    A dimension below λ contributes the constant λ (no gradient); one above
    contributes its per-example KL, whose batch mean is KL_j itself. λ = 0
    gives Σ_j KL_j.
    """
    below = ops.logical_and(free_bits > 0.0,
                            ops.mean(kl_per_dim, axis=0, keepdims=True) < free_bits)
    return ops.sum(ops.where(below, free_bits, kl_per_dim), axis=-1)


def elbo(reconstruction, kl_per_dim, beta=1.0, free_bits=0.0):
    """The β-ELBO objective from one sample of z.

    Args:
        reconstruction: (batch,) log p(x|z).
        kl_per_dim: (batch, d) KL terms per latent dimension (d = 1 when the
            prior does not factorise).
        beta: scalar ≥ 0, weight of the KL term.
        free_bits: scalar ≥ 0, λ in nats per dimension; 0 turns it off.

    Returns:
        `Terms` with loss = −(reconstruction − β·free_bits_kl) and the true KL.
    """
    penalty = free_bits_kl(kl_per_dim, free_bits)
    return Terms(loss=-(reconstruction - beta * penalty), reconstruction=reconstruction,
                 kl=ops.sum(kl_per_dim, axis=-1))


def iwae(log_px_z, log_pz, log_qz, beta=1.0):
    """The IWAE_k objective from k samples of z per example.

    Args:
        log_px_z, log_pz, log_qz: (k, batch) log p(x|z_i), log p(z_i),
            log q(z_i|x).
        beta: scalar ≥ 0, weight of log q − log p inside each log weight.

    Returns:
        `Terms`: loss = −log mean_i exp(log p(x|z_i) − β(log q − log p)),
        reconstruction and kl as means over the k samples, iwae = IWAE_k.
    """
    bound = log_mean_exp(log_px_z - beta * (log_qz - log_pz), axis=0)
    return Terms(loss=-bound, reconstruction=ops.mean(log_px_z, axis=0),
                 kl=ops.mean(log_qz - log_pz, axis=0),
                 iwae=log_mean_exp(log_px_z + log_pz - log_qz, axis=0))
