"""Export a part of a `tfvae.VAE` as a verified TFLite (LiteRT) flatbuffer.

The SavedModel from `exporters.saved_model.write_saved_model` (same graph,
same signature) goes through `tf.lite.TFLiteConverter.from_saved_model` with
TFLite builtin ops only (no Select TF / Flex ops, so the plain
`ai_edge_litert` runtime runs it); the batch dimension stays dynamic.

Quantization modes:

- None: float32.
- "float16": weights stored as float16, computed in float32.
- "dynamic": int8 weights, float activations (dynamic-range quantization).
- "int8": int8 weights and activations, calibrated on a representative set of
  inputs: for latents, 200 draws from the prior, plus 200 draws from the
  aggregate posterior z ~ q(z|x), x in `calibration_data`, when given (the
  encoder needs `calibration_data`). The input and output tensors stay float32
  (a quantize/dequantize op at each end) so the interface is the same for
  every mode.

The metadata goes beside the file: `decoder.tflite` -> `decoder.metadata.json`
(`metadata_path`), so several exports can share a directory. Checks, staging,
verification and publishing are `exporters.pipeline`'s.
"""

import os

import numpy as np

from exporters import _common, pipeline
from exporters.saved_model import write_saved_model
from tfvae.layers import stateless_seed

CALIBRATION_SAMPLES = 200


def metadata_path(path):
    """`<dir>/<name>.tflite` -> `<dir>/<name>.metadata.json`."""
    path = os.fspath(path)
    return (path[:-len(".tflite")] if path.endswith(".tflite") else path) + ".metadata.json"


def _check_options(model, part, quantize, in_graph_sampling, calibration_data):
    """The TFLite-only limits: builtin ops cannot sample every prior or calibrate a sampler."""
    if part == "generator" and in_graph_sampling:
        if not (_common.uses_standard_normal(model) or _common.uses_vamp_prior(model)):
            raise ValueError("TFLite in-graph sampling needs the standard-normal prior or "
                             "the VampPrior (TFP samplers are not TFLite builtins); this "
                             f"model's prior is {type(model.prior).__name__}. Export "
                             "part='decoder' and sample the prior outside the model.")
        if quantize == "int8":
            raise ValueError("quantize='int8' cannot calibrate an in-graph sampler; use "
                             "in_graph_sampling=False or quantize='dynamic'.")
    if quantize == "int8":
        _check_calibration(part, calibration_data)


def _check_calibration(part, calibration_data):
    if part == "encoder" and calibration_data is None:
        raise ValueError("quantize='int8' for part='encoder' needs calibration_data "
                         "(examples x shaped like the model's input).")


def _calibration_rows(data, limit):
    """Up to `limit` examples from an array or a `tf.data.Dataset` of batches."""
    if data is None:
        return None
    if hasattr(data, "as_numpy_iterator"):
        rows, count = [], 0
        for batch in data.as_numpy_iterator():
            batch = batch[0] if isinstance(batch, tuple) else batch
            rows.append(np.asarray(batch, dtype="float32"))
            count += len(rows[-1])
            if count >= limit:
                break
        data = np.concatenate(rows) if rows else np.zeros((0,))
    data = np.asarray(data, dtype="float32")[:limit]
    if len(data) == 0:
        raise ValueError("Received an invalid value for `calibration_data`, expected at "
                         f"least one example. Received: an array of shape {data.shape}.")
    return data


