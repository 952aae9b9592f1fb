"""Parity of a multi-signature `.tflite` file with the Keras model, signature by signature.

Each signature runs on the LiteRT interpreter and is compared with what the
Keras model computes from the same inputs, noise included, through the error
figures and bounds of `exporters.parity` (`measure`, `check_bounds`): bounds
relative to max(1, max |reference|) of that signature, so the score (hundreds
of nats) is held to the same relative precision as the images.

The score's reference goes through TFP, not through `exporters.densities`:
q(z|x) = `model.encode(x)`, log p(x|z) = `model.decode(z).log_prob(x)`, the KL
from `tfd.kl_divergence`, and log q, log p(z) from the distributions'
`log_prob` at z = loc + scale·eps. So a mistake in the plain-op densities
shows up as a parity failure.

#### Tolerances of `score`
The float32 and float16 bounds are `parity.TOLERANCES`. A quantized score sums
784 per-pixel errors, so it gets its own relative bounds (`SCORE_TOLERANCES`,
× max(1, max |ELBO|)). Measured max abs errors (mlp 512-256 and conv 32-64,
latent 8-16, 1-5 epochs on the embedded data, |ELBO| 300-570 nats):

| mode | score bound (relative) | measured (nats) | measured (relative) |
|---|---|---|---|
| float32 | 1e-5 | ≤ 9.2e-5 | ≤ 2e-7 |
| float16 | 5e-3 | ≤ 0.0034 | ≤ 1e-5 |
| dynamic | max 0.01, mean 0.005 | ≤ 0.22 | ≤ 7e-4 |
| int8 | max 0.05, mean 0.02 | ≤ 8.4 | ≤ 0.02 |
"""

import numpy as np

from exporters import _common, parity

SCORE_TOLERANCES = {
    "dynamic": {"max": 0.01, "mean": 0.005},
    "int8": {"max": 0.05, "mean": 0.02},
}


def batch_sizes(batch_size):
    """The batch sizes a file is compared at: its static one, or 1 and 8."""
    return (batch_size,) if batch_size is not None else parity.BATCH_SIZES


def sample_inputs(model, name, batch_size, num_samples=1, seed=0, data=None):
    """Seeded inputs of one signature, as float32 numpy arrays.

    x: rows of `data` when given, else uniform noise in [0, 1]; eps: N(0, I)
    ([k, B, d] for a score with k > 1); z: draws from the model's prior.
    """
    rng = np.random.default_rng(seed)
    d = model.latent_dim
    if name == "decode":
        return {"z": parity.sample_inputs(model, "decoder", batch_size, seed)["z"]}
    eps_shape = (batch_size, d) if name != "score" or num_samples == 1 else (
        num_samples, batch_size, d)
    inputs = {"eps": rng.standard_normal(eps_shape).astype("float32")}
    if name in ("encode", "score"):
        if data is not None:
            data = np.asarray(data, dtype="float32")
            inputs["x"] = data[rng.integers(0, len(data), batch_size)]
        else:
            inputs["x"] = rng.uniform(size=(batch_size,) + model.data_shape).astype("float32")
    return inputs


def _score_reference(model, x, eps, num_samples):
    import tensorflow as tf
    import tensorflow_probability as tfp

    posterior = model.encode(x)
    loc, scale = posterior.distribution.loc, posterior.distribution.scale
    noise = eps if num_samples > 1 else eps[None]
    z = loc[None] + scale[None] * noise                                  # [k, B, d]
    k, d = noise.shape[0], model.latent_dim
    x_rows = tf.reshape(tf.broadcast_to(x[None], (k,) + x.shape), (-1,) + model.data_shape)
    log_px_z = tf.reshape(model.decode(tf.reshape(z, (-1, d))).log_prob(x_rows), (k, -1))
    prior = model.prior.distribution()
    kl = tfp.distributions.kl_divergence(posterior, prior)
    outputs = {"elbo": tf.reduce_mean(log_px_z, axis=0) - kl}
    if num_samples > 1:
        log_w = log_px_z + prior.log_prob(z) - posterior.log_prob(z)
        outputs["iwae"] = tf.reduce_logsumexp(log_w, axis=0) - np.log(k)
    return outputs


def keras_outputs(model, name, inputs, num_samples=1):
    """What the Keras model (and TFP, for `score`) computes for one signature's inputs."""
    from keras import ops

    if name == "encode":
        loc, scale = (ops.convert_to_numpy(t) for t in model.posterior_params(inputs["x"]))
        return {"loc": loc, "scale": scale, "z": loc + scale * inputs["eps"]}
    if name in ("decode", "generate"):
        z = inputs["z"] if name == "decode" else inputs["eps"]
        return {"mean": ops.convert_to_numpy(model.decode_mean(z))}
    outputs = _score_reference(model, inputs["x"], inputs["eps"], num_samples)
    return {key: np.asarray(value, dtype="float32") for key, value in outputs.items()}


def compare(model, path, signatures, batch_size=None, num_samples=1, seed=0, data=None):
    """{signature: `parity.measure` figures} of the file at `path` against the Keras model.

    Args:
        model: the exported `tfvae.VAE`; a mixed-precision model is compared as
            its float32 twin, the model the exporters wrote.
        path: str, the `.tflite` file.
        signatures: the signature names in the file.
        batch_size: the file's static batch size, or None (compared at 1 and 8).
        num_samples: int, k of its `score`.
        seed: int, seeds the inputs.
        data: optional examples used as x.
    """
    model = _common.float32_model(model)
    figures = {}
    for name in signatures:
        run = parity.load(path, "tflite", signature=name)
        results = []
        for i, size in enumerate(batch_sizes(batch_size)):
            inputs = sample_inputs(model, name, size, num_samples, seed + i, data)
            results.append((size, run(**inputs), keras_outputs(model, name, inputs, num_samples)))
        figures[name] = parity.measure(results)
    return figures


def tolerance_for(name, quantization=None, tolerance=None):
    """The bounds of one signature: `tolerance` if given, else the mode's default."""
    if tolerance is None and name == "score" and quantization in SCORE_TOLERANCES:
        return dict(SCORE_TOLERANCES[quantization])
    return parity.tolerance_for(quantization, tolerance)


def verify(model, path, signatures, batch_size=None, num_samples=1, quantization=None,
           tolerance=None, seed=0, data=None):
    """`compare`, then each signature's figures against its bounds.

    Returns:
        {signature: figures with "tolerance" and "passed"}.

    Raises:
        parity.ParityError: a signature disagrees; the message names it.
    """
    figures = compare(model, path, signatures, batch_size, num_samples, seed, data)
    mode = quantization or "float32"
    for name, values in figures.items():
        parity.check_bounds(values, tolerance_for(name, quantization, tolerance),
                            f"Signature {name!r} of {path} (quantization={mode})")
    return figures
