"""Export a part of a `tfvae.VAE` as a TensorFlow SavedModel.

The graph is built with Keras 3's `keras.export.ExportArchive` (one endpoint
with a `tf.TensorSpec` signature whose batch dimension is None; the archive
keeps exactly the variables that endpoint uses). Wrapping Keras 3 layers in a
bare `tf.Module` instead converts without complaint to a TFLite model that
outputs NaN, which is why every export is verified against the Keras model
before it is published.

Signatures (`serving_default`; names are the signature's keyword arguments):

| part | inputs | outputs |
|---|---|---|
| decoder | z float32 [batch, latent_dim] | mean float32 [batch, *input_shape]: E[x \\| z] |
| encoder | x float32 [batch, *input_shape] | loc, scale float32 [batch, latent_dim] of q(z\\|x) |
| generator | eps float32 [batch, latent_dim] ~ N(0, I) | mean: decoded prior samples z = eps |
| generator, in-graph | num_samples int32 scalar | mean, and the sampled z |

A conditional model's parts take its label as a last input: `label`, int32
class ids [batch] (made one-hot in the graph with a builtin GATHER),
or `condition`, float32 [batch, k]. Its in-graph generator takes the label
alone and draws one sample per label.

The explicit-noise generator holds no random op, so it is deterministic and
portable; it needs the standard-normal prior (z = eps), and any other prior
raises ValueError. `in_graph_sampling=True` samples inside the graph instead:
`tf.random.normal` for the standard-normal prior (a TFLite builtin), a uniform
pick of a pseudo-input's Gaussian plus `tf.random.normal` noise for the
VampPrior (builtins too), the prior's own `sample` otherwise (SavedModel only:
TFP's samplers are not TFLite builtins). The encoder export needs the Gaussian
posterior; an IAF model's is refused.

`metadata.json` is written inside the SavedModel directory (TF ignores extra
files there), so the directory stays one self-describing unit. Checks,
staging, verification and publishing are `exporters.pipeline`'s.
"""

from exporters import _common, pipeline


def _endpoint(model, part, in_graph_sampling):
    """The function served by the signature, and its input signature."""
    import tensorflow as tf

    inputs, _ = _common.signature(model, part, in_graph_sampling)
    specs = [tf.TensorSpec([d for d in spec["shape"]], spec["dtype"], name=name)
             for name, spec in inputs.items()]
    conditional = model.condition is not None

    def labels(args):  # the label input comes last
        return args[-1] if conditional else None

    # The signature's inputs are named by the specs, in their order.
    if part == "decoder":
        def fn(*args):
            return {"mean": model.decode_mean(args[0], labels=labels(args))}
    elif part == "encoder":
        def fn(*args):
            loc, scale = model.posterior_params(args[0], labels=labels(args))
            return {"loc": loc, "scale": scale}
    elif not in_graph_sampling:
        def fn(*args):
            # The prior is N(0, I) (checked before), so z = eps exactly.
            return {"mean": model.decode_mean(args[0], labels=labels(args))}
    else:
        def fn(*args):
            count = tf.shape(args[0])[0] if conditional else args[0]
            z = _prior_draw(model, count)
            return {"mean": model.decode_mean(z, labels=labels(args)), "z": z}
    return fn, specs


def _prior_draw(model, count):
    """`count` draws of z ~ p(z) in the graph, with TFLite builtins where possible."""
    import tensorflow as tf

    if _common.uses_standard_normal(model):
        return tf.random.normal(tf.stack([count, model.latent_dim]))
    if _common.uses_vamp_prior(model):
        # A uniform pick of a pseudo-input's Gaussian, then its noise:
        # RANDOM_UNIFORM, GATHER and RANDOM_STANDARD_NORMAL are TFLite builtins.
        loc, scale = model.prior.component_params()
        k = model.prior.num_pseudo_inputs
        u = tf.random.uniform(tf.reshape(count, [1]))
        pick = tf.minimum(tf.cast(u * k, tf.int32), k - 1)
        eps = tf.random.normal(tf.stack([count, model.latent_dim]))
        return tf.gather(loc, pick) + tf.gather(scale, pick) * eps
    return model.prior.distribution().sample(count)


def write_saved_model(model, directory, part="decoder", in_graph_sampling=False):
    """Writes the SavedModel for `part` into `directory`; no checks, no metadata.

    The write step of the SavedModel export, and the TFLite export's input.
    """
    import keras

    fn, specs = _endpoint(model, part, in_graph_sampling)
    archive = keras.export.ExportArchive()
    # No `archive.track(model)`: the archive saves the variables the endpoint
    # uses anyway, and tracking a layer stores its weights a second time
    # (measured: a 2.2 MB decoder became 4.3 MB) and would ship the encoder's
    # weights with a decoder.
    archive.add_endpoint(_common.SIGNATURE, fn, input_signature=specs)
    archive.write_out(directory, verbose=False)


def export_saved_model(model, path, part="decoder", overwrite=False, verify=True,
                       in_graph_sampling=False, tolerance=None, calibration_data=None):
    """Exports `part` of a VAE as a verified SavedModel with a `serving_default` signature.

    The SavedModel is written to a hidden directory beside `path`, loaded back
    with `tf.saved_model.load` and compared with the Keras model (batch sizes
    1 and 8, max abs error ≤ 1e-5), then renamed to `path`. A failure leaves
    nothing at `path`.

    A mixed-precision model is exported as its float32 twin (same weights;
    `exporters._common.float32_model`).

    Args:
        model: a built `tfvae.VAE`.
        path: str, the SavedModel directory to create.
        part: "decoder" (z -> E[x|z]), "encoder" (x -> loc, scale of q(z|x)) or
            "generator" (eps ~ N(0, I) -> decoded prior sample).
        overwrite: bool. If False, an existing `path` raises FileExistsError.
        verify: bool, compare the artifact with the Keras model first.
        in_graph_sampling: bool, generator only: take `num_samples` and sample
            the prior inside the graph instead of taking `eps`.
        tolerance: None (1e-5) or a bound for `exporters.parity.verify`.
        calibration_data: optional examples, used as the encoder's test inputs.

    Returns:
        The metadata dict, also written to `path/metadata.json`: shapes, dtypes,
        likelihood, part, versions, parity figures, `size_bytes`.

    Raises:
        ValueError: not a tfvae.VAE, unknown `part`, or a generator whose prior
            is not standard normal without `in_graph_sampling`.
        FileExistsError: `path` exists and `overwrite` is False.
        exporters.parity.ParityError: verification failed.

    Example:
    ```python
    info = exporters.export_saved_model(model, "decoder_savedmodel")
    decode = tf.saved_model.load("decoder_savedmodel").signatures["serving_default"]
    images = decode(z=tf.random.normal([16, model.latent_dim]))["mean"]
    ```
    """
    model = _common.float32_model(model)
    return pipeline.export(
        model, path, "savedmodel",
        lambda tmp: write_saved_model(model, tmp, part, in_graph_sampling),
        part=part, in_graph_sampling=in_graph_sampling, overwrite=overwrite, verify=verify,
        tolerance=tolerance, data=calibration_data)