def representative_inputs(model, part, calibration_data=None, seed=0,
                          num_samples=CALIBRATION_SAMPLES):
    """The int8 calibration set: a list of {input name: array with batch 1}.

    A conditional model's rows carry labels too: consecutive classes, or
    condition vectors from N(0, I); the aggregate posterior is encoded with them.
    """
    rng = np.random.default_rng(seed)
    if part == "encoder":
        _check_calibration(part, calibration_data)
        labels = _common.seeded_labels(model, rng, len(calibration_data))
        return [{"x": row[None], **{k: v[i:i + 1] for k, v in labels.items()}}
                for i, row in enumerate(calibration_data)]
    import tensorflow as tf

    prior_seed, posterior_seed = tf.random.experimental.stateless_split(
        stateless_seed(seed), 2)
    latents = [np.asarray(model.prior.distribution().sample(num_samples, seed=prior_seed),
                          dtype="float32")]
    labels = _common.seeded_labels(model, rng, num_samples)
    if calibration_data is not None:
        # The aggregate posterior: where the decoder's inputs fall on real data.
        data_labels = _common.seeded_labels(model, rng, len(calibration_data))
        posterior = model.encode(calibration_data, labels=next(iter(data_labels.values()), None))
        latents.append(np.asarray(posterior.sample(seed=posterior_seed), dtype="float32"))
        labels = {k: np.concatenate([v, data_labels[k]]) for k, v in labels.items()}
    name = "eps" if part == "generator" else "z"
    return [{name: row[None], **{k: v[i:i + 1] for k, v in labels.items()}}
            for i, row in enumerate(np.concatenate(latents))]


def convert(saved_model_dir, quantize, samples=None, signature_keys=(_common.SIGNATURE,)):
    """The flatbuffer of the SavedModel's `signature_keys`, builtin ops only.

    Args:
        saved_model_dir: str, a SavedModel with those signatures.
        quantize: None, "float16", "dynamic" or "int8".
        samples: for "int8", the calibration samples in the converter's form:
            lists of input arrays (one signature) or (signature key,
            {input name: array}) pairs (several).
        signature_keys: the signatures to convert, one subgraph each.
    """
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_saved_model(
        saved_model_dir, signature_keys=list(signature_keys))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quantize is not None:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantize == "float16":
        converter.target_spec.supported_types = [tf.float16]
    elif quantize == "int8":
        converter.representative_dataset = lambda: iter(samples)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.float32
        converter.inference_output_type = tf.float32
    return converter.convert()


def write_tflite(model, path, part="decoder", quantize=None, in_graph_sampling=False,
                 representative=None):
    """Converts `part` to a `.tflite` file at `path`; no checks, no metadata.

    The write step of the TFLite export: the SavedModel of `write_saved_model`
    (in a scratch directory) through the converter.

    Args:
        representative: for quantize="int8", the calibration set of
            `representative_inputs`.

    Raises:
        RuntimeError: the converter failed (the cause is chained).
    """
    import tempfile

    with tempfile.TemporaryDirectory() as saved_model_dir:
        write_saved_model(model, saved_model_dir, part, in_graph_sampling)
        try:
            # By input name: a conditional model's signature has two inputs.
            samples = None if representative is None else [
                (_common.SIGNATURE, row) for row in representative]
            flatbuffer = convert(saved_model_dir, quantize, samples)
        except Exception as e:
            raise RuntimeError(f"TFLite conversion of part={part!r} with quantize="
                               f"{quantize!r} (builtin ops only) failed: {e}") from e
    with open(path, "wb") as f:
        f.write(flatbuffer)


def op_names(path):
    """The operators of every subgraph (signature) of a `.tflite` file, sorted, before any
    delegate rewrites them."""
    from exporters import delegation

    return sorted({op for ops in delegation.signature_ops(path).values() for op in ops})


