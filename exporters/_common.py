"""The contract every exported artifact shares: argument checks, signature, metadata.

A leaf module (it imports no other exporter), so `parity` and `pipeline` can
both use it; the allow-lists come from `exporters/__init__.py`.
"""

import os

from exporters import PARTS, QUANTIZE_MODES

SIGNATURE = "serving_default"


def check_model(model):
    """Raises ValueError unless `model` is a built `tfvae.VAE`."""
    import tfvae

    if not isinstance(model, tfvae.VAE):
        raise ValueError("The exporters need a tfvae.VAE. Received: "
                         f"model={type(model).__name__} ({model!r:.80}).")
    if not model.built:
        raise ValueError(f"The model {model.name!r} is not built; build it (a tfvae.VAE "
                         "is built at construction) or load it with keras.models.load_model.")


def float32_model(model):
    """`model` if it computes in float32, else its float32 twin: same config and weights.

    Mixed precision is a way to train: the variables stay float32, and what
    runs on a phone are float32 kernels (or the quantized ones the exporters
    derive from them). TFLite's builtin ops have no bfloat16 kernels, and a
    SavedModel of bfloat16 layers would serve bfloat16 rounding, so a
    mixed-precision model is exported, and verified, as the float32 model with
    its weights. It differs from the mixed-precision Keras model by that
    model's own rounding (bfloat16 keeps 8 significant bits).

    Raises:
        ValueError: `model` is not a built `tfvae.VAE` (`check_model`).
    """
    check_model(model)
    if model.dtype_policy.compute_dtype == "float32":
        return model
    twin = type(model).from_config(_float32_config(model.get_config()))
    twin.set_weights(model.get_weights())
    # For the metadata: the artifact computes in float32, the model was trained otherwise.
    twin._trained_dtype_policy = model.dtype_policy.name
    return twin


def _float32_config(config):
    """A Keras config with every mixed dtype policy (nested layers' too) set to float32.

    Other dtypes (an integer input's, a layer pinned to float32) are kept.
    """
    if isinstance(config, dict):
        return {key: "float32" if key == "dtype" and _is_mixed(value)
                else _float32_config(value) for key, value in config.items()}
    if isinstance(config, list):
        return [_float32_config(value) for value in config]
    return config


def _is_mixed(dtype):
    """Whether a serialized dtype (a name, or a policy's config) is a mixed policy."""
    name = dtype.get("config", {}).get("name") if isinstance(dtype, dict) else dtype
    return isinstance(name, str) and name.startswith("mixed_")


def check_quantize(quantize, name="quantize"):
    """Returns the mode (None for float32) or raises ValueError listing the valid ones.

    Args:
        quantize: one of `exporters.QUANTIZE_MODES`, or "none"/"float32" for None.
        name: str, the argument's name in the error message.
    """
    if quantize in ("float32", "none"):
        return None
    if quantize not in QUANTIZE_MODES:
        raise ValueError(f"Unrecognized {name}={quantize!r}. Supported values are: "
                         f"{list(QUANTIZE_MODES)}.")
    return quantize


def check_part(part, in_graph_sampling=False):
    if part not in PARTS:
        raise ValueError(f"Unrecognized part={part!r}. Supported parts are: {list(PARTS)}.")
    if in_graph_sampling and part != "generator":
        raise ValueError("in_graph_sampling=True applies to part='generator' only. "
                         f"Received: part={part!r}.")


def uses_standard_normal(model):
    from tfvae.priors import StandardNormal

    return isinstance(model.prior, StandardNormal)


def uses_vamp_prior(model):
    from tfvae.priors import VampPrior

    return isinstance(model.prior, VampPrior)


def check_encoder(model):
    """The encoder export serves (loc, scale) of q(z|x): a Gaussian posterior only."""
    from tfvae.posteriors import DiagonalGaussian

    if not isinstance(model.posterior, DiagonalGaussian):
        raise ValueError(
            "part='encoder' exports the loc and scale of a Gaussian q(z|x); this model's "
            f"posterior is {type(model.posterior).__name__}, a flow of that Gaussian, so "
            "they would not describe q(z|x). Export part='decoder' or 'generator'.")


def check_generator(model, in_graph_sampling):
    """Explicit noise eps ~ N(0, I) is a prior sample only for the N(0, I) prior."""
    if not in_graph_sampling and not uses_standard_normal(model):
        raise ValueError(
            "part='generator' with explicit noise (eps ~ N(0, I) in, z = eps) needs the "
            f"standard-normal prior; this model's prior is {type(model.prior).__name__}. "
            "Pass in_graph_sampling=True (the graph then samples the prior itself), or "
            "export part='decoder' and draw z from the prior yourself.")


