"""The named signatures of one multi-signature LiteRT file, as TensorFlow functions.

| signature | inputs | outputs |
|---|---|---|
| encode | x [B, *data], eps [B, d] | loc, scale of q(z\\|x), z = loc + scale·eps |
| decode | z [B, d] | mean of p(x\\|z) [B, *data] |
| generate | eps [B, d] ~ N(0, I) | mean of p(x\\|z = eps) |
| score | x [B, *data], eps [B, d] (k = 1) or [k, B, d] | elbo [B]; iwae [B] when k > 1 |

B is `batch_size` (None keeps the batch axis dynamic; a fixed B gives the
static shapes the GPU delegate needs: a dynamic-batch Conv2DTranspose adds
SHAPE/PACK ops that neither delegate takes). d is the latent size and k the
`num_samples` baked into `score` at export. Every random draw is an input
(`eps`), so each signature is a deterministic function of its inputs and no
random or Flex op enters the file; `eps = 0` in `encode` gives z = loc.

`score` is computed on the device from the model's own encoder and decoder
and the plain-op densities of `exporters.densities`, with β = 1 whatever the
training β: ELBO = mean_k log p(x|z_k) − KL(q(z|x) ‖ N(0, I)) with the
closed-form KL, and IWAE_k = log (1/k) Σ_k p(x|z_k) p(z_k) / q(z_k|x), both
lower bounds on log p(x) (nats per example). For a Bernoulli model it is a
log-likelihood of binary x only; on grey levels it is a score, not a
log-probability (see `tfvae.likelihoods.Bernoulli.check_density`).
"""

import math

from exporters import SIGNATURES, densities
from tfvae.validation import check_positive_int


def check(model, signatures, batch_size=None, num_samples=1):
    """Returns `(signatures, batch_size, num_samples)` normalised, or raises ValueError.

    Args:
        model: a built `tfvae.VAE`.
        signatures: a name in `exporters.SIGNATURES` or a sequence of them.
        batch_size: None (dynamic) or an int ≥ 1.
        num_samples: int ≥ 1, k of `score`.
    """
    names = (signatures,) if isinstance(signatures, str) else signatures
    try:
        names = tuple(names)
    except TypeError:
        names = ()
    unknown = [n for n in names if n not in SIGNATURES]
    if not names or unknown or len(set(names)) != len(names):
        raise ValueError(f"Unrecognized signatures={signatures!r}. Supported signatures "
                         f"are: {list(SIGNATURES)} (each at most once, at least one).")
    if batch_size is not None:
        batch_size = check_positive_int(batch_size, "batch_size")
    num_samples = check_positive_int(num_samples, "num_samples")
    if num_samples > 1 and "score" not in names:
        raise ValueError("Received an invalid value for `num_samples`, expected 1: it "
                         "sets k of the 'score' signature, which is not exported. "
                         f"Received: num_samples={num_samples}, signatures={list(names)}")
    if "generate" in names and type(model.prior).__name__ != "StandardNormal":
        raise ValueError(
            "The 'generate' signature takes prior noise eps ~ N(0, I) as z, which needs "
            f"the standard-normal prior; this model's prior is {type(model.prior).__name__}. "
            "Export 'decode' and draw z from the prior on the host.")
    if model.condition is not None:
        raise ValueError(
            "The multi-signature file serves unconditional models; this model is "
            f"conditional ({model.condition.describe()}). Export part='decoder' or "
            f"part='generator', which take the label as a second input. Received: "
            f"signatures={list(names)}")
    posterior = type(model.posterior).__name__
    for name in ("encode", "score"):
        if name in names and posterior != "DiagonalGaussian":
            raise ValueError(
                f"The '{name}' signature computes z = loc + scale·eps and log q(z|x) of a "
                f"diagonal Gaussian; this model's posterior is {posterior}. Received: "
                f"posterior={model.posterior!r}. Leave '{name}' out of `signatures`.")
    if "score" in names:
        densities.check_score(model)
    return names, batch_size, num_samples


