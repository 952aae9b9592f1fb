"""One `.tflite` file with several named signatures: encode, decode, generate, score.

`exporters.export_tflite(model, path, signatures=...)` comes here. The
SavedModel of `exporters.signatures.write_saved_model` (one endpoint per
signature) goes through `tf.lite.TFLiteConverter.from_saved_model` with all
the signature keys, which gives one subgraph per signature sharing the
weights' buffers. Then, before the file is published:

- every op must be a TFLite builtin (the converter allows builtins only; the
  flatbuffer is checked again, per signature);
- every signature is compared on the LiteRT interpreter with the Keras model
  (`exporters.signature_parity`), at the static batch size or at 1 and 8;
- `exporters.delegation` records, per signature, the ops, those the XNNPACK
  delegate takes and leaves, and the latency with XNNPACK on and off.

All of it goes into `<name>.metadata.json` beside the file.

Quantization is as for a single part (`exporters.tflite`); int8 calibrates each
signature on its own inputs: x from `calibration_data` (required when the file
has `encode` or `score`), eps ~ N(0, I), and for `decode` latents from the
prior and the aggregate posterior.
"""

import os

import numpy as np

from exporters import _common, delegation, pipeline, signature_parity, tflite
from exporters import signatures as signatures_lib

_NEEDS_DATA = ("encode", "score")


def _batches(rows, batch_size, count):
    """`count` arrays of `batch_size` rows each, cycling through `rows`."""
    index = np.arange(count * batch_size) % len(rows)
    return [rows[index[i * batch_size:(i + 1) * batch_size]] for i in range(count)]


def representative_samples(model, signatures, batch_size=None, num_samples=1, data=None,
                           seed=0, count=tflite.CALIBRATION_SAMPLES):
    """The int8 calibration set: [(signature, {input name: array}), ...].

    Each signature gets `count` examples in batches of its input shape
    (batch 1 when the batch axis is dynamic).
    """
    batch = batch_size or 1
    calls = max(1, -(-count // batch))
    rng = np.random.default_rng(seed)
    samples = []
    for name in signatures:
        inputs, _ = signatures_lib.specs(model, name, batch, num_samples)
        if name == "decode":
            latents = np.concatenate([row["z"] for row in tflite.representative_inputs(
                model, "decoder", data, seed, count)])
            columns = {"z": _batches(latents, batch, calls)}
        else:
            columns = {"eps": [rng.standard_normal(inputs["eps"]["shape"]).astype("float32")
                               for _ in range(calls)]}
            if "x" in inputs:
                columns["x"] = _batches(data, batch, calls)
        samples += [(name, {key: values[i] for key, values in columns.items()})
                    for i in range(calls)]
    return samples


def write(model, path, signatures, batch_size=None, num_samples=1, quantize=None,
          samples=None):
    """Converts the signatures to one `.tflite` file at `path`; no checks, no metadata.

    Raises:
        RuntimeError: the converter failed (the cause is chained).
    """
    import tempfile

    with tempfile.TemporaryDirectory() as saved_model_dir:
        signatures_lib.write_saved_model(model, saved_model_dir, signatures, batch_size,
                                         num_samples)
        try:
            flatbuffer = tflite.convert(saved_model_dir, quantize, samples, signatures)
        except Exception as e:
            raise RuntimeError(f"TFLite conversion of signatures={list(signatures)} with "
                               f"quantize={quantize!r} (builtin ops only) failed: {e}") from e
    with open(path, "wb") as f:
        f.write(flatbuffer)


def metadata(model, path, size_bytes, signatures, batch_size, num_samples, quantize, figures,
             report):
    """The metadata of the multi-signature file `path` (written beside it, and returned)."""
    io = {name: signatures_lib.specs(model, name, batch_size, num_samples)
          for name in signatures}
    info = {
        "artifact": os.path.basename(os.path.abspath(path)),
        "format": "tflite",
        "signatures": list(signatures),
        "batch_size": batch_size,
        "num_samples": num_samples,
        "quantization": quantize or "float32",
        "inputs": {name: spec[0] for name, spec in io.items()},
        "outputs": {name: spec[1] for name, spec in io.items()},
        **_common.model_fields(model),
        "size_bytes": int(size_bytes),
        "verified": figures is not None,
        **report,
    }
    if figures is not None:
        info.update(parity=figures, passed=all(f["passed"] for f in figures.values()))
    return info


def export(model, path, signatures, batch_size=None, num_samples=1, quantize=None,
           overwrite=False, verify=True, calibration_data=None, tolerance=None,
           latency_calls=50):
    """Writes, checks, verifies, describes and publishes a multi-signature `.tflite` file.

    Arguments as for `exporters.export_tflite`; `latency_calls` is the number
    of timed calls per signature and delegate mode in the report.
    """
    path = os.fspath(path)
    model = _common.float32_model(model)
    names, batch_size, num_samples = signatures_lib.check(model, signatures, batch_size,
                                                          num_samples)
    quantize = _common.check_quantize(quantize)
    data = tflite._calibration_rows(calibration_data, tflite.CALIBRATION_SAMPLES)
    if quantize == "int8" and data is None and set(names) & set(_NEEDS_DATA):
        raise ValueError("quantize='int8' with the signatures "
                         f"{[n for n in names if n in _NEEDS_DATA]} needs calibration_data "
                         "(examples x shaped like the model's input).")

    def build(tmp):
        samples = (representative_samples(model, names, batch_size, num_samples, data)
                   if quantize == "int8" else None)
        write(model, tmp, names, batch_size, num_samples, quantize, samples)
        report = delegation.report(tmp, batch_size, latency_calls)
        if report["non_builtin_ops"]:
            raise RuntimeError(f"The converted file holds non-builtin ops "
                               f"{report['non_builtin_ops']}; nothing was written to {path!r}.")
        figures = None
        if verify:
            try:
                figures = signature_parity.verify(model, tmp, names, batch_size, num_samples,
                                                  quantize, tolerance, data=data)
            except signature_parity.parity.ParityError as e:
                raise signature_parity.parity.ParityError(
                    f"{e} Nothing was written to {path!r}.") from e
        return metadata(model, path, os.path.getsize(tmp), names, batch_size, num_samples,
                        quantize, figures, report)

    return pipeline.run(path, build, overwrite, tflite.metadata_path(path))