def label_input(model):
    """The extra input of a conditional model's signature, {name: spec}, else {}.

    "label": int32 class ids [batch] (one-hot in the graph, with builtin ops);
    "condition": float32 condition vectors [batch, k].
    """
    condition = model.condition
    if condition is None:
        return {}
    if condition.num_classes is not None:
        return {"label": {"shape": [None], "dtype": "int32"}}
    return {"condition": {"shape": [None, condition.dim], "dtype": "float32"}}


def seeded_labels(model, rng, count):
    """{label input name: `count` labels} of a conditional model, else {}.

    Consecutive classes from a start drawn from `rng` (8 labels cover 8
    classes), or condition vectors from N(0, I): inputs for parity checks
    and int8 calibration.
    """
    import numpy as np

    names = list(label_input(model))
    if not names:
        return {}
    condition = model.condition
    if condition.num_classes is not None:
        start = int(rng.integers(condition.num_classes))
        return {names[0]: ((start + np.arange(count)) % condition.num_classes).astype("int32")}
    return {names[0]: rng.standard_normal((count, condition.dim)).astype("float32")}


def signature(model, part, in_graph_sampling=False):
    """The serving signature: ({input name: spec}, {output name: spec}).

    A spec is {"shape": [None or int, ...], "dtype": str}; None is the dynamic
    batch dimension. A conditional model's parts take its `label_input` last;
    its in-graph generator takes that alone (one sample per label).
    """
    d, x_shape = model.latent_dim, [None] + list(model.data_shape)
    latent = {"shape": [None, d], "dtype": "float32"}
    image = {"shape": x_shape, "dtype": "float32"}
    label = label_input(model)
    if part == "decoder":
        return {"z": latent, **label}, {"mean": image}
    if part == "encoder":
        return {"x": image, **label}, {"loc": latent, "scale": latent}
    if in_graph_sampling:
        return label or {"num_samples": {"shape": [], "dtype": "int32"}}, \
            {"mean": image, "z": latent}
    return {"eps": latent, **label}, {"mean": image}


def file_size(path):
    """Bytes of a file, or of every file under a directory."""
    if os.path.isdir(path):
        return sum(os.path.getsize(os.path.join(root, name))
                   for root, _, names in os.walk(path) for name in names)
    return os.path.getsize(path)


def model_fields(model):
    """The metadata fields every artifact shares: the model's shapes, distributions, versions."""
    import keras
    import tensorflow as tf

    import tfvae

    return {
        "latent_dim": model.latent_dim,
        "data_shape": list(model.data_shape),
        "likelihood": type(model.likelihood).__name__,
        "prior": type(model.prior).__name__,
        "posterior": type(model.posterior).__name__,
        "trained_dtype_policy": getattr(model, "_trained_dtype_policy", model.dtype_policy.name),
        "tfvae_version": tfvae.__version__,
        "tensorflow_version": tf.__version__,
        "keras_version": keras.__version__,
    }


def metadata(model, part, fmt, quantization, in_graph_sampling, parity, size_bytes,
             artifact, extra=None):
    """The metadata dict written beside every artifact (and returned)."""
    inputs, outputs = signature(model, part, in_graph_sampling)
    info = {
        "artifact": os.path.basename(os.path.abspath(artifact)),
        "format": fmt,
        "part": part,
        "quantization": quantization or "float32",
        "in_graph_sampling": bool(in_graph_sampling),
        "signature": SIGNATURE,
        "inputs": inputs,
        "outputs": outputs,
        **model_fields(model),
        "size_bytes": int(size_bytes),
        "verified": parity is not None,
    }
    if model.condition is not None:
        info.update(label_input=next(iter(label_input(model))),
                    num_classes=model.condition.num_classes,
                    condition_shape=None if model.condition.condition_shape is None
                    else list(model.condition.condition_shape),
                    class_names=None if model.class_names is None else list(model.class_names))
    if parity is not None:
        # Flat copies of the headline figures, for one-line summaries (CLI).
        info.update(max_abs_error=parity["max_abs_error"],
                    mean_abs_error=parity["mean_abs_error"], passed=parity["passed"])
        info["parity"] = parity
    info.update(extra or {})
    return info