def specs(model, name, batch_size=None, num_samples=1):
    """({input: spec}, {output: spec}) of one signature; a spec is {"shape", "dtype"}."""
    d, data = model.latent_dim, list(model.data_shape)

    def spec(*shape):
        return {"shape": list(shape), "dtype": "float32"}

    latent, image = spec(batch_size, d), spec(batch_size, *data)
    if name == "encode":
        return {"x": image, "eps": latent}, {"loc": latent, "scale": latent, "z": latent}
    if name == "decode":
        return {"z": latent}, {"mean": image}
    if name == "generate":
        return {"eps": latent}, {"mean": image}
    noise = latent if num_samples == 1 else spec(num_samples, batch_size, d)
    outputs = {"elbo": spec(batch_size)}
    if num_samples > 1:
        outputs["iwae"] = spec(batch_size)
    return {"x": image, "eps": noise}, outputs


def score(model, x, eps, num_samples=1):
    """The per-example ELBO (and IWAE_k for k > 1) from explicit noise `eps`.

    Args:
        model: a `tfvae.VAE` accepted by `densities.check_score`.
        x: float32 tensor [B, *data].
        eps: float32 tensor [B, d] for k = 1, else [k, B, d].
        num_samples: int, k.

    Returns:
        {"elbo": [B]} and, for k > 1, "iwae": [B].
    """
    import tensorflow as tf

    loc, scale = model.posterior_params(x)
    kl = densities.kl_standard_normal(loc, scale)
    if num_samples == 1:
        params = tf.cast(model.decoder(loc + scale * eps, training=False), "float32")
        return {"elbo": densities.log_likelihood(model, params, x) - kl}
    z = loc[None] + scale[None] * eps                                   # [k, B, d]
    params = tf.cast(model.decoder(tf.reshape(z, (-1, model.latent_dim)), training=False),
                     "float32")
    params = tf.reshape(params, (num_samples, -1) + tuple(params.shape[1:]))
    log_px_z = densities.log_likelihood(model, params, x)               # [k, B]
    log_w = (log_px_z + densities.standard_normal_log_prob(z)
             - densities.posterior_log_prob(eps, scale))
    top = tf.reduce_max(log_w, axis=0)
    iwae = top + tf.math.log(tf.reduce_sum(tf.exp(log_w - top), axis=0)) - math.log(num_samples)
    return {"elbo": tf.reduce_mean(log_px_z, axis=0) - kl, "iwae": iwae}


def endpoint(model, name, batch_size=None, num_samples=1):
    """The function a signature serves and its input `tf.TensorSpec`s."""
    import tensorflow as tf

    inputs, _ = specs(model, name, batch_size, num_samples)
    tensor_specs = [tf.TensorSpec(spec["shape"], spec["dtype"], name=input_name)
                    for input_name, spec in inputs.items()]
    if name == "encode":
        def fn(x, eps):
            loc, scale = model.posterior_params(x)
            return {"loc": loc, "scale": scale, "z": loc + scale * eps}
    elif name == "decode":
        def fn(z):
            return {"mean": model.decode_mean(z)}
    elif name == "generate":
        def fn(eps):
            # The prior is N(0, I) (checked before), so z = eps exactly.
            return {"mean": model.decode_mean(eps)}
    else:
        def fn(x, eps):
            return score(model, x, eps, num_samples)
    return fn, tensor_specs


def write_saved_model(model, directory, signatures, batch_size=None, num_samples=1):
    """Writes a SavedModel with one signature per name in `signatures`; no checks.

    The TFLite converter turns each SavedModel signature into a subgraph of
    one `.tflite` file, sharing the weights' buffers.
    """
    import keras

    archive = keras.export.ExportArchive()
    # No `archive.track(model)`, as in `exporters.saved_model.write_saved_model`.
    for name in signatures:
        fn, tensor_specs = endpoint(model, name, batch_size, num_samples)
        archive.add_endpoint(name, fn, input_signature=tensor_specs)
    archive.write_out(directory, verbose=False)