def export_tflite(model, path, part=None, quantize=None, overwrite=False, verify=True,
                  calibration_data=None, in_graph_sampling=False, tolerance=None,
                  signatures=None, batch_size=None, num_samples=1):
    """Exports a part of a VAE, or several named signatures, as a verified `.tflite` file.

    The file is written beside `path` under a hidden name, loaded with
    `ai_edge_litert.interpreter.Interpreter` and compared with the Keras model
    at batch sizes 1 and 8 (bounds in `exporters.parity.TOLERANCES`: 1e-5 for
    float32, 5e-3 for float16, max/mean 0.05/0.01 for dynamic and 0.15/0.03 for
    int8), then renamed to `path`. A failure leaves nothing at `path`. Only
    TFLite builtin ops are allowed. A mixed-precision model is exported as its
    float32 twin (same weights; `exporters._common.float32_model`).

    With `signatures`, one file holds one subgraph per named signature
    ("encode", "decode", "generate", "score"; see `exporters.signatures`), each
    verified on the interpreter, and the metadata adds per signature its ops,
    what the XNNPACK delegate takes, and its latency with XNNPACK on and off
    (`exporters.bundle`).

    Args:
        model: a built `tfvae.VAE`.
        path: str ending in ".tflite".
        part: None ("decoder" unless `signatures` is given), "decoder",
            "encoder" or "generator" (see `exporters.saved_model`): a file with
            one `serving_default` signature and a dynamic batch axis.
        quantize: None (float32), "float16", "dynamic" or "int8".
        overwrite: bool. If False, an existing `path` raises FileExistsError.
        verify: bool, compare the artifact with the Keras model first.
        calibration_data: optional examples x (array or tf.data of batches): int8
            calibrates on their posterior samples as well as prior samples (the
            encoder on the examples themselves), and the encoder's parity check
            uses them as inputs.
        in_graph_sampling: bool, generator only (standard-normal or VampPrior).
        tolerance: None (the mode's default) or a bound for `parity.verify`.
        signatures: None (one `part`), or names from `exporters.SIGNATURES`,
            e.g. `exporters.SIGNATURES` for all four.
        batch_size: with `signatures`: None keeps the batch axis dynamic; an
            int fixes it (static shapes, as the GPU delegate wants).
        num_samples: with "score": int k ≥ 1 baked into the file; k > 1 takes
            eps of shape [k, B, d] and also returns the IWAE_k bound.

    Returns:
        The metadata dict, also written to `metadata_path(path)`; it includes
        "tflite_ops", the parity figures and "size_bytes" (and, with
        `signatures`, "delegation": ops, XNNPACK and latency per signature).

    Raises:
        ValueError: bad path, part, quantize, model, signatures, batch_size,
            num_samples, or int8 encoder/score without data.
        FileExistsError: `path` or its metadata file exists and `overwrite` is
            False.
        RuntimeError: the converter failed (the cause is chained).
        exporters.parity.ParityError: verification failed.

    Example:
    ```python
    info = exporters.export_tflite(model, "decoder_int8.tflite", quantize="int8",
                                   calibration_data=x_train[:200])
    print(info["size_bytes"], info["max_abs_error"])
    info = exporters.export_tflite(model, "vae.tflite", signatures=exporters.SIGNATURES,
                                   batch_size=1)
    ```
    """
    path = os.fspath(path)
    if not path.endswith(".tflite"):
        raise ValueError("The TFLite export requires the path to end with '.tflite'. "
                         f"Got: {path!r}")
    if signatures is not None:
        if part is not None or in_graph_sampling:
            raise ValueError("Pass either `part` (one signature) or `signatures` (several "
                             f"named ones), not both. Received: part={part!r}, "
                             f"in_graph_sampling={in_graph_sampling!r}, "
                             f"signatures={signatures!r}")
        from exporters import bundle

        return bundle.export(model, path, signatures, batch_size, num_samples, quantize,
                             overwrite, verify, calibration_data, tolerance)
    if batch_size is not None or num_samples != 1:
        raise ValueError("`batch_size` and `num_samples` apply to a multi-signature export; "
                         f"pass `signatures` too. Received: batch_size={batch_size!r}, "
                         f"num_samples={num_samples!r}, part={part!r}")
    part = "decoder" if part is None else part
    model = _common.float32_model(model)
    quantize = _common.check_quantize(quantize)
    data = _calibration_rows(calibration_data, CALIBRATION_SAMPLES)

    def write(tmp):
        representative = (representative_inputs(model, part, data)
                          if quantize == "int8" else None)
        write_tflite(model, tmp, part, quantize, in_graph_sampling, representative)
        return {"tflite_ops": op_names(tmp)}

    return pipeline.export(
        model, path, "tflite", write, part=part, quantization=quantize,
        in_graph_sampling=in_graph_sampling, overwrite=overwrite, verify=verify,
        tolerance=tolerance, data=data, metadata_path=metadata_path(path),
        check_options=lambda: _check_options(model, part, quantize, in_graph_sampling, data))
